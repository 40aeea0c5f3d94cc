// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// A listening Unix stream socket at a path, as lkd's servers (the session
// socket, the admin socket) each need one: parent directories made, a
// socket file left by a dead server replaced, a live one never taken over.
#ifndef LKD_COMMON_UNIX_LISTENER_H_
#define LKD_COMMON_UNIX_LISTENER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace lkd {

// Binds and listens on `path` (SOCK_CLOEXEC | SOCK_NONBLOCK, `backlog`),
// then sets the file's mode to `mode` (only possible after bind; nobody
// can connect before listen, so there is no window). If the path is taken
// by a socket nobody listens on, it is replaced; if somebody answers,
// AlreadyExists "another lkd is serving PATH". `what` names the socket in
// errors ("admin socket"). Returns the fd.
absl::StatusOr<int> ListenUnixSocket(const std::string& path, uint32_t mode, int backlog,
                                     const std::string& what);

}  // namespace lkd

#endif  // LKD_COMMON_UNIX_LISTENER_H_
