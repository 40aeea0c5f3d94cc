// SPDX-License-Identifier: GPL-2.0
// KernelHost booting real kernels: each case runs in a forked child (one
// kernel per process) and reports an absl::Status; disk images are made
// and checked by the host's mkfs.ext4, e2fsck and debugfs. NICs are wires
// (Unix datagram sockets), which need no root.
#include "server/daemon/kernel_host.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errno_status.h"
#include "kernel/sys.h"
#include "server/daemon/testing/system_test_util.h"

namespace lkd::daemon {
namespace {

using ::lkd::testing::RunInChild;
using ::lkd::testing::Shell;
using ::testing::HasSubstr;

// debugfs's `cat path` on `image`: its exit status, and the file in *out.
// Shell() merges stderr into the output, where debugfs prints its banner;
// the group's own 2>/dev/null comes after Shell()'s 2>&1 and keeps it out.
int DebugfsCat(const std::string& image, const std::string& path, std::string* out) {
  return Shell("{ debugfs -R 'cat " + path + "' " + image + " 2>/dev/null; }", out);
}

absl::Status Check(bool ok, const std::string& what) {
  return ok ? absl::OkStatus() : absl::InternalError(what);
}

absl::Status KernelWrite(const std::string& path, const std::string& data) {
  long fd = Sys(LKD_NR_openat, kAtFdCwd, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return SysStatus(fd, "create " + path);
  long n = Sys(LKD_NR_write, fd, data.data(), data.size());
  Sys(LKD_NR_close, fd);
  if (n < 0) return SysStatus(n, "write " + path);
  return Check(static_cast<size_t>(n) == data.size(), "short write to " + path);
}

absl::StatusOr<std::string> KernelRead(const std::string& path) {
  long fd = Sys(LKD_NR_openat, kAtFdCwd, path.c_str(), O_RDONLY, 0);
  if (fd < 0) return SysStatus(fd, "open " + path);
  std::string data;
  char buf[4096];
  long n;
  while ((n = Sys(LKD_NR_read, fd, buf, sizeof(buf))) > 0) data.append(buf, n);
  Sys(LKD_NR_close, fd);
  if (n < 0) return SysStatus(n, "read " + path);
  return data;
}

// The kernel is gone (never started, or halted).
absl::Status CheckNoKernel() {
  long rc = Sys(LKD_NR_getpid);
  return Check(rc == -ENODEV, absl::StrCat("the kernel still answers (getpid gave ", rc, ")"));
}

// Whether one of `lines` contains `text`.
absl::Status CheckDescribed(const KernelHost& host, const std::string& text) {
  std::vector<std::string> lines = host.Describe();
  for (const std::string& line : lines) {
    if (line.find(text) != std::string::npos) return absl::OkStatus();
  }
  return absl::InternalError(
      absl::StrCat("Describe() lacks '", text, "': ", absl::StrJoin(lines, " | ")));
}

class KernelHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    dir_ = tmp ? tmp : "/tmp";
  }

  // A new ext4 image of 32 MiB.
  std::string MakeExt4(const std::string& name) {
    std::string path = dir_ + "/" + name, out;
    EXPECT_EQ(Shell("rm -f " + path + " && truncate -s 32M " + path + " && mkfs.ext4 -q -F " + path,
                    &out),
              0)
        << out;
    return path;
  }

  static void AddDisk(LkdConfig* config, const std::string& image, const std::string& mnt) {
    config::Disk* disk = config->add_disk();
    disk->set_image(image);
    disk->set_fstype("ext4");
    disk->set_mountpoint(mnt);
  }

