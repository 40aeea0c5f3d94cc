// SPDX-License-Identifier: GPL-2.0
// Disk images as virtio-blk disks of the library kernel (issue #3): images
// made and checked by the host's own tools (mkfs, e2fsck, debugfs, mtools),
// written by the kernel's ext4 and vfat.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "kernel/setup/setup.h"
#include "kernel/testing/kernel_test_util.h"
#include "server/daemon/testing/system_test_util.h"

namespace lkd::testing {
namespace {

using virtio::Devices;
using virtio::DiskSpec;

// Writes `data` to a new file in the kernel and fsyncs it.
absl::Status KernelWrite(const std::string& path, const std::string& data) {
  long fd = Sys(LKD_NR_openat, kAtFdCwd, path.c_str(),
                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return SysStatus(fd, "create " + path);
  size_t done = 0;
  while (done < data.size()) {
    long n = Sys(LKD_NR_write, fd, data.data() + done,
                 std::min<size_t>(data.size() - done, 1 << 20));
    if (n <= 0) {
      Sys(LKD_NR_close, fd);
      return SysStatus(n < 0 ? n : -EIO, "write " + path);
    }
    done += n;
  }
  absl::Status status = SysStatus(Sys(LKD_NR_fsync, fd), "fsync " + path);
  Sys(LKD_NR_close, fd);
  return status;
}

absl::StatusOr<std::string> KernelRead(const std::string& path) {
  long fd = Sys(LKD_NR_openat, kAtFdCwd, path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return SysStatus(fd, "open " + path);
  std::string data;
  char buf[65536];
  long n;
  while ((n = Sys(LKD_NR_read, fd, buf, sizeof(buf))) > 0) data.append(buf, n);
  Sys(LKD_NR_close, fd);
  if (n < 0) return SysStatus(n, "read " + path);
  return data;
}

absl::Status KernelMkdir(const std::string& path) {
  return SysStatus(Sys(LKD_NR_mkdirat, kAtFdCwd, path.c_str(), 0755),
               "mkdir " + path);
}

// Mounts the disk with serial `serial` on `target`.
absl::Status MountDisk(const std::string& serial, const std::string& target,
                       const std::string& fstype, bool read_only) {
  if (absl::Status s = setup::MountDevtmpfs(); !s.ok()) return s;
  absl::StatusOr<std::string> dev = setup::DiskBySerial(serial);
  if (!dev.ok()) return dev.status();
  return setup::Mount(*dev, target, fstype, read_only);
}

class DiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lkd-disk-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { Shell("rm -rf " + dir_); }

  // A new image of `mib` MiB formatted by the host's mkfs.
  std::string MakeImage(const std::string& name, const std::string& mkfs,
                        int mib = 64) {
    std::string path = dir_ + "/" + name;
    std::string out;
    EXPECT_EQ(Shell(absl::StrCat("truncate -s ", mib, "M ", path, " && ", mkfs,
                                 " ", path),
                    &out),
              0)
        << out;
    return path;
  }
  static DiskSpec Disk(const std::string& path, const std::string& serial,
                       bool read_only = false) {
    DiskSpec spec;
    spec.path = path;
    spec.serial = serial;
    spec.read_only = read_only;
    return spec;
  }

  std::string dir_;
};

// ext4 and vfat at once (two disks): files and directories written and
// fsynced, unmounted, halted; the host's tools find both clean and read back
// the exact bytes.
TEST_F(DiskTest, Ext4AndVfatWrittenByTheKernelReadBackOnTheHost) {
  std::string ext4 = MakeImage("ext4.img", "mkfs.ext4 -q -F");
  std::string vfat = MakeImage("vfat.img", "mkfs.vfat");
  const std::string big = Pattern(3 << 20, 1), small = "hello from lkd\n";
  absl::Status status = RunKernelChild(
      [&](Devices& devices) -> absl::Status {
        if (auto d = devices.AddDisk(Disk(ext4, "ext4disk")); !d.ok())
          return d.status();
        if (auto d = devices.AddDisk(Disk(vfat, "vfatdisk")); !d.ok())
          return d.status();
        return absl::OkStatus();
      },
      [&]() -> absl::Status {
        for (const char* fs : {"ext4", "vfat"}) {
          std::string mnt = absl::StrCat("/mnt/", fs);
          if (auto s = MountDisk(absl::StrCat(fs, "disk"), mnt, fs, false);
              !s.ok())
            return s;
          if (auto s = KernelMkdir(mnt + "/dir"); !s.ok()) return s;
          if (auto s = KernelMkdir(mnt + "/dir/sub"); !s.ok()) return s;
          if (auto s = KernelWrite(mnt + "/dir/big.bin", big); !s.ok()) return s;
          if (auto s = KernelWrite(mnt + "/dir/sub/small.txt", small); !s.ok())
            return s;
          if (auto s = setup::Unmount(mnt); !s.ok()) return s;
        }
        return absl::OkStatus();
      });
  ASSERT_TRUE(status.ok()) << status;

  std::string out;
  EXPECT_EQ(Shell("e2fsck -fn " + ext4, &out), 0) << out;
  EXPECT_EQ(Shell("debugfs -R 'cat /dir/big.bin' " + ext4 + " 2>/dev/null",
                  &out),
            0);
  // debugfs prints its banner on stderr, which Shell() merges: cut it.
  size_t banner = out.find('\n');
  ASSERT_NE(banner, std::string::npos);
  EXPECT_TRUE(out.substr(banner + 1) == big) << "ext4 big.bin differs";
  EXPECT_EQ(Shell("debugfs -R 'cat /dir/sub/small.txt' " + ext4, &out), 0);
  EXPECT_NE(out.find(small), std::string::npos) << out;

  EXPECT_EQ(Shell("fsck.vfat -n " + vfat, &out), 0) << out;
  ASSERT_EQ(Shell("mcopy -n -i " + vfat + " ::/dir/big.bin " + dir_ +
                      "/big.out",
                  &out),
            0)
      << out;
  std::string copied;
  ASSERT_EQ(Shell("cat " + dir_ + "/big.out", &copied), 0);
  EXPECT_TRUE(copied == big) << "vfat big.bin differs";
  EXPECT_EQ(Shell("mtype -i " + vfat + " ::/dir/sub/small.txt", &out), 0);
  EXPECT_EQ(out, small);
}

// A read-only disk: contents readable, every write EROFS, a read-write
// mount refused, the image unchanged.
TEST_F(DiskTest, ReadOnlyDiskRefusesWrites) {
  std::string content_dir = dir_ + "/content";
  ASSERT_EQ(Shell("mkdir -p " + content_dir + " && printf 'kept\\n' > " +
                  content_dir + "/file.txt"),
            0);
  std::string image =
      MakeImage("ro.img", "mkfs.ext4 -q -F -d " + content_dir);
  std::string before;
  ASSERT_EQ(Shell("sha256sum < " + image, &before), 0);
  absl::Status status = RunKernelChild(
      [&](Devices& devices) -> absl::Status {
        return devices.AddDisk(Disk(image, "rodisk", true)).status();
      },
      [&]() -> absl::Status {
        if (absl::Status s = MountDisk("rodisk", "/mnt/rw", "ext4", false);
            s.ok())
          return absl::InternalError("a read-write mount of a ro disk worked");
        if (auto s = MountDisk("rodisk", "/mnt/ro", "ext4", true); !s.ok())
          return s;
        absl::StatusOr<std::string> data = KernelRead("/mnt/ro/file.txt");
        if (!data.ok()) return data.status();
        if (*data != "kept\n") return absl::InternalError("bad content: " + *data);
        long fd = Sys(LKD_NR_openat, kAtFdCwd, "/mnt/ro/new.txt",
                      O_WRONLY | O_CREAT, 0644);
        if (fd != -EROFS)
          return absl::InternalError(absl::StrCat("create gave ", fd));
        fd = Sys(LKD_NR_openat, kAtFdCwd, "/mnt/ro/file.txt", O_WRONLY, 0);
        if (fd != -EROFS)
          return absl::InternalError(absl::StrCat("open for write gave ", fd));
        long rc = Sys(LKD_NR_mkdirat, kAtFdCwd, "/mnt/ro/d", 0755);
        if (rc != -EROFS)
          return absl::InternalError(absl::StrCat("mkdir gave ", rc));
        return setup::Unmount("/mnt/ro");
      });
  ASSERT_TRUE(status.ok()) << status;
  std::string after;
  ASSERT_EQ(Shell("sha256sum < " + image, &after), 0);
  EXPECT_EQ(before, after) << "a read-only image changed";
}

// Halting with the file system still mounted, and a crash (the process
// gone without halting) after fsync: the journal makes both recoverable,
// and what was fsynced is there.
TEST_F(DiskTest, HaltOrCrashWithoutUnmountIsRecoverable) {
  for (KernelEnd end : {KernelEnd::kHalt, KernelEnd::kCrash}) {
    const char* name = end == KernelEnd::kHalt ? "halt" : "crash";
    SCOPED_TRACE(name);
    std::string image = MakeImage(absl::StrCat(name, ".img"), "mkfs.ext4 -q -F");
    const std::string data = Pattern(1 << 20, 7);
    absl::Status status = RunKernelChild(
        [&](Devices& devices) -> absl::Status {
          return devices.AddDisk(Disk(image, "journal")).status();
        },
        [&]() -> absl::Status {
          if (auto s = MountDisk("journal", "/mnt", "ext4", false); !s.ok())
            return s;
          if (auto s = KernelMkdir("/mnt/d"); !s.ok()) return s;
          return KernelWrite("/mnt/d/data.bin", data);
        },
        end);
    ASSERT_TRUE(status.ok()) << status;
    std::string out;
    int fix = Shell("e2fsck -fy " + image, &out);
    EXPECT_TRUE(fix == 0 || fix == 1) << "e2fsck -fy exit " << fix << "\n" << out;
    EXPECT_EQ(Shell("e2fsck -fn " + image, &out), 0) << out;
    ASSERT_EQ(Shell("debugfs -R 'dump /d/data.bin " + dir_ + "/data.out' " +
                        image,
                    &out),
              0)
        << out;
    std::string copied;
    ASSERT_EQ(Shell("cat " + dir_ + "/data.out", &copied), 0);
    EXPECT_TRUE(copied == data) << "fsynced data lost after " << name;
  }
}

// Bad images: clear errors naming the image, before anything else starts.
TEST_F(DiskTest, BadImagesGiveClearErrors) {
  Devices devices({[](const lkd_mmio_ops*, void*, unsigned long) { return 5; },
                   [](int) {}});
  absl::StatusOr<virtio::VirtioBlk*> missing =
      devices.AddDisk(Disk(dir_ + "/nope.img", "x"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.img"), std::string::npos)
      << missing.status();

  ASSERT_EQ(Shell("truncate -s 1000 " + dir_ + "/odd.img"), 0);
  absl::StatusOr<virtio::VirtioBlk*> odd =
      devices.AddDisk(Disk(dir_ + "/odd.img", "x"));
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.status().message().find("multiple of 512"), std::string::npos)
      << odd.status();

  ASSERT_EQ(Shell("touch " + dir_ + "/empty.img"), 0);
  EXPECT_FALSE(devices.AddDisk(Disk(dir_ + "/empty.img", "x")).ok());

  std::string image = MakeImage("busy.img", "mkfs.ext4 -q -F", 16);
  ASSERT_TRUE(devices.AddDisk(Disk(image, "a")).ok());
  absl::StatusOr<virtio::VirtioBlk*> busy = devices.AddDisk(Disk(image, "b"));
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.status().message().find("in use"), std::string::npos)
      << busy.status();

  absl::StatusOr<DiskSpec> spec = virtio::ParseDiskSpec("a.img,ro,serial=data");
  ASSERT_TRUE(spec.ok());
  EXPECT_TRUE(spec->read_only);
  EXPECT_EQ(spec->serial, "data");
  EXPECT_FALSE(virtio::ParseDiskSpec("a.img,bogus").ok());
  EXPECT_FALSE(virtio::ParseDiskSpec(",ro").ok());
}

// An image that holds no ext4: the mount fails with a message that says
// so, and the kernel goes on.
TEST_F(DiskTest, MountingANonExt4ImageFailsClearly) {
  std::string image = dir_ + "/zeros.img";
  ASSERT_EQ(Shell("truncate -s 16M " + image), 0);
  absl::Status status = RunKernelChild(
      [&](Devices& devices) -> absl::Status {
        return devices.AddDisk(Disk(image, "zeros")).status();
      },
      [&]() -> absl::Status {
        absl::Status s = MountDisk("zeros", "/mnt", "ext4", false);
        if (s.ok()) return absl::InternalError("mounted zeros as ext4");
        if (s.message().find("ext4") == std::string::npos)
          return absl::InternalError("unclear error: " + std::string(s.message()));
        // The kernel still works: a file system on tmpfs.
        return KernelWrite("/tmp/after", "ok");
      });
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace lkd::testing
