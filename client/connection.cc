// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "client/connection.h"

#include <capnp/rpc-twoparty.h>
#include <fcntl.h>
#include <kj/async-io.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "client/ifconf_marshal.h"
#include "client/kj_errno.h"
#include "client/msghdr_marshal.h"
#include "common/cpu_set.h"
#include "common/errno_status.h"
#include "lkd/sysnr.h"
#include "schema/lkd.capnp.h"
#include "schema/lkd_channel.h"
#include "schema/lkd_channel_doorbell.h"
#include "schema/lkd_syscalls.h"

namespace lkd::client {

absl::StatusOr<std::string> SocketPathFromUrl(const std::string& url) {
  std::string path = url;
  if (absl::StartsWith(url, "unix://")) {
    path = url.substr(strlen("unix://"));
  } else if (url.find("://") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("lkd server '", url, "': only unix:///PATH is supported"));
  }
  if (path.empty() || path[0] != '/')
    return absl::InvalidArgumentError(
        absl::StrCat("lkd server '", url, "': the socket path must be absolute"));
  return path;
}

namespace {

std::string CookieString(capnp::Data::Reader cookie) {
  return std::string(reinterpret_cast<const char*>(cookie.begin()), cookie.size());
}

// Copying an argument: where it sits in the data area.
struct Region {
  uint64_t offset = 0;
  uint32_t size = 0;
};

uint64_t RegionSize(const lkd_arg_desc& a, const long args[6]) {
  switch (a.size_rule) {
    case LKD_SIZE_FIXED:
      return a.scale;
    case LKD_SIZE_ARG:
      return static_cast<unsigned long>(args[a.param]);
    case LKD_SIZE_ARG_MAX:
      // Over the maximum: nothing to copy, the server answers -EINVAL.
      return static_cast<unsigned long>(args[a.param]) > a.scale
                 ? 0
                 : static_cast<unsigned long>(args[a.param]);
    case LKD_SIZE_ARG_TIMES:
      return static_cast<unsigned long>(args[a.param]) * a.scale;
    case LKD_SIZE_AT_PTR:
      return args[a.param] ? *reinterpret_cast<const uint32_t*>(args[a.param]) : 0;
    default:
      return 0;
  }
}

absl::Status SessionLost() { return ErrnoStatus(ENOTCONN, "lkd session lost"); }

// On the RPC thread after the session ended (session_ cleared): the same
// as a lost connection, whatever raced with the end.
kj::Exception NotAttached() {
  return KJ_EXCEPTION(DISCONNECTED, "lkd session lost");
}

}  // namespace

// One thread's channel: the client end of schema/lkd_channel.h.
class ChannelClient {
 public:
  // `options` and `spinners` are the connection's, which outlives its
  // channels; `spinners` is lkd's spin board (machine-wide) if
  // `machine_wide`, else the connection's own count.
  ChannelClient(uint8_t* base, size_t map_size, uint32_t data_offset,
                uint32_t data_size, uint32_t generation, int fd,
                const ConnectionOptions& options, uint32_t* spinners, bool machine_wide)
      : base_(base), map_size_(map_size), ctl_(reinterpret_cast<lkd_channel*>(base)),
        data_(base + data_offset), data_size_(data_size), generation_(generation),
        fd_(fd), cold_spin_ns_(machine_wide ? options.cold_spin_ns : 0),
        trace_(options.trace), cancel_on_signal_(options.cancel_on_signal) {
    if (machine_wide)
      lkd_doorbell_spin_init(&spin_, options.spin_ns, spinners, options.machine_max_spinners);
    else
      lkd_doorbell_spin_init(&spin_, options.spin_ns_alone, spinners, options.max_spinners);
  }
  ~ChannelClient() { munmap(base_, map_size_); }

  uint32_t data_size() const { return data_size_; }
  int fd() const { return fd_; }
  uint32_t* resp_word() { return &ctl_->resp_seq; }

  // Marshals, runs and unmarshals one call. `dead` is the connection's
  // flag; `signals` accumulates raised signals.
  long Run(const lkd_syscall_desc& desc, const long args[6], uint32_t* dead,
           std::atomic<uint64_t>* signals) {
    const bool tracing = __builtin_expect(static_cast<bool>(trace_), 0);
    const uint64_t start_ns = tracing ? lkd_doorbell_now_ns() : 0;
    lkd_channel_request req = {};
    req.nr = static_cast<uint32_t>(desc.nr);
    Region regions[6];
    MsghdrRegions msg_regions;
    IfconfRegions ifconf_regions;
    uint64_t cursor = 0;
    if (long rc = PutArgs(desc, args, req.args, req.lens, regions, &msg_regions,
                          &ifconf_regions, &cursor);
        rc < 0)
      return rc;
    const long result = Exchange(&req, desc.nr, dead, signals, start_ns);
    if (result >= 0) CopyOut(desc, args, regions, msg_regions, ifconf_regions, result);
    return result;
  }

