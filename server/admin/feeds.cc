// SPDX-License-Identifier: GPL-2.0
#include "server/admin/feeds.h"

#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/errno_status.h"
#include "kernel/setup/netlink.h"
#include "kernel/sys.h"
#include "lkd/kernel.h"
#include "server/admin/grpc_status.h"
#include "server/admin/rtnetlink.h"

namespace lkd::admin {
namespace {

// How often the thread looks for new records, events and sessions.
constexpr absl::Duration kPollInterval = absl::Milliseconds(50);

// One /dev/kmsg record, "PRI,SEQ,TS_US,FLAGS[,...];MESSAGE\n" followed by
// continuation lines (" KEY=VALUE") that are left out.
bool ParseKmsg(std::string_view text, v1::KernelLogRecord* out) {
  size_t semi = text.find(';');
  if (semi == std::string_view::npos) return false;
  std::vector<std::string> head = absl::StrSplit(std::string(text.substr(0, semi)), ',');
  if (head.size() < 3) return false;
  uint64_t pri, seq, ts;
  if (!absl::SimpleAtoi(head[0], &pri) || !absl::SimpleAtoi(head[1], &seq) ||
      !absl::SimpleAtoi(head[2], &ts))
    return false;
  std::string_view message = text.substr(semi + 1);
  message = message.substr(0, message.find('\n'));
  out->set_seq(seq);
  out->set_timestamp_us(ts);
  out->set_level(pri & 7);
  out->set_facility(static_cast<uint32_t>(pri >> 3));
  out->set_message(std::string(message));
  return true;
}

v1::Event MakeEvent(v1::EventKind kind, v1::EventAction action, std::string line) {
  v1::Event e;
  e.set_kind(kind);
  e.set_action(action);
  e.set_line(std::move(line));
  return e;
}

v1::EventKind KindOf(const std::string& k) {
  return k == "link"      ? v1::EVENT_KIND_LINK
         : k == "address" ? v1::EVENT_KIND_ADDRESS
         : k == "route"   ? v1::EVENT_KIND_ROUTE
                          : v1::EVENT_KIND_NEIGHBOUR;
}

std::string SessionLine(const server::SessionInfo& s) {
  return absl::StrCat("kernel pid ", s.kernel_pid, " host pid ", s.host_pid, " uid ", s.uid);
}

std::map<int, server::SessionInfo> SessionsNow(const server::SessionRegistry& registry) {
  std::map<int, server::SessionInfo> now;
  for (const server::SessionInfo& s : registry.Snapshot()) now[s.kernel_pid] = s;
  return now;
}

}  // namespace

// What the thread holds in the kernel and remembers between polls; lives
// on the thread's stack, so its fds close on the bound thread.
class Feeds::Sources {
 public:
  Sources(Feeds& feeds)
      : feeds_(feeds),
        // Non-blocking, read from the oldest record the kernel still has.
        kmsg_(Sys(LKD_NR_openat, kAtFdCwd, "/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0)),
        netlink_(Sys(LKD_NR_socket, AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                     NETLINK_ROUTE)) {}

  absl::Status Open() {
    if (!kmsg_.ok()) return SysStatus(kmsg_.get(), "admin feeds: open /dev/kmsg");
    if (!netlink_.ok()) return SysStatus(netlink_.get(), "admin feeds: netlink socket");
    sockaddr_nl groups{};
    groups.nl_family = AF_NETLINK;
    groups.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
                       RTMGRP_IPV6_ROUTE | RTMGRP_NEIGH;
    if (long rc = Sys(LKD_NR_bind, netlink_.get(), &groups, sizeof(groups)); rc < 0)
      return SysStatus(rc, "admin feeds: netlink bind");
    auto names = admin::LinkNames();
    if (!names.ok()) return names.status();
    names_ = std::move(*names);
    sessions_ = SessionsNow(feeds_.sessions_);
    return absl::OkStatus();
  }

  // Publishes the kernel log records written since the last call.
  void PollKernelLog() {
    std::vector<v1::KernelLogRecord> batch;
    char buf[8192];  // a record is at most 1 KiB of text plus its header
    for (;;) {
      long n = Sys(LKD_NR_read, kmsg_.get(), buf, sizeof(buf) - 1);
      if (n == -EPIPE) continue;  // records overwritten under us: go on with the next
      if (n < 0) break;           // -EAGAIN: all read
      v1::KernelLogRecord record;
      if (ParseKmsg(std::string_view(buf, n), &record)) batch.push_back(std::move(record));
    }
    feeds_.log_.Publish(std::move(batch));
  }

  // Publishes the rtnetlink notifications and session changes since the
  // last call.
  void PollEvents() {
    std::vector<v1::Event> batch;
    std::vector<char> buf(65536);
    for (;;) {
      long n = Sys(LKD_NR_recvfrom, netlink_.get(), buf.data(), buf.size(), 0, nullptr, nullptr);
      if (n == -ENOBUFS) {
        // The kernel dropped notifications for lkd's own socket: every
        // subscriber is told (they have all missed them).
        batch.push_back(MakeEvent(v1::EVENT_KIND_LOST, v1::EVENT_ACTION_UNSPECIFIED,
                                  "events lost: lkd fell behind the kernel's notifications"));
        continue;
      }
      if (n < 0) break;  // -EAGAIN: all read
      int left = static_cast<int>(n);
      for (auto* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, left);
           h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) {
          if (auto fresh = admin::LinkNames(); fresh.ok()) names_ = std::move(*fresh);
        }
        if (auto d = admin::Describe(*h, names_))
          batch.push_back(MakeEvent(KindOf(d->kind),
                                    d->gone ? v1::EVENT_ACTION_DELETED : v1::EVENT_ACTION_NEW,
                                    d->line));
      }
    }
    // Sessions come and go in lkd, not in the kernel: compared here.
    std::map<int, server::SessionInfo> now = SessionsNow(feeds_.sessions_);
    for (const auto& [pid, s] : now)
      if (!sessions_.count(pid))
        batch.push_back(MakeEvent(v1::EVENT_KIND_SESSION, v1::EVENT_ACTION_NEW, SessionLine(s)));
    for (const auto& [pid, s] : sessions_)
      if (!now.count(pid))
        batch.push_back(
            MakeEvent(v1::EVENT_KIND_SESSION, v1::EVENT_ACTION_DELETED, SessionLine(s)));
    sessions_ = std::move(now);
    feeds_.events_.Publish(std::move(batch));
  }

