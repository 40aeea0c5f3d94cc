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

// Two timer threads of RunTimers beside a test's calls, until Stop(),
// which returns how many expirations they saw.
class TimerLoad {
 public:
  explicit TimerLoad(Errors* errors) {
    for (int t = 0; t < 2; ++t)
      threads_.emplace_back([this, errors] { expirations_ += RunTimers(&stop_, errors); });
  }
  ~TimerLoad() { Stop(); }
  uint64_t Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    return expirations_.load();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> expirations_{0};
  std::vector<std::thread> threads_;
};

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
  TimerLoad timers(&errors);

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
  const uint64_t timer_expirations = timers.Stop();
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
  EXPECT_GT(timer_expirations, 1000u);
}

// The same mix through asynchronous calls (lkd_task_submit), as lkd's
// channel dispatcher makes them: 64 tasks with no host thread of their
// own, driven by 2 host threads that submit each task's next call once the
// previous one completed. A blocked read is completed by whichever thread
// runs the kernel when its partner writes (often the other driver, or a
// timer thread for the nanosleeps), and nothing waits for it.
struct AsyncTask {
  int index = 0, pair = 0, side = 0, pid = 0;
  lkd_task* task = nullptr;
  long in = -1, out = -1;
  int call = 0, step = 0;  // which call, and which half of a ping-pong
  uint64_t value = 0, got_value = 0;
  struct timespec sleep = {};
  std::atomic<bool> ready{false};  // the last call completed
  std::atomic<long> result{0};
  std::mt19937 random;

  static void Done(void* arg, long ret, unsigned long long) {
    auto* t = static_cast<AsyncTask*>(arg);
    t->result.store(ret, std::memory_order_relaxed);
    t->ready.store(true, std::memory_order_release);
  }
};

// Opens the task's FIFO ends in its process, from a bound host thread (the
// fds are the process's; O_RDWR so that no open waits for the other side).
bool OpenAsyncFifos(AsyncTask* t) {
  bool ok = false;
  std::thread([&] {
    if (lkd_bind(t->pid) < 0) return;
    const char* out_dir = t->side == 0 ? "ab" : "ba";
    const char* in_dir = t->side == 0 ? "ba" : "ab";
    t->out = Sys(LKD_NR_openat, kAtFdCwd, FifoPath(t->pair, out_dir).c_str(), O_RDWR);
    t->in = Sys(LKD_NR_openat, kAtFdCwd, FifoPath(t->pair, in_dir).c_str(), O_RDWR);
    ok = t->out >= 0 && t->in >= 0;
    lkd_unbind();
  }).join();
  return ok;
}

// Checks the completed call of `t` (unless `first`: nothing was submitted
// yet) and submits its next one; false when the task made all its calls.
bool AdvanceAsync(AsyncTask* t, bool first, Progress* progress, Errors* errors, int calls) {
  const long got = t->result.load(std::memory_order_relaxed);
  auto fail = [&](const std::string& what) {
    errors->Add("task " + std::to_string(t->index) + " call " + std::to_string(t->call) +
                ": " + what + " -> " + std::to_string(got));
  };
  Op op = OpFor(t->pair, t->call);
  if (!first) {
    switch (op) {
      case Op::kGetpid:
        if (got != t->pid) fail("getpid");
        break;
      case Op::kSleep:
        if (got != 0) fail("nanosleep");
        break;
      case Op::kPingPong: {
        const bool wrote = (t->side == 0) == (t->step == 0);
        if (got != 8) fail(wrote ? "write" : "read");
        if (!wrote && t->got_value != t->value + 1)
          fail("value " + std::to_string(t->got_value));
        if (!wrote) t->value = t->got_value + (t->side == 1 ? 1 : 0);
        break;
      }
    }
    // Next: the second half of a ping-pong, or the next call.
    if (op == Op::kPingPong && t->step == 0) {
      t->step = 1;
    } else {
      t->step = 0;
      t->call++;
      op = OpFor(t->pair, t->call);
    }
  }
  progress->call.store(t->call, std::memory_order_relaxed);
  if (t->call >= calls) return false;
  progress->op.store(static_cast<int>(op), std::memory_order_relaxed);
  long args[6] = {};
  long nr = LKD_NR_getpid;
  switch (op) {
    case Op::kGetpid:
      break;
    case Op::kSleep:
      t->sleep = {0, static_cast<long>(t->random() % 2000000)};
      nr = LKD_NR_nanosleep;
      args[0] = reinterpret_cast<long>(&t->sleep);
      break;
    case Op::kPingPong: {
      const bool write = (t->side == 0) == (t->step == 0);
      if (write && t->side == 0) ++t->value;
      nr = write ? LKD_NR_write : LKD_NR_read;
      args[0] = write ? t->out : t->in;
      args[1] = reinterpret_cast<long>(write ? &t->value : &t->got_value);
      args[2] = sizeof(uint64_t);
      break;
    }
  }
  t->ready.store(false, std::memory_order_relaxed);
  if (long rc = lkd_task_submit(t->task, nr, args, AsyncTask::Done, t); rc != 0) {
    errors->Add("task " + std::to_string(t->index) + ": submit " + std::to_string(rc));
    return false;
  }
  return true;
}