  // Runs `n` calls (1..LKD_CHANNEL_BATCH_MAX, described by descs[i]) as
  // one batch (LKD_NR_BATCH, lkd_channel.h): 0 with each call's result in
  // calls[i].result (-ECANCELED: not made), or -errno when the batch was
  // not made at all.
  long RunBatch(const lkd_syscall_desc* const* descs, Connection::BatchCall* calls, unsigned n,
                uint32_t* dead, std::atomic<uint64_t>* signals) {
    const bool tracing = __builtin_expect(static_cast<bool>(trace_), 0);
    const uint64_t start_ns = tracing ? lkd_doorbell_now_ns() : 0;
    lkd_channel_subcall subs[LKD_CHANNEL_BATCH_MAX];
    Region regions[LKD_CHANNEL_BATCH_MAX][6];
    uint64_t cursor = 0;
    for (unsigned i = 0; i < n; i++) {
      const lkd_syscall_desc& desc = *descs[i];
      // Plain buffers only: lkd copies paths, headers and lengths into
      // private memory that one call at a time has.
      for (const lkd_arg_desc& a : desc.args) {
        if (a.kind == LKD_ARG_NONE || a.kind == LKD_ARG_VAL) continue;
        if ((a.kind != LKD_ARG_IN && a.kind != LKD_ARG_OUT && a.kind != LKD_ARG_INOUT) ||
            a.size_rule == LKD_SIZE_AT_PTR)
          return -EINVAL;
      }
      subs[i] = {};
      subs[i].nr = static_cast<uint32_t>(desc.nr);
      MsghdrRegions no_msg;
      IfconfRegions no_ifconf;
      if (long rc = PutArgs(desc, calls[i].args, subs[i].args, subs[i].lens, regions[i],
                            &no_msg, &no_ifconf, &cursor);
          rc < 0)
        return rc;
    }
    // The entries, then the results, each 8-aligned after the buffers.
    cursor = (cursor + 7) & ~uint64_t{7};
    const uint64_t subs_at = cursor, subs_len = n * sizeof(lkd_channel_subcall);
    const uint64_t results_at = subs_at + subs_len, results_len = n * sizeof(int64_t);
    if (results_at + results_len > data_size_) return -EMSGSIZE;
    memcpy(data_ + subs_at, subs, subs_len);
    // A batch lkd refused leaves these as they are: how its answer is told
    // from the last call's.
    auto* slots = reinterpret_cast<int64_t*>(data_ + results_at);
    for (unsigned i = 0; i < n; i++) slots[i] = kNotMade;
    lkd_channel_request req = {};
    req.nr = LKD_NR_BATCH;
    req.args[0] = subs_at;
    req.lens[0] = static_cast<uint32_t>(subs_len);
    req.args[1] = n;
    req.args[2] = results_at;
    req.lens[2] = static_cast<uint32_t>(results_len);
    // A signal handler cancels the batch as it would its last call.
    const long answer = Exchange(&req, descs[n - 1]->nr, dead, signals, start_ns);
    if (slots[0] == kNotMade) return answer < 0 ? answer : -EPROTO;
    for (unsigned i = 0; i < n; i++) {
      calls[i].result = static_cast<long>(slots[i]);
      if (calls[i].result >= 0)
        CopyOut(*descs[i], calls[i].args, regions[i], {}, {}, calls[i].result);
    }
    return 0;
  }

 private:
  // What no call answers: a batch result slot lkd did not write.
  static constexpr int64_t kNotMade = INT64_MIN;

