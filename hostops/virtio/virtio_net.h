// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The device side of a virtio network device (virtio 1.1, section 5.1),
// driven by the library kernel's own virtio_net driver, with its frames
// going to a NicBackend.
//
// Threads: transmit runs inline in the kernel's queue notification (a
// non-blocking send costs no thread hand-off); when the backend is full, a
// transmit thread waits for it and finishes the queue. A receive thread
// polls the backend and fills the driver's receive buffers. Each queue is
// used under its own lock.
#ifndef LKD_HOSTOPS_VIRTIO_VIRTIO_NET_H_
#define LKD_HOSTOPS_VIRTIO_VIRTIO_NET_H_

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "hostops/virtio/nic_backend.h"
#include "hostops/virtio/virtio_mmio.h"

namespace lkd::virtio {

struct NicOptions {
  MacAddress mac{};
  int mtu = 1500;
  // Offer checksum and TSO offloads (needs a backend with a vnet header).
  bool offload = true;
};

struct NicStats {
  uint64_t rx_frames = 0, rx_bytes = 0, rx_errors = 0;
  uint64_t tx_frames = 0, tx_bytes = 0, tx_dropped = 0;
};

class VirtioNet : public VirtioDevice {
 public:
  VirtioNet(std::unique_ptr<NicBackend> backend, const NicOptions& options);
  ~VirtioNet() override;

  // Announces the device to the kernel (before boot). Returns its IRQ.
  absl::StatusOr<int> Register(const KernelHooks& hooks);
  // Stops the backend threads (after the kernel halted, or on reset).
  void Stop() override;

  const MacAddress& mac() const { return options_.mac; }
  const NicBackend& backend() const { return *backend_; }
  NicStats stats() const;

  // VirtioDevice
  uint32_t DeviceId() const override;
  uint64_t DeviceFeatures() const override;
  int NumQueues() const override { return 2; }
  void ReadConfig(uint32_t offset, void* out, uint32_t len) override;
  void Start(uint64_t features) override;
  void QueueNotify(int queue) override;

 private:
  enum { kRxQueue = 0, kTxQueue = 1 };
  enum class TxResult { kDone, kBlocked };

  void RxLoop();
  // Receives frames while there are frames and buffers. Returns false when
  // it ran out of receive buffers (then wait for the driver's kick).
  bool ReceiveFrames();
  bool FillSpareBuffers(size_t need);
  TxResult TransmitFrames();  // with the TX queue lock held
  void TxLoop();
  void UpdateCarrier();

  const std::unique_ptr<NicBackend> backend_;
  const NicOptions options_;
  VirtioMmioTransport transport_;
  const int backend_hdr_;  // backend's vnet header size: 12, 10 or 0

  // Negotiated at Start().
  bool mergeable_rx_ = false;
  size_t rx_need_ = 0;  // buffer bytes for the largest frame, header included

  std::mutex config_mu_;
  uint16_t link_status_ = 0;  // VIRTIO_NET_S_LINK_UP or 0

  // Receive side, owned by the RX thread (under the RX queue lock).
  std::deque<Chain> spare_rx_;  // popped buffers not filled yet
  size_t spare_rx_bytes_ = 0;

  Doorbell stop_;
  Doorbell rx_kick_;
  Doorbell tx_kick_;
  std::atomic<bool> tx_blocked_{false};
  std::thread rx_thread_;
  std::thread tx_thread_;
  bool running_ = false;

  std::atomic<uint64_t> rx_frames_{0}, rx_bytes_{0}, rx_errors_{0};
  std::atomic<uint64_t> tx_frames_{0}, tx_bytes_{0}, tx_dropped_{0};
};

}  // namespace lkd::virtio

#endif  // LKD_HOSTOPS_VIRTIO_VIRTIO_NET_H_
