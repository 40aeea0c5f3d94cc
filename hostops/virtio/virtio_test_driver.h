// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// For unit tests of the device models: a fake kernel (KernelHooks that
// record the registered window and count interrupts) and a driver written
// from the virtio-mmio spec that reaches the device only through the
// lkd_mmio_ops the device registered, with its split rings in ordinary
// memory. One fake kernel per process: the hooks are plain C function
// pointers without a context argument.
#ifndef LKD_HOSTOPS_VIRTIO_VIRTIO_TEST_DRIVER_H_
#define LKD_HOSTOPS_VIRTIO_VIRTIO_TEST_DRIVER_H_

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "hostops/virtio/virtio_mmio.h"
#include "hostops/virtio/virtqueue.h"  // linux/virtio_ring.h, usable from C++

namespace lkd::virtio::testing {

// What the device asked of the kernel.
class FakeKernel {
 public:
  static constexpr int kIrq = 7;
  // Hooks that record into the one FakeKernel of the process.
  static KernelHooks Hooks();
  static FakeKernel& Get();

  const lkd_mmio_ops* ops() const { return ops_; }
  void* dev() const { return dev_; }
  int raised(int irq) const;
  // INTERRUPT_STATUS as the handler read it during the last raise: the
  // fake runs the handler's first read on the raising thread, as
  // lkd_irq_raise may.
  uint32_t status_at_raise() const;
  // Waits until interrupt `irq` was raised more than `count` times, or
  // `deadline` passed (a failure, not a timing assumption). Returns the
  // count.
  int WaitRaised(int irq, int count, std::chrono::seconds deadline);
  void Clear();

 private:
  static int MmioAdd(const lkd_mmio_ops* ops, void* dev, unsigned long size);
  static void IrqRaise(int irq);

  const lkd_mmio_ops* ops_ = nullptr;
  void* dev_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable raised_cv_;
  int raised_ = 0;
  int other_irqs_ = 0;
  uint32_t status_at_raise_ = 0;
};

// One virtqueue of the driver, in ordinary memory.
class DriverQueue {
 public:
  explicit DriverQueue(uint16_t size);
  uint16_t size() const { return size_; }
  vring_desc* desc() { return desc_.data(); }
  vring_avail* avail() { return reinterpret_cast<vring_avail*>(avail_.data()); }
  vring_used* used() { return reinterpret_cast<vring_used*>(used_.data()); }
  uint64_t desc_addr() const { return reinterpret_cast<uint64_t>(desc_.data()); }
  uint64_t avail_addr() const { return reinterpret_cast<uint64_t>(avail_.data()); }
  uint64_t used_addr() const { return reinterpret_cast<uint64_t>(used_.data()); }

  void SetDesc(uint16_t i, const void* addr, uint32_t len, uint16_t flags, uint16_t next = 0);
  // Publishes chain `head` in the avail ring.
  void MakeAvailable(uint16_t head);
  // The used ring's index, read as the driver reads it (acquire).
  uint16_t used_idx();

 private:
  uint16_t size_;
  std::vector<vring_desc> desc_;
  std::vector<uint64_t> avail_;  // uint64_t: alignment
  std::vector<uint64_t> used_;
};

// The driver's side of the registers, through the registered window.
class MmioDriver {
 public:
  explicit MmioDriver(const FakeKernel& kernel) : ops_(kernel.ops()), dev_(kernel.dev()) {}
  uint32_t Read(uint32_t offset) const { return static_cast<uint32_t>(ops_->read(dev_, offset, 4)); }
  void Write(uint32_t offset, uint32_t value) { ops_->write(dev_, offset, value, 4); }

  uint64_t DeviceFeatures();
  void SetDriverFeatures(uint64_t features);
  // Sets queue `index` up with `q`'s rings and marks it ready.
  void SetUpQueue(uint32_t index, DriverQueue& q);
  // ACKNOWLEDGE, DRIVER, `features`, FEATURES_OK; true if the device kept
  // FEATURES_OK.
  bool Negotiate(uint64_t features);
  void DriverOk() { Write(VIRTIO_MMIO_STATUS, Read(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK); }

 private:
  const lkd_mmio_ops* ops_;
  void* dev_;
};

}  // namespace lkd::virtio::testing

#endif  // LKD_HOSTOPS_VIRTIO_VIRTIO_TEST_DRIVER_H_
