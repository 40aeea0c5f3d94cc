// SPDX-License-Identifier: GPL-2.0
// Host headers give structure layouts and constants only (nlmsghdr,
// ifinfomsg, ...: the kernel's own uapi); every call goes to the library
// kernel through lkd_syscall.
#include "server/admin/rtnetlink.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errno_status.h"
#include "common/ip_prefix.h"
#include "kernel/setup/netlink.h"
#include "kernel/setup/setup.h"
#include "kernel/sys.h"

namespace lkd::admin {
namespace {

constexpr char kExtackPayload[] = "lkd/netlink-extack";

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

using setup::NetlinkRequest;

// The kernel's -errno, with its extended-ack text when it sent one.
absl::Status KernelError(long rc, const std::string& what, const std::string& extack) {
  absl::Status s = ErrnoStatus(static_cast<int>(-rc), what);
  if (extack.empty()) return s;
  absl::Status with(s.code(), absl::StrCat(s.message(), ": ", extack));
  s.ForEachPayload([&with](absl::string_view url, const absl::Cord& p) { with.SetPayload(url, p); });
  with.SetPayload(kExtackPayload, absl::Cord(extack));
  return with;
}

absl::Status Invalid(const std::string& what, absl::string_view why) {
  return WithErrno(absl::InvalidArgumentError(absl::StrCat(what, ": ", why)), EINVAL);
}

std::string AddrText(int family, const void* data) {
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(family, data, text, sizeof(text));
  return text;
}

std::string MacText(const uint8_t* data, size_t len) {
  std::string out;
  for (size_t i = 0; i < len; i++) {
    char byte[4];
    snprintf(byte, sizeof(byte), i ? ":%02x" : "%02x", data[i]);
    out += byte;
  }
  return out;
}

absl::StatusOr<std::vector<uint8_t>> ParseMac(std::string_view text) {
  std::vector<uint8_t> mac;
  for (absl::string_view part : absl::StrSplit(Av(text), ':')) {
    int byte;
    if (part.size() != 2 || !absl::SimpleHexAtoi(part, &byte))
      return absl::InvalidArgumentError(absl::StrCat("'", Av(text), "' is not a MAC address"));
    mac.push_back(static_cast<uint8_t>(byte));
  }
  if (mac.size() != 6)
    return absl::InvalidArgumentError(absl::StrCat("'", Av(text), "' is not a MAC address"));
  return mac;
}

v1::AddressFamily FamilyEnum(int family) {
  return family == AF_INET ? v1::ADDRESS_FAMILY_INET
         : family == AF_INET6 ? v1::ADDRESS_FAMILY_INET6
                              : v1::ADDRESS_FAMILY_UNSPECIFIED;
}

int FamilyOf(v1::AddressFamily f) {
  return f == v1::ADDRESS_FAMILY_INET ? AF_INET : f == v1::ADDRESS_FAMILY_INET6 ? AF_INET6 : AF_UNSPEC;
}

// The attributes of one message, by type (the last one of a type wins).
using Attrs = std::map<uint16_t, const rtattr*>;

Attrs ParseAttrs(const rtattr* rta, int len) {
  Attrs attrs;
  for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) attrs[rta->rta_type & NLA_TYPE_MASK] = rta;
  return attrs;
}

std::string AttrString(const Attrs& a, uint16_t type) {
  auto it = a.find(type);
  if (it == a.end()) return "";
  return std::string(static_cast<const char*>(RTA_DATA(it->second)),
                     strnlen(static_cast<const char*>(RTA_DATA(it->second)),
                             RTA_PAYLOAD(it->second)));
}

std::optional<uint32_t> AttrU32(const Attrs& a, uint16_t type) {
  auto it = a.find(type);
  if (it == a.end() || RTA_PAYLOAD(it->second) < sizeof(uint32_t)) return std::nullopt;
  uint32_t v;
  memcpy(&v, RTA_DATA(it->second), sizeof(v));
  return v;
}

std::string AttrAddr(const Attrs& a, uint16_t type, int family) {
  auto it = a.find(type);
  if (it == a.end()) return "";
  return AddrText(family, RTA_DATA(it->second));
}

// Runs a change request (NLM_F_ACK) and turns its answer into a status.
absl::Status Change(NetlinkRequest& req, const std::string& what) {
  std::string extack;
  long rc = req.Exchange(nullptr, &extack);
  if (rc < 0) return KernelError(rc, what, extack);
  return absl::OkStatus();
}

// Runs a dump and turns its error into a status.
absl::Status Dump(NetlinkRequest& req, const std::string& what,
                  const std::function<void(const nlmsghdr&)>& on_message) {
  std::string extack;
  long rc = req.Exchange(on_message, &extack);
  if (rc < 0) return KernelError(rc, what, extack);
  return absl::OkStatus();
}

// Link index -> name, from one dump, for the lists that carry indexes.
absl::StatusOr<std::map<int, std::string>> LinkNamesNow() {
  auto links = ListLinks("");
  if (!links.ok()) return links.status();
  std::map<int, std::string> names;
  for (const v1::Link& l : *links) names[static_cast<int>(l.index())] = l.name();
  return names;
}

absl::StatusOr<int> IndexOf(std::string_view link) {
  absl::StatusOr<int> index = setup::LinkIndex(link);
  if (!index.ok() && index.status().code() == absl::StatusCode::kNotFound)
    return WithErrno(index.status(), ENODEV);
  return index;
}

const char* ScopeName(int scope) {
  switch (scope) {
    case RT_SCOPE_UNIVERSE: return "global";
    case RT_SCOPE_SITE: return "site";
    case RT_SCOPE_LINK: return "link";
    case RT_SCOPE_HOST: return "host";
    case RT_SCOPE_NOWHERE: return "nowhere";
    default: return "unknown";
  }
}

// ---- links ----------------------------------------------------------

// In the order ip(8) prints them.
constexpr struct {
  unsigned flag;
  const char* name;
} kLinkFlags[] = {
    {IFF_LOOPBACK, "LOOPBACK"}, {IFF_BROADCAST, "BROADCAST"}, {IFF_POINTOPOINT, "POINTOPOINT"},
    {IFF_MULTICAST, "MULTICAST"}, {IFF_NOARP, "NOARP"}, {IFF_ALLMULTI, "ALLMULTI"},
    {IFF_PROMISC, "PROMISC"}, {IFF_NOTRAILERS, "NOTRAILERS"}, {IFF_DEBUG, "DEBUG"},
    {IFF_DYNAMIC, "DYNAMIC"}, {IFF_AUTOMEDIA, "AUTOMEDIA"}, {IFF_PORTSEL, "PORTSEL"},
    {IFF_UP, "UP"}, {1u << 16, "LOWER_UP"}, {1u << 17, "DORMANT"}, {1u << 18, "ECHO"},
};

const char* OperState(int s) {
  static const char* const kNames[] = {"UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN",
                                       "TESTING", "DORMANT", "UP"};
  return s >= 0 && s < 7 ? kNames[s] : "UNKNOWN";
}

const char* LinkType(int type) {
  switch (type) {
    case ARPHRD_ETHER: return "ether";
    case ARPHRD_LOOPBACK: return "loopback";
    case ARPHRD_NONE: return "none";
    case ARPHRD_TUNNEL: return "ipip";
    case ARPHRD_SIT: return "sit";
    default: return "unknown";
  }
}

v1::Link LinkFrom(const nlmsghdr& h) {
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(&h));
  Attrs a = ParseAttrs(IFLA_RTA(ifi), static_cast<int>(IFLA_PAYLOAD(&h)));
  v1::Link link;
  link.set_index(ifi->ifi_index);
  link.set_name(AttrString(a, IFLA_IFNAME));
  unsigned flags = ifi->ifi_flags;
  for (const auto& f : kLinkFlags)
    if (flags & f.flag) link.add_flags(f.name);
  link.set_mtu(AttrU32(a, IFLA_MTU).value_or(0));
  link.set_qdisc(AttrString(a, IFLA_QDISC));
  if (auto it = a.find(IFLA_OPERSTATE); it != a.end())
    link.set_operstate(OperState(*static_cast<const uint8_t*>(RTA_DATA(it->second))));
  link.set_link_type(LinkType(ifi->ifi_type));
  if (auto it = a.find(IFLA_ADDRESS); it != a.end())
    link.set_address(MacText(static_cast<const uint8_t*>(RTA_DATA(it->second)),
                             RTA_PAYLOAD(it->second)));
  if (auto it = a.find(IFLA_BROADCAST); it != a.end())
    link.set_broadcast(MacText(static_cast<const uint8_t*>(RTA_DATA(it->second)),
                               RTA_PAYLOAD(it->second)));
  link.set_txqlen(AttrU32(a, IFLA_TXQLEN).value_or(0));
  if (auto it = a.find(IFLA_STATS64);
      it != a.end() && RTA_PAYLOAD(it->second) >= sizeof(rtnl_link_stats64)) {
    rtnl_link_stats64 st;
    memcpy(&st, RTA_DATA(it->second), sizeof(st));
    v1::LinkStats* s = link.mutable_stats();
    s->set_rx_packets(st.rx_packets);
    s->set_tx_packets(st.tx_packets);
    s->set_rx_bytes(st.rx_bytes);
    s->set_tx_bytes(st.tx_bytes);
    s->set_rx_errors(st.rx_errors);
    s->set_tx_errors(st.tx_errors);
    s->set_rx_dropped(st.rx_dropped);
    s->set_tx_dropped(st.tx_dropped);
  }
  return link;
}

