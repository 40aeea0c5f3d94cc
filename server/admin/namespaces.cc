// SPDX-License-Identifier: GPL-2.0
#include "server/admin/namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "kernel/setup/setup.h"
#include "kernel/sys.h"

namespace lkd::admin {
namespace {

constexpr char kDir[] = "/run/netns";

absl::StatusOr<std::string> PathOf(std::string_view name) {
  std::string n(name);
  if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos || n.size() > 64)
    return WithErrno(absl::InvalidArgumentError(absl::StrCat(
                         "'", n, "' is not a namespace name (one path component, 1-64 bytes)")),
                     EINVAL);
  return absl::StrCat(kDir, "/", n);
}

// `verb`: what was to be done with it ("enter", "delete").
absl::Status NoSuch(std::string_view verb, std::string_view name) {
  return ErrnoStatus(ENOENT,
                     absl::StrCat(std::string(verb), " network namespace \"", std::string(name), "\""),
                     "no such namespace");
}

}  // namespace

absl::StatusOr<std::unique_ptr<NetnsTable>> NetnsTable::Open() {
  long fd = Sys(LKD_NR_openat, kAtFdCwd, "/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return SysStatus(fd, "open the admin task's network namespace");
  return std::unique_ptr<NetnsTable>(new NetnsTable(fd));
}

NetnsTable::~NetnsTable() { Sys(LKD_NR_close, home_); }

absl::Status NetnsTable::Create(std::string_view name) {
  auto path = PathOf(name);
  if (!path.ok()) return path.status();
  const std::string what = absl::StrCat("create network namespace \"", std::string(name), "\"");
  Sys(LKD_NR_mkdirat, kAtFdCwd, "/run", 0755);  // EEXIST, or the next one says
  long rc = Sys(LKD_NR_mkdirat, kAtFdCwd, kDir, 0755);
  if (rc < 0 && rc != -EEXIST) return SysStatus(rc, what);
  // The mount point; O_EXCL makes a taken name EEXIST.
  long fd = Sys(LKD_NR_openat, kAtFdCwd, path->c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                0);
  if (fd < 0) return SysStatus(fd, what);
  Sys(LKD_NR_close, fd);
  // A fresh namespace for this task only, held by the bind mount, then
  // home again.
  rc = Sys(LKD_NR_unshare, CLONE_NEWNET);
  if (rc >= 0) {
    rc = Sys(LKD_NR_mount, "/proc/thread-self/ns/net", path->c_str(), "none", MS_BIND, nullptr);
    long back = Sys(LKD_NR_setns, home_, CLONE_NEWNET);
    if (back < 0) return SysStatus(back, "return to the initial network namespace");
  }
  if (rc < 0) {
    Sys(LKD_NR_unlinkat, kAtFdCwd, path->c_str(), 0);
    return SysStatus(rc, what);
  }
  return absl::OkStatus();
}

absl::Status NetnsTable::Delete(std::string_view name) {
  auto path = PathOf(name);
  if (!path.ok()) return path.status();
  long rc = Sys(LKD_NR_umount2, path->c_str(), MNT_DETACH);
  if (rc == -ENOENT || rc == -EINVAL) return NoSuch("delete", name);
  if (rc < 0) return SysStatus(rc, absl::StrCat("delete network namespace \"", std::string(name), "\""));
  Sys(LKD_NR_unlinkat, kAtFdCwd, path->c_str(), 0);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> NetnsTable::List() {
  auto names = setup::ListDirectory(kDir);
  if (!names.ok() && names.status().code() == absl::StatusCode::kNotFound)
    return std::vector<std::string>{};
  if (names.ok()) std::sort(names->begin(), names->end());
  return names;
}

namespace {
// A kernel fd of the named namespace (not "").
absl::StatusOr<long> OpenNamed(std::string_view name) {
  auto path = PathOf(name);
  if (!path.ok()) return path.status();
  long fd = Sys(LKD_NR_openat, kAtFdCwd, path->c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd == -ENOENT) return NoSuch("open", name);
  if (fd < 0) return SysStatus(fd, absl::StrCat("open network namespace \"", std::string(name), "\""));
  return fd;
}
}  // namespace

absl::StatusOr<long> NetnsTable::OpenFd(std::string_view name) {
  if (name.empty()) {
    long fd = Sys(LKD_NR_fcntl, home_, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return SysStatus(fd, "dup the initial network namespace");
    return fd;
  }
  return OpenNamed(name);
}

absl::Status EnterNetns(std::string_view name) {
  absl::StatusOr<long> fd = OpenNamed(name);
  if (!fd.ok()) return fd.status();
  long rc = Sys(LKD_NR_setns, *fd, CLONE_NEWNET);
  Sys(LKD_NR_close, *fd);
  // EINVAL: the file is not a namespace (the mount is gone).
  if (rc == -EINVAL) return NoSuch("enter", name);
  if (rc < 0) return SysStatus(rc, absl::StrCat("enter network namespace \"", std::string(name), "\""));
  return absl::OkStatus();
}

absl::Status NetnsTable::RunIn(std::string_view name, const std::function<absl::Status()>& body) {
  if (name.empty()) return body();
  if (absl::Status entered = EnterNetns(name); !entered.ok()) return entered;
  absl::Status result = body();
  long back = Sys(LKD_NR_setns, home_, CLONE_NEWNET);
  if (back < 0) {
    // Every later job would run in the wrong namespace: say so loudly.
    fprintf(stderr, "lkd: admin: cannot return to the initial network namespace: %s\n",
            strerror(static_cast<int>(-back)));
  }
  return result;
}

}  // namespace lkd::admin
