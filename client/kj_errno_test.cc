// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "client/kj_errno.h"

#include <cerrno>

#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace lkd::client {
namespace {

kj::Exception Make(kj::Exception::Type type, const char* text) {
  return kj::Exception(type, __FILE__, __LINE__, kj::heapString(text));
}

TEST(ErrnoForKj, EachTypeTellsTheCallerWhatToDo) {
  EXPECT_EQ(ErrnoForKj(kj::Exception::Type::OVERLOADED), EAGAIN);
  EXPECT_EQ(ErrnoForKj(kj::Exception::Type::DISCONNECTED), ENOTCONN);
  EXPECT_EQ(ErrnoForKj(kj::Exception::Type::UNIMPLEMENTED), ENOSYS);
  EXPECT_EQ(ErrnoForKj(kj::Exception::Type::FAILED), EPROTO);
}

TEST(KjStatus, CarriesTheErrnoAndTheDescription) {
  absl::Status busy =
      KjStatus(Make(kj::Exception::Type::OVERLOADED, "too many channels (4)"),
               "lkd: opening a channel");
  EXPECT_EQ(ErrnoOf(busy), EAGAIN);
  EXPECT_EQ(busy.code(), absl::StatusCode::kUnavailable);  // as EAGAIN's
  EXPECT_NE(busy.message().find("lkd: opening a channel: "), absl::string_view::npos);
  EXPECT_NE(busy.message().find("too many channels (4)"), absl::string_view::npos);

  absl::Status gone = KjStatus(Make(kj::Exception::Type::DISCONNECTED, "session detached"),
                               "lkd: fork");
  EXPECT_EQ(ErrnoOf(gone), ENOTCONN);

  absl::Status refused =
      KjStatus(Make(kj::Exception::Type::FAILED, "unknown or expired hand-over cookie"),
               "lkd: attach failed");
  EXPECT_EQ(ErrnoOf(refused), EPROTO);

  EXPECT_EQ(ErrnoOf(KjStatus(Make(kj::Exception::Type::UNIMPLEMENTED, "no such method"),
                             "lkd: exec")),
            ENOSYS);
}

}  // namespace
}  // namespace lkd::client