// ---- addresses --------------------------------------------------------

absl::Status ChangeAddress(bool add, std::string_view link, std::string_view cidr) {
  std::string what = absl::StrCat(add ? "add" : "delete", " address ", Av(cidr), " dev ", Av(link));
  absl::StatusOr<IpPrefix> p = ParseIpPrefix(cidr);
  if (!p.ok()) return Invalid(what, p.status().message());
  absl::StatusOr<int> index = IndexOf(link);
  if (!index.ok()) return About(what, index.status());
  NetlinkRequest req = setup::AddressRequest(add, *p, *index);
  return Change(req, what);
}

// ---- routes -----------------------------------------------------------

const char* ProtocolName(int p) {
  switch (p) {
    case RTPROT_UNSPEC: return "unspec";
    case RTPROT_REDIRECT: return "redirect";
    case RTPROT_KERNEL: return "kernel";
    case RTPROT_BOOT: return "boot";
    case RTPROT_STATIC: return "static";
    case RTPROT_RA: return "ra";
    case RTPROT_DHCP: return "dhcp";
    default: return "unknown";
  }
}

v1::RouteType RouteTypeEnum(int t) {
  switch (t) {
    case RTN_UNICAST: return v1::ROUTE_TYPE_UNICAST;
    case RTN_LOCAL: return v1::ROUTE_TYPE_LOCAL;
    case RTN_BROADCAST: return v1::ROUTE_TYPE_BROADCAST;
    case RTN_MULTICAST: return v1::ROUTE_TYPE_MULTICAST;
    case RTN_BLACKHOLE: return v1::ROUTE_TYPE_BLACKHOLE;
    case RTN_UNREACHABLE: return v1::ROUTE_TYPE_UNREACHABLE;
    case RTN_PROHIBIT: return v1::ROUTE_TYPE_PROHIBIT;
    case RTN_ANYCAST: return v1::ROUTE_TYPE_ANYCAST;
    default: return v1::ROUTE_TYPE_UNSPECIFIED;
  }
}

