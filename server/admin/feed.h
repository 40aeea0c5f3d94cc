// SPDX-License-Identifier: GPL-2.0
// One stream of messages (the kernel log, or events) broadcast to any
// number of gRPC subscribers without a thread per subscriber, and without
// letting a subscriber that does not read hold lkd's memory.
//
// The feed keeps the last `capacity` messages in one ring that all
// subscribers share; a subscriber is a position in it (its queue is the
// part of the ring it has not sent yet, so it is bounded by `capacity`).
// Each subscriber is a gRPC callback reactor with at most one write in
// flight (the callback API's rule): when a write completes it takes the
// next message itself; when the producer publishes, it starts a write on
// every subscriber that is idle. A subscriber whose next message has left
// the ring has fallen `capacity` messages behind: it is dropped, its call
// ends with RESOURCE_EXHAUSTED and a message saying so, and lkd's log
// says who. (gRPC delivers that status after what the transport already
// holds for the subscriber, at most one HTTP/2 window.)
//
// Threads: Publish from one producer thread; Subscribe from any; the
// reactors' reactions run on gRPC's threads. Who acts on a subscriber is
// decided under the feed's mutex: whoever moves it out of the idle state
// performs the gRPC operation that goes with it (a write or Finish) after
// unlocking. gRPC deletes nothing: the reactor deletes itself in OnDone,
// which cannot come before its Finish, and every subscriber has left the
// feed's set by the time Finish is called, so the feed never touches a
// reactor that may be gone.
#ifndef LKD_SERVER_ADMIN_FEED_H_
#define LKD_SERVER_ADMIN_FEED_H_

#include <grpcpp/support/server_callback.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace lkd::admin {

template <typename Msg>
class Feed {
 public:
  // `what` names the stream in messages ("kernel log", "events").
  Feed(size_t capacity, std::string what) : capacity_(capacity), what_(std::move(what)) {}
  Feed(const Feed&) = delete;
  Feed& operator=(const Feed&) = delete;

  // How a subscriber starts and ends.
  struct Start {
    std::string who;          // for lkd's log when it is dropped
    std::vector<Msg> prefix;  // sent first (a snapshot); not bounded by the ring
    // Where in the feed it starts: a position (end() for "from now on"),
    // or, with `from_oldest`, the oldest message still kept.
    uint64_t position = 0;
    bool from_oldest = false;
    // Finish (OK) on reaching this position instead of waiting for more.
    uint64_t stop_at = std::numeric_limits<uint64_t>::max();
    std::function<bool(const Msg&)> keep;  // messages it wants; null: all
  };

  class Subscriber;

  // A subscriber not yet in the feed (its start is being prepared, e.g. a
  // snapshot taken on another thread); Attach or Abandon it exactly once.
  // gRPC owns it (return it from the handler).
  Subscriber* NewPending() { return new Subscriber(*this); }
  // Puts `s` in the feed and starts sending.
  void Attach(Subscriber* s, Start start);
  // Ends a pending subscriber with `status` (its start could not be made).
  void Abandon(Subscriber* s, const grpc::Status& status);

  // The producer: appends `batch`; the oldest messages beyond the capacity
  // are forgotten, and the subscribers that still needed them dropped.
  void Publish(std::vector<Msg> batch);
  // Ends every subscriber with `status`, and those attached later (lkd is
  // stopping).
  void Close(const grpc::Status& status);

  // The position after the newest message.
  uint64_t end() const {
    absl::MutexLock lock(&mu_);
    return end_;
  }
  size_t subscribers() const {
    absl::MutexLock lock(&mu_);
    return set_.size();
  }
  uint64_t dropped() const {
    absl::MutexLock lock(&mu_);
    return dropped_;
  }

  class Subscriber final : public grpc::ServerWriteReactor<Msg> {
   public:
    explicit Subscriber(Feed& feed) : feed_(feed) {}
    void OnWriteDone(bool ok) override { feed_.WriteDone(this, ok); }
    void OnCancel() override { feed_.Cancelled(this); }
    void OnDone() override { delete this; }

   private:
    friend class Feed;
    Feed& feed_;
    // All below guarded by feed_.mu_.
    Start start_;
    std::deque<Msg> prefix_;
    uint64_t cursor_ = 0;
    bool pending_ = true;     // not attached yet: only Attach/Abandon act
    bool cancelled_ = false;  // cancelled while pending
    bool busy_ = false;       // a write in flight
    bool finished_ = false;   // Finish called or about to be
    std::shared_ptr<const Msg> current_;  // what the write in flight sends
  };

 private:
  // What to do to a subscriber once the mutex is released.
  struct Action {
    Subscriber* s;
    bool finish;  // else write s->current_
    grpc::Status status;
  };

  void Run(std::vector<Action>& actions) {
    for (Action& a : actions) {
      if (a.finish) a.s->Finish(a.status);
      else a.s->StartWrite(a.s->current_.get());
    }
  }

  // Ends `s` (under mu_): out of the set, Finish to be called.
  Action FinishLocked(Subscriber* s, grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    s->finished_ = true;
    set_.erase(s);
    return {s, true, std::move(status)};
  }

