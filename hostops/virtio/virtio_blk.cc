// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hostops/virtio/virtio_blk.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace lkd::virtio {
namespace {

constexpr uint64_t kSector = 512;
constexpr uint32_t kSegMax = 254;
constexpr uint32_t kMaxDiscardSectors = 1u << 22;  // 2 GiB per request

constexpr uint64_t Bit(int feature) { return 1ULL << feature; }

// preadv/pwritev of all of `data` (len bytes) at `offset`, resuming after
// short transfers. False on an I/O error or an unexpected end of file.
bool TransferAll(int fd, bool write, const std::vector<iovec>& data, size_t len,
                 uint64_t offset) {
  size_t done = 0;
  while (done < len) {
    std::vector<iovec> rest;
    SliceIov(data, done, len - done, &rest);
    int count = static_cast<int>(rest.size());
    off_t at = static_cast<off_t>(offset + done);
    ssize_t n = write ? pwritev(fd, rest.data(), count, at)
                      : preadv(fd, rest.data(), count, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

}  // namespace

absl::StatusOr<DiskSpec> ParseDiskSpec(absl::string_view text) {
  DiskSpec spec;
  std::vector<absl::string_view> fields = absl::StrSplit(text, ',');
  spec.path = std::string(fields[0]);
  if (spec.path.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("bad disk '", text, "': missing image path"));
  for (size_t i = 1; i < fields.size(); i++) {
    if (fields[i] == "ro") {
      spec.read_only = true;
    } else if (fields[i] == "rw") {
      spec.read_only = false;
    } else if (absl::StartsWith(fields[i], "serial=")) {
      spec.serial = std::string(fields[i].substr(7));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad disk '", text, "': unknown option '", fields[i],
          "' (known: ro, rw, serial=ID)"));
    }
  }
  if (spec.serial.empty()) {
    size_t slash = spec.path.rfind('/');
    spec.serial = spec.path.substr(slash == std::string::npos ? 0 : slash + 1);
  }
  if (spec.serial.size() > VIRTIO_BLK_ID_BYTES)
    spec.serial.resize(VIRTIO_BLK_ID_BYTES);
  return spec;
}

absl::StatusOr<std::unique_ptr<VirtioBlk>> VirtioBlk::Open(
    const DiskSpec& spec) {
  std::string what = "disk " + spec.path;
  int fd = open(spec.path.c_str(),
                (spec.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string message = absl::StrCat(what, ": ", strerror(err));
    if ((err == EACCES || err == EROFS) && !spec.read_only)
      absl::StrAppend(&message, " (add ',ro' to use it read-only)");
    if (err == ENOENT) return absl::NotFoundError(message);
    return absl::FailedPreconditionError(message);
  }
  auto fail = [&](std::string why) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(what, ": ", why));
  };
  struct stat st;
  if (fstat(fd, &st) < 0) return fail(strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file (raw image)");
  if (st.st_size == 0) return fail("the image is empty");
  if (st.st_size % kSector != 0)
    return fail(absl::StrCat("size ", st.st_size,
                             " is not a multiple of 512 bytes"));
  // Shared for read-only users, exclusive for a writer: two kernels
  // writing one image would destroy it.
  if (flock(fd, (spec.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
    return fail(errno == EWOULDBLOCK ? "in use by another process"
                                     : absl::StrCat("flock: ", strerror(errno)));
  return std::unique_ptr<VirtioBlk>(
      new VirtioBlk(spec, fd, static_cast<uint64_t>(st.st_size)));
}

VirtioBlk::VirtioBlk(DiskSpec spec, int fd, uint64_t size)
    : spec_(std::move(spec)),
      fd_(fd),
      size_(size),
      transport_(this, "virtio-blk " + spec_.path) {}

VirtioBlk::~VirtioBlk() {
  Stop();
  close(fd_);
}

absl::StatusOr<int> VirtioBlk::Register(const KernelHooks& hooks) {
  if (!stop_.ok() || !kick_.ok())
    return absl::ResourceExhaustedError(
        absl::StrCat(transport_.name(), ": no eventfd: ", strerror(errno)));
  return transport_.Register(hooks);
}

uint32_t VirtioBlk::DeviceId() const { return VIRTIO_ID_BLOCK; }

uint64_t VirtioBlk::DeviceFeatures() const {
  uint64_t features = Bit(VIRTIO_BLK_F_SEG_MAX) | Bit(VIRTIO_BLK_F_FLUSH);
  if (spec_.read_only)
    features |= Bit(VIRTIO_BLK_F_RO);
  else
    features |= Bit(VIRTIO_BLK_F_DISCARD);
  return features;
}

void VirtioBlk::ReadConfig(uint32_t offset, void* out, uint32_t len) {
  virtio_blk_config config{};
  config.capacity = size_ / kSector;
  config.seg_max = kSegMax;
  config.num_queues = 1;
  config.max_discard_sectors = kMaxDiscardSectors;
  config.max_discard_seg = 1;
  config.discard_sector_alignment = 4096 / kSector;
  memset(out, 0, len);
  if (offset < sizeof(config))
    memcpy(out, reinterpret_cast<const uint8_t*>(&config) + offset,
           std::min<size_t>(len, sizeof(config) - offset));
}

void VirtioBlk::Start(uint64_t) {
  stop_.Drain();
  running_ = true;
  worker_ = StartDeviceThread("lkd-blk", [this] { Worker(); });
}

void VirtioBlk::Stop() {
  if (!running_) return;
  stop_.Ring();
  worker_.join();
  running_ = false;
  kick_.Drain();
}

DiskStats VirtioBlk::stats() const {
  DiskStats s;
  s.reads = reads_.load();
  s.read_bytes = read_bytes_.load();
  s.writes = writes_.load();
  s.write_bytes = write_bytes_.load();
  s.flushes = flushes_.load();
  s.discards = discards_.load();
  s.errors = errors_.load();
  return s;
}

// File I/O never runs on the kernel's thread: the worker does it.
void VirtioBlk::QueueNotify(int) { kick_.Ring(); }

void VirtioBlk::Worker() {
  for (;;) {
    pollfd fds[2] = {{stop_.fd(), POLLIN, 0}, {kick_.fd(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) {
      perror("lkd: virtio-blk poll");
      return;
    }
    if (fds[0].revents) return;
    kick_.Drain();
    ServeQueue();
  }
}

void VirtioBlk::ServeQueue() {
  VirtioMmioTransport::Queue& q = transport_.queue(0);
  std::lock_guard lock(q.mu);
  SplitQueue& ring = q.ring;
  Chain chain;
  ring.DisableNotify();
  for (;;) {
    SplitQueue::PopResult popped;
    uint32_t served = 0;
    while ((popped = ring.Pop(&chain)) == SplitQueue::PopResult::kChain) {
      uint32_t written = 0;
      uint8_t status = Serve(chain, &written);
      if (status != VIRTIO_BLK_S_OK)
        errors_.fetch_add(1, std::memory_order_relaxed);
      if (chain.writable_bytes > 0) {
        CopyToIov(chain.writable, chain.writable_bytes - 1, &status, 1);
        written++;
      }
      ring.Push(chain.head, written);
      // Complete as we go: the kernel can start on finished requests
      // while slow ones are still being served.
      if (++served % 8 == 0) {
        ring.Publish();
        if (ring.ShouldInterrupt()) transport_.InterruptUsed();
      }
    }
    ring.Publish();
    if (ring.ShouldInterrupt()) transport_.InterruptUsed();
    if (popped == SplitQueue::PopResult::kMalformed) {
      transport_.MarkBroken("malformed request descriptor chain");
      return;
    }
    if (!ring.EnableNotifyAndRecheck()) return;
    ring.DisableNotify();
  }
}

bool VirtioBlk::InImage(uint64_t sector, uint64_t len) const {
  // Division first: sector * 512 could wrap for a hostile sector.
  return sector <= size_ / kSector && len <= size_ - sector * kSector;
}

uint8_t VirtioBlk::Serve(const Chain& chain, uint32_t* written) {
  virtio_blk_outhdr header;
  if (chain.readable_bytes < sizeof(header) || chain.writable_bytes < 1)
    return VIRTIO_BLK_S_IOERR;
  CopyFromIov(chain.readable, 0, &header, sizeof(header));
  // Data buffers: after the header (out) or before the status byte (in).
  std::vector<iovec> data;
  switch (header.type) {
    case VIRTIO_BLK_T_IN: {
      size_t len = chain.writable_bytes - 1;
      SliceIov(chain.writable, 0, len, &data);
      uint64_t offset = header.sector * kSector;
      if (!InImage(header.sector, len)) return VIRTIO_BLK_S_IOERR;
      if (!TransferAll(fd_, false, data, len, offset)) return VIRTIO_BLK_S_IOERR;
      *written = static_cast<uint32_t>(len);
      reads_.fetch_add(1, std::memory_order_relaxed);
      read_bytes_.fetch_add(len, std::memory_order_relaxed);
      return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_OUT: {
      if (spec_.read_only) return VIRTIO_BLK_S_IOERR;
      size_t len = chain.readable_bytes - sizeof(header);
      SliceIov(chain.readable, sizeof(header), len, &data);
      uint64_t offset = header.sector * kSector;
      if (!InImage(header.sector, len)) return VIRTIO_BLK_S_IOERR;
      if (!TransferAll(fd_, true, data, len, offset)) return VIRTIO_BLK_S_IOERR;
      writes_.fetch_add(1, std::memory_order_relaxed);
      write_bytes_.fetch_add(len, std::memory_order_relaxed);
      return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_FLUSH:
      flushes_.fetch_add(1, std::memory_order_relaxed);
      if (spec_.read_only) return VIRTIO_BLK_S_OK;
      return fdatasync(fd_) == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
    case VIRTIO_BLK_T_GET_ID: {
      char id[VIRTIO_BLK_ID_BYTES] = {};
      memcpy(id, spec_.serial.data(),
             std::min<size_t>(spec_.serial.size(), sizeof(id)));
      size_t len = std::min<size_t>(chain.writable_bytes - 1, sizeof(id));
      CopyToIov(chain.writable, 0, id, len);
      *written = static_cast<uint32_t>(len);
      return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_DISCARD: {
      if (spec_.read_only) return VIRTIO_BLK_S_IOERR;
      virtio_blk_discard_write_zeroes range;
      size_t count = (chain.readable_bytes - sizeof(header)) / sizeof(range);
      for (size_t i = 0; i < count; i++) {
        CopyFromIov(chain.readable, sizeof(header) + i * sizeof(range), &range,
                    sizeof(range));
        uint64_t offset = range.sector * kSector;
        uint64_t len = static_cast<uint64_t>(range.num_sectors) * kSector;
        if (!InImage(range.sector, len)) return VIRTIO_BLK_S_IOERR;
        // A hint: a file system that cannot punch holes keeps the data.
        if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      static_cast<off_t>(offset), static_cast<off_t>(len)) <
                0 &&
            errno != EOPNOTSUPP)
          return VIRTIO_BLK_S_IOERR;
      }
      discards_.fetch_add(1, std::memory_order_relaxed);
      return VIRTIO_BLK_S_OK;
    }
    default:
      return VIRTIO_BLK_S_UNSUPP;
  }
}

}  // namespace lkd::virtio