  // Copies the arguments of a call into the data area from *cursor on
  // (advanced past them): request arguments and lengths in out_args and
  // out_lens, where each went in regions. 0 or -errno.
  // Inlined, as Exchange: both are the hot call's path (measured: split
  // out of Run they cost a null call 10-30 ns).
  __attribute__((always_inline)) long PutArgs(const lkd_syscall_desc& desc,
                                              const long args[6], uint64_t out_args[6],
                                              uint32_t out_lens[6], Region regions[6],
                                              MsghdrRegions* msg_regions,
                                              IfconfRegions* ifconf_regions,
                                              uint64_t* cursor_io) {
    uint64_t cursor = *cursor_io;
    for (int i = 0; i < 6; i++) {
      const lkd_arg_desc& a = desc.args[i];
      switch (a.kind) {
        case LKD_ARG_NONE:
          continue;
        case LKD_ARG_VAL:
          out_args[i] = static_cast<uint64_t>(args[i]);
          continue;
        default:
          break;
      }
      if (args[i] == 0) {
        out_args[i] = LKD_CHANNEL_NULL;
        continue;
      }
      if (a.kind == LKD_ARG_MSGHDR || a.kind == LKD_ARG_MSGHDR_IN) {
        const auto& msg = *reinterpret_cast<const msghdr*>(args[i]);
        const int rc = a.kind == LKD_ARG_MSGHDR
                           ? PutMsghdr(msg, data_, data_size_, &cursor, msg_regions)
                           : PutSendMsghdr(msg, data_, data_size_, &cursor, msg_regions);
        if (rc < 0) return rc;
        out_args[i] = msg_regions->header;
        out_lens[i] = sizeof(lkd_channel_msghdr);
        continue;
      }
      if (a.kind == LKD_ARG_IFCONF) {
        const auto& ifc = *reinterpret_cast<const ifconf*>(args[i]);
        if (int rc = PutIfconf(ifc, data_size_, data_, &cursor, ifconf_regions); rc < 0)
          return rc;
        out_args[i] = ifconf_regions->header;
        out_lens[i] = sizeof(lkd_channel_ifconf);
        continue;
      }
      const void* host = reinterpret_cast<const void*>(args[i]);
      uint64_t size;
      if (a.kind == LKD_ARG_PATH) {
        size = strnlen(static_cast<const char*>(host), LKD_CHANNEL_PATH_MAX) + 1;
        if (size > LKD_CHANNEL_PATH_MAX) return -ENAMETOOLONG;
      } else {
        size = RegionSize(a, args);
      }
      cursor = (cursor + 7) & ~uint64_t{7};
      if (size > data_size_ || cursor + size > data_size_) return -EMSGSIZE;
      if (a.kind == LKD_ARG_IN || a.kind == LKD_ARG_INOUT || a.kind == LKD_ARG_PATH)
        memcpy(data_ + cursor, host, size);
      regions[i] = {cursor, static_cast<uint32_t>(size)};
      out_args[i] = cursor;
      out_lens[i] = static_cast<uint32_t>(size);
      cursor += size;
    }
    *cursor_io = cursor;
    return 0;
  }

  // Publishes request `req` (its generation and flags filled in here),
  // rings lkd and waits for the answer; a signal handler that interrupts
  // the wait cancels the call in lkd where `cancel_nr` would be on Linux.
  __attribute__((always_inline)) long Exchange(lkd_channel_request* req, long cancel_nr,
                                               uint32_t* dead, std::atomic<uint64_t>* signals,
                                               uint64_t start_ns) {
    const bool tracing = __builtin_expect(static_cast<bool>(trace_), 0);
    uint64_t sent_ns = 0;
    req->generation = generation_;
    req->flags = tracing ? LKD_CHANNEL_REQ_TRACE : 0;
    lkd_channel_put_request(ctl_, req);
    if (tracing) sent_ns = lkd_doorbell_now_ns();
    const uint32_t prev = seq_++;
    __atomic_store_n(&ctl_->req_seq, seq_, __ATOMIC_RELEASE);
    // lkd's dispatch thread was asleep (the ring woke it): the answer comes
    // no sooner than its wake-up, so spin only briefly.
    const bool woke_server = lkd_doorbell_ring(&ctl_->req_seq, &ctl_->server_sleeping);
    spin_.cap_ns = woke_server ? cold_spin_ns_ : 0;
    int slept = 0;
    spin_.slow = &ctl_->blocked_seq;
    spin_.slow_value = seq_;
    spin_.return_on_signal = static_cast<bool>(cancel_on_signal_);
    bool cancelled = false;
    for (;;) {
      int slept_now;
      uint32_t v = lkd_doorbell_wait(&ctl_->resp_seq, prev, &ctl_->client_sleeping,
                                     dead, &spin_, 100 * 1000 * 1000, &slept_now);
      slept |= slept_now;
      if (v == seq_) break;
      if (spin_.interrupted) {
        // A signal handler ran while the call was blocked in lkd.
        spin_.interrupted = 0;
        if (!cancelled && cancel_on_signal_(cancel_nr)) {
          cancelled = true;
          __atomic_store_n(&ctl_->cancel_seq, seq_, __ATOMIC_RELEASE);
          lkd_doorbell_ring(&ctl_->req_seq, &ctl_->server_sleeping);
        }
        continue;
      }
      if (__atomic_load_n(dead, __ATOMIC_ACQUIRE)) return -ENOTCONN;
    }
    const uint64_t woken_ns = tracing ? lkd_doorbell_now_ns() : 0;
    const long result = ctl_->resp.result;
    if (uint64_t s = ctl_->resp.signals) signals->fetch_or(s);
    if (tracing) {
      CallTrace times;
      times.nr = req->nr;
      times.start_ns = start_ns;
      times.sent_ns = sent_ns;
      times.woken_ns = woken_ns;
      times.client_slept = slept;
      Report(&times);
    }
    return result;
  }

