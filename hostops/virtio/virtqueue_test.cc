// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The device side of the split ring against a driver written from the spec
// (the same index and event rules as the kernel's virtio_ring.c).
#include "hostops/virtio/virtqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace lkd::virtio {
namespace {

constexpr uint16_t kSize = 8;

// A driver's half of a ring, in ordinary memory.
class FakeDriver {
 public:
  FakeDriver()
      : desc_(kSize),
        avail_mem_(sizeof(vring_avail) + sizeof(uint16_t) * (kSize + 1)),
        used_mem_(sizeof(vring_used) + sizeof(vring_used_elem) * kSize +
                  sizeof(uint16_t)) {}

  QueueLayout layout() {
    return {kSize, reinterpret_cast<uint64_t>(desc_.data()),
            reinterpret_cast<uint64_t>(avail_mem_.data()),
            reinterpret_cast<uint64_t>(used_mem_.data())};
  }
  vring_desc* desc() { return desc_.data(); }
  vring_avail* avail() { return reinterpret_cast<vring_avail*>(avail_mem_.data()); }
  vring_used* used() { return reinterpret_cast<vring_used*>(used_mem_.data()); }
  uint16_t& used_event() { return avail()->ring[kSize]; }
  uint16_t& avail_event() {
    return *reinterpret_cast<uint16_t*>(&used()->ring[kSize]);
  }

  void SetDesc(uint16_t i, void* addr, uint32_t len, uint16_t flags,
               uint16_t next = 0) {
    desc_[i] = {reinterpret_cast<uint64_t>(addr), len, flags, next};
  }
  // Makes chain `head` available; returns whether the device must be
  // notified under EVENT_IDX (virtqueue_kick_prepare's rule).
  bool MakeAvailable(uint16_t head) {
    uint16_t old = avail()->idx;
    avail()->ring[old % kSize] = head;
    std::atomic_ref<uint16_t>(avail()->idx).store(old + 1,
                                                  std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // The device writes avail_event concurrently: an atomic read, as the
    // kernel's virtio_ring.c reads it.
    return vring_need_event(
        std::atomic_ref<uint16_t>(avail_event()).load(std::memory_order_relaxed), old + 1, old);
  }

 private:
  std::vector<vring_desc> desc_;
  std::vector<uint64_t> avail_mem_;  // uint64_t: alignment
  std::vector<uint64_t> used_mem_;
};

TEST(VirtqueueTest, PopsChainsAndReturnsThemInOrder) {
  FakeDriver driver;
  SplitQueue ring;
  ring.Activate(driver.layout(), true);
  char out[16] = "request", in[32];
  driver.SetDesc(0, out, 8, VRING_DESC_F_NEXT, 1);
  driver.SetDesc(1, in, 32, VRING_DESC_F_WRITE);
  driver.MakeAvailable(0);

  Chain chain;
  ASSERT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kChain);
  EXPECT_EQ(chain.head, 0);
  ASSERT_EQ(chain.readable.size(), 1u);
  EXPECT_EQ(chain.readable[0].iov_base, out);
  EXPECT_EQ(chain.readable_bytes, 8u);
  ASSERT_EQ(chain.writable.size(), 1u);
  EXPECT_EQ(chain.writable[0].iov_base, in);
  EXPECT_EQ(chain.writable_bytes, 32u);
  EXPECT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kEmpty);

  ring.Push(0, 20);
  EXPECT_EQ(driver.used()->idx, 0) << "Push must not publish by itself";
  ring.Publish();
  EXPECT_EQ(driver.used()->idx, 1);
  EXPECT_EQ(driver.used()->ring[0].id, 0u);
  EXPECT_EQ(driver.used()->ring[0].len, 20u);
}

TEST(VirtqueueTest, FollowsIndirectTables) {
  FakeDriver driver;
  SplitQueue ring;
  ring.Activate(driver.layout(), true);
  char a[4], b[6], c[10];
  vring_desc table[3] = {
      {reinterpret_cast<uint64_t>(a), 4, VRING_DESC_F_NEXT, 1},
      {reinterpret_cast<uint64_t>(b), 6, VRING_DESC_F_NEXT, 2},
      {reinterpret_cast<uint64_t>(c), 10, VRING_DESC_F_WRITE, 0}};
  driver.SetDesc(5, table, sizeof(table), VRING_DESC_F_INDIRECT);
  driver.MakeAvailable(5);
  Chain chain;
  ASSERT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kChain);
  EXPECT_EQ(chain.head, 5);
  EXPECT_EQ(chain.readable_bytes, 10u);
  EXPECT_EQ(chain.writable_bytes, 10u);
  EXPECT_EQ(chain.writable[0].iov_base, c);
}

