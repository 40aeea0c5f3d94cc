// SPDX-License-Identifier: GPL-2.0
// Signals the kernel raises for a client (SIGPIPE on a write to a closed
// connection) reach the client's host process as Linux delivers them, and
// never kill the kernel process behind its back: each disposition in a real
// forked client, against a real lkd. And host signals interrupt the API's
// blocking calls (accept, recv, recvmsg, poll, epoll_wait) as Linux's
// would, leaving nothing running in lkd.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "kernel/testing/loopback.h"
#include "rumpclient/lkclient.h"
#include "tests/daemon/lkd_test.h"

namespace lkd::testing {
namespace {

// One end of a kernel stream socket pair whose other end is closed: a
// write to it fails with EPIPE and raises SIGPIPE, as on Linux.
int BrokenSocket() {
  int sv[2];
  if (lk_sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) return -1;
  if (lk_sys_close(sv[1]) < 0) return -1;
  return sv[0];
}

// The kernel process is alive and still this client's: a call that needs
// it succeeds.
bool KernelProcessAlive() { return lk_sys_getpid() == lk_kernel_pid(); }

using SignalTest = LkdTest;

TEST_F(SignalTest, SigpipeWithDefaultActionKillsTheHostProcess) {
  pid_t client = ForkClient(lkd_->url(), []() {
    signal(SIGPIPE, SIG_DFL);
    CHECK_OR(lk_init() == 0, 10);
    int fd = BrokenSocket();
    CHECK_OR(fd >= 0, 11);
    lk_sys_write(fd, "x", 1);
    return 12;  // still alive: SIGPIPE did not arrive
  });
  EXPECT_EQ(WaitClient(client), 128 + SIGPIPE);
}

TEST_F(SignalTest, SigpipeIgnoredGivesEpipeAndTheProcessCarriesOn) {
  pid_t client = ForkClient(lkd_->url(), []() {
    signal(SIGPIPE, SIG_IGN);
    CHECK_OR(lk_init() == 0, 10);
    int fd = BrokenSocket();
    CHECK_OR(fd >= 0, 11);
    for (int i = 0; i < 3; i++) {
      CHECK_OR(lk_sys_write(fd, "x", 1) == -1 && errno == EPIPE, 12);
      CHECK_OR(KernelProcessAlive(), 13);
    }
    // The kernel process's fds are all still there.
    int sv[2];
    CHECK_OR(lk_sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, 14);
    CHECK_OR(lk_sys_write(sv[0], "ok", 2) == 2, 15);
    char buf[2];
    CHECK_OR(lk_sys_read(sv[1], buf, 2) == 2 && memcmp(buf, "ok", 2) == 0, 16);
    return 0;
  });
  EXPECT_EQ(WaitClient(client), 0);
}

volatile sig_atomic_t g_sigpipes = 0;
void CountSigpipe(int) { g_sigpipes = g_sigpipes + 1; }

TEST_F(SignalTest, SigpipeCaughtRunsTheHandlerOncePerWrite) {
  pid_t client = ForkClient(lkd_->url(), []() {
    struct sigaction sa = {};
    sa.sa_handler = CountSigpipe;
    sigemptyset(&sa.sa_mask);
    CHECK_OR(sigaction(SIGPIPE, &sa, nullptr) == 0, 10);
    CHECK_OR(lk_init() == 0, 11);
    int fd = BrokenSocket();
    CHECK_OR(fd >= 0, 12);
    CHECK_OR(lk_sys_write(fd, "x", 1) == -1 && errno == EPIPE, 13);
    CHECK_OR(g_sigpipes == 1, 14);
    CHECK_OR(KernelProcessAlive(), 15);
    CHECK_OR(lk_sys_send(fd, "x", 1, 0) == -1 && errno == EPIPE, 16);
    CHECK_OR(g_sigpipes == 2, 17);
    // MSG_NOSIGNAL: EPIPE and no signal, as on Linux.
    CHECK_OR(lk_sys_send(fd, "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, 18);
    CHECK_OR(g_sigpipes == 2, 19);
    CHECK_OR(KernelProcessAlive(), 20);
    return 0;
  });
  EXPECT_EQ(WaitClient(client), 0);
}

TEST_F(SignalTest, NoSignalWithMsgNosignalEvenUnderTheDefaultAction) {
  pid_t client = ForkClient(lkd_->url(), []() {
    signal(SIGPIPE, SIG_DFL);
    CHECK_OR(lk_init() == 0, 10);
    int fd = BrokenSocket();
    CHECK_OR(fd >= 0, 11);
    CHECK_OR(lk_sys_send(fd, "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, 12);
    CHECK_OR(KernelProcessAlive(), 13);
    return 0;
  });
  EXPECT_EQ(WaitClient(client), 0);
}

// The one way left for a kernel process to die under its client: a fatal
// signal sent inside the kernel (here SIGKILL as the SIGIO of its own
// socket, F_SETSIG; in real life the OOM killer). lkd says why, and the
// client's calls fail with ENOTCONN, not with ESRCH from a process it
// cannot see.
// SIGALRM every 100 ms with a handler that counts (SA_RESTART as asked)
// until Stop(): a repeating timer, so that a signal that lands before the
// call blocks only trips the count, and the next one interrupts the wait.
std::atomic<int> g_alarms{0};
std::atomic<bool> g_receiver_done{false};

void CountAlarm(int) { g_alarms++; }

void StartAlarms(bool restart) {
  struct sigaction sa = {};
  sa.sa_handler = CountAlarm;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigaction(SIGALRM, &sa, nullptr);
  itimerval every = {{0, 100000}, {0, 100000}};
  setitimer(ITIMER_REAL, &every, nullptr);
}

void StopAlarms() {
  itimerval off = {};
  setitimer(ITIMER_REAL, &off, nullptr);
}

// A connected kernel TCP pair over loopback, and its listener.
struct Pair {
  int listener = -1, client = -1, server = -1;
};

bool Connect(Pair* p) {
  p->listener = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Ipv4Loopback(0);
  socklen_t len = sizeof(addr);
  if (lk_sys_bind(p->listener, reinterpret_cast<sockaddr*>(&addr), len) < 0 ||
      lk_sys_listen(p->listener, 8) < 0 ||
      lk_sys_getsockname(p->listener, reinterpret_cast<sockaddr*>(&addr), &len) < 0)
    return false;
  p->client = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
  if (lk_sys_connect(p->client, reinterpret_cast<sockaddr*>(&addr), len) < 0) return false;
  p->server = lk_sys_accept(p->listener, nullptr, nullptr);
  return p->server >= 0;
}

TEST_F(SignalTest, BlockedCallsReturnEintrAndLeaveNothingInLkd) {
  pid_t client = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 10);
    Pair p;
    CHECK_OR(Connect(&p), 11);
    char buf[8];
    StartAlarms(false);
    CHECK_OR(lk_sys_accept(p.listener, nullptr, nullptr) == -1 && errno == EINTR, 12);
    CHECK_OR(lk_sys_recv(p.server, buf, sizeof(buf), 0) == -1 && errno == EINTR, 13);
    iovec iov = {buf, sizeof(buf)};
    msghdr m = {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    CHECK_OR(lk_sys_recvmsg(p.server, &m, 0) == -1 && errno == EINTR, 14);
    pollfd pfd = {p.server, POLLIN, 0};
    CHECK_OR(lk_sys_poll(&pfd, 1, -1) == -1 && errno == EINTR, 15);
    CHECK_OR(lk_sys_poll(&pfd, 1, 60000) == -1 && errno == EINTR, 16);
    int ep = lk_sys_epoll_create1(0);
    epoll_event ev = {};
    ev.events = EPOLLIN;
    CHECK_OR(lk_sys_epoll_ctl(ep, EPOLL_CTL_ADD, p.server, &ev) == 0, 17);
    CHECK_OR(lk_sys_epoll_wait(ep, &ev, 1, -1) == -1 && errno == EINTR, 18);
    StopAlarms();
    CHECK_OR(g_alarms >= 6, 19);
    // Nothing of those calls runs on in lkd: the data and the connection
    // that come now are there for the next calls, not taken by a ghost.
    CHECK_OR(lk_sys_send(p.client, "after", 5, 0) == 5, 20);
    CHECK_OR(lk_sys_recv(p.server, buf, sizeof(buf), 0) == 5, 21);
    CHECK_OR(memcmp(buf, "after", 5) == 0, 22);
    sockaddr_in addr;
    socklen_t len = sizeof(addr);
    CHECK_OR(lk_sys_getsockname(p.listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0, 23);
    int late = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_OR(lk_sys_connect(late, reinterpret_cast<sockaddr*>(&addr), len) == 0, 24);
    pollfd listening = {p.listener, POLLIN, 0};
    CHECK_OR(lk_sys_poll(&listening, 1, -1) == 1, 25);
    CHECK_OR(lk_sys_accept(p.listener, nullptr, nullptr) >= 0, 26);
    // SO_RCVTIMEO still bounds a blocking receive: EAGAIN.
    timeval tv = {0, 100000};
    CHECK_OR(lk_sys_setsockopt(p.server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, 27);
    CHECK_OR(lk_sys_recv(p.server, buf, sizeof(buf), 0) == -1 && errno == EAGAIN, 28);
    return 0;
  });
  EXPECT_EQ(WaitClient(client), 0);
}

// Under SA_RESTART a blocked receive goes on waiting through signals and
// returns the data that comes after them; poll still returns EINTR, as on
// Linux.
TEST_F(SignalTest, SaRestartRestartsAReceiveNotAPoll) {
  pid_t client = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 10);
    Pair p;
    CHECK_OR(Connect(&p), 11);
    g_alarms = 0;
    // The sender waits for three signals (on its own thread, which blocks
    // them), then sends.
    sigset_t alarm_only;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alarm_only, nullptr);
    pthread_t sender;
    pthread_create(
        &sender, nullptr,
        [](void* arg) -> void* {
          while (g_alarms < 3 && !g_receiver_done) usleep(1000);
          lk_sys_send(*static_cast<int*>(arg), "late", 4, 0);
          return nullptr;
        },
        &p.client);
    pthread_sigmask(SIG_UNBLOCK, &alarm_only, nullptr);
    StartAlarms(true);
    char buf[8];
    long r = lk_sys_recv(p.server, buf, sizeof(buf), 0);
    int err = errno;
    pollfd pfd = {p.server, POLLIN, 0};
    long polled = lk_sys_poll(&pfd, 1, -1);
    int poll_err = errno;
    StopAlarms();
    g_receiver_done = true;  // a receive that failed early ends the sender too
    pthread_join(sender, nullptr);
    errno = err;
    CHECK_OR(r == 4 && memcmp(buf, "late", 4) == 0, 12);
    CHECK_OR(g_alarms >= 3, 13);
    errno = poll_err;
    CHECK_OR(polled == -1 && poll_err == EINTR, 14);
    return 0;
  });
  EXPECT_EQ(WaitClient(client), 0);
}

TEST_F(SignalTest, KernelProcessKilledInsideTheKernelIsExplained) {
  pid_t client = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 10);
    int sv[2];
    CHECK_OR(lk_sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, 11);
    CHECK_OR(lk_sys_fcntl(sv[1], F_SETOWN, lk_kernel_pid()) == 0, 12);
    CHECK_OR(lk_sys_fcntl(sv[1], F_SETSIG, SIGKILL) == 0, 13);
    CHECK_OR(lk_sys_fcntl(sv[1], F_SETFL, O_ASYNC) == 0, 14);
    errno = 0;
    // Data arriving on sv[1] has the kernel send SIGKILL to the process.
    long w = lk_sys_write(sv[0], "x", 1);
    CHECK_OR(w == 1 || (w == -1 && errno == ENOTCONN), 15);
    CHECK_OR(lk_sys_getpid() == -1 && errno == ENOTCONN, 16);
    CHECK_OR(lk_sys_socket(AF_INET, SOCK_STREAM, 0) == -1 && errno == ENOTCONN, 17);
    return 0;  // the host process lives on
  });
  EXPECT_EQ(WaitClient(client), 0);
  EXPECT_NE(lkd_->Log().find("was killed inside the kernel by signal 9 (Killed)"),
            std::string::npos)
      << lkd_->Log();
}

}  // namespace
}  // namespace lkd::testing
