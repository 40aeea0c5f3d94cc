// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// recvmsg's and sendmsg's msghdr through a data area: laid out as the
// server reads it (schema/lkd_syscalls.h), and for recvmsg the kernel's
// answer back into the caller's iovecs, address and control buffer.
#include "client/msghdr_marshal.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "schema/lkd_channel.h"
#include "schema/lkd_syscalls.h"

namespace lkd::client {
namespace {

TEST(MsghdrMarshalTest, LaysOutTheHeaderAndItsRegions) {
  std::vector<uint8_t> data(4096, 0xee);
  char a[3], b[5];
  iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
  sockaddr_storage name;
  char control[40];
  msghdr m = {};
  m.msg_name = &name;
  m.msg_namelen = 20;
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  uint64_t cursor = 3;
  MsghdrRegions r;
  ASSERT_EQ(PutMsghdr(m, data.data(), 4096, &cursor, &r), 0);
  EXPECT_EQ(r.header % 8, 0u);
  EXPECT_GE(r.header, 3u);
  lkd_channel_msghdr h;
  memcpy(&h, data.data() + r.header, sizeof(h));
  EXPECT_EQ(h.name, r.name);
  EXPECT_EQ(h.namelen, 20u);
  EXPECT_EQ(h.data, r.data);
  EXPECT_EQ(h.datalen, 8u) << "both iovecs";
  EXPECT_EQ(h.control, r.control);
  EXPECT_EQ(h.controllen, 40u);
  // No region overlaps another, all inside, the cursor after them.
  EXPECT_GE(r.name, r.header + sizeof(h));
  EXPECT_GE(r.control, r.name + 20);
  EXPECT_GE(r.data, r.control + 40);
  EXPECT_EQ(cursor, r.data + 8);

  // The kernel's answer: a 10-byte datagram cut to 8, a 16-byte address,
  // 24 bytes of control messages, MSG_TRUNC.
  memcpy(data.data() + r.data, "abcdefgh", 8);
  memset(data.data() + r.name, 0x11, 16);
  memset(data.data() + r.control, 0x22, 24);
  h.namelen = 16;
  h.controllen = 24;
  h.flags = MSG_TRUNC;
  memcpy(data.data() + r.header, &h, sizeof(h));
  TakeMsghdr(r, data.data(), 10, &m);
  EXPECT_EQ(std::string(a, 3) + std::string(b, 5), "abcdefgh");
  EXPECT_EQ(m.msg_namelen, 16u);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(&name)[15], 0x11);
  EXPECT_EQ(m.msg_controllen, 24u);
  EXPECT_EQ(control[23], 0x22);
  EXPECT_EQ(m.msg_flags, MSG_TRUNC);
}

TEST(MsghdrMarshalTest, NoNameNoControlAndBuffersCutToTheRoom) {
  std::vector<uint8_t> data(256);
  std::vector<char> big(1 << 20);
  iovec iov = {big.data(), big.size()};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_namelen = 99;  // no name: left alone
  uint64_t cursor = 0;
  MsghdrRegions r;
  ASSERT_EQ(PutMsghdr(m, data.data(), 256, &cursor, &r), 0);
  lkd_channel_msghdr h;
  memcpy(&h, data.data() + r.header, sizeof(h));
  EXPECT_EQ(h.name, LKD_CHANNEL_NULL);
  EXPECT_EQ(h.control, LKD_CHANNEL_NULL);
  EXPECT_EQ(h.datalen, 256 - sizeof(h)) << "a receive may return less";
  h.flags = 0;
  memcpy(data.data() + r.header, &h, sizeof(h));
  TakeMsghdr(r, data.data(), 5, &m);
  EXPECT_EQ(m.msg_namelen, 99u);
  EXPECT_EQ(m.msg_controllen, 0u);
}

TEST(MsghdrMarshalTest, RefusesWhatTheKernelRefuses) {
  std::vector<uint8_t> data(256);
  std::vector<iovec> many(1025, iovec{nullptr, 0});
  msghdr m = {};
  m.msg_iov = many.data();
  m.msg_iovlen = many.size();
  uint64_t cursor = 0;
  MsghdrRegions r;
  EXPECT_EQ(PutMsghdr(m, data.data(), 256, &cursor, &r), -EMSGSIZE) << "UIO_MAXIOV";
  m.msg_iovlen = 1024;
  EXPECT_EQ(PutMsghdr(m, data.data(), 256, &cursor, &r), 0);
  char control[512];
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  cursor = 0;
  EXPECT_EQ(PutMsghdr(m, data.data(), 256, &cursor, &r), -EMSGSIZE) << "no room";
}

// sendmsg: everything the kernel reads is copied in, the iovecs gathered
// whole, and a message that does not fit is refused, never cut.
TEST(MsghdrMarshalTest, SendCopiesInNameDataAndControl) {
  std::vector<uint8_t> data(4096, 0xee);
  char a[3] = {'a', 'b', 'c'}, b[5] = {'d', 'e', 'f', 'g', 'h'};
  iovec iov[3] = {{a, sizeof(a)}, {nullptr, 0}, {b, sizeof(b)}};
  sockaddr_storage name;
  memset(&name, 0x33, sizeof(name));
  uint8_t control[24];
  memset(control, 0x44, sizeof(control));
  msghdr m = {};
  m.msg_name = &name;
  m.msg_namelen = 4000;  // the kernel reads 128 of it
  m.msg_iov = iov;
  m.msg_iovlen = 3;
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  uint64_t cursor = 0;
  MsghdrRegions r;
  ASSERT_EQ(PutSendMsghdr(m, data.data(), 4096, &cursor, &r), 0);
  lkd_channel_msghdr h;
  memcpy(&h, data.data() + r.header, sizeof(h));
  EXPECT_EQ(h.namelen, 4000u) << "the kernel cuts it itself";
  EXPECT_EQ(r.name_room, 128u);
  EXPECT_EQ(memcmp(data.data() + h.name, &name, 128), 0);
  EXPECT_EQ(h.datalen, 8u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(data.data()) + h.data, 8), "abcdefgh");
  EXPECT_EQ(h.controllen, 24u);
  EXPECT_EQ(memcmp(data.data() + h.control, control, 24), 0);
  EXPECT_GE(r.name, r.header + sizeof(h));
  EXPECT_GE(r.control, r.name + 128);
  EXPECT_GE(r.data, r.control + 24);
  EXPECT_EQ(cursor, r.data + 8);

