// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// SIOCGIFCONF's struct ifconf through a data area: laid out as the server
// reads it (schema/lkd_syscalls.h), and the kernel's answer back into the
// caller's buffer and length.
#include "client/ifconf_marshal.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "schema/lkd_channel.h"
#include "schema/lkd_syscalls.h"

namespace lkd::client {
namespace {

TEST(IfconfMarshalTest, LaysOutTheHeaderAndBufferAndTakesTheAnswer) {
  std::vector<uint8_t> data(4096, 0xee);
  ifreq reqs[3];
  memset(reqs, 0x77, sizeof(reqs));
  ifconf ifc = {};
  ifc.ifc_len = sizeof(reqs);
  ifc.ifc_req = reqs;
  uint64_t cursor = 5;
  IfconfRegions r;
  ASSERT_EQ(PutIfconf(ifc, 4096, data.data(), &cursor, &r), 0);
  EXPECT_EQ(r.header % 8, 0u);
  EXPECT_GE(r.header, 5u);
  lkd_channel_ifconf h;
  memcpy(&h, data.data() + r.header, sizeof(h));
  EXPECT_EQ(h.buf, r.buf);
  EXPECT_EQ(h.len, sizeof(reqs));
  EXPECT_GE(r.buf, r.header + sizeof(h));
  EXPECT_EQ(r.buf_room, sizeof(reqs));
  EXPECT_EQ(cursor, r.buf + sizeof(reqs));

  // The kernel wrote two of the three.
  ifreq lo = {};
  strcpy(lo.ifr_name, "lo");
  memcpy(data.data() + r.buf, &lo, sizeof(lo));
  memcpy(data.data() + r.buf + sizeof(lo), &lo, sizeof(lo));
  h.len = 2 * sizeof(ifreq);
  memcpy(data.data() + r.header, &h, sizeof(h));
  TakeIfconf(r, data.data(), &ifc);
  EXPECT_EQ(ifc.ifc_len, static_cast<int>(2 * sizeof(ifreq)));
  EXPECT_STREQ(reqs[1].ifr_name, "lo");
  EXPECT_EQ(reinterpret_cast<uint8_t*>(&reqs[2])[0], 0x77) << "not written";
}

TEST(IfconfMarshalTest, NullBufferAsksTheLengthAndTooLargeIsRefused) {
  std::vector<uint8_t> data(256);
  ifconf ifc = {};
  ifc.ifc_len = 12345;  // ignored with a NULL buffer
  uint64_t cursor = 0;
  IfconfRegions r;
  ASSERT_EQ(PutIfconf(ifc, 256, data.data(), &cursor, &r), 0);
  lkd_channel_ifconf h;
  memcpy(&h, data.data() + r.header, sizeof(h));
  EXPECT_EQ(h.buf, LKD_CHANNEL_NULL);
  EXPECT_EQ(cursor, sizeof(h));
  h.len = 80;
  memcpy(data.data() + r.header, &h, sizeof(h));
  TakeIfconf(r, data.data(), &ifc);
  EXPECT_EQ(ifc.ifc_len, 80);

  std::vector<char> big(1024);
  ifc.ifc_buf = big.data();
  ifc.ifc_len = static_cast<int>(big.size());
  cursor = 0;
  EXPECT_EQ(PutIfconf(ifc, 256, data.data(), &cursor, &r), -EMSGSIZE);
  ifc.ifc_len = -1;  // the kernel fills nothing
  cursor = 0;
  ASSERT_EQ(PutIfconf(ifc, 256, data.data(), &cursor, &r), 0);
  EXPECT_EQ(r.buf_room, 0u);
}

}  // namespace
}  // namespace lkd::client