int RouteTypeOf(v1::RouteType t) {
  switch (t) {
    case v1::ROUTE_TYPE_LOCAL: return RTN_LOCAL;
    case v1::ROUTE_TYPE_BROADCAST: return RTN_BROADCAST;
    case v1::ROUTE_TYPE_MULTICAST: return RTN_MULTICAST;
    case v1::ROUTE_TYPE_BLACKHOLE: return RTN_BLACKHOLE;
    case v1::ROUTE_TYPE_UNREACHABLE: return RTN_UNREACHABLE;
    case v1::ROUTE_TYPE_PROHIBIT: return RTN_PROHIBIT;
    case v1::ROUTE_TYPE_ANYCAST: return RTN_ANYCAST;
    default: return RTN_UNICAST;
  }
}

absl::Status ChangeRoute(bool add, const v1::RouteSpec& spec, bool replace) {
  std::string what = absl::StrCat(add ? "add" : "delete", " route ", DescribeRoute(spec));
  const int type = RouteTypeOf(spec.type());
  const bool needs_nexthop = add && type == RTN_UNICAST;
  if (needs_nexthop && spec.gateway().empty() && spec.dev().empty())
    return Invalid(what, "needs a gateway (via) or a device (dev)");
  std::optional<IpPrefix> gw;
  if (!spec.gateway().empty()) {
    auto parsed = ParseIpPrefix(spec.gateway(), PrefixLength::kRefused);
    if (!parsed.ok()) return Invalid(what, parsed.status().message());
    gw = *parsed;
  }
  IpPrefix to;
  if (spec.dst() == "default" || spec.dst().empty()) {
    to.family = gw ? gw->family : AF_INET;
    to.length = 0;
  } else {
    auto parsed = ParseIpPrefix(spec.dst());
    if (!parsed.ok()) return Invalid(what, parsed.status().message());
    to = *parsed;
  }
  if (gw && gw->family != to.family)
    return Invalid(what, "the gateway and the destination are of different families");
  rtmsg rt{};
  rt.rtm_family = to.family;
  rt.rtm_dst_len = to.length;
  const uint32_t table = spec.table() == 0 ? RT_TABLE_MAIN : spec.table();
  rt.rtm_table = table < 256 ? table : RT_TABLE_UNSPEC;
  if (add) {
    rt.rtm_protocol = RTPROT_STATIC;
    rt.rtm_type = type;
    // As ip(8): a v4 unicast route without a gateway reaches hosts on the
    // link; local routes are host scope; v6 routes have no scopes.
    rt.rtm_scope = type == RTN_LOCAL ? RT_SCOPE_HOST
                   : to.family == AF_INET && !gw && type == RTN_UNICAST ? RT_SCOPE_LINK
                                                                        : RT_SCOPE_UNIVERSE;
  } else {
    // ip(8) deletes with scope "nowhere": any route's scope matches.
    rt.rtm_scope = RT_SCOPE_NOWHERE;
    rt.rtm_type = spec.type() == v1::ROUTE_TYPE_UNSPECIFIED ? RTN_UNSPEC : type;
  }
  uint16_t flags = NLM_F_ACK;
  if (add) flags |= NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);
  NetlinkRequest req(add ? RTM_NEWROUTE : RTM_DELROUTE, flags, rt);
  if (to.length > 0) req.AddAttr(RTA_DST, to.addr, to.size());
  if (gw) req.AddAttr(RTA_GATEWAY, gw->addr, gw->size());
  if (!spec.dev().empty()) {
    absl::StatusOr<int> index = IndexOf(spec.dev());
    if (!index.ok()) return About(what, index.status());
    req.AddU32(RTA_OIF, *index);
  }
  if (!spec.prefsrc().empty()) {
    auto src = ParseIpPrefix(spec.prefsrc(), PrefixLength::kRefused);
    if (!src.ok() || src->family != to.family) return Invalid(what, "bad src address");
    req.AddAttr(RTA_PREFSRC, src->addr, src->size());
  }
  if (spec.metric() != 0) req.AddU32(RTA_PRIORITY, spec.metric());
  if (table >= 256) req.AddU32(RTA_TABLE, table);
  if (spec.mtu() != 0) {
    // RTA_METRICS nests an RTAX_MTU attribute.
    char nested[RTA_SPACE(sizeof(uint32_t))] = {};
    auto* m = reinterpret_cast<rtattr*>(nested);
    m->rta_type = RTAX_MTU;
    m->rta_len = RTA_LENGTH(sizeof(uint32_t));
    uint32_t mtu = spec.mtu();
    memcpy(RTA_DATA(m), &mtu, sizeof(mtu));
    req.AddAttr(RTA_METRICS, nested, sizeof(nested));
  }
  return Change(req, what);
}

