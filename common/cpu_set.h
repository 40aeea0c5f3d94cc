// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Host CPU lists ("0,2-3", as taskset -c and cpuset(7) write them) and
// the affinities lkd and its clients take from them.
//
// lkd may pin its dispatch threads, the host threads that poll the
// channels and run the kernel, to a CPU of their own (--dispatch_cpus),
// as io_uring's SQPOLL thread may be pinned (IORING_SETUP_SQ_AFF) and
// DPDK's polling cores are. It then tells every client which CPUs those
// are, and a client keeps its threads off them, so that a program never
// shares the kernel's CPU with the thread that runs its calls.
#ifndef LKD_COMMON_CPU_SET_H_
#define LKD_COMMON_CPU_SET_H_

#include <pthread.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lkd {

// "0,2-3" -> {0, 2, 3}: sorted, without duplicates. Empty, malformed or
// out of range (>= CPU_SETSIZE) lists are InvalidArgument.
absl::StatusOr<std::vector<int>> ParseCpuList(absl::string_view list);

// {0, 2, 3} -> "0,2-3".
std::string FormatCpuList(const std::vector<int>& cpus);

// The CPUs thread `tid` (0: the calling thread) may run on
// (sched_getaffinity), sorted; empty if there is no such thread.
std::vector<int> AllowedCpus(pid_t tid = 0);

// The dispatch threads' CPUs for lkd's --dispatch_cpus `spec`, among the
// CPUs lkd may run on (`allowed`): "none" (empty: not pinned), "auto" (the
// highest allowed CPU, when at least two are allowed; else none), or a
// list whose every CPU must be allowed (InvalidArgument otherwise).
absl::StatusOr<std::vector<int>> ResolveDispatchCpus(absl::string_view spec,
                                                     const std::vector<int>& allowed);

// Pins `thread` to `cpus` (non-empty); the error of pthread_setaffinity_np.
absl::Status PinThread(pthread_t thread, const std::vector<int>& cpus);

// `allowed` without `kernel_cpus`; empty if nothing would be left.
std::vector<int> CpusApartFrom(const std::vector<int>& allowed,
                               const std::vector<int>& kernel_cpus);

// Moves every thread of the calling process off `kernel_cpus`, onto the
// rest of the CPUs the calling thread may use (threads and processes
// created later inherit it). Nothing is changed when no CPU would be left
// or the calling thread already keeps off them. Returns the CPUs the
// process now runs on (empty if unchanged), or the error of the first
// thread that could not be moved.
absl::StatusOr<std::vector<int>> KeepProcessOffCpus(const std::vector<int>& kernel_cpus);

}  // namespace lkd

#endif  // LKD_COMMON_CPU_SET_H_
