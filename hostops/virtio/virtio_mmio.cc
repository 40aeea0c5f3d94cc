// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hostops/virtio/virtio_mmio.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lkd::virtio {
namespace {

constexpr uint32_t kMagic = 0x74726976;  // "virt"
constexpr uint32_t kVendorId = 0x00646b6c;  // "lkd"

unsigned long long MmioRead(void* dev, unsigned long off, int size) {
  return static_cast<VirtioMmioTransport*>(dev)->Read(off, size);
}
void MmioWrite(void* dev, unsigned long off, unsigned long long value,
               int size) {
  static_cast<VirtioMmioTransport*>(dev)->Write(off, value, size);
}

void SetLow(uint64_t* field, uint32_t value) {
  *field = (*field & ~0xffffffffULL) | value;
}
void SetHigh(uint64_t* field, uint32_t value) {
  *field = (*field & 0xffffffffULL) | (static_cast<uint64_t>(value) << 32);
}

}  // namespace

std::thread StartDeviceThread(const std::string& name,
                              std::function<void()> body) {
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);  // inherited by the thread
  std::thread thread(std::move(body));
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  pthread_setname_np(thread.native_handle(), name.substr(0, 15).c_str());
  return thread;
}

Doorbell::Doorbell() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
Doorbell::~Doorbell() {
  if (fd_ >= 0) close(fd_);
}
void Doorbell::Ring() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof(one));
}
void Doorbell::Drain() {
  uint64_t count;
  [[maybe_unused]] ssize_t n = read(fd_, &count, sizeof(count));
}

VirtioMmioTransport::VirtioMmioTransport(VirtioDevice* device,
                                         std::string name)
    : device_(device), name_(std::move(name)) {
  ops_.read = MmioRead;
  ops_.write = MmioWrite;
}

VirtioMmioTransport::~VirtioMmioTransport() = default;

absl::StatusOr<int> VirtioMmioTransport::Register(const KernelHooks& hooks) {
  if (irq_ >= 0)
    return absl::FailedPreconditionError(name_ + ": already registered");
  int n = device_->NumQueues();
  for (int i = 0; i < n; i++) queues_.push_back(std::make_unique<Queue>());
  hooks_ = hooks;
  int irq = hooks_.mmio_add(&ops_, this, kWindowSize);
  if (irq < 0) {
    queues_.clear();
    return absl::FailedPreconditionError(absl::StrCat(
        name_, ": the kernel refused the device window: ", strerror(-irq),
        irq == -EBUSY ? " (devices must be added before the kernel boots)"
                      : ""));
  }
  irq_ = irq;
  return irq;
}

uint64_t VirtioMmioTransport::OfferedFeatures() const {
  return device_->DeviceFeatures() | (1ULL << VIRTIO_F_VERSION_1) |
         (1ULL << VIRTIO_RING_F_EVENT_IDX) |
         (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
}

uint64_t VirtioMmioTransport::Read(uint32_t offset, int size) {
  if (offset >= VIRTIO_MMIO_CONFIG) {
    uint64_t value = 0;
    device_->ReadConfig(offset - VIRTIO_MMIO_CONFIG, &value, size);
    return value;
  }
  Queue* q = queue_sel_ < queues_.size() ? queues_[queue_sel_].get() : nullptr;
  switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE:
      return kMagic;
    case VIRTIO_MMIO_VERSION:
      return 2;
    case VIRTIO_MMIO_DEVICE_ID:
      return device_->DeviceId();
    case VIRTIO_MMIO_VENDOR_ID:
      return kVendorId;
    case VIRTIO_MMIO_DEVICE_FEATURES:
      return device_features_sel_ > 1
                 ? 0
                 : static_cast<uint32_t>(OfferedFeatures() >>
                                         (32 * device_features_sel_));
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
      return q ? device_->QueueSize(queue_sel_) : 0;
    case VIRTIO_MMIO_QUEUE_READY:
      return q ? q->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
      return interrupt_status_.load(std::memory_order_acquire);
    case VIRTIO_MMIO_STATUS:
      return status_.load(std::memory_order_acquire);
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
      return 0xffffffff;  // no shared memory regions
    case VIRTIO_MMIO_CONFIG_GENERATION:
      return config_generation_.load(std::memory_order_acquire);
    default:
      return 0;
  }
}