// ---- neighbours -------------------------------------------------------

constexpr struct {
  unsigned state;
  const char* name;
} kNudStates[] = {
    {NUD_INCOMPLETE, "INCOMPLETE"}, {NUD_REACHABLE, "REACHABLE"}, {NUD_STALE, "STALE"},
    {NUD_DELAY, "DELAY"}, {NUD_PROBE, "PROBE"}, {NUD_FAILED, "FAILED"},
    {NUD_NOARP, "NOARP"}, {NUD_PERMANENT, "PERMANENT"},
};

absl::Status ChangeNeighbour(bool add, std::string_view dst, std::string_view dev,
                             std::string_view lladdr, bool replace) {
  std::string what = absl::StrCat(add ? "add" : "delete", " neighbour ", Av(dst), " dev ", Av(dev));
  auto to = ParseIpPrefix(dst, PrefixLength::kRefused);
  if (!to.ok()) return Invalid(what, to.status().message());
  absl::StatusOr<int> index = IndexOf(dev);
  if (!index.ok()) return About(what, index.status());
  ndmsg nd{};
  nd.ndm_family = to->family;
  nd.ndm_ifindex = *index;
  nd.ndm_state = NUD_PERMANENT;
  uint16_t flags = NLM_F_ACK;
  if (add) flags |= NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);
  NetlinkRequest req(add ? RTM_NEWNEIGH : RTM_DELNEIGH, flags, nd);
  req.AddAttr(NDA_DST, to->addr, to->size());
  if (add) {
    if (lladdr.empty()) return Invalid(what, "needs a link-layer address (lladdr)");
    auto mac = ParseMac(lladdr);
    if (!mac.ok()) return Invalid(what, mac.status().message());
    req.AddAttr(NDA_LLADDR, mac->data(), mac->size());
  }
  return Change(req, what);
}

