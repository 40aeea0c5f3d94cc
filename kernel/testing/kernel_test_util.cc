// SPDX-License-Identifier: GPL-2.0
#include "kernel/testing/kernel_test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "hostops/posix_hostops.h"
#include "kernel/setup/setup.h"

namespace lkd::testing {
absl::Status BootForTest(const std::string& extra_cmdline) {
  const char* console = getenv("LKD_TEST_CONSOLE");
  bool full_log = console != nullptr && strcmp(console, "1") == 0;
  const lkd_hostops* ops = PosixHostops({});
  std::string cmdline = absl::StrCat("mem=128M ", full_log ? "" : "loglevel=4 ", extra_cmdline);
  int rc = lkd_start(ops, cmdline.c_str());
  if (rc < 0) return SysStatus(rc, "lkd_start");
  // The same base as the daemon's kernel, so that tests see what lkd's
  // clients see.
  return setup::SetUpBase();
}

absl::Status WriteFile(const std::string& path, const std::string& value) {
  long fd = Sys(LKD_NR_openat, kAtFdCwd, path.c_str(), O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0) return SysStatus(fd, absl::StrCat("open ", path));
  long n = Sys(LKD_NR_write, fd, value.data(), value.size());
  Sys(LKD_NR_close, fd);
  if (n < 0) return SysStatus(n, absl::StrCat("write ", path));
  if (static_cast<size_t>(n) != value.size()) return absl::DataLossError("short write to " + path);
  return absl::OkStatus();
}

absl::Status ReadFile(const std::string& path, std::string* out) {
  long fd = Sys(LKD_NR_openat, kAtFdCwd, path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return SysStatus(fd, absl::StrCat("open ", path));
  out->clear();
  char buf[4096];
  long n;
  while ((n = Sys(LKD_NR_read, fd, buf, sizeof(buf))) > 0) out->append(buf, n);
  Sys(LKD_NR_close, fd);
  return SysStatus(n, absl::StrCat("read ", path));
}

}  // namespace lkd::testing