  // Copies what the kernel wrote back to the caller's buffers.
  void CopyOut(const lkd_syscall_desc& desc, const long args[6],
               const Region regions[6], const MsghdrRegions& msg_regions,
               const IfconfRegions& ifconf_regions, long result) {
    for (int i = 0; i < 6; i++) {
      const lkd_arg_desc& a = desc.args[i];
      if (a.kind == LKD_ARG_MSGHDR && args[i] != 0)
        TakeMsghdr(msg_regions, data_, result, reinterpret_cast<msghdr*>(args[i]));
      if (a.kind == LKD_ARG_IFCONF && args[i] != 0)
        TakeIfconf(ifconf_regions, data_, reinterpret_cast<ifconf*>(args[i]));
      if ((a.kind != LKD_ARG_OUT && a.kind != LKD_ARG_INOUT) || args[i] == 0) continue;
      uint64_t n = regions[i].size;
      if (a.kind == LKD_ARG_OUT &&
          (a.size_rule == LKD_SIZE_ARG || a.size_rule == LKD_SIZE_ARG_TIMES)) {
        // These calls return how much they wrote (bytes or entries).
        uint64_t scale = a.size_rule == LKD_SIZE_ARG_TIMES ? a.scale : 1;
        n = std::min<uint64_t>(n, static_cast<uint64_t>(result) * scale);
      } else if (a.size_rule == LKD_SIZE_AT_PTR) {
        uint32_t updated;
        memcpy(&updated, data_ + regions[a.param].offset, sizeof(updated));
        n = std::min<uint64_t>(n, updated);
      }
      memcpy(reinterpret_cast<void*>(args[i]), data_ + regions[i].offset, n);
    }
  }

  // Adds lkd's timestamps (written before resp_seq, which we acquired) to
  // the client's and hands the whole to the trace callback.
  void Report(CallTrace* times) {
    lkd_channel_trace server;
    memcpy(&server, const_cast<const lkd_channel_trace*>(&ctl_->trace), sizeof(server));
    times->pickup_ns = server.pickup_ns;
    times->kernel_entry_ns = server.kernel_entry_ns;
    times->kernel_exit_ns = server.kernel_exit_ns;
    times->publish_ns = server.publish_ns;
    times->server_slept = server.flags & LKD_CHANNEL_TRACE_SERVER_SLEPT;
    times->end_ns = lkd_doorbell_now_ns();
    trace_(*times);
  }

 private:
  uint8_t* base_;
  size_t map_size_;
  lkd_channel* ctl_;
  uint8_t* data_;
  uint32_t data_size_;
  uint32_t generation_;
  int fd_;
  const uint64_t cold_spin_ns_;  // 0: no cap on a cold call's spin
  uint32_t seq_ = 0;  // a fresh channel's counters are 0
  const std::function<void(const CallTrace&)>& trace_;
  const std::function<bool(long)>& cancel_on_signal_;
  lkd_doorbell_spin spin_;
};

// Lets a thread's exit release its channel if the connection still exists.
struct Life {
  absl::Mutex mu;
  Connection::Impl* impl ABSL_GUARDED_BY(mu) = nullptr;
};

class Connection::Impl {
 public:
  Impl(int socket_fd, ConnectionOptions options)
      : socket_fd_(socket_fd), options_(options), life_(std::make_shared<Life>()) {
    absl::MutexLock lock(&life_->mu);
    life_->impl = this;
  }

  ~Impl() {
    {
      absl::MutexLock lock(&life_->mu);
      life_->impl = nullptr;
    }
    if (executor_ != nullptr)
      executor_->executeSync([this]() { stop_->fulfill(); });  // loop alive
    if (rpc_thread_.joinable()) rpc_thread_.join();
    absl::MutexLock lock(&channels_mu_);
    channels_.clear();
    // After the channels, whose spin policies count in it.
    if (spin_board_ != nullptr) munmap(spin_board_, rpc::SPIN_BOARD_BYTES);
    close(socket_fd_);
  }

  absl::Status Start(const std::string& cookie) {
    std::promise<absl::Status> ready;
    auto started = ready.get_future();
    // The session's thread must never take the program's signals: a
    // signal sent to the process goes to any thread that does not block
    // it, and a program that blocks it everywhere but in sigsuspend
    // (nginx's master waiting for SIGCHLD) would never see it. The thread
    // starts with every signal blocked (it inherits this mask).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rpc_thread_ = std::thread([this, cookie, &ready]() { RpcMain(cookie, ready); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return started.get();
  }

  int pid() const { return pid_; }
  bool connected() const { return !__atomic_load_n(&dead_, __ATOMIC_ACQUIRE); }
  uint64_t TakeSignals() {
    // Called after every call: a plain load keeps the common case (no
    // signal) free of an atomic read-modify-write.
    if (signals_.load(std::memory_order_relaxed) == 0) return 0;
    return signals_.exchange(0);
  }