v1::Address AddressFrom(const nlmsghdr& h, const std::map<int, std::string>& names) {
  const auto* m = static_cast<const ifaddrmsg*>(NLMSG_DATA(&h));
  Attrs a = ParseAttrs(IFA_RTA(m), static_cast<int>(IFA_PAYLOAD(&h)));
  v1::Address addr;
  addr.set_index(m->ifa_index);
  if (auto it = names.find(static_cast<int>(m->ifa_index)); it != names.end())
    addr.set_link(it->second);
  addr.set_family(FamilyEnum(m->ifa_family));
  std::string local = AttrAddr(a, IFA_LOCAL, m->ifa_family);
  addr.set_local(local.empty() ? AttrAddr(a, IFA_ADDRESS, m->ifa_family) : local);
  addr.set_prefixlen(m->ifa_prefixlen);
  addr.set_broadcast(AttrAddr(a, IFA_BROADCAST, m->ifa_family));
  addr.set_scope(ScopeName(m->ifa_scope));
  addr.set_label(AttrString(a, IFA_LABEL));
  uint32_t flags = AttrU32(a, IFA_FLAGS).value_or(m->ifa_flags);
  constexpr struct {
    uint32_t flag;
    const char* name;
  } kFlags[] = {{IFA_F_SECONDARY, "secondary"}, {IFA_F_NODAD, "nodad"},
                {IFA_F_OPTIMISTIC, "optimistic"}, {IFA_F_DADFAILED, "dadfailed"},
                {IFA_F_DEPRECATED, "deprecated"}, {IFA_F_TENTATIVE, "tentative"},
                {IFA_F_PERMANENT, "permanent"}, {IFA_F_NOPREFIXROUTE, "noprefixroute"}};
  for (const auto& f : kFlags)
    if (flags & f.flag) addr.add_flags(f.name);
  return addr;
}

