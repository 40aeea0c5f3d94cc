// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The "--net" specification of a NIC, parsed without opening anything, so
// that a configuration can be checked without linking the devices.
#ifndef LKD_HOSTOPS_VIRTIO_NIC_SPEC_H_
#define LKD_HOSTOPS_VIRTIO_NIC_SPEC_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lkd::virtio {

using MacAddress = std::array<uint8_t, 6>;

enum class NicKind { kTap, kRaw, kWire };

// "tap:NAME", "raw:IFNAME" or "wire:PATH", then comma-separated options
// mac=02:00:00:00:00:01, mtu=1500, offload=on|off.
struct NicSpec {
  NicKind kind = NicKind::kTap;
  std::string target;        // TAP name, host interface, or socket path
  bool mac_set = false;
  MacAddress mac{};
  int mtu = 1500;
  bool offload = true;
};

absl::StatusOr<NicSpec> ParseNicSpec(absl::string_view spec);
absl::StatusOr<MacAddress> ParseMac(absl::string_view text);
std::string FormatMac(const MacAddress& mac);
// A random locally administered unicast address.
MacAddress RandomMac();

}  // namespace lkd::virtio

#endif  // LKD_HOSTOPS_VIRTIO_NIC_SPEC_H_
