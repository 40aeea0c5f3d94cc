// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The NICs and disks of one library kernel: opened from their specs,
// announced to the kernel before it boots, stopped after it halts.
#ifndef LKD_HOSTOPS_VIRTIO_DEVICES_H_
#define LKD_HOSTOPS_VIRTIO_DEVICES_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "hostops/virtio/nic_backend.h"
#include "hostops/virtio/virtio_blk.h"
#include "hostops/virtio/virtio_net.h"

namespace lkd::virtio {

class Devices {
 public:
  // `hooks`: LibraryKernelHooks() (server/daemon/kernel_hooks.h) for the
  // real kernel.
  explicit Devices(KernelHooks hooks) : hooks_(hooks) {}
  ~Devices() { StopAll(); }
  Devices(const Devices&) = delete;
  Devices& operator=(const Devices&) = delete;

  // Opens the backend and announces a virtio-net device (random MAC unless
  // the spec sets one). Before lkd_start().
  absl::StatusOr<VirtioNet*> AddNic(const NicSpec& spec);
  // Opens the image and announces a virtio-blk device. Before lkd_start().
  absl::StatusOr<VirtioBlk*> AddDisk(const DiskSpec& spec);

  // Stops every device's threads; after lkd_halt() (the kernel syncs its
  // disks while halting, so they must still work then).
  void StopAll();

  const std::vector<std::unique_ptr<VirtioNet>>& nics() const { return nics_; }
  const std::vector<std::unique_ptr<VirtioBlk>>& disks() const {
    return disks_;
  }

 private:
  KernelHooks hooks_;
  std::vector<std::unique_ptr<VirtioNet>> nics_;
  std::vector<std::unique_ptr<VirtioBlk>> disks_;
};

}  // namespace lkd::virtio

#endif  // LKD_HOSTOPS_VIRTIO_DEVICES_H_