TEST(VirtqueueTest, RejectsMalformedChains) {
  char buf[8];
  {
    FakeDriver driver;  // a loop
    SplitQueue ring;
    ring.Activate(driver.layout(), true);
    driver.SetDesc(0, buf, 8, VRING_DESC_F_NEXT, 1);
    driver.SetDesc(1, buf, 8, VRING_DESC_F_NEXT, 0);
    driver.MakeAvailable(0);
    Chain chain;
    EXPECT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kMalformed);
  }
  {
    FakeDriver driver;  // next out of range
    SplitQueue ring;
    ring.Activate(driver.layout(), true);
    driver.SetDesc(0, buf, 8, VRING_DESC_F_NEXT, kSize + 3);
    driver.MakeAvailable(0);
    Chain chain;
    EXPECT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kMalformed);
  }
  {
    FakeDriver driver;  // readable after writable
    SplitQueue ring;
    ring.Activate(driver.layout(), true);
    driver.SetDesc(0, buf, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    driver.SetDesc(1, buf, 8, 0);
    driver.MakeAvailable(0);
    Chain chain;
    EXPECT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kMalformed);
  }
  {
    FakeDriver driver;  // head out of range
    SplitQueue ring;
    ring.Activate(driver.layout(), true);
    driver.MakeAvailable(kSize);
    Chain chain;
    EXPECT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kMalformed);
  }
}

TEST(VirtqueueTest, UnpoppedChainsComeBack) {
  FakeDriver driver;
  SplitQueue ring;
  ring.Activate(driver.layout(), true);
  char buf[8];
  for (uint16_t i = 0; i < 3; i++) {
    driver.SetDesc(i, buf, 8, VRING_DESC_F_WRITE);
    driver.MakeAvailable(i);
  }
  Chain chain;
  ASSERT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kChain);
  ASSERT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kChain);
  ASSERT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kChain);
  ring.Unpop(2);
  ASSERT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kChain);
  EXPECT_EQ(chain.head, 1);
}

TEST(VirtqueueTest, EventIdxInterruptsOnlyWhenAsked) {
  FakeDriver driver;
  SplitQueue ring;
  ring.Activate(driver.layout(), true);
  char buf[8];
  for (uint16_t i = 0; i < 4; i++) {
    driver.SetDesc(i, buf, 8, VRING_DESC_F_WRITE);
    driver.MakeAvailable(i);
  }
  Chain chain;
  // The first decision always interrupts (nothing signalled yet).
  ring.Pop(&chain);
  ring.Push(chain.head, 1);
  ring.Publish();
  EXPECT_TRUE(ring.ShouldInterrupt());
  // The driver wants an interrupt only once used->idx passes 3.
  driver.used_event() = 2;
  ring.Pop(&chain);
  ring.Push(chain.head, 1);
  ring.Publish();
  EXPECT_FALSE(ring.ShouldInterrupt()) << "used idx 2 has not passed event 2";
  ring.Pop(&chain);
  ring.Push(chain.head, 1);
  ring.Publish();
  EXPECT_TRUE(ring.ShouldInterrupt()) << "used idx 3 passed event 2";
  EXPECT_FALSE(ring.ShouldInterrupt()) << "nothing new since";
}

TEST(VirtqueueTest, RingThatEmptiesAndRefillsIsNotLost) {
  FakeDriver driver;
  SplitQueue ring;
  ring.Activate(driver.layout(), true);
  char buf[8];
  driver.SetDesc(0, buf, 8, VRING_DESC_F_WRITE);
  driver.SetDesc(1, buf, 8, VRING_DESC_F_WRITE);
  driver.MakeAvailable(0);
  Chain chain;
  ASSERT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kChain);
  ASSERT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kEmpty);
  // The driver refills after the device saw the ring empty but before it
  // asked for a notification: the re-check must see the buffer.
  driver.MakeAvailable(1);
  EXPECT_TRUE(ring.EnableNotifyAndRecheck());
  ASSERT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kChain);
  // Now empty and asked for: the driver's next buffer must notify.
  EXPECT_FALSE(ring.EnableNotifyAndRecheck());
  driver.SetDesc(2, buf, 8, VRING_DESC_F_WRITE);
  EXPECT_TRUE(driver.MakeAvailable(2));
  // While the device is busy (not re-enabled), further buffers don't.
  ASSERT_EQ(ring.Pop(&chain), SplitQueue::PopResult::kChain);
  driver.SetDesc(3, buf, 8, VRING_DESC_F_WRITE);
  EXPECT_FALSE(driver.MakeAvailable(3));
}

