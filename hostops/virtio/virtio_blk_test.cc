// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// virtio-blk over a temporary image file, driven by a driver written from
// the spec through the registered window and a request queue in ordinary
// memory: reads, writes and flushes reach the image (checked with plain
// pread/pwrite, not with the device), every request completes in the used
// ring with its status byte and an interrupt, bad requests get an error.
#include "hostops/virtio/virtio_blk.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "hostops/virtio/virtio_test_driver.h"

namespace lkd::virtio {
namespace {

using testing::DriverQueue;
using testing::FakeKernel;
using testing::MmioDriver;

constexpr uint64_t kImageSize = 1 << 20;
constexpr std::chrono::seconds kDeadline{30};

class VirtioBlkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeKernel::Get().Clear();
    path_ = absl::StrCat(getenv("TEST_TMPDIR"), "/blk-", getpid(), ".img");
    int fd = open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, kImageSize), 0);
    close(fd);
  }
  void TearDown() override { unlink(path_.c_str()); }

  // Opens the device, registers it with the fake kernel and brings the
  // driver up to DRIVER_OK with queue 0 set up.
  void Bring(bool read_only = false) {
    auto blk = VirtioBlk::Open({path_, read_only, "disk-serial"});
    ASSERT_TRUE(blk.ok()) << blk.status();
    blk_ = std::move(*blk);
    ASSERT_TRUE(blk_->Register(FakeKernel::Hooks()).ok());
    driver_ = std::make_unique<MmioDriver>(FakeKernel::Get());
    ASSERT_EQ(driver_->Read(VIRTIO_MMIO_DEVICE_ID), uint32_t{VIRTIO_ID_BLOCK});
    const uint64_t offered = driver_->DeviceFeatures();
    ASSERT_TRUE(offered & (1ULL << VIRTIO_BLK_F_FLUSH));
    ASSERT_TRUE(driver_->Negotiate((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BLK_F_FLUSH)));
    driver_->SetUpQueue(0, queue_);
    driver_->DriverOk();
  }

  // One request: header, optional data (device-readable for writes,
  // device-writable for reads), status byte. Returns the status byte once
  // the device put the chain in the used ring and raised the interrupt, or
  // 0xff if it did not within the deadline.
  uint8_t Request(uint32_t type, uint64_t sector, void* data, uint32_t len,
                  uint32_t* used_len = nullptr) {
    header_ = {type, 0, sector};
    status_ = 0xee;
    const bool in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
    uint16_t next = 1;
    queue_.SetDesc(0, &header_, sizeof(header_), VRING_DESC_F_NEXT, 1);
    if (len > 0) {
      queue_.SetDesc(1, data, len, VRING_DESC_F_NEXT | (in ? VRING_DESC_F_WRITE : 0), 2);
      next = 2;
    }
    queue_.SetDesc(next, &status_, 1, VRING_DESC_F_WRITE);
    const uint16_t used_before = queue_.used_idx();
    const int irqs = FakeKernel::Get().raised(FakeKernel::kIrq);
    queue_.MakeAvailable(0);
    driver_->Write(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    if (FakeKernel::Get().WaitRaised(FakeKernel::kIrq, irqs, kDeadline) <= irqs) return 0xff;
    if (queue_.used_idx() != static_cast<uint16_t>(used_before + 1)) return 0xff;
    EXPECT_TRUE(driver_->Read(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);
    driver_->Write(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
    const vring_used_elem& elem = queue_.used()->ring[used_before % queue_.size()];
    EXPECT_EQ(elem.id, 0u);
    if (used_len) *used_len = elem.len;
    return status_;
  }

  std::string ImageAt(off_t offset, size_t len) {
    std::string out(len, '\0');
    int fd = open(path_.c_str(), O_RDONLY);
    EXPECT_EQ(pread(fd, out.data(), len, offset), static_cast<ssize_t>(len));
    close(fd);
    return out;
  }

  // The driver's memory outlives the device, whose worker may touch it
  // until the device is destroyed.
  DriverQueue queue_{128};
  virtio_blk_outhdr header_{};
  uint8_t status_ = 0;
  std::string path_;
  std::unique_ptr<VirtioBlk> blk_;
  std::unique_ptr<MmioDriver> driver_;
};

TEST_F(VirtioBlkTest, ConfigShowsTheImageCapacity) {
  Bring();
  uint64_t capacity = driver_->Read(VIRTIO_MMIO_CONFIG) |
                      uint64_t{driver_->Read(VIRTIO_MMIO_CONFIG + 4)} << 32;
  EXPECT_EQ(capacity, kImageSize / 512);
}

TEST_F(VirtioBlkTest, WriteReachesTheImageAndReadsBack) {
  Bring();
  std::string data(4096, '\0');
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<char>(i * 7 + 1);
  uint32_t used_len = 0;
  ASSERT_EQ(Request(VIRTIO_BLK_T_OUT, 8, data.data(), data.size(), &used_len), VIRTIO_BLK_S_OK);
  EXPECT_EQ(used_len, 1u) << "a write only writes the status byte";
  EXPECT_EQ(ImageAt(8 * 512, data.size()), data);

  std::string back(4096, 'z');
  ASSERT_EQ(Request(VIRTIO_BLK_T_IN, 8, back.data(), back.size(), &used_len), VIRTIO_BLK_S_OK);
  EXPECT_EQ(used_len, 4097u);
  EXPECT_EQ(back, data);

  ASSERT_EQ(Request(VIRTIO_BLK_T_FLUSH, 0, nullptr, 0), VIRTIO_BLK_S_OK);
  const DiskStats stats = blk_->stats();
  EXPECT_EQ(stats.writes, 1u);
  EXPECT_EQ(stats.write_bytes, 4096u);
  EXPECT_EQ(stats.reads, 1u);
  EXPECT_EQ(stats.flushes, 1u);
  EXPECT_EQ(stats.errors, 0u);
}

TEST_F(VirtioBlkTest, RequestsOutsideTheImageFail) {
  Bring();
  std::string buf(1024, 'x');
  EXPECT_EQ(Request(VIRTIO_BLK_T_IN, kImageSize / 512 - 1, buf.data(), buf.size()),
            VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(Request(VIRTIO_BLK_T_OUT, ~0ULL / 4, buf.data(), buf.size()), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(Request(12345, 0, buf.data(), buf.size()), VIRTIO_BLK_S_UNSUPP);
  EXPECT_EQ(blk_->stats().errors, 3u);
  EXPECT_EQ(ImageAt(kImageSize - 1024, 1024), std::string(1024, '\0'));
}

TEST_F(VirtioBlkTest, ReadOnlyImageRefusesWrites) {
  Bring(/*read_only=*/true);
  EXPECT_TRUE(driver_->DeviceFeatures() & (1ULL << VIRTIO_BLK_F_RO));
  std::string buf(512, 'w');
  EXPECT_EQ(Request(VIRTIO_BLK_T_OUT, 0, buf.data(), buf.size()), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(ImageAt(0, 512), std::string(512, '\0'));
}

TEST_F(VirtioBlkTest, GetIdReturnsTheSerial) {
  Bring();
  char id[VIRTIO_BLK_ID_BYTES] = {};
  ASSERT_EQ(Request(VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id)), VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::string(id, strnlen(id, sizeof(id))), "disk-serial");
}

TEST_F(VirtioBlkTest, ResetStopsTheWorkerAndAllowsASecondStart) {
  Bring();
  driver_->Write(VIRTIO_MMIO_STATUS, 0);  // joins the worker
  DriverQueue fresh(128);
  ASSERT_TRUE(driver_->Negotiate(1ULL << VIRTIO_F_VERSION_1));
  queue_ = std::move(fresh);
  driver_->SetUpQueue(0, queue_);
  driver_->DriverOk();
  std::string buf(512, 'r');
  EXPECT_EQ(Request(VIRTIO_BLK_T_OUT, 1, buf.data(), buf.size()), VIRTIO_BLK_S_OK);
  EXPECT_EQ(ImageAt(512, 512), buf);
}

TEST_F(VirtioBlkTest, SecondOpenOfALockedImageFails) {
  Bring();
  auto second = VirtioBlk::Open({path_, false, ""});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(std::string(second.status().message()).find(path_), std::string::npos)
      << second.status();
}

}  // namespace
}  // namespace lkd::virtio
