// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// liblkclient: the C API over lkd::client::Connection. A C API in the
// spirit of librumpclient has one implicit connection per process; it is
// the only process-wide state here and is set by lk_init/lk_fork/lk_fini.
#include "rumpclient/lkclient.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/commit_cred.h"
#include "client/connection.h"
#include "client/host_abi.h"
#include "common/errno_status.h"
#include "lkd/sysnr.h"
#include "rumpclient/lkclient_internal.h"
#include "schema/lkd.capnp.h"
#include "schema/lkd_channel.h"

namespace {

using lkd::client::Connection;

std::mutex g_mu;  // guards g_connection's replacement, not its calls
std::unique_ptr<Connection> g_connection;
std::string g_server;
std::string g_errmsg;

constexpr char kHandoverEnv[] = "LKD_HANDOVER";

bool CancelOnSignal(long nr);  // below

// A failed transport call: its message for lk_errmsg(), its errno (carried
// by the status, client/kj_errno.h) for errno.
void SetError(const absl::Status& status) {
  g_errmsg = std::string(status.message());
  errno = lkd::ErrnoOf(status);
}

// Environment variable `name` as a number up to `max`; unset, or not such
// a number (said on stderr, and the default kept): none.
std::optional<uint64_t> EnvNumber(const char* name, uint64_t max) {
  const char* v = getenv(name);
  if (v == nullptr || *v == 0) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = strtoull(v, &end, 10);
  if (errno != 0 || *end != 0 || *v == '-' || n > max) {
    fprintf(stderr, "liblkclient: ignoring %s=%s (expected a number from 0 to %llu)\n", name, v,
            static_cast<unsigned long long>(max));
    return std::nullopt;
  }
  return n;
}

int Attach(const std::string& cookie) {
  const char* server = getenv("LKD_SERVER");
  g_server = server && *server ? server : lkd::client::kDefaultServer;
  lkd::client::ConnectionOptions options;
  // LKD_CLIENT_SPIN_US: how long a call spins for its answer before it
  // sleeps on its futex.
  if (auto us = EnvNumber("LKD_CLIENT_SPIN_US", 1000000))
    options.spin_ns = options.spin_ns_alone = *us * 1000;
  // LKD_CLIENT_SPINNERS: how many client threads may spin at once on the
  // whole machine (lkd's spin board; per process without one).
  if (auto n = EnvNumber("LKD_CLIENT_SPINNERS", 64))
    options.machine_max_spinners = options.max_spinners = static_cast<uint32_t>(*n);
  // LKD_CLIENT_CPUS: "apart" (default) keeps the program's threads off
  // the CPUs lkd's dispatch threads are pinned to; "any" leaves them be.
  if (const char* cpus = getenv("LKD_CLIENT_CPUS"); cpus && *cpus) {
    if (strcmp(cpus, "any") == 0)
      options.keep_off_kernel_cpus = false;
    else if (strcmp(cpus, "apart") != 0)
      fprintf(stderr, "liblkclient: ignoring LKD_CLIENT_CPUS=%s (expected apart or any)\n", cpus);
  }
  // LKD_NETNS: the network namespace of lkd's kernel to live in.
  if (const char* netns = getenv("LKD_NETNS")) options.netns = netns;
  // A blocked call that a signal handler interrupts ends with EINTR, lkd's
  // side of it interrupted too (or goes on, where Linux restarts it).
  options.cancel_on_signal = CancelOnSignal;
  auto connection = Connection::Connect(g_server, cookie, options);
  if (!connection.ok()) {
    SetError(connection.status());
    return -1;
  }
  g_errmsg.clear();
  g_connection = std::move(*connection);
  return 0;
}

// Raises on the host what the kernel raised for the process.
void DeliverSignals(Connection* c) {
  uint64_t signals = c->TakeSignals();
  for (int sig = 1; signals != 0 && sig <= 64; sig++) {
    if (signals & (1ull << (sig - 1))) {
      signals &= ~(1ull << (sig - 1));
      raise(sig);
    }
  }
}

// Runs `call` (a transport call returning a result or -errno) on the
// connection, raises the signals it brought, and answers as libc does:
// the result, or -1 with errno.
template <typename F>
long OnConnection(F call) {
  Connection* c = g_connection.get();
  if (c == nullptr) {
    errno = ENOTCONN;
    return -1;
  }
  long r = call(c);
  DeliverSignals(c);
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

long Sys(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0,
         long a5 = 0) {
  const long args[6] = {a0, a1, a2, a3, a4, a5};
  return OnConnection([&](Connection* c) { return c->Call(nr, args); });
}

template <typename T>
long P(T* p) {
  return reinterpret_cast<long>(p);
}

// As the kernel: at most IOV_MAX (1024) buffers, else EINVAL.
bool IovCountOk(long n) {
  if (n >= 0 && n <= 1024) return true;
  errno = EINVAL;
  return false;
}

size_t IovTotal(const struct iovec* iov, int n) {
  size_t total = 0;
  for (int i = 0; i < n; i++) total += iov[i].iov_len;
  return total;
}

// readv/writev/sendmsg/recvmsg go through one contiguous buffer: one
// kernel call, so a stream sees the same bytes in the same order and a
// datagram stays one datagram.
ssize_t Gathered(const struct iovec* iov, int n, std::vector<char>* buf) {
  if (!IovCountOk(n)) return -1;
  buf->resize(IovTotal(iov, n));
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    memcpy(buf->data() + at, iov[i].iov_base, iov[i].iov_len);
    at += iov[i].iov_len;
  }
  return static_cast<ssize_t>(at);
}

void Scatter(const char* data, size_t len, const struct iovec* iov, int n) {
  for (int i = 0; i < n && len > 0; i++) {
    size_t k = std::min(len, iov[i].iov_len);
    memcpy(iov[i].iov_base, data, k);
    data += k;
    len -= k;
  }
}

// Whether Linux restarts call `nr` after a handler that asked for
// SA_RESTART (the calls that end with -ERESTARTSYS when a signal comes);
// poll, ppoll, epoll_wait and the sleeps never restart.
bool RestartsUnderSaRestart(long nr) {
  switch (nr) {
    case LKD_NR_read:
    case LKD_NR_write:
    case LKD_NR_pread64:
    case LKD_NR_pwrite64:
    case LKD_NR_recvfrom:
    case LKD_NR_sendto:
    case LKD_NR_recvmsg:
    case LKD_NR_sendmsg:
    case LKD_NR_accept4:
    case LKD_NR_connect:
    case LKD_NR_openat:
    case LKD_NR_fcntl:
    case LKD_NR_flock:
      return true;
    default:
      return false;
  }
}

// A signal handler ran while call `nr` was blocked in lkd: end the call
// with EINTR, as Linux would, unless Linux would restart it. Which signal
// came is not known here, so a restart needs every installed handler of a
// signal that can interrupt a wait to have asked for SA_RESTART
// (lkclient_wait.c).
bool CancelOnSignal(long nr) {
  int all_restart = 0;
  lkclient_signal_handlers(&all_restart);
  return !(all_restart && RestartsUnderSaRestart(nr));
}

}  // namespace

