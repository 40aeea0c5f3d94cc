// SPDX-License-Identifier: GPL-2.0
#include "server/admin/sockets.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include <cstring>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "kernel/setup/netlink.h"
#include "kernel/setup/setup.h"
#include "kernel/sys.h"

namespace lkd::admin {
namespace {

// TCP's states by number (include/net/tcp_states.h), in ss(8)'s words.
const char* StateName(int state, bool udp) {
  static const char* const kNames[] = {"UNKNOWN",    "ESTAB",     "SYN-SENT",   "SYN-RECV",
                                       "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "UNCONN",
                                       "CLOSE-WAIT", "LAST-ACK",  "LISTEN",     "CLOSING",
                                       "SYN-RECV"};
  if (udp && state == 7) return "UNCONN";
  return state >= 0 && state < 13 ? kNames[state] : "UNKNOWN";
}

constexpr int kListen = 10, kClose = 7, kTimeWait = 6, kSynRecv = 3, kNewSynRecv = 12;

uint32_t StatesWanted(const v1::ListSocketsRequest& r, bool udp) {
  if (r.all()) return ~0u;
  // UDP sockets that are not connected are "UNCONN" (TCP_CLOSE): ss -l
  // shows them as its listening ones.
  if (r.listening_only()) return udp ? 1u << kClose : 1u << kListen;
  return ~0u & ~((1u << kListen) | (1u << kClose) | (1u << kTimeWait) | (1u << kSynRecv) |
                 (1u << kNewSynRecv));
}

// inode -> holders, from every session's /proc/PID/fd.
std::map<uint64_t, std::vector<v1::SocketOwner>> Holders(
    const std::vector<server::SessionInfo>& sessions) {
  std::map<uint64_t, std::vector<v1::SocketOwner>> holders;
  for (const server::SessionInfo& s : sessions) {
    const std::string dir = absl::StrCat("/proc/", s.kernel_pid, "/fd");
    auto fds = setup::ListDirectory(dir);
    if (!fds.ok()) continue;  // gone meanwhile
    for (const std::string& name : *fds) {
      char target[64] = {};
      long n = Sys(LKD_NR_readlinkat, kAtFdCwd, (dir + "/" + name).c_str(), target,
                   sizeof(target) - 1);
      uint64_t inode;
      std::string_view link(target, n > 0 ? n : 0);
      if (!link.starts_with("socket:[") || !link.ends_with("]") ||
          !absl::SimpleAtoi(absl::string_view(link.data() + 8, link.size() - 9), &inode))
        continue;
      v1::SocketOwner owner;
      owner.set_kernel_pid(s.kernel_pid);
      owner.set_host_pid(s.host_pid);
      int fd = 0;
      (void)absl::SimpleAtoi(name, &fd);
      owner.set_fd(fd);
      holders[inode].push_back(owner);
    }
  }
  return holders;
}

}  // namespace

absl::StatusOr<std::vector<v1::Socket>> ListSockets(
    const v1::ListSocketsRequest& r, const std::vector<server::SessionInfo>& sessions) {
  const bool udp = r.protocol() == v1::SOCKET_PROTOCOL_UDP;
  auto holders = Holders(sessions);
  std::vector<v1::Socket> out;
  for (int family : {AF_INET, AF_INET6}) {
    inet_diag_req_v2 req{};
    req.sdiag_family = family;
    req.sdiag_protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
    req.idiag_states = StatesWanted(r, udp);
    setup::NetlinkRequest nl(SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, req);
    nl.set_protocol(NETLINK_SOCK_DIAG);
    std::string extack;
    long rc = nl.Exchange(
        [&](const nlmsghdr& h) {
          if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY || h.nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
            return;
          const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(&h));
          v1::Socket s;
          s.set_protocol(udp ? v1::SOCKET_PROTOCOL_UDP : v1::SOCKET_PROTOCOL_TCP);
          s.set_family(family == AF_INET ? v1::ADDRESS_FAMILY_INET : v1::ADDRESS_FAMILY_INET6);
          s.set_state(StateName(m->idiag_state, udp));
          s.set_recv_q(m->idiag_rqueue);
          s.set_send_q(m->idiag_wqueue);
          char text[INET6_ADDRSTRLEN];
          inet_ntop(family, m->id.idiag_src, text, sizeof(text));
          s.set_local_address(text);
          s.set_local_port(ntohs(m->id.idiag_sport));
          inet_ntop(family, m->id.idiag_dst, text, sizeof(text));
          s.set_peer_address(text);
          s.set_peer_port(ntohs(m->id.idiag_dport));
          s.set_uid(m->idiag_uid);
          s.set_inode(m->idiag_inode);
          if (auto it = holders.find(m->idiag_inode); it != holders.end())
            for (const v1::SocketOwner& o : it->second) *s.add_owners() = o;
          out.push_back(std::move(s));
        },
        &extack);
    // A family the kernel has no diag module for is just empty.
    if (rc == -ENOENT || rc == -EAFNOSUPPORT) continue;
    if (rc < 0) return SysStatus(rc, "list sockets (sock_diag)");
  }
  return out;
}

}  // namespace lkd::admin
