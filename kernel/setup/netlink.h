// SPDX-License-Identifier: GPL-2.0
// The small pieces every rtnetlink user inside lkd needs, shared by the
// boot-time helpers (setup.h) and the admin plane (server/admin): a kernel
// fd that closes itself, one request/answer exchange on an AF_NETLINK
// socket of the calling thread's kernel process, and the requests both
// build.
//
// Like setup.h, everything runs as the task bound to the calling host
// thread, and host headers are used for layouts and constants only.
#ifndef LKD_KERNEL_SETUP_NETLINK_H_
#define LKD_KERNEL_SETUP_NETLINK_H_

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip_prefix.h"
#include "kernel/sys.h"

namespace lkd::setup {

// A kernel fd, closed when it goes out of scope so that no error path
// leaks one into the calling process's fd table.
class KernelFd {
 public:
  explicit KernelFd(long fd) : fd_(fd) {}
  ~KernelFd() {
    if (fd_ >= 0) Sys(LKD_NR_close, fd_);
  }
  KernelFd(const KernelFd&) = delete;
  KernelFd& operator=(const KernelFd&) = delete;
  long get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  long fd_;
};

// One netlink request (rtnetlink by default): header, the family's fixed
// message, attributes.
class NetlinkRequest {
 public:
  template <typename Body>
  NetlinkRequest(uint16_t type, uint16_t flags, const Body& body)
      : buf_(NLMSG_SPACE(sizeof(Body)), 0) {
    nlmsghdr* hdr = header();
    hdr->nlmsg_len = NLMSG_LENGTH(sizeof(Body));
    hdr->nlmsg_type = type;
    hdr->nlmsg_flags = flags | NLM_F_REQUEST;
    hdr->nlmsg_seq = kSeq;
    memcpy(NLMSG_DATA(hdr), &body, sizeof(Body));
  }

  // The netlink family to talk to; NETLINK_ROUTE unless set
  // (NETLINK_SOCK_DIAG for socket dumps).
  void set_protocol(int protocol) { protocol_ = protocol; }

  void AddAttr(uint16_t type, const void* data, size_t len);
  void AddU32(uint16_t type, uint32_t value) { AddAttr(type, &value, sizeof(value)); }

  // Sends the request on a socket of its own and hands every answer
  // message to `on_message` until the exchange ends: at the NLMSG_ERROR
  // acknowledgement (NLM_F_ACK requests: its error field is the kernel's
  // 0 or -errno) or at NLMSG_DONE (dumps: its payload is the dump's
  // error). Returns 0 or -errno. The kernel's extended-ack message, if it
  // sent one (why it refused, in its own words), goes to *extack.
  long Exchange(const std::function<void(const nlmsghdr&)>& on_message = nullptr,
                std::string* extack = nullptr);

 private:
  static constexpr uint32_t kSeq = 1;
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  std::vector<char> buf_;
  int protocol_ = NETLINK_ROUTE;
};

// RTM_NEWADDR (`add`) or RTM_DELADDR of `prefix` on link `index`. A new
// address fails if it exists (NLM_F_EXCL); a new IPv6 one is usable at
// once (no DAD wait); a new IPv4 one below /31 gets its broadcast address
// (/31, RFC 3021, and /32 have none).
NetlinkRequest AddressRequest(bool add, const IpPrefix& prefix, int index);

}  // namespace lkd::setup

#endif  // LKD_KERNEL_SETUP_NETLINK_H_
