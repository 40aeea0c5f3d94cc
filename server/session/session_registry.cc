// SPDX-License-Identifier: GPL-2.0
#include "server/session/session_registry.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "lkd/kernel.h"

namespace lkd::server {

SessionRegistry::Registration SessionRegistry::Add(int kernel_pid, int host_pid, uint32_t uid,
                                                   uint32_t gid,
                                                   std::shared_ptr<std::atomic<bool>> ended) {
  auto counters = std::make_shared<SessionCounters>();
  counters->latency = latency_;
  counters->wakes = wakes_;
  absl::MutexLock lock(&mu_);
  uint64_t id = next_id_++;
  Entry& e = entries_[id];
  e.info.kernel_pid = kernel_pid;
  e.info.host_pid = host_pid;
  e.info.uid = uid;
  e.info.gid = gid;
  e.info.started = absl::Now();
  e.counters = counters;
  e.ended = std::move(ended);
  return {id, counters};
}

void SessionRegistry::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  entries_.erase(id);
}

std::vector<SessionInfo> SessionRegistry::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::vector<SessionInfo> out;
  out.reserve(entries_.size());
  for (const auto& [id, e] : entries_) {
    SessionInfo info = e.info;
    info.calls = e.counters->calls.load(std::memory_order_relaxed);
    info.threads = e.counters->threads.load(std::memory_order_relaxed);
    info.bytes_sent = e.counters->bytes_sent.load(std::memory_order_relaxed);
    info.bytes_received = e.counters->bytes_received.load(std::memory_order_relaxed);
    out.push_back(info);
  }
  return out;
}

void SessionRegistry::SetCredentials(int kernel_pid, uint32_t uid, uint32_t gid) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, e] : entries_) {
    if (e.info.kernel_pid != kernel_pid) continue;
    e.info.uid = uid;
    e.info.gid = gid;
  }
}

size_t SessionRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

absl::Status SessionRegistry::Kill(int kernel_pid) {
  std::shared_ptr<std::atomic<bool>> ended;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, e] : entries_)
      if (e.info.kernel_pid == kernel_pid) ended = e.ended;
    if (ended == nullptr)
      return ErrnoStatus(ESRCH, absl::StrCat("kill session ", kernel_pid), "no such session");
  }
  // Set first, so a call the kill interrupts answers ENOTCONN (as every
  // later one does) rather than what the interrupted kernel path returned.
  ended->store(true, std::memory_order_release);
  // Outside the lock: lkd_proc_exit waits for the process's threads.
  int rc = lkd_proc_exit(kernel_pid);
  if (rc < 0 && rc != -ESRCH) return SysStatus(rc, absl::StrCat("kill session ", kernel_pid));
  return absl::OkStatus();
}

}  // namespace lkd::server