void VirtioMmioTransport::Write(uint32_t offset, uint64_t value, int size) {
  if (offset >= VIRTIO_MMIO_CONFIG) {
    device_->WriteConfig(offset - VIRTIO_MMIO_CONFIG, &value, size);
    return;
  }
  uint32_t v = static_cast<uint32_t>(value);
  Queue* q = queue_sel_ < queues_.size() ? queues_[queue_sel_].get() : nullptr;
  switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
      device_features_sel_ = v;
      break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
      driver_features_sel_ = v;
      break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
      if (driver_features_sel_ == 0) SetLow(&driver_features_, v);
      if (driver_features_sel_ == 1) SetHigh(&driver_features_, v);
      break;
    case VIRTIO_MMIO_QUEUE_SEL:
      queue_sel_ = v;
      break;
    case VIRTIO_MMIO_QUEUE_NUM:
      if (q && !q->ready) q->layout.size = v;
      break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
      if (q && !q->ready) SetLow(&q->layout.desc, v);
      break;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
      if (q && !q->ready) SetHigh(&q->layout.desc, v);
      break;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
      if (q && !q->ready) SetLow(&q->layout.avail, v);
      break;
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
      if (q && !q->ready) SetHigh(&q->layout.avail, v);
      break;
    case VIRTIO_MMIO_QUEUE_USED_LOW:
      if (q && !q->ready) SetLow(&q->layout.used, v);
      break;
    case VIRTIO_MMIO_QUEUE_USED_HIGH:
      if (q && !q->ready) SetHigh(&q->layout.used, v);
      break;
    case VIRTIO_MMIO_QUEUE_READY:
      if (!q) break;
      {
        std::lock_guard lock(q->mu);
        uint16_t n = q->layout.size;
        bool valid = n != 0 && (n & (n - 1)) == 0 &&
                     n <= device_->QueueSize(queue_sel_) && q->layout.desc &&
                     q->layout.avail && q->layout.used;
        if (v && valid) {
          q->ring.Activate(q->layout,
                           driver_features_ & (1ULL << VIRTIO_RING_F_EVENT_IDX));
          q->ready = true;
        } else if (!v) {
          q->ring.Deactivate();
          q->ready = false;
        } else {
          fprintf(stderr, "lkd: %s: queue %u set up with a bad layout\n",
                  name_.c_str(), queue_sel_);
        }
      }
      break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
      // Low 16 bits: the queue index (no VIRTIO_F_NOTIFICATION_DATA).
      if ((v & 0xffff) < queues_.size() && started_)
        device_->QueueNotify(v & 0xffff);
      break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
      interrupt_status_.fetch_and(~v, std::memory_order_acq_rel);
      break;
    case VIRTIO_MMIO_STATUS:
      SetStatus(v);
      break;
    default:
      break;
  }
}

void VirtioMmioTransport::SetStatus(uint32_t status) {
  if (status == 0) {
    Reset();
    return;
  }
  uint32_t old_status = status_.load(std::memory_order_acquire);
  if ((status & VIRTIO_CONFIG_S_FEATURES_OK) &&
      !(old_status & VIRTIO_CONFIG_S_FEATURES_OK)) {
    // Accept only a subset of what we offered, and only the modern
    // interface: leaving FEATURES_OK clear tells the driver so.
    uint64_t offered = OfferedFeatures();
    if ((driver_features_ & ~offered) ||
        !(driver_features_ & (1ULL << VIRTIO_F_VERSION_1))) {
      fprintf(stderr,
              "lkd: %s: driver asked for features %#llx outside %#llx or "
              "without VERSION_1\n",
              name_.c_str(), static_cast<unsigned long long>(driver_features_),
              static_cast<unsigned long long>(offered));
      status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
    }
  }
  bool driver_ok = (status & VIRTIO_CONFIG_S_DRIVER_OK) &&
                   !(old_status & VIRTIO_CONFIG_S_DRIVER_OK);
  status_.store(status, std::memory_order_release);
  if (driver_ok && !started_) {
    started_ = true;
    device_->Start(driver_features_);
  }
}

void VirtioMmioTransport::Reset() {
  if (started_) {
    device_->Stop();
    started_ = false;
  }
  for (auto& q : queues_) {
    std::lock_guard lock(q->mu);
    q->ring.Deactivate();
    q->ready = false;
    q->layout = QueueLayout{};
  }
  status_.store(0, std::memory_order_release);
  driver_features_ = 0;
  device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
  interrupt_status_.store(0, std::memory_order_release);
}

void VirtioMmioTransport::InterruptUsed() {
  // The status bit must be set before the interrupt can run, or the
  // handler (vm_interrupt) would see nothing to do and the used buffers
  // would wait for the next interrupt.
  interrupt_status_.fetch_or(VIRTIO_MMIO_INT_VRING, std::memory_order_acq_rel);
  hooks_.irq_raise(irq_);
}

void VirtioMmioTransport::InterruptConfig() {
  interrupt_status_.fetch_or(VIRTIO_MMIO_INT_CONFIG, std::memory_order_acq_rel);
  hooks_.irq_raise(irq_);
}

void VirtioMmioTransport::ConfigChanged() {
  config_generation_.fetch_add(1, std::memory_order_acq_rel);
  InterruptConfig();
}

void VirtioMmioTransport::MarkBroken(const std::string& why) {
  fprintf(stderr, "lkd: %s: %s; device needs reset\n", name_.c_str(),
          why.c_str());
  // From a backend thread; the driver reads it back after the config
  // interrupt (virtio_config_changed -> virtio_check_driver_offered...).
  status_.fetch_or(VIRTIO_CONFIG_S_NEEDS_RESET, std::memory_order_acq_rel);
  InterruptConfig();
}

}  // namespace lkd::virtio
