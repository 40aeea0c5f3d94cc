// SPDX-License-Identifier: GPL-2.0
// Signals the kernel raises for a client (SIGPIPE on a write to a closed
// connection) reach the client's host process as Linux delivers them, and
// never kill the kernel process behind its back: each disposition in a real
// forked client, against a real lkd.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"
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