  // A negative length (as an int) copies nothing: the kernel refuses it.
  m.msg_namelen = 0x80000000u;
  cursor = 0;
  ASSERT_EQ(PutSendMsghdr(m, data.data(), 4096, &cursor, &r), 0);
  EXPECT_EQ(r.name_room, 0u);
  // NULL control with a length goes as NULL (lkd says EFAULT, as Linux).
  m.msg_namelen = 16;
  m.msg_control = nullptr;
  cursor = 0;
  ASSERT_EQ(PutSendMsghdr(m, data.data(), 4096, &cursor, &r), 0);
  memcpy(&h, data.data() + r.header, sizeof(h));
  EXPECT_EQ(h.control, LKD_CHANNEL_NULL);
  EXPECT_EQ(h.controllen, 24u);

  // Too large: never cut.
  std::vector<char> big(8192);
  iovec one = {big.data(), big.size()};
  m.msg_iov = &one;
  m.msg_iovlen = 1;
  cursor = 0;
  EXPECT_EQ(PutSendMsghdr(m, data.data(), 4096, &cursor, &r), -EMSGSIZE);
  m.msg_iovlen = 0;
  m.msg_control = control;
  m.msg_controllen = LKD_CHANNEL_CONTROL_MAX + 1;
  cursor = 0;
  EXPECT_EQ(PutSendMsghdr(m, data.data(), 4096, &cursor, &r), -ENOBUFS);
}

}  // namespace
}  // namespace lkd::client
