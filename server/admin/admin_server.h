// SPDX-License-Identifier: GPL-2.0
// lkd's admin plane (issue #13): the gRPC services of schema/admin/v1 on
// a local Unix socket of their own, separate from the session socket.
//
// Who may do what is decided per connection from the peer's credentials:
// gRPC 1.51 does not tell a handler who is on the other end of a Unix
// socket, so the server accepts connections itself (accept4, SO_PEERCRED,
// the peer's groups), picks the role, and hands the fd to gRPC through
// the acceptor of that role, whose credentials stamp the role on every
// call (roles.h, plane.h). The socket is chmod'ed after bind (gRPC never
// does): by default everyone may connect, and the role decides. Never TCP.
//
// Threads: the accept loop is a libuv loop on a thread of its own; gRPC
// serves calls on its own thread pool; all kernel work runs on the plane's
// kernel worker.
#ifndef LKD_SERVER_ADMIN_ADMIN_SERVER_H_
#define LKD_SERVER_ADMIN_ADMIN_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/admin/plane.h"
#include "server/admin/roles.h"
#include "server/session/session_registry.h"

namespace lkd::admin {

inline constexpr char kDefaultAdminSocket[] = "/run/lkd/admin.sock";

struct AdminOptions {
  std::string socket_path = kDefaultAdminSocket;  // a path, not a URL
  uint32_t socket_mode = 0666;
  RolePolicy policy;
};

class AdminServer {
 public:
  // Binds the socket (a stale one left by a dead lkd is replaced; a live
  // one is AlreadyExists), creates the plane's kernel process and starts
  // serving. The kernel must be running; `sessions` must outlive the
  // server.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(AdminOptions options,
                                                            SystemFacts facts,
                                                            server::SessionRegistry& sessions);
  // Stop().
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Stops accepting, ends the calls in flight (they fail UNAVAILABLE after
  // a short grace period), removes the socket and ends the kernel process.
  // Call before the kernel halts. Idempotent.
  void Stop();

  class Impl;

 private:
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_ADMIN_SERVER_H_
