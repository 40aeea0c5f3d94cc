// SPDX-License-Identifier: GPL-2.0
// The admin plane's own kernel process, and the one host thread bound to
// it that runs every piece of kernel work the admin plane does.
//
// Why a process of its own: what the admin plane does in the kernel
// (netlink sockets, /proc/sys files) then belongs to a process that no
// client shares, with root's credentials and capabilities, and a client
// cannot see or close its fds. Why one thread: admin calls are rare and
// short; running them one after another keeps the kernel's view of them
// ordered (a route added, then listed) and costs one host thread.
//
// Threads: Run may be called from any thread (gRPC's); it blocks the
// caller until the job has run. Jobs must not call Run themselves.
#ifndef LKD_SERVER_ADMIN_KERNEL_WORKER_H_
#define LKD_SERVER_ADMIN_KERNEL_WORKER_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace lkd::admin {

class KernelWorker {
 public:
  // Creates the kernel process (uid 0, every capability) and starts the
  // thread bound to it. The kernel must be running.
  static absl::StatusOr<std::unique_ptr<KernelWorker>> Start();
  // Stops the thread (after the job it runs, if any) and ends the process.
  ~KernelWorker();
  KernelWorker(const KernelWorker&) = delete;
  KernelWorker& operator=(const KernelWorker&) = delete;

  // Runs `job` on the bound thread and waits for it. Unavailable once the
  // worker is stopping.
  absl::Status Run(const std::function<void()>& job);

  int pid() const { return pid_; }

 private:
  explicit KernelWorker(int pid) : pid_(pid) {}
  void Loop(int bind_result);

  struct Job {
    const std::function<void()>* fn;
    bool done = false;
  };

  const int pid_;
  absl::Mutex mu_;
  std::deque<Job*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_KERNEL_WORKER_H_
