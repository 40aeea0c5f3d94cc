// SPDX-License-Identifier: GPL-2.0
// A gtest fixture with a fresh lkd per test, whose log is printed when the
// test fails.
#ifndef LKD_TESTS_DAEMON_LKD_TEST_H_
#define LKD_TESTS_DAEMON_LKD_TEST_H_

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "gtest/gtest.h"
#include "server/daemon/testing/lkd_fixture.h"

// In a forked client's body: if `cond` fails, say which and why (errno)
// on stderr and end the client with exit code `code`.
#define CHECK_OR(cond, code)                                              \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "client %d: %s failed: %s\n", getpid(), #cond,      \
              strerror(errno));                                           \
      return code;                                                        \
    }                                                                     \
  } while (0)

namespace lkd::testing {

class LkdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = LkdDaemon::Start();
    ASSERT_TRUE(d.ok()) << d.status();
    lkd_ = std::move(*d);
  }
  void TearDown() override {
    if (HasFailure() && lkd_) fprintf(stderr, "--- lkd log ---\n%s\n", lkd_->Log().c_str());
  }
  std::unique_ptr<LkdDaemon> lkd_;
};

}  // namespace lkd::testing

#endif  // LKD_TESTS_DAEMON_LKD_TEST_H_
