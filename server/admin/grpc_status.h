// SPDX-License-Identifier: GPL-2.0
// absl::Status -> grpc::Status: the one place the admin plane translates
// its errors for the wire. The code follows the errno the status carries
// (EEXIST: ALREADY_EXISTS, ENOENT/ESRCH/ENODEV: NOT_FOUND, EPERM/EACCES:
// PERMISSION_DENIED, EINVAL: INVALID_ARGUMENT, EBUSY: FAILED_PRECONDITION,
// ...), and the details carry a serialized lkd.admin.v1.ErrorDetail with
// the errno, its name and text and the kernel's extended-ack message, so a
// client prints the kernel's words without parsing ours.
#ifndef LKD_SERVER_ADMIN_GRPC_STATUS_H_
#define LKD_SERVER_ADMIN_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace lkd::admin {

// The gRPC code for an errno (0: OK).
grpc::StatusCode CodeForErrno(int err);

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_GRPC_STATUS_H_
