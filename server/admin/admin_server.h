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
// does): by default everyone may connect, and the role decides.
//
// Optionally the same services listen on TCP too, with mutual TLS only:
// a client must present a certificate signed by the configured client CA,
// and the names it carries (SAN or CN) decide its role. gRPC re-reads the
// three TLS files when they change (polled), so certificates rotate
// without a restart; SIGHUP makes lkd take them at once (it must be
// blocked in every thread, as lkd's main() does before any exists: the
// accept loop reads it from a signalfd). There is no way to ask for TCP
// without TLS here.
//
// Threads: the accept loop (and the SIGHUP reload) is a libuv loop on a
// thread of its own; gRPC serves calls on its own thread pool; the kernel
// work of calls runs on the plane's kernel worker, that of followed
// streams on the feeds' thread (feeds.h); packet captures bind the gRPC
// thread that serves them.
#ifndef LKD_SERVER_ADMIN_ADMIN_SERVER_H_
#define LKD_SERVER_ADMIN_ADMIN_SERVER_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/admin/feeds.h"
#include "server/admin/plane.h"
#include "server/admin/roles.h"
#include "server/session/session_registry.h"

namespace lkd::admin {

inline constexpr char kDefaultAdminSocket[] = "/run/lkd/admin.sock";

// The TCP listener: its address and the PEM files of its mutual TLS.
struct TlsListenOptions {
  std::string address;         // "ADDR:PORT", as gRPC takes it
  std::string cert_path;       // lkd's certificate (chain)
  std::string key_path;        // its private key
  std::string client_ca_path;  // the CA(s) that sign clients' certificates
  CertPolicy policy;
  // How often gRPC checks the three files for changes (at least 1).
  unsigned reload_interval_s = 10;
};

// Whether the TCP listener's three TLS files can be read and are PEM, so
// that lkd can refuse them before it boots (and `lkd --check` too):
// InvalidArgument or the errno's code, naming the file.
absl::Status CheckTlsFiles(const TlsListenOptions& tls);

struct AdminOptions {
  std::string socket_path = kDefaultAdminSocket;  // a path, not a URL
  uint32_t socket_mode = 0666;
  RolePolicy policy;
  std::optional<TlsListenOptions> tcp;  // none: no TCP listener
  // Messages kept per followed stream (kernel log, events), and so the
  // most a follower may fall behind before it is dropped.
  size_t feed_capacity = kDefaultFeedCapacity;
};

class AdminServer {
 public:
  // Binds the socket (a stale one left by a dead lkd is replaced; a live
  // one is AlreadyExists) and the TCP listener if asked for (its TLS files
  // must be readable PEM files: InvalidArgument naming the file), creates the plane's kernel process and starts
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
