// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Where a virtio-net device's frames go on the host: the one small
// interface every NIC backend implements (TAP, AF_PACKET, wire). The
// "--net" specification that selects one is in nic_spec.h.
//
// A frame crosses the interface as one scatter list: an optional
// virtio_net_hdr of VnetHeaderSize() bytes (checksum and GSO offload
// metadata, as in the virtio spec), then the Ethernet frame.
#ifndef LKD_HOSTOPS_VIRTIO_NIC_BACKEND_H_
#define LKD_HOSTOPS_VIRTIO_NIC_BACKEND_H_

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hostops/virtio/nic_spec.h"

namespace lkd::virtio {

// Which offloads the kernel accepts on frames it receives (negotiated
// VIRTIO_NET_F_GUEST_* features).
struct ReceiveOffloads {
  bool csum = false;
  bool tso4 = false;
  bool tso6 = false;
  bool ecn = false;
};

class NicBackend {
 public:
  virtual ~NicBackend() = default;

  // "tap:lkd0", for messages.
  virtual std::string Describe() const = 0;
  // Bytes of virtio_net_hdr before each frame: 12 (virtio 1.0 header with
  // num_buffers), 10 (legacy header, AF_PACKET) or 0 (no offloads).
  virtual int VnetHeaderSize() const = 0;
  // Non-blocking descriptor: readable when a frame can be received,
  // writable when one can be sent.
  virtual int fd() const = 0;
  // Sends one frame. 0, -EAGAIN when the host side is full (poll fd() for
  // POLLOUT and retry), or another -errno (the frame is dropped).
  virtual int Send(const iovec* iov, int count) = 0;
  // Receives one frame: its length (header included), -EAGAIN when there
  // is none, or another -errno. A frame longer than the buffers is
  // truncated; the caller sizes buffers for the largest frame.
  virtual ssize_t Receive(const iovec* iov, int count) = 0;
  // The kernel's receive offloads, once negotiated (TAP: TUNSETOFFLOAD).
  virtual absl::Status SetReceiveOffloads(const ReceiveOffloads& /*offloads*/) {
    return absl::OkStatus();
  }
  // Whether the link is up on the host side; polled about once a second.
  virtual bool CarrierUp() = 0;
  // Called from the receive thread about once a second (e.g. the wire
  // retrying its peer).
  virtual void Tick() {}
};

// Opens the backend a spec names. Errors say what and why, e.g.
// "tap:lkd0: TUNSETIFF: Device or resource busy (the TAP is in use by
// another process)". Nothing is left behind on failure.
absl::StatusOr<std::unique_ptr<NicBackend>> OpenTapBackend(
    const std::string& name, bool vnet_hdr);
absl::StatusOr<std::unique_ptr<NicBackend>> OpenRawBackend(
    const std::string& ifname, bool vnet_hdr);
absl::StatusOr<std::unique_ptr<NicBackend>> OpenWireBackend(
    const std::string& path);
absl::StatusOr<std::unique_ptr<NicBackend>> OpenNicBackend(
    const NicSpec& spec);

}  // namespace lkd::virtio

#endif  // LKD_HOSTOPS_VIRTIO_NIC_BACKEND_H_