  long Call(long nr, const long args[6]);
  long CallBatch(Connection::BatchCall* calls, unsigned n);
  absl::StatusOr<std::string> Fork(int* child_pid);
  absl::StatusOr<std::string> PrepareExec();
  void CloseFdsAfterFork();
  void ReleaseChannel(ChannelClient* channel);

 private:
  struct ThreadSlot;
  absl::StatusOr<ChannelClient*> ThisThreadChannel();
  absl::StatusOr<ChannelClient*> OpenChannel();
  void RpcMain(const std::string& cookie, std::promise<absl::Status>& ready);
  void MarkDead();
  long Chunked(const lkd_syscall_desc& desc, const long args[6]);

  const int socket_fd_;
  const ConnectionOptions options_;
  std::shared_ptr<Life> life_;
  std::thread rpc_thread_;
  const kj::Executor* executor_ = nullptr;
  int pid_ = 0;
  uint32_t dead_ = 0;
  std::atomic<uint64_t> signals_{0};
  // Threads spinning for an answer now (lkd_channel_doorbell.h): on the
  // whole machine, in lkd's spin board, if lkd handed one out; else in
  // this connection.
  uint32_t spinners_ = 0;
  uint32_t* spin_board_ = nullptr;  // mapped by the RPC thread at attach
  void MapSpinBoard(rpc::SpinBoard::Client board, kj::WaitScope& wait);

  // Owned by the RPC thread.
  struct RpcLoop {
    explicit RpcLoop(int fd)
        : io(kj::setupAsyncIo()),
          stream(io.lowLevelProvider->wrapUnixSocketFd(
              fd, kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                      kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK)),
          client(*stream, 4) {}
    kj::AsyncIoContext io;
    kj::Own<kj::AsyncCapabilityStream> stream;
    capnp::TwoPartyClient client;
    kj::Maybe<kj::ForkedPromise<void>> stopped;
  };
  std::unique_ptr<RpcLoop> rpc_loop_;
  kj::Own<kj::PromiseFulfiller<void>> stop_;
  kj::Maybe<rpc::Session::Client> session_;
  std::map<ChannelClient*, rpc::Channel::Client> channel_caps_;

  absl::Mutex channels_mu_;
  std::map<ChannelClient*, std::unique_ptr<ChannelClient>> channels_
      ABSL_GUARDED_BY(channels_mu_);
};

// Per thread: the channels this thread opened, released when it exits.
struct Connection::Impl::ThreadSlot {
  struct Entry {
    std::weak_ptr<Life> life;
    Life* key;
    ChannelClient* channel;
  };
  std::vector<Entry> entries;
  ~ThreadSlot() {
    for (Entry& e : entries) {
      if (auto life = e.life.lock()) {
        absl::MutexLock lock(&life->mu);
        if (life->impl) life->impl->ReleaseChannel(e.channel);
      }
    }
  }
};

namespace {

// The calling thread's ThreadSlot. The thread_local is a plain pointer,
// not the slot itself: exit() destroys the main thread's thread_local
// objects before it runs the atexit handlers and flushes stdio, and those
// may still make calls (coreutils' close_stdout, liblkhijack's streams on
// kernel fds), which then found a destroyed slot. The slot goes with its
// thread through a pthread key instead, whose destructor runs when a
// thread exits but not in exit(): the main thread's channels then go with
// the session.
thread_local void* t_thread_slot = nullptr;

template <typename Slot>
Slot& ThreadSlotOfThisThread() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    pthread_key_create(&k, [](void* p) {
      t_thread_slot = nullptr;
      delete static_cast<Slot*>(p);
    });
    return k;
  }();
  if (t_thread_slot == nullptr) {
    t_thread_slot = new Slot;
    pthread_setspecific(key, t_thread_slot);
  }
  return *static_cast<Slot*>(t_thread_slot);
}

}  // namespace

absl::StatusOr<ChannelClient*> Connection::Impl::ThisThreadChannel() {
  ThreadSlot& slot = ThreadSlotOfThisThread<ThreadSlot>();
  for (auto& e : slot.entries)
    if (e.key == life_.get() && !e.life.expired()) return e.channel;
  auto channel = OpenChannel();
  if (!channel.ok()) {
    // The call fails with the status's errno (EAGAIN over the thread
    // limit: a later call of this thread tries again); this says why.
    fprintf(stderr, "lkd client: %s\n", std::string(channel.status().message()).c_str());
    return channel.status();
  }
  // Entries of dead connections are dropped on the way.
  std::erase_if(slot.entries, [](const ThreadSlot::Entry& e) { return e.life.expired(); });
  slot.entries.push_back({life_, life_.get(), *channel});
  return *channel;
}

