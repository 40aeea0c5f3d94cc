// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Pins the contracts of hostops/include/lkd/hostops.h for the POSIX table.
#include "hostops/posix_hostops.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace lkd {
namespace {

const lkd_hostops* Ops() {
  static const lkd_hostops* ops = PosixHostops({.quiet = true});
  return ops;
}

TEST(PosixHostops, VersionMatchesHeader) { EXPECT_EQ(Ops()->version, LKD_HOSTOPS_VERSION); }

TEST(PosixHostops, ConsoleGoesToSinkOrIsDropped) {
  std::string seen;
  const lkd_hostops* ops = PosixHostops({.console_sink = [&](std::string_view s) { seen += s; }});
  ops->console_write("hello kernel", 5);
  EXPECT_EQ(seen, "hello");
  PosixHostops({.quiet = true, .console_sink = [&](std::string_view s) { seen += s; }});
  ops->console_write("more", 4);
  EXPECT_EQ(seen, "hello");
  PosixHostops({.quiet = true});
}

TEST(PosixHostops, MemAllocHonoursAlignment) {
  for (unsigned long align : {8ul, 4096ul, 2ul << 20}) {
    void* p = Ops()->mem_alloc(3 * align + 1, align);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << align;
    Ops()->mem_free(p);
  }
  EXPECT_EQ(Ops()->mem_alloc(64, 3), nullptr) << "alignment must be a power of two";
  Ops()->mem_free(nullptr);
}

TEST(PosixHostops, ClocksAdvance) {
  unsigned long long m1 = Ops()->time_monotonic_ns();
  unsigned long long r = Ops()->time_realtime_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  unsigned long long m2 = Ops()->time_monotonic_ns();
  EXPECT_GE(m2 - m1, 2000000u);
  EXPECT_GT(r, 1600000000ull * 1000000000ull) << "realtime is ns since the epoch";
}

struct ThreadArg {
  const lkd_hostops* ops;
  lkd_host_sem* done;
  std::atomic<int> ran{0};
};

TEST(PosixHostops, ThreadRunsAndSemaphoreHandsOver) {
  ThreadArg arg{Ops(), Ops()->sem_alloc(0)};
  ASSERT_NE(arg.done, nullptr);
  ASSERT_EQ(Ops()->thread_create(
                [](void* a) {
                  auto* t = static_cast<ThreadArg*>(a);
                  t->ran = 1;
                  t->ops->sem_up(t->done);
                },
                &arg, 64 * 1024),
            0);
  Ops()->sem_down(arg.done);
  EXPECT_EQ(arg.ran.load(), 1);
  Ops()->sem_free(arg.done);
}

// A ping-pong between two threads, many times: each side waits on its own
// semaphore and posts the other's, as the kernel's CPU baton does. A lost
// wake-up hangs this test.
TEST(PosixHostops, SemaphorePingPongLosesNoWakeup) {
  lkd_host_sem* ping = Ops()->sem_alloc(0);
  lkd_host_sem* pong = Ops()->sem_alloc(0);
  constexpr int kRounds = 20000;
  std::thread other([&] {
    for (int i = 0; i < kRounds; ++i) {
      Ops()->sem_down(ping);
      Ops()->sem_up(pong);
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    Ops()->sem_up(ping);
    Ops()->sem_down(pong);
  }
  other.join();
  Ops()->sem_free(ping);
  Ops()->sem_free(pong);
}

// Whether host thread `tid` of this process sleeps in the kernel ('S' in
// /proc/self/task/<tid>/stat), polled for up to 60 s; false at once if the
// thread ended.
bool AwaitSleeping(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  for (int i = 0; i < 60000; i++) {
    std::ifstream in(path);
    if (!in) return false;
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S')
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST(PosixHostops, SemaphoreCounts) {
  lkd_host_sem* sem = Ops()->sem_alloc(2);
  Ops()->sem_down(sem);
  Ops()->sem_down(sem);  // both units were there: neither blocks
  std::atomic<bool> passed{false};
  std::atomic<pid_t> tid{0};
  std::thread waiter([&] {
    tid = gettid();
    Ops()->sem_down(sem);
    passed = true;
  });
  // The waiter asleep in the host kernel, not just late to start.
  while (tid.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(AwaitSleeping(tid.load())) << "the waiter never blocked";
  EXPECT_FALSE(passed.load()) << "a third down must wait for an up";
  Ops()->sem_up(sem);
  waiter.join();
  EXPECT_TRUE(passed.load());
  Ops()->sem_free(sem);
}

TEST(PosixHostops, MutexExcludes) {
  lkd_host_mutex* mu = Ops()->mutex_alloc();
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        Ops()->mutex_lock(mu);
        ++counter;
        Ops()->mutex_unlock(mu);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 40000);
  Ops()->mutex_free(mu);
}

std::atomic<int> destructed_value{0};

TEST(PosixHostops, TlsIsPerThreadAndDestructorRuns) {
  lkd_host_tls_key* key =
      Ops()->tls_alloc([](void* v) { destructed_value = static_cast<int>(reinterpret_cast<intptr_t>(v)); });
  ASSERT_NE(key, nullptr);
  ASSERT_EQ(Ops()->tls_set(key, reinterpret_cast<void*>(1)), 0);
  std::thread other([&] {
    EXPECT_EQ(Ops()->tls_get(key), nullptr) << "a new thread starts with no value";
    Ops()->tls_set(key, reinterpret_cast<void*>(42));
  });
  other.join();
  EXPECT_EQ(destructed_value.load(), 42) << "destructor runs on thread exit with its value";
  EXPECT_EQ(Ops()->tls_get(key), reinterpret_cast<void*>(1));
  Ops()->tls_set(key, nullptr);  // keys live as long as the process
}

struct TimerProbe {
  const lkd_hostops* ops;
  lkd_host_sem* fired;
  std::atomic<int> count{0};
  std::atomic<unsigned long long> at{0};
  std::thread::id thread;
  std::mutex mu;
};

void OnTimer(void* a) {
  auto* p = static_cast<TimerProbe*>(a);
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->thread = std::this_thread::get_id();
  }
  p->at = p->ops->time_monotonic_ns();
  p->count++;
  p->ops->sem_up(p->fired);
}

// Arms a fence timer `ns` from now and waits until it fired. Timers share
// one thread and fire in deadline order (AllTimersShareOneThread), so any
// timer due before the fence has fired by the time this returns.
void FireAfter(unsigned long long ns) {
  TimerProbe fence{Ops(), Ops()->sem_alloc(0)};
  lkd_host_timer* timer = Ops()->timer_alloc(OnTimer, &fence);
  Ops()->timer_set(timer, ns);
  Ops()->sem_down(fence.fired);
  Ops()->timer_free(timer);
  Ops()->sem_free(fence.fired);
}

TEST(PosixHostops, TimerFiresOnceNotEarly) {
  TimerProbe probe{Ops(), Ops()->sem_alloc(0)};
  lkd_host_timer* timer = Ops()->timer_alloc(OnTimer, &probe);
  ASSERT_NE(timer, nullptr);
  unsigned long long start = Ops()->time_monotonic_ns();
  ASSERT_EQ(Ops()->timer_set(timer, 5000000), 0);
  Ops()->sem_down(probe.fired);
  EXPECT_GE(probe.at.load() - start, 5000000u) << "fired before its deadline";
  FireAfter(20000000);  // a repeat would have fired by then
  EXPECT_EQ(probe.count.load(), 1) << "one-shot";
  EXPECT_NE(probe.thread, std::this_thread::get_id());
  Ops()->timer_free(timer);
  Ops()->sem_free(probe.fired);
}

TEST(PosixHostops, TimerRearmAndCancel) {
  TimerProbe probe{Ops(), Ops()->sem_alloc(0)};
  lkd_host_timer* timer = Ops()->timer_alloc(OnTimer, &probe);
  // Re-arming replaces the deadline: only the last one fires.
  Ops()->timer_set(timer, 1000000000);
  Ops()->timer_set(timer, 1000000);
  Ops()->sem_down(probe.fired);
  EXPECT_EQ(probe.count.load(), 1);
  // A cancelled timer does not fire.
  Ops()->timer_set(timer, 10000000);
  Ops()->timer_cancel(timer);
  FireAfter(40000000);  // past the cancelled deadline
  EXPECT_EQ(probe.count.load(), 1);
  Ops()->timer_free(timer);
  Ops()->sem_free(probe.fired);
}

TEST(PosixHostops, AllTimersShareOneThread) {
  TimerProbe a{Ops(), Ops()->sem_alloc(0)};
  TimerProbe b{Ops(), Ops()->sem_alloc(0)};
  lkd_host_timer* ta = Ops()->timer_alloc(OnTimer, &a);
  lkd_host_timer* tb = Ops()->timer_alloc(OnTimer, &b);
  // Deadlines are relative to each call, so a's is earlier only if this
  // thread was not held up for most of the gap between the two calls (it
  // was once, under a loaded CI run): the order is checked when it holds.
  const unsigned long long before_b = Ops()->time_monotonic_ns();
  Ops()->timer_set(tb, 50000000);
  Ops()->timer_set(ta, 1000000);
  const unsigned long long after_a = Ops()->time_monotonic_ns();
  Ops()->sem_down(a.fired);
  Ops()->sem_down(b.fired);
  if (after_a + 1000000 < before_b + 50000000) {
    EXPECT_LE(a.at.load(), b.at.load()) << "earlier deadline fires first";
  }
  EXPECT_EQ(a.thread, b.thread);
  Ops()->timer_free(ta);
  Ops()->timer_free(tb);
  Ops()->sem_free(a.fired);
  Ops()->sem_free(b.fired);
}

TEST(PosixHostops, GetRandomFillsExactlyTheBuffer) {
  // 100 of 128 bytes: the tail past `len` stays untouched.
  std::vector<unsigned char> a(128, 0xAA), b(128, 0xAA);
  ASSERT_EQ(Ops()->getrandom(a.data(), 100), 100);
  ASSERT_EQ(Ops()->getrandom(b.data(), 100), 100);
  for (size_t i = 100; i < a.size(); ++i) ASSERT_EQ(a[i], 0xAA) << i;
  // 800 random bits repeating, or a buffer left as it was, would be a bug,
  // not chance.
  EXPECT_NE(std::vector<unsigned char>(a.begin(), a.begin() + 100),
            std::vector<unsigned char>(b.begin(), b.begin() + 100));
  EXPECT_NE(std::vector<unsigned char>(a.begin(), a.begin() + 100),
            std::vector<unsigned char>(100, 0xAA));
  EXPECT_EQ(Ops()->getrandom(a.data(), 0), 0);
}

TEST(PosixHostops, GetRandomServesLargeRequestsWhole) {
  // Larger than one getrandom(2) call guarantees without a short read
  // (256 bytes), so the loop over partial reads is what fills it.
  std::vector<unsigned char> big(1 << 20, 0);
  ASSERT_EQ(Ops()->getrandom(big.data(), big.size()), static_cast<long>(big.size()));
  // The last 4 KiB are written too (all zero would be 2^-32768).
  EXPECT_NE(std::vector<unsigned char>(big.end() - 4096, big.end()),
            std::vector<unsigned char>(4096, 0));
}

}  // namespace
}  // namespace lkd
