// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The virtio-mmio transport driven through its registered window by a
// driver written from the spec, over a fake device and a fake kernel:
// identity registers, feature negotiation, queue setup, notify -> device,
// interrupt status and acknowledgement, reset.
#include "hostops/virtio/virtio_mmio.h"

#include <gtest/gtest.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <cstring>
#include <vector>

#include "hostops/virtio/virtio_test_driver.h"

namespace lkd::virtio {
namespace {

using testing::DriverQueue;
using testing::FakeKernel;
using testing::MmioDriver;

constexpr uint64_t kDeviceBit = 1ULL << 5;

// Records what the transport asked of it.
class FakeDevice : public VirtioDevice {
 public:
  uint32_t DeviceId() const override { return 42; }
  uint64_t DeviceFeatures() const override { return kDeviceBit; }
  int NumQueues() const override { return 2; }
  uint16_t QueueSize(int) const override { return 16; }
  void ReadConfig(uint32_t offset, void* out, uint32_t len) override {
    memset(out, 0, len);
    for (uint32_t i = 0; i < len && offset + i < sizeof(config); i++)
      static_cast<uint8_t*>(out)[i] = config[offset + i];
  }
  void WriteConfig(uint32_t offset, const void* in, uint32_t len) override {
    for (uint32_t i = 0; i < len && offset + i < sizeof(config); i++)
      config[offset + i] = static_cast<const uint8_t*>(in)[i];
  }
  void Start(uint64_t features) override { started.push_back(features); }
  void Stop() override { stops++; }
  void QueueNotify(int queue) override { notified.push_back(queue); }

  uint8_t config[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<uint64_t> started;
  int stops = 0;
  std::vector<int> notified;
};

class VirtioMmioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeKernel::Get().Clear();
    auto irq = transport_.Register(FakeKernel::Hooks());
    ASSERT_TRUE(irq.ok()) << irq.status();
    EXPECT_EQ(*irq, FakeKernel::kIrq);
    ASSERT_NE(FakeKernel::Get().ops(), nullptr);
    driver_ = std::make_unique<MmioDriver>(FakeKernel::Get());
  }

  FakeDevice device_;
  VirtioMmioTransport transport_{&device_, "test0"};
  std::unique_ptr<MmioDriver> driver_;
};

TEST_F(VirtioMmioTest, IdentifiesAsAVersion2Device) {
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976u);  // "virt"
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_VERSION), 2u);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_DEVICE_ID), 42u);
  driver_->Write(VIRTIO_MMIO_QUEUE_SEL, 1);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_QUEUE_NUM_MAX), 16u);
  driver_->Write(VIRTIO_MMIO_QUEUE_SEL, 2);  // no such queue
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_QUEUE_NUM_MAX), 0u);
}

TEST_F(VirtioMmioTest, RegisteringTwiceFails) {
  EXPECT_FALSE(transport_.Register(FakeKernel::Hooks()).ok());
}

TEST_F(VirtioMmioTest, ConfigSpaceReachesTheDevice) {
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_CONFIG), 0x04030201u);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_CONFIG + 4), 0x08070605u);
  driver_->Write(VIRTIO_MMIO_CONFIG, 0xaabbccdd);
  EXPECT_EQ(device_.config[0], 0xdd);
  EXPECT_EQ(device_.config[3], 0xaa);
  const uint32_t generation = driver_->Read(VIRTIO_MMIO_CONFIG_GENERATION);
  transport_.ConfigChanged();
  EXPECT_NE(driver_->Read(VIRTIO_MMIO_CONFIG_GENERATION), generation);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG,
            uint32_t{VIRTIO_MMIO_INT_CONFIG});
  EXPECT_EQ(FakeKernel::Get().raised(FakeKernel::kIrq), 1);
}

TEST_F(VirtioMmioTest, OffersDeviceFeaturesAndTheModernInterface) {
  const uint64_t offered = driver_->DeviceFeatures();
  EXPECT_TRUE(offered & kDeviceBit);
  EXPECT_TRUE(offered & (1ULL << VIRTIO_F_VERSION_1));
  EXPECT_TRUE(offered & (1ULL << VIRTIO_RING_F_EVENT_IDX));
  driver_->Write(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);  // no third word
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_DEVICE_FEATURES), 0u);
}