absl::StatusOr<ChannelClient*> Connection::Impl::OpenChannel() {
  if (!connected()) return SessionLost();
  try {
    return executor_->executeSync([this]() -> kj::Promise<ChannelClient*> {
      KJ_IF_MAYBE(session, session_) {
        return session->openChannelRequest().send().then(
            [this](capnp::Response<rpc::Session::OpenChannelResults> resp) {
              auto cap = resp.getChannel();
              uint32_t offset = resp.getDataOffset(), size = resp.getDataSize();
              uint32_t generation = resp.getGeneration();
              return cap.getFd().then([this, cap, offset, size, generation](
                                          kj::Maybe<int> maybe_fd) mutable {
                int fd = -1;
                KJ_IF_MAYBE(f, maybe_fd) { fd = *f; }
                KJ_REQUIRE(fd >= 0, "lkd sent a channel without its memory");
                KJ_REQUIRE(offset >= sizeof(lkd_channel) && size > 0,
                           "bad channel layout");
                size_t total = size_t{offset} + size;
                void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                                  MAP_SHARED, fd, 0);
                KJ_REQUIRE(base != MAP_FAILED, "mmap channel", strerror(errno));
                const auto* ctl = static_cast<const lkd_channel*>(base);
                // Read before the unmap: the message names the version.
                const uint32_t magic = ctl->magic, version = ctl->version;
                if (magic != LKD_CHANNEL_MAGIC || version != LKD_CHANNEL_VERSION) {
                  munmap(base, total);
                  KJ_FAIL_REQUIRE("lkd's channel has another layout (version)", version,
                                  LKD_CHANNEL_VERSION);
                }
                // A forked child must not write into its parent's channels.
                madvise(base, total, MADV_DONTFORK);
                auto channel = std::make_unique<ChannelClient>(
                    static_cast<uint8_t*>(base), total, offset, size, generation, fd,
                    options_, spin_board_ ? spin_board_ : &spinners_, spin_board_ != nullptr);
                ChannelClient* raw = channel.get();
                {
                  absl::MutexLock lock(&channels_mu_);
                  channels_[raw] = std::move(channel);
                }
                channel_caps_.emplace(raw, kj::mv(cap));
                return raw;
              });
            });
      }
      return NotAttached();
    });
  } catch (const kj::Exception& e) {
    return KjStatus(e, "lkd: opening a channel");
  }
}

void Connection::Impl::ReleaseChannel(ChannelClient* channel) {
  if (executor_ == nullptr) return;
  try {
    executor_->executeSync([this, channel]() { channel_caps_.erase(channel); });
  } catch (const kj::Exception&) {
  }
  absl::MutexLock lock(&channels_mu_);
  channels_.erase(channel);
}

void Connection::Impl::MarkDead() {
  __atomic_store_n(&dead_, 1, __ATOMIC_SEQ_CST);
  absl::MutexLock lock(&channels_mu_);
  // One thread calls on each channel: wake it to see the connection gone.
  for (auto& [raw, channel] : channels_) lkd_doorbell_wake(channel->resp_word());
}

void Connection::Impl::RpcMain(const std::string& cookie,
                               std::promise<absl::Status>& ready) {
  // kj's event port sets SIGPIPE to SIG_IGN for the whole process, but the
  // disposition is the program's: liblkclient raises the SIGPIPE the kernel
  // raises for it, which must then kill, be ignored or run a handler as the
  // program chose. So the program's action is put back, and this thread
  // blocks SIGPIPE instead: a write to a dead session socket fails here
  // with EPIPE, and the signal, directed at this thread, stays pending.
  sigset_t sigpipe;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigpipe, nullptr);
  struct sigaction program_sigpipe;
  sigaction(SIGPIPE, nullptr, &program_sigpipe);
  // The loop's state lives in rpc_loop_, not on this thread's stack: a
  // forked child, which has no RPC thread, still reaches it from the
  // abandoned connection (AbandonAfterFork), as a leak checker expects.
  rpc_loop_ = std::make_unique<RpcLoop>(socket_fd_);
  sigaction(SIGPIPE, &program_sigpipe, nullptr);
  kj::AsyncIoContext& io = rpc_loop_->io;
  capnp::TwoPartyClient& client = rpc_loop_->client;
  try {
    auto gate = client.bootstrap().castAs<rpc::Gate>();
    auto request = gate.attachRequest();
    request.setVersion(rpc::PROTOCOL_VERSION);
    request.setCookie(kj::arrayPtr(reinterpret_cast<const kj::byte*>(cookie.data()),
                                   cookie.size()));
    if (!options_.netns.empty()) request.setNetns(options_.netns);
    auto response = request.send().wait(io.waitScope);
    session_ = response.getSession();
    pid_ = response.getPid();
    MapSpinBoard(response.getSpinBoard(), io.waitScope);
    if (options_.keep_off_kernel_cpus && response.hasKernelCpus()) {
      std::vector<int> kernel_cpus;
      for (uint16_t cpu : response.getKernelCpus()) kernel_cpus.push_back(cpu);
      // Best effort: a process that cannot move (a seccomp filter, say)
      // still works, only slower.
      (void)KeepProcessOffCpus(kernel_cpus);
    }
  } catch (const kj::Exception& e) {
    MarkDead();
    ready.set_value(KjStatus(e, "lkd: attach failed"));
    rpc_loop_ = nullptr;
    return;
  }
  auto stop = kj::newPromiseAndFulfiller<void>();
  stop_ = kj::mv(stop.fulfiller);
  kj::ForkedPromise<void>& stopped = rpc_loop_->stopped.emplace(stop.promise.fork());
  executor_ = &kj::getCurrentThreadExecutor();
  ready.set_value(absl::OkStatus());

  // The loop runs until the destructor stops it, also after the session
  // is lost: calls made meanwhile fail through capnp, never on a dead loop.
  bool by_stop = false;
  try {
    by_stop = client.onDisconnect()
                  .then([]() { return false; })
                  .exclusiveJoin(stopped.addBranch().then([]() { return true; }))
                  .wait(io.waitScope);
  } catch (const kj::Exception& e) {
    fprintf(stderr, "lkd client: session ended: %s\n", e.getDescription().cStr());
  }
  MarkDead();
  if (!by_stop) {
    fprintf(stderr, "lkd client: lkd closed the session (pid %d)\n", getpid());
    stopped.addBranch().wait(io.waitScope);
  }
  channel_caps_.clear();
  session_ = nullptr;
  stop_ = nullptr;
  rpc_loop_ = nullptr;  // on this thread, where its event loop runs
}

