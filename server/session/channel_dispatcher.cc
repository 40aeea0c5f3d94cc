// SPDX-License-Identifier: GPL-2.0
#include "server/session/channel_dispatcher.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/cpu_set.h"
#include "common/errno_status.h"
#include "lkd/kernel.h"
#include "lkd/sysnr.h"
#include "schema/lkd_channel_doorbell.h"
#include "server/channel/request_decoder.h"

namespace lkd::server {

namespace {
constexpr uint32_t kPage = 4096;

// A call answered -ESRCH: a genuine answer (fcntl F_SETOWN_EX for a pid
// that does not exist), or the calling task's kernel process is dead,
// killed inside the kernel while its client is attached. Then lkd says
// why (once per process) and the caller should answer -ENOTCONN, as for a
// lost session: the process is not coming back. Asks the kernel, so only
// the task thread calls it.
bool ProcessKilled(int pid) {
  int sig = lkd_proc_fatal_signal(pid);
  if (sig == 0) return false;
  static int last_told = 0;  // task thread only
  if (last_told != pid) {
    last_told = pid;
    if (sig > 0)
      fprintf(stderr, "lkd: kernel process %d was killed inside the kernel by signal %d (%s); "
              "its client's calls fail with ENOTCONN\n", pid, sig, strsignal(sig));
    else
      fprintf(stderr, "lkd: kernel process %d is gone while its client is attached; "
              "its client's calls fail with ENOTCONN\n", pid);
  }
  return true;
}

void FutexWakePrivate(uint32_t* word) {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}
}  // namespace

absl::StatusOr<int> CreateSealedMemfd(const char* name, size_t size) {
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("memfd_create ", name));
  if (ftruncate(fd, size) < 0 ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus(err, absl::StrCat(name, " memfd size/seals"));
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<ChannelMemory>> ChannelMemory::Create(
    uint32_t data_size, uint32_t generation) {
  if (data_size == 0 || data_size % kPage != 0 || data_size > (64u << 20))
    return absl::InvalidArgumentError(
        absl::StrCat("channel data size ", data_size,
                     ": must be a multiple of 4096, at most 64 MiB"));
  const uint32_t data_offset = (sizeof(lkd_channel) + kPage - 1) / kPage * kPage;
  const size_t total = size_t{data_offset} + data_size;
  absl::StatusOr<int> memfd = CreateSealedMemfd("lkd-channel", total);
  if (!memfd.ok()) return memfd.status();
  const int fd = *memfd;
  void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    int err = errno;
    close(fd);
    return ErrnoStatus(err, "mmap channel");
  }
  auto* ctl = static_cast<lkd_channel*>(base);
  ctl->magic = LKD_CHANNEL_MAGIC;
  ctl->version = LKD_CHANNEL_VERSION;
  ctl->data_offset = data_offset;
  ctl->data_size = data_size;
  ctl->generation = generation;
  return std::unique_ptr<ChannelMemory>(new ChannelMemory(
      fd, static_cast<uint8_t*>(base), data_offset, data_size, generation));
}

ChannelMemory::~ChannelMemory() {
  munmap(base_, size_t{data_offset_} + data_size_);
  close(fd_);
}

// ---------------------------------------------------------------------------
// The shared state

namespace {
struct Poller;
}  // namespace

// One channel. The handle, the dispatch thread serving it and the jobs
// that concern it hold it; a call's completion (OnCallDone) uses it through
// a plain pointer, which is safe because the channel is released only
// after lkd_task_release, and that waits for a completion in flight.
struct ChannelDispatcher::Channel : std::enable_shared_from_this<Channel> {
  std::unique_ptr<ChannelMemory> memory;
  int pid = 0;
  std::shared_ptr<const std::atomic<bool>> process_ended;
  std::shared_ptr<SessionCounters> counters;
  CallLatency* latency = nullptr;  // counters' histogram, if any
  ClientWakes* wakes = nullptr;    // counters' wake-up count, if any
  std::shared_ptr<Core> core;  // outlives every channel
  // Set by the task thread before a dispatch thread sees the channel.
  lkd_task* task = nullptr;
  int task_error = 0;
  Poller* poller = nullptr;  // atomic accesses: set once, by the task thread
  uint32_t stop = 0;         // atomic: the handle was dropped

  // The dispatch thread's: the last request sequence it took.
  uint32_t seen = 0;

