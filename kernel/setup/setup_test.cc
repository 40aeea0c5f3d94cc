// SPDX-License-Identifier: GPL-2.0
// The setup helpers against the real kernel (disks: tests/devices).
#include "kernel/setup/setup.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "kernel/testing/kernel_test_util.h"

namespace lkd::setup {
namespace {

using testing::ReadFile;
using testing::Sys;

int LoFlags() {
  long fd = Sys(LKD_NR_socket, AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  strcpy(ifr.ifr_name, "lo");
  Sys(LKD_NR_ioctl, fd, SIOCGIFFLAGS, &ifr);
  Sys(LKD_NR_close, fd);
  return ifr.ifr_flags;
}

// Binds a datagram socket to `ip` in the kernel: 0 or -errno.
long BindTo(const char* ip) {
  bool v6 = strchr(ip, ':') != nullptr;
  long fd = Sys(LKD_NR_socket, v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  long rc;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    rc = Sys(LKD_NR_bind, fd, &a, sizeof(a));
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a.sin_addr);
    rc = Sys(LKD_NR_bind, fd, &a, sizeof(a));
  }
  Sys(LKD_NR_close, fd);
  return rc;
}

TEST(SetupTest, LinkDownUpAndMtu) {
  ASSERT_TRUE(LinkDown("lo").ok());
  EXPECT_FALSE(LoFlags() & IFF_UP);
  ASSERT_TRUE(LinkUp("lo").ok());
  EXPECT_TRUE(LoFlags() & IFF_UP);
  ASSERT_TRUE(SetMtu("lo", 9000).ok());
  std::string mtu;
  ASSERT_TRUE(ReadFile("/sys/class/net/lo/mtu", &mtu).ok());
  EXPECT_EQ(mtu, "9000\n");
  EXPECT_FALSE(SetMtu("lo", -1).ok());
  ASSERT_TRUE(SetMtu("lo", 65536).ok());
}

TEST(SetupTest, LinkIndexAndMissingLinks) {
  absl::StatusOr<int> lo = LinkIndex("lo");
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_EQ(*lo, 1);
  absl::StatusOr<int> missing = LinkIndex("nosuch0");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nosuch0"), std::string::npos);
  EXPECT_EQ(LinkUp("nosuch0").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LinkNameByMac({2, 0, 0, 0, 0, 9}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SetupTest, AddressesAreUsable) {
  EXPECT_EQ(BindTo("10.9.9.9"), -EADDRNOTAVAIL);
  ASSERT_TRUE(AddAddress("lo", "10.9.9.9/32").ok());
  EXPECT_EQ(BindTo("10.9.9.9"), 0);
  EXPECT_EQ(BindTo("fd00:9::9"), -EADDRNOTAVAIL);
  absl::Status v6 = AddAddress("lo", "fd00:9::9/64");
  ASSERT_TRUE(v6.ok()) << v6;
  EXPECT_EQ(BindTo("fd00:9::9"), 0) << "NODAD: usable at once";
  absl::Status again = AddAddress("lo", "10.9.9.9/32");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.message().find("EEXIST"), std::string::npos) << again;
  EXPECT_EQ(AddAddress("lo", "10.9.9.300/24").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddAddress("lo", "10.9.9.9/33").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddAddress("nosuch0", "10.9.9.10/24").code(),
            absl::StatusCode::kNotFound);
}

TEST(SetupTest, RoutesAppearInTheKernelTables) {
  absl::Status v4 = AddRoute("10.77.0.0/16", "", "lo");
  ASSERT_TRUE(v4.ok()) << v4;
  std::string routes;
  ASSERT_TRUE(ReadFile("/proc/net/route", &routes).ok());
  EXPECT_NE(routes.find("00004D0A"), std::string::npos) << routes;  // 10.77.0.0
  absl::Status v6 = AddRoute("fd00:77::/48", "", "lo");
  ASSERT_TRUE(v6.ok()) << v6;
  ASSERT_TRUE(ReadFile("/proc/net/ipv6_route", &routes).ok());
  EXPECT_NE(routes.find("fd000077000000000000000000000000 30"), std::string::npos)
      << routes;
  EXPECT_EQ(AddRoute("10.77.0.0/16", "", "lo").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(AddRoute("bogus", "", "lo").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddRoute("10.78.0.0/16", "", "").code(),
            absl::StatusCode::kInvalidArgument);
  // A gateway that is not reachable: the kernel refuses.
  EXPECT_FALSE(AddRoute("default", "192.0.2.1", "").ok());
}

TEST(SetupTest, SysctlRoundTrip) {
  ASSERT_TRUE(SetSysctl("net.ipv4.tcp_timestamps", "0").ok());
  absl::StatusOr<std::string> value = GetSysctl("net.ipv4.tcp_timestamps");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, "0");
  ASSERT_TRUE(SetSysctl("/proc/sys/net/ipv4/tcp_timestamps", "1").ok());
  EXPECT_EQ(*GetSysctl("net.ipv4.tcp_timestamps"), "1");
  EXPECT_EQ(SetSysctl("net.nosuch.knob", "1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetSysctl("net.nosuch.knob").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SetupTest, MountsAndDevtmpfs) {
  ASSERT_TRUE(Mount("tmpfs", "/tmp/a/b/c", "tmpfs", false).ok());
  std::string mounts;
  ASSERT_TRUE(ReadFile("/proc/mounts", &mounts).ok());
  EXPECT_NE(mounts.find(" /tmp/a/b/c tmpfs "), std::string::npos) << mounts;
  ASSERT_TRUE(Unmount("/tmp/a/b/c").ok());
  ASSERT_TRUE(ReadFile("/proc/mounts", &mounts).ok());
  EXPECT_EQ(mounts.find(" /tmp/a/b/c "), std::string::npos);
  EXPECT_FALSE(Unmount("/tmp/a/b/c").ok());

  absl::Status bad = Mount("none", "/tmp/x", "nosuchfs", false);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("no such file system type"), std::string::npos)
      << bad;

  ASSERT_TRUE(MountDevtmpfs().ok());
  ASSERT_TRUE(MountDevtmpfs().ok()) << "twice is fine";
  ASSERT_TRUE(ReadFile("/proc/mounts", &mounts).ok());
  size_t first = mounts.find(" /dev devtmpfs ");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(mounts.find(" /dev devtmpfs ", first + 1), std::string::npos);
  EXPECT_EQ(DiskBySerial("data").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace lkd::setup