v1::Route RouteFrom(const nlmsghdr& h, const std::map<int, std::string>& names) {
  const auto* m = static_cast<const rtmsg*>(NLMSG_DATA(&h));
  Attrs a = ParseAttrs(RTM_RTA(m), static_cast<int>(RTM_PAYLOAD(&h)));
  v1::Route r;
  r.set_family(FamilyEnum(m->rtm_family));
  r.set_type(RouteTypeEnum(m->rtm_type));
  std::string dst = AttrAddr(a, RTA_DST, m->rtm_family);
  if (dst.empty()) dst = "default";
  else if (m->rtm_dst_len != (m->rtm_family == AF_INET ? 32 : 128))
    absl::StrAppend(&dst, "/", m->rtm_dst_len);
  r.set_dst(dst);
  r.set_gateway(AttrAddr(a, RTA_GATEWAY, m->rtm_family));
  if (auto oif = AttrU32(a, RTA_OIF))
    if (auto it = names.find(static_cast<int>(*oif)); it != names.end()) r.set_dev(it->second);
  r.set_table(AttrU32(a, RTA_TABLE).value_or(m->rtm_table));
  r.set_protocol(ProtocolName(m->rtm_protocol));
  r.set_scope(m->rtm_scope == RT_SCOPE_UNIVERSE ? "universe" : ScopeName(m->rtm_scope));
  r.set_prefsrc(AttrAddr(a, RTA_PREFSRC, m->rtm_family));
  r.set_metric(AttrU32(a, RTA_PRIORITY).value_or(0));
  if (auto it = a.find(RTA_METRICS); it != a.end()) {
    Attrs metrics = ParseAttrs(static_cast<const rtattr*>(RTA_DATA(it->second)),
                               static_cast<int>(RTA_PAYLOAD(it->second)));
    r.set_mtu(AttrU32(metrics, RTAX_MTU).value_or(0));
  }
  if (m->rtm_flags & RTNH_F_LINKDOWN) r.add_flags("linkdown");
  if (m->rtm_flags & RTNH_F_ONLINK) r.add_flags("onlink");
  return r;
}

std::optional<v1::Neighbour> NeighbourFrom(const nlmsghdr& h,
                                           const std::map<int, std::string>& names) {
  const auto* m = static_cast<const ndmsg*>(NLMSG_DATA(&h));
  if (m->ndm_family != AF_INET && m->ndm_family != AF_INET6) return std::nullopt;
  Attrs a = ParseAttrs(reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(m) +
                                                       NLMSG_ALIGN(sizeof(ndmsg))),
                       static_cast<int>(h.nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg))));
  v1::Neighbour n;
  n.set_family(FamilyEnum(m->ndm_family));
  n.set_dst(AttrAddr(a, NDA_DST, m->ndm_family));
  if (auto it = names.find(m->ndm_ifindex); it != names.end()) n.set_dev(it->second);
  if (auto it = a.find(NDA_LLADDR); it != a.end())
    n.set_lladdr(MacText(static_cast<const uint8_t*>(RTA_DATA(it->second)),
                         RTA_PAYLOAD(it->second)));
  for (const auto& st : kNudStates)
    if (m->ndm_state & st.state) n.add_state(st.name);
  n.set_router(m->ndm_flags & NTF_ROUTER);
  return n;
}

}  // namespace

absl::StatusOr<std::map<int, std::string>> LinkNames() { return LinkNamesNow(); }

