// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The hostops table for Linux hosts (POSIX threads, futexes, clock_gettime).
#ifndef LKD_HOSTOPS_POSIX_HOSTOPS_H_
#define LKD_HOSTOPS_POSIX_HOSTOPS_H_

#include <cstddef>
#include <functional>
#include <string_view>

#include "lkd/hostops.h"

namespace lkd {

struct PosixHostopsOptions {
  // Drop kernel console output instead of writing it.
  bool quiet = false;
  // Where console output goes when `console_sink` is empty.
  int console_fd = 2;
  // If set, receives every console write instead of `console_fd`. Called
  // with the kernel CPU held: must be quick and must not call the kernel.
  std::function<void(std::string_view)> console_sink;
  // Upper bound on how long sem_down spins before it sleeps on a futex.
  // Spinning lets a hand-over between two host threads on two cores avoid a
  // futex sleep/wake pair; on a single-core host it is skipped.
  unsigned sem_spin_ns = 20000;
};

// Returns the hostops table for this process, configured with `options`.
//
// The C table carries no context pointer (the kernel side is plain C and
// there is one library kernel per process), so the options and the single
// timer thread are process-wide: calling this again replaces the options
// and returns the same table. The timer thread starts on first use.
const lkd_hostops* PosixHostops(const PosixHostopsOptions& options = {});

}  // namespace lkd

#endif  // LKD_HOSTOPS_POSIX_HOSTOPS_H_
