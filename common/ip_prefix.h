// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// IPv4/IPv6 addresses with an optional prefix length ("10.1.0.0/16",
// "fd00::1"): the one parser for the config file, the boot-time setup and
// the admin plane, so that all of them accept and refuse the same text.
#ifndef LKD_COMMON_IP_PREFIX_H_
#define LKD_COMMON_IP_PREFIX_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include <string_view>

namespace lkd {

struct IpPrefix {
  int family = 0;          // AF_INET or AF_INET6
  uint8_t addr[16] = {};   // network byte order; the first size() bytes
  int length = 0;          // prefix length; the full width when not given

  // Bytes of the address: 4 or 16.
  size_t size() const;
  // Whether a bit past `length` is set ("10.1.2.0/16").
  bool HostBitsSet() const;
};

enum class PrefixLength { kAllowed, kRefused };

// Parses "ADDRESS" or (when allowed) "ADDRESS/LENGTH", LENGTH a plain
// decimal 0..32 or 0..128. InvalidArgument with the text quoted otherwise.
absl::StatusOr<IpPrefix> ParseIpPrefix(std::string_view text,
                                       PrefixLength length = PrefixLength::kAllowed);

}  // namespace lkd

#endif  // LKD_COMMON_IP_PREFIX_H_