TEST(EntryStress, SixtyFourAsyncTasksBlockWakeAndSleep) {
  constexpr int kCalls = kCallsPerThread / 2;
  constexpr int kDrivers = 2;
  const lkd_cred cred = {0, 0, LKD_CAPS_ALL};
  for (int pair = 0; pair < kThreads / 2; ++pair) {
    for (const char* dir : {"ab", "ba"}) {
      long rc = Sys(LKD_NR_mknodat, kAtFdCwd, FifoPath(pair, dir).c_str(), S_IFIFO | 0600, 0);
      ASSERT_TRUE(rc == 0 || rc == -EEXIST) << rc;
    }
  }
  std::vector<AsyncTask> tasks(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    AsyncTask& t = tasks[i];
    t.index = i;
    t.pair = i / 2;
    t.side = i % 2;
    t.value = static_cast<uint64_t>(t.pair) << 32;
    t.random.seed(i);
    t.pid = lkd_proc_create(&cred);
    ASSERT_GT(t.pid, 0);
    ASSERT_GT(lkd_task_create(t.pid, &t.task), 0);
    ASSERT_TRUE(OpenAsyncFifos(&t)) << i;
  }
  Errors errors;
  std::vector<Progress> progress(kThreads);
  TimerLoad timers(&errors);

  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    const auto end = std::chrono::steady_clock::now() + kDeadline;
    while (!finished.load() && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (finished.load()) return;
    fprintf(stderr, "entry_stress: async tasks not done after the deadline; stuck:\n");
    static const char* kOpNames[] = {"getpid", "ping-pong", "nanosleep"};
    for (int i = 0; i < kThreads; ++i) {
      if (progress[i].done) continue;
      int op = progress[i].op.load();
      fprintf(stderr, "  task %d (pair %d side %d): call %d, %s, completed %d\n", i, i / 2,
              i % 2, progress[i].call.load(), op >= 0 ? kOpNames[op] : "setup",
              tasks[i].ready.load() ? 1 : 0);
    }
    fflush(stderr);
    abort();
  });

  std::vector<std::thread> drivers;
  for (int d = 0; d < kDrivers; ++d) {
    drivers.emplace_back([&, d] {
      int left = 0;
      for (int i = d; i < kThreads; i += kDrivers) {
        if (AdvanceAsync(&tasks[i], true, &progress[i], &errors, kCalls))
          left++;
        else
          progress[i].done = true;
      }
      while (left > 0) {
        bool any = false;
        for (int i = d; i < kThreads; i += kDrivers) {
          AsyncTask& t = tasks[i];
          if (progress[i].done || !t.ready.load(std::memory_order_acquire)) continue;
          any = true;
          if (!AdvanceAsync(&t, false, &progress[i], &errors, kCalls)) {
            progress[i].done = true;
            left--;
          }
        }
        if (!any) std::this_thread::yield();
      }
    });
  }
  for (auto& t : drivers) t.join();
  const uint64_t timer_expirations = timers.Stop();
  finished = true;
  watchdog.join();

  EXPECT_EQ(errors.count(), 0) << errors.Summary();
  for (int i = 0; i < kThreads; ++i)
    EXPECT_EQ(progress[i].call.load(), kCalls) << "task " << i;
  EXPECT_GT(timer_expirations, 1000u);
  for (auto& t : tasks) {
    lkd_task_release(t.task);
    EXPECT_EQ(lkd_proc_exit(t.pid), 0);
  }
}

}  // namespace
}  // namespace lkd::testing
