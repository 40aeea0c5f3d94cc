// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hostops/virtio/virtio_test_driver.h"

namespace lkd::virtio::testing {

KernelHooks FakeKernel::Hooks() { return KernelHooks{&MmioAdd, &IrqRaise}; }

FakeKernel& FakeKernel::Get() {
  static FakeKernel kernel;
  return kernel;
}

int FakeKernel::MmioAdd(const lkd_mmio_ops* ops, void* dev, unsigned long size) {
  if (!ops || !ops->read || !ops->write || size == 0 || size > 4096) return -22;
  Get().ops_ = ops;
  Get().dev_ = dev;
  return kIrq;
}

void FakeKernel::IrqRaise(int irq) {
  FakeKernel& k = Get();
  const uint32_t status =
      k.ops_ ? static_cast<uint32_t>(k.ops_->read(k.dev_, VIRTIO_MMIO_INTERRUPT_STATUS, 4)) : 0;
  std::lock_guard lock(k.mu_);
  k.status_at_raise_ = status;
  if (irq == kIrq)
    k.raised_++;
  else
    k.other_irqs_++;
  k.raised_cv_.notify_all();
}

int FakeKernel::raised(int irq) const {
  std::lock_guard lock(mu_);
  return irq == kIrq ? raised_ : other_irqs_;
}

int FakeKernel::WaitRaised(int irq, int count, std::chrono::seconds deadline) {
  std::unique_lock lock(mu_);
  const int* n = irq == kIrq ? &raised_ : &other_irqs_;
  raised_cv_.wait_for(lock, deadline, [&] { return *n > count; });
  return *n;
}

uint32_t FakeKernel::status_at_raise() const {
  std::lock_guard lock(mu_);
  return status_at_raise_;
}

void FakeKernel::Clear() {
  std::lock_guard lock(mu_);
  ops_ = nullptr;
  dev_ = nullptr;
  raised_ = other_irqs_ = 0;
  status_at_raise_ = 0;
}

DriverQueue::DriverQueue(uint16_t size)
    : size_(size),
      desc_(size),
      avail_((sizeof(vring_avail) + sizeof(uint16_t) * (size + 1)) / 8 + 1),
      used_((sizeof(vring_used) + sizeof(vring_used_elem) * size + sizeof(uint16_t)) / 8 + 1) {}

void DriverQueue::SetDesc(uint16_t i, const void* addr, uint32_t len, uint16_t flags,
                          uint16_t next) {
  desc_[i] = {reinterpret_cast<uint64_t>(addr), len, flags, next};
}

void DriverQueue::MakeAvailable(uint16_t head) {
  uint16_t old = avail()->idx;
  avail()->ring[old % size_] = head;
  std::atomic_ref<uint16_t>(avail()->idx).store(old + 1, std::memory_order_release);
}

uint16_t DriverQueue::used_idx() {
  return std::atomic_ref<uint16_t>(used()->idx).load(std::memory_order_acquire);
}

uint64_t MmioDriver::DeviceFeatures() {
  Write(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
  uint64_t high = Read(VIRTIO_MMIO_DEVICE_FEATURES);
  Write(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
  return high << 32 | Read(VIRTIO_MMIO_DEVICE_FEATURES);
}

void MmioDriver::SetDriverFeatures(uint64_t features) {
  Write(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
  Write(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(features >> 32));
  Write(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
  Write(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(features));
}

void MmioDriver::SetUpQueue(uint32_t index, DriverQueue& q) {
  Write(VIRTIO_MMIO_QUEUE_SEL, index);
  Write(VIRTIO_MMIO_QUEUE_NUM, q.size());
  Write(VIRTIO_MMIO_QUEUE_DESC_LOW, static_cast<uint32_t>(q.desc_addr()));
  Write(VIRTIO_MMIO_QUEUE_DESC_HIGH, static_cast<uint32_t>(q.desc_addr() >> 32));
  Write(VIRTIO_MMIO_QUEUE_AVAIL_LOW, static_cast<uint32_t>(q.avail_addr()));
  Write(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, static_cast<uint32_t>(q.avail_addr() >> 32));
  Write(VIRTIO_MMIO_QUEUE_USED_LOW, static_cast<uint32_t>(q.used_addr()));
  Write(VIRTIO_MMIO_QUEUE_USED_HIGH, static_cast<uint32_t>(q.used_addr() >> 32));
  Write(VIRTIO_MMIO_QUEUE_READY, 1);
}

bool MmioDriver::Negotiate(uint64_t features) {
  Write(VIRTIO_MMIO_STATUS, 0);
  Write(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
  Write(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
  SetDriverFeatures(features);
  Write(VIRTIO_MMIO_STATUS,
        VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
  return Read(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK;
}

}  // namespace lkd::virtio::testing
