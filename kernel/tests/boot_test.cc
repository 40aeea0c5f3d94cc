// SPDX-License-Identifier: GPL-2.0
// Boot and halt, in fresh processes: uname, calls before start and after
// halt, a second start. Each case runs in a forked child so that it sees a
// process that never booted a kernel.
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "hostops/posix_hostops.h"
#include "kernel/testing/kernel_test_util.h"

namespace lkd::testing {
namespace {

// Runs `body` in a child process; the child's exit status is the number of
// failed checks (0 = all good), and its messages go to stderr.
template <typename Body>
int RunInChild(Body body) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    ADD_FAILURE() << "child died of signal " << WTERMSIG(status);
    return -1;
  }
  return WEXITSTATUS(status);
}

#define CHILD_CHECK(cond)                                               \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                       \
    }                                                                   \
  } while (0)

int BootUnameHalt() {
  int failures = 0;
  long args[6] = {};
  CHILD_CHECK(lkd_syscall(LKD_NR_getpid, args) == -ENODEV);  // before start
  CHILD_CHECK(lkd_bind(1) == -ENODEV);
  const lkd_hostops* ops = PosixHostops({});
  CHILD_CHECK(lkd_start(ops, "mem=64M loglevel=4") == 0);
  struct utsname u = {};
  CHILD_CHECK(Sys(LKD_NR_uname, &u) == 0);
  fprintf(stderr, "uname: %s %s %s\n", u.sysname, u.release, u.machine);
  CHILD_CHECK(strcmp(u.sysname, "Linux") == 0);
  CHILD_CHECK(strncmp(u.release, "6.1.", 4) == 0);
  CHILD_CHECK(Sys(LKD_NR_getpid) > 1);
  CHILD_CHECK(lkd_start(ops, "") == -EALREADY);  // already running
  CHILD_CHECK(lkd_halt() == 0);
  CHILD_CHECK(Sys(LKD_NR_getpid) == -ENODEV);  // after halt
  CHILD_CHECK(lkd_proc_create(nullptr) == -ENODEV);
  CHILD_CHECK(lkd_start(ops, "") == -EALREADY);  // no restart in one process
  CHILD_CHECK(lkd_halt() == -ENODEV);
  return failures;
}

TEST(Boot, BootUnameHaltInTwoProcessesInARow) {
  EXPECT_EQ(RunInChild(BootUnameHalt), 0) << "first process";
  EXPECT_EQ(RunInChild(BootUnameHalt), 0) << "second process";
}

TEST(Boot, RejectsWrongHostopsVersionAndBadMemSize) {
  EXPECT_EQ(RunInChild([] {
              int failures = 0;
              lkd_hostops ops = *PosixHostops({.quiet = true});
              ops.version = LKD_HOSTOPS_VERSION + 1;
              CHILD_CHECK(lkd_start(&ops, "") == -EINVAL);
              CHILD_CHECK(lkd_start(nullptr, "") == -EINVAL);
              CHILD_CHECK(lkd_start(PosixHostops({.quiet = true}), "mem=1K") == -EINVAL);
              // A failed start leaves the kernel startable.
              CHILD_CHECK(lkd_start(PosixHostops({.quiet = true}), "mem=64M") == 0);
              CHILD_CHECK(lkd_halt() == 0);
              return failures;
            }),
            0);
}

TEST(Boot, KernelLogReachesConsoleHostop) {
  EXPECT_EQ(RunInChild([] {
              int failures = 0;
              static std::string log;
              CHILD_CHECK(lkd_start(PosixHostops({.console_sink =
                                                      [](std::string_view s) { log += s; }}),
                                    "mem=64M") == 0);
              CHILD_CHECK(log.find("Linux version 6.1.") != std::string::npos);
              CHILD_CHECK(log.find("NET: Registered PF_INET6") != std::string::npos);
              CHILD_CHECK(lkd_halt() == 0);
              return failures;
            }),
            0);
}

}  // namespace
}  // namespace lkd::testing
