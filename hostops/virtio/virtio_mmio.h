// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The device side of the virtio-mmio transport (virtio 1.1, section 4.2,
// "version 2" register layout), for devices the library kernel's own
// virtio_mmio driver probes from its command line.
//
// The kernel reaches the register window through lkd_mmio_ops: every
// readl/writel it makes to the window lands in Read()/Write(), on the host
// thread that runs kernel code at the time. A device model (VirtioDevice)
// supplies the device ID, features, config space and what a queue
// notification does; the transport does the registers, feature
// negotiation, queue setup, the interrupt status register and raising the
// interrupt through the kernel's IRQ entry.
#ifndef LKD_HOSTOPS_VIRTIO_VIRTIO_MMIO_H_
#define LKD_HOSTOPS_VIRTIO_VIRTIO_MMIO_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "hostops/virtio/virtqueue.h"
#include "lkd/virtio_host.h"

namespace lkd::virtio {

// The two kernel entry points a device needs (lkd/virtio_host.h):
// lkd_virtio_mmio_add and lkd_irq_raise in production, bound where the
// kernel is linked (server/daemon/kernel_hooks.h); fakes in unit tests.
struct KernelHooks {
  lkd_mmio_add_fn mmio_add;
  lkd_irq_raise_fn irq_raise;
};

class VirtioMmioTransport;

// Starts a device backend thread named `name` (shown by top -H) with every
// signal blocked: signals are for the daemon's main thread.
std::thread StartDeviceThread(const std::string& name,
                              std::function<void()> body);
// Sleep/wake for backend threads: an eventfd that poll() can wait on.
class Doorbell {
 public:
  Doorbell();
  ~Doorbell();
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;
  // False when no eventfd could be made (out of file descriptors).
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void Ring();
  void Drain();

 private:
  int fd_;
};

// What a device model provides. Start/Stop/QueueNotify run on the kernel's
// thread, inside an MMIO access: they must not block for long (wake a
// backend thread instead of doing slow I/O).
class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;
  virtual uint32_t DeviceId() const = 0;
  // Device-specific feature bits; the transport adds VERSION_1, EVENT_IDX
  // and INDIRECT_DESC.
  virtual uint64_t DeviceFeatures() const = 0;
  virtual int NumQueues() const = 0;
  virtual uint16_t QueueSize(int /*queue*/) const { return 256; }
  // Config space reads/writes at `offset` (bytes from VIRTIO_MMIO_CONFIG).
  virtual void ReadConfig(uint32_t offset, void* out, uint32_t len) = 0;
  virtual void WriteConfig(uint32_t /*offset*/, const void* /*in*/,
                           uint32_t /*len*/) {}
  // DRIVER_OK: queues are set up, `features` negotiated. Start serving.
  virtual void Start(uint64_t features) = 0;
  // Reset: stop touching the queues; must return only when no backend
  // thread uses them any more.
  virtual void Stop() = 0;
  // The driver added buffers to `queue`.
  virtual void QueueNotify(int queue) = 0;
};

class VirtioMmioTransport {
 public:
  static constexpr unsigned long kWindowSize = 0x200;

  VirtioMmioTransport(VirtioDevice* device, std::string name);
  ~VirtioMmioTransport();
  VirtioMmioTransport(const VirtioMmioTransport&) = delete;
  VirtioMmioTransport& operator=(const VirtioMmioTransport&) = delete;

  // Registers the window with the kernel (before it boots). Returns the
  // interrupt number.
  absl::StatusOr<int> Register(const KernelHooks& hooks);

  // Register accesses (the lkd_mmio_ops callbacks).
  uint64_t Read(uint32_t offset, int size);
  void Write(uint32_t offset, uint64_t value, int size);

  // A queue and the lock that serialises every use of it.
  struct Queue {
    std::mutex mu;
    SplitQueue ring;
    QueueLayout layout;  // being set up through the registers
    bool ready = false;
  };
  Queue& queue(int index) { return *queues_[index]; }

  // Raise the interrupt for used buffers / a config change.
  void InterruptUsed();
  void InterruptConfig();
  // The device met a broken ring: DEVICE_NEEDS_RESET, as the spec asks.
  void MarkBroken(const std::string& why);

  uint64_t negotiated_features() const { return driver_features_; }
  const std::string& name() const { return name_; }
  // Bump after changing config space, so the driver rereads it.
  void ConfigChanged();

 private:
  void Reset();
  void SetStatus(uint32_t status);
  uint64_t OfferedFeatures() const;

  VirtioDevice* const device_;
  const std::string name_;
  KernelHooks hooks_{};
  lkd_mmio_ops ops_{};
  int irq_ = -1;

  std::vector<std::unique_ptr<Queue>> queues_;
  std::atomic<uint32_t> status_{0};
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_sel_ = 0;
  bool started_ = false;
  std::atomic<uint32_t> interrupt_status_{0};
  std::atomic<uint32_t> config_generation_{0};
};

}  // namespace lkd::virtio

#endif  // LKD_HOSTOPS_VIRTIO_VIRTIO_MMIO_H_
