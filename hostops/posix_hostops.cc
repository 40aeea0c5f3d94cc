// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// hostops for Linux hosts. Each entry implements the contract documented in
// hostops/include/lkd/hostops.h.
#include "hostops/posix_hostops.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <thread>

#include <boost/context/detail/fcontext.hpp>

// The opaque handle types of the C header are our C++ classes.
struct lkd_host_sem {
  // One word, so that sem_up is a single atomic add that also tells it
  // whether anyone sleeps, and touches the semaphore no more after it: the
  // waiter may free the semaphore as soon as it has its unit (hostops.h).
  // Low 32 bits: available units, the futex word (little-endian: at the
  // word's own address). High 32 bits: threads asleep or about to sleep.
  std::atomic<uint64_t> state{0};
};
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "lkd_host_sem's futex word is the low half of its state");

struct lkd_host_mutex {
  std::mutex mu;
};

struct lkd_host_timer {
  void (*fn)(void*);
  void* arg;
  // Position in the timer thread's queue while armed.
  std::multimap<uint64_t, lkd_host_timer*>::iterator pos;
  bool armed = false;
};

namespace lkd {
namespace {

// Process-wide state; see PosixHostops() for why there is no context.
struct Settings {
  std::mutex mu;
  PosixHostopsOptions options;
  bool spin = true;
};

Settings& settings() {
  static Settings* s = new Settings;  // never destroyed: kernel threads outlive main()
  return *s;
}

uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

long Futex(void* word, int op, int val) {
  return syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, nullptr, nullptr, 0);
}

// ---------------------------------------------------------------- console

void ConsoleWrite(const char* buf, unsigned int len) {
  Settings& s = settings();
  // The kernel serialises console output itself (it holds the CPU), so the
  // lock only protects against a concurrent PosixHostops() call.
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.options.quiet) return;
  if (s.options.console_sink) {
    s.options.console_sink(std::string_view(buf, len));
    return;
  }
  while (len > 0) {
    ssize_t n = write(s.options.console_fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed or full console drops output, never blocks the kernel
    buf += n;
    len -= static_cast<unsigned>(n);
  }
}

// The GNU attribute, not [[noreturn]]: it is part of the function's type, which
// the hostops table's pointer has (clang insists on the match).
__attribute__((noreturn)) void Panic(const char* msg) {
  // Straight to fd 2: the console sink may be what is broken.
  const char prefix[] = "lkd: kernel panic: ";
  (void)!write(2, prefix, sizeof(prefix) - 1);
  (void)!write(2, msg, strlen(msg));
  (void)!write(2, "\n", 1);
  abort();
}

// ---------------------------------------------------------------- memory

void* MemAlloc(unsigned long size, unsigned long align) {
  if (align == 0 || (align & (align - 1)) != 0 || align > (2ul << 20)) return nullptr;
  if (align < sizeof(void*)) align = sizeof(void*);
  void* p = nullptr;
  if (posix_memalign(&p, align, size ? size : 1) != 0) return nullptr;
  return p;
}

void MemFree(void* ptr) { free(ptr); }

// ---------------------------------------------------------------- threads

// Blocks every signal in the calling thread for its lifetime, so that the
// threads it creates inherit a full mask: kernel threads and the timer
// thread never take the host's asynchronous signals (SIGINT, SIGTERM, ...);
// those belong to the application's own threads.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t saved_;
};

struct ThreadStart {
  void (*fn)(void*);
  void* arg;
};

void* ThreadMain(void* raw) {
  ThreadStart start = *static_cast<ThreadStart*>(raw);
  delete static_cast<ThreadStart*>(raw);
  start.fn(start.arg);
  return nullptr;
}

