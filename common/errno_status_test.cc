// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "common/errno_status.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace lkd {
namespace {

TEST(ErrnoStatus, CarriesTheErrnoItWasMadeFrom) {
  // Errnos that share a canonical code stay apart.
  for (int err : {ECONNREFUSED, ENOENT, EACCES, EAGAIN, ENOTCONN, EPROTO, EADDRINUSE}) {
    absl::Status s = ErrnoStatus(err, "connect");
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(ErrnoOf(s), err) << s;
    EXPECT_EQ(s.code(), absl::ErrnoToStatus(err, "").code()) << s;
  }
  EXPECT_TRUE(ErrnoStatus(0, "nothing").ok());
}

TEST(ErrnoStatus, MessageIsReadable) {
  absl::Status s = ErrnoStatus(ECONNREFUSED, "cannot reach lkd at /x");
  EXPECT_EQ(s.message(), "cannot reach lkd at /x: Connection refused (ECONNREFUSED)");
  absl::Status explained = ErrnoStatus(EBUSY, "umount /data", "files open on it");
  EXPECT_EQ(explained.message(), "umount /data: files open on it (EBUSY)");
  EXPECT_EQ(explained.code(), absl::ErrnoToStatus(EBUSY, "").code());
  EXPECT_EQ(ErrnoOf(explained), EBUSY);
}

TEST(SysStatus, TakesNegativeErrnoResults) {
  EXPECT_TRUE(SysStatus(0, "open").ok());
  EXPECT_TRUE(SysStatus(3, "open").ok());
  absl::Status s = SysStatus(-EEXIST, "mkdir /a");
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoOf(s), EEXIST);
}

TEST(ErrnoOf, WithoutPayloadFollowsTheCode) {
  EXPECT_EQ(ErrnoOf(absl::OkStatus()), 0);
  EXPECT_EQ(ErrnoOf(absl::InvalidArgumentError("x")), EINVAL);
  EXPECT_EQ(ErrnoOf(absl::ResourceExhaustedError("x")), EAGAIN);
  EXPECT_EQ(ErrnoOf(absl::UnavailableError("x")), ENOTCONN);
  EXPECT_EQ(ErrnoOf(absl::UnimplementedError("x")), ENOSYS);
  EXPECT_EQ(ErrnoOf(absl::InternalError("x")), EIO);
}

TEST(WithErrno, KeepsCodeAndMessage) {
  absl::Status s = WithErrno(absl::UnavailableError("lkd: too busy"), EAGAIN);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "lkd: too busy");
  EXPECT_EQ(ErrnoOf(s), EAGAIN);
  EXPECT_TRUE(WithErrno(absl::OkStatus(), EAGAIN).ok());
}

TEST(About, PrefixesAndKeepsTheErrno) {
  absl::Status s = About("nic 0 (tap)", ErrnoStatus(EPERM, "open /dev/net/tun"));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "nic 0 (tap): open /dev/net/tun: Operation not permitted (EPERM)");
  EXPECT_EQ(ErrnoOf(s), EPERM);
  EXPECT_TRUE(About("x", absl::OkStatus()).ok());
}

}  // namespace
}  // namespace lkd