  std::string dir_;
};

// The whole path of a disk: booted, mounted at /data, written without
// fsync, shut down; the host finds the image clean and the file in it.
TEST_F(KernelHostTest, Ext4DiskWrittenByTheKernelIsCleanAfterShutdown) {
  std::string image = MakeExt4("data.img");
  const std::string content = "written through lkd's KernelHost\n";
  LkdConfig config;
  AddDisk(&config, image, "/data");
  absl::Status status = RunInChild([&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<KernelHost>> host = KernelHost::Boot(config);
    if (!host.ok()) return host.status();
    if (auto s = CheckDescribed(**host, "disk 0: " + image + " is /dev/vd"); !s.ok()) return s;
    if (auto s = CheckDescribed(**host, "on /data (ext4, rw)"); !s.ok()) return s;
    if (auto s = CheckDescribed(**host, "kernel: mem=256M loglevel=4"); !s.ok()) return s;
    if (auto s = KernelWrite("/data/hello.txt", content); !s.ok()) return s;
    if (auto s = (*host)->Shutdown(); !s.ok()) return s;
    if (auto s = Check(!(*host)->running(), "still running after Shutdown"); !s.ok()) return s;
    if (auto s = (*host)->Shutdown(); !s.ok()) return s;  // idempotent
    return CheckNoKernel();
  });
  ASSERT_TRUE(status.ok()) << status;
  std::string out;
  EXPECT_EQ(Shell("e2fsck -fn " + image, &out), 0) << out;
  EXPECT_EQ(DebugfsCat(image, "/hello.txt", &out), 0);
  EXPECT_EQ(out, content);
}

// A disk that cannot be unmounted (a file open on it) is reported, and the
// shutdown goes on: the kernel halts, and its halt writes the data out.
TEST_F(KernelHostTest, BusyUnmountIsReportedAndShutdownGoesOn) {
  std::string image = MakeExt4("busy.img");
  LkdConfig config;
  AddDisk(&config, image, "/data");
  absl::Status status = RunInChild([&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<KernelHost>> host = KernelHost::Boot(config);
    if (!host.ok()) return host.status();
    if (auto s = KernelWrite("/data/kept.txt", "kept\n"); !s.ok()) return s;
    long fd = Sys(LKD_NR_openat, kAtFdCwd, "/data/kept.txt", O_RDONLY, 0);
    if (fd < 0) return SysStatus(fd, "open /data/kept.txt");
    absl::Status shutdown = (*host)->Shutdown();
    if (auto s = CheckNoKernel(); !s.ok()) return s;
    return shutdown;
  });
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("shutdown: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("/data"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("EBUSY"));
  std::string out;
  EXPECT_EQ(DebugfsCat(image, "/kept.txt", &out), 0);
  EXPECT_EQ(out, "kept\n");
}

TEST_F(KernelHostTest, SecondBootInOneProcessIsRefused) {
  absl::Status status = RunInChild([&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<KernelHost>> host = KernelHost::Boot(LkdConfig());
    if (!host.ok()) return host.status();
    host->reset();  // the destructor shuts down
    if (auto s = CheckNoKernel(); !s.ok()) return s;
    return KernelHost::Boot(LkdConfig()).status();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("already started"));
}

TEST_F(KernelHostTest, MissingImageIsNamedAndNoKernelStarts) {
  absl::Status status = RunInChild([&]() -> absl::Status {
    LkdConfig config;
    AddDisk(&config, "/nonexistent/lkd.img", "/data");
    absl::Status boot = KernelHost::Boot(config).status();
    if (auto s = CheckNoKernel(); !s.ok()) return s;
    return boot;
  });
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("disk 0 (/nonexistent/lkd.img)"));
}

TEST_F(KernelHostTest, MissingHostInterfaceIsNamed) {
  absl::Status status = RunInChild([&]() -> absl::Status {
    LkdConfig config;
    config.add_nic()->set_backend("raw:lkdnosuch0");
    absl::Status boot = KernelHost::Boot(config).status();
    if (auto s = CheckNoKernel(); !s.ok()) return s;
    return boot;
  });
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("nic 0 (raw:lkdnosuch0)"));
}

TEST_F(KernelHostTest, InvalidConfigIsRefusedBeforeAnything) {
  LkdConfig config;
  AddDisk(&config, "/srv/a.img", "data");
  absl::Status status = KernelHost::Boot(config).status();  // no child: nothing may start
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("mountpoint 'data'"));
}

// A failure after the kernel started undoes everything: the disk mounted
// before it is unmounted (clean image), the kernel halted.
TEST_F(KernelHostTest, MountFailureAfterBootUndoesEverything) {
  std::string good = MakeExt4("good.img");
  std::string blank = dir_ + "/blank.img";
  ASSERT_EQ(Shell("rm -f " + blank + " && truncate -s 8M " + blank), 0);
  LkdConfig config;
  AddDisk(&config, good, "/data");
  AddDisk(&config, blank, "/more");
  absl::Status status = RunInChild([&]() -> absl::Status {
    absl::Status boot = KernelHost::Boot(config).status();
    if (auto s = CheckNoKernel(); !s.ok()) return s;
    return boot;
  });
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("disk 1 (" + blank + "): mount /dev/vd"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("ext4"));
  std::string out;
  EXPECT_EQ(Shell("e2fsck -fn " + good, &out), 0) << out;
}

