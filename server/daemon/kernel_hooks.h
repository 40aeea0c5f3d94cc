// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The library kernel's device entry points as KernelHooks: the one place
// that binds the device models (which see only lkd/virtio_host.h) to the
// kernel, so it lives with the code that links the kernel.
#ifndef LKD_SERVER_DAEMON_KERNEL_HOOKS_H_
#define LKD_SERVER_DAEMON_KERNEL_HOOKS_H_

#include "hostops/virtio/virtio_mmio.h"
#include "lkd/kernel.h"

namespace lkd::virtio {

inline KernelHooks LibraryKernelHooks() {
  return KernelHooks{lkd_virtio_mmio_add, lkd_irq_raise};
}

}  // namespace lkd::virtio

#endif  // LKD_SERVER_DAEMON_KERNEL_HOOKS_H_