int ThreadCreate(void (*fn)(void*), void* arg, unsigned long stack_size) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (stack_size != 0) {
    const auto min_stack = static_cast<unsigned long>(PTHREAD_STACK_MIN);
    if (stack_size < min_stack) stack_size = min_stack;
    pthread_attr_setstacksize(&attr, stack_size);
  }
  auto* start = new (std::nothrow) ThreadStart{fn, arg};
  int rc = ENOMEM;
  if (start != nullptr) {
    AllSignalsBlocked inherited_by_the_new_thread;
    pthread_t tid;
    rc = pthread_create(&tid, &attr, ThreadMain, start);
  }
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete start;
    return -rc;
  }
  return 0;
}


// A key lives as long as the process (the contract has no tls_free), so
// the handle is the pthread key itself, plus one so that key 0 is not
// NULL: nothing is allocated, nothing leaks.
lkd_host_tls_key* KeyHandle(pthread_key_t key) {
  return reinterpret_cast<lkd_host_tls_key*>(static_cast<uintptr_t>(key) + 1);
}
pthread_key_t KeyOf(lkd_host_tls_key* handle) {
  return static_cast<pthread_key_t>(reinterpret_cast<uintptr_t>(handle) - 1);
}

lkd_host_tls_key* TlsAlloc(void (*destructor)(void*)) {
  pthread_key_t key;
  if (pthread_key_create(&key, destructor) != 0) return nullptr;
  return KeyHandle(key);
}

int TlsSet(lkd_host_tls_key* key, void* value) { return -pthread_setspecific(KeyOf(key), value); }

void* TlsGet(lkd_host_tls_key* key) { return pthread_getspecific(KeyOf(key)); }

// ---------------------------------------------------------------- semaphores

constexpr uint64_t kSemSleeper = uint64_t{1} << 32;
constexpr uint64_t kSemUnits = kSemSleeper - 1;

lkd_host_sem* SemAlloc(int count) {
  if (count < 0) return nullptr;
  auto* sem = new (std::nothrow) lkd_host_sem;
  if (sem != nullptr) sem->state.store(static_cast<uint64_t>(count), std::memory_order_relaxed);
  return sem;
}

void SemFree(lkd_host_sem* sem) { delete sem; }

void SemUp(lkd_host_sem* sem) {
  void* futex_word = &sem->state;  // taken before: nothing reads sem after the add
  const uint64_t old = sem->state.fetch_add(1, std::memory_order_seq_cst);
  // A wake on memory the woken waiter has freed meanwhile is harmless: the
  // kernel only looks the address up.
  if (old >= kSemSleeper) Futex(futex_word, FUTEX_WAKE, 1);
}

bool SemTryDown(lkd_host_sem* sem) {
  uint64_t v = sem->state.load(std::memory_order_relaxed);
  while ((v & kSemUnits) > 0) {
    if (sem->state.compare_exchange_weak(v, v - 1, std::memory_order_acquire,
                                         std::memory_order_relaxed))
      return true;
  }
  return false;
}

void SemDown(lkd_host_sem* sem) {
  if (SemTryDown(sem)) return;
  Settings& s = settings();
  if (s.spin && s.options.sem_spin_ns > 0) {
    uint64_t deadline = ClockNs(CLOCK_MONOTONIC) + s.options.sem_spin_ns;
    for (unsigned i = 0;; ++i) {
      CpuRelax();
      if (SemTryDown(sem)) return;
      if ((i & 63) == 63 && ClockNs(CLOCK_MONOTONIC) > deadline) break;
    }
  }
  // Announce the sleeper before the last check. Both are read-modify-
  // writes of one word, so either SemUp's add sees us and wakes the futex,
  // or our check sees its unit. FUTEX_WAIT sleeps only while the units
  // (the low half) are still 0.
  sem->state.fetch_add(kSemSleeper, std::memory_order_seq_cst);
  while (!SemTryDown(sem)) Futex(&sem->state, FUTEX_WAIT, 0);
  sem->state.fetch_sub(kSemSleeper, std::memory_order_relaxed);
}

// ---------------------------------------------------------------- mutexes