std::optional<Notification> Describe(const nlmsghdr& h, const std::map<int, std::string>& names) {
  Notification n;
  n.gone = h.nlmsg_type == RTM_DELLINK || h.nlmsg_type == RTM_DELADDR ||
           h.nlmsg_type == RTM_DELROUTE || h.nlmsg_type == RTM_DELNEIGH;
  switch (h.nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      v1::Link l = LinkFrom(h);
      n.kind = "link";
      std::string flags;
      for (const std::string& f : l.flags()) flags += (flags.empty() ? "" : ",") + f;
      n.line = absl::StrCat(l.index(), ": ", l.name(), ": <", flags, "> mtu ", l.mtu(), " state ",
                            l.operstate().empty() ? "UNKNOWN" : l.operstate());
      return n;
    }
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      v1::Address a = AddressFrom(h, names);
      n.kind = "address";
      n.line = absl::StrCat(a.index(), ": ", a.link(), "    ",
                            a.family() == v1::ADDRESS_FAMILY_INET6 ? "inet6 " : "inet ", a.local(),
                            "/", a.prefixlen(), " scope ", a.scope());
      return n;
    }
    case RTM_NEWROUTE:
    case RTM_DELROUTE: {
      v1::Route r = RouteFrom(h, names);
      n.kind = "route";
      n.line = r.dst();
      if (!r.gateway().empty()) absl::StrAppend(&n.line, " via ", r.gateway());
      if (!r.dev().empty()) absl::StrAppend(&n.line, " dev ", r.dev());
      if (r.table() != RT_TABLE_MAIN) absl::StrAppend(&n.line, " table ", r.table());
      absl::StrAppend(&n.line, " proto ", r.protocol());
      return n;
    }
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: {
      std::optional<v1::Neighbour> nb = NeighbourFrom(h, names);
      if (!nb) return std::nullopt;
      n.kind = "neighbour";
      n.line = absl::StrCat(nb->dst(), " dev ", nb->dev());
      if (!nb->lladdr().empty()) absl::StrAppend(&n.line, " lladdr ", nb->lladdr());
      for (const std::string& s : nb->state()) absl::StrAppend(&n.line, " ", s);
      return n;
    }
    default:
      return std::nullopt;
  }
}

std::string ExtackOf(const absl::Status& status) {
  auto p = status.GetPayload(kExtackPayload);
  return p ? std::string(*p) : "";
}

std::string DescribeRoute(const v1::RouteSpec& spec) {
  std::string s = spec.dst().empty() ? "default" : spec.dst();
  if (!spec.gateway().empty()) absl::StrAppend(&s, " via ", spec.gateway());
  if (!spec.dev().empty()) absl::StrAppend(&s, " dev ", spec.dev());
  if (spec.table() != 0) absl::StrAppend(&s, " table ", spec.table());
  if (spec.metric() != 0) absl::StrAppend(&s, " metric ", spec.metric());
  return s;
}

absl::StatusOr<std::vector<v1::Link>> ListLinks(std::string_view name) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  NetlinkRequest req(RTM_GETLINK, NLM_F_DUMP, ifi);
  std::vector<v1::Link> links;
  absl::Status s = Dump(req, "list links", [&](const nlmsghdr& h) {
    if (h.nlmsg_type != RTM_NEWLINK) return;
    v1::Link l = LinkFrom(h);
    if (name.empty() || l.name() == name) links.push_back(std::move(l));
  });
  if (!s.ok()) return s;
  if (!name.empty() && links.empty())
    return ErrnoStatus(ENODEV, absl::StrCat("Device \"", Av(name), "\""), "does not exist");
  return links;
}

absl::Status SetLink(const v1::SetLinkRequest& r) {
  std::string what = absl::StrCat("set link ", r.name());
  absl::StatusOr<int> index = IndexOf(r.name());
  if (!index.ok()) return About(what, index.status());
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = *index;
  if (r.state() != v1::LINK_STATE_UNSPECIFIED) {
    ifi.ifi_change = IFF_UP;
    ifi.ifi_flags = r.state() == v1::LINK_STATE_UP ? IFF_UP : 0;
    absl::StrAppend(&what, r.state() == v1::LINK_STATE_UP ? " up" : " down");
  }
  NetlinkRequest req(RTM_NEWLINK, NLM_F_ACK, ifi);
  if (r.mtu() != 0) {
    absl::StrAppend(&what, " mtu ", r.mtu());
    req.AddU32(IFLA_MTU, r.mtu());
  }
  if (!r.address().empty()) {
    absl::StrAppend(&what, " address ", r.address());
    auto mac = ParseMac(r.address());
    if (!mac.ok()) return Invalid(what, mac.status().message());
    req.AddAttr(IFLA_ADDRESS, mac->data(), mac->size());
  }
  return Change(req, what);
}

