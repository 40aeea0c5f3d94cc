// SPDX-License-Identifier: GPL-2.0
// lkd_syscall() for C++ callers: any integer or pointer arguments, up to
// six, as the calling thread's task. Returns the result or -errno.
#ifndef LKD_KERNEL_SYS_H_
#define LKD_KERNEL_SYS_H_

#include <cstdint>
#include <type_traits>

#include "lkd/kernel.h"
#include "lkd/sysnr.h"

namespace lkd {

template <typename T>
long SysArg(T v) {
  if constexpr (std::is_pointer_v<T>) {
    return static_cast<long>(reinterpret_cast<uintptr_t>(v));
  } else if constexpr (std::is_null_pointer_v<T>) {
    return 0;
  } else {
    return static_cast<long>(v);
  }
}

template <typename... Args>
long Sys(long nr, Args... args) {
  static_assert(sizeof...(Args) <= 6, "at most six syscall arguments");
  long a[6] = {SysArg(args)...};
  return lkd_syscall(nr, a);
}

// The dirfd meaning "relative to the cwd" (AT_FDCWD).
constexpr int kAtFdCwd = -100;

}  // namespace lkd

#endif  // LKD_KERNEL_SYS_H_