lkd_host_mutex* MutexAlloc() { return new (std::nothrow) lkd_host_mutex; }
void MutexFree(lkd_host_mutex* m) { delete m; }
void MutexLock(lkd_host_mutex* m) { m->mu.lock(); }
void MutexUnlock(lkd_host_mutex* m) { m->mu.unlock(); }

// ---------------------------------------------------------------- time

unsigned long long MonotonicNs() { return ClockNs(CLOCK_MONOTONIC); }
unsigned long long RealtimeNs() { return ClockNs(CLOCK_REALTIME); }

// The single timer thread: a deadline-ordered queue served by one thread
// that sleeps until the earliest deadline (or a new earlier one arrives).
class TimerThread {
 public:
  static TimerThread& Get() {
    // Never destroyed: a kernel may still arm timers while the process exits.
    static TimerThread* t = new TimerThread;
    return *t;
  }

  void Set(lkd_host_timer* timer, uint64_t delta_ns) {
    std::lock_guard<std::mutex> lock(mu_);
    Disarm(timer);
    uint64_t deadline = ClockNs(CLOCK_MONOTONIC) + delta_ns;
    timer->pos = queue_.emplace(deadline, timer);
    timer->armed = true;
    if (timer->pos == queue_.begin()) cv_.notify_one();
  }

  void Cancel(lkd_host_timer* timer) {
    std::lock_guard<std::mutex> lock(mu_);
    Disarm(timer);
  }

  void Free(lkd_host_timer* timer) {
    std::unique_lock<std::mutex> lock(mu_);
    Disarm(timer);
    done_cv_.wait(lock, [&] { return running_ != timer; });
    delete timer;
  }

 private:
  TimerThread() {
    AllSignalsBlocked inherited_by_the_timer_thread;
    std::thread([this] { Run(); }).detach();
  }

  void Disarm(lkd_host_timer* timer) {
    if (!timer->armed) return;
    queue_.erase(timer->pos);
    timer->armed = false;
  }

  [[noreturn]] void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = queue_.begin();
      uint64_t now = ClockNs(CLOCK_MONOTONIC);
      if (first->first > now) {
        // steady_clock is CLOCK_MONOTONIC on Linux.
        cv_.wait_for(lock, std::chrono::nanoseconds(first->first - now));
        continue;
      }
      lkd_host_timer* timer = first->second;
      queue_.erase(first);
      timer->armed = false;
      running_ = timer;
      lock.unlock();
      timer->fn(timer->arg);
      lock.lock();
      running_ = nullptr;
      done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::multimap<uint64_t, lkd_host_timer*> queue_;
  lkd_host_timer* running_ = nullptr;
};

lkd_host_timer* TimerAlloc(void (*fn)(void*), void* arg) {
  TimerThread::Get();  // start the thread now rather than on the first expiry
  auto* timer = new (std::nothrow) lkd_host_timer;
  if (timer == nullptr) return nullptr;
  timer->fn = fn;
  timer->arg = arg;
  return timer;
}

int TimerSet(lkd_host_timer* timer, unsigned long long delta_ns) {
  TimerThread::Get().Set(timer, delta_ns);
  return 0;
}

void TimerCancel(lkd_host_timer* timer) { TimerThread::Get().Cancel(timer); }

void TimerFree(lkd_host_timer* timer) {
  if (timer != nullptr) TimerThread::Get().Free(timer);
}

// ---------------------------------------------------------------- contexts

// Boost.Context's fcontext: a switch saves a few registers and jumps; no
// system call (glibc's swapcontext saves the signal mask with one).
namespace fctx = boost::context::detail;

constexpr unsigned long kPageBytes = 4096;
constexpr unsigned long kGuardBytes = kPageBytes;

