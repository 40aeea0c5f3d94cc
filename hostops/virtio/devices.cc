// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hostops/virtio/devices.h"

namespace lkd::virtio {

absl::StatusOr<VirtioNet*> Devices::AddNic(const NicSpec& spec) {
  absl::StatusOr<std::unique_ptr<NicBackend>> backend = OpenNicBackend(spec);
  if (!backend.ok()) return backend.status();
  NicOptions options;
  options.mac = spec.mac_set ? spec.mac : RandomMac();
  options.mtu = spec.mtu;
  options.offload = spec.offload;
  auto nic = std::make_unique<VirtioNet>(*std::move(backend), options);
  absl::StatusOr<int> irq = nic->Register(hooks_);
  if (!irq.ok()) return irq.status();
  nics_.push_back(std::move(nic));
  return nics_.back().get();
}

absl::StatusOr<VirtioBlk*> Devices::AddDisk(const DiskSpec& spec) {
  absl::StatusOr<std::unique_ptr<VirtioBlk>> disk = VirtioBlk::Open(spec);
  if (!disk.ok()) return disk.status();
  absl::StatusOr<int> irq = (*disk)->Register(hooks_);
  if (!irq.ok()) return irq.status();
  disks_.push_back(*std::move(disk));
  return disks_.back().get();
}

void Devices::StopAll() {
  for (auto& nic : nics_) nic->Stop();
  for (auto& disk : disks_) disk->Stop();
}

}  // namespace lkd::virtio
