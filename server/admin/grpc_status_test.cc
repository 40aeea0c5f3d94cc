// SPDX-License-Identifier: GPL-2.0
#include "server/admin/grpc_status.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"
#include "schema/admin/v1/common.pb.h"

namespace lkd::admin {
namespace {

TEST(GrpcStatus, ErrnosMapToTheirCodes) {
  EXPECT_EQ(CodeForErrno(0), grpc::StatusCode::OK);
  EXPECT_EQ(CodeForErrno(EEXIST), grpc::StatusCode::ALREADY_EXISTS);
  for (int e : {ENOENT, ESRCH, ENODEV}) EXPECT_EQ(CodeForErrno(e), grpc::StatusCode::NOT_FOUND) << e;
  for (int e : {EPERM, EACCES}) EXPECT_EQ(CodeForErrno(e), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(CodeForErrno(EINVAL), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CodeForErrno(EBUSY), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(GrpcStatus, CarriesTheErrnoInItsDetails) {
  grpc::Status s = ToGrpcStatus(ErrnoStatus(EEXIST, "add address 10.0.2.2/24 dev eth0"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(s.error_message(), "add address 10.0.2.2/24 dev eth0: File exists (EEXIST)");
  v1::ErrorDetail d;
  ASSERT_TRUE(d.ParseFromString(s.error_details()));
  EXPECT_EQ(d.errno_value(), EEXIST);
  EXPECT_EQ(d.errno_name(), "EEXIST");
  EXPECT_EQ(d.errno_text(), "File exists");
}

TEST(GrpcStatus, EbusyIsAPreconditionNotUnavailable) {
  // absl's own errno mapping says UNAVAILABLE, which tells clients to retry.
  EXPECT_EQ(ToGrpcStatus(ErrnoStatus(EBUSY, "x")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(GrpcStatus, StatusWithoutErrnoKeepsItsCode) {
  grpc::Status s = ToGrpcStatus(absl::FailedPreconditionError("no kernel"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace lkd::admin
