// SPDX-License-Identifier: GPL-2.0
// The admin plane's followed streams, the kernel log and events (links,
// addresses, routes, neighbours, sessions), each read once from the
// kernel and broadcast to every subscriber through a bounded Feed
// (feed.h), so that a thousand followers cost a thousand positions in a
// ring, not a thousand threads polling the kernel.
//
// Threads: one host thread ("lkd-admin-feed"), bound to the plane's
// kernel process, reads /dev/kmsg and an rtnetlink socket every 50 ms
// (polled from the host: a kernel wait with a timeout from the admin
// plane's task does not return in lkd, see README's Known limits),
// compares the session list, publishes what is new, and runs the jobs
// that need the kernel to start a subscriber (a snapshot). The call
// handlers (gRPC's threads) never wait for the kernel.
#ifndef LKD_SERVER_ADMIN_FEEDS_H_
#define LKD_SERVER_ADMIN_FEEDS_H_

#include <grpcpp/support/server_callback.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "schema/admin/v1/observe.pb.h"
#include "server/admin/feed.h"
#include "server/session/session_registry.h"

namespace lkd::admin {

// The most messages kept per stream, and so the most a subscriber may
// fall behind before it is dropped.
inline constexpr size_t kDefaultFeedCapacity = 4096;

class Feeds {
 public:
  // Starts the thread, bound to kernel process `kernel_pid`. `sessions`
  // must outlive the Feeds.
  static absl::StatusOr<std::unique_ptr<Feeds>> Start(int kernel_pid,
                                                      server::SessionRegistry& sessions,
                                                      size_t capacity);
  // Close(), then stops the thread. After the gRPC server is gone: its
  // reactors borrow the feeds.
  ~Feeds();
  Feeds(const Feeds&) = delete;
  Feeds& operator=(const Feeds&) = delete;

  // Ends every subscriber (UNAVAILABLE: lkd is stopping), so that the gRPC
  // server's shutdown does not wait for followers that never end.
  void Close();

  // The reactor for one call; `who` names the caller in lkd's log. gRPC
  // owns what these return.
  grpc::ServerWriteReactor<v1::KernelLogRecord>* KernelLog(const v1::StreamKernelLogRequest& req,
                                                           std::string who);
  grpc::ServerWriteReactor<v1::Event>* Events(const v1::WatchEventsRequest& req, std::string who);

  const Feed<v1::KernelLogRecord>& kernel_log() const { return log_; }
  const Feed<v1::Event>& events() const { return events_; }

 private:
  Feeds(server::SessionRegistry& sessions, size_t capacity);
  // The thread's body: binds, opens its kernel fds, then polls and runs
  // jobs until stopping.
  void Loop(int kernel_pid);
  class Sources;  // the thread's kernel fds and what it remembers
  // Runs `job` on the thread, bound to the kernel, at its next wake-up.
  void Post(std::function<void(Sources&)> job);

  server::SessionRegistry& sessions_;
  Feed<v1::KernelLogRecord> log_;
  Feed<v1::Event> events_;

  absl::Mutex mu_;
  std::deque<std::function<void(Sources&)>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int started_ ABSL_GUARDED_BY(mu_) = 1;  // 1 not yet, 0 running, -errno failed
  std::thread thread_;
};

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_FEEDS_H_
