// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "client/msghdr_marshal.h"

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <climits>

#include "schema/lkd_channel.h"
#include "schema/lkd_syscalls.h"

namespace lkd::client {
namespace {

// Reserves `size` bytes at *cursor (8-byte aligned) if they fit.
bool Reserve(uint64_t size, uint32_t data_size, uint64_t* cursor, uint64_t* at) {
  uint64_t start = (*cursor + 7) & ~uint64_t{7};
  if (start > data_size || size > data_size - start) return false;
  *at = start;
  *cursor = start + size;
  return true;
}

// What both directions start with: the iovecs' total (more than 1024
// iovecs is -EMSGSIZE, as the kernel says), an empty header and its place.
int StartMsghdr(const msghdr& msg, uint32_t data_size, uint64_t* cursor, MsghdrRegions* r,
                lkd_channel_msghdr* h, uint64_t* total) {
  if (msg.msg_iovlen > 1024) return -EMSGSIZE;  // UIO_MAXIOV
  *total = 0;
  for (size_t i = 0; i < msg.msg_iovlen; i++) *total += msg.msg_iov[i].iov_len;
  *h = {};
  h->name = h->control = LKD_CHANNEL_NULL;
  return Reserve(sizeof(*h), data_size, cursor, &r->header) ? 0 : -EMSGSIZE;
}

}  // namespace

int PutMsghdr(const msghdr& msg, uint8_t* data, uint32_t data_size, uint64_t* cursor,
              MsghdrRegions* out) {
  MsghdrRegions r;
  lkd_channel_msghdr h;
  uint64_t total;
  if (int rc = StartMsghdr(msg, data_size, cursor, &r, &h, &total); rc < 0) return rc;
  if (msg.msg_name != nullptr) {
    r.name_room = msg.msg_namelen;
    if (!Reserve(r.name_room, data_size, cursor, &r.name)) return -EMSGSIZE;
    h.name = r.name;
  }
  if (msg.msg_control != nullptr && msg.msg_controllen > 0) {
    if (msg.msg_controllen > data_size) return -EMSGSIZE;
    r.control_room = static_cast<uint32_t>(msg.msg_controllen);
    if (!Reserve(r.control_room, data_size, cursor, &r.control)) return -EMSGSIZE;
    h.control = r.control;
  }
  // The data last: it gets what room is left.
  uint64_t start = (*cursor + 7) & ~uint64_t{7};
  if (start > data_size) return -EMSGSIZE;
  r.data_room = static_cast<uint32_t>(std::min<uint64_t>(total, data_size - start));
  Reserve(r.data_room, data_size, cursor, &r.data);
  h.data = r.data;
  h.namelen = r.name_room;
  h.datalen = r.data_room;
  h.controllen = r.control_room;
  memcpy(data + r.header, &h, sizeof(h));
  *out = r;
  return 0;
}

int PutSendMsghdr(const msghdr& msg, uint8_t* data, uint32_t data_size, uint64_t* cursor,
                  MsghdrRegions* out) {
  if (msg.msg_controllen > LKD_CHANNEL_CONTROL_MAX) return -ENOBUFS;
  MsghdrRegions r;
  lkd_channel_msghdr h;
  uint64_t total;
  if (int rc = StartMsghdr(msg, data_size, cursor, &r, &h, &total); rc < 0) return rc;
  if (msg.msg_name != nullptr) {
    // What the kernel reads of it: nothing when the length is negative as
    // an int (it refuses it), at most a sockaddr_storage.
    r.name_room = msg.msg_namelen > INT_MAX
                      ? 0
                      : std::min<uint32_t>(msg.msg_namelen, LKD_CHANNEL_NAME_MAX);
    if (!Reserve(r.name_room, data_size, cursor, &r.name)) return -EMSGSIZE;
    memcpy(data + r.name, msg.msg_name, r.name_room);
    h.name = r.name;
  }
  if (msg.msg_controllen > 0) {
    r.control_room = static_cast<uint32_t>(msg.msg_controllen);
    // A NULL buffer with a length goes as NULL: lkd answers -EFAULT, as
    // Linux does.
    if (msg.msg_control != nullptr) {
      if (!Reserve(r.control_room, data_size, cursor, &r.control)) return -EMSGSIZE;
      memcpy(data + r.control, msg.msg_control, r.control_room);
      h.control = r.control;
    }
  }
  if (total > data_size || !Reserve(total, data_size, cursor, &r.data)) return -EMSGSIZE;
  r.data_room = static_cast<uint32_t>(total);
  uint8_t* to = data + r.data;
  for (size_t i = 0; i < msg.msg_iovlen; i++) {
    if (msg.msg_iov[i].iov_len == 0) continue;
    memcpy(to, msg.msg_iov[i].iov_base, msg.msg_iov[i].iov_len);
    to += msg.msg_iov[i].iov_len;
  }
  h.data = r.data;
  h.namelen = msg.msg_name != nullptr ? msg.msg_namelen : 0;
  h.datalen = r.data_room;
  h.controllen = r.control_room;
  memcpy(data + r.header, &h, sizeof(h));
  *out = r;
  return 0;
}

void TakeMsghdr(const MsghdrRegions& r, const uint8_t* data, long result, msghdr* msg) {
  lkd_channel_msghdr h;
  memcpy(&h, data + r.header, sizeof(h));
  // With MSG_TRUNC the result is the datagram's length, maybe more than
  // was received.
  uint64_t left = std::min<uint64_t>(static_cast<uint64_t>(result), r.data_room);
  const uint8_t* from = data + r.data;
  for (size_t i = 0; i < msg->msg_iovlen && left > 0; i++) {
    size_t k = std::min<uint64_t>(left, msg->msg_iov[i].iov_len);
    memcpy(msg->msg_iov[i].iov_base, from, k);
    from += k;
    left -= k;
  }
  if (msg->msg_name != nullptr) {
    memcpy(msg->msg_name, data + r.name, std::min(h.namelen, r.name_room));
    msg->msg_namelen = h.namelen;
  }
  uint32_t controllen = std::min(h.controllen, r.control_room);
  if (controllen > 0) memcpy(msg->msg_control, data + r.control, controllen);
  msg->msg_controllen = controllen;
  msg->msg_flags = static_cast<int>(h.flags);
}

}  // namespace lkd::client