  grpc::Status DroppedStatus() const {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("lkd dropped this follower of the ", what_,
                                     ": it did not read and fell more than ", capacity_,
                                     " messages behind (the most lkd keeps for a follower)"));
  }

  // The next thing to do for an idle, attached subscriber, if any.
  bool NextLocked(Subscriber* s, Action* action) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (s->finished_ || s->busy_ || s->pending_) return false;
    if (!s->prefix_.empty()) {
      s->current_ = std::make_shared<const Msg>(std::move(s->prefix_.front()));
      s->prefix_.pop_front();
      s->busy_ = true;
      *action = {s, false, {}};
      return true;
    }
    while (s->cursor_ < end_ && s->cursor_ < s->start_.stop_at) {
      if (s->cursor_ < first_) {
        *action = DropLocked(s);
        return true;
      }
      const std::shared_ptr<const Msg>& m = ring_[s->cursor_ - first_];
      s->cursor_++;
      if (s->start_.keep && !s->start_.keep(*m)) continue;
      s->current_ = m;
      s->busy_ = true;
      *action = {s, false, {}};
      return true;
    }
    if (s->cursor_ >= s->start_.stop_at) {
      *action = FinishLocked(s, grpc::Status::OK);
      return true;
    }
    return false;
  }

  Action DropLocked(Subscriber* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    dropped_++;
    fprintf(stderr, "lkd: admin: dropped a follower of the %s (%s): more than %zu messages behind\n",
            what_.c_str(), s->start_.who.c_str(), capacity_);
    return FinishLocked(s, DroppedStatus());
  }

  void Pump(Subscriber* s) {
    std::vector<Action> actions(1);
    {
      absl::MutexLock lock(&mu_);
      if (!NextLocked(s, &actions[0])) return;
    }
    Run(actions);
  }

  void WriteDone(Subscriber* s, bool ok) {
    std::vector<Action> actions;
    {
      absl::MutexLock lock(&mu_);
      s->busy_ = false;
      s->current_.reset();
      if (s->finished_) return;
      if (!ok) {
        actions.push_back(FinishLocked(s, grpc::Status::CANCELLED));
      } else {
        Action next;
        if (NextLocked(s, &next)) actions.push_back(std::move(next));
      }
    }
    Run(actions);
  }

  void Cancelled(Subscriber* s) {
    std::vector<Action> actions;
    {
      absl::MutexLock lock(&mu_);
      if (s->pending_) {
        s->cancelled_ = true;  // Attach or Abandon will finish it
        return;
      }
      if (s->finished_) return;
      actions.push_back(FinishLocked(s, grpc::Status::CANCELLED));
    }
    Run(actions);
  }

  const size_t capacity_;
  const std::string what_;
  mutable absl::Mutex mu_;
  std::deque<std::shared_ptr<const Msg>> ring_ ABSL_GUARDED_BY(mu_);
  uint64_t first_ ABSL_GUARDED_BY(mu_) = 0;  // position of ring_.front()
  uint64_t end_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<Subscriber*> set_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;  // Close called: Attach finishes at once
  grpc::Status close_status_ ABSL_GUARDED_BY(mu_);
};

template <typename Msg>
void Feed<Msg>::Attach(Subscriber* s, Start start) {
  std::vector<Action> actions(1);
  {
    absl::MutexLock lock(&mu_);
    s->pending_ = false;
    if (s->cancelled_) {
      actions[0] = FinishLocked(s, grpc::Status::CANCELLED);
    } else if (closed_) {
      actions[0] = FinishLocked(s, close_status_);
    } else {
      s->prefix_.assign(std::make_move_iterator(start.prefix.begin()),
                        std::make_move_iterator(start.prefix.end()));
      start.prefix.clear();
      s->cursor_ = start.from_oldest ? first_ : std::max(start.position, first_);
      s->start_ = std::move(start);
      set_.insert(s);
      if (!NextLocked(s, &actions[0])) actions.clear();
    }
  }
  Run(actions);
}

template <typename Msg>
void Feed<Msg>::Abandon(Subscriber* s, const grpc::Status& status) {
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    s->pending_ = false;
    s->finished_ = true;
    cancelled = s->cancelled_;
  }
  s->Finish(cancelled ? grpc::Status::CANCELLED : status);
}

template <typename Msg>
void Feed<Msg>::Publish(std::vector<Msg> batch) {
  if (batch.empty()) return;
  std::vector<Action> actions;
  {
    absl::MutexLock lock(&mu_);
    for (Msg& m : batch) ring_.push_back(std::make_shared<const Msg>(std::move(m)));
    end_ += batch.size();
    while (ring_.size() > capacity_) {
      ring_.pop_front();
      first_++;
    }
    // Copied: NextLocked and DropLocked take subscribers out of the set.
    const std::vector<Subscriber*> all(set_.begin(), set_.end());
    for (Subscriber* s : all) {
      Action a;
      if (s->busy_) {
        // Its write is stuck (the client does not read) and its next
        // message is gone: Finish now rather than when the write returns,
        // which may be never.
        if (s->cursor_ < first_) actions.push_back(DropLocked(s));
      } else if (NextLocked(s, &a)) {
        actions.push_back(std::move(a));
      }
    }
  }
  Run(actions);
}

template <typename Msg>
void Feed<Msg>::Close(const grpc::Status& status) {
  std::vector<Action> actions;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    close_status_ = status;
    const std::vector<Subscriber*> all(set_.begin(), set_.end());
    for (Subscriber* s : all) actions.push_back(FinishLocked(s, status));
  }
  Run(actions);
}

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_FEED_H_
