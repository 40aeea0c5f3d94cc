// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hostops/virtio/virtqueue.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace lkd::virtio {
namespace {

template <typename T>
T* FromAddr(uint64_t addr) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(addr));
}

// The event index fields live right after each ring (virtio 1.1, 2.6.7).
uint16_t* UsedEventField(vring_avail* avail, uint16_t size) {
  return &avail->ring[size];
}
uint16_t* AvailEventField(vring_used* used, uint16_t size) {
  return reinterpret_cast<uint16_t*>(&used->ring[size]);
}

}  // namespace

void SplitQueue::Activate(const QueueLayout& layout, bool event_idx) {
  size_ = layout.size;
  event_idx_ = event_idx;
  desc_ = FromAddr<vring_desc>(layout.desc);
  avail_ = FromAddr<vring_avail>(layout.avail);
  used_ = FromAddr<vring_used>(layout.used);
  last_avail_ = 0;
  used_idx_ = 0;
  signalled_used_ = 0;
  signalled_used_valid_ = false;
}

void SplitQueue::Deactivate() {
  size_ = 0;
  desc_ = nullptr;
  avail_ = nullptr;
  used_ = nullptr;
}

uint16_t SplitQueue::AvailIdx() const {
  return std::atomic_ref<uint16_t>(avail_->idx).load(std::memory_order_acquire);
}

bool SplitQueue::HasAvailable() const {
  return active() && AvailIdx() != last_avail_;
}

SplitQueue::PopResult SplitQueue::Pop(Chain* chain) {
  chain->Clear();
  if (!active()) return PopResult::kEmpty;
  uint16_t avail_idx = AvailIdx();
  if (avail_idx == last_avail_) return PopResult::kEmpty;
  if (static_cast<uint16_t>(avail_idx - last_avail_) > size_)
    return PopResult::kMalformed;

  uint16_t head = std::atomic_ref<uint16_t>(avail_->ring[last_avail_ % size_])
                      .load(std::memory_order_relaxed);
  if (head >= size_) return PopResult::kMalformed;

  const vring_desc* table = desc_;
  uint32_t table_size = size_;
  bool in_indirect = false;
  uint32_t index = head;
  uint32_t seen = 0;
  for (;;) {
    if (index >= table_size || ++seen > table_size) return PopResult::kMalformed;
    const vring_desc& d = table[index];
    if (d.flags & VRING_DESC_F_INDIRECT) {
      // Only a direct descriptor may point to an indirect table, and it
      // must be the whole chain.
      if (in_indirect || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 ||
          d.len % sizeof(vring_desc) != 0)
        return PopResult::kMalformed;
      table = FromAddr<const vring_desc>(d.addr);
      table_size = d.len / sizeof(vring_desc);
      in_indirect = true;
      index = 0;
      seen = 0;
      continue;
    }
    iovec iov{FromAddr<void>(d.addr), d.len};
    if (d.flags & VRING_DESC_F_WRITE) {
      chain->writable.push_back(iov);
      chain->writable_bytes += d.len;
    } else {
      if (!chain->writable.empty()) return PopResult::kMalformed;
      chain->readable.push_back(iov);
      chain->readable_bytes += d.len;
    }
    if (!(d.flags & VRING_DESC_F_NEXT)) break;
    index = d.next;
  }
  chain->head = head;
  last_avail_++;
  return PopResult::kChain;
}

void SplitQueue::Push(uint16_t head, uint32_t written) {
  vring_used_elem& elem = used_->ring[used_idx_ % size_];
  elem.id = head;
  elem.len = written;
  used_idx_++;
}

void SplitQueue::Publish() {
  if (!active()) return;
  std::atomic_ref<uint16_t>(used_->idx).store(used_idx_,
                                              std::memory_order_release);
}

bool SplitQueue::ShouldInterrupt() {
  if (!active()) return false;
  // Our used->idx store must be visible before we read the driver's
  // used_event / flags: the driver writes those and then re-reads used->idx
  // (virtqueue_enable_cb_delayed), so one of us sees the other.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!event_idx_) {
    uint16_t flags =
        std::atomic_ref<uint16_t>(avail_->flags).load(std::memory_order_relaxed);
    return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
  }
  uint16_t old_used = signalled_used_;
  bool valid = signalled_used_valid_;
  signalled_used_ = used_idx_;
  signalled_used_valid_ = true;
  if (!valid) return true;
  uint16_t used_event =
      std::atomic_ref<uint16_t>(*UsedEventField(avail_, size_))
          .load(std::memory_order_relaxed);
  return vring_need_event(used_event, used_idx_, old_used);
}

void SplitQueue::DisableNotify() {
  if (!active() || event_idx_) return;  // with EVENT_IDX: just don't advance
  std::atomic_ref<uint16_t> flags(used_->flags);
  flags.store(flags.load(std::memory_order_relaxed) | VRING_USED_F_NO_NOTIFY,
              std::memory_order_relaxed);
}

bool SplitQueue::EnableNotifyAndRecheck() {
  if (!active()) return false;
  if (event_idx_) {
    std::atomic_ref<uint16_t>(*AvailEventField(used_, size_))
        .store(last_avail_, std::memory_order_relaxed);
  } else {
    std::atomic_ref<uint16_t> flags(used_->flags);
    flags.store(flags.load(std::memory_order_relaxed) & ~VRING_USED_F_NO_NOTIFY,
                std::memory_order_relaxed);
  }
  // Publish the request before re-reading avail->idx; the driver publishes
  // avail->idx before reading avail_event (virtqueue_kick_prepare).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return AvailIdx() != last_avail_;
}

namespace {

// Calls copy(iov_part, buffer_offset, n) for each piece of [offset,
// offset + len) of the iovec list; returns the bytes covered.
template <typename Copy>
size_t ForEachPiece(const std::vector<iovec>& iov, size_t offset, size_t len,
                    Copy copy) {
  size_t done = 0;
  for (const iovec& v : iov) {
    if (done == len) break;
    if (offset >= v.iov_len) {
      offset -= v.iov_len;
      continue;
    }
    size_t n = std::min(v.iov_len - offset, len - done);
    copy(static_cast<uint8_t*>(v.iov_base) + offset, done, n);
    done += n;
    offset = 0;
  }
  return done;
}

}  // namespace

size_t CopyFromIov(const std::vector<iovec>& iov, size_t offset, void* out,
                   size_t len) {
  auto* dst = static_cast<uint8_t*>(out);
  return ForEachPiece(iov, offset, len, [&](uint8_t* piece, size_t at, size_t n) {
    memcpy(dst + at, piece, n);
  });
}

size_t CopyToIov(const std::vector<iovec>& iov, size_t offset, const void* in,
                 size_t len) {
  const auto* src = static_cast<const uint8_t*>(in);
  return ForEachPiece(iov, offset, len, [&](uint8_t* piece, size_t at, size_t n) {
    memcpy(piece, src + at, n);
  });
}

void SliceIov(const std::vector<iovec>& iov, size_t offset, size_t len,
              std::vector<iovec>* out) {
  ForEachPiece(iov, offset, len, [&](uint8_t* piece, size_t, size_t n) {
    out->push_back({piece, n});
  });
}

}  // namespace lkd::virtio
