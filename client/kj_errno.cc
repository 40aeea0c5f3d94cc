// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "client/kj_errno.h"

#include <cerrno>

#include "common/errno_status.h"

namespace lkd::client {

int ErrnoForKj(kj::Exception::Type type) {
  switch (type) {
    case kj::Exception::Type::OVERLOADED: return EAGAIN;
    case kj::Exception::Type::DISCONNECTED: return ENOTCONN;
    case kj::Exception::Type::UNIMPLEMENTED: return ENOSYS;
    case kj::Exception::Type::FAILED: break;
  }
  return EPROTO;
}

absl::Status KjStatus(const kj::Exception& exception, absl::string_view what) {
  return ErrnoStatus(ErrnoForKj(exception.getType()), what,
                     exception.getDescription().cStr());
}

}  // namespace lkd::client