absl::Status MoveLink(std::string_view link, long netns_fd) {
  std::string what = absl::StrCat("move link ", Av(link));
  absl::StatusOr<int> index = IndexOf(link);
  if (!index.ok()) return About(what, index.status());
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = *index;
  NetlinkRequest req(RTM_NEWLINK, NLM_F_ACK, ifi);
  req.AddU32(IFLA_NET_NS_FD, static_cast<uint32_t>(netns_fd));
  return Change(req, what);
}

absl::StatusOr<std::vector<v1::Address>> ListAddresses(std::string_view link,
                                                       v1::AddressFamily family) {
  auto names = LinkNamesNow();
  if (!names.ok()) return names.status();
  if (!link.empty() &&
      std::none_of(names->begin(), names->end(), [&](const auto& n) { return n.second == link; }))
    return ErrnoStatus(ENODEV, absl::StrCat("Device \"", Av(link), "\""), "does not exist");
  ifaddrmsg ifa{};
  ifa.ifa_family = FamilyOf(family);
  NetlinkRequest req(RTM_GETADDR, NLM_F_DUMP, ifa);
  std::vector<v1::Address> out;
  absl::Status s = Dump(req, "list addresses", [&](const nlmsghdr& h) {
    if (h.nlmsg_type != RTM_NEWADDR) return;
    v1::Address addr = AddressFrom(h, *names);
    if (!link.empty() && addr.link() != link) return;
    out.push_back(std::move(addr));
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status AddAddress(std::string_view link, std::string_view cidr) {
  return ChangeAddress(true, link, cidr);
}

absl::Status DeleteAddress(std::string_view link, std::string_view cidr) {
  return ChangeAddress(false, link, cidr);
}

absl::StatusOr<std::vector<v1::Route>> ListRoutes(v1::AddressFamily family, uint32_t table) {
  auto names = LinkNamesNow();
  if (!names.ok()) return names.status();
  const int fam = family == v1::ADDRESS_FAMILY_UNSPECIFIED ? AF_INET : FamilyOf(family);
  const uint32_t want = table == 0 ? RT_TABLE_MAIN : table;
  rtmsg rt{};
  rt.rtm_family = fam;
  NetlinkRequest req(RTM_GETROUTE, NLM_F_DUMP, rt);
  std::vector<v1::Route> out;
  absl::Status s = Dump(req, "list routes", [&](const nlmsghdr& h) {
    if (h.nlmsg_type != RTM_NEWROUTE) return;
    const auto* m = static_cast<const rtmsg*>(NLMSG_DATA(&h));
    if (m->rtm_flags & RTM_F_CLONED) return;
    v1::Route r = RouteFrom(h, *names);
    if (want != 0xffffffffu && r.table() != want) return;
    out.push_back(std::move(r));
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status AddRoute(const v1::RouteSpec& spec, bool replace) {
  return ChangeRoute(true, spec, replace);
}

absl::Status DeleteRoute(const v1::RouteSpec& spec) { return ChangeRoute(false, spec, false); }

absl::StatusOr<std::vector<v1::Neighbour>> ListNeighbours(std::string_view dev) {
  auto names = LinkNamesNow();
  if (!names.ok()) return names.status();
  ndmsg nd{};
  nd.ndm_family = AF_UNSPEC;
  NetlinkRequest req(RTM_GETNEIGH, NLM_F_DUMP, nd);
  std::vector<v1::Neighbour> out;
  absl::Status s = Dump(req, "list neighbours", [&](const nlmsghdr& h) {
    if (h.nlmsg_type != RTM_NEWNEIGH) return;
    std::optional<v1::Neighbour> n = NeighbourFrom(h, *names);
    if (!n || (!dev.empty() && n->dev() != dev)) return;
    out.push_back(std::move(*n));
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status AddNeighbour(std::string_view dst, std::string_view dev, std::string_view lladdr,
                          bool replace) {
  return ChangeNeighbour(true, dst, dev, lladdr, replace);
}

absl::Status DeleteNeighbour(std::string_view dst, std::string_view dev) {
  return ChangeNeighbour(false, dst, dev, "", false);
}

}  // namespace lkd::admin