namespace {

// How the table describes call `nr` with these arguments (an fcntl or
// ioctl command's own description, if it has one); nullptr: not served.
const lkd_syscall_desc* DescribeCall(long nr, const long args[6]) {
  const lkd_syscall_desc* desc = lkd_syscall_lookup(static_cast<int>(nr));
  if (desc == nullptr) return nullptr;
  // A command not described goes as values (lkd refuses it).
  if (const lkd_syscall_desc* d = lkd_syscall_describe(desc->nr, args[1])) desc = d;
  return desc;
}

}  // namespace

long Connection::Impl::Call(long nr, const long args[6]) {
  if (!connected()) return -ENOTCONN;
  const lkd_syscall_desc* desc = DescribeCall(nr, args);
  if (desc == nullptr) return -ENOSYS;
  return Chunked(*desc, args);
}

long Connection::Impl::CallBatch(Connection::BatchCall* calls, unsigned n) {
  if (!connected()) return -ENOTCONN;
  if (n == 0 || n > LKD_CHANNEL_BATCH_MAX) return -EINVAL;
  const lkd_syscall_desc* descs[LKD_CHANNEL_BATCH_MAX];
  for (unsigned i = 0; i < n; i++) {
    descs[i] = DescribeCall(calls[i].nr, calls[i].args);
    if (descs[i] == nullptr) return -ENOSYS;
  }
  absl::StatusOr<ChannelClient*> opened = ThisThreadChannel();
  if (!opened.ok()) return -ErrnoOf(opened.status());
  return (*opened)->RunBatch(descs, calls, n, &dead_, &signals_);
}

// Reads, writes and sends larger than a channel's data area go in pieces.
long Connection::Impl::Chunked(const lkd_syscall_desc& desc, const long args[6]) {
  absl::StatusOr<ChannelClient*> opened = ThisThreadChannel();
  if (!opened.ok()) return -ErrnoOf(opened.status());
  ChannelClient* channel = *opened;
  // Room for the call's other arguments (a socket address and its length).
  const uint64_t room = channel->data_size() - 1024;
  const long nr = desc.nr;
  const bool reads = nr == LKD_NR_read || nr == LKD_NR_pread64 || nr == LKD_NR_recvfrom;
  const bool writes = nr == LKD_NR_write || nr == LKD_NR_pwrite64 || nr == LKD_NR_sendto;
  uint64_t count = static_cast<unsigned long>(args[2]);
  if ((!reads && !writes) || count <= room)
    return channel->Run(desc, args, &dead_, &signals_);
  long piece[6];
  memcpy(piece, args, sizeof(piece));
  if (reads) {
    // A read may return less than asked: one piece is a correct answer.
    piece[2] = static_cast<long>(room);
    return channel->Run(desc, piece, &dead_, &signals_);
  }
  if (nr == LKD_NR_sendto && args[4] != 0) return -EMSGSIZE;  // one datagram
  uint64_t done = 0;
  while (done < count) {
    uint64_t n = std::min(room, count - done);
    piece[1] = args[1] + static_cast<long>(done);
    piece[2] = static_cast<long>(n);
    if (nr == LKD_NR_pwrite64) piece[3] = args[3] + static_cast<long>(done);
    long r = channel->Run(desc, piece, &dead_, &signals_);
    if (r < 0) return done > 0 ? static_cast<long>(done) : r;
    done += static_cast<uint64_t>(r);
    if (static_cast<uint64_t>(r) < n) break;
  }
  return static_cast<long>(done);
}