TEST_F(VirtioMmioTest, FeaturesOkOnlyForASubsetWithVersion1) {
  const uint64_t v1 = 1ULL << VIRTIO_F_VERSION_1;
  EXPECT_FALSE(driver_->Negotiate(kDeviceBit)) << "legacy driver accepted";
  EXPECT_FALSE(driver_->Negotiate(v1 | (1ULL << 6))) << "unoffered feature accepted";
  ASSERT_TRUE(driver_->Negotiate(v1 | kDeviceBit));
  EXPECT_EQ(transport_.negotiated_features(), v1 | kDeviceBit);
}

TEST_F(VirtioMmioTest, NotifyReachesTheDeviceOnlyAfterDriverOk) {
  const uint64_t features = (1ULL << VIRTIO_F_VERSION_1) | kDeviceBit;
  DriverQueue q0(16), q1(16);
  ASSERT_TRUE(driver_->Negotiate(features));
  driver_->SetUpQueue(0, q0);
  driver_->SetUpQueue(1, q1);
  driver_->Write(VIRTIO_MMIO_QUEUE_SEL, 1);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_QUEUE_READY), 1u);
  driver_->Write(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
  EXPECT_TRUE(device_.notified.empty()) << "notified before DRIVER_OK";
  driver_->DriverOk();
  ASSERT_EQ(device_.started.size(), 1u);
  EXPECT_EQ(device_.started[0], features);
  driver_->Write(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
  driver_->Write(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  driver_->Write(VIRTIO_MMIO_QUEUE_NOTIFY, 2);  // no such queue
  EXPECT_EQ(device_.notified, (std::vector<int>{1, 0}));
  // Reset stops the device and forgets the queues.
  driver_->Write(VIRTIO_MMIO_STATUS, 0);
  EXPECT_EQ(device_.stops, 1);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_STATUS), 0u);
  driver_->Write(VIRTIO_MMIO_QUEUE_SEL, 0);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_QUEUE_READY), 0u);
  EXPECT_EQ(transport_.negotiated_features(), 0u);
}

TEST_F(VirtioMmioTest, QueueWithABadLayoutStaysNotReady) {
  DriverQueue q(16);
  ASSERT_TRUE(driver_->Negotiate(1ULL << VIRTIO_F_VERSION_1));
  driver_->Write(VIRTIO_MMIO_QUEUE_SEL, 0);
  driver_->Write(VIRTIO_MMIO_QUEUE_NUM, 12);  // not a power of two
  driver_->Write(VIRTIO_MMIO_QUEUE_DESC_LOW, static_cast<uint32_t>(q.desc_addr()));
  driver_->Write(VIRTIO_MMIO_QUEUE_DESC_HIGH, static_cast<uint32_t>(q.desc_addr() >> 32));
  driver_->Write(VIRTIO_MMIO_QUEUE_AVAIL_LOW, static_cast<uint32_t>(q.avail_addr()));
  driver_->Write(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, static_cast<uint32_t>(q.avail_addr() >> 32));
  driver_->Write(VIRTIO_MMIO_QUEUE_USED_LOW, static_cast<uint32_t>(q.used_addr()));
  driver_->Write(VIRTIO_MMIO_QUEUE_USED_HIGH, static_cast<uint32_t>(q.used_addr() >> 32));
  driver_->Write(VIRTIO_MMIO_QUEUE_READY, 1);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_QUEUE_READY), 0u);
  driver_->Write(VIRTIO_MMIO_QUEUE_NUM, 32);  // larger than QueueSize
  driver_->Write(VIRTIO_MMIO_QUEUE_READY, 1);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_QUEUE_READY), 0u);
  driver_->Write(VIRTIO_MMIO_QUEUE_NUM, 16);
  driver_->Write(VIRTIO_MMIO_QUEUE_READY, 1);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_QUEUE_READY), 1u);
}

TEST_F(VirtioMmioTest, UsedInterruptSetsStatusBeforeRaisingUntilAcked) {
  transport_.InterruptUsed();
  EXPECT_EQ(FakeKernel::Get().raised(FakeKernel::kIrq), 1);
  EXPECT_EQ(FakeKernel::Get().status_at_raise(), uint32_t{VIRTIO_MMIO_INT_VRING});
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_INTERRUPT_STATUS), uint32_t{VIRTIO_MMIO_INT_VRING});
  driver_->Write(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
  EXPECT_EQ(driver_->Read(VIRTIO_MMIO_INTERRUPT_STATUS), 0u);
}

TEST_F(VirtioMmioTest, BrokenRingAsksForAReset) {
  transport_.MarkBroken("test");
  EXPECT_TRUE(driver_->Read(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
  EXPECT_TRUE(driver_->Read(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
  EXPECT_EQ(FakeKernel::Get().raised(FakeKernel::kIrq), 1);
}

}  // namespace
}  // namespace lkd::virtio
