// SPDX-License-Identifier: GPL-2.0
#include "server/session/session_server.h"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <list>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/unix_listener.h"
#include "lkd/kernel.h"
#include "schema/lkd.capnp.h"

namespace lkd::server {

namespace {

// A request refused: the exception's type is what the client acts on
// (client/kj_errno.h maps it to the errno its caller sees), the text is
// for people. FAILED: the request was wrong (version, cookie).
[[noreturn]] void Fail(const std::string& message,
                       kj::Exception::Type type = kj::Exception::Type::FAILED) {
  throw kj::Exception(type, __FILE__, __LINE__, kj::heapString(message));
}

// A limit was reached; the session lives on and may try again (EAGAIN).
[[noreturn]] void Overloaded(const std::string& message) {
  Fail(message, kj::Exception::Type::OVERLOADED);
}

// The session's kernel process is gone (ENOTCONN).
[[noreturn]] void Detached() { Fail("session detached", kj::Exception::Type::DISCONNECTED); }

// A kernel call's -errno: out of memory or processes is a limit, anything
// else a refusal.
[[noreturn]] void FailKernel(const std::string& what, long rc) {
  const int err = static_cast<int>(-rc);
  const std::string message = absl::StrCat(what, ": ", strerror(err));
  if (err == ENOMEM || err == EAGAIN) Overloaded(message);
  Fail(message);
}

struct Peer {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int host_pid = 0;
};

// One kernel process; it exits (as SIGKILL would, closing its fds) when the
// last owner drops it: its session, or a pending exec hand-over.
class KernelProcess {
 public:
  KernelProcess(int pid, uint32_t uid) : pid_(pid), uid_(uid) {}
  ~KernelProcess() { Exit(); }
  KernelProcess(const KernelProcess&) = delete;
  KernelProcess& operator=(const KernelProcess&) = delete;
  int pid() const { return pid_; }
  // Whose hand-overs these are: the attaching user, or the one the
  // process last changed to (Gate.commitCred).
  uint32_t uid() const { return uid_; }
  void set_uid(uint32_t uid) { uid_ = uid; }
  std::shared_ptr<const std::atomic<bool>> ended() const { return ended_; }
  // The same flag, for the registry's kill (session_registry.h).
  std::shared_ptr<std::atomic<bool>> ended_flag() const { return ended_; }
  void Exit() {
    if (pid_ <= 0) return;
    ended_->store(true, std::memory_order_release);
    int rc = lkd_proc_exit(pid_);
    if (rc < 0 && rc != -ESRCH && rc != -ENODEV)
      fprintf(stderr, "lkd: ending kernel process %d: %s\n", pid_, strerror(-rc));
    pid_ = 0;
  }

 private:
  int pid_;
  uint32_t uid_;
  std::shared_ptr<std::atomic<bool>> ended_ = std::make_shared<std::atomic<bool>>(false);
};

struct Handover {
  std::shared_ptr<KernelProcess> process;
  bool exec = false;
};

std::string NewCookie() {
  uint8_t bytes[16];
  ssize_t n = getrandom(bytes, sizeof(bytes), 0);
  if (n != sizeof(bytes)) Fail("getrandom failed");
  return std::string(reinterpret_cast<char*>(bytes), sizeof(bytes));
}

kj::ArrayPtr<const kj::byte> CookieBytes(const std::string& cookie) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(cookie.data()), cookie.size());
}

}  // namespace

class SessionServer::Impl final : public kj::TaskSet::ErrorHandler {
 public:
  explicit Impl(SessionServerOptions options) : options_(std::move(options)) {
    // The spin board (schema/lkd.capnp, SpinBoard). Without one, clients
    // count their spinners per process.
    if (auto fd = CreateSealedMemfd("lkd-spin-board", rpc::SPIN_BOARD_BYTES); fd.ok())
      spin_board_fd_ = *fd;
    else
      fprintf(stderr, "lkd: no spin board (%s): clients count spinners per process\n",
              fd.status().ToString().c_str());
  }
  ~Impl() {
    if (spin_board_fd_ >= 0) close(spin_board_fd_);
    if (listen_fd_ >= 0) {
      close(listen_fd_);
      unlink(options_.socket_path.c_str());
    }
  }

  absl::Status Listen();
  absl::StatusOr<int> Serve();
  absl::Status ServeConnectedSocket(int fd);

  const SessionServerOptions& options() const { return options_; }
  ChannelDispatcher& dispatcher() { return dispatcher_; }
  SessionRegistry& registry() { return registry_; }
  int spin_board_fd() const { return spin_board_fd_; }

