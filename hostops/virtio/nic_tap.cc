// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// NIC backend: a TAP device (/dev/net/tun), existing or created by name.
//
// With IFF_VNET_HDR every frame carries the 12-byte virtio_net_hdr, so the
// checksum and TSO/GSO metadata pass untouched between the library kernel's
// virtio_net and the host's tun driver: a 64 KiB TCP segment crosses as one
// write, and the host segments it (or not) as it would for a VM.
#include <fcntl.h>
#include <linux/if_tun.h>
#include "hostops/virtio/virtio_net_uapi.h"
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "hostops/virtio/nic_backend.h"

namespace lkd::virtio {
namespace {

class TapBackend : public NicBackend {
 public:
  TapBackend(int fd, std::string name, bool vnet_hdr)
      : fd_(fd), name_(std::move(name)), vnet_hdr_(vnet_hdr) {}
  ~TapBackend() override { close(fd_); }

  std::string Describe() const override { return "tap:" + name_; }
  int VnetHeaderSize() const override {
    return vnet_hdr_ ? sizeof(virtio_net_hdr_mrg_rxbuf) : 0;
  }
  int fd() const override { return fd_; }

  int Send(const iovec* iov, int count) override {
    ssize_t n = writev(fd_, iov, count);
    return n < 0 ? -errno : 0;
  }
  ssize_t Receive(const iovec* iov, int count) override {
    ssize_t n = readv(fd_, iov, count);
    return n < 0 ? -errno : n;
  }

  absl::Status SetReceiveOffloads(const ReceiveOffloads& offloads) override {
    if (!vnet_hdr_) return absl::OkStatus();
    unsigned flags = 0;
    if (offloads.csum) {
      flags |= TUN_F_CSUM;
      // tun accepts TSO only together with checksum offload.
      if (offloads.tso4) flags |= TUN_F_TSO4;
      if (offloads.tso6) flags |= TUN_F_TSO6;
      if (offloads.ecn && (offloads.tso4 || offloads.tso6))
        flags |= TUN_F_TSO_ECN;
    }
    if (ioctl(fd_, TUNSETOFFLOAD, flags) < 0)
      return absl::InternalError(
          absl::StrCat(Describe(), ": TUNSETOFFLOAD: ", strerror(errno)));
    return absl::OkStatus();
  }

  // A TAP's cable is its file descriptor: while lkd holds it, the host
  // side has a carrier.
  bool CarrierUp() override { return true; }

 private:
  const int fd_;
  const std::string name_;
  const bool vnet_hdr_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NicBackend>> OpenTapBackend(
    const std::string& name, bool vnet_hdr) {
  std::string what = "tap:" + name;
  if (name.empty() || name.size() >= IFNAMSIZ)
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": a TAP name must have 1 to ", IFNAMSIZ - 1, " characters"));
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": cannot open /dev/net/tun: ", strerror(errno),
        errno == ENOENT ? " (is the tun module loaded?)" : ""));
  bool existed = if_nametoindex(name.c_str()) != 0;
  ifreq ifr{};
  memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    const char* hint = "";
    if (err == EBUSY)
      hint = " (the TAP is in use by another process)";
    else if (err == EPERM)
      hint = existed ? " (the TAP belongs to another user)"
                     : " (creating a TAP needs CAP_NET_ADMIN; or create it "
                       "first: ip tuntap add NAME mode tap user UID)";
    else if (err == EINVAL)
      hint = " (an interface of another type has this name)";
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": TUNSETIFF: ", strerror(err), hint));
  }
  if (vnet_hdr) {
    int size = sizeof(virtio_net_hdr_mrg_rxbuf);
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0 ||
        ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
      int err = errno;
      close(fd);  // a TAP we created is not persistent: it goes with fd
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": vnet header setup: ", strerror(err)));
    }
  }
  return std::unique_ptr<NicBackend>(new TapBackend(fd, name, vnet_hdr));
}

}  // namespace lkd::virtio
