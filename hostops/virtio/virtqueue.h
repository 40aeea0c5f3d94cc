// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The device side of a virtio split virtqueue (virtio 1.1, section 2.6).
//
// The library kernel has no MMU and its memory is host heap, so the
// "physical" addresses the driver writes into descriptors are host pointers
// the device dereferences directly. The driver (the kernel's virtio_ring.c)
// runs on whichever host thread holds the kernel's CPU; the device runs on
// backend threads. They share only the three ring areas, so every access to
// a field the other side writes is an atomic with the ordering the spec
// requires:
//   - avail->idx is loaded with acquire before the entries it covers;
//   - used->idx is stored with release after the used elements;
//   - deciding whether to interrupt (or whether to sleep) reads the other
//     side's event index only after a full fence that follows our own
//     index store. Skipping that fence is how a ring that empties and
//     refills loses its interrupt or its notification.
//
// SplitQueue is not thread-safe: its owner serialises all calls (one mutex
// per queue).
#ifndef LKD_HOSTOPS_VIRTIO_VIRTQUEUE_H_
#define LKD_HOSTOPS_VIRTIO_VIRTQUEUE_H_

// Without the legacy vring_init(), whose implicit void* casts are not C++.
#define VIRTIO_RING_NO_LEGACY
#include <linux/virtio_ring.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lkd::virtio {

// One available descriptor chain, split into the buffers the device reads
// (driver -> device) and those it writes (device -> driver).
struct Chain {
  uint16_t head = 0;
  std::vector<iovec> readable;
  std::vector<iovec> writable;
  size_t readable_bytes = 0;
  size_t writable_bytes = 0;

  void Clear() {
    readable.clear();
    writable.clear();
    readable_bytes = writable_bytes = 0;
  }
};

// Where the driver placed the ring, from the transport's queue registers.
struct QueueLayout {
  uint16_t size = 0;  // a power of two, <= 32768
  uint64_t desc = 0;
  uint64_t avail = 0;
  uint64_t used = 0;
};

class SplitQueue {
 public:
  enum class PopResult { kChain, kEmpty, kMalformed };

  // Starts using the ring (QueueReady = 1). `event_idx` is whether
  // VIRTIO_RING_F_EVENT_IDX was negotiated.
  void Activate(const QueueLayout& layout, bool event_idx);
  void Deactivate();
  bool active() const { return size_ != 0; }
  uint16_t size() const { return size_; }

  // Takes the next available chain. kMalformed: a descriptor index out of
  // range, a loop, a nested or empty indirect table, or a readable buffer
  // after a writable one; the queue must then be treated as broken.
  PopResult Pop(Chain* chain);
  // Returns the last `count` popped chains unused: they are popped again
  // next time (e.g. receive buffers gathered for a frame that never came).
  void Unpop(uint16_t count) { last_avail_ -= count; }
  // Whether the driver has made chains available that are not popped yet.
  bool HasAvailable() const;

  // Hands a chain back to the driver; `written` is how many bytes the device
  // wrote into its writable buffers. The driver sees pushed chains only
  // after Publish(): a frame spread over several receive buffers must
  // appear all at once.
  void Push(uint16_t head, uint32_t written);
  void Publish();

  // Call after a batch of Push(): whether the driver asked to be
  // interrupted for it (EVENT_IDX used_event, or the NO_INTERRUPT flag).
  bool ShouldInterrupt();

  // Notification suppression while the device is busy with the queue.
  void DisableNotify();
  // Asks the driver to notify on the next chain it adds, then checks again:
  // true when chains arrived meanwhile (the caller must keep going instead
  // of sleeping: the driver may already have decided not to notify).
  bool EnableNotifyAndRecheck();

 private:
  uint16_t AvailIdx() const;

  uint16_t size_ = 0;
  bool event_idx_ = false;
  vring_desc* desc_ = nullptr;
  vring_avail* avail_ = nullptr;
  vring_used* used_ = nullptr;
  uint16_t last_avail_ = 0;          // next avail entry to pop
  uint16_t used_idx_ = 0;            // next used entry to fill
  uint16_t signalled_used_ = 0;      // used_idx_ at the last interrupt decision
  bool signalled_used_valid_ = false;
};

// Copies between a flat buffer and a list of iovecs, starting `offset`
// bytes into the list. They return how many bytes were copied.
size_t CopyFromIov(const std::vector<iovec>& iov, size_t offset, void* out,
                   size_t len);
size_t CopyToIov(const std::vector<iovec>& iov, size_t offset, const void* in,
                 size_t len);
// Appends to `out` the part [offset, offset + len) of `iov`.
void SliceIov(const std::vector<iovec>& iov, size_t offset, size_t len,
              std::vector<iovec>* out);

}  // namespace lkd::virtio

#endif  // LKD_HOSTOPS_VIRTIO_VIRTQUEUE_H_