extern "C" {

int lk_init(void) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_connection) return 0;
  std::string cookie;
  if (const char* hex = getenv(kHandoverEnv)) {
    cookie = absl::HexStringToBytes(hex);
    unsetenv(kHandoverEnv);
  }
  return Attach(cookie);
}

const char* lk_errmsg(void) { return g_errmsg.c_str(); }

void lk_fini(void) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_connection.reset();
}

int lk_kernel_pid(void) { return g_connection ? g_connection->pid() : -1; }

pid_t lk_fork(void) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_connection) {
    errno = ENOTCONN;
    return -1;
  }
  int kernel_child = 0;
  auto cookie = g_connection->Fork(&kernel_child);
  if (!cookie.ok()) {
    SetError(cookie.status());
    return -1;
  }
  // The kernel child not claimed (host fork failed) expires in lkd.
  pid_t pid = fork();
  if (pid == 0) {
    Connection::AbandonAfterFork(std::move(g_connection));
    if (Attach(*cookie) < 0) {
      // The child runs on without lkd: its calls fail with ENOTCONN.
      fprintf(stderr, "liblkclient: child could not attach: %s\n", g_errmsg.c_str());
    }
  }
  return pid;
}

// The hand-over of an exec that failed (execvp tries each PATH directory
// in turn): the next attempt of the same kernel process takes it again
// instead of leaving one unclaimed hand-over per attempt, each expiring in
// lkd with a log line. Reused only well within lkd's timeout. Under g_mu.
struct UnclaimedExec {
  std::string cookie;
  int kernel_pid = -1;
  absl::Time made;
};
UnclaimedExec g_unclaimed_exec;

