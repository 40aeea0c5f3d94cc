// SPDX-License-Identifier: GPL-2.0
// Files on tmpfs and pipes, through the library kernel's VFS.
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "kernel/testing/kernel_test_util.h"


namespace lkd::testing {
namespace {

// The kernel's struct stat is the asm-generic layout
// (include/uapi/asm-generic/stat.h), not the host's x86-64 one.
struct GenericStat {
  unsigned long dev;
  unsigned long ino;
  unsigned int mode;
  unsigned int nlink;
  unsigned int uid;
  unsigned int gid;
  unsigned long rdev;
  unsigned long pad1;
  long size;
  int blksize;
  int pad2;
  long blocks;
  long atime_sec, atime_nsec, mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
  unsigned int unused4, unused5;
};
static_assert(sizeof(GenericStat) == 128);

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

std::set<std::string> ListDir(const char* path) {
  std::set<std::string> names;
  long fd = Sys(LKD_NR_openat, kAtFdCwd, path, O_RDONLY | O_DIRECTORY, 0);
  EXPECT_GE(fd, 0) << path;
  alignas(8) char buf[4096];
  for (;;) {
    long n = Sys(LKD_NR_getdents64, fd, buf, sizeof(buf));
    EXPECT_GE(n, 0);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<LinuxDirent64*>(buf + off);
      names.insert(d->d_name);
      off += d->d_reclen;
    }
  }
  Sys(LKD_NR_close, fd);
  return names;
}

TEST(Files, TmpfsRoundTrip) {
  ASSERT_EQ(Sys(LKD_NR_mkdirat, kAtFdCwd, "/tmp/d", 0755), 0);
  EXPECT_EQ(Sys(LKD_NR_mkdirat, kAtFdCwd, "/tmp/d", 0755), -EEXIST);
  long fd = Sys(LKD_NR_openat, kAtFdCwd, "/tmp/d/a", O_CREAT | O_RDWR | O_EXCL, 0644);
  ASSERT_GE(fd, 0);
  const std::string text = "hello from the library kernel";
  EXPECT_EQ(Sys(LKD_NR_write, fd, text.data(), text.size()), static_cast<long>(text.size()));
  EXPECT_EQ(Sys(LKD_NR_lseek, fd, 6, SEEK_SET), 6);
  char buf[64] = {};
  EXPECT_EQ(Sys(LKD_NR_read, fd, buf, sizeof(buf)), static_cast<long>(text.size() - 6));
  EXPECT_EQ(std::string(buf), text.substr(6));

  GenericStat st = {};
  ASSERT_EQ(Sys(LKD_NR_fstat, fd, &st), 0);
  EXPECT_EQ(st.size, static_cast<long>(text.size()));
  EXPECT_TRUE(S_ISREG(st.mode));
  EXPECT_EQ(st.mode & 0777, 0644u);
  EXPECT_EQ(Sys(LKD_NR_close, fd), 0);

  EXPECT_EQ(Sys(LKD_NR_renameat, kAtFdCwd, "/tmp/d/a", kAtFdCwd, "/tmp/d/b"), 0);
  EXPECT_EQ(Sys(LKD_NR_openat, kAtFdCwd, "/tmp/d/a", O_RDONLY, 0), -ENOENT);
  ASSERT_EQ(Sys(LKD_NR_mkdirat, kAtFdCwd, "/tmp/d/sub", 0700), 0);
  EXPECT_EQ(ListDir("/tmp/d"), (std::set<std::string>{".", "..", "b", "sub"}));

  EXPECT_EQ(Sys(LKD_NR_unlinkat, kAtFdCwd, "/tmp/d/b", 0), 0);
  EXPECT_EQ(Sys(LKD_NR_unlinkat, kAtFdCwd, "/tmp/d/sub", AT_REMOVEDIR), 0);
  EXPECT_EQ(ListDir("/tmp/d"), (std::set<std::string>{".", ".."}));
  EXPECT_EQ(Sys(LKD_NR_unlinkat, kAtFdCwd, "/tmp/d", AT_REMOVEDIR), 0);
}

TEST(Files, TmpfsIsMountedAsTmpfs) {
  std::string mounts;
  ASSERT_TRUE(ReadFile("/proc/mounts", &mounts).ok());
  EXPECT_NE(mounts.find("tmpfs /tmp tmpfs"), std::string::npos) << mounts;
}

TEST(Files, BadPointersAndFdsAreErrors) {
  EXPECT_EQ(Sys(LKD_NR_openat, kAtFdCwd, nullptr, O_RDONLY, 0), -EFAULT);
  EXPECT_EQ(Sys(LKD_NR_read, 12345, nullptr, 10), -EBADF);
  long fd = Sys(LKD_NR_openat, kAtFdCwd, "/proc/version", O_RDONLY, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(Sys(LKD_NR_read, fd, 8, 100), -EFAULT) << "a pointer into the null page";
  EXPECT_EQ(Sys(LKD_NR_read, fd, -4096L, 100000), -EFAULT) << "a range that wraps";
  Sys(LKD_NR_close, fd);
}

TEST(Pipes, BlockingReadIsWokenByWriteFromAnotherThread) {
  int fds[2];
  ASSERT_EQ(Sys(LKD_NR_pipe2, fds, O_CLOEXEC), 0);
  std::atomic<bool> reader_returned{false};
  char got[16] = {};
  long got_n = 0;
  std::thread reader([&] {
    // Another host thread of the same kernel process (the host process):
    // it shares the fd table.
    got_n = Sys(LKD_NR_read, fds[0], got, sizeof(got));
    reader_returned = true;
  });
  // The reader has nothing to read: it must still be blocked after a while.
  for (int i = 0; i < 20 && !reader_returned; ++i) {
    struct timespec ts = {0, 1000000};
    Sys(LKD_NR_nanosleep, &ts, nullptr);
  }
  EXPECT_FALSE(reader_returned.load());
  EXPECT_EQ(Sys(LKD_NR_write, fds[1], "wake", 4), 4);
  reader.join();
  EXPECT_EQ(got_n, 4);
  EXPECT_EQ(std::string(got, 4), "wake");
  Sys(LKD_NR_close, fds[0]);
  Sys(LKD_NR_close, fds[1]);
}

TEST(Pipes, ManyRoundTripsBetweenTwoThreads) {
  int ping[2], pong[2];
  ASSERT_EQ(Sys(LKD_NR_pipe2, ping, 0), 0);
  ASSERT_EQ(Sys(LKD_NR_pipe2, pong, 0), 0);
  constexpr int kRounds = 2000;
  std::thread echo([&] {
    char c;
    for (int i = 0; i < kRounds; ++i) {
      if (Sys(LKD_NR_read, ping[0], &c, 1) != 1) return;
      c++;
      Sys(LKD_NR_write, pong[1], &c, 1);
    }
  });
  int ok = 0;
  for (int i = 0; i < kRounds; ++i) {
    char c = static_cast<char>(i);
    ASSERT_EQ(Sys(LKD_NR_write, ping[1], &c, 1), 1);
    ASSERT_EQ(Sys(LKD_NR_read, pong[0], &c, 1), 1);
    ok += c == static_cast<char>(i + 1);
  }
  echo.join();
  EXPECT_EQ(ok, kRounds);
  for (int fd : {ping[0], ping[1], pong[0], pong[1]}) Sys(LKD_NR_close, fd);
}

}  // namespace
}  // namespace lkd::testing
