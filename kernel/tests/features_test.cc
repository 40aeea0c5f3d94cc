// SPDX-License-Identifier: GPL-2.0
// The kernel configuration the issue asks for is really there, seen from
// inside the kernel: file systems, netlink, packet sockets, event fds,
// qdiscs, netfilter, virtio-mmio.
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "kernel/testing/kernel_test_util.h"

namespace lkd::testing {
namespace {

std::string Read(const std::string& path) {
  std::string s;
  absl::Status status = ReadFile(path, &s);
  EXPECT_TRUE(status.ok()) << status;
  return s;
}

TEST(Features, FileSystems) {
  std::string fs = Read("/proc/filesystems");
  for (const char* name : {"\text4\n", "\tvfat\n", "\ttmpfs\n", "\tproc\n", "\tsysfs\n", "\tramfs\n"}) {
    EXPECT_NE(fs.find(name), std::string::npos) << name << " missing from:\n" << fs;
  }
}

TEST(Features, SysctlsOfTheNetworkStack) {
  // HZ=1000, policy routing, IPv6, fq and bbr.
  EXPECT_EQ(Read("/proc/sys/net/ipv6/conf/lo/disable_ipv6"), "0\n");
  EXPECT_NE(Read("/proc/net/dev").find("lo:"), std::string::npos);
  ASSERT_TRUE(WriteFile("/proc/sys/net/core/default_qdisc", "fq").ok()) << "sch_fq built in";
  EXPECT_EQ(Read("/proc/sys/net/core/default_qdisc"), "fq\n");
  ASSERT_TRUE(WriteFile("/proc/sys/net/core/default_qdisc", "pfifo_fast").ok());
  std::string cc = Read("/proc/sys/net/ipv4/tcp_available_congestion_control");
  EXPECT_NE(cc.find("cubic"), std::string::npos);
  EXPECT_NE(cc.find("bbr"), std::string::npos);
}

// An RTM_GETLINK dump over rtnetlink lists the loopback device.
TEST(Features, RtnetlinkLinkDump) {
  long fd = Sys(LKD_NR_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  ASSERT_GE(fd, 0);
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
  } req = {};
  req.nh.nlmsg_len = sizeof(req);
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.ifi.ifi_family = AF_UNSPEC;
  sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  ASSERT_EQ(Sys(LKD_NR_sendto, fd, &req, sizeof(req), 0, &kernel, sizeof(kernel)),
            static_cast<long>(sizeof(req)));
  bool saw_lo = false, done = false;
  alignas(8) char buf[16384];
  while (!done) {
    long n = Sys(LKD_NR_recvfrom, fd, buf, sizeof(buf), 0, nullptr, nullptr);
    ASSERT_GT(n, 0);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      ASSERT_EQ(nh->nlmsg_type, RTM_NEWLINK);
      auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(nh));
      int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
      for (auto* rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type == IFLA_IFNAME && strcmp(static_cast<char*>(RTA_DATA(rta)), "lo") == 0) {
          saw_lo = true;
          EXPECT_TRUE(ifi->ifi_flags & IFF_UP);
        }
      }
    }
  }
  EXPECT_TRUE(saw_lo);
  Sys(LKD_NR_close, fd);
}

TEST(Features, PacketAndNetfilterSockets) {
  long packet = Sys(LKD_NR_socket, AF_PACKET, SOCK_RAW, htons(0x0003 /* ETH_P_ALL */));
  EXPECT_GE(packet, 0) << "AF_PACKET";
  Sys(LKD_NR_close, packet);
  long nf = Sys(LKD_NR_socket, AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  EXPECT_GE(nf, 0) << "nfnetlink (nftables)";
  Sys(LKD_NR_close, nf);
}

TEST(Features, EventfdTimerfdSignalfd) {
  long efd = Sys(LKD_NR_eventfd2, 0, EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  uint64_t v = 5;
  EXPECT_EQ(Sys(LKD_NR_write, efd, &v, sizeof(v)), 8);
  v = 0;
  EXPECT_EQ(Sys(LKD_NR_read, efd, &v, sizeof(v)), 8);
  EXPECT_EQ(v, 5u);

  long tfd = Sys(LKD_NR_timerfd_create, CLOCK_MONOTONIC, TFD_CLOEXEC);
  ASSERT_GE(tfd, 0);
  itimerspec its = {};
  its.it_value.tv_nsec = 2 * 1000 * 1000;
  ASSERT_EQ(Sys(LKD_NR_timerfd_settime, tfd, 0, &its, nullptr), 0);
  uint64_t expirations = 0;
  EXPECT_EQ(Sys(LKD_NR_read, tfd, &expirations, sizeof(expirations)), 8) << "blocks until expiry";
  EXPECT_EQ(expirations, 1u);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1);
  long sfd = Sys(LKD_NR_signalfd4, -1, &mask, 8, SFD_CLOEXEC);
  EXPECT_GE(sfd, 0);
  for (long fd : {efd, tfd, sfd}) Sys(LKD_NR_close, fd);
}

TEST(Features, VirtioDriversAreBuiltIn) {
  // virtio-mmio (with its virtio_mmio.device= command-line hook), and the
  // virtio-net and virtio-blk drivers that will drive lkd's devices.
  for (const char* dir : {"/sys/bus/platform/drivers/virtio-mmio", "/sys/bus/virtio/drivers/virtio_net",
                          "/sys/bus/virtio/drivers/virtio_blk"}) {
    long fd = Sys(LKD_NR_openat, kAtFdCwd, dir, O_RDONLY | O_DIRECTORY, 0);
    EXPECT_GE(fd, 0) << dir;
    Sys(LKD_NR_close, fd);
  }
}

}  // namespace
}  // namespace lkd::testing
