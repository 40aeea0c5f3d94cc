// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "client/host_abi.h"

#include <cstring>

namespace lkd::client {

void KernelStatToHost(const KernelStat& in, struct stat* out) {
  memset(out, 0, sizeof(*out));
  out->st_dev = in.st_dev;
  out->st_ino = in.st_ino;
  out->st_mode = in.st_mode;
  out->st_nlink = in.st_nlink;
  out->st_uid = in.st_uid;
  out->st_gid = in.st_gid;
  out->st_rdev = in.st_rdev;
  out->st_size = in.st_size;
  out->st_blksize = in.st_blksize;
  out->st_blocks = in.st_blocks;
  out->st_atim.tv_sec = in.st_atime_sec;
  out->st_atim.tv_nsec = static_cast<long>(in.st_atime_nsec);
  out->st_mtim.tv_sec = in.st_mtime_sec;
  out->st_mtim.tv_nsec = static_cast<long>(in.st_mtime_nsec);
  out->st_ctim.tv_sec = in.st_ctime_sec;
  out->st_ctim.tv_nsec = static_cast<long>(in.st_ctime_nsec);
}

}  // namespace lkd::client