TEST_F(KernelHostTest, SysctlsAndRoutesAreApplied) {
  LkdConfig config;
  config::Sysctl* sysctl = config.add_sysctl();
  sysctl->set_name("net.ipv4.ip_forward");
  sysctl->set_value("1");
  sysctl = config.add_sysctl();
  sysctl->set_name("net.ipv4.tcp_congestion_control");
  sysctl->set_value("bbr");
  config::Route* route = config.add_route();
  route->set_dest("10.77.0.0/16");
  route->set_dev("lo");
  route = config.add_route();
  route->set_dest("10.78.0.0/16");
  route->set_dev("lo");
  route->set_table(100);
  absl::Status status = RunInChild([&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<KernelHost>> host = KernelHost::Boot(config);
    if (!host.ok()) return host.status();
    absl::StatusOr<std::string> forward = KernelRead("/proc/sys/net/ipv4/ip_forward");
    if (!forward.ok()) return forward.status();
    if (auto s = Check(*forward == "1\n", "ip_forward is " + *forward); !s.ok()) return s;
    absl::StatusOr<std::string> cc = KernelRead("/proc/sys/net/ipv4/tcp_congestion_control");
    if (!cc.ok()) return cc.status();
    if (auto s = Check(*cc == "bbr\n", "congestion control is " + *cc); !s.ok()) return s;
    // The main table only; 10.77.0.0 is 0x0A4D0000, printed in host order.
    absl::StatusOr<std::string> routes = KernelRead("/proc/net/route");
    if (!routes.ok()) return routes.status();
    if (auto s = Check(routes->find("lo\t00004D0A") != std::string::npos, *routes); !s.ok())
      return s;
    if (auto s = Check(routes->find("00004E0A") == std::string::npos, *routes); !s.ok()) return s;
    if (auto s = CheckDescribed(**host, "route 1: 10.78.0.0/16 dev lo table 100"); !s.ok())
      return s;
    if (auto s = CheckDescribed(**host, "sysctl 0: net.ipv4.ip_forward = 1"); !s.ok()) return s;
    return (*host)->Shutdown();
  });
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(KernelHostTest, BadSysctlIsNamedAndTheKernelHalted) {
  LkdConfig config;
  config::Sysctl* sysctl = config.add_sysctl();
  sysctl->set_name("net.ipv4.no_such_thing");
  sysctl->set_value("1");
  absl::Status status = RunInChild([&]() -> absl::Status {
    absl::Status boot = KernelHost::Boot(config).status();
    if (auto s = CheckNoKernel(); !s.ok()) return s;
    return boot;
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("sysctl 0 (net.ipv4.no_such_thing)"));
}

// NICs over wires (no peer, so no carrier; addresses still apply): one
// with a MAC and an MTU from the config, one with a random MAC, both
// found by their MAC.
TEST_F(KernelHostTest, NicsAreFoundByMacAndGetTheirAddresses) {
  char tmpl[] = "/tmp/lkd-kh-XXXXXX";  // short: socket paths have 108 bytes
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string sockdir = tmpl;
  LkdConfig config;
  config::Nic* nic = config.add_nic();
  nic->set_backend("wire:" + sockdir + "/a,mac=02:00:00:00:00:42,mtu=9000");
  nic->add_address("10.9.0.2/24");
  nic->add_address("fd00:9::2/64");
  config.add_nic()->set_backend("wire:" + sockdir + "/b");
  absl::Status status = RunInChild([&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<KernelHost>> host = KernelHost::Boot(config);
    if (!host.ok()) return host.status();
    const std::vector<std::string>& links = (*host)->link_names();
    if (auto s = Check(links.size() == 2 && links[0] != links[1],
                       "link names: " + absl::StrJoin(links, ","));
        !s.ok())
      return s;
    std::string sys = "/sys/class/net/" + links[0];
    absl::StatusOr<std::string> mtu = KernelRead(sys + "/mtu");
    if (!mtu.ok()) return mtu.status();
    if (auto s = Check(*mtu == "9000\n", "mtu " + *mtu); !s.ok()) return s;
    absl::StatusOr<std::string> mac = KernelRead(sys + "/address");
    if (!mac.ok()) return mac.status();
    if (auto s = Check(*mac == "02:00:00:00:00:42\n", "mac " + *mac); !s.ok()) return s;
    absl::StatusOr<std::string> flags = KernelRead("/sys/class/net/" + links[1] + "/flags");
    if (!flags.ok()) return flags.status();
    if (auto s = Check(strtol(flags->c_str(), nullptr, 16) & 1, links[1] + " is not up"); !s.ok())
      return s;
    // Binding to an address works only where a link has it.
    long fd = Sys(LKD_NR_socket, AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return SysStatus(fd, "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, "10.9.0.2", &addr.sin_addr);
    long rc = Sys(LKD_NR_bind, fd, &addr, sizeof(addr));
    Sys(LKD_NR_close, fd);
    if (rc < 0) return SysStatus(rc, "bind 10.9.0.2");
    absl::StatusOr<std::string> v6 = KernelRead("/proc/net/if_inet6");
    if (!v6.ok()) return v6.status();
    if (auto s = Check(v6->find("fd000009000000000000000000000002") != std::string::npos, *v6);
        !s.ok())
      return s;
    std::string line =
        absl::StrCat("nic 0: wire:", sockdir, "/a,mac=02:00:00:00:00:42,mtu=9000 is ", links[0],
                     " (mac 02:00:00:00:00:42, mtu 9000) ", "10.9.0.2/24 fd00:9::2/64");
    if (auto s = CheckDescribed(**host, line); !s.ok()) return s;
    return (*host)->Shutdown();
  });
  Shell("rm -rf " + sockdir);
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace lkd::daemon
