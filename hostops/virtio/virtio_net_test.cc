// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// virtio-net over a backend whose host side is one end of a socketpair the
// test holds, driven by a driver written from the spec: a frame the
// driver transmits arrives on the socket without the virtio header, a
// frame written to the socket lands in the driver's receive buffer behind
// a header, each completion in the used ring with an interrupt.
#include "hostops/virtio/virtio_net.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "hostops/virtio/virtio_net_uapi.h"
#include "hostops/virtio/virtio_test_driver.h"

namespace lkd::virtio {
namespace {

using testing::DriverQueue;
using testing::FakeKernel;
using testing::MmioDriver;

constexpr std::chrono::seconds kDeadline{30};
constexpr size_t kHdr = sizeof(virtio_net_hdr_mrg_rxbuf);

// Frames without a vnet header, one per datagram of a SOCK_SEQPACKET
// socketpair (its other end is the test's).
class SocketBackend : public NicBackend {
 public:
  // Takes `fd` and makes it non-blocking, as the interface asks.
  explicit SocketBackend(int fd) : fd_(fd) { fcntl(fd_, F_SETFL, O_NONBLOCK); }
  ~SocketBackend() override { close(fd_); }
  std::string Describe() const override { return "socketpair"; }
  int VnetHeaderSize() const override { return 0; }
  int fd() const override { return fd_; }
  int Send(const iovec* iov, int count) override {
    return writev(fd_, iov, count) < 0 ? -errno : 0;
  }
  ssize_t Receive(const iovec* iov, int count) override {
    const ssize_t n = readv(fd_, iov, count);
    return n < 0 ? -errno : n;
  }
  bool CarrierUp() override { return true; }

 private:
  const int fd_;
};

class VirtioNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeKernel::Get().Clear();
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    peer_ = sv[0];
    NicOptions options;
    options.mac = {0x02, 0, 0, 0, 0, 0x42};
    options.offload = false;
    net_ = std::make_unique<VirtioNet>(std::make_unique<SocketBackend>(sv[1]), options);
    ASSERT_TRUE(net_->Register(FakeKernel::Hooks()).ok());
    driver_ = std::make_unique<MmioDriver>(FakeKernel::Get());
    ASSERT_EQ(driver_->Read(VIRTIO_MMIO_DEVICE_ID), uint32_t{VIRTIO_ID_NET});
    ASSERT_TRUE(driver_->Negotiate((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MAC)));
    driver_->SetUpQueue(0, rx_);
    driver_->SetUpQueue(1, tx_);
    driver_->DriverOk();
  }
  void TearDown() override {
    net_.reset();
    close(peer_);
  }

  // Waits for an interrupt after `before` and for `q`'s used index to
  // reach `want`; false if either did not happen within the deadline.
  bool AwaitUsed(DriverQueue& q, uint16_t want, int before) {
    FakeKernel& kernel = FakeKernel::Get();
    const auto end = std::chrono::steady_clock::now() + kDeadline;
    while (q.used_idx() != want && std::chrono::steady_clock::now() < end)
      kernel.WaitRaised(FakeKernel::kIrq, kernel.raised(FakeKernel::kIrq), std::chrono::seconds(1));
    return q.used_idx() == want && kernel.raised(FakeKernel::kIrq) > before;
  }

  // The driver's rings outlive the device, whose threads may touch them
  // until it is destroyed.
  DriverQueue rx_{256}, tx_{256};
  int peer_ = -1;
  std::unique_ptr<VirtioNet> net_;
  std::unique_ptr<MmioDriver> driver_;
};

std::string Frame(size_t len, char seed) {
  std::string f(len, '\0');
  for (size_t i = 0; i < len; i++) f[i] = static_cast<char>(seed + i * 3);
  return f;
}

TEST_F(VirtioNetTest, ConfigShowsTheMac) {
  EXPECT_TRUE(driver_->DeviceFeatures() & (1ULL << VIRTIO_NET_F_MAC));
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_CONFIG), 0x00000002u);  // 02:00:00:00
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_CONFIG + 4) & 0xffff, 0x4200u);  // :00:42
}

TEST_F(VirtioNetTest, TransmittedFrameReachesTheBackendWithoutHeader) {
  virtio_net_hdr_mrg_rxbuf hdr{};
  const std::string frame = Frame(98, 'a');
  tx_.SetDesc(0, &hdr, kHdr, VRING_DESC_F_NEXT, 1);
  tx_.SetDesc(1, frame.data(), frame.size(), 0);
  const int irqs = FakeKernel::Get().raised(FakeKernel::kIrq);
  tx_.MakeAvailable(0);
  driver_->Write(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
  ASSERT_TRUE(AwaitUsed(tx_, 1, irqs)) << "transmit never completed";
  EXPECT_EQ(tx_.used()->ring[0].id, 0u);

  pollfd p{peer_, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 30000), 1);
  char got[2048];
  ssize_t n = recv(peer_, got, sizeof(got), 0);
  ASSERT_EQ(n, static_cast<ssize_t>(frame.size()));
  EXPECT_EQ(std::string(got, n), frame);
  EXPECT_EQ(net_->stats().tx_frames, 1u);
  EXPECT_EQ(net_->stats().tx_bytes, frame.size());
}

TEST_F(VirtioNetTest, ReceivedFrameLandsInADriverBufferBehindAHeader) {
  std::string buffer(kHdr + 1514, '\xee');
  rx_.SetDesc(0, buffer.data(), buffer.size(), VRING_DESC_F_WRITE);
  rx_.MakeAvailable(0);
  driver_->Write(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  const int irqs = FakeKernel::Get().raised(FakeKernel::kIrq);
  const std::string frame = Frame(120, 'k');
  ASSERT_EQ(send(peer_, frame.data(), frame.size(), 0), static_cast<ssize_t>(frame.size()));
  ASSERT_TRUE(AwaitUsed(rx_, 1, irqs)) << "receive never completed";
  EXPECT_EQ(rx_.used()->ring[0].id, 0u);
  EXPECT_EQ(rx_.used()->ring[0].len, kHdr + frame.size());
  virtio_net_hdr_mrg_rxbuf hdr;
  memcpy(&hdr, buffer.data(), kHdr);
  EXPECT_EQ(hdr.hdr.flags, 0);
  EXPECT_EQ(hdr.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_EQ(hdr.num_buffers, 1);
  EXPECT_EQ(buffer.substr(kHdr, frame.size()), frame);
  EXPECT_EQ(net_->stats().rx_frames, 1u);
}

TEST_F(VirtioNetTest, FramesWaitForReceiveBuffers) {
  const std::string frame = Frame(60, 'q');
  ASSERT_EQ(send(peer_, frame.data(), frame.size(), 0), static_cast<ssize_t>(frame.size()));
  // No buffer yet: the frame stays with the backend until the driver
  // offers one and kicks.
  std::string buffer(kHdr + 1514, '\0');
  rx_.SetDesc(3, buffer.data(), buffer.size(), VRING_DESC_F_WRITE);
  const int irqs = FakeKernel::Get().raised(FakeKernel::kIrq);
  rx_.MakeAvailable(3);
  driver_->Write(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  ASSERT_TRUE(AwaitUsed(rx_, 1, irqs)) << "receive never completed";
  EXPECT_EQ(rx_.used()->ring[0].id, 3u);
  EXPECT_EQ(buffer.substr(kHdr, frame.size()), frame);
}

}  // namespace
}  // namespace lkd::virtio
