// SPDX-License-Identifier: GPL-2.0
// The kernel entry under stress (kernel/arch/lkd/kernel/cpu.c): 64 host
// threads, each bound to a kernel process of its own, make 20,000 calls
// each: getpid (the hot path: the task is still current), blocking FIFO
// ping-pongs between pairs of processes (a call that blocks, and one on
// another thread that wakes it), and nanosleeps of 0-2 ms (the timer IRQ
// wakes the sleeper), while two timerfds fire every 50 us. Every result is
// checked; a watchdog ends the test with each thread's progress if the
// whole run does not finish by its deadline (a lost CPU or a lost wake-up
// shows as a thread stuck at one call).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kernel/testing/kernel_test_util.h"

namespace lkd::testing {
namespace {

constexpr int kThreads = 64;
constexpr int kCallsPerThread = 20000;
constexpr auto kDeadline = std::chrono::minutes(4);

enum class Op { kGetpid, kPingPong, kSleep };

// The same sequence for both threads of a pair, so that their ping-pongs
// line up; about 1 call in 8 is a ping-pong and 1 in 64 a sleep.
Op OpFor(int pair, int i) {
  uint32_t h = static_cast<uint32_t>(pair * 7919 + i) * 2654435761u;
  if (h % 64 == 0) return Op::kSleep;
  if (h % 8 == 1) return Op::kPingPong;
  return Op::kGetpid;
}

struct Progress {
  std::atomic<int> call{0};
  std::atomic<int> op{-1};
  std::atomic<bool> done{false};
};

// Failures are collected here, not asserted from the threads.
class Errors {
 public:
  void Add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (errors_.size() < 20) errors_.push_back(what);
    ++count_;
  }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::string Summary() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string s;
    for (const auto& e : errors_) s += e + "\n";
    return s;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> errors_;
  int count_ = 0;
};

std::string FifoPath(int pair, const char* dir) {
  return "/tmp/stress-" + std::to_string(pair) + "-" + dir;
}

// One side of a pair. Side 0 writes first; side 1 answers with value + 1.
void RunThread(int index, Progress* progress, Errors* errors) {
  const lkd_cred cred = {0, 0, LKD_CAPS_ALL};
  const int pair = index / 2, side = index % 2;
  int pid = lkd_proc_create(&cred);
  if (pid < 0 || lkd_bind(pid) < 0) {
    errors->Add("thread " + std::to_string(index) + ": no process");
    progress->done = true;
    return;
  }
  // Side 0: writes a->b and reads b->a; side 1 the other way round. The
  // open order keeps the blocking opens from waiting on each other.
  long out, in;
  if (side == 0) {
    out = Sys(LKD_NR_openat, kAtFdCwd, FifoPath(pair, "ab").c_str(), O_WRONLY);
    in = Sys(LKD_NR_openat, kAtFdCwd, FifoPath(pair, "ba").c_str(), O_RDONLY);
  } else {
    in = Sys(LKD_NR_openat, kAtFdCwd, FifoPath(pair, "ab").c_str(), O_RDONLY);
    out = Sys(LKD_NR_openat, kAtFdCwd, FifoPath(pair, "ba").c_str(), O_WRONLY);
  }
  if (out < 0 || in < 0) {
    errors->Add("thread " + std::to_string(index) + ": fifo open " +
                std::to_string(out) + "/" + std::to_string(in));
    progress->done = true;
    return;
  }
  std::mt19937 random(index);
  uint64_t value = static_cast<uint64_t>(pair) << 32;
  for (int i = 0; i < kCallsPerThread; ++i) {
    progress->call.store(i, std::memory_order_relaxed);
    Op op = OpFor(pair, i);
    progress->op.store(static_cast<int>(op), std::memory_order_relaxed);
    auto fail = [&](const std::string& what, long got) {
      errors->Add("thread " + std::to_string(index) + " call " +
                  std::to_string(i) + ": " + what + " -> " + std::to_string(got));
    };
    switch (op) {
      case Op::kGetpid: {
        long got = Sys(LKD_NR_getpid);
        if (got != pid) fail("getpid", got);
        break;
      }
      case Op::kSleep: {
        struct timespec ts = {0, static_cast<long>(random() % 2000000)};
        long got = Sys(LKD_NR_nanosleep, &ts, nullptr);
        if (got != 0) fail("nanosleep", got);
        break;
      }
      case Op::kPingPong: {
        uint64_t got_value = 0;
        if (side == 0) {
          ++value;
          long w = Sys(LKD_NR_write, out, &value, sizeof(value));
          long r = Sys(LKD_NR_read, in, &got_value, sizeof(got_value));
          if (w != 8 || r != 8 || got_value != value + 1)
            fail("ping (w/r) value " + std::to_string(got_value), w * 100 + r);
          value = got_value;
        } else {
          long r = Sys(LKD_NR_read, in, &got_value, sizeof(got_value));
          if (r != 8 || got_value != value + 1)
            fail("pong read value " + std::to_string(got_value), r);
          value = got_value + 1;
          long w = Sys(LKD_NR_write, out, &value, sizeof(value));
          if (w != 8) fail("pong write", w);
        }
        break;
      }
    }
  }
  progress->call.store(kCallsPerThread);
  lkd_unbind();  // the thread's task exits; the process stays
  progress->done = true;
}

// A timer-heavy workload beside the calls: a timerfd every 50 us, read
// until `stop`. Returns how many expirations it saw.
uint64_t RunTimers(const std::atomic<bool>* stop, Errors* errors) {
  long fd = Sys(LKD_NR_timerfd_create, CLOCK_MONOTONIC, 0);
  if (fd < 0) {
    errors->Add("timerfd_create " + std::to_string(fd));
    return 0;
  }
  struct itimerspec spec = {{0, 50000}, {0, 50000}};
  if (long rc = Sys(LKD_NR_timerfd_settime, fd, 0, &spec, nullptr); rc < 0) {
    errors->Add("timerfd_settime " + std::to_string(rc));
    return 0;
  }
  uint64_t total = 0;
  while (!stop->load()) {
    uint64_t expirations = 0;
    long r = Sys(LKD_NR_read, fd, &expirations, sizeof(expirations));
    if (r != 8) {
      errors->Add("timerfd read " + std::to_string(r));
      break;
    }
    total += expirations;
  }
  Sys(LKD_NR_close, fd);
  return total;
}

TEST(EntryStress, SixtyFourThreadsBlockWakeAndSleep) {
  for (int pair = 0; pair < kThreads / 2; ++pair) {
    for (const char* dir : {"ab", "ba"}) {
      ASSERT_EQ(Sys(LKD_NR_mknodat, kAtFdCwd, FifoPath(pair, dir).c_str(),
                    S_IFIFO | 0600, 0),
                0);
    }
  }
  Errors errors;
  std::vector<Progress> progress(kThreads);
  std::atomic<bool> stop_timers{false};
  std::atomic<uint64_t> timer_expirations{0};
  std::vector<std::thread> timers;
  for (int t = 0; t < 2; ++t)
    timers.emplace_back([&] { timer_expirations += RunTimers(&stop_timers, &errors); });

  // The watchdog: a hang ends the test with every thread's position.
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (cv.wait_for(lock, kDeadline, [&] { return finished; })) return;
    fprintf(stderr, "entry_stress: not done after the deadline; stuck threads:\n");
    static const char* kOpNames[] = {"getpid", "ping-pong", "nanosleep"};
    for (int i = 0; i < kThreads; ++i) {
      if (progress[i].done) continue;
      int op = progress[i].op.load();
      fprintf(stderr, "  thread %d (pair %d side %d): call %d, %s\n", i, i / 2,
              i % 2, progress[i].call.load(), op >= 0 ? kOpNames[op] : "setup");
    }
    fflush(stderr);
    abort();  // a hung kernel cannot be halted; the stacks are in the core
  });

  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back(RunThread, i, &progress[i], &errors);
  for (auto& t : threads) t.join();
  stop_timers = true;
  for (auto& t : timers) t.join();
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();

  EXPECT_EQ(errors.count(), 0) << errors.Summary();
  for (int i = 0; i < kThreads; ++i)
    EXPECT_EQ(progress[i].call.load(), kCallsPerThread) << "thread " << i;
  // The timers really ran beside the calls (many thousands of 50 us ticks).
  EXPECT_GT(timer_expirations.load(), 1000u);
}

}  // namespace
}  // namespace lkd::testing
