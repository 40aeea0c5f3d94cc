// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "common/host_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace lkd {

absl::StatusOr<std::string> ReadHostFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("read ", path));
  std::string text;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoStatus(err, absl::StrCat("read ", path));
    }
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

std::string ReadHostFileOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> text = ReadHostFile(path);
  return text.ok() ? *std::move(text) : std::string();
}

}  // namespace lkd