  // The call in flight. The dispatch thread fills these before it
  // submits; the completion reads them. `in_flight` (atomic) is set from
  // then until the answer is written: the dispatch thread takes no new
  // request from the channel meanwhile (a client that rings before its
  // answer came must not overwrite a call the kernel is still using).
  DecodedCall call;
  // A batch's calls (LKD_NR_BATCH), made on the channel's first batch:
  // the kernel reads `calls` until the batch is done.
  struct BatchSpace {
    DecodedBatch decoded;
    lkd_call calls[LKD_CHANNEL_BATCH_MAX];
  };
  std::unique_ptr<BatchSpace> batch;
  uint32_t seq = 0;
  bool trace = false;
  bool slept = false;  // the dispatch thread slept before it took this call
  bool cancel_asked = false;  // lkd_task_interrupt was asked for this call
  uint64_t pickup_ticks = 0;  // for the latency histogram (call_latency.h)
  lkd_channel_trace times = {};
  uint32_t in_flight = 0;
  // The waker's list (Waker::pending) while it owes this channel's client
  // a wake-up, and the reference that keeps the channel meanwhile: once
  // the waker ends the call, the channel may be released at once, and
  // lkd_task_release waits only for completions inside the kernel.
  Channel* wake_next = nullptr;
  std::shared_ptr<Channel> held_by_waker;
  // A call that found its process gone: the task thread answers.
  long deferred_result = 0;
  unsigned long long deferred_signals = 0;
};

namespace {

using Channel = ChannelDispatcher::Channel;

// One dispatch thread's channels and its wake-up word.
struct Poller {
  uint32_t attention = 0;  // futex word (private): bumped to wake the thread
  uint32_t sleeping = 0;   // atomic: the thread sleeps or is about to
  absl::Mutex mu;
  std::vector<std::shared_ptr<Channel>> incoming ABSL_GUARDED_BY(mu);
  uint32_t incoming_count = 0;  // atomic: incoming.size(), read without mu
  int assigned = 0;             // channels given to it and not released (Core::mu)

  void Wake() {
    __atomic_add_fetch(&attention, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&sleeping, __ATOMIC_SEQ_CST)) FutexWakePrivate(&attention);
  }
};

// Wakes sleeping clients for the threads that answer them, while many
// clients sleep and wake at once.
//
// A FUTEX_WAKE of a client asleep on another CPU costs the waker an
// inter-processor interrupt; on a VM that is a trap to the hypervisor.
// Measured on the 2-core VM, it took most of the dispatch thread's time
// under request/response load (7 us a wake, two wakes a request), with
// the kernel's CPU held all the while. So once the answering threads have
// woken three different clients within kBurstNs, the answering thread
// only publishes an answer and pushes its channel here: this thread,
// which runs beside the clients, wakes them, and the kernel's CPU goes on
// with the next call. It stays awake (spinning, yielding to the clients it
// shares a CPU with) while work comes, and sleeps kLingerNs after the
// last; then answering threads wake their clients themselves. Two
// processes that take turns (a server and its one client, redis and
// redis-benchmark) never start it: there the hand-over only adds a hop to
// every call, and the waker's spinning takes the CPU the woken one needs
// (redis-benchmark: 28 → 18 kreq/s when it was started by load alone).
//
// A channel stays in flight (Channel::in_flight) until its client was
// woken, so it cannot be released while it is on the list, and the list
// holds a reference (Channel::held_by_waker) until the waker is done with
// it.
struct Waker {
  static constexpr uint64_t kLingerNs = 10000;
  static constexpr uint64_t kBurstNs = 50000;
  bool enabled = false;        // Options::waker
  // The last two clients woken in place, and when (relaxed atomics: the
  // answering threads race here, and a lost update only delays a start).
  const Channel* woken[2] = {nullptr, nullptr};
  uint64_t woken_ns[2] = {0, 0};
  Channel* pending = nullptr;  // atomic: a stack, pushed by Take
  uint32_t active = 0;         // atomic: the thread takes pushes (else asleep)
  uint32_t word = 0;           // futex (private): bumped to wake the thread