int lk_exec(const char* path, char* const argv[], char* const envp[]) {
  std::string cookie;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!g_connection) {
      errno = ENOTCONN;
      return -1;
    }
    const absl::Time now = absl::Now();
    if (g_unclaimed_exec.kernel_pid == g_connection->pid() &&
        now - g_unclaimed_exec.made < absl::Seconds(lkd::rpc::HANDOVER_TIMEOUT_SECONDS) / 2) {
      cookie = g_unclaimed_exec.cookie;
    } else {
      auto c = g_connection->PrepareExec();
      if (!c.ok()) {
        SetError(c.status());
        return -1;
      }
      cookie = *c;
      g_unclaimed_exec = {cookie, g_connection->pid(), now};
    }
  }
  std::vector<std::string> env_strings;
  const std::string prefix = std::string(kHandoverEnv) + "=";
  for (char* const* e = envp; e && *e; e++)
    if (strncmp(*e, prefix.c_str(), prefix.size()) != 0) env_strings.emplace_back(*e);
  env_strings.push_back(prefix + absl::BytesToHexString(cookie));
  if (!getenv("LKD_SERVER") || g_server != getenv("LKD_SERVER"))
    env_strings.push_back("LKD_SERVER=" + g_server);
  std::vector<char*> env;
  for (auto& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  execve(path, argv, env.data());
  return -1;  // the cookie expires in lkd; this session goes on
}

int lk_commit_cred(void) {
  const long tid = Sys(LKD_NR_gettid);
  if (tid < 0) return -1;
  if (absl::Status s = lkd::client::CommitCred(g_server, lk_kernel_pid(), static_cast<int>(tid));
      !s.ok()) {
    SetError(s);
    return -1;
  }
  return 0;
}

static_assert(sizeof(lk_call) == sizeof(Connection::BatchCall) &&
                  offsetof(lk_call, args) == offsetof(Connection::BatchCall, args) &&
                  offsetof(lk_call, result) == offsetof(Connection::BatchCall, result),
              "lk_call is the transport's BatchCall");
static_assert(LK_BATCH_MAX == LKD_CHANNEL_BATCH_MAX, "one batch limit");

int lk_batch(struct lk_call* calls, unsigned n) {
  return static_cast<int>(OnConnection([&](Connection* c) {
    return c->CallBatch(reinterpret_cast<Connection::BatchCall*>(calls), n);
  }));
}

long lk_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5) {
  return Sys(nr, a0, a1, a2, a3, a4, a5);
}

