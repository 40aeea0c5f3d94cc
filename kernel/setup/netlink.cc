// SPDX-License-Identifier: GPL-2.0
#include "kernel/setup/netlink.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace lkd::setup {

void NetlinkRequest::AddAttr(uint16_t type, const void* data, size_t len) {
  size_t offset = NLMSG_ALIGN(header()->nlmsg_len);
  buf_.resize(offset + RTA_SPACE(len), 0);
  auto* rta = reinterpret_cast<rtattr*>(buf_.data() + offset);
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH(len);
  memcpy(RTA_DATA(rta), data, len);
  header()->nlmsg_len = offset + RTA_LENGTH(len);
}

namespace {

// The NLMSGERR_ATTR_MSG of an answer with NLM_F_ACK_TLVS: after struct
// nlmsgerr for an error (capped: only the request's header is echoed),
// after the error int for NLMSG_DONE.
std::string ExtackMessage(const nlmsghdr& h) {
  if (!(h.nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  const size_t skip = NLMSG_ALIGN(h.nlmsg_type == NLMSG_ERROR ? sizeof(nlmsgerr) : sizeof(int));
  if (h.nlmsg_len < NLMSG_LENGTH(skip)) return "";
  int left = static_cast<int>(h.nlmsg_len - NLMSG_LENGTH(skip));
  for (auto* rta = reinterpret_cast<const rtattr*>(static_cast<const char*>(NLMSG_DATA(&h)) + skip);
       RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
    if (rta->rta_type == NLMSGERR_ATTR_MSG)
      return std::string(static_cast<const char*>(RTA_DATA(rta)),
                         strnlen(static_cast<const char*>(RTA_DATA(rta)), RTA_PAYLOAD(rta)));
  }
  return "";
}

}  // namespace

long NetlinkRequest::Exchange(const std::function<void(const nlmsghdr&)>& on_message,
                              std::string* extack) {
  KernelFd fd(Sys(LKD_NR_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol_));
  if (!fd.ok()) return fd.get();
  // Extended acks: the kernel says why it refused. Capped acks: an error
  // does not echo the whole request back.
  int one = 1;
  Sys(LKD_NR_setsockopt, fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  Sys(LKD_NR_setsockopt, fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  long rc = Sys(LKD_NR_sendto, fd.get(), buf_.data(), header()->nlmsg_len, 0, &kernel,
                sizeof(kernel));
  if (rc < 0) return rc;
  // The kernel never builds a netlink datagram larger than 32 KiB, so
  // this buffer holds any whole one; MSG_TRUNC makes recvfrom return the
  // real length, so a cut one could not go unnoticed.
  std::vector<char> reply(32768);
  for (;;) {
    long n = Sys(LKD_NR_recvfrom, fd.get(), reply.data(), reply.size(), MSG_TRUNC, nullptr,
                 nullptr);
    if (n < 0) return n;
    if (static_cast<size_t>(n) > reply.size()) return -EMSGSIZE;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(reply.data()); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != kSeq) continue;
      if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) {
        int err = 0;
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(err))) memcpy(&err, NLMSG_DATA(h), sizeof(err));
        if (extack != nullptr) *extack = ExtackMessage(*h);
        return err;
      }
      if (on_message) on_message(*h);
    }
  }
}

NetlinkRequest AddressRequest(bool add, const IpPrefix& prefix, int index) {
  ifaddrmsg ifa{};
  ifa.ifa_family = prefix.family;
  ifa.ifa_prefixlen = prefix.length;
  ifa.ifa_index = index;
  ifa.ifa_flags = add && prefix.family == AF_INET6 ? IFA_F_NODAD : 0;
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  NetlinkRequest req(add ? RTM_NEWADDR : RTM_DELADDR,
                     NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0), ifa);
  req.AddAttr(IFA_LOCAL, prefix.addr, prefix.size());
  if (!add) return req;
  req.AddAttr(IFA_ADDRESS, prefix.addr, prefix.size());
  if (prefix.family == AF_INET && prefix.length < 31) {
    uint32_t addr;
    memcpy(&addr, prefix.addr, sizeof(addr));
    uint32_t host_bits = prefix.length == 0 ? ~0u : (1u << (32 - prefix.length)) - 1;
    uint32_t broadcast = addr | htonl(host_bits);
    req.AddAttr(IFA_BROADCAST, &broadcast, sizeof(broadcast));
  }
  return req;
}

}  // namespace lkd::setup
