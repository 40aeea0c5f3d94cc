// SPDX-License-Identifier: GPL-2.0
// The server's side of the channel's trust boundary: turns a request (a
// private copy, taken from shared memory once) into kernel arguments, after
// checking every field against the allow-table (schema/lkd_syscalls.h) and
// the data area. A client can only ever hurt itself: every pointer handed
// to the kernel lies inside its own data area and is large enough for what
// the kernel may touch there.
#ifndef LKD_SERVER_CHANNEL_REQUEST_DECODER_H_
#define LKD_SERVER_CHANNEL_REQUEST_DECODER_H_

#include <net/if.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>

#include "schema/lkd_channel.h"
#include "schema/lkd_syscalls.h"

namespace lkd::server {

// The longest path a call may pass, with its NUL (the kernel's PATH_MAX).
inline constexpr uint32_t kChannelPathMax = LKD_CHANNEL_PATH_MAX;

// A validated call, ready for lkd_syscall().
// Storage for a call's path copies: 8 KiB of scratch that DecodeRequest
// writes (with the NUL) before the kernel reads it. Neither cleared nor
// copied when a DecodedCall is reset with `*call = DecodedCall{}`, which
// would otherwise zero and copy 16 KiB per call on the fast path.
struct PathCopies {
  PathCopies() {}  // user-provided: value-initialization leaves the bytes
  PathCopies(const PathCopies&) {}
  PathCopies& operator=(const PathCopies&) { return *this; }
  char* operator[](size_t i) { return slot[i]; }
  const char* operator[](size_t i) const { return slot[i]; }
  const char (*begin() const)[kChannelPathMax] { return slot; }
  const char (*end() const)[kChannelPathMax] { return slot + 2; }
  char slot[2][kChannelPathMax];
};

struct DecodedCall {
  long nr = 0;
  long args[6] = {};
  // Lengths the kernel reads and writes through a pointer (socklen_t *)
  // live here, not in shared memory, so the client cannot change them
  // between the check and the kernel's use. FinishCall() copies them back.
  // args[] point at these, so a DecodedCall must stay where it is until
  // the kernel returns.
  uint32_t private_len[6] = {};
  int8_t private_len_arg[6] = {-1, -1, -1, -1, -1, -1};
  uint32_t private_len_offset[6] = {};  // where each came from
  // Paths, copied with their NUL: the kernel reads a path up to its NUL,
  // which a client could remove from shared memory after the check.
  // (Two at most: renameat.)
  PathCopies private_path;
  // recvmsg's struct msghdr (LKD_ARG_MSGHDR): built from a private copy of
  // the client's header, pointing at regions checked to lie in the data
  // area (the host's struct msghdr and iovec have the kernel's layout).
  // FinishCall() writes namelen, controllen and flags back to the header
  // at `msghdr_offset`.
  msghdr private_msg = {};
  iovec private_iov = {};
  int8_t msghdr_arg = -1;
  uint32_t msghdr_offset = 0;
  // sendmsg's msghdr (LKD_ARG_MSGHDR_IN) is private_msg too, with nothing
  // written back (msghdr_arg stays -1). Its control messages are copied
  // here (msg_control points at it), so that what was checked (no
  // SCM_RIGHTS) is what the kernel reads. On the heap, and only for a call
  // that has them: every call's DecodedCall is reset, which must stay
  // cheap.
  std::unique_ptr<uint8_t[]> private_control;
  // ioctl SIOCGIFCONF's struct ifconf (LKD_ARG_IFCONF): built from a
  // private copy of the client's header, its buffer checked to lie in the
  // data area. FinishCall() writes ifc_len back to the header at
  // `ifconf_offset`.
  ifconf private_ifconf = {};
  int8_t ifconf_arg = -1;
  uint32_t ifconf_offset = 0;
};

// 0 or -errno: -ESTALE (generation), -ENOSYS (not served), -EFAULT (a
// region outside the data area, a NULL that is not allowed, a path without
// its NUL), -ENAMETOOLONG (a path of kChannelPathMax bytes or more),
// -EINVAL (a region smaller than the kernel may touch, a socket address
// length over its maximum), -EPERM (an fcntl command or ioctl request not
// in the table), and for sendmsg -ENOBUFS (control
// messages over LKD_CHANNEL_CONTROL_MAX bytes) and -EOPNOTSUPP (an
// SCM_RIGHTS message).
int DecodeRequest(const lkd_channel_request& request, uint32_t generation,
                  uint8_t* data, uint32_t data_size, DecodedCall* call);

// A validated batch (LKD_NR_BATCH, lkd_channel.h), ready for
// lkd_task_submit_batch(): each call's number and kernel arguments, and
// where in the data area the kernel writes their results.
struct DecodedBatch {
  struct Call {
    long nr;
    long args[6];
  };
  Call calls[LKD_CHANNEL_BATCH_MAX];
  unsigned count = 0;
  long* results = nullptr;
};

// 0 or -errno: -ESTALE (generation), -EINVAL (a count outside
// 1..LKD_CHANNEL_BATCH_MAX, regions smaller than the count needs, results
// not 8-aligned, an entry that is itself a batch or passes anything but
// plain buffers), -EFAULT (regions outside the data area), or what
// DecodeRequest() answers for an entry. `scratch` is used to decode each
// entry and left reset (nothing for FinishCall to copy back).
int DecodeBatch(const lkd_channel_request& request, uint32_t generation, uint8_t* data,
                uint32_t data_size, DecodedCall* scratch, DecodedBatch* batch);

// After the kernel ran the call: copies private lengths, the msghdr fields
// the kernel updates and SIOCGIFCONF's length back into the data area (the
// client reads them there).
void FinishCall(const DecodedCall& call, uint8_t* data);

}  // namespace lkd::server

#endif  // LKD_SERVER_CHANNEL_REQUEST_DECODER_H_
