// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// NIC backend: a "wire" joining two library kernels in two processes,
// without root, through one Unix datagram socket path.
//
// The first process to open PATH binds it and waits ("listener"); the
// second binds an abstract autobind address and connects to PATH
// ("caller"), announcing itself with an empty datagram. Each datagram is
// one frame: the 12-byte virtio_net_hdr then the Ethernet frame, so
// checksum and GSO offloads pass between the two kernels as between two
// VMs on a host bridge. A third process finds the wire busy (EPERM).
//
// Carrier: the caller's is up while its sends reach the listener; the
// listener's while it has a live caller. If one end goes away, the other's
// sends fail with ECONNREFUSED (the kernel then disconnects the socket) and
// its carrier drops; a restarted caller re-announces itself and a
// restarted listener is found again by the caller's Tick().
#include "hostops/virtio/virtio_net_uapi.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "hostops/virtio/nic_backend.h"

namespace lkd::virtio {
namespace {

bool MakeAddress(const std::string& path, sockaddr_un* addr) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr->sun_path)) return false;
  memcpy(addr->sun_path, path.data(), path.size());
  return true;
}

class WireBackend : public NicBackend {
 public:
  WireBackend(int fd, std::string path, bool listener)
      : fd_(fd), path_(std::move(path)), listener_(listener) {
    connected_ = !listener;
  }
  ~WireBackend() override {
    close(fd_);
    if (listener_) unlink(path_.c_str());
  }

  std::string Describe() const override { return "wire:" + path_; }
  int VnetHeaderSize() const override {
    return sizeof(virtio_net_hdr_mrg_rxbuf);
  }
  int fd() const override { return fd_; }

  int Send(const iovec* iov, int count) override {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = count;
    ssize_t n = sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return 0;
    int err = errno;
    if (err == ECONNREFUSED || err == ENOTCONN || err == EDESTADDRREQ ||
        err == EPERM)
      connected_ = false;
    return -err;
  }

  ssize_t Receive(const iovec* iov, int count) override {
    for (;;) {
      sockaddr_un from{};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof(from);
      msg.msg_iov = const_cast<iovec*>(iov);
      msg.msg_iovlen = count;
      ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT);
      if (n < 0) return -errno;
      if (n > 0) return n;
      // An empty datagram: a caller announcing itself (or a keepalive).
      if (listener_ && !connected_ &&
          connect(fd_, reinterpret_cast<sockaddr*>(&from), msg.msg_namelen) ==
              0)
        connected_ = true;
    }
  }

  bool CarrierUp() override { return connected_; }

  void Tick() override {
    if (listener_) {
      // Probe the caller: if it is gone the send fails, the socket is
      // disconnected, and a new caller can announce itself.
      if (connected_) Send(nullptr, 0);
      return;
    }
    if (connected_) return;
    sockaddr_un addr;
    MakeAddress(path_, &addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        send(fd_, "", 0, MSG_DONTWAIT | MSG_NOSIGNAL) == 0)
      connected_ = true;
  }

 private:
  const int fd_;
  const std::string path_;
  const bool listener_;
  std::atomic<bool> connected_;  // sends run on other threads than Tick
};

}  // namespace

absl::StatusOr<std::unique_ptr<NicBackend>> OpenWireBackend(
    const std::string& path) {
  std::string what = "wire:" + path;
  sockaddr_un addr;
  if (path.empty() || !MakeAddress(path, &addr))
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": a socket path must have 1 to ", sizeof(addr.sun_path) - 1,
        " characters"));
  // Two processes may start at once; whoever loses the bind race calls.
  for (int attempt = 0; attempt < 3; attempt++) {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return About(what, ErrnoStatus(errno, "socket"));
    int bytes = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    // Caller: an abstract autobind address the listener can answer to.
    sa_family_t family = AF_UNIX;
    if (bind(fd, reinterpret_cast<sockaddr*>(&family), sizeof(family)) < 0) {
      close(fd);
      return About(what, ErrnoStatus(errno, "autobind"));
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      if (send(fd, "", 0, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        int err = errno;
        close(fd);
        return About(what, ErrnoStatus(err, "announcing to the peer"));
      }
      return std::unique_ptr<NicBackend>(new WireBackend(fd, path, false));
    }
    int err = errno;
    close(fd);
    if (err == EPERM)
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": busy: the wire already joins two kernels"));
    if (err == ECONNREFUSED) {
      // A socket file nobody listens on: left by a process that died.
      unlink(path.c_str());
    } else if (err != ENOENT) {
      return About(what, ErrnoStatus(err, "connect"));
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return About(what, ErrnoStatus(errno, "socket"));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
      return std::unique_ptr<NicBackend>(new WireBackend(fd, path, true));
    err = errno;
    close(fd);
    if (err == ENOENT)
      return About(what, ErrnoStatus(err, "bind", "its directory does not exist"));
    if (err != EADDRINUSE) return About(what, ErrnoStatus(err, "bind"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat(what, ": could not join the wire (races with other "
                         "processes on the same path)"));
}

}  // namespace lkd::virtio