int lk_sys_socket(int d, int t, int p) { return Sys(LKD_NR_socket, d, t, p); }
int lk_sys_socketpair(int d, int t, int p, int sv[2]) {
  return Sys(LKD_NR_socketpair, d, t, p, P(sv));
}
int lk_sys_bind(int fd, const struct sockaddr* a, socklen_t l) {
  return Sys(LKD_NR_bind, fd, P(a), l);
}
int lk_sys_listen(int fd, int backlog) { return Sys(LKD_NR_listen, fd, backlog); }
int lk_sys_accept(int fd, struct sockaddr* a, socklen_t* l) { return lk_sys_accept4(fd, a, l, 0); }
// Blocking calls block inside lkd; a signal handler that interrupts one
// ends it there too (CancelOnSignal).
int lk_sys_accept4(int fd, struct sockaddr* a, socklen_t* l, int flags) {
  return Sys(LKD_NR_accept4, fd, P(a), P(l), flags);
}
int lk_sys_connect(int fd, const struct sockaddr* a, socklen_t l) {
  return Sys(LKD_NR_connect, fd, P(a), l);
}
ssize_t lk_sys_send(int fd, const void* b, size_t n, int flags) {
  return Sys(LKD_NR_sendto, fd, P(b), n, flags, 0, 0);
}
ssize_t lk_sys_recv(int fd, void* b, size_t n, int flags) {
  return lk_sys_recvfrom(fd, b, n, flags, nullptr, nullptr);
}
ssize_t lk_sys_sendto(int fd, const void* b, size_t n, int flags,
                      const struct sockaddr* to, socklen_t tolen) {
  return Sys(LKD_NR_sendto, fd, P(b), n, flags, P(to), tolen);
}
ssize_t lk_sys_recvfrom(int fd, void* b, size_t n, int flags, struct sockaddr* from,
                        socklen_t* fromlen) {
  return Sys(LKD_NR_recvfrom, fd, P(b), n, flags, P(from), P(fromlen));
}
ssize_t lk_sys_sendmsg(int fd, const struct msghdr* msg, int flags) {
  // With control messages, the kernel's own sendmsg (the message must fit
  // a channel's data area); without, a sendto of the gathered bytes,
  // which a stream may send in pieces however long it is.
  if (msg->msg_controllen != 0) return Sys(LKD_NR_sendmsg, fd, P(msg), flags);
  std::vector<char> buf;
  if (Gathered(msg->msg_iov, static_cast<int>(msg->msg_iovlen), &buf) < 0) return -1;
  return Sys(LKD_NR_sendto, fd, P(buf.data()), buf.size(), flags, P(msg->msg_name),
             msg->msg_namelen);
}
ssize_t lk_sys_recvmsg(int fd, struct msghdr* msg, int flags) {
  return Sys(LKD_NR_recvmsg, fd, P(msg), flags);
}
int lk_sys_shutdown(int fd, int how) { return Sys(LKD_NR_shutdown, fd, how); }
int lk_sys_setsockopt(int fd, int level, int name, const void* v, socklen_t l) {
  return Sys(LKD_NR_setsockopt, fd, level, name, P(v), l);
}
int lk_sys_getsockopt(int fd, int level, int name, void* v, socklen_t* l) {
  return Sys(LKD_NR_getsockopt, fd, level, name, P(v), P(l));
}
int lk_sys_getsockname(int fd, struct sockaddr* a, socklen_t* l) {
  return Sys(LKD_NR_getsockname, fd, P(a), P(l));
}
int lk_sys_getpeername(int fd, struct sockaddr* a, socklen_t* l) {
  return Sys(LKD_NR_getpeername, fd, P(a), P(l));
}

