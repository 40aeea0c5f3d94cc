// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hostops/virtio/virtio_net.h"

#include <linux/virtio_ids.h>
#include "hostops/virtio/virtio_net_uapi.h"
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace lkd::virtio {
namespace {

// The driver's header with VERSION_1: virtio_net_hdr plus num_buffers.
constexpr size_t kDriverHdr = sizeof(virtio_net_hdr_mrg_rxbuf);
constexpr size_t kNumBuffersOffset = offsetof(virtio_net_hdr_mrg_rxbuf,
                                              num_buffers);
// Ethernet header plus one VLAN tag.
constexpr size_t kLinkHeader = 14 + 4;
// The largest GSO frame: an IP datagram of 64 KiB.
constexpr size_t kMaxGsoFrame = 65535 + kLinkHeader;

constexpr uint64_t Bit(int feature) { return 1ULL << feature; }

// The part of a driver-side frame (12-byte header, then the frame) that a
// backend with a `backend_hdr`-byte header sees: the legacy header keeps
// the first 10 bytes, no header skips all 12.
void BackendView(const std::vector<iovec>& driver, size_t driver_len,
                 int backend_hdr, std::vector<iovec>* out) {
  out->clear();
  if (backend_hdr == static_cast<int>(kDriverHdr)) {
    SliceIov(driver, 0, driver_len, out);
    return;
  }
  if (driver_len < kDriverHdr) return;
  SliceIov(driver, 0, backend_hdr, out);
  SliceIov(driver, kDriverHdr, driver_len - kDriverHdr, out);
}

}  // namespace

VirtioNet::VirtioNet(std::unique_ptr<NicBackend> backend,
                     const NicOptions& options)
    : backend_(std::move(backend)),
      options_(options),
      transport_(this, "virtio-net " + backend_->Describe()),
      backend_hdr_(backend_->VnetHeaderSize()) {}

VirtioNet::~VirtioNet() { Stop(); }

absl::StatusOr<int> VirtioNet::Register(const KernelHooks& hooks) {
  if (!stop_.ok() || !rx_kick_.ok() || !tx_kick_.ok())
    return absl::ResourceExhaustedError(
        absl::StrCat(transport_.name(), ": no eventfd: ", strerror(errno)));
  link_status_ = backend_->CarrierUp() ? VIRTIO_NET_S_LINK_UP : 0;
  return transport_.Register(hooks);
}

uint32_t VirtioNet::DeviceId() const { return VIRTIO_ID_NET; }

uint64_t VirtioNet::DeviceFeatures() const {
  uint64_t features = Bit(VIRTIO_NET_F_MAC) | Bit(VIRTIO_NET_F_MTU) |
                      Bit(VIRTIO_NET_F_STATUS) | Bit(VIRTIO_NET_F_MRG_RXBUF);
  // Offloads need the metadata to travel with each frame.
  if (options_.offload && backend_hdr_ > 0)
    features |= Bit(VIRTIO_NET_F_CSUM) | Bit(VIRTIO_NET_F_GUEST_CSUM) |
                Bit(VIRTIO_NET_F_HOST_TSO4) | Bit(VIRTIO_NET_F_HOST_TSO6) |
                Bit(VIRTIO_NET_F_HOST_ECN) | Bit(VIRTIO_NET_F_GUEST_TSO4) |
                Bit(VIRTIO_NET_F_GUEST_TSO6) | Bit(VIRTIO_NET_F_GUEST_ECN);
  return features;
}

void VirtioNet::ReadConfig(uint32_t offset, void* out, uint32_t len) {
  virtio_net_config config{};
  memcpy(config.mac, options_.mac.data(), 6);
  {
    std::lock_guard lock(config_mu_);
    config.status = link_status_;
  }
  config.max_virtqueue_pairs = 1;
  config.mtu = static_cast<uint16_t>(options_.mtu);
  memset(out, 0, len);
  if (offset < sizeof(config))
    memcpy(out, reinterpret_cast<const uint8_t*>(&config) + offset,
           std::min<size_t>(len, sizeof(config) - offset));
}

void VirtioNet::Start(uint64_t features) {
  mergeable_rx_ = features & Bit(VIRTIO_NET_F_MRG_RXBUF);
  bool guest_tso = features & (Bit(VIRTIO_NET_F_GUEST_TSO4) |
                               Bit(VIRTIO_NET_F_GUEST_TSO6));
  rx_need_ = kDriverHdr +
             (guest_tso ? kMaxGsoFrame : options_.mtu + kLinkHeader);
  ReceiveOffloads offloads;
  offloads.csum = features & Bit(VIRTIO_NET_F_GUEST_CSUM);
  offloads.tso4 = features & Bit(VIRTIO_NET_F_GUEST_TSO4);
  offloads.tso6 = features & Bit(VIRTIO_NET_F_GUEST_TSO6);
  offloads.ecn = features & Bit(VIRTIO_NET_F_GUEST_ECN);
  absl::Status status = backend_->SetReceiveOffloads(offloads);
  if (!status.ok())
    fprintf(stderr, "lkd: %s\n", std::string(status.message()).c_str());

  stop_.Drain();
  running_ = true;
  rx_thread_ = StartDeviceThread("lkd-net-rx", [this] { RxLoop(); });
  tx_thread_ = StartDeviceThread("lkd-net-tx", [this] { TxLoop(); });
}

void VirtioNet::Stop() {
  if (!running_) return;
  stop_.Ring();
  rx_thread_.join();
  tx_thread_.join();
  running_ = false;
  spare_rx_.clear();
  spare_rx_bytes_ = 0;
  tx_blocked_ = false;
  rx_kick_.Drain();
  tx_kick_.Drain();
}

NicStats VirtioNet::stats() const {
  NicStats s;
  s.rx_frames = rx_frames_.load();
  s.rx_bytes = rx_bytes_.load();
  s.rx_errors = rx_errors_.load();
  s.tx_frames = tx_frames_.load();
  s.tx_bytes = tx_bytes_.load();
  s.tx_dropped = tx_dropped_.load();
  return s;
}

void VirtioNet::QueueNotify(int queue) {
  if (queue == kRxQueue) {
    rx_kick_.Ring();
    return;
  }
  if (queue != kTxQueue) return;
  // Sending here, on the kernel's thread, saves a thread hand-off per
  // burst; the TX thread takes over only when the backend pushes back.
  VirtioMmioTransport::Queue& q = transport_.queue(kTxQueue);
  std::unique_lock lock(q.mu, std::try_to_lock);
  if (!lock.owns_lock() || tx_blocked_.load(std::memory_order_acquire)) {
    tx_kick_.Ring();
    return;
  }
  if (TransmitFrames() == TxResult::kBlocked) {
    tx_blocked_.store(true, std::memory_order_release);
    tx_kick_.Ring();
  }
}

VirtioNet::TxResult VirtioNet::TransmitFrames() {
  SplitQueue& ring = transport_.queue(kTxQueue).ring;
  Chain chain;
  std::vector<iovec> view;
  TxResult result = TxResult::kDone;
  uint32_t pushed = 0;
  ring.DisableNotify();
  for (;;) {
    SplitQueue::PopResult popped;
    while ((popped = ring.Pop(&chain)) == SplitQueue::PopResult::kChain) {
      BackendView(chain.readable, chain.readable_bytes, backend_hdr_, &view);
      int err = view.empty() ? -EINVAL
                             : backend_->Send(view.data(),
                                              static_cast<int>(view.size()));
      if (err == -EAGAIN) {
        ring.Unpop(1);
        result = TxResult::kBlocked;
        break;
      }
      if (err < 0) {
        tx_dropped_.fetch_add(1, std::memory_order_relaxed);
      } else {
        tx_frames_.fetch_add(1, std::memory_order_relaxed);
        tx_bytes_.fetch_add(chain.readable_bytes - kDriverHdr,
                            std::memory_order_relaxed);
      }
      ring.Push(chain.head, 0);
      pushed++;
    }
    if (popped == SplitQueue::PopResult::kMalformed) {
      transport_.MarkBroken("malformed transmit descriptor chain");
      break;
    }
    if (result == TxResult::kBlocked || !ring.EnableNotifyAndRecheck()) break;
    ring.DisableNotify();
  }
  if (pushed) {
    ring.Publish();
    if (ring.ShouldInterrupt()) transport_.InterruptUsed();
  }
  return result;
}

void VirtioNet::TxLoop() {
  for (;;) {
    bool blocked = tx_blocked_.load(std::memory_order_acquire);
    pollfd fds[3] = {{stop_.fd(), POLLIN, 0},
                     {tx_kick_.fd(), POLLIN, 0},
                     {backend_->fd(), static_cast<short>(blocked ? POLLOUT : 0),
                      0}};
    if (poll(fds, 3, -1) < 0 && errno != EINTR) {
      perror("lkd: virtio-net tx poll");
      return;
    }
    if (fds[0].revents) return;
    if (fds[1].revents) tx_kick_.Drain();
    VirtioMmioTransport::Queue& q = transport_.queue(kTxQueue);
    std::lock_guard lock(q.mu);
    TxResult result = TransmitFrames();
    tx_blocked_.store(result == TxResult::kBlocked, std::memory_order_release);
  }
}

bool VirtioNet::FillSpareBuffers(size_t need) {
  SplitQueue& ring = transport_.queue(kRxQueue).ring;
  for (;;) {
    while (spare_rx_bytes_ < need) {
      Chain chain;
      SplitQueue::PopResult popped = ring.Pop(&chain);
      if (popped == SplitQueue::PopResult::kMalformed) {
        transport_.MarkBroken("malformed receive descriptor chain");
        return false;
      }
      if (popped == SplitQueue::PopResult::kEmpty) break;
      if (!chain.readable.empty() || chain.writable_bytes < kDriverHdr) {
        transport_.MarkBroken("receive buffer without room for a header");
        return false;
      }
      spare_rx_bytes_ += chain.writable_bytes;
      spare_rx_.push_back(std::move(chain));
      if (!mergeable_rx_) break;
    }
    if (spare_rx_bytes_ >= need || (!mergeable_rx_ && !spare_rx_.empty()))
      return true;
    // Out of buffers: ask for a kick, unless the driver added some while
    // we were asking (then it may not kick).
    if (!ring.EnableNotifyAndRecheck()) return false;
    ring.DisableNotify();
  }
}

bool VirtioNet::ReceiveFrames() {
  VirtioMmioTransport::Queue& q = transport_.queue(kRxQueue);
  std::lock_guard lock(q.mu);
  SplitQueue& ring = q.ring;
  if (!ring.active()) return false;
  std::vector<iovec> driver_iov, view;
  uint32_t pushed = 0;
  bool have_buffers = true;
  ring.DisableNotify();
  for (int frames = 0; frames < 64; frames++) {
    if (!FillSpareBuffers(rx_need_)) {
      have_buffers = false;
      break;
    }
    // The buffers this frame may use, in order.
    driver_iov.clear();
    size_t capacity = 0;
    for (const Chain& chain : spare_rx_) {
      driver_iov.insert(driver_iov.end(), chain.writable.begin(),
                        chain.writable.end());
      capacity += chain.writable_bytes;
      if (capacity >= rx_need_ || !mergeable_rx_) break;
    }
    BackendView(driver_iov, capacity, backend_hdr_, &view);
    ssize_t n = backend_->Receive(view.data(), static_cast<int>(view.size()));
    if (n < 0) {
      if (n != -EAGAIN && n != -EINTR) {
        rx_errors_.fetch_add(1, std::memory_order_relaxed);
        if (n != -ECONNREFUSED)  // a wire peer going away: not news
          fprintf(stderr, "lkd: %s: receive: %s\n", transport_.name().c_str(),
                  strerror(static_cast<int>(-n)));
      }
      break;
    }
    if (n < backend_hdr_) {
      rx_errors_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    size_t len = n + (kDriverHdr - backend_hdr_);
    if (backend_hdr_ == 0) {
      static const uint8_t kNoOffload[kNumBuffersOffset] = {};
      CopyToIov(driver_iov, 0, kNoOffload, sizeof(kNoOffload));
    }
    // Hand over as many buffers as the frame filled.
    uint16_t buffers = 0;
    size_t left = len;
    for (const Chain& chain : spare_rx_) {
      if (left == 0) break;
      buffers++;
      left -= std::min(left, chain.writable_bytes);
      if (!mergeable_rx_) break;
    }
    CopyToIov(driver_iov, kNumBuffersOffset, &buffers, sizeof(buffers));
    left = len;
    for (uint16_t i = 0; i < buffers; i++) {
      Chain& chain = spare_rx_.front();
      uint32_t used = static_cast<uint32_t>(std::min(left, chain.writable_bytes));
      ring.Push(chain.head, used);
      left -= used;
      spare_rx_bytes_ -= chain.writable_bytes;
      spare_rx_.pop_front();
    }
    pushed += buffers;
    rx_frames_.fetch_add(1, std::memory_order_relaxed);
    rx_bytes_.fetch_add(n - backend_hdr_, std::memory_order_relaxed);
  }
  if (pushed) {
    ring.Publish();
    if (ring.ShouldInterrupt()) transport_.InterruptUsed();
  }
  return have_buffers;
}

void VirtioNet::UpdateCarrier() {
  uint16_t status = backend_->CarrierUp() ? VIRTIO_NET_S_LINK_UP : 0;
  {
    std::lock_guard lock(config_mu_);
    if (status == link_status_) return;
    link_status_ = status;
  }
  transport_.ConfigChanged();
}

void VirtioNet::RxLoop() {
  using Clock = std::chrono::steady_clock;
  auto next_tick = Clock::now() + std::chrono::seconds(1);
  bool have_buffers = true;
  for (;;) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_tick - Clock::now());
    pollfd fds[3] = {
        {stop_.fd(), POLLIN, 0},
        {rx_kick_.fd(), POLLIN, 0},
        {backend_->fd(), static_cast<short>(have_buffers ? POLLIN : 0), 0}};
    int ready = poll(fds, 3, std::max<int>(0, wait.count()));
    if (ready < 0 && errno != EINTR) {
      perror("lkd: virtio-net rx poll");
      return;
    }
    if (fds[0].revents) return;
    if (fds[1].revents) {
      rx_kick_.Drain();
      have_buffers = true;
    }
    if (Clock::now() >= next_tick) {
      backend_->Tick();
      UpdateCarrier();
      next_tick = Clock::now() + std::chrono::seconds(1);
    }
    if (have_buffers && (fds[1].revents || fds[2].revents))
      have_buffers = ReceiveFrames();
  }
}

}  // namespace lkd::virtio
