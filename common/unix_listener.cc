// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "common/unix_listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace lkd {

absl::StatusOr<int> ListenUnixSocket(const std::string& path, uint32_t mode, int backlog,
                                     const std::string& what) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return absl::InvalidArgumentError(absl::StrCat(what, " path '", path,
                                                   "': empty or longer than ",
                                                   sizeof(addr.sun_path) - 1, " bytes"));
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ErrnoStatus(errno, what);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if (rc < 0 && errno == EADDRINUSE) {
    // Someone listening, or a file left by a dead server?
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 &&
                connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (probe >= 0) close(probe);
    if (live) {
      close(fd);
      return absl::AlreadyExistsError(absl::StrCat("another lkd is serving ", path));
    }
    unlink(path.c_str());
    rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  }
  if (rc < 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus(err, absl::StrCat("bind ", what, " ", path));
  }
  if (chmod(path.c_str(), mode) < 0 || listen(fd, backlog) < 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus(err, absl::StrCat("listen on ", what, " ", path));
  }
  return fd;
}

}  // namespace lkd