  // The state now, as SNAPSHOT events: links, addresses, routes (not the
  // cloned ones), neighbours, sessions.
  absl::StatusOr<std::vector<v1::Event>> Snapshot() {
    std::vector<v1::Event> events;
    for (uint16_t type : {RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH}) {
      rtgenmsg any{};
      any.rtgen_family = AF_UNSPEC;
      setup::NetlinkRequest dump(type, NLM_F_DUMP, any);
      long rc = dump.Exchange([&](const nlmsghdr& h) {
        if (h.nlmsg_type == RTM_NEWROUTE &&
            (static_cast<const rtmsg*>(NLMSG_DATA(&h))->rtm_flags & RTM_F_CLONED))
          return;
        if (auto n = admin::Describe(h, names_))
          events.push_back(MakeEvent(KindOf(n->kind), v1::EVENT_ACTION_SNAPSHOT, n->line));
      });
      if (rc < 0) return SysStatus(rc, "watch events: snapshot");
    }
    for (const auto& [pid, s] : sessions_)
      events.push_back(MakeEvent(v1::EVENT_KIND_SESSION, v1::EVENT_ACTION_SNAPSHOT, SessionLine(s)));
    return events;
  }

 private:
  Feeds& feeds_;
  setup::KernelFd kmsg_;
  setup::KernelFd netlink_;
  std::map<int, std::string> names_;
  std::map<int, server::SessionInfo> sessions_;
};

Feeds::Feeds(server::SessionRegistry& sessions, size_t capacity)
    : sessions_(sessions), log_(capacity, "kernel log"), events_(capacity, "events") {}

absl::StatusOr<std::unique_ptr<Feeds>> Feeds::Start(int kernel_pid,
                                                    server::SessionRegistry& sessions,
                                                    size_t capacity) {
  std::unique_ptr<Feeds> feeds(new Feeds(sessions, capacity));
  feeds->thread_ = std::thread([f = feeds.get(), kernel_pid] { f->Loop(kernel_pid); });
  int started;
  {
    absl::MutexLock lock(&feeds->mu_);
    feeds->mu_.Await(absl::Condition(+[](int* s) { return *s != 1; }, &feeds->started_));
    started = feeds->started_;
  }
  if (started < 0) return ErrnoStatus(-started, "admin feeds: start");  // ~Feeds joins
  return feeds;
}

Feeds::~Feeds() {
  Close();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Feeds::Close() {
  const grpc::Status stopping(grpc::StatusCode::UNAVAILABLE, "lkd is stopping");
  log_.Close(stopping);
  events_.Close(stopping);
}

void Feeds::Post(std::function<void(Sources&)> job) {
  absl::MutexLock lock(&mu_);
  jobs_.push_back(std::move(job));
}

void Feeds::Loop(int kernel_pid) {
  pthread_setname_np(pthread_self(), "lkd-admin-feed");
  int rc = lkd_bind(kernel_pid);
  if (rc < 0) {
    absl::MutexLock lock(&mu_);
    started_ = rc;
    return;
  }
  {
    Sources sources(*this);
    absl::Status opened = sources.Open();
    {
      absl::MutexLock lock(&mu_);
      if (!opened.ok()) fprintf(stderr, "lkd: %s\n", std::string(opened.message()).c_str());
      started_ = opened.ok() ? 0 : -std::max(1, ErrnoOf(opened));
    }
    while (opened.ok()) {
      std::deque<std::function<void(Sources&)>> jobs;
      // Polled only while someone follows: each poll is a call into the
      // kernel, and calls every 50 ms would keep an idle lkd's kernel out
      // of deep idle (its tick running). A new follower's start is a job,
      // which wakes this thread.
      const bool followed = log_.subscribers() > 0 || events_.subscribers() > 0;
      {
        absl::MutexLock lock(&mu_);
        // Wakes at once for a job (a subscriber waiting for its start).
        const absl::Condition ready(
            +[](Feeds* f) ABSL_NO_THREAD_SAFETY_ANALYSIS {
              return f->stopping_ || !f->jobs_.empty();
            },
            this);
        if (followed)
          mu_.AwaitWithTimeout(ready, kPollInterval);
        else
          mu_.Await(ready);
        if (stopping_) break;
        jobs.swap(jobs_);
      }
      if (followed) {
        sources.PollKernelLog();
        sources.PollEvents();
      }
      for (auto& job : jobs) job(sources);
    }
    // Subscribers still waiting for their start: the feeds are closed by
    // now, so attaching them ends them.
    std::deque<std::function<void(Sources&)>> left;
    {
      absl::MutexLock lock(&mu_);
      left.swap(jobs_);
    }
    if (opened.ok())
      for (auto& job : left) job(sources);
  }  // the kernel fds close here, on the bound thread
  lkd_unbind();
}

grpc::ServerWriteReactor<v1::KernelLogRecord>* Feeds::KernelLog(
    const v1::StreamKernelLogRequest& req, std::string who) {
  auto* s = log_.NewPending();
  Feed<v1::KernelLogRecord>::Start start;
  start.who = std::move(who);
  start.from_oldest = true;  // as /dev/kmsg itself: from the oldest record kept
  if (const uint64_t from = req.from_seq(); from > 0)
    start.keep = [from](const v1::KernelLogRecord& r) { return r.seq() >= from; };
  if (req.follow()) {
    log_.Attach(s, std::move(start));
    Post([](Sources&) {});  // wakes the thread, which polls while followed
  } else {
    // Up to what the kernel has logged now: read on the thread first.
    Post([this, s, start = std::move(start)](Sources& sources) mutable {
      sources.PollKernelLog();
      start.stop_at = log_.end();
      log_.Attach(s, std::move(start));
    });
  }
  return s;
}

grpc::ServerWriteReactor<v1::Event>* Feeds::Events(const v1::WatchEventsRequest& req,
                                                   std::string who) {
  auto* s = events_.NewPending();
  Feed<v1::Event>::Start start;
  start.who = std::move(who);
  // On the thread, which also reads the notifications. What the kernel
  // notified while nobody followed is read first, so that it lands before
  // the new follower's position. Then the position, then the state, so
  // that a change in between shows up twice at worst, never not at all.
  const bool snapshot = req.initial_snapshot();
  Post([this, s, snapshot, start = std::move(start)](Sources& sources) mutable {
    sources.PollEvents();
    start.position = events_.end();
    if (!snapshot) {
      events_.Attach(s, std::move(start));
      return;
    }
    absl::StatusOr<std::vector<v1::Event>> snapshot = sources.Snapshot();
    if (!snapshot.ok()) {
      events_.Abandon(s, ToGrpcStatus(snapshot.status()));
      return;
    }
    start.prefix = std::move(*snapshot);
    events_.Attach(s, std::move(start));
  });
  return s;
}

}  // namespace lkd::admin
