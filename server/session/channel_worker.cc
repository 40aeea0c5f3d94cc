// SPDX-License-Identifier: GPL-2.0
#include "server/session/channel_worker.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "lkd/kernel.h"
#include "schema/lkd_channel_doorbell.h"
#include "server/channel/request_decoder.h"

namespace lkd::server {

namespace {
constexpr uint32_t kPage = 4096;

// A call answered -ESRCH: a genuine answer (fcntl F_SETOWN_EX for a pid
// that does not exist), or the calling task's kernel process is dead,
// killed inside the kernel while its client is attached. Then lkd says
// why (once per worker) and the caller should answer -ENOTCONN, as for a
// lost session: the process is not coming back.
bool ProcessKilled(int pid) {
  int sig = lkd_proc_fatal_signal(pid);
  if (sig == 0) return false;
  thread_local bool told = false;
  if (!told) {
    told = true;
    if (sig > 0)
      fprintf(stderr, "lkd: kernel process %d was killed inside the kernel by signal %d (%s); "
              "its client's calls fail with ENOTCONN\n", pid, sig, strsignal(sig));
    else
      fprintf(stderr, "lkd: kernel process %d is gone while its client is attached; "
              "its client's calls fail with ENOTCONN\n", pid);
  }
  return true;
}
}  // namespace

absl::StatusOr<std::unique_ptr<ChannelMemory>> ChannelMemory::Create(
    uint32_t data_size, uint32_t generation) {
  if (data_size == 0 || data_size % kPage != 0 || data_size > (64u << 20))
    return absl::InvalidArgumentError(
        absl::StrCat("channel data size ", data_size,
                     ": must be a multiple of 4096, at most 64 MiB"));
  const uint32_t data_offset = (sizeof(lkd_channel) + kPage - 1) / kPage * kPage;
  const size_t total = size_t{data_offset} + data_size;
  int fd = memfd_create("lkd-channel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return ErrnoStatus(errno, "memfd_create");
  if (ftruncate(fd, total) < 0 ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus(err, "channel memfd size/seals");
  }
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

void WorkerSet::Add() {
  absl::MutexLock lock(&mu_);
  ++live_;
}

void WorkerSet::Done() {
  absl::MutexLock lock(&mu_);
  --live_;
}

bool WorkerSet::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return live_ == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

int WorkerSet::live() const {
  absl::MutexLock lock(&mu_);
  return live_;
}

struct ChannelWorker::State {
  std::unique_ptr<ChannelMemory> memory;
  // A futex-style flag the doorbell wait checks around its sleeps.
  uint32_t stop = 0;
};

std::unique_ptr<ChannelWorker> ChannelWorker::Start(
    std::unique_ptr<ChannelMemory> memory, int pid,
    std::shared_ptr<const std::atomic<bool>> process_ended,
    std::shared_ptr<WorkerSet> workers, const Options& options,
    std::shared_ptr<SessionCounters> counters) {
  auto state = std::make_shared<State>();
  state->memory = std::move(memory);
  workers->Add();
  std::thread(Run, state, pid, std::move(process_ended), std::move(workers), options,
              std::move(counters)).detach();
  return std::unique_ptr<ChannelWorker>(new ChannelWorker(std::move(state)));
}

int ChannelWorker::fd() const { return state_ ? state_->memory->fd() : -1; }

void ChannelWorker::Stop() {
  if (!state_) return;
  __atomic_store_n(&state_->stop, 1, __ATOMIC_SEQ_CST);
  // The worker may sleep on the request doorbell.
  lkd_doorbell_wake(&state_->memory->control()->req_seq);
  state_.reset();
}

void ChannelWorker::Run(std::shared_ptr<State> state, int pid,
                        std::shared_ptr<const std::atomic<bool>> process_ended,
                        std::shared_ptr<WorkerSet> workers, Options options,
                        std::shared_ptr<SessionCounters> counters) {
  ChannelMemory& mem = *state->memory;
  lkd_channel* ctl = mem.control();
  pthread_setname_np(pthread_self(), "lkd-channel");  // visible in ps/top -H
  const int tid = lkd_bind(pid);
  if (tid < 0)
    fprintf(stderr, "lkd: channel worker for process %d: bind: %s\n", pid,
            strerror(-tid));
  if (counters) counters->threads.fetch_add(1, std::memory_order_relaxed);
  // A fresh channel's counters are 0. Not reread here: the client may have
  // rung already, before this thread ran.
  uint32_t seen = 0;
  lkd_doorbell_spin spin;
  lkd_doorbell_spin_init(&spin, options.spin_ns, workers->spinners(),
                         options.max_spinners);
  for (;;) {
    int slept;
    uint32_t seq = lkd_doorbell_wait(&ctl->req_seq, seen, &ctl->server_sleeping,
                                     &state->stop, &spin, 0, &slept);
    if (__atomic_load_n(&state->stop, __ATOMIC_ACQUIRE)) break;
    if (seq == seen) continue;
    seen = seq;
    // One read of the request into private memory; everything after works
    // on this copy (lkd_channel.h, invariants).
    lkd_channel_request request;
    memcpy(&request, const_cast<const lkd_channel_request*>(&ctl->req),
           sizeof(request));
    // Tracing is the client's request for its own reports: it only makes
    // this worker read the clock (lkd_channel.h, invariants).
    const bool trace = __builtin_expect(request.flags & LKD_CHANNEL_REQ_TRACE, 0);
    lkd_channel_trace times = {};
    if (trace) {
      times.pickup_ns = lkd_doorbell_now_ns();
      times.flags = slept ? LKD_CHANNEL_TRACE_SERVER_SLEPT : 0;
      times.kernel_entry_ns = times.kernel_exit_ns = times.pickup_ns;
    }
    DecodedCall call;
    long result;
    uint64_t signals = 0;
    if (tid < 0) {
      result = tid;
    } else if (int rc = DecodeRequest(request, mem.generation(), mem.data(),
                                      mem.data_size(), &call);
               rc < 0) {
      result = rc;
    } else {
      if (trace) times.kernel_entry_ns = lkd_doorbell_now_ns();
      result = lkd_syscall(call.nr, call.args);
      if (trace) times.kernel_exit_ns = lkd_doorbell_now_ns();
      if (counters) counters->calls.fetch_add(1, std::memory_order_relaxed);
      FinishCall(call, mem.data());
      signals = lkd_take_signals();
    }
    if (process_ended->load(std::memory_order_acquire)) {
      result = -ENOTCONN;
      signals = 0;
    } else if (result == -ESRCH && ProcessKilled(pid)) {
      result = -ENOTCONN;
    }
    // lkd_syscall never returns the kernel's internal restart codes
    // (kernel/arch/lkd/kernel/syscalls.c restarts or answers -EINTR).
    ctl->resp.result = result;
    ctl->resp.signals = signals;
    if (trace) {
      times.publish_ns = lkd_doorbell_now_ns();
      memcpy(&ctl->trace, &times, sizeof(times));
    }
    __atomic_store_n(&ctl->resp_seq, seq, __ATOMIC_RELEASE);
    lkd_doorbell_ring(&ctl->resp_seq, &ctl->client_sleeping);
  }
  if (tid >= 0) lkd_unbind();
  if (counters) counters->threads.fetch_sub(1, std::memory_order_relaxed);
  state.reset();  // unmaps before the server may consider us gone
  workers->Done();
}

}  // namespace lkd::server
