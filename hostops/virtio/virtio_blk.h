// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The device side of a virtio block device (virtio 1.1, section 5.2) over a
// raw image file, driven by the library kernel's own virtio_blk driver.
//
// One worker thread per disk serves the request queue with preadv/pwritev.
// FLUSH maps to fdatasync; the kernel's block layer turns FUA writes into a
// write plus a flush, since the device offers a volatile write cache
// (VIRTIO_BLK_F_FLUSH) and no FUA, so both reach the platter through
// fdatasync. DISCARD punches holes in the image. The image is locked
// (flock) so that two lkd daemons cannot use it at once.
#ifndef LKD_HOSTOPS_VIRTIO_VIRTIO_BLK_H_
#define LKD_HOSTOPS_VIRTIO_VIRTIO_BLK_H_

#include <atomic>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <thread>

#include "absl/status/statusor.h"
#include "hostops/virtio/virtio_mmio.h"

namespace lkd::virtio {

// "--disk PATH[,ro][,serial=ID]".
struct DiskSpec {
  std::string path;
  bool read_only = false;
  // The ID the kernel shows in /sys/block/vdX/serial (at most 20 bytes);
  // how setup code finds the disk. Default: the image's file name.
  std::string serial;
};
absl::StatusOr<DiskSpec> ParseDiskSpec(absl::string_view text);

struct DiskStats {
  uint64_t reads = 0, read_bytes = 0;
  uint64_t writes = 0, write_bytes = 0;
  uint64_t flushes = 0, discards = 0, errors = 0;
};

class VirtioBlk : public VirtioDevice {
 public:
  // Opens and locks the image. Errors name the image and the reason
  // ("no such file", "in use by another process", "size 1000 is not a
  // multiple of 512", ...).
  static absl::StatusOr<std::unique_ptr<VirtioBlk>> Open(const DiskSpec& spec);
  ~VirtioBlk() override;

  absl::StatusOr<int> Register(const KernelHooks& hooks);
  void Stop() override;

  const DiskSpec& spec() const { return spec_; }
  uint64_t size_bytes() const { return size_; }
  DiskStats stats() const;

  // VirtioDevice
  uint32_t DeviceId() const override;
  uint64_t DeviceFeatures() const override;
  int NumQueues() const override { return 1; }
  uint16_t QueueSize(int) const override { return 128; }
  void ReadConfig(uint32_t offset, void* out, uint32_t len) override;
  void Start(uint64_t features) override;
  void QueueNotify(int queue) override;

 private:
  VirtioBlk(DiskSpec spec, int fd, uint64_t size);
  void Worker();
  void ServeQueue();
  uint8_t Serve(const Chain& chain, uint32_t* written);
  // Whether `len` bytes from `sector` lie inside the image.
  bool InImage(uint64_t sector, uint64_t len) const;

  const DiskSpec spec_;
  const int fd_;
  const uint64_t size_;
  VirtioMmioTransport transport_;
  Doorbell stop_;
  Doorbell kick_;
  std::thread worker_;
  bool running_ = false;

  std::atomic<uint64_t> reads_{0}, read_bytes_{0}, writes_{0}, write_bytes_{0};
  std::atomic<uint64_t> flushes_{0}, discards_{0}, errors_{0};
};

}  // namespace lkd::virtio

#endif  // LKD_HOSTOPS_VIRTIO_VIRTIO_BLK_H_