  // Hands the wake-up of `c`'s client over; false if the thread sleeps
  // (the caller wakes the client itself).
  bool Take(Channel* c) {
    if (!__atomic_load_n(&active, __ATOMIC_SEQ_CST)) return false;
    c->held_by_waker = c->shared_from_this();
    Channel* head = __atomic_load_n(&pending, __ATOMIC_RELAXED);
    do c->wake_next = head;
    while (!__atomic_compare_exchange_n(&pending, &head, c, true, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED));
    // It may have gone to sleep after the check above, before it saw the
    // push: it looks at the list after saying so, we look at `active`
    // after pushing.
    if (!__atomic_load_n(&active, __ATOMIC_SEQ_CST)) Start();
    return true;
  }
  // The answering thread woke `c`'s client itself at `now_ns`: a third
  // client in kBurstNs starts the thread.
  void WokeInPlace(const Channel* c, uint64_t now_ns) {
    if (!enabled) return;
    const Channel* a = __atomic_load_n(&woken[0], __ATOMIC_RELAXED);
    const Channel* b = __atomic_load_n(&woken[1], __ATOMIC_RELAXED);
    if (c == a) return;  // the same client again: no news
    if (c != b && b && now_ns - __atomic_load_n(&woken_ns[1], __ATOMIC_RELAXED) < kBurstNs)
      Start();
    __atomic_store_n(&woken[1], a, __ATOMIC_RELAXED);
    __atomic_store_n(&woken_ns[1], __atomic_load_n(&woken_ns[0], __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
    __atomic_store_n(&woken[0], c, __ATOMIC_RELAXED);
    __atomic_store_n(&woken_ns[0], now_ns, __ATOMIC_RELAXED);
  }
  // Wakes the thread (a burst begins).
  void Start() {
    __atomic_store_n(&active, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&word, 1, __ATOMIC_SEQ_CST);
    FutexWakePrivate(&word);
  }
};

struct Job {
  enum Kind { kCreateTask, kRelease, kAnswer } kind;
  std::shared_ptr<Channel> channel;
};

}  // namespace

struct ChannelDispatcher::Core {
  explicit Core(const Options& o) : options(o) {}
  const Options options;
  mutable absl::Mutex mu;
  absl::CondVar jobs_ready;
  std::deque<Job> jobs ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<Poller>> pollers ABSL_GUARDED_BY(mu);
  int live ABSL_GUARDED_BY(mu) = 0;
  int threads ABSL_GUARDED_BY(mu) = 0;
  bool closing ABSL_GUARDED_BY(mu) = false;
  // closing && live == 0, readable without mu: every thread ends.
  std::atomic<bool> done{false};
  // Dispatch threads spinning now (atomic accesses), at most kMaxSpinners:
  // spinners beyond the cores take CPU from the threads that do the work.
  uint32_t spinners = 0;
  static constexpr uint32_t kMaxSpinners = 2;
  Waker waker;

