// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "common/ip_prefix.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <charconv>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lkd {

size_t IpPrefix::size() const { return family == AF_INET ? 4 : 16; }

bool IpPrefix::HostBitsSet() const {
  for (size_t bit = static_cast<size_t>(length); bit < size() * 8; bit++)
    if (addr[bit / 8] & (0x80 >> (bit % 8))) return true;
  return false;
}

absl::StatusOr<IpPrefix> ParseIpPrefix(std::string_view text, PrefixLength length) {
  IpPrefix p;
  size_t slash = text.find('/');
  std::string address(text.substr(0, slash));
  if (inet_pton(AF_INET, address.c_str(), p.addr) == 1) {
    p.family = AF_INET;
  } else if (inet_pton(AF_INET6, address.c_str(), p.addr) == 1) {
    p.family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(text), "' is not an IPv4 or IPv6 address"));
  }
  const int max = p.family == AF_INET ? 32 : 128;
  p.length = max;
  if (slash == std::string_view::npos) return p;
  if (length == PrefixLength::kRefused) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(text), "' must be an address without a prefix length"));
  }
  // from_chars, unlike atoi-style parsers, takes no sign, space or suffix.
  std::string_view digits = text.substr(slash + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p.length);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      p.length < 0 || p.length > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(text), "': the prefix length must be 0..", max));
  }
  return p;
}

}  // namespace lkd