  std::string AddHandover(Handover handover) {
    std::string cookie = NewCookie();
    handovers_[cookie] = std::move(handover);
    if (timer_ != nullptr) {
      tasks_->add(timer_->afterDelay(options_.handover_timeout_s * kj::SECONDS)
                      .then([this, cookie]() {
                        auto it = handovers_.find(cookie);
                        if (it == handovers_.end()) return;
                        fprintf(stderr,
                                "lkd: hand-over of kernel process %d expired\n",
                                it->second.process->pid());
                        handovers_.erase(it);
                      }));
    }
    return cookie;
  }

  // Sessions' kernel processes by their clients' host pids, for
  // Gate.commitCred (the event loop's thread only).
  void AddAttached(int host_pid, const std::shared_ptr<KernelProcess>& process) {
    attached_.emplace(host_pid, process);
  }
  // One entry of `process` (an exec hand-over attaches it twice for a
  // moment), and any whose process is gone.
  void RemoveAttached(int host_pid, const KernelProcess* process) {
    auto [it, last] = attached_.equal_range(host_pid);
    bool removed = false;
    while (it != last) {
      std::shared_ptr<KernelProcess> p = it->second.lock();
      if (p == nullptr || (!removed && p.get() == process)) {
        removed = removed || p != nullptr;
        it = attached_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // The kernel process `pid` if host process `host_pid` is attached to it.
  std::shared_ptr<KernelProcess> Attached(int host_pid, int pid) {
    auto [first, last] = attached_.equal_range(host_pid);
    for (auto it = first; it != last; ++it)
      if (auto p = it->second.lock(); p && p->pid() == pid) return p;
    return nullptr;
  }

  // The hand-over for `cookie`, removed from the table, if `peer` may claim it.
  Handover ClaimHandover(const std::string& cookie, const Peer& peer) {
    auto it = handovers_.find(cookie);
    if (it == handovers_.end()) Fail("unknown or expired hand-over cookie");
    if (it->second.process->uid() != peer.uid)
      Fail("hand-over cookie belongs to another user");
    Handover h = std::move(it->second);
    handovers_.erase(it);
    return h;
  }

 private:
  void taskFailed(kj::Exception&& exception) override {
    fprintf(stderr, "lkd: %s\n", exception.getDescription().cStr());
  }
  class Serving;
  kj::Promise<void> AcceptLoop(kj::ConnectionReceiver& listener);
  void ServeConnection(kj::Own<kj::AsyncIoStream> stream);

  SessionServerOptions options_;
  int listen_fd_ = -1;
  int spin_board_fd_ = -1;  // -1: clients count their spinners per process
  // Its threads may outlive this server (they end once every channel is
  // released).
  ChannelDispatcher dispatcher_{options_.dispatcher};
  SessionRegistry registry_;
  std::map<std::string, Handover> handovers_;
  std::multimap<int, std::weak_ptr<KernelProcess>> attached_;
  // Valid while Serve() runs.
  kj::Timer* timer_ = nullptr;
  kj::TaskSet* tasks_ = nullptr;
  kj::TaskSet* connections_ = nullptr;
};

namespace {

class SpinBoardImpl final : public rpc::SpinBoard::Server {
 public:
  explicit SpinBoardImpl(int fd) : fd_(fd) {}
  kj::Maybe<int> getFd() override {
    if (fd_ < 0) return nullptr;
    return fd_;
  }

 private:
  int fd_;  // the server's
};

class ChannelImpl final : public rpc::Channel::Server {
 public:
  explicit ChannelImpl(std::unique_ptr<DispatchedChannel> channel)
      : channel_(std::move(channel)) {}
  kj::Maybe<int> getFd() override { return channel_->fd(); }
  // Lets the session count its live channels.
  std::weak_ptr<bool> alive() const { return alive_; }

 private:
  std::unique_ptr<DispatchedChannel> channel_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class SessionImpl final : public rpc::Session::Server {
 public:
  SessionImpl(SessionServer::Impl& server, std::shared_ptr<KernelProcess> process,
              Peer peer)
      : server_(server), process_(std::move(process)), peer_(peer),
        registration_(server.registry().Add(process_->pid(), peer.host_pid, peer.uid,
                                            peer.gid, process_->ended_flag())) {
    server_.AddAttached(peer_.host_pid, process_);
  }
  ~SessionImpl() {
    server_.RemoveAttached(peer_.host_pid, process_.get());
    server_.registry().Remove(registration_.id);
    fprintf(stderr, "lkd: host pid %d (kernel process %d) detached\n",
            peer_.host_pid, process_->pid());
  }

  kj::Promise<void> openChannel(OpenChannelContext context) override {
    if (process_->pid() <= 0) Detached();
    // Each channel is a thread and its memory in lkd: bounded per client.
    std::erase_if(channels_, [](const std::weak_ptr<bool>& alive) { return alive.expired(); });
    if (channels_.size() >= server_.options().max_channels_per_session)
      Overloaded(absl::StrCat("too many channels (", channels_.size(),
                        "): at most max_channels_per_session per client"));
    uint32_t generation;
    if (getrandom(&generation, sizeof(generation), 0) != sizeof(generation))
      Fail("getrandom failed");
    auto memory = ChannelMemory::Create(server_.options().channel_data_size,
                                        generation);
    // Out of memory or fds for the channel: a limit too.
    if (!memory.ok()) Overloaded(std::string(memory.status().message()));
    auto results = context.getResults();
    results.setGeneration(generation);
    results.setDataOffset((*memory)->data_offset());
    results.setDataSize((*memory)->data_size());
    auto channel = kj::heap<ChannelImpl>(server_.dispatcher().Serve(
        std::move(*memory), process_->pid(), process_->ended(), registration_.counters));
    channels_.push_back(channel->alive());
    results.setChannel(kj::mv(channel));
    return kj::READY_NOW;
  }

  kj::Promise<void> fork(ForkContext context) override {
    if (process_->pid() <= 0) Detached();
    int child = lkd_proc_fork(process_->pid());
    if (child < 0) FailKernel("fork", child);
    std::string cookie = server_.AddHandover(
        {std::make_shared<KernelProcess>(child, process_->uid()), false});
    auto results = context.getResults();
    results.setCookie(CookieBytes(cookie));
    results.setChildPid(child);
    return kj::READY_NOW;
  }

  kj::Promise<void> prepareExec(PrepareExecContext context) override {
    if (process_->pid() <= 0) Detached();
    std::string cookie = server_.AddHandover({process_, true});
    context.getResults().setCookie(CookieBytes(cookie));
    return kj::READY_NOW;
  }

  kj::Promise<void> detach(DetachContext /*context*/) override {
    process_->Exit();
    return kj::READY_NOW;
  }

 private:
  SessionServer::Impl& server_;
  std::shared_ptr<KernelProcess> process_;
  Peer peer_;
  SessionRegistry::Registration registration_;
  std::vector<std::weak_ptr<bool>> channels_;  // expired once dropped
};

// The bootstrap capability of one connection: knows who is on the other end.
class GateImpl final : public rpc::Gate::Server {
 public:
  GateImpl(SessionServer::Impl& server, Peer peer) : server_(server), peer_(peer) {}

  kj::Promise<void> attach(AttachContext context) override {
    auto params = context.getParams();
    if (params.getVersion() != rpc::PROTOCOL_VERSION)
      Fail(absl::StrCat("client speaks protocol version ", params.getVersion(),
                        ", lkd speaks ", rpc::PROTOCOL_VERSION));
    if (attached_) Fail("this connection is attached already");
    std::shared_ptr<KernelProcess> process;
    auto cookie_bytes = params.getCookie();
    std::string how = "new";
    if (cookie_bytes.size() == 0) {
      const std::string netns = params.getNetns();
      // One path component under /run/netns, where the admin plane keeps
      // the kernel's named namespaces (ip-netns(8)'s convention).
      if (netns == "." || netns == ".." || netns.find('/') != std::string::npos)
        Fail(absl::StrCat("network namespace '", netns, "': not a namespace name"));
      lkd_cred cred = {peer_.uid, peer_.gid,
                       peer_.uid == 0 ? LKD_CAPS_ALL : LKD_CAPS_NONE};
      int pid = lkd_proc_create(&cred);
      if (pid < 0) FailKernel("creating the kernel process", pid);
      process = std::make_shared<KernelProcess>(pid, peer_.uid);
      if (!netns.empty()) {
        // Before any channel binds a task to it: they are cloned from the
        // leader, which is now in that namespace.
        int rc = lkd_proc_set_netns(pid, ("/run/netns/" + netns).c_str());
        if (rc < 0)
          FailKernel(absl::StrCat("network namespace '", netns, "'"), rc);
        how = absl::StrCat("new, in netns ", netns);
      }
    } else {
      Handover h = server_.ClaimHandover(
          std::string(reinterpret_cast<const char*>(cookie_bytes.begin()),
                      cookie_bytes.size()),
          peer_);
      process = std::move(h.process);
      how = h.exec ? "exec" : "fork";
      if (h.exec) {
        int rc = lkd_proc_exec(process->pid());
        if (rc < 0) FailKernel("exec hand-over", rc);
      }
    }
    attached_ = true;
    fprintf(stderr, "lkd: host pid %d uid %u attached (%s) as kernel process %d\n",
            peer_.host_pid, peer_.uid, how.c_str(), process->pid());
    auto results = context.getResults();
    results.setPid(process->pid());
    results.setSession(kj::heap<SessionImpl>(server_, std::move(process), peer_));
    results.setSpinBoard(kj::heap<SpinBoardImpl>(server_.spin_board_fd()));
    const std::vector<int>& cpus = server_.options().dispatcher.cpus;
    auto kernel_cpus = results.initKernelCpus(static_cast<unsigned>(cpus.size()));
    for (size_t i = 0; i < cpus.size(); i++) kernel_cpus.set(i, static_cast<uint16_t>(cpus[i]));
    return kj::READY_NOW;
  }

  kj::Promise<void> commitCred(CommitCredContext context) override {
    auto params = context.getParams();
    const int pid = params.getPid();
    // The kernel pid is the client's claim; its host pid is the kernel's
    // word (SO_PEERCRED), and a session records both.
    std::shared_ptr<KernelProcess> process = server_.Attached(peer_.host_pid, pid);
    if (process == nullptr)
      Fail(absl::StrCat("kernel process ", pid, " is not attached to host pid ",
                        peer_.host_pid));
    int rc = lkd_proc_commit_cred(pid, params.getTid());
    if (rc < 0) FailKernel("spreading credentials", rc);
    // This connection was made after the change: its peer's (effective)
    // uid is the one the process's forks and execs now claim hand-overs
    // with.
    process->set_uid(peer_.uid);
    // What `lkctl session list` and the metrics show.
    server_.registry().SetCredentials(pid, peer_.uid, peer_.gid);
    return kj::READY_NOW;
  }

 private:
  SessionServer::Impl& server_;
  Peer peer_;
  bool attached_ = false;
};

// Clients send no fds; a non-zero limit is what makes capnp pass the
// channel memfds this side sends (with 0 it treats the socket as a plain
// byte stream).
constexpr uint kMaxFdsFromClient = 1;

// Connections the host kernel queues before Serve() accepts them: a burst
// of clients starting at once (a test's 256, a service's workers) waits
// in the queue instead of getting ECONNREFUSED.
constexpr int kAcceptBacklog = 256;

// After a failed accept (EMFILE: out of fds), how long the accept loop
// waits before it tries again, instead of spinning on the same error.
constexpr kj::Duration kAcceptRetryDelay = 100 * kj::MILLISECONDS;

struct Connection {
  Connection(kj::Own<kj::AsyncCapabilityStream> s, capnp::Capability::Client gate)
      : stream(kj::mv(s)),
        network(*stream, kMaxFdsFromClient, capnp::rpc::twoparty::Side::SERVER),
        rpc(capnp::makeRpcServer(network, kj::mv(gate))) {}
  kj::Own<kj::AsyncCapabilityStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

}  // namespace

absl::Status SessionServer::Impl::Listen() {
  absl::StatusOr<int> fd = ListenUnixSocket(options_.socket_path, options_.socket_mode,
                                            kAcceptBacklog, "session socket");
  if (!fd.ok()) return fd.status();
  listen_fd_ = *fd;
  return absl::OkStatus();
}

kj::Promise<void> SessionServer::Impl::AcceptLoop(kj::ConnectionReceiver& listener) {
  return listener.accept()
      .then(
          [this](kj::Own<kj::AsyncIoStream> stream) -> kj::Promise<void> {
            // One bad connection must not end the accept loop.
            try {
              ServeConnection(kj::mv(stream));
            } catch (const kj::Exception& e) {
              fprintf(stderr, "lkd: dropping a connection: %s\n", e.getDescription().cStr());
            }
            return kj::READY_NOW;
          },
            [this](kj::Exception&& e) -> kj::Promise<void> {
              // EMFILE and the like: say so and keep serving the others.
              fprintf(stderr, "lkd: accept: %s\n", e.getDescription().cStr());
              return timer_->afterDelay(kAcceptRetryDelay);
            })
      .then([this, &listener]() { return AcceptLoop(listener); });
}

void SessionServer::Impl::ServeConnection(kj::Own<kj::AsyncIoStream> stream) {
  ucred cred = {};
  uint len = sizeof(cred);
  stream->getsockopt(SOL_SOCKET, SO_PEERCRED, &cred, &len);
  Peer peer{cred.uid, cred.gid, cred.pid};
  // Unix sockets of kj's provider are capability streams (fd passing).
  auto caps = stream.downcast<kj::AsyncCapabilityStream>();
  auto connection = kj::heap<Connection>(kj::mv(caps), kj::heap<GateImpl>(*this, peer));
  auto& network = connection->network;
  connections_->add(network.onDisconnect().attach(kj::mv(connection)));
}

// The event loop and task sets of one serving run (Serve or
// ServeConnectedSocket). End() (or the destructor) drops every
// connection, so every session (each kernel process exits, its TCP
// connections closing as on a real kernel; each channel is released once
// its call is out of the kernel), and every pending hand-over.
class SessionServer::Impl::Serving {
 public:
  explicit Serving(Impl& server)
      : server_(server),
        io(kj::setupAsyncIo()),
        tasks(server),
        connections(kj::heap<kj::TaskSet>(server)) {
    server_.timer_ = &io.provider->getTimer();
    server_.tasks_ = &tasks;
    server_.connections_ = connections.get();
  }
  ~Serving() { End(); }
  Serving(const Serving&) = delete;
  Serving& operator=(const Serving&) = delete;

  void End() {
    if (!connections) return;
    connections = nullptr;
    server_.handovers_.clear();
    server_.connections_ = nullptr;
    server_.tasks_ = nullptr;
    server_.timer_ = nullptr;
  }

 private:
  Impl& server_;

 public:
  kj::AsyncIoContext io;  // declared first of these: destroyed last
  kj::TaskSet tasks;
  kj::Own<kj::TaskSet> connections;
};

absl::StatusOr<int> SessionServer::Impl::Serve() {
  if (listen_fd_ < 0) return absl::FailedPreconditionError("Serve before Listen");
  Serving serving(*this);
  int signal_number = 0;
  {
    auto listener = serving.io.lowLevelProvider->wrapListenSocketFd(listen_fd_);
    auto accepting = AcceptLoop(*listener).eagerlyEvaluate(
        [](kj::Exception&& e) { fprintf(stderr, "lkd: %s\n", e.getDescription().cStr()); });
    auto& port = serving.io.unixEventPort;
    auto siginfo = port.onSignal(SIGTERM)
                       .exclusiveJoin(port.onSignal(SIGINT))
                       .wait(serving.io.waitScope);
    signal_number = siginfo.si_signo;
    fprintf(stderr, "lkd: %s: no new clients; ending %zu pending hand-overs and every session\n",
            strsignal(signal_number), handovers_.size());
  }
  close(listen_fd_);
  unlink(options_.socket_path.c_str());
  listen_fd_ = -1;
  serving.End();
  if (!dispatcher_.WaitIdle(absl::Seconds(options_.shutdown_timeout_s)))
    fprintf(stderr, "lkd: %d channels still have calls in the kernel after %us\n",
            dispatcher_.live(), options_.shutdown_timeout_s);
  return signal_number;
}

absl::Status SessionServer::Impl::ServeConnectedSocket(int fd) {
  if (timer_ != nullptr) {
    close(fd);
    return absl::FailedPreconditionError("ServeConnectedSocket while serving");
  }
  Serving serving(*this);
  try {
    ServeConnection(serving.io.lowLevelProvider->wrapUnixSocketFd(
        fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP));
    serving.connections->onEmpty().wait(serving.io.waitScope);
  } catch (const kj::Exception& e) {
    return absl::UnavailableError(e.getDescription().cStr());
  }
  return absl::OkStatus();
}

SessionServer::SessionServer(SessionServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
SessionServer::~SessionServer() = default;
absl::Status SessionServer::Listen() { return impl_->Listen(); }
absl::StatusOr<int> SessionServer::Serve() { return impl_->Serve(); }
absl::Status SessionServer::ServeConnectedSocket(int fd) {
  return impl_->ServeConnectedSocket(fd);
}
SessionRegistry& SessionServer::registry() { return impl_->registry(); }

void SessionServer::BlockShutdownSignals() {
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace lkd::server