  void Post(Job job) {
    absl::MutexLock lock(&mu);
    jobs.push_back(std::move(job));
    jobs_ready.Signal();
  }
  bool Done() const { return done.load(std::memory_order_acquire); }
  void UpdateDone() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};

namespace {

using Core = ChannelDispatcher::Core;

// ---------------------------------------------------------------------------
// Answers

// Ends the call in flight of `c` once its client has its answer and is
// awake: the dispatch thread may take the channel's next request.
void EndCall(Channel* c) {
  lkd_channel* ctl = c->memory->control();
  const uint32_t seq = c->seq;
  // From here on the dispatch thread may reuse the call's fields.
  __atomic_store_n(&c->in_flight, 0, __ATOMIC_SEQ_CST);
  // A request rung while the call was in flight (the client had its
  // answer, or gave up on it) was left out of the dispatch thread's passes
  // and sleep: it must look again. So must it for a channel to release.
  // Checked after in_flight is clear, both sequentially consistent (the
  // dispatch thread does the opposite): one of us sees the other.
  if (__atomic_load_n(&ctl->req_seq, __ATOMIC_SEQ_CST) != seq ||
      __atomic_load_n(&c->stop, __ATOMIC_SEQ_CST))
    __atomic_load_n(&c->poller, __ATOMIC_ACQUIRE)->Wake();
}

// Publishes the answer to the call in flight and rings the client: from
// the completion (on the thread that completed the call in the kernel),
// from the dispatch thread for calls that never reached the kernel, or from
// the task thread for deferred answers.
void Answer(Channel* c, long result, unsigned long long signals) {
  lkd_channel* ctl = c->memory->control();
  if (c->process_ended->load(std::memory_order_acquire)) {
    result = -ENOTCONN;
    signals = 0;
  }
  // lkd's kernel never returns its internal restart codes
  // (kernel/arch/lkd/kernel/syscalls.c restarts or answers -EINTR).
  ctl->resp.result = result;
  ctl->resp.signals = signals;
  if (c->trace) {
    c->times.publish_ns = lkd_doorbell_now_ns();
    memcpy(&ctl->trace, &c->times, sizeof(c->times));
  }
  __atomic_store_n(&ctl->resp_seq, c->seq, __ATOMIC_RELEASE);
  // Counted once the answer is out, off a spinning client's path; the
  // call's fields stay ours until EndCall.
  if (c->latency) c->latency->Record(c->pickup_ticks, c->latency->Now());
  // The client's sleep announcement and our store of resp_seq, each
  // followed by a check of the other (lkd_doorbell_ring).
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (__atomic_load_n(&ctl->client_sleeping, __ATOMIC_SEQ_CST)) {
    Waker& waker = c->core->waker;
    if (waker.Take(c)) return;  // it wakes the client and ends the call
    lkd_doorbell_wake(&ctl->resp_seq);
    waker.WokeInPlace(c, lkd_doorbell_now_ns());
    if (c->wakes) c->wakes->by_answering_thread.fetch_add(1, std::memory_order_relaxed);
  }
  EndCall(c);
}

// The task thread answers -ESRCH (a genuine answer, or a dead process).
void AnswerDeferred(Channel* c) {
  long result = c->deferred_result;
  if (result == -ESRCH && ProcessKilled(c->pid)) result = -ENOTCONN;
  Answer(c, result, c->deferred_signals);
}

// The data a call moved between the client and the kernel: its result, for
// the calls that carry data.
void CountBytes(SessionCounters& counters, long nr, long result) {
  switch (nr) {
    case LKD_NR_write:
    case LKD_NR_writev:
    case LKD_NR_pwrite64:
    case LKD_NR_sendto:
    case LKD_NR_sendmsg:
      counters.bytes_sent.fetch_add(result, std::memory_order_relaxed);
      break;
    case LKD_NR_read:
    case LKD_NR_readv:
    case LKD_NR_pread64:
    case LKD_NR_recvfrom:
    case LKD_NR_recvmsg:
      counters.bytes_received.fetch_add(result, std::memory_order_relaxed);
      break;
    default:
      break;
  }
}

// lkd_call_done_fn: the kernel finished the call (or its task died).
// Runs with the kernel's CPU held, on any host thread: copies, stores and
// at most one FUTEX_WAKE, nothing that blocks for long or enters lkd.
void OnCallDone(void* arg, long result, unsigned long long signals) {
  auto* c = static_cast<Channel*>(arg);
  if (c->trace) c->times.kernel_exit_ns = lkd_doorbell_now_ns();
  if (c->counters) c->counters->calls.fetch_add(1, std::memory_order_relaxed);
  FinishCall(c->call, c->memory->data());
  if (c->counters && result > 0) CountBytes(*c->counters, c->call.nr, result);
  if (result == -ESRCH && !c->process_ended->load(std::memory_order_acquire)) {
    c->deferred_result = result;
    c->deferred_signals = signals;
    c->core->Post({Job::kAnswer, c->shared_from_this()});
    return;
  }
  Answer(c, result, signals);
}

// ---------------------------------------------------------------------------
// A dispatch thread

static_assert(LKD_CHANNEL_BATCH_MAX <= LKD_BATCH_MAX, "a channel's batch fits the kernel's");

// Validates batch `request` of `c` into c->batch (made on first use).
int DecodeBatchOf(Channel* c, const lkd_channel_request& request) {
  if (!c->batch) c->batch = std::make_unique<Channel::BatchSpace>();
  ChannelMemory& mem = *c->memory;
  DecodedBatch& decoded = c->batch->decoded;
  if (int rc = DecodeBatch(request, mem.generation(), mem.data(), mem.data_size(), &c->call,
                           &decoded);
      rc < 0)
    return rc;
  for (unsigned i = 0; i < decoded.count; i++) {
    c->batch->calls[i].nr = decoded.calls[i].nr;
    memcpy(c->batch->calls[i].args, decoded.calls[i].args, sizeof(decoded.calls[i].args));
  }
  return 0;
}

// Takes the request `seq` of `c` and submits it (or answers it at once).
void Dispatch(Channel* c, uint32_t seq) {
  lkd_channel* ctl = c->memory->control();
  ChannelMemory& mem = *c->memory;
  // One read of the request into private memory; everything after works
  // on this copy (lkd_channel.h, invariants).
  lkd_channel_request request;
  lkd_channel_get_request(ctl, &request);
  c->seq = seq;
  c->cancel_asked = false;
  if (c->latency) c->pickup_ticks = c->latency->Now();
  // Tracing is the client's request for its own reports: it only makes
  // lkd read the clock (lkd_channel.h, invariants).
  c->trace = __builtin_expect(request.flags & LKD_CHANNEL_REQ_TRACE, 0);
  if (c->trace) {
    c->times = {};
    c->times.pickup_ns = lkd_doorbell_now_ns();
    c->times.flags = c->slept ? LKD_CHANNEL_TRACE_SERVER_SLEPT : 0;
    c->times.kernel_entry_ns = c->times.kernel_exit_ns = c->times.pickup_ns;
  }
  __atomic_store_n(&c->in_flight, 1, __ATOMIC_RELAXED);
  long refused;
  if (!c->task) {
    refused = c->task_error;
  } else if (int rc = request.nr == LKD_NR_BATCH
                         ? DecodeBatchOf(c, request)
                         : DecodeRequest(request, mem.generation(), mem.data(),
                                         mem.data_size(), &c->call);
             rc < 0) {
    refused = rc;
  } else {
    if (c->trace) c->times.kernel_entry_ns = lkd_doorbell_now_ns();
    // May run the kernel on this thread (the CPU was free), and so answer
    // this call and others before it returns.
    if (request.nr == LKD_NR_BATCH)
      refused = lkd_task_submit_batch(c->task, c->batch->calls, c->batch->decoded.count,
                                      c->batch->decoded.results, OnCallDone, c);
    else
      refused = lkd_task_submit(c->task, c->call.nr, c->call.args, OnCallDone, c);
    if (refused == 0) {
      // Not answered yet: it blocks in the kernel (or waits for the CPU).
      // The client had better sleep than spin for it (blocked_seq). A
      // late store is harmless: the client's next call has another seq.
      if (__atomic_load_n(&c->in_flight, __ATOMIC_ACQUIRE))
        __atomic_store_n(&ctl->blocked_seq, seq, __ATOMIC_RELAXED);
      return;
    }
    if (refused == -ESRCH) {
      c->deferred_result = refused;
      c->deferred_signals = 0;
      c->core->Post({Job::kAnswer, c->shared_from_this()});
      return;
    }
  }
  Answer(c, refused, 0);
}

// A dispatch thread pinned to a CPU of its own (Options::cpus) runs there
// while it is busy: its clients keep off that CPU, so neither preempts the
// other, and the scheduler cannot move it onto a client's CPU. It lets go
// of the pin before it sleeps and takes it again once a spin finds work:
// asleep on its own CPU, a cold call's wake would always cross CPUs, to an
// idle vCPU (42-75 us on our 2-CPU VM, against 8-16 us unpinned, where the
// scheduler wakes it on the caller's CPU). Keeping the pin through sleeps
// that follow a long busy spell measured no better under load.
class DispatchPin {
 public:
  // `cpu`: the thread's one CPU, or empty: never pinned.
  explicit DispatchPin(std::vector<int> cpu) : cpu_(std::move(cpu)) {
    if (!cpu_.empty()) anywhere_ = AllowedCpus();
  }
  // After a failure (the CPU taken from lkd's cpuset, say) it stops
  // trying: one system call per busy spell for nothing is not worth it.
  void Busy() {
    if (!pinned_ && !cpu_.empty() && !failed_) pinned_ = Set(cpu_);
  }
  void Idle() {
    if (pinned_) pinned_ = !Set(anywhere_);
  }

