// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// libFuzzer target: malformed split rings from the driver side, served by
// the real virtio-blk device model (over a 1 MiB image) through its
// virtio-mmio window. Each input is a whole queue: its size, every
// descriptor (flags, lengths, next links, indirect tables), the avail ring
// and how far its index runs ahead, and the bytes the buffers hold (request
// headers, sectors, discard ranges).
//
// The driver is trusted for addresses (the library kernel's memory is the
// host's: virtqueue.h), so every address the fuzzer writes points into its
// own buffers, each allocated at its exact size so that AddressSanitizer
// sees any access past it. Everything else is the input's. The device must
// never crash, never read or write outside a buffer it was given, and
// within a deadline either hand back every available chain, each with a
// valid head and no more bytes written than that chain offered, or ask for
// a reset (NEEDS_RESET, a malformed ring).
//
// Built with clang: bazel build --config=fuzz //hostops/virtio:virtqueue_fuzzer
// Run by tools/fuzz/fuzz.sh virtqueue.
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "hostops/virtio/virtio_blk.h"
#include "hostops/virtio/virtio_test_driver.h"

namespace {

using lkd::virtio::VirtioBlk;
using lkd::virtio::testing::FakeKernel;
using lkd::virtio::testing::MmioDriver;

constexpr size_t kArenaBytes = 4096;   // what the buffers point into
constexpr uint16_t kMaxIndirect = 8;   // entries of the one indirect table

std::unique_ptr<VirtioBlk> blk;
std::unique_ptr<MmioDriver> driver;
long inputs = 0, served_chains = 0, resets = 0;

[[noreturn]] void Violation(const char* what) {
  fprintf(stderr, "VIOLATION: %s\n", what);
  abort();
}

// Reads the input front to back; past its end everything is 0.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | U8() << 8); }
  uint32_t U32() { return U16() | static_cast<uint32_t>(U16()) << 16; }
  // The rest of the input, into `out`.
  void Rest(uint8_t* out, size_t len) {
    size_t n = pos_ < size_ ? std::min(len, size_ - pos_) : 0;
    memcpy(out, data_ + pos_, n);
    pos_ += n;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// One descriptor from the input, its address made to point into our
// buffers: the indirect table for INDIRECT ones, else the arena.
vring_desc MakeDesc(Input& in, uint8_t* arena, vring_desc* indirect) {
  vring_desc d;
  d.flags = in.U8() & (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE | VRING_DESC_F_INDIRECT);
  d.next = in.U8();
  uint16_t offset = in.U16() % kArenaBytes;
  uint16_t len = in.U16();
  if (d.flags & VRING_DESC_F_INDIRECT) {
    d.addr = reinterpret_cast<uint64_t>(indirect);
    d.len = len % (kMaxIndirect * sizeof(vring_desc) + 1);  // 0 and odd sizes too
  } else {
    d.addr = reinterpret_cast<uint64_t>(arena + offset);
    d.len = len % (kArenaBytes - offset + 1);
  }
  return d;
}

// Bytes the chain at `head` offers the device to write, walked as a
// well-behaved device would (bounded; 0 for a chain that is malformed).
uint64_t WritableBytes(const vring_desc* table, uint16_t size, uint16_t head) {
  uint64_t bytes = 0;
  uint32_t index = head, seen = 0;
  bool indirect = false;
  while (index < size && ++seen <= size) {
    const vring_desc& d = table[index];
    if ((d.flags & VRING_DESC_F_INDIRECT) && !indirect) {
      table = reinterpret_cast<const vring_desc*>(d.addr);
      size = static_cast<uint16_t>(d.len / sizeof(vring_desc));
      index = 0;
      seen = 0;
      indirect = true;
      continue;
    }
    if (d.flags & VRING_DESC_F_WRITE) bytes += d.len;
    if (!(d.flags & VRING_DESC_F_NEXT)) break;
    index = d.next;
  }
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string image = std::string(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") +
                      "/lkd-virtqueue-fuzz-" + std::to_string(getpid()) + ".img";
  int fd = open(image.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, 1 << 20) != 0) Violation("cannot make the disk image");
  close(fd);
  auto opened = VirtioBlk::Open({image, false, "fuzz"});
  unlink(image.c_str());  // the device keeps it open
  if (!opened.ok()) Violation("cannot open the disk image");
  blk = std::move(*opened);
  FakeKernel::Get().Clear();
  if (!blk->Register(FakeKernel::Hooks()).ok()) Violation("cannot register the device");
  driver = std::make_unique<MmioDriver>(FakeKernel::Get());
  atexit([] {
    // tools/fuzz/fuzz.sh reads this line.
    fprintf(stderr, "virtqueue_fuzzer: %ld inputs: %ld chains served, %ld rings reset\n",
            inputs, served_chains, resets);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  // Queue size: a power of two from 1 to 16 (the device refuses others at
  // QUEUE_NUM, which its own test covers).
  const uint16_t qsize = static_cast<uint16_t>(1u << (in.U8() % 5));
  const uint64_t features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BLK_F_FLUSH) |
                            (1ULL << VIRTIO_BLK_F_DISCARD) |
                            (in.U8() & 1 ? 1ULL << VIRTIO_RING_F_INDIRECT_DESC : 0) |
                            (in.U8() & 1 ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0);

  // Exact-size buffers: AddressSanitizer reports any access past them.
  auto arena = std::make_unique<uint8_t[]>(kArenaBytes);
  auto indirect = std::make_unique<vring_desc[]>(kMaxIndirect);
  auto desc = std::make_unique<vring_desc[]>(qsize);
  const size_t avail_bytes = sizeof(vring_avail) + sizeof(uint16_t) * (qsize + 1);
  const size_t used_bytes = sizeof(vring_used) + sizeof(vring_used_elem) * qsize + sizeof(uint16_t);
  auto avail_mem = std::make_unique<uint64_t[]>(avail_bytes / 8 + 1);
  auto used_mem = std::make_unique<uint64_t[]>(used_bytes / 8 + 1);
  auto* avail = reinterpret_cast<vring_avail*>(avail_mem.get());
  auto* used = reinterpret_cast<vring_used*>(used_mem.get());
  memset(avail, 0, avail_bytes);
  memset(used, 0, used_bytes);

  for (uint16_t i = 0; i < qsize; i++) desc[i] = MakeDesc(in, arena.get(), indirect.get());
  for (uint16_t i = 0; i < kMaxIndirect; i++)
    indirect[i] = MakeDesc(in, arena.get(), indirect.get());
  // How many chains the driver claims to offer: up to the queue size, or
  // (rarely) more, which is malformed.
  uint8_t count_byte = in.U8();
  uint16_t offered = count_byte == 0xff ? static_cast<uint16_t>(qsize + 1 + in.U8())
                                        : static_cast<uint16_t>(count_byte % (qsize + 1));
  for (uint16_t i = 0; i < qsize; i++) avail->ring[i] = in.U8();  // heads, maybe out of range
  in.Rest(arena.get(), kArenaBytes);  // headers, sectors, ranges, data

  driver->Write(VIRTIO_MMIO_STATUS, 0);  // reset: the device stops serving
  if (!driver->Negotiate(features)) Violation("the device refused its own features");
  driver->Write(VIRTIO_MMIO_QUEUE_SEL, 0);
  driver->Write(VIRTIO_MMIO_QUEUE_NUM, qsize);
  auto set = [&](uint32_t low, uint32_t high, const void* p) {
    uint64_t a = reinterpret_cast<uint64_t>(p);
    driver->Write(low, static_cast<uint32_t>(a));
    driver->Write(high, static_cast<uint32_t>(a >> 32));
  };
  set(VIRTIO_MMIO_QUEUE_DESC_LOW, VIRTIO_MMIO_QUEUE_DESC_HIGH, desc.get());
  set(VIRTIO_MMIO_QUEUE_AVAIL_LOW, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, avail);
  set(VIRTIO_MMIO_QUEUE_USED_LOW, VIRTIO_MMIO_QUEUE_USED_HIGH, used);
  driver->Write(VIRTIO_MMIO_QUEUE_READY, 1);
  driver->DriverOk();

  std::atomic_ref<uint16_t>(avail->idx).store(offered, std::memory_order_release);
  driver->Write(VIRTIO_MMIO_QUEUE_NOTIFY, 0);

  // Every offered chain comes back, or the device gives up on the ring.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool broken = false;
  uint16_t done = 0;
  for (;;) {
    done = std::atomic_ref<uint16_t>(used->idx).load(std::memory_order_acquire);
    broken = driver->Read(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
    if (done == offered || broken) break;
    if (std::chrono::steady_clock::now() > deadline)
      Violation("the device neither served the ring nor asked for a reset");
    std::this_thread::yield();
  }
  // Stop the device before looking at what it wrote, and before the
  // buffers go.
  driver->Write(VIRTIO_MMIO_STATUS, 0);
  if (static_cast<uint16_t>(done) > offered && !broken)
    Violation("more chains used than offered");
  const uint16_t checked = std::min<uint16_t>(done, qsize);
  for (uint16_t i = 0; i < checked; i++) {
    const vring_used_elem& e = used->ring[i];
    if (e.id >= qsize) Violation("a used element names a head out of range");
    if (e.len > WritableBytes(desc.get(), qsize, static_cast<uint16_t>(e.id)))
      Violation("the device says it wrote more than the chain offered");
  }
  inputs++;
  served_chains += done;
  resets += broken;
  return 0;
}
