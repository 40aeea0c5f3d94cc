// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The client's half of LKD_ARG_MSGHDR and LKD_ARG_MSGHDR_IN
// (schema/lkd_syscalls.h): a caller's struct msghdr laid out in a
// channel's data area as struct lkd_channel_msghdr and its regions, and
// for recvmsg the kernel's answer copied back. The caller's iovecs become
// one data region (gathered for sendmsg, scattered back for recvmsg).
#ifndef LKD_CLIENT_MSGHDR_MARSHAL_H_
#define LKD_CLIENT_MSGHDR_MARSHAL_H_

#include <sys/socket.h>

#include <cstdint>

namespace lkd::client {

// Where one msghdr went in the data area.
struct MsghdrRegions {
  uint64_t header = 0;
  uint32_t name_room = 0, data_room = 0, control_room = 0;
  uint64_t name = 0, data = 0, control = 0;
};

// Lays out `msg` from *cursor on (8-byte aligned; *cursor moves past it).
// The data region is the iovecs' total, cut to what room is left (a
// receive may return less than asked). 0, or -EMSGSIZE (more than 1024
// iovecs, as the kernel says, or no room for the header and buffers).
int PutMsghdr(const msghdr& msg, uint8_t* data, uint32_t data_size, uint64_t* cursor,
              MsghdrRegions* out);

// sendmsg's side (LKD_ARG_MSGHDR_IN): lays out `msg` as PutMsghdr does
// and copies in what the kernel reads: the address (as much of it as the
// kernel reads: schema/lkd_syscalls.h), every byte of the iovecs (one
// region, never cut: a datagram goes whole or not at all) and the control
// messages. 0, or -EMSGSIZE (more than 1024 iovecs, or no room),
// -ENOBUFS (control messages over LKD_CHANNEL_CONTROL_MAX bytes, as the
// server would say).
int PutSendMsghdr(const msghdr& msg, uint8_t* data, uint32_t data_size, uint64_t* cursor,
                  MsghdrRegions* out);

// After a call that returned `result` >= 0: scatters the received bytes
// into msg's iovecs and copies back the address and control data; sets
// msg_namelen, msg_controllen and msg_flags as the kernel set them.
void TakeMsghdr(const MsghdrRegions& r, const uint8_t* data, long result, msghdr* msg);

}  // namespace lkd::client

#endif  // LKD_CLIENT_MSGHDR_MARSHAL_H_
