// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hostops/virtio/nic_spec.h"

#include <sys/random.h>

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace lkd::virtio {

absl::StatusOr<MacAddress> ParseMac(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  MacAddress mac{};
  if (parts.size() != 6)
    return absl::InvalidArgumentError(
        absl::StrCat("bad MAC address '", text, "' (want xx:xx:xx:xx:xx:xx)"));
  for (int i = 0; i < 6; i++) {
    uint32_t byte;
    if (parts[i].size() != 2 ||
        !absl::SimpleHexAtoi(parts[i], &byte))
      return absl::InvalidArgumentError(
          absl::StrCat("bad MAC address '", text, "' (want xx:xx:xx:xx:xx:xx)"));
    mac[i] = static_cast<uint8_t>(byte);
  }
  if (mac[0] & 1)
    return absl::InvalidArgumentError(
        absl::StrCat("MAC address '", text, "' is a multicast address"));
  return mac;
}

std::string FormatMac(const MacAddress& mac) {
  char text[18];
  snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
           mac[1], mac[2], mac[3], mac[4], mac[5]);
  return text;
}

MacAddress RandomMac() {
  MacAddress mac{};
  if (getrandom(mac.data(), mac.size(), 0) != static_cast<ssize_t>(mac.size()))
    mac = {0, 0, 0, 0, 0, 1};
  mac[0] = (mac[0] & 0xfc) | 0x02;  // locally administered, unicast
  return mac;
}

absl::StatusOr<NicSpec> ParseNicSpec(absl::string_view text) {
  NicSpec spec;
  std::vector<absl::string_view> fields = absl::StrSplit(text, ',');
  absl::string_view head = fields[0];
  size_t colon = head.find(':');
  if (colon == absl::string_view::npos)
    return absl::InvalidArgumentError(absl::StrCat(
        "bad --net '", text, "': want tap:NAME, raw:IFNAME or wire:PATH"));
  absl::string_view kind = head.substr(0, colon);
  spec.target = std::string(head.substr(colon + 1));
  if (kind == "tap") {
    spec.kind = NicKind::kTap;
  } else if (kind == "raw") {
    spec.kind = NicKind::kRaw;
  } else if (kind == "wire") {
    spec.kind = NicKind::kWire;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad --net '", text, "': unknown kind '", kind,
        "' (want tap, raw or wire)"));
  }
  if (spec.target.empty())
    return absl::InvalidArgumentError(absl::StrCat(
        "bad --net '", text, "': missing ",
        spec.kind == NicKind::kWire ? "socket path" : "interface name"));
  for (size_t i = 1; i < fields.size(); i++) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(fields[i], absl::MaxSplits('=', 1));
    if (kv.first == "mac") {
      absl::StatusOr<MacAddress> mac = ParseMac(kv.second);
      if (!mac.ok()) return mac.status();
      spec.mac = *mac;
      spec.mac_set = true;
    } else if (kv.first == "mtu") {
      if (!absl::SimpleAtoi(kv.second, &spec.mtu) || spec.mtu < 68 ||
          spec.mtu > 65535)
        return absl::InvalidArgumentError(absl::StrCat(
            "bad --net '", text, "': mtu must be 68..65535"));
    } else if (kv.first == "offload") {
      if (kv.second != "on" && kv.second != "off")
        return absl::InvalidArgumentError(absl::StrCat(
            "bad --net '", text, "': offload must be on or off"));
      spec.offload = kv.second == "on";
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad --net '", text, "': unknown option '", kv.first,
          "' (known: mac, mtu, offload)"));
    }
  }
  return spec;
}

}  // namespace lkd::virtio
