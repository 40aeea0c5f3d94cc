// SPDX-License-Identifier: GPL-2.0
// One shared-memory channel (schema/lkd_channel.h) and the host thread that
// serves it: the worker is a kernel task of the client's kernel process
// (lkd_bind), so a call that blocks (accept, recv) blocks only this client
// thread's worker.
#ifndef LKD_SERVER_SESSION_CHANNEL_WORKER_H_
#define LKD_SERVER_SESSION_CHANNEL_WORKER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "schema/lkd_channel.h"
#include "server/session/session_registry.h"

namespace lkd::server {

// The channel's memory: a sealed memfd (the client cannot shrink it under
// the server, which would turn the server's accesses into SIGBUS) mapped
// shared. The server keeps its own copy of the layout and never rereads
// the control block's layout fields.
class ChannelMemory {
 public:
  static absl::StatusOr<std::unique_ptr<ChannelMemory>> Create(
      uint32_t data_size, uint32_t generation);
  ~ChannelMemory();
  ChannelMemory(const ChannelMemory&) = delete;
  ChannelMemory& operator=(const ChannelMemory&) = delete;

  int fd() const { return fd_; }
  lkd_channel* control() const { return reinterpret_cast<lkd_channel*>(base_); }
  uint8_t* data() const { return base_ + data_offset_; }
  uint32_t data_offset() const { return data_offset_; }
  uint32_t data_size() const { return data_size_; }
  uint32_t generation() const { return generation_; }

 private:
  ChannelMemory(int fd, uint8_t* base, uint32_t data_offset, uint32_t data_size,
                uint32_t generation)
      : fd_(fd), base_(base), data_offset_(data_offset), data_size_(data_size),
        generation_(generation) {}

  int fd_;
  uint8_t* base_;
  uint32_t data_offset_;
  uint32_t data_size_;
  uint32_t generation_;
};

// Counts live worker threads so that shutdown can wait for all of them
// (they run detached: a worker blocked in the kernel ends when its process
// is killed, not when its channel is dropped).
class WorkerSet {
 public:
  void Add();
  void Done();
  // True if every worker ended before the timeout.
  bool WaitIdle(absl::Duration timeout);
  int live() const;
  // The count of workers spinning for their next request now, which every
  // worker's doorbell wait shares to cap spinners (lkd_channel_doorbell.h).
  uint32_t* spinners() { return &spinners_; }

 private:
  mutable absl::Mutex mu_;
  int live_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t spinners_ = 0;  // atomic accesses only
};

// A running worker. Dropping the handle (or Stop) asks the thread to end
// after its current call; the thread owns the channel memory until then.
class ChannelWorker {
 public:
  struct Options {
    // Longest spin for the next request before the worker sleeps on the
    // request doorbell (the doorbell's adaptive policy may spin less, or
    // not at all while spinning does not pay).
    uint64_t spin_ns = 20000;
    // Workers spinning at once, over all channels; one that would exceed
    // it sleeps at once. Spinners beyond the cores take CPU from the
    // threads that do the work (the clients and the kernel).
    uint32_t max_spinners = 2;
  };
  // Starts the thread, which binds itself to a new task of kernel process
  // `pid`. The thread holds `workers` until it has left the kernel and
  // said Done(), so the set outlives it even if the server does not wait
  // (a shutdown whose wait timed out, a server destroyed early).
  // `process_ended` is set when lkd ends the process (client gone, detach,
  // shutdown): a call the kill interrupted then answers -ENOTCONN, as
  // every later call of that client does, instead of whatever the
  // interrupted kernel path returned. The worker counts itself and its
  // calls into `counters` (may be null).
  static std::unique_ptr<ChannelWorker> Start(std::unique_ptr<ChannelMemory> memory,
                                              int pid,
                                              std::shared_ptr<const std::atomic<bool>> process_ended,
                                              std::shared_ptr<WorkerSet> workers,
                                              const Options& options,
                                              std::shared_ptr<SessionCounters> counters = nullptr);
  ~ChannelWorker() { Stop(); }
  void Stop();
  int fd() const;

 private:
  struct State;
  explicit ChannelWorker(std::shared_ptr<State> state) : state_(std::move(state)) {}
  static void Run(std::shared_ptr<State> state, int pid,
                  std::shared_ptr<const std::atomic<bool>> process_ended,
                  std::shared_ptr<WorkerSet> workers, Options options,
                  std::shared_ptr<SessionCounters> counters);

  std::shared_ptr<State> state_;
};

}  // namespace lkd::server

#endif  // LKD_SERVER_SESSION_CHANNEL_WORKER_H_
