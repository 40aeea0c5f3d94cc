// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The backend factory.
#include "hostops/virtio/nic_backend.h"

#include "absl/strings/str_cat.h"

namespace lkd::virtio {

absl::StatusOr<std::unique_ptr<NicBackend>> OpenNicBackend(
    const NicSpec& spec) {
  switch (spec.kind) {
    case NicKind::kTap:
      return OpenTapBackend(spec.target, spec.offload);
    case NicKind::kRaw:
      return OpenRawBackend(spec.target, spec.offload);
    case NicKind::kWire:
      return OpenWireBackend(spec.target);
  }
  return absl::InvalidArgumentError("unknown NIC kind");
}

}  // namespace lkd::virtio
