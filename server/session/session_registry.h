// SPDX-License-Identifier: GPL-2.0
// The attached sessions as others may see them: a thread-safe table the
// session server writes (attach, detach) and its channel workers count
// into, and the admin plane reads and kills from on its own threads.
//
// Only facts live here (pids, uid, counters); the sessions themselves stay
// owned by the session server's event loop. Killing one ends its kernel
// process from the calling thread (lkd_proc_exit, as SIGKILL would): its
// workers' calls then answer ENOTCONN, and the session itself goes when
// its client detaches or disconnects.
#ifndef LKD_SERVER_SESSION_SESSION_REGISTRY_H_
#define LKD_SERVER_SESSION_SESSION_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/session/call_latency.h"

namespace lkd::server {

// Who woke clients that slept for their answers (channel_dispatcher.cc,
// Waker): the thread that completed the call, or the waker thread.
struct ClientWakes {
  std::atomic<uint64_t> by_answering_thread{0};
  std::atomic<uint64_t> by_waker{0};
};

// What a session's channels count, from the threads that serve them.
struct SessionCounters {
  std::atomic<uint64_t> calls{0};
  std::atomic<uint32_t> threads{0};  // channels (client threads) with a task now
  // Data the client handed the kernel (write, send*, pwrite) and got back
  // from it (read, recv*, pread): the results of those calls.
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> bytes_received{0};
  // Every session's calls go into the registry's one histogram, and its
  // wake-ups into its one count.
  std::shared_ptr<CallLatency> latency;
  std::shared_ptr<ClientWakes> wakes;
};

struct SessionInfo {
  int kernel_pid = 0;
  int host_pid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t threads = 0;
  uint64_t calls = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  absl::Time started;
};

class SessionRegistry {
 public:
  struct Registration {
    uint64_t id = 0;  // for Remove: a kernel pid outlives an exec hand-over
    std::shared_ptr<SessionCounters> counters;  // for the session's workers
  };
  // A session attached as kernel process `kernel_pid`; `ended` is the
  // process's flag that makes its workers answer ENOTCONN once lkd ended
  // it.
  Registration Add(int kernel_pid, int host_pid, uint32_t uid, uint32_t gid,
                   std::shared_ptr<std::atomic<bool>> ended);
  // The session detached; a no-op if it is not listed.
  void Remove(uint64_t id);

  // The credentials every session of kernel process `kernel_pid` now has
  // (after a set*id call that lkd spread to the whole process).
  void SetCredentials(int kernel_pid, uint32_t uid, uint32_t gid);

  // Every attached session, by kernel pid.
  std::vector<SessionInfo> Snapshot() const;
  size_t size() const;

  // The latency of every session's calls (call_latency.h).
  const CallLatency& latency() const { return *latency_; }
  // Who woke every session's sleeping clients.
  const ClientWakes& wakes() const { return *wakes_; }

  // Ends the kernel process of the session(s) of `kernel_pid` (NotFound if
  // none). The entry stays until the session server removes it.
  absl::Status Kill(int kernel_pid);

 private:
  struct Entry {
    SessionInfo info;
    std::shared_ptr<SessionCounters> counters;
    std::shared_ptr<std::atomic<bool>> ended;
  };
  mutable absl::Mutex mu_;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  const std::shared_ptr<CallLatency> latency_ = std::make_shared<CallLatency>();
  const std::shared_ptr<ClientWakes> wakes_ = std::make_shared<ClientWakes>();
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace lkd::server

#endif  // LKD_SERVER_SESSION_SESSION_REGISTRY_H_
