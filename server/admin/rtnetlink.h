// SPDX-License-Identifier: GPL-2.0
// The admin plane's view of the kernel's network configuration: every
// function here is one exchange (or a few) with the kernel's own
// rtnetlink, from an AF_NETLINK socket the calling thread's kernel
// process opens and closes again (kernel_worker.h's thread). Nothing is
// cached or modelled: what a List returns is what the kernel dumped.
//
// Errors carry the kernel's errno (common/errno_status.h) and, when the
// kernel gave one, its netlink extended-ack text (ExtackOf), e.g.
// "add route 10.9.0.0/24 via 10.0.2.9: Network is unreachable
// (ENETUNREACH): Nexthop has invalid gateway". Text arguments that do not
// parse are InvalidArgument before anything reaches the kernel.
#ifndef LKD_SERVER_ADMIN_RTNETLINK_H_
#define LKD_SERVER_ADMIN_RTNETLINK_H_

#include <linux/netlink.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "schema/admin/v1/addresses.pb.h"
#include "schema/admin/v1/links.pb.h"
#include "schema/admin/v1/neighbours.pb.h"
#include "schema/admin/v1/routes.pb.h"

namespace lkd::admin {

// The kernel's netlink extended-ack message a status carries ("" if none).
std::string ExtackOf(const absl::Status& status);

// Links: all, or the one named (NotFound if there is none).
absl::StatusOr<std::vector<v1::Link>> ListLinks(std::string_view name);
// State, MTU and MAC as the request sets them, in one RTM_NEWLINK.
absl::Status SetLink(const v1::SetLinkRequest& request);
// Moves `link` into the network namespace of kernel fd `netns_fd`
// (RTM_NEWLINK with IFLA_NET_NS_FD).
absl::Status MoveLink(std::string_view link, long netns_fd);

absl::StatusOr<std::vector<v1::Address>> ListAddresses(std::string_view link,
                                                       v1::AddressFamily family);
// RTM_NEWADDR (NLM_F_EXCL: an address already there is AlreadyExists) or
// RTM_DELADDR of "10.0.2.2/24" (no length: a host address) on `link`.
absl::Status AddAddress(std::string_view link, std::string_view cidr);
absl::Status DeleteAddress(std::string_view link, std::string_view cidr);

// Routes of one family (UNSPECIFIED: IPv4) in table `table` (0: main;
// 0xffffffff: every table).
absl::StatusOr<std::vector<v1::Route>> ListRoutes(v1::AddressFamily family, uint32_t table);
absl::Status AddRoute(const v1::RouteSpec& spec, bool replace);
absl::Status DeleteRoute(const v1::RouteSpec& spec);

absl::StatusOr<std::vector<v1::Neighbour>> ListNeighbours(std::string_view dev);
absl::Status AddNeighbour(std::string_view dst, std::string_view dev, std::string_view lladdr,
                          bool replace);
absl::Status DeleteNeighbour(std::string_view dst, std::string_view dev);

// Link index -> name, now.
absl::StatusOr<std::map<int, std::string>> LinkNames();

// One rtnetlink notification (RTM_NEW*/RTM_DEL* of a link, address, route
// or neighbour) as ip-monitor(8) would show it; nullopt for others.
struct Notification {
  std::string kind;  // "link", "address", "route", "neighbour"
  bool gone = false;
  std::string line;  // "2: eth0: <BROADCAST,UP> mtu 1500 state UP"
};
std::optional<Notification> Describe(const nlmsghdr& message,
                                     const std::map<int, std::string>& names);

// "dst via gw dev eth0 table 5": how the admin log and error messages
// name a route.
std::string DescribeRoute(const v1::RouteSpec& spec);

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_RTNETLINK_H_
