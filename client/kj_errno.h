// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The session's Cap'n Proto errors, as this client's callers see them: the
// one place a kj::Exception becomes an errno. lkd says what the caller
// should do with the exception's type (server/session/session_server.cc),
// never with its text:
//   OVERLOADED     a limit was reached (--max_client_threads), the session
//                  lives on                                       EAGAIN
//   DISCONNECTED   the session is gone or was detached           ENOTCONN
//   UNIMPLEMENTED  lkd does not know the request                 ENOSYS
//   FAILED         lkd refused the request (bad version, cookie, a
//                  malformed answer)                              EPROTO
#ifndef LKD_CLIENT_KJ_ERRNO_H_
#define LKD_CLIENT_KJ_ERRNO_H_

#include <kj/exception.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace lkd::client {

// The errno for an exception of type `type` (table above).
int ErrnoForKj(kj::Exception::Type type);

// "<what>: <description> (EAGAIN)", with the code of ErrnoForKj's errno
// and that errno carried (common/errno_status.h: ErrnoOf reads it back).
absl::Status KjStatus(const kj::Exception& exception, absl::string_view what);

}  // namespace lkd::client

#endif  // LKD_CLIENT_KJ_ERRNO_H_
