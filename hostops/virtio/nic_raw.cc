// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// NIC backend: an AF_PACKET socket bound to an existing host interface
// (typically one end of a veth pair), in promiscuous mode: the library
// kernel becomes one more station on that interface's segment.
//
// PACKET_VNET_HDR puts the 10-byte legacy virtio_net_hdr before each frame,
// so checksum and GSO metadata pass as with a TAP. Our own transmissions
// are not looped back (PACKET_IGNORE_OUTGOING).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include "hostops/virtio/virtio_net_uapi.h"
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "hostops/virtio/nic_backend.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

namespace lkd::virtio {
namespace {

class RawBackend : public NicBackend {
 public:
  RawBackend(int fd, std::string ifname, bool vnet_hdr)
      : fd_(fd), ifname_(std::move(ifname)), vnet_hdr_(vnet_hdr) {}
  ~RawBackend() override { close(fd_); }

  std::string Describe() const override { return "raw:" + ifname_; }
  int VnetHeaderSize() const override {
    return vnet_hdr_ ? sizeof(virtio_net_hdr) : 0;
  }
  int fd() const override { return fd_; }

  int Send(const iovec* iov, int count) override {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = count;
    ssize_t n = sendmsg(fd_, &msg, MSG_DONTWAIT);
    // ENOBUFS (the interface's queue is full) drops the frame, as a full
    // NIC queue would; the kernel's TCP recovers it.
    return n < 0 ? -errno : 0;
  }

  ssize_t Receive(const iovec* iov, int count) override {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = count;
    ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT);
    return n < 0 ? -errno : n;
  }

  bool CarrierUp() override {
    ifreq ifr{};
    memcpy(ifr.ifr_name, ifname_.data(), ifname_.size());
    if (ioctl(fd_, SIOCGIFFLAGS, &ifr) < 0) return false;
    return (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
  }

 private:
  const int fd_;
  const std::string ifname_;
  const bool vnet_hdr_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NicBackend>> OpenRawBackend(
    const std::string& ifname, bool vnet_hdr) {
  std::string what = "raw:" + ifname;
  if (ifname.empty() || ifname.size() >= IFNAMSIZ)
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": an interface name must have 1 to ", IFNAMSIZ - 1,
        " characters"));
  unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0)
    return absl::NotFoundError(
        absl::StrCat(what, ": no host interface named '", ifname, "'"));
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  htons(ETH_P_ALL));
  if (fd < 0)
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": AF_PACKET socket: ", strerror(errno),
        errno == EPERM ? " (needs CAP_NET_RAW)" : ""));
  auto fail = [&](const char* step) {
    int err = errno;
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": ", step, ": ", strerror(err)));
  };
  int one = 1;
  if (vnet_hdr &&
      setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
    return fail("PACKET_VNET_HDR");
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) <
      0)
    return fail("PACKET_IGNORE_OUTGOING");
  // Room for bursts of 64 KiB GSO frames; the forced variants need
  // CAP_NET_ADMIN, which a raw socket user normally has; else keep defaults.
  int bytes = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(index);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0)
    return fail("bind");
  packet_mreq mreq{};
  mreq.mr_ifindex = static_cast<int>(index);
  mreq.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) <
      0)
    return fail("promiscuous mode");
  return std::unique_ptr<NicBackend>(new RawBackend(fd, ifname, vnet_hdr));
}

}  // namespace lkd::virtio
