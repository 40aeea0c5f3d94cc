// SPDX-License-Identifier: GPL-2.0
#include "server/admin/grpc_status.h"

#include <cerrno>
#include <cstring>

#include "common/errno_status.h"
#include "schema/admin/v1/common.pb.h"
#include "server/admin/rtnetlink.h"

namespace lkd::admin {

grpc::StatusCode CodeForErrno(int err) {
  switch (err) {
    case 0: return grpc::StatusCode::OK;
    case EEXIST: return grpc::StatusCode::ALREADY_EXISTS;
    case ENOENT:
    case ESRCH:
    case ENODEV:
    case ENXIO:
    case EADDRNOTAVAIL: return grpc::StatusCode::NOT_FOUND;
    case EPERM:
    case EACCES: return grpc::StatusCode::PERMISSION_DENIED;
    case EINVAL:
    case ERANGE:
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
    case EDOM: return grpc::StatusCode::INVALID_ARGUMENT;
    case EBUSY:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN:
    case ENOTEMPTY: return grpc::StatusCode::FAILED_PRECONDITION;
    case ENOMEM:
    case ENOSPC:
    case ENOBUFS:
    case EAGAIN:
    case EMFILE:
    case ENFILE: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case EOPNOTSUPP:
    case ENOSYS: return grpc::StatusCode::UNIMPLEMENTED;
    case ETIMEDOUT: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case ECANCELED: return grpc::StatusCode::CANCELLED;
    case ENOTCONN:
    case ENODATA: return grpc::StatusCode::UNAVAILABLE;
    default: return grpc::StatusCode::UNKNOWN;
  }
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int err = ErrnoOf(status);
  v1::ErrorDetail detail;
  detail.set_errno_value(err);
  const char* name = strerrorname_np(err);
  detail.set_errno_name(name != nullptr ? name : "");
  detail.set_errno_text(strerror(err));
  detail.set_extack(ExtackOf(status));
  // A status made without an errno (a parse error) keeps its own code.
  grpc::StatusCode code = HasErrno(status)
                              ? CodeForErrno(err)
                              : static_cast<grpc::StatusCode>(status.code());
  return grpc::Status(code, std::string(status.message()), detail.SerializeAsString());
}

}  // namespace lkd::admin