TEST(VirtqueueTest, WithoutEventIdxUsesFlags) {
  FakeDriver driver;
  SplitQueue ring;
  ring.Activate(driver.layout(), false);
  ring.DisableNotify();
  EXPECT_TRUE(driver.used()->flags & VRING_USED_F_NO_NOTIFY);
  EXPECT_FALSE(ring.EnableNotifyAndRecheck());
  EXPECT_FALSE(driver.used()->flags & VRING_USED_F_NO_NOTIFY);
  char buf[8];
  driver.SetDesc(0, buf, 8, VRING_DESC_F_WRITE);
  driver.MakeAvailable(0);
  Chain chain;
  ring.Pop(&chain);
  ring.Push(chain.head, 0);
  ring.Publish();
  driver.avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
  EXPECT_FALSE(ring.ShouldInterrupt());
  driver.avail()->flags = 0;
  EXPECT_TRUE(ring.ShouldInterrupt());
}

// A driver thread and a device thread passing 200000 buffers through an
// 8-entry ring with EVENT_IDX in both directions; each side sleeps only
// after asking to be woken, as the real ones do. A lost notification or
// interrupt hangs the test (and the bazel timeout reports it).
TEST(VirtqueueTest, NoLostWakeupsUnderConcurrency) {
  FakeDriver driver;
  SplitQueue ring;
  ring.Activate(driver.layout(), true);
  constexpr int kBuffers = 200000;
  static char buf[kSize][4];
  for (uint16_t i = 0; i < kSize; i++)
    driver.SetDesc(i, buf[i], 4, VRING_DESC_F_WRITE);
  std::atomic<int> device_kicks{0}, driver_irqs{0};

  std::thread device([&] {
    int served = 0;
    Chain chain;
    int seen_kicks = 0;
    while (served < kBuffers) {
      ring.DisableNotify();
      while (ring.Pop(&chain) == SplitQueue::PopResult::kChain) {
        ring.Push(chain.head, 4);
        served++;
      }
      ring.Publish();
      if (ring.ShouldInterrupt()) driver_irqs.fetch_add(1);
      if (served >= kBuffers) break;
      if (ring.EnableNotifyAndRecheck()) continue;
      while (device_kicks.load() == seen_kicks) std::this_thread::yield();
      seen_kicks = device_kicks.load();
    }
  });

  uint16_t last_used = 0;
  int submitted = 0, completed = 0, seen_irqs = 0;
  std::vector<uint16_t> free_heads;
  for (uint16_t i = 0; i < kSize; i++) free_heads.push_back(i);
  while (completed < kBuffers) {
    while (!free_heads.empty() && submitted < kBuffers) {
      if (driver.MakeAvailable(free_heads.back())) device_kicks.fetch_add(1);
      free_heads.pop_back();
      submitted++;
    }
    uint16_t used = std::atomic_ref<uint16_t>(driver.used()->idx)
                        .load(std::memory_order_acquire);
    while (last_used != used) {
      free_heads.push_back(driver.used()->ring[last_used % kSize].id);
      last_used++;
      completed++;
    }
    if (!free_heads.empty() && submitted < kBuffers) continue;
    if (completed == kBuffers) break;
    // Ask for an interrupt at the next completion, re-check, then wait.
    std::atomic_ref<uint16_t>(driver.used_event()).store(last_used, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (std::atomic_ref<uint16_t>(driver.used()->idx)
            .load(std::memory_order_acquire) != last_used)
      continue;
    while (driver_irqs.load() == seen_irqs) std::this_thread::yield();
    seen_irqs = driver_irqs.load();
  }
  device.join();
  EXPECT_EQ(completed, kBuffers);
}

TEST(VirtqueueTest, CopiesAcrossIovecs) {
  char a[3], b[5];
  std::vector<iovec> iov = {{a, 3}, {b, 5}};
  EXPECT_EQ(CopyToIov(iov, 2, "xyzw", 4), 4u);
  EXPECT_EQ(a[2], 'x');
  EXPECT_EQ(memcmp(b, "yzw", 3), 0);
  char out[4];
  EXPECT_EQ(CopyFromIov(iov, 2, out, 4), 4u);
  EXPECT_EQ(memcmp(out, "xyzw", 4), 0);
  EXPECT_EQ(CopyFromIov(iov, 6, out, 4), 2u) << "stops at the end";
  std::vector<iovec> slice;
  SliceIov(iov, 1, 4, &slice);
  ASSERT_EQ(slice.size(), 2u);
  EXPECT_EQ(slice[0].iov_base, a + 1);
  EXPECT_EQ(slice[0].iov_len, 2u);
  EXPECT_EQ(slice[1].iov_base, b);
  EXPECT_EQ(slice[1].iov_len, 2u);
}

}  // namespace
}  // namespace lkd::virtio
