// SPDX-License-Identifier: GPL-2.0
// A gtest fixture with a fresh lkd per test, whose log is printed when the
// test fails.
#ifndef LKD_TESTS_DAEMON_LKD_TEST_H_
#define LKD_TESTS_DAEMON_LKD_TEST_H_

#include <cstdio>
#include <memory>

#include "gtest/gtest.h"
#include "tests/daemon/lkd_fixture.h"

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
