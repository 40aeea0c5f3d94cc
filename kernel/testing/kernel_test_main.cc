// SPDX-License-Identifier: GPL-2.0
// main() for kernel tests: boots the library kernel once for the whole test
// binary (a kernel cannot be restarted within a process) and halts it after
// the last test.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "kernel/testing/kernel_test_util.h"

namespace {

class KernelEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::Status status = lkd::testing::BootForTest();
    if (!status.ok()) {
      // gtest would only skip every test; a kernel that does not boot is a failure.
      fprintf(stderr, "FATAL: the library kernel did not boot: %s\n",
              std::string(status.ToString()).c_str());
      exit(1);
    }
  }
  void TearDown() override { EXPECT_EQ(lkd_halt(), 0); }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new KernelEnvironment);
  return RUN_ALL_TESTS();
}
