// SPDX-License-Identifier: GPL-2.0
// The setup helpers against the real kernel, each checked by its effect
// through another interface than the one it used (ioctl against
// rtnetlink, bind and connect against addresses and routes, /proc/mounts
// against mount). Disks and NICs need devices: tests/devices.
#include "kernel/setup/setup.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "kernel/testing/kernel_test_util.h"

namespace lkd::setup {
namespace {

using ::lkd::testing::kAtFdCwd;
using ::lkd::testing::ReadFile;
using ::lkd::testing::Sys;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A link ioctl in the kernel, independent of the helpers under test.
ifreq LinkIoctl(const char* name, unsigned long request) {
  ifreq ifr{};
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  long fd = Sys(LKD_NR_socket, AF_INET, SOCK_DGRAM, 0);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(Sys(LKD_NR_ioctl, fd, request, &ifr), 0);
  Sys(LKD_NR_close, fd);
  return ifr;
}

// Binds (or connects) a datagram socket to `ip` in the kernel: 0 or -errno.
long UseAddress(const char* ip, bool connect) {
  bool v6 = strchr(ip, ':') != nullptr;
  long fd = Sys(LKD_NR_socket, v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(9);
    EXPECT_EQ(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(9);
    EXPECT_EQ(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    len = sizeof(*a);
  }
  long rc = Sys(connect ? LKD_NR_connect : LKD_NR_bind, fd, &ss, len);
  Sys(LKD_NR_close, fd);
  return rc;
}
long BindTo(const char* ip) { return UseAddress(ip, false); }
long ConnectTo(const char* ip) { return UseAddress(ip, true); }

std::string KernelFile(const std::string& path) {
  std::string data;
  absl::Status s = ReadFile(path, &data);
  EXPECT_TRUE(s.ok()) << s;
  return data;
}

// The line of `table` (e.g. /proc/mounts) that contains `key`, or "".
std::string LineWith(const std::string& table, const std::string& key) {
  size_t at = table.find(key);
  if (at == std::string::npos) return "";
  size_t begin = table.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return table.substr(begin, table.find('\n', at) - begin);
}

TEST(SetupTest, LinkDownAndUp) {
  ASSERT_TRUE(LinkDown("lo").ok());
  EXPECT_FALSE(LinkIoctl("lo", SIOCGIFFLAGS).ifr_flags & IFF_UP);
  EXPECT_EQ(KernelFile("/sys/class/net/lo/operstate"), "down\n");
  ASSERT_TRUE(LinkUp("lo").ok());
  EXPECT_TRUE(LinkIoctl("lo", SIOCGIFFLAGS).ifr_flags & IFF_UP);
  EXPECT_TRUE(LinkIoctl("lo", SIOCGIFFLAGS).ifr_flags & IFF_LOOPBACK) << "other flags kept";
  EXPECT_EQ(KernelFile("/sys/class/net/lo/operstate"), "unknown\n");  // lo has no carrier state
  ASSERT_TRUE(LinkUp("lo").ok()) << "up twice is fine";
}

TEST(SetupTest, Mtu) {
  ASSERT_TRUE(SetMtu("lo", 9000).ok());
  EXPECT_EQ(LinkIoctl("lo", SIOCGIFMTU).ifr_mtu, 9000);
  absl::Status bad = SetMtu("lo", -1);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "set mtu -1 on lo: Invalid argument (EINVAL)");
  EXPECT_EQ(LinkIoctl("lo", SIOCGIFMTU).ifr_mtu, 9000);
  ASSERT_TRUE(SetMtu("lo", 65536).ok());
  EXPECT_EQ(LinkIoctl("lo", SIOCGIFMTU).ifr_mtu, 65536);
}

TEST(SetupTest, LinkLookups) {
  absl::StatusOr<int> lo = LinkIndex("lo");
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_EQ(*lo, 1);

  absl::StatusOr<int> missing = LinkIndex("nosuch0");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "find link nosuch0: no link named 'nosuch0' (ENODEV)");
  EXPECT_EQ(LinkUp("nosuch0").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SetMtu("nosuch0", 1500).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LinkIndex("a-name-longer-than-15").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LinkIndex("").status().code(), absl::StatusCode::kInvalidArgument);

  // The loopback link's hardware address is six zero bytes.
  absl::StatusOr<std::string> by_mac = LinkNameByMac({0, 0, 0, 0, 0, 0});
  ASSERT_TRUE(by_mac.ok()) << by_mac.status();
  EXPECT_EQ(*by_mac, "lo");
  absl::StatusOr<std::string> no_mac = LinkNameByMac({2, 0, 0, 0, 0, 9});
  EXPECT_EQ(no_mac.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(std::string(no_mac.status().message()), "02:00:00:00:00:09"))
      << no_mac.status();
}

TEST(SetupTest, AddressesAreUsableAtOnce) {
  EXPECT_EQ(BindTo("10.9.9.9"), -EADDRNOTAVAIL);
  ASSERT_TRUE(AddAddress("lo", "10.9.9.9/32").ok());
  EXPECT_EQ(BindTo("10.9.9.9"), 0);
  EXPECT_EQ(BindTo("10.9.9.8"), -EADDRNOTAVAIL);

  EXPECT_EQ(BindTo("fd00:9::9"), -EADDRNOTAVAIL);
  absl::Status v6 = AddAddress("lo", "fd00:9::9/64");
  ASSERT_TRUE(v6.ok()) << v6;
  EXPECT_EQ(BindTo("fd00:9::9"), 0) << "IFA_F_NODAD: not tentative";
  EXPECT_EQ(BindTo("fd00:9::8"), -EADDRNOTAVAIL);

  // A /24 gets its broadcast address: the kernel adds a local broadcast
  // route for it.
  ASSERT_TRUE(AddAddress("lo", "10.8.8.1/24").ok());
  EXPECT_EQ(BindTo("10.8.8.1"), 0);
  std::string trie = KernelFile("/proc/net/fib_trie");
  EXPECT_TRUE(Contains(trie, "10.8.8.255")) << trie;

  absl::Status again = AddAddress("lo", "10.9.9.9/32");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(again.message(), "add address 10.9.9.9/32 to lo: File exists (EEXIST)");
  EXPECT_EQ(AddAddress("lo", "fd00:9::9/64").code(), absl::StatusCode::kAlreadyExists);

  absl::Status bad = AddAddress("lo", "10.9.9.300/24");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(),
            "add address 10.9.9.300/24 to lo: '10.9.9.300/24' is not an IPv4 or IPv6 address");
  EXPECT_EQ(AddAddress("lo", "10.9.9.9/33").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddAddress("lo", "10.9.9.9/").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddAddress("lo", "10.9.9.9/+8").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddAddress("lo", "fd00::1/129").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddAddress("nosuch0", "10.9.9.10/24").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(BindTo("10.9.9.10"), -EADDRNOTAVAIL);
}

// Routes are one test: a default route added at its end changes what
// "unreachable" means for everything after it.
TEST(SetupTest, RoutesTakeEffect) {
  // A link route: unreachable before, reachable after.
  EXPECT_EQ(ConnectTo("10.77.0.5"), -ENETUNREACH);
  absl::Status v4 = AddRoute("10.77.0.0/16", "", "lo");
  ASSERT_TRUE(v4.ok()) << v4;
  EXPECT_EQ(ConnectTo("10.77.0.5"), 0);
  std::string routes = KernelFile("/proc/net/route");
  EXPECT_TRUE(Contains(routes, "lo\t00004D0A\t00000000")) << routes;  // 10.77.0.0, no gateway
  absl::Status again = AddRoute("10.77.0.0/16", "", "lo");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(again.message(), "add route 10.77.0.0/16 dev lo: File exists (EEXIST)");

  // Through a gateway on a link subnet.
  ASSERT_TRUE(AddAddress("lo", "10.66.0.1/24").ok());
  absl::Status via = AddRoute("10.67.0.0/16", "10.66.0.2", "");
  ASSERT_TRUE(via.ok()) << via;
  routes = KernelFile("/proc/net/route");
  EXPECT_TRUE(Contains(routes, "lo\t0000430A\t0200420A")) << routes;  // via 10.66.0.2
  EXPECT_EQ(ConnectTo("10.67.1.1"), 0);
  absl::Status unreachable = AddRoute("10.68.0.0/16", "192.0.2.1", "");
  EXPECT_EQ(unreachable.message(),
            "add route 10.68.0.0/16 via 192.0.2.1: Network is unreachable (ENETUNREACH)");

  // Other tables: not in main (which /proc/net/route shows and lookups
  // use), but there: adding again is EEXIST. 1000 needs RTA_TABLE.
  ASSERT_TRUE(AddRoute("10.88.0.0/16", "", "lo", 100).ok());
  EXPECT_FALSE(Contains(KernelFile("/proc/net/route"), "00005810"));
  EXPECT_EQ(ConnectTo("10.88.0.5"), -ENETUNREACH);
  EXPECT_EQ(AddRoute("10.88.0.0/16", "", "lo", 100).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(AddRoute("10.88.0.0/16", "", "lo", 1000).ok());
  EXPECT_EQ(AddRoute("10.88.0.0/16", "", "lo", 1000).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(AddRoute("10.88.0.0/16", "", "lo").ok()) << "main is a third table";
  EXPECT_EQ(ConnectTo("10.88.0.5"), 0);

  // IPv6. The kernel turns routes out of lo into reject routes (they
  // would loop), so only their presence can be checked here.
  absl::Status v6 = AddRoute("fd00:77::/48", "", "lo");
  ASSERT_TRUE(v6.ok()) << v6;
  routes = KernelFile("/proc/net/ipv6_route");
  std::string v6_route = LineWith(routes, "fd000077000000000000000000000000 30");
  EXPECT_TRUE(Contains(v6_route, " 00200200 ")) << "RTF_REJECT|RTF_NONEXTHOP: " << v6_route;
  EXPECT_EQ(AddRoute("fd00:77::/48", "", "lo").code(), absl::StatusCode::kAlreadyExists);

  // Text that never reaches the kernel.
  absl::Status bad = AddRoute("bogus", "", "lo");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "add route bogus dev lo: 'bogus' is not an IPv4 or IPv6 address");
  EXPECT_EQ(AddRoute("10.79.0.1/16", "", "lo").message(),
            "add route 10.79.0.1/16 dev lo: '10.79.0.1/16' has bits set past its /16 prefix");
  EXPECT_EQ(AddRoute("10.79.0.0/16", "", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddRoute("10.79.0.0/16", "fd00:66::2", "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddRoute("10.79.0.0/16", "10.66.0.2/24", "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddRoute("10.79.0.0/16", "", "nosuch0").code(), absl::StatusCode::kNotFound);

  // Last: a default route makes every IPv4 destination reachable.
  EXPECT_EQ(ConnectTo("10.99.0.1"), -ENETUNREACH);
  absl::Status def = AddRoute("default", "10.66.0.2", "");
  ASSERT_TRUE(def.ok()) << def;
  EXPECT_TRUE(Contains(KernelFile("/proc/net/route"), "lo\t00000000\t0200420A"));
  EXPECT_EQ(ConnectTo("10.99.0.1"), 0);
}

TEST(SetupTest, Sysctls) {
  ASSERT_TRUE(SetSysctl("net.ipv4.tcp_timestamps", "0").ok());
  EXPECT_EQ(KernelFile("/proc/sys/net/ipv4/tcp_timestamps"), "0\n");
  absl::StatusOr<std::string> value = GetSysctl("net.ipv4.tcp_timestamps");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "0");
  ASSERT_TRUE(SetSysctl("/proc/sys/net/ipv4/tcp_timestamps", "1").ok());
  EXPECT_EQ(GetSysctl("net/ipv4/tcp_timestamps").value_or(""), "1");
  EXPECT_EQ(KernelFile("/proc/sys/net/ipv4/tcp_timestamps"), "1\n");

  // Names with a dot in a component, sysctl(8)-style, and tabs kept.
  EXPECT_EQ(GetSysctl("net/ipv4/conf/lo/forwarding").value_or("?"), "0");
  EXPECT_EQ(GetSysctl("net.ipv4.ip_local_port_range").value_or("?").find('\t') !=
                std::string::npos,
            true);

  absl::Status bad = SetSysctl("net.ipv4.tcp_timestamps", "abc");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "set sysctl net.ipv4.tcp_timestamps to 'abc': Invalid argument (EINVAL)");
  EXPECT_EQ(GetSysctl("net.ipv4.tcp_timestamps").value_or(""), "1");

  absl::Status unknown = SetSysctl("net.nosuch.knob", "1");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.message(), "set sysctl net.nosuch.knob to '1': no such sysctl");
  EXPECT_EQ(GetSysctl("net.nosuch.knob").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetSysctl("net..ipv4").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetSysctl("/proc/sys/../mounts").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SetupTest, MountAndUnmount) {
  ASSERT_TRUE(Mount("tmpfs", "/tmp/a/b/c", "tmpfs", false).ok());
  EXPECT_NE(LineWith(KernelFile("/proc/mounts"), " /tmp/a/b/c tmpfs "), "");
  ASSERT_TRUE(Unmount("/tmp/a/b/c").ok());
  EXPECT_EQ(LineWith(KernelFile("/proc/mounts"), " /tmp/a/b/c "), "");
  absl::Status twice = Unmount("/tmp/a/b/c");
  EXPECT_EQ(twice.message(), "unmount /tmp/a/b/c: not a mount point (EINVAL)");

  // Read-only means read-only; options reach the file system.
  ASSERT_TRUE(Mount("tmpfs", "/tmp/ro", "tmpfs", true).ok());
  EXPECT_EQ(Sys(LKD_NR_openat, kAtFdCwd, "/tmp/ro/f", O_CREAT | O_WRONLY, 0644), -EROFS);
  EXPECT_TRUE(Contains(LineWith(KernelFile("/proc/mounts"), " /tmp/ro "), " ro,"));
  ASSERT_TRUE(Unmount("/tmp/ro").ok());
  ASSERT_TRUE(Mount("tmpfs", "/tmp/opt", "tmpfs", false, "mode=0700").ok());
  EXPECT_TRUE(Contains(LineWith(KernelFile("/proc/mounts"), " /tmp/opt "), "mode=700"));

  // A busy file system stays mounted.
  long fd = Sys(LKD_NR_openat, kAtFdCwd, "/tmp/opt/f", O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  absl::Status busy = Unmount("/tmp/opt");
  EXPECT_EQ(busy.message(),
            "unmount /tmp/opt: busy: files open on it or file systems mounted below it (EBUSY)");
  Sys(LKD_NR_close, fd);
  ASSERT_TRUE(Unmount("/tmp/opt").ok());
}

TEST(SetupTest, MountErrorsInWords) {
  absl::Status type = Mount("none", "/tmp/x", "nosuchfs", false);
  EXPECT_EQ(type.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(type.message(),
            "mount none on /tmp/x as nosuchfs: this kernel has no file system type 'nosuchfs' "
            "(ENODEV)");

  absl::Status options = Mount("proc", "/tmp/p", "proc", false, "hidepid=bogus");
  EXPECT_EQ(options.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(options.message(),
            "mount proc on /tmp/p as proc: not a proc file system or bad options (EINVAL)");

  // A regular file is no disk.
  long fd = Sys(LKD_NR_openat, kAtFdCwd, "/tmp/image", O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  Sys(LKD_NR_close, fd);
  absl::Status notblk = Mount("/tmp/image", "/tmp/m", "ext4", true);
  EXPECT_EQ(notblk.message(),
            "mount /tmp/image on /tmp/m as ext4 (read-only): /tmp/image is not a block device "
            "(ENOTBLK)");
  absl::Status nodev = Mount("/tmp/nosuch", "/tmp/m", "ext4", false);
  EXPECT_EQ(nodev.message(),
            "mount /tmp/nosuch on /tmp/m as ext4: no such device /tmp/nosuch (ENOENT)");

  EXPECT_EQ(Mount("tmpfs", "tmp/rel", "tmpfs", false).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LineWith(KernelFile("/proc/mounts"), " /tmp/m "), "");
}

TEST(SetupTest, DevtmpfsAndDisks) {
  ASSERT_TRUE(MountDevtmpfs().ok());
  absl::Status again = MountDevtmpfs();
  ASSERT_TRUE(again.ok()) << again;
  std::string mounts = KernelFile("/proc/mounts");
  size_t first = mounts.find(" /dev devtmpfs ");
  ASSERT_NE(first, std::string::npos) << mounts;
  EXPECT_EQ(mounts.find(" /dev devtmpfs ", first + 1), std::string::npos) << "mounted once";

  absl::StatusOr<std::string> disk = DiskBySerial("data");
  EXPECT_EQ(disk.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(disk.status().message(), "find disk with serial 'data': no disk has it");
}

// No helper leaves a kernel fd behind, on success or on error.
TEST(SetupTest, NoFdLeaks) {
  auto count_fds = [] {
    long fd = Sys(LKD_NR_openat, kAtFdCwd, "/proc/self/fd", O_RDONLY | O_DIRECTORY, 0);
    EXPECT_GE(fd, 0);
    alignas(8) char buf[8192];
    int entries = 0;
    long n;
    while ((n = Sys(LKD_NR_getdents64, fd, buf, sizeof(buf))) > 0) {
      for (long off = 0; off < n;) {
        uint16_t reclen;
        memcpy(&reclen, buf + off + 16, sizeof(reclen));
        off += reclen;
        entries++;
      }
    }
    Sys(LKD_NR_close, fd);
    return entries;
  };
  int before = count_fds();
  EXPECT_TRUE(LinkUp("lo").ok());
  EXPECT_FALSE(LinkUp("nosuch0").ok());
  EXPECT_TRUE(LinkNameByMac({0, 0, 0, 0, 0, 0}).ok());
  EXPECT_FALSE(LinkNameByMac({2, 0, 0, 0, 0, 1}).ok());
  EXPECT_TRUE(AddAddress("lo", "10.5.5.5/24").ok());
  EXPECT_FALSE(AddAddress("lo", "10.5.5.5/24").ok());
  EXPECT_TRUE(AddRoute("10.55.0.0/16", "", "lo").ok());
  EXPECT_FALSE(AddRoute("10.55.0.0/16", "", "lo").ok());
  EXPECT_TRUE(GetSysctl("net.ipv4.ip_forward").ok());
  EXPECT_FALSE(SetSysctl("net.ipv4.ip_forward", "x").ok());
  EXPECT_TRUE(MountDevtmpfs().ok());
  EXPECT_FALSE(DiskBySerial("x").ok());
  EXPECT_FALSE(Mount("none", "/tmp/y", "nosuchfs", false).ok());
  EXPECT_EQ(count_fds(), before);
}

}  // namespace
}  // namespace lkd::setup