 private:
  bool Set(const std::vector<int>& cpus) {
    auto st = PinThread(pthread_self(), cpus);
    if (!st.ok() && !failed_) {
      failed_ = true;
      fprintf(stderr, "lkd: dispatch thread: %s\n", std::string(st.message()).c_str());
    }
    return st.ok();
  }
  const std::vector<int> cpu_;
  std::vector<int> anywhere_;
  bool pinned_ = false;
  bool failed_ = false;
};

class DispatchThread {
 public:
  DispatchThread(std::shared_ptr<Core> core, std::shared_ptr<Poller> poller,
                 std::vector<int> pin)
      : core_(std::move(core)), poller_(std::move(poller)), pin_(std::move(pin)) {
    lkd_doorbell_spin_init(&spin_, core_->options.spin_ns, &core_->spinners,
                           Core::kMaxSpinners);
  }

  void Run() {
    pthread_setname_np(pthread_self(), "lkd-dispatch");  // visible in ps/top -H
    bool slept = false;
    for (;;) {
      if (Pass(slept)) {
        slept = false;
        continue;
      }
      if (core_->Done() && channels_.empty()) break;
      if (SpinForWork()) {
        pin_.Busy();
        slept = false;
        continue;
      }
      pin_.Idle();
      slept = Sleep();
    }
  }

 private:
  // One look at every channel; true if it took a request.
  bool Pass(bool slept) {
    if (__atomic_load_n(&poller_->incoming_count, __ATOMIC_ACQUIRE)) TakeIncoming();
    bool worked = false;
    for (size_t i = 0; i < channels_.size();) {
      Channel* c = channels_[i].get();
      const bool busy = __atomic_load_n(&c->in_flight, __ATOMIC_ACQUIRE);
      if (__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
        if (busy) {
          ++i;  // its answer wakes us (Answer)
          continue;
        }
        core_->Post({Job::kRelease, std::move(channels_[i])});
        channels_[i] = std::move(channels_.back());
        channels_.pop_back();
        continue;
      }
      lkd_channel* ctl = c->memory->control();
      // The client's signal handler interrupted its wait: interrupt the
      // call in the kernel (once; it answers -EINTR unless done first).
      if (busy && !c->cancel_asked && c->task &&
          __atomic_load_n(&ctl->cancel_seq, __ATOMIC_ACQUIRE) == c->seq) {
        c->cancel_asked = true;
        lkd_task_interrupt(c->task);
      }
      const uint32_t seq = __atomic_load_n(&ctl->req_seq, __ATOMIC_ACQUIRE);
      if (seq != c->seen && !busy) {
        c->seen = seq;
        c->slept = slept;
        Dispatch(c, seq);
        worked = true;
      }
      ++i;
    }
    return worked;
  }

