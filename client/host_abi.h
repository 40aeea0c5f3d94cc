// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The kernel structures whose layout differs from the host's, and their
// translation: the one place that knows. lkd's kernel uses the generic
// ABI (include/uapi/asm-generic); an x86-64 host's glibc uses the x86-64
// one. Everything else the served calls pass (sockaddr, pollfd, the packed
// epoll_event, statx, linux_dirent64, timespec) has the same layout on
// both sides; host_abi_test pins that too.
#ifndef LKD_CLIENT_HOST_ABI_H_
#define LKD_CLIENT_HOST_ABI_H_

#include <sys/stat.h>

#include <cstdint>

namespace lkd::client {

// asm-generic/stat.h on a 64-bit kernel: what fstat writes (128 bytes).
struct KernelStat {
  uint64_t st_dev;
  uint64_t st_ino;
  uint32_t st_mode;
  uint32_t st_nlink;
  uint32_t st_uid;
  uint32_t st_gid;
  uint64_t st_rdev;
  uint64_t pad1;
  int64_t st_size;
  int32_t st_blksize;
  int32_t pad2;
  int64_t st_blocks;
  int64_t st_atime_sec;
  uint64_t st_atime_nsec;
  int64_t st_mtime_sec;
  uint64_t st_mtime_nsec;
  int64_t st_ctime_sec;
  uint64_t st_ctime_nsec;
  uint32_t unused4;
  uint32_t unused5;
};
static_assert(sizeof(KernelStat) == 128, "asm-generic struct stat is 128 bytes");

// The host's struct stat with the same contents.
void KernelStatToHost(const KernelStat& in, struct stat* out);

}  // namespace lkd::client

#endif  // LKD_CLIENT_HOST_ABI_H_
