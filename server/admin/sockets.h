// SPDX-License-Identifier: GPL-2.0
// The kernel's TCP and UDP sockets, as ss(8) lists them: a sock_diag dump
// (NETLINK_SOCK_DIAG, inet_diag) of the calling task's network namespace,
// each socket joined with the sessions whose kernel process holds it (from
// /proc/PID/fd in the kernel). Runs on the admin plane's kernel worker.
#ifndef LKD_SERVER_ADMIN_SOCKETS_H_
#define LKD_SERVER_ADMIN_SOCKETS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "schema/admin/v1/sockets.pb.h"
#include "server/session/session_registry.h"

namespace lkd::admin {

absl::StatusOr<std::vector<v1::Socket>> ListSockets(
    const v1::ListSocketsRequest& request, const std::vector<server::SessionInfo>& sessions);

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_SOCKETS_H_
