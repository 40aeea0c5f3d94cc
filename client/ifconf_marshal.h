// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The client's half of LKD_ARG_IFCONF (schema/lkd_syscalls.h): a caller's
// struct ifconf (ioctl SIOCGIFCONF) laid out in a channel's data area as
// struct lkd_channel_ifconf and the buffer the kernel fills, and the
// kernel's answer copied back.
#ifndef LKD_CLIENT_IFCONF_MARSHAL_H_
#define LKD_CLIENT_IFCONF_MARSHAL_H_

#include <net/if.h>

#include <cstdint>

namespace lkd::client {

// Where one struct ifconf went in the data area.
struct IfconfRegions {
  uint64_t header = 0;
  uint64_t buf = 0;
  uint32_t buf_room = 0;  // 0 with a NULL buffer or a negative length
};

// Lays out `ifc` from *cursor on (8-byte aligned; *cursor moves past it):
// the header, and room for ifc_len bytes when ifc_buf is not NULL. 0, or
// -EMSGSIZE (no room for them).
int PutIfconf(const ifconf& ifc, uint32_t data_size, uint8_t* data, uint64_t* cursor,
              IfconfRegions* out);

// After a call that succeeded: copies the struct ifreqs the kernel wrote
// into ifc->ifc_buf and sets ifc->ifc_len as the kernel set it.
void TakeIfconf(const IfconfRegions& r, const uint8_t* data, ifconf* ifc);

}  // namespace lkd::client

#endif  // LKD_CLIENT_IFCONF_MARSHAL_H_
