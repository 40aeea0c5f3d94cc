// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// A whole file of the host (a config file, /proc/<pid>/status) in a string.
// Errors carry the errno (ErrnoOf) and name the path.
#ifndef LKD_COMMON_HOST_FILE_H_
#define LKD_COMMON_HOST_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lkd {

absl::StatusOr<std::string> ReadHostFile(const std::string& path);

// The same, or "" when the file cannot be read (for /proc entries of a
// process that may have gone: callers treat that as "nothing there").
std::string ReadHostFileOrEmpty(const std::string& path);

}  // namespace lkd

#endif  // LKD_COMMON_HOST_FILE_H_
