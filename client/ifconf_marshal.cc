// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "client/ifconf_marshal.h"

#include <cerrno>
#include <climits>
#include <cstring>

#include <algorithm>

#include "schema/lkd_channel.h"
#include "schema/lkd_syscalls.h"

namespace lkd::client {

int PutIfconf(const ifconf& ifc, uint32_t data_size, uint8_t* data, uint64_t* cursor,
              IfconfRegions* out) {
  IfconfRegions r;
  lkd_channel_ifconf h = {};
  h.buf = LKD_CHANNEL_NULL;
  h.len = static_cast<uint32_t>(ifc.ifc_len);
  r.header = (*cursor + 7) & ~uint64_t{7};
  if (r.header > data_size || sizeof(h) > data_size - r.header) return -EMSGSIZE;
  uint64_t end = r.header + sizeof(h);
  if (ifc.ifc_buf != nullptr) {
    // The kernel fills nothing of a negative length.
    r.buf_room = ifc.ifc_len > 0 ? static_cast<uint32_t>(ifc.ifc_len) : 0;
    r.buf = (end + 7) & ~uint64_t{7};
    if (r.buf > data_size || r.buf_room > data_size - r.buf) return -EMSGSIZE;
    h.buf = r.buf;
    end = r.buf + r.buf_room;
  }
  memcpy(data + r.header, &h, sizeof(h));
  *cursor = end;
  *out = r;
  return 0;
}

void TakeIfconf(const IfconfRegions& r, const uint8_t* data, ifconf* ifc) {
  lkd_channel_ifconf h;
  memcpy(&h, data + r.header, sizeof(h));
  if (ifc->ifc_buf != nullptr)
    memcpy(ifc->ifc_buf, data + r.buf, std::min(h.len, r.buf_room));
  ifc->ifc_len = static_cast<int>(h.len);
}

}  // namespace lkd::client
