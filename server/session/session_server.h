// SPDX-License-Identifier: GPL-2.0
// lkd's session manager: Cap'n Proto RPC (schema/lkd.capnp) on a Unix
// socket. Each connection's peer credentials (SO_PEERCRED) become the
// credentials of the kernel process it attaches to; each channel it opens
// gets a kernel task, served by the dispatcher (channel_dispatcher.h). A connection that goes away
// takes its kernel process with it, as a killed process's fds close on a
// real kernel.
#ifndef LKD_SERVER_SESSION_SESSION_SERVER_H_
#define LKD_SERVER_SESSION_SESSION_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "schema/lkd.capnp.h"
#include "schema/lkd_channel.h"
#include "schema/lkd_defaults.h"
#include "server/session/channel_dispatcher.h"
#include "server/session/session_registry.h"

namespace lkd::server {

struct SessionServerOptions {
  // Filesystem path of the Unix socket (not the unix:// URL).
  std::string socket_path = LKD_DEFAULT_SOCKET_PATH;
  // Mode of the socket file: who may attach at all (the kernel then checks
  // what each attached client may do with its own credentials).
  uint32_t socket_mode = 0666;
  uint32_t channel_data_size = LKD_CHANNEL_DEFAULT_DATA_SIZE;
  ChannelDispatcher::Options dispatcher;
  // Channels (threads) one client may have open at once.
  uint32_t max_channels_per_session = 1024;
  // How long a fork or exec hand-over waits to be claimed.
  uint32_t handover_timeout_s = rpc::HANDOVER_TIMEOUT_SECONDS;
  // How long shutdown waits for the channels' calls to leave the kernel.
  uint32_t shutdown_timeout_s = 10;
};

class SessionServer {
 public:
  explicit SessionServer(SessionServerOptions options);
  ~SessionServer();
  SessionServer(const SessionServer&) = delete;
  SessionServer& operator=(const SessionServer&) = delete;

  // Creates the socket (and its directory). A socket file left by a dead
  // lkd is replaced; one a live server listens on is AlreadyExists.
  absl::Status Listen();

  // Serves on the calling thread until SIGTERM or SIGINT arrives (the
  // caller must have blocked them in every thread: see
  // BlockShutdownSignals), then stops accepting, ends every session (their
  // kernel processes exit, closing their connections) and waits for every
  // channel to be released. Returns the signal that ended it.
  absl::StatusOr<int> Serve();

  // Serves one client already connected on `fd` (a Unix stream socket; the
  // server takes it over) on the calling thread until that client hangs
  // up, then ends its session and drops its pending hand-overs, as Serve()
  // does at shutdown. The peer's credentials come from the socket, as for
  // an accepted client. For the session server's tests and its fuzzer
  // (which feed it bytes a real client never would); lkd uses Listen() and
  // Serve(). Needs no Listen(); not while Serve() runs.
  absl::Status ServeConnectedSocket(int fd);
  // The attached sessions, for the admin plane (any thread).
  SessionRegistry& registry();

  // Call first thing in main(), before any thread exists (the kernel's
  // threads inherit the mask): SIGTERM/SIGINT then reach Serve() only.
  static void BlockShutdownSignals();

  class Impl;  // (public so the session objects in the .cc can name it)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lkd::server

#endif  // LKD_SERVER_SESSION_SESSION_SERVER_H_
