// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The library kernel's device entry points as KernelHooks.
#ifndef LKD_HOSTOPS_VIRTIO_KERNEL_HOOKS_H_
#define LKD_HOSTOPS_VIRTIO_KERNEL_HOOKS_H_

#include "hostops/virtio/virtio_mmio.h"
#include "lkd/kernel.h"

namespace lkd::virtio {

inline KernelHooks LibraryKernelHooks() {
  return KernelHooks{lkd_virtio_mmio_add, lkd_irq_raise};
}

}  // namespace lkd::virtio

#endif  // LKD_HOSTOPS_VIRTIO_KERNEL_HOOKS_H_
