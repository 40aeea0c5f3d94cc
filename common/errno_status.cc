// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "common/errno_status.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace lkd {
namespace {

// The payload's type URL: names what the payload holds, the errno in
// decimal.
constexpr char kErrnoPayload[] = "lkd/errno";

// For statuses that carry no errno: the errno a POSIX caller expects for
// that kind of failure.
int ErrnoForCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 0;
    case absl::StatusCode::kInvalidArgument: return EINVAL;
    case absl::StatusCode::kNotFound: return ENOENT;
    case absl::StatusCode::kAlreadyExists: return EEXIST;
    case absl::StatusCode::kPermissionDenied: return EACCES;
    case absl::StatusCode::kUnauthenticated: return EACCES;
    case absl::StatusCode::kResourceExhausted: return EAGAIN;
    case absl::StatusCode::kFailedPrecondition: return EINVAL;
    case absl::StatusCode::kOutOfRange: return ERANGE;
    case absl::StatusCode::kUnimplemented: return ENOSYS;
    case absl::StatusCode::kDeadlineExceeded: return ETIMEDOUT;
    case absl::StatusCode::kCancelled: return ECANCELED;
    case absl::StatusCode::kUnavailable: return ENOTCONN;
    default: return EIO;
  }
}

}  // namespace

absl::Status ErrnoStatus(int err, absl::string_view what) {
  return ErrnoStatus(err, what, strerror(err));
}

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view words) {
  if (err == 0) return absl::OkStatus();
  const char* name = strerrorname_np(err);
  const std::string named = name != nullptr ? name : absl::StrCat("errno ", err);
  return WithErrno(absl::Status(absl::ErrnoToStatus(err, "").code(),
                                absl::StrCat(what, ": ", words, " (", named, ")")),
                   err);
}

absl::Status SysStatus(long rc, absl::string_view what) {
  if (rc >= 0) return absl::OkStatus();
  return ErrnoStatus(static_cast<int>(-rc), what);
}

absl::Status WithErrno(absl::Status status, int err) {
  if (!status.ok()) status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(err)));
  return status;
}

int ErrnoOf(const absl::Status& status) {
  if (status.ok()) return 0;
  if (auto payload = status.GetPayload(kErrnoPayload)) {
    int err;
    if (absl::SimpleAtoi(std::string(*payload), &err) && err > 0) return err;
  }
  return ErrnoForCode(status.code());
}

bool HasErrno(const absl::Status& status) {
  return status.GetPayload(kErrnoPayload).has_value();
}

absl::Status About(absl::string_view what, const absl::Status& status) {
  if (status.ok()) return status;
  absl::Status about(status.code(), absl::StrCat(what, ": ", status.message()));
  status.ForEachPayload([&about](absl::string_view url, const absl::Cord& payload) {
    about.SetPayload(url, payload);
  });
  return about;
}

}  // namespace lkd
