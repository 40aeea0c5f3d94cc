// SPDX-License-Identifier: GPL-2.0
// Serving the shared-memory channels (schema/lkd_channel.h) of every client
// from a few host threads.
//
// Each channel has a kernel task of its client's kernel process
// (lkd_task_create). A dispatch thread polls up to kChannelsPerThread
// channels: it takes every new request it finds in a pass, checks it
// (request_decoder.h) and submits it to the channel's task
// (lkd_task_submit) without waiting. A call that completes at once is
// answered before the submission returns; a call that blocks (accept,
// recv, epoll_wait) holds no host thread, and the host thread that
// completes it in the kernel (whichever one runs the kernel then, often
// the dispatch thread itself) answers the client straight from the kernel:
// one wake-up per direction, none when the other side spins. Attached
// client threads cost a channel and a kernel task each, not a host thread.
//
// While several clients are busy at once, a waker thread wakes the
// sleeping ones for the threads that answer them, so the kernel's CPU does
// not wait for those wake-ups (Waker in channel_dispatcher.cc).
//
// A dispatch thread spins for a while after its last request (adaptively,
// as the doorbells do: lkd_channel_doorbell.h), then sleeps on every
// channel's request doorbell at once (futex_waitv), so an idle lkd costs no
// CPU and a ring from any client wakes it with one FUTEX_WAKE.
//
// Creating and releasing tasks, and asking the kernel why a call found its
// process gone, are calls that may wait: a separate thread does them, so
// the dispatch threads never wait for anything but the kernel's CPU.
#ifndef LKD_SERVER_SESSION_CHANNEL_DISPATCHER_H_
#define LKD_SERVER_SESSION_CHANNEL_DISPATCHER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "schema/lkd_channel.h"
#include "server/session/session_registry.h"

namespace lkd::server {

// A memfd named `name` of `size` bytes, sealed so that no client it is
// handed to can shrink or grow it under lkd and its other clients (a
// shrink would turn accesses into SIGBUS). Close-on-exec.
absl::StatusOr<int> CreateSealedMemfd(const char* name, size_t size);

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

class DispatchedChannel;

// The dispatch threads and the task thread of one session server. Its
// threads hold what they share, so channels and threads may outlive the
// dispatcher object (a shutdown whose wait timed out); they end once the
// dispatcher is gone and every channel has been released.
class ChannelDispatcher {
 public:
  struct Options {
    // Longest spin of a dispatch thread after its last request before it
    // sleeps (the adaptive policy may spin less, or not at all while
    // spinning does not pay). At most 2 dispatch threads spin at once.
    uint64_t spin_ns = 20000;
    // Whether a waker thread takes over waking sleeping clients while
    // several are busy at once (Waker in channel_dispatcher.cc); if not,
    // the thread that completes a call always wakes its client itself.
    bool waker = true;
    // Whether the waker thread runs on the dispatch threads' CPUs (`cpus`,
    // if any) rather than beside the clients: there it takes time from
    // their polling, not from the clients whose CPU is the busy one.
    bool waker_on_dispatch_cpus = true;
    // Host CPUs the dispatch threads are pinned to while busy, one CPU
    // each in turn (empty: never pinned; DispatchPin in the .cc). Clients
    // are told (Gate.attach's kernelCpus) and keep off them.
    std::vector<int> cpus;
  };
  // futex_waitv waits on at most 128 words: the thread's own and one
  // request doorbell per channel.
  static constexpr int kChannelsPerThread = 127;

  explicit ChannelDispatcher(const Options& options);
  ~ChannelDispatcher();
  ChannelDispatcher(const ChannelDispatcher&) = delete;
  ChannelDispatcher& operator=(const ChannelDispatcher&) = delete;

  // Starts serving `memory` for kernel process `pid`: its task is created
  // on the task thread, then a dispatch thread takes the channel (a
  // request rung meanwhile is served then). `process_ended` is set when
  // lkd ends the process (client gone, detach, shutdown): a call the kill
  // interrupted then answers -ENOTCONN, as every later call of that client
  // does, instead of whatever the interrupted kernel path returned. Calls
  // and the channel are counted into `counters` (may be null). Dropping
  // the handle stops serving after the call in flight, if any.
  std::unique_ptr<DispatchedChannel> Serve(
      std::unique_ptr<ChannelMemory> memory, int pid,
      std::shared_ptr<const std::atomic<bool>> process_ended,
      std::shared_ptr<SessionCounters> counters = nullptr);

  // True if every channel was released (its task gone, its memory
  // unmapped) before the timeout.
  bool WaitIdle(absl::Duration timeout);
  // Channels not yet released.
  int live() const;
  // Dispatch threads running now.
  int threads() const;

  struct Core;
  struct Channel;

 private:
  std::shared_ptr<Core> core_;
};

// A served channel. Dropping it asks the dispatcher to stop serving it once
// no call of it is in flight; its task and memory go then.
class DispatchedChannel {
 public:
  ~DispatchedChannel();
  DispatchedChannel(const DispatchedChannel&) = delete;
  DispatchedChannel& operator=(const DispatchedChannel&) = delete;
  int fd() const;

 private:
  friend class ChannelDispatcher;
  explicit DispatchedChannel(std::shared_ptr<ChannelDispatcher::Channel> channel)
      : channel_(std::move(channel)) {}
  std::shared_ptr<ChannelDispatcher::Channel> channel_;
};

}  // namespace lkd::server

#endif  // LKD_SERVER_SESSION_CHANNEL_DISPATCHER_H_
