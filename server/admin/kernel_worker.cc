// SPDX-License-Identifier: GPL-2.0
#include "server/admin/kernel_worker.h"

#include <pthread.h>

#include <cerrno>

#include "common/errno_status.h"
#include "lkd/kernel.h"

namespace lkd::admin {

absl::StatusOr<std::unique_ptr<KernelWorker>> KernelWorker::Start() {
  lkd_cred root = {0, 0, LKD_CAPS_ALL};
  int pid = lkd_proc_create(&root);
  if (pid < 0) return SysStatus(pid, "admin plane: create its kernel process");
  std::unique_ptr<KernelWorker> worker(new KernelWorker(pid));
  // The thread binds itself (binding is per host thread) and says whether
  // that worked before Start returns.
  absl::Mutex bound_mu;
  int bound = 1;  // 1: not yet
  worker->thread_ = std::thread([w = worker.get(), &bound_mu, &bound] {
    pthread_setname_np(pthread_self(), "lkd-admin");
    int rc = lkd_bind(w->pid_);
    {
      absl::MutexLock lock(&bound_mu);
      bound = rc < 0 ? rc : 0;
    }
    w->Loop(rc);
  });
  absl::MutexLock lock(&bound_mu);
  bound_mu.Await(absl::Condition(+[](int* b) { return *b != 1; }, &bound));
  if (bound < 0) return SysStatus(bound, "admin plane: bind to its kernel process");
  return worker;
}

KernelWorker::~KernelWorker() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  lkd_proc_exit(pid_);
}

void KernelWorker::Loop(int bind_result) {
  for (;;) {
    Job* job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](KernelWorker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->stopping_ || !w->queue_.empty();
          },
          this));
      if (queue_.empty()) break;  // stopping, nothing left to do
      job = queue_.front();
      queue_.pop_front();
    }
    if (bind_result >= 0) (*job->fn)();
    absl::MutexLock lock(&mu_);
    job->done = true;
  }
  if (bind_result >= 0) lkd_unbind();
}

absl::Status KernelWorker::Run(const std::function<void()>& fn) {
  Job job{&fn};
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("lkd is stopping");
  queue_.push_back(&job);
  mu_.Await(absl::Condition(&job.done));
  return absl::OkStatus();
}

}  // namespace lkd::admin
