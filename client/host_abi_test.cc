// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Pins the layouts the channel copies without translation, and the one
// translation (struct stat). The kernel's side is its own uapi: these
// offsets are those of include/uapi/asm-generic/stat.h and of the packed
// x86-64 epoll_event the kernel's eventpoll.h uses on this host.
#include "client/host_abi.h"

#include <linux/stat.h>
#include <poll.h>
#include <sys/epoll.h>

#include <cstddef>

#include "gtest/gtest.h"

namespace lkd::client {
namespace {

TEST(HostAbi, KernelStatOffsetsAreAsmGeneric) {
  EXPECT_EQ(offsetof(KernelStat, st_mode), 16u);
  EXPECT_EQ(offsetof(KernelStat, st_rdev), 32u);
  EXPECT_EQ(offsetof(KernelStat, st_size), 48u);
  EXPECT_EQ(offsetof(KernelStat, st_blksize), 56u);
  EXPECT_EQ(offsetof(KernelStat, st_blocks), 64u);
  EXPECT_EQ(offsetof(KernelStat, st_atime_sec), 72u);
  EXPECT_EQ(offsetof(KernelStat, st_ctime_nsec), 112u);
}

TEST(HostAbi, StatTranslationKeepsEveryField) {
  KernelStat k = {};
  k.st_dev = 0x801;
  k.st_ino = 123456789;
  k.st_mode = 0100644;
  k.st_nlink = 3;
  k.st_uid = 65534;
  k.st_gid = 65533;
  k.st_rdev = 0x1234;
  k.st_size = 1ll << 40;
  k.st_blksize = 4096;
  k.st_blocks = 99;
  k.st_atime_sec = 1700000001;
  k.st_atime_nsec = 11;
  k.st_mtime_sec = 1700000002;
  k.st_mtime_nsec = 22;
  k.st_ctime_sec = 1700000003;
  k.st_ctime_nsec = 33;
  struct stat h;
  KernelStatToHost(k, &h);
  EXPECT_EQ(h.st_dev, 0x801u);
  EXPECT_EQ(h.st_ino, 123456789u);
  EXPECT_EQ(h.st_mode, 0100644u);
  EXPECT_EQ(h.st_nlink, 3u);
  EXPECT_EQ(h.st_uid, 65534u);
  EXPECT_EQ(h.st_gid, 65533u);
  EXPECT_EQ(h.st_rdev, 0x1234u);
  EXPECT_EQ(h.st_size, 1ll << 40);
  EXPECT_EQ(h.st_blksize, 4096);
  EXPECT_EQ(h.st_blocks, 99);
  EXPECT_EQ(h.st_atim.tv_sec, 1700000001);
  EXPECT_EQ(h.st_atim.tv_nsec, 11);
  EXPECT_EQ(h.st_mtim.tv_nsec, 22);
  EXPECT_EQ(h.st_ctim.tv_sec, 1700000003);
}

TEST(HostAbi, SharedLayoutsMatchTheKernel) {
  // The allow-table (schema/lkd_syscalls.c) sizes these as the kernel does.
  EXPECT_EQ(sizeof(struct epoll_event), 12u);
  EXPECT_EQ(sizeof(struct pollfd), 8u);
  EXPECT_EQ(sizeof(struct statx), 256u);
}

}  // namespace
}  // namespace lkd::client