  void TakeIncoming() {
    absl::MutexLock lock(&poller_->mu);
    for (auto& c : poller_->incoming) channels_.push_back(std::move(c));
    poller_->incoming.clear();
    __atomic_store_n(&poller_->incoming_count, 0, __ATOMIC_RELEASE);
  }

  // Spins with passes for this thread's spin budget; true if a pass found
  // a request (see lkd_channel_doorbell.h for the adaptive policy).
  bool SpinForWork() {
    const uint64_t budget = lkd_doorbell_spin_next(&spin_);
    if (!budget || !lkd_doorbell_spin_enter(&spin_)) return false;
    const uint64_t start = lkd_doorbell_now_ns();
    bool hit = false;
    for (unsigned i = 1;; i++) {
      lkd_doorbell_pause();
      if (Pass(false)) {
        hit = true;
        break;
      }
      if ((i & 15) == 0 && lkd_doorbell_now_ns() - start >= budget) break;
      if (i % 256 == 0) sched_yield();  // never starve the clients on our CPU
    }
    lkd_doorbell_spin_leave(&spin_);
    lkd_doorbell_spin_account(&spin_, hit);
    return hit;
  }

  // Sleeps on this thread's word and every channel's request doorbell at
  // once. Returns true if it slept.
  bool Sleep() {
    waiters_.clear();
    const uint32_t attention = SleepAnnounce();
    auto add = [&](uint32_t* word, uint32_t expected, bool shared) {
      futex_waitv w = {};
      w.val = expected;
      w.uaddr = reinterpret_cast<uintptr_t>(word);
      w.flags = FUTEX_32 | (shared ? 0 : FUTEX_PRIVATE_FLAG);
      waiters_.push_back(w);
    };
    add(&poller_->attention, attention, false);
    bool ready = __atomic_load_n(&poller_->incoming_count, __ATOMIC_SEQ_CST) != 0 ||
                 (core_->Done() && channels_.empty());
    for (auto& ch : channels_) {
      if (ready) break;
      Channel* c = ch.get();
      lkd_channel* ctl = c->memory->control();
      if (__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
        if (!__atomic_load_n(&c->in_flight, __ATOMIC_ACQUIRE)) ready = true;
        continue;  // else its answer wakes us
      }
      // The announcement, then the re-check, both sequentially consistent
      // (the client's ring does the opposite): no lost wake-up.
      __atomic_store_n(&ctl->server_sleeping, 1, __ATOMIC_SEQ_CST);
      const uint32_t seq = __atomic_load_n(&ctl->req_seq, __ATOMIC_SEQ_CST);
      if (seq != c->seen) {
        if (!__atomic_load_n(&c->in_flight, __ATOMIC_SEQ_CST)) ready = true;
        // A request rung during its call: left out (its answer wakes us).
        __atomic_store_n(&ctl->server_sleeping, 0, __ATOMIC_RELAXED);
        continue;
      }
      add(&ctl->req_seq, seq, true);
    }
    bool slept = false;
    if (!ready) {
      slept = true;
      if (syscall(SYS_futex_waitv, waiters_.data(), waiters_.size(), 0, nullptr,
                  CLOCK_MONOTONIC) < 0 &&
          errno == ENOSYS) {
        // A host kernel older than 5.16: poll every millisecond.
        static std::atomic<bool> told{false};
        if (!told.exchange(true))
          fprintf(stderr, "lkd: futex_waitv unavailable (host kernel < 5.16): "
                          "idle dispatch threads poll every 1 ms\n");
        usleep(1000);
      }
    }
    __atomic_store_n(&poller_->sleeping, 0, __ATOMIC_RELAXED);
    for (auto& ch : channels_)
      __atomic_store_n(&ch->memory->control()->server_sleeping, 0, __ATOMIC_RELAXED);
    return slept;
  }

