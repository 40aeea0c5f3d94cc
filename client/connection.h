// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The client side of lkd's transport: one Connection per host process,
// attached to one kernel process inside lkd (schema/lkd.capnp), and one
// shared-memory channel (schema/lkd_channel.h) per calling thread, created
// on the thread's first call.
//
// The session's Cap'n Proto RPC runs on a thread of its own (kj event
// loops belong to one thread; calls come from any thread). System calls
// never touch it: they go through the caller's channel. When the session
// socket goes away (lkd killed or stopped), that thread marks the
// connection dead and rings every channel, so blocked and later calls fail
// at once with -ENOTCONN instead of hanging.
#ifndef LKD_CLIENT_CONNECTION_H_
#define LKD_CLIENT_CONNECTION_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "schema/lkd_defaults.h"
#include "absl/status/statusor.h"
#include "client/call_trace.h"

namespace lkd::client {

// "unix:///run/lkd/lkd.sock" (default), or a plain absolute path. Another
// scheme is InvalidArgument.
absl::StatusOr<std::string> SocketPathFromUrl(const std::string& url);
inline constexpr char kDefaultServer[] = LKD_DEFAULT_SERVER;

struct ConnectionOptions {
  // Longest spin before sleeping on the response doorbell (the doorbell's
  // adaptive policy may spin less, or not at all while spinning does not
  // pay: schema/lkd_channel_doorbell.h). Used when lkd hands out its spin
  // board (SpinBoard in schema/lkd.capnp): then at most
  // `machine_max_spinners` client threads spin on the whole machine, so
  // spinning never takes every CPU from the processes the answers wait
  // for, and a spin long enough to cover a busy lkd's answer pays. One,
  // on the 2 CPUs we measure on: two let nginx and wrk under lkrun both
  // spin (28.6-32.0 k req/s against 17.3-24.4 k), but with lkd's dispatch
  // thread that is three spinners on two CPUs, and an accepting server
  // then falls behind its connecting client until SYNs are dropped
  // (proxy_conn_per_s 0.5-0.8 k/s against 13-40 k), and request/response
  // with one client halves (LKD_CLIENT_SPINNERS sets it per program).
  uint64_t spin_ns = 20000;
  uint32_t machine_max_spinners = 1;
  // A call whose doorbell found lkd's dispatch thread asleep spins at
  // most this long: its answer comes no sooner than that thread's wake-up,
  // and the spinning thread would hold the CPU it wakes on.
  uint64_t cold_spin_ns = 2000;
  // Without a spin board (an older lkd): the longest spin, and the
  // threads of this connection spinning at once (one that would exceed it
  // sleeps at once). Short: a client spinning longer takes a core from
  // lkd's threads. Measured on 2 cores (proxy_bench, null call p50): 2 us
  // spin ~15 us, 20 us spin ~130 us.
  uint64_t spin_ns_alone = 2000;
  uint32_t max_spinners = 2;
  // When set, every call asks lkd for its timestamps and this is called
  // on the calling thread after the call (after each piece of a chunked
  // one) with them (call_trace.h). Unset, tracing costs one branch.
  std::function<void(const CallTrace&)> trace;
  // Called on the calling thread when a signal handler interrupted its
  // wait for lkd's answer to call `nr` (the system call number): true
  // asks lkd to interrupt the call in the kernel, which then answers
  // -EINTR unless it completed first, as Linux ends a call that is not
  // restarted; false (or unset) lets the call go on, as a restart would.
  // A signal that comes while the thread still spins for a short answer
  // is not seen here.
  std::function<bool(long nr)> cancel_on_signal;
  // Whether the process keeps its threads off the host CPUs lkd pinned
  // its dispatch threads to (Gate.attach's kernelCpus), from the attach on:
  // a program then never takes the CPU that runs its calls (on 2 CPUs,
  // nginx with wrk under lkrun made 55 k req/s apart against 36 k when
  // sharing; README, "Waiting"). Threads and children made later inherit
  // it; nothing changes if no other CPU is allowed.
  bool keep_off_kernel_cpus = true;
  // The network namespace of lkd's kernel a new kernel process lives in
  // (a name the admin plane made, `lkctl netns add NAME`); empty: the
  // initial one. Ignored when attaching with a hand-over cookie.
  std::string netns;
};

class Connection {
 public:
  // Connects to lkd at `server` (a URL, see above) and attaches: a new
  // kernel process with this process's credentials, or, with a hand-over
  // `cookie` from Fork/PrepareExec, the process it names.
  static absl::StatusOr<std::unique_ptr<Connection>> Connect(
      const std::string& server, const std::string& cookie = "",
      const ConnectionOptions& options = {});
  // Ends the session: the kernel process exits unless an exec hand-over
  // keeps it.
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The kernel process's pid inside lkd.
  int pid() const;
  // False once the session is lost.
  bool connected() const;

  // Runs system call `nr` (LKD_NR_*) in the kernel. Pointer arguments are
  // this process's addresses; they are copied through the calling thread's
  // channel as the shared table (schema/lkd_syscalls.h) describes, large
  // reads and writes in chunks. Structures are the kernel's layouts (see
  // host_abi.h for those that differ from the host's). Returns the result
  // or -errno: -ENOSYS for a call lkd does not serve, -ENOTCONN once the
  // session is lost, -EMSGSIZE for an argument larger than a channel,
  // -EAGAIN for a thread over lkd's --max_client_threads (this thread's
  // next call tries again; other threads are not affected).
  long Call(long nr, const long args[6]);

  // One call of a batch: number and arguments as Call takes them, and the
  // result (or -errno) CallBatch leaves.
  struct BatchCall {
    long nr;
    long args[6];
    long result;
  };
  // Makes `n` calls (1..LKD_CHANNEL_BATCH_MAX) in one round trip to lkd,
  // which makes them in order as this thread's task (schema/lkd_channel.h,
  // "Batches"). 0 when the batch was made: each call's result in its
  // `result`, every call made even if one fails, except that one ended by
  // a signal (-EINTR) ends the batch and those after it are not made
  // (-ECANCELED). -errno when nothing was made: -EINVAL (n out of range,
  // a call passing anything but plain buffers: a path, msghdr, ifconf or a
  // length through a pointer), -ENOSYS (a call lkd does not serve, or an
  // lkd without batches), -EMSGSIZE (more than a channel holds),
  // -ENOTCONN.
  long CallBatch(BatchCall* calls, unsigned n);

  // Signals the kernel raised for this process by calls of this
  // connection (bit n-1 for signal n), cleared by the call.
  uint64_t TakeSignals();

  // Duplicates the kernel process for a host fork(): returns the cookie the
  // child passes to Connect, and the kernel child's pid.
  absl::StatusOr<std::string> Fork(int* child_pid);
  // Before execve(): the cookie the new program passes to Connect.
  absl::StatusOr<std::string> PrepareExec();

  // In the child of a host fork(): this connection's threads do not exist
  // there. Closes its socket and channel fds and forgets it without
  // touching its state (which stays allocated: destroying it would be
  // undefined). The child then connects anew with its Fork() cookie.
  static void AbandonAfterFork(std::unique_ptr<Connection> connection);

  class Impl;

 private:
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lkd::client

#endif  // LKD_CLIENT_CONNECTION_H_