ssize_t lk_sys_read(int fd, void* b, size_t n) { return Sys(LKD_NR_read, fd, P(b), n); }
ssize_t lk_sys_write(int fd, const void* b, size_t n) {
  return Sys(LKD_NR_write, fd, P(b), n);
}
ssize_t lk_sys_readv(int fd, const struct iovec* iov, int n) {
  if (!IovCountOk(n)) return -1;
  std::vector<char> buf(IovTotal(iov, n));
  long r = Sys(LKD_NR_read, fd, P(buf.data()), buf.size());
  if (r > 0) Scatter(buf.data(), static_cast<size_t>(r), iov, n);
  return r;
}
ssize_t lk_sys_writev(int fd, const struct iovec* iov, int n) {
  std::vector<char> buf;
  if (Gathered(iov, n, &buf) < 0) return -1;
  return Sys(LKD_NR_write, fd, P(buf.data()), buf.size());
}
ssize_t lk_sys_pread(int fd, void* b, size_t n, off_t off) {
  return Sys(LKD_NR_pread64, fd, P(b), n, off);
}
ssize_t lk_sys_pwrite(int fd, const void* b, size_t n, off_t off) {
  return Sys(LKD_NR_pwrite64, fd, P(b), n, off);
}
int lk_sys_close(int fd) { return Sys(LKD_NR_close, fd); }
int lk_sys_fcntl(int fd, int cmd, long arg) { return Sys(LKD_NR_fcntl, fd, cmd, arg); }
int lk_sys_ioctl(int fd, unsigned long req, void* arg) {
  return Sys(LKD_NR_ioctl, fd, static_cast<long>(req), P(arg));
}
int lk_sys_poll(struct pollfd* fds, nfds_t n, int timeout_ms) {
  struct timespec ts, *tsp = nullptr;
  if (timeout_ms >= 0) {
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (timeout_ms % 1000) * 1000000L;
    tsp = &ts;
  }
  return Sys(LKD_NR_ppoll, P(fds), static_cast<long>(n), P(tsp), 0, 8);
}
int lk_sys_epoll_create1(int flags) { return Sys(LKD_NR_epoll_create1, flags); }
int lk_sys_epoll_ctl(int epfd, int op, int fd, struct epoll_event* ev) {
  return Sys(LKD_NR_epoll_ctl, epfd, op, fd, P(ev));
}
int lk_sys_epoll_wait(int epfd, struct epoll_event* evs, int max, int timeout_ms) {
  return Sys(LKD_NR_epoll_pwait, epfd, P(evs), max, timeout_ms, 0, 8);
}
int lk_sys_dup(int fd) { return Sys(LKD_NR_dup, fd); }
int lk_sys_dup3(int fd, int newfd, int flags) { return Sys(LKD_NR_dup3, fd, newfd, flags); }
int lk_sys_eventfd(unsigned int initval, int flags) {
  return Sys(LKD_NR_eventfd2, initval, flags);
}
int lk_sys_pipe2(int fds[2], int flags) { return Sys(LKD_NR_pipe2, P(fds), flags); }

int lk_sys_openat(int dirfd, const char* path, int flags, mode_t mode) {
  return Sys(LKD_NR_openat, dirfd, P(path), flags, mode);
}
off_t lk_sys_lseek(int fd, off_t off, int whence) {
  return Sys(LKD_NR_lseek, fd, off, whence);
}
int lk_sys_fstat(int fd, struct stat* st) {
  lkd::client::KernelStat k;
  if (Sys(LKD_NR_fstat, fd, P(&k)) < 0) return -1;
  lkd::client::KernelStatToHost(k, st);
  return 0;
}
int lk_sys_fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  lkd::client::KernelStat k;
  if (Sys(LKD_NR_newfstatat, dirfd, P(path), P(&k), flags) < 0) return -1;
  lkd::client::KernelStatToHost(k, st);
  return 0;
}
int lk_sys_statx(int dirfd, const char* path, int flags, unsigned int mask,
                 struct statx* stx) {
  return Sys(LKD_NR_statx, dirfd, P(path), flags, mask, P(stx));
}
int lk_sys_mkdirat(int dirfd, const char* path, mode_t mode) {
  return Sys(LKD_NR_mkdirat, dirfd, P(path), mode);
}
int lk_sys_unlinkat(int dirfd, const char* path, int flags) {
  return Sys(LKD_NR_unlinkat, dirfd, P(path), flags);
}
int lk_sys_renameat(int olddirfd, const char* oldpath, int newdirfd, const char* newpath) {
  return Sys(LKD_NR_renameat, olddirfd, P(oldpath), newdirfd, P(newpath));
}
int lk_sys_renameat2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                     unsigned int flags) {
  return Sys(LKD_NR_renameat2, olddirfd, P(oldpath), newdirfd, P(newpath), flags);
}
ssize_t lk_sys_getdents64(int fd, void* buf, size_t len) {
  return Sys(LKD_NR_getdents64, fd, P(buf), len);
}
int lk_sys_fsync(int fd) { return Sys(LKD_NR_fsync, fd); }
int lk_sys_ftruncate(int fd, off_t len) { return Sys(LKD_NR_ftruncate, fd, len); }
int lk_sys_chdir(const char* path) { return Sys(LKD_NR_chdir, P(path)); }
char* lk_sys_getcwd(char* buf, size_t size) {
  return Sys(LKD_NR_getcwd, P(buf), size) < 0 ? nullptr : buf;
}
pid_t lk_sys_getpid(void) { return Sys(LKD_NR_getpid); }

}  // extern "C"