absl::StatusOr<std::string> Connection::Impl::Fork(int* child_pid) {
  if (!connected()) return SessionLost();
  try {
    return executor_->executeSync([this, child_pid]() -> kj::Promise<std::string> {
      KJ_IF_MAYBE(session, session_) {
        return session->forkRequest().send().then(
            [child_pid](capnp::Response<rpc::Session::ForkResults> resp) {
              *child_pid = resp.getChildPid();
              return CookieString(resp.getCookie());
            });
      }
      return NotAttached();
    });
  } catch (const kj::Exception& e) {
    return KjStatus(e, "lkd: fork");
  }
}

// Maps lkd's spin board (schema/lkd.capnp); without one (an older lkd, or
// a page lkd could not make) spinners are counted per connection. Not
// inherited by a forked child, which attaches anew and maps its own.
void Connection::Impl::MapSpinBoard(rpc::SpinBoard::Client board, kj::WaitScope& wait) {
  int fd = -1;
  try {
    KJ_IF_MAYBE(f, board.getFd().wait(wait)) { fd = *f; }
  } catch (const kj::Exception&) {
    return;
  }
  if (fd < 0) return;
  void* page = mmap(nullptr, rpc::SPIN_BOARD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (page == MAP_FAILED) return;
  madvise(page, rpc::SPIN_BOARD_BYTES, MADV_DONTFORK);
  spin_board_ = static_cast<uint32_t*>(page);
}

absl::StatusOr<std::string> Connection::Impl::PrepareExec() {
  if (!connected()) return SessionLost();
  try {
    return executor_->executeSync([this]() -> kj::Promise<std::string> {
      KJ_IF_MAYBE(session, session_) {
        return session->prepareExecRequest().send().then(
            [](capnp::Response<rpc::Session::PrepareExecResults> resp) {
              return CookieString(resp.getCookie());
            });
      }
      return NotAttached();
    });
  } catch (const kj::Exception& e) {
    return KjStatus(e, "lkd: exec");
  }
}

// In a forked child, which is single-threaded: a lock some other parent
// thread held at fork() would never open, so none is taken (and the
// analysis, which cannot know that, is off here).
void Connection::Impl::CloseFdsAfterFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // Channel mappings are not inherited (MADV_DONTFORK); their memfds and
  // the session socket are.
  for (auto& [raw, channel] : channels_) close(channel->fd());
  close(socket_fd_);
  // The forking thread's channel list still names this connection: at
  // that thread's exit (for the main thread: exit()) it must not call into
  // an RPC thread that does not exist here.
  life_->impl = nullptr;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Connect(
    const std::string& server, const std::string& cookie,
    const ConnectionOptions& options) {
  auto path = SocketPathFromUrl(server);
  if (!path.ok()) return path.status();
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path->size() >= sizeof(addr.sun_path))
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", *path));
  memcpy(addr.sun_path, path->c_str(), path->size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "socket");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus(err,
                       absl::StrCat("cannot reach lkd at ", *path, " (is lkd running?)"));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  auto impl = std::make_unique<Impl>(fd, options);
  if (absl::Status s = impl->Start(cookie); !s.ok()) return s;
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;
int Connection::pid() const { return impl_->pid(); }
bool Connection::connected() const { return impl_->connected(); }
long Connection::Call(long nr, const long args[6]) { return impl_->Call(nr, args); }
long Connection::CallBatch(BatchCall* calls, unsigned n) { return impl_->CallBatch(calls, n); }
uint64_t Connection::TakeSignals() { return impl_->TakeSignals(); }
absl::StatusOr<std::string> Connection::Fork(int* child_pid) { return impl_->Fork(child_pid); }
absl::StatusOr<std::string> Connection::PrepareExec() { return impl_->PrepareExec(); }

void Connection::AbandonAfterFork(std::unique_ptr<Connection> connection) {
  if (!connection) return;
  connection->impl_->CloseFdsAfterFork();
  // Never destroyed: its threads, locks and event loop belong to the
  // parent; running their destructors here would be undefined. Kept
  // reachable from here so that a leak checker (--config=asan) sees memory
  // held on purpose, not lost.
  // (A vector that is never destroyed: static destructors run before the
  // leak check at exit.)
  static auto* abandoned = new std::vector<Connection*>;
  abandoned->push_back(connection.release());
}

}  // namespace lkd::client