void* StackAlloc(unsigned long size) {
  if (size == 0 || size % kPageBytes != 0) return nullptr;
  void* p = mmap(nullptr, size + kGuardBytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (mprotect(p, kGuardBytes, PROT_NONE) != 0) {
    munmap(p, size + kGuardBytes);
    return nullptr;
  }
  return static_cast<char*>(p) + kGuardBytes;
}

void StackFree(void* stack, unsigned long size) {
  if (stack != nullptr) munmap(static_cast<char*>(stack) - kGuardBytes, size + kGuardBytes);
}

// Whoever switched to us asked for its context to be stored at t.data.
void SaveFrom(const fctx::transfer_t& t) {
  if (t.data != nullptr) *static_cast<void**>(t.data) = t.fctx;
}

// A new context first runs this: it takes fn from CtxMake's priming jump,
// hands its suspended self back, and calls fn when really switched to.
void ContextEntry(fctx::transfer_t t) {
  auto fn = reinterpret_cast<void (*)()>(t.data);
  t = fctx::jump_fcontext(t.fctx, nullptr);
  SaveFrom(t);
  fn();
  Panic("lkd: a kernel context returned");
}

void* CtxMake(void* stack, unsigned long size, void (*fn)()) {
  if (stack == nullptr || fn == nullptr) return nullptr;
  fctx::fcontext_t c = fctx::make_fcontext(static_cast<char*>(stack) + size, size, ContextEntry);
  fctx::transfer_t t = fctx::jump_fcontext(c, reinterpret_cast<void*>(fn));
  return t.fctx;
}

void CtxSwitch(void** save, void* to) {
  fctx::transfer_t t = fctx::jump_fcontext(static_cast<fctx::fcontext_t>(to), save);
  SaveFrom(t);
}

// ---------------------------------------------------------------- entropy

long GetRandom(void* buf, unsigned long len) {
  // GRND_NONBLOCK: the kernel calls this with its CPU held, so a host whose
  // generator is still unseeded answers EAGAIN instead of stalling it.
  auto* out = static_cast<unsigned char*>(buf);
  unsigned long done = 0;
  while (done < len) {
    ssize_t n = getrandom(out + done, len - done, GRND_NONBLOCK);
    if (n > 0) {
      done += static_cast<unsigned long>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // A short read that already returned bytes is reported as such; the
    // caller uses what it got.
    if (done > 0) break;
    return n < 0 ? -errno : -EIO;
  }
  return static_cast<long>(done);
}

constexpr lkd_hostops kPosixHostops = {
    .version = LKD_HOSTOPS_VERSION,
    .console_write = ConsoleWrite,
    .panic = Panic,
    .mem_alloc = MemAlloc,
    .mem_free = MemFree,
    .thread_create = ThreadCreate,
    .tls_alloc = TlsAlloc,
    .tls_set = TlsSet,
    .tls_get = TlsGet,
    .sem_alloc = SemAlloc,
    .sem_free = SemFree,
    .sem_up = SemUp,
    .sem_down = SemDown,
    .mutex_alloc = MutexAlloc,
    .mutex_free = MutexFree,
    .mutex_lock = MutexLock,
    .mutex_unlock = MutexUnlock,
    .time_monotonic_ns = MonotonicNs,
    .time_realtime_ns = RealtimeNs,
    .timer_alloc = TimerAlloc,
    .timer_set = TimerSet,
    .timer_cancel = TimerCancel,
    .timer_free = TimerFree,
    .stack_alloc = StackAlloc,
    .stack_free = StackFree,
    .ctx_make = CtxMake,
    .ctx_switch = CtxSwitch,
    .getrandom = GetRandom,
};

}  // namespace

const lkd_hostops* PosixHostops(const PosixHostopsOptions& options) {
  Settings& s = settings();
  std::lock_guard<std::mutex> lock(s.mu);
  s.options = options;
  // Spinning for a unit another core will post only helps with two cores.
  s.spin = std::thread::hardware_concurrency() > 1;
  return &kPosixHostops;
}

}  // namespace lkd