  uint32_t SleepAnnounce() {
    __atomic_store_n(&poller_->sleeping, 1, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&poller_->attention, __ATOMIC_SEQ_CST);
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<Poller> poller_;
  std::vector<std::shared_ptr<Channel>> channels_;
  std::vector<futex_waitv> waiters_;
  lkd_doorbell_spin spin_;
  DispatchPin pin_;
};

// ---------------------------------------------------------------------------
// The waker thread

void RunWakerThread(std::shared_ptr<Core> core) {
  // Beside the clients it took a third of their CPU, spinning and yielding,
  // under request/response with 8 clients on our 2-CPU VM, while the
  // dispatch thread's CPU spent most of its time polling: pinned there,
  // proxy_rr_kreqs_n8 went from 27-29 to 36-46 kreq/s, and wakes still
  // happen off the kernel's CPU (README, "Serving the channels").
  const std::vector<int>& cpus = core->options.cpus;
  if (core->options.waker_on_dispatch_cpus && !cpus.empty()) {
    if (auto st = PinThread(pthread_self(), cpus); !st.ok())
      fprintf(stderr, "lkd: waker thread: %s\n", std::string(st.message()).c_str());
  }
  pthread_setname_np(pthread_self(), "lkd-wake");  // once placed (tests look)
  Waker& w = core->waker;
  uint64_t idle_since = lkd_doorbell_now_ns();
  for (unsigned spins = 0;;) {
    Channel* list = __atomic_exchange_n(&w.pending, nullptr, __ATOMIC_ACQUIRE);
    if (list) {
      // Oldest first: the stack holds the newest on top.
      Channel* fifo = nullptr;
      while (list) {
        Channel* next = list->wake_next;
        list->wake_next = fifo;
        fifo = list;
        list = next;
      }
      while (fifo) {
        const std::shared_ptr<Channel> c = std::move(fifo->held_by_waker);
        fifo = fifo->wake_next;
        lkd_doorbell_wake(&c->memory->control()->resp_seq);
        if (c->wakes) c->wakes->by_waker.fetch_add(1, std::memory_order_relaxed);
        EndCall(c.get());
      }
      idle_since = lkd_doorbell_now_ns();
      spins = 0;
      continue;
    }
    if (core->Done()) return;
    lkd_doorbell_pause();
    if (++spins % 64) continue;
    if (lkd_doorbell_now_ns() - idle_since < Waker::kLingerNs) {
      sched_yield();  // the clients to wake may share our CPU
      continue;
    }
    // Asleep: say so, then look at the list once more (Waker::Take does
    // the opposite).
    const uint32_t word = __atomic_load_n(&w.word, __ATOMIC_SEQ_CST);
    __atomic_store_n(&w.active, 0, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&w.pending, __ATOMIC_SEQ_CST) || core->Done()) {
      __atomic_store_n(&w.active, 1, __ATOMIC_SEQ_CST);
      continue;
    }
    syscall(SYS_futex, &w.word, FUTEX_WAIT_PRIVATE, word, nullptr, nullptr, 0);
    __atomic_store_n(&w.active, 1, __ATOMIC_SEQ_CST);
    idle_since = lkd_doorbell_now_ns();
  }
}

// ---------------------------------------------------------------------------
// The task thread

void StartDispatchThread(const std::shared_ptr<Core>& core, std::shared_ptr<Poller> poller)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(core->mu) {
  core->threads++;
  const std::vector<int>& cpus = core->options.cpus;
  std::vector<int> pin;
  if (!cpus.empty()) pin = {cpus[(core->pollers.size() - 1) % cpus.size()]};
  std::thread([core, poller = std::move(poller), pin]() mutable {
    DispatchThread(core, std::move(poller), pin).Run();
    absl::MutexLock lock(&core->mu);
    core->threads--;
  }).detach();
}

// A dispatch thread with room for one more channel (a new one if all are
// full), counted as assigned.
Poller* PlaceChannel(const std::shared_ptr<Core>& core) ABSL_EXCLUSIVE_LOCKS_REQUIRED(core->mu) {
  Poller* best = nullptr;
  for (auto& p : core->pollers)
    if (p->assigned < ChannelDispatcher::kChannelsPerThread &&
        (!best || p->assigned < best->assigned))
      best = p.get();
  if (!best) {
    auto p = std::make_shared<Poller>();
    best = p.get();
    core->pollers.push_back(p);
    StartDispatchThread(core, std::move(p));
  }
  best->assigned++;
  return best;
}

void CreateTask(const std::shared_ptr<Core>& core, const std::shared_ptr<Channel>& c) {
  const int tid = lkd_task_create(c->pid, &c->task);
  if (tid < 0) {
    c->task = nullptr;
    c->task_error = tid;
    fprintf(stderr, "lkd: channel for process %d: new task: %s\n", c->pid, strerror(-tid));
  } else if (c->counters) {
    c->counters->threads.fetch_add(1, std::memory_order_relaxed);
  }
  Poller* p;
  {
    absl::MutexLock lock(&core->mu);
    p = PlaceChannel(core);
  }
  __atomic_store_n(&c->poller, p, __ATOMIC_RELEASE);
  {
    absl::MutexLock lock(&p->mu);
    p->incoming.push_back(c);
    __atomic_store_n(&p->incoming_count, p->incoming.size(), __ATOMIC_RELEASE);
  }
  p->Wake();
}

void Release(const std::shared_ptr<Core>& core, std::shared_ptr<Channel> c) {
  // No call is in flight (the dispatch thread saw it answered), so this
  // only ends the task.
  if (c->task) {
    lkd_task_release(c->task);
    if (c->counters) c->counters->threads.fetch_sub(1, std::memory_order_relaxed);
  }
  Poller* p = __atomic_load_n(&c->poller, __ATOMIC_ACQUIRE);
  c.reset();  // unmaps, unless a handle is still held
  absl::MutexLock lock(&core->mu);
  if (p) p->assigned--;
  core->live--;
  core->UpdateDone();
}

void RunTaskThread(std::shared_ptr<Core> core) {
  pthread_setname_np(pthread_self(), "lkd-tasks");
  for (;;) {
    Job job;
    {
      absl::MutexLock lock(&core->mu);
      auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(core->mu) {
        return !core->jobs.empty() || core->Done();
      };
      while (!ready()) core->jobs_ready.Wait(&core->mu);
      if (core->jobs.empty()) return;  // done
      job = std::move(core->jobs.front());
      core->jobs.pop_front();
    }
    switch (job.kind) {
      case Job::kCreateTask:
        CreateTask(core, job.channel);
        break;
      case Job::kRelease:
        Release(core, std::move(job.channel));
        break;
      case Job::kAnswer:
        AnswerDeferred(job.channel.get());
        break;
    }
  }
}

}  // namespace

void ChannelDispatcher::Core::UpdateDone() {
  if (!closing || live != 0 || done.load()) return;
  done.store(true, std::memory_order_release);
  jobs_ready.SignalAll();
  for (auto& p : pollers) p->Wake();
  __atomic_add_fetch(&waker.word, 1, __ATOMIC_SEQ_CST);
  FutexWakePrivate(&waker.word);
}

// ---------------------------------------------------------------------------
// The public side

ChannelDispatcher::ChannelDispatcher(const Options& options)
    : core_(std::make_shared<Core>(options)) {
  core_->waker.enabled = options.waker;
  std::thread(RunTaskThread, core_).detach();
  if (options.waker) {
    // Awake until its first linger ends.
    __atomic_store_n(&core_->waker.active, 1, __ATOMIC_SEQ_CST);
    std::thread(RunWakerThread, core_).detach();
  }
}

ChannelDispatcher::~ChannelDispatcher() {
  absl::MutexLock lock(&core_->mu);
  core_->closing = true;
  core_->UpdateDone();
}

std::unique_ptr<DispatchedChannel> ChannelDispatcher::Serve(
    std::unique_ptr<ChannelMemory> memory, int pid,
    std::shared_ptr<const std::atomic<bool>> process_ended,
    std::shared_ptr<SessionCounters> counters) {
  auto c = std::make_shared<Channel>();
  c->memory = std::move(memory);
  c->pid = pid;
  c->process_ended = std::move(process_ended);
  c->counters = std::move(counters);
  if (c->counters) {
    c->latency = c->counters->latency.get();
    c->wakes = c->counters->wakes.get();
  }
  c->core = core_;
  {
    absl::MutexLock lock(&core_->mu);
    core_->live++;
  }
  core_->Post({Job::kCreateTask, c});
  return std::unique_ptr<DispatchedChannel>(new DispatchedChannel(std::move(c)));
}

bool ChannelDispatcher::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&core_->mu);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(core_->mu) { return core_->live == 0; };
  return core_->mu.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

int ChannelDispatcher::live() const {
  absl::MutexLock lock(&core_->mu);
  return core_->live;
}

int ChannelDispatcher::threads() const {
  absl::MutexLock lock(&core_->mu);
  return core_->threads;
}

DispatchedChannel::~DispatchedChannel() {
  __atomic_store_n(&channel_->stop, 1, __ATOMIC_SEQ_CST);
  // Not yet placed: the dispatch thread that gets it sees `stop` first.
  if (Poller* p = __atomic_load_n(&channel_->poller, __ATOMIC_ACQUIRE)) p->Wake();
}

int DispatchedChannel::fd() const { return channel_->memory->fd(); }

}  // namespace lkd::server
