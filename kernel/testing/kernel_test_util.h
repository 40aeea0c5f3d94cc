// SPDX-License-Identifier: GPL-2.0
// Helpers for tests and benchmarks that run the library kernel in-process.
#ifndef LKD_KERNEL_TESTING_KERNEL_TEST_UTIL_H_
#define LKD_KERNEL_TESTING_KERNEL_TEST_UTIL_H_

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/errno_status.h"
#include "kernel/sys.h"
#include "kernel/testing/loopback.h"  // Ipv4Loopback
#include "lkd/kernel.h"
#include "lkd/sysnr.h"

namespace lkd::testing {

// Tests call the kernel through the shared wrapper.
using ::lkd::kAtFdCwd;
using ::lkd::Sys;

// OK for a non-negative result, else the errno's status with `what`.
using ::lkd::SysStatus;


// Boots the kernel with the POSIX hostops (console to stderr at warning
// level unless LKD_TEST_CONSOLE=1 asks for the full log) and sets up what
// lkd's kernel has too (setup::SetUpBase: /proc, /sys, /dev, /tmp, lo).
absl::Status BootForTest(const std::string& extra_cmdline = "");

// Writes `value` to a file (e.g. under /proc/sys) in the kernel.
absl::Status WriteFile(const std::string& path, const std::string& value);
// Reads a whole small file from the kernel.
absl::Status ReadFile(const std::string& path, std::string* out);

}  // namespace lkd::testing

#endif  // LKD_KERNEL_TESTING_KERNEL_TEST_UTIL_H_
