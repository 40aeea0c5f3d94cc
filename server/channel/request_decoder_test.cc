// SPDX-License-Identifier: GPL-2.0
// The channel's trust boundary: requests decoded against the table and the
// data area, including hostile ones.
#include "server/channel/request_decoder.h"

#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "lkd/sysnr.h"

namespace lkd::server {
namespace {

constexpr uint32_t kGeneration = 7;
constexpr uint32_t kDataSize = 4096;

lkd_channel_request Request(uint32_t nr) {
  lkd_channel_request r{};
  r.generation = kGeneration;
  r.nr = nr;
  return r;
}

TEST(SyscallTableTest, SortedUniqueAndWellFormed) {
  for (unsigned i = 0; i < lkd_syscall_table_size; i++) {
    const lkd_syscall_desc& d = lkd_syscall_table[i];
    if (i > 0) {
      EXPECT_LT(lkd_syscall_table[i - 1].nr, d.nr) << d.name;
    }
    EXPECT_EQ(lkd_syscall_lookup(d.nr), &d) << d.name;
    for (const lkd_arg_desc& a : d.args) {
      if (a.size_rule == LKD_SIZE_ARG || a.size_rule == LKD_SIZE_ARG_TIMES ||
          a.size_rule == LKD_SIZE_ARG_MAX) {
        EXPECT_EQ(d.args[a.param].kind, LKD_ARG_VAL) << d.name;
      }
      if (a.size_rule == LKD_SIZE_AT_PTR) {
        EXPECT_EQ(d.args[a.param].kind, LKD_ARG_INOUT) << d.name;
      }
      if (a.size_rule == LKD_SIZE_ARG_TIMES) {
        EXPECT_GT(a.scale, 0) << d.name;
      }
    }
  }
  EXPECT_EQ(lkd_syscall_lookup(LKD_NR_execve), nullptr) << "not served";
}

// ioctl's requests: each described once; the int ones point to 4 bytes,
// the struct ifreq ones to 40, SIOCGIFCONF's struct ifconf (which holds a
// pointer) is its own kind; one not listed is not served.
TEST(SyscallTableTest, IoctlCommandsAreWellFormed) {
  ASSERT_GT(lkd_ioctl_commands_size, 2u);
  for (unsigned i = 0; i < lkd_ioctl_commands_size; i++) {
    const lkd_command_desc& c = lkd_ioctl_commands[i];
    EXPECT_EQ(c.call.nr, LKD_NR_ioctl) << c.call.name;
    EXPECT_EQ(lkd_syscall_describe(LKD_NR_ioctl, c.cmd), &c.call) << c.call.name;
    EXPECT_EQ(c.call.args[0].kind, LKD_ARG_VAL) << c.call.name;
    EXPECT_EQ(c.call.args[1].kind, LKD_ARG_VAL) << c.call.name;
    const lkd_arg_desc& arg = c.call.args[2];
    if (c.cmd == SIOCGIFCONF) {
      EXPECT_EQ(arg.kind, LKD_ARG_IFCONF) << c.call.name;
      continue;
    }
    EXPECT_EQ(arg.kind, LKD_ARG_INOUT) << c.call.name;
    EXPECT_EQ(arg.size_rule, LKD_SIZE_FIXED) << c.call.name;
    const bool int_arg = c.cmd == FIONREAD || c.cmd == FIONBIO;
    EXPECT_EQ(arg.scale, int_arg ? sizeof(int) : sizeof(ifreq)) << c.call.name;
  }
  ASSERT_NE(lkd_syscall_describe(LKD_NR_ioctl, SIOCGIFCONF), nullptr);
  EXPECT_EQ(lkd_syscall_describe(LKD_NR_ioctl, SIOCGIFMAP), nullptr) << "not served";
  EXPECT_EQ(lkd_syscall_describe(LKD_NR_ioctl, uint64_t{1} << 32 | SIOCGIFINDEX), nullptr)
      << "compared whole, as the kernel sees only the low 32 bits";
}

// fcntl's commands: each described once, with the kernel's struct sizes.
TEST(SyscallTableTest, FcntlCommandsAreWellFormed) {
  for (unsigned i = 0; i < lkd_fcntl_commands_size; i++) {
    const lkd_command_desc& c = lkd_fcntl_commands[i];
    EXPECT_EQ(c.call.nr, LKD_NR_fcntl) << c.call.name;
    EXPECT_EQ(lkd_syscall_describe(LKD_NR_fcntl, c.cmd), &c.call) << c.call.name;
    EXPECT_EQ(c.call.args[0].kind, LKD_ARG_VAL) << c.call.name;
    EXPECT_EQ(c.call.args[1].kind, LKD_ARG_VAL) << c.call.name;
    EXPECT_EQ(c.call.args[3].kind, LKD_ARG_NONE) << c.call.name;
    const lkd_arg_desc& arg = c.call.args[2];
    switch (c.cmd) {
      case 5: case 6: case 7: case 36: case 37: case 38:  // record locks
        EXPECT_EQ(arg.size_rule, LKD_SIZE_FIXED) << c.call.name;
        EXPECT_EQ(arg.scale, 32) << c.call.name << ": struct flock";
        EXPECT_EQ(arg.kind, c.cmd == 5 || c.cmd == 36 ? LKD_ARG_INOUT : LKD_ARG_IN)
            << c.call.name;
        break;
      case 15: case 16:  // F_SETOWN_EX, F_GETOWN_EX
        EXPECT_EQ(arg.size_rule, LKD_SIZE_FIXED) << c.call.name;
        EXPECT_EQ(arg.scale, 8) << c.call.name << ": struct f_owner_ex";
        EXPECT_EQ(arg.kind, c.cmd == 15 ? LKD_ARG_IN : LKD_ARG_OUT) << c.call.name;
        break;
      case 17: case 1035: case 1036: case 1037: case 1038:
        ADD_FAILURE() << c.call.name << " takes a pointer the test does not know";
        break;
      default:
        EXPECT_EQ(arg.kind, LKD_ARG_VAL) << c.call.name;
    }
  }
  EXPECT_EQ(lkd_syscall_describe(LKD_NR_fcntl, 17), nullptr) << "F_GETOWNER_UIDS";
  EXPECT_EQ(lkd_syscall_describe(LKD_NR_read, 17), lkd_syscall_lookup(LKD_NR_read));
}

TEST(RequestDecoderTest, PointerArgumentsBecomeDataAreaPointers) {
  std::vector<uint8_t> data(kDataSize);
  lkd_channel_request r = Request(LKD_NR_write);
  r.args[0] = 3;
  r.args[1] = 100;  // offset
  r.lens[1] = 50;
  r.args[2] = 50;   // count
  DecodedCall call;
  ASSERT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  EXPECT_EQ(call.nr, LKD_NR_write);
  EXPECT_EQ(call.args[0], 3);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(call.args[1]), data.data() + 100);
  EXPECT_EQ(call.args[2], 50);
}

TEST(RequestDecoderTest, RejectsWhatTheKernelCouldMisuse) {
  std::vector<uint8_t> data(kDataSize);
  DecodedCall call;
  lkd_channel_request r = Request(LKD_NR_read);
  r.args[1] = 0;
  r.lens[1] = 16;
  r.args[2] = 17;  // count larger than the region
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EINVAL);
  r.args[2] = 16;
  r.args[1] = kDataSize - 8;  // region past the end
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EFAULT);
  r.args[1] = LKD_CHANNEL_NULL;  // NULL buffer not allowed for read
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EFAULT);
  r.args[1] = 0;
  EXPECT_EQ(DecodeRequest(r, kGeneration + 1, data.data(), kDataSize, &call),
            -ESTALE);
  EXPECT_EQ(DecodeRequest(Request(LKD_NR_execve), kGeneration, data.data(),
                          kDataSize, &call),
            -ENOSYS);
  EXPECT_EQ(DecodeRequest(Request(0xffffffff), kGeneration, data.data(),
                          kDataSize, &call),
            -ENOSYS);
  lkd_channel_request cmd = Request(LKD_NR_fcntl);
  for (uint64_t unserved : {uint64_t{17}, uint64_t{1035}, (uint64_t{1} << 32) | 3}) {
    cmd.args[1] = unserved;  // F_GETOWNER_UIDS, F_GET_RW_HINT, 2^32 + F_GETFL
    EXPECT_EQ(DecodeRequest(cmd, kGeneration, data.data(), kDataSize, &call), -EPERM)
        << unserved;
  }
  cmd.args[1] = 3;  // F_GETFL
  EXPECT_EQ(DecodeRequest(cmd, kGeneration, data.data(), kDataSize, &call), 0);
}

TEST(RequestDecoderTest, FcntlLockCommandsGetTheirStruct) {
  std::vector<uint8_t> data(kDataSize);
  DecodedCall call;
  lkd_channel_request r = Request(LKD_NR_fcntl);
  r.args[0] = 3;
  r.args[1] = 5;  // F_GETLK: struct flock, 32 bytes
  r.args[2] = 64;
  r.lens[2] = 32;
  ASSERT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(call.args[2]), data.data() + 64);
  r.lens[2] = 31;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EINVAL);
  r.args[2] = LKD_CHANNEL_NULL;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EFAULT);
  r.args[1] = 16;  // F_GETOWN_EX: struct f_owner_ex, 8 bytes
  r.args[2] = kDataSize - 8;
  r.lens[2] = 8;
  ASSERT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(call.args[2]), data.data() + kDataSize - 8);
  r.args[1] = 1;  // F_GETFD: the third argument is a value again
  r.args[2] = 12345;
  ASSERT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  EXPECT_EQ(call.args[2], 12345);
}

// As the kernel: a socket address longer than sockaddr_storage is EINVAL,
// whatever region the client gave (it may give none).
TEST(RequestDecoderTest, SocketAddressLengthOverTheMaximumIsEinval) {
  std::vector<uint8_t> data(kDataSize);
  DecodedCall call;
  lkd_channel_request r = Request(LKD_NR_bind);
  r.args[0] = 3;
  r.args[1] = 0;
  r.lens[1] = 0;
  for (uint64_t len : {uint64_t{129}, uint64_t{0xffffffff}, ~uint64_t{0}}) {
    r.args[2] = len;
    EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EINVAL) << len;
  }
  r.args[2] = 128;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EINVAL)
      << "region smaller than the length";
  r.lens[1] = 128;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  lkd_channel_request to = Request(LKD_NR_sendto);
  to.args[1] = 0;
  to.lens[1] = 1;
  to.args[2] = 1;
  to.args[4] = LKD_CHANNEL_NULL;
  to.args[5] = 0xffffffff;  // ignored without an address, as the kernel does
  EXPECT_EQ(DecodeRequest(to, kGeneration, data.data(), kDataSize, &call), 0);
}

lkd_channel_msghdr MsgHeader() {
  lkd_channel_msghdr h = {};
  h.name = 64;
  h.namelen = 16;
  h.data = 128;
  h.datalen = 100;
  h.control = 256;
  h.controllen = 64;
  return h;
}

lkd_channel_request Recvmsg(std::vector<uint8_t>* data, const lkd_channel_msghdr& h) {
  memcpy(data->data(), &h, sizeof(h));
  lkd_channel_request r = Request(LKD_NR_recvmsg);
  r.args[0] = 3;
  r.args[1] = 0;
  r.lens[1] = sizeof(h);
  return r;
}

TEST(RequestDecoderTest, MsghdrBecomesAPrivateCopyPointingIntoTheDataArea) {
  std::vector<uint8_t> data(kDataSize);
  DecodedCall call;
  lkd_channel_request r = Recvmsg(&data, MsgHeader());
  ASSERT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  ASSERT_EQ(reinterpret_cast<msghdr*>(call.args[1]), &call.private_msg);
  const msghdr& m = call.private_msg;
  EXPECT_EQ(m.msg_name, data.data() + 64);
  EXPECT_EQ(m.msg_namelen, 16u);
  ASSERT_EQ(m.msg_iov, &call.private_iov);
  EXPECT_EQ(m.msg_iovlen, 1u);
  EXPECT_EQ(m.msg_iov[0].iov_base, data.data() + 128);
  EXPECT_EQ(m.msg_iov[0].iov_len, 100u);
  EXPECT_EQ(m.msg_control, data.data() + 256);
  EXPECT_EQ(m.msg_controllen, 64u);
  // The client rewriting its header now changes nothing the kernel sees.
  lkd_channel_msghdr evil = MsgHeader();
  evil.datalen = 1 << 30;
  memcpy(data.data(), &evil, sizeof(evil));
  EXPECT_EQ(m.msg_iov[0].iov_len, 100u);
  // What the kernel writes back reaches the client's header, and only that.
  call.private_msg.msg_namelen = 8;
  call.private_msg.msg_controllen = 24;
  call.private_msg.msg_flags = MSG_TRUNC;
  FinishCall(call, data.data());
  lkd_channel_msghdr back;
  memcpy(&back, data.data(), sizeof(back));
  EXPECT_EQ(back.namelen, 8u);
  EXPECT_EQ(back.controllen, 24u);
  EXPECT_EQ(back.flags, static_cast<uint32_t>(MSG_TRUNC));
  EXPECT_EQ(back.datalen, 1u << 30) << "not the kernel's to change";

  // Without an address or control buffer.
  lkd_channel_msghdr plain = MsgHeader();
  plain.name = plain.control = LKD_CHANNEL_NULL;
  r = Recvmsg(&data, plain);
  ASSERT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  EXPECT_EQ(call.private_msg.msg_name, nullptr);
  EXPECT_EQ(call.private_msg.msg_namelen, 0u);
  EXPECT_EQ(call.private_msg.msg_control, nullptr);
  EXPECT_EQ(call.private_msg.msg_controllen, 0u);
}

TEST(RequestDecoderTest, MsghdrRegionsMustLieInTheDataArea) {
  std::vector<uint8_t> data(kDataSize);
  DecodedCall call;
  auto decode = [&](const lkd_channel_msghdr& h) {
    return DecodeRequest(Recvmsg(&data, h), kGeneration, data.data(), kDataSize, &call);
  };
  lkd_channel_msghdr h = MsgHeader();
  h.data = kDataSize - 99;  // 100 bytes do not fit
  EXPECT_EQ(decode(h), -EFAULT);
  h = MsgHeader();
  h.data = LKD_CHANNEL_NULL;
  EXPECT_EQ(decode(h), -EFAULT) << "the data buffer may not be NULL";
  h = MsgHeader();
  h.name = ~uint64_t{0} - 8;
  EXPECT_EQ(decode(h), -EFAULT);
  h = MsgHeader();
  h.controllen = kDataSize;
  EXPECT_EQ(decode(h), -EFAULT);
  lkd_channel_request r = Recvmsg(&data, MsgHeader());
  r.lens[1] = sizeof(lkd_channel_msghdr) - 1;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EINVAL);
  r.lens[1] = sizeof(lkd_channel_msghdr);
  r.args[1] = kDataSize - 8;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EFAULT);
  r.args[1] = LKD_CHANNEL_NULL;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EFAULT);
}

lkd_channel_request Sendmsg(std::vector<uint8_t>* data, const lkd_channel_msghdr& h) {
  lkd_channel_request r = Recvmsg(data, h);
  r.nr = LKD_NR_sendmsg;
  return r;
}

// One control message of `len` data bytes at `at`.
void PutCmsg(std::vector<uint8_t>* data, size_t at, int level, int type, size_t len) {
  cmsghdr c = {};
  c.cmsg_len = CMSG_LEN(len);
  c.cmsg_level = level;
  c.cmsg_type = type;
  memcpy(data->data() + at, &c, sizeof(c));
}

TEST(RequestDecoderTest, SendmsgControlMessagesAreAPrivateCopy) {
  std::vector<uint8_t> data(kDataSize);
  DecodedCall call;
  lkd_channel_msghdr h = MsgHeader();
  h.controllen = CMSG_SPACE(sizeof(int));
  PutCmsg(&data, h.control, IPPROTO_IP, IP_TOS, sizeof(int));
  data[h.control + CMSG_LEN(0)] = 0x10;
  lkd_channel_request r = Sendmsg(&data, h);
  ASSERT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  ASSERT_EQ(reinterpret_cast<msghdr*>(call.args[1]), &call.private_msg);
  const msghdr& m = call.private_msg;
  EXPECT_EQ(m.msg_name, data.data() + 64);
  EXPECT_EQ(m.msg_namelen, 16u);
  EXPECT_EQ(m.msg_iov[0].iov_base, data.data() + 128);
  EXPECT_EQ(m.msg_iov[0].iov_len, 100u);
  ASSERT_NE(m.msg_control, nullptr);
  EXPECT_EQ(m.msg_control, call.private_control.get()) << "not the shared bytes";
  EXPECT_EQ(m.msg_controllen, CMSG_SPACE(sizeof(int)));
  // The client turning it into SCM_RIGHTS now changes nothing the kernel
  // reads.
  PutCmsg(&data, h.control, SOL_SOCKET, SCM_RIGHTS, sizeof(int));
  cmsghdr seen;
  memcpy(&seen, m.msg_control, sizeof(seen));
  EXPECT_EQ(seen.cmsg_level, IPPROTO_IP);
  EXPECT_EQ(seen.cmsg_type, IP_TOS);
  EXPECT_EQ(static_cast<const uint8_t*>(m.msg_control)[CMSG_LEN(0)], 0x10);
  // Nothing goes back: the header stays the client's.
  std::vector<uint8_t> before = data;
  call.private_msg.msg_flags = MSG_TRUNC;
  FinishCall(call, data.data());
  EXPECT_EQ(data, before);

  // Without control messages, or with a NULL buffer and a length (the
  // kernel would read address 0).
  lkd_channel_msghdr plain = MsgHeader();
  plain.control = LKD_CHANNEL_NULL;
  plain.controllen = 0;
  ASSERT_EQ(DecodeRequest(Sendmsg(&data, plain), kGeneration, data.data(), kDataSize, &call),
            0);
  EXPECT_EQ(call.private_msg.msg_control, nullptr);
  EXPECT_EQ(call.private_control, nullptr);
  plain.controllen = 16;
  EXPECT_EQ(DecodeRequest(Sendmsg(&data, plain), kGeneration, data.data(), kDataSize, &call),
            -EFAULT);
}

TEST(RequestDecoderTest, SendmsgRefusesScmRightsAndOversizedControl) {
  std::vector<uint8_t> data(kDataSize);
  DecodedCall call;
  lkd_channel_msghdr h = MsgHeader();
  // SCM_RIGHTS after an IP_TTL message: found wherever it is.
  h.controllen = CMSG_SPACE(sizeof(int)) * 2;
  PutCmsg(&data, h.control, IPPROTO_IP, IP_TTL, sizeof(int));
  PutCmsg(&data, h.control + CMSG_SPACE(sizeof(int)), SOL_SOCKET, SCM_RIGHTS, sizeof(int));
  EXPECT_EQ(DecodeRequest(Sendmsg(&data, h), kGeneration, data.data(), kDataSize, &call),
            -EOPNOTSUPP);
  // SCM_CREDENTIALS and the like are the kernel's to judge.
  PutCmsg(&data, h.control + CMSG_SPACE(sizeof(int)), SOL_SOCKET, SCM_CREDENTIALS,
          sizeof(int));
  EXPECT_EQ(DecodeRequest(Sendmsg(&data, h), kGeneration, data.data(), kDataSize, &call), 0);
  // A malformed header ends the walk; the kernel refuses it (-EINVAL).
  cmsghdr bad = {};
  bad.cmsg_len = 4;
  memcpy(&data[h.control], &bad, sizeof(bad));
  EXPECT_EQ(DecodeRequest(Sendmsg(&data, h), kGeneration, data.data(), kDataSize, &call), 0);
  // More control bytes than Linux's default optmem_max: ENOBUFS, as Linux.
  std::vector<uint8_t> big(64 * 1024);
  lkd_channel_msghdr large = MsgHeader();
  large.control = 1024;
  large.controllen = LKD_CHANNEL_CONTROL_MAX + 1;
  EXPECT_EQ(DecodeRequest(Sendmsg(&big, large), kGeneration, big.data(), big.size(), &call),
            -ENOBUFS);
  large.controllen = LKD_CHANNEL_CONTROL_MAX;
  EXPECT_EQ(DecodeRequest(Sendmsg(&big, large), kGeneration, big.data(), big.size(), &call),
            0);
}

TEST(RequestDecoderTest, SendmsgNameNeedsWhatTheKernelReads) {
  std::vector<uint8_t> data(kDataSize);
  DecodedCall call;
  lkd_channel_msghdr h = MsgHeader();
  h.control = LKD_CHANNEL_NULL;
  h.controllen = 0;
  // A long length is cut at 128 by the kernel: 128 bytes must be there.
  h.namelen = 4096;
  h.name = kDataSize - 128;
  EXPECT_EQ(DecodeRequest(Sendmsg(&data, h), kGeneration, data.data(), kDataSize, &call), 0);
  EXPECT_EQ(call.private_msg.msg_namelen, 4096u) << "the kernel cuts it itself";
  h.name = kDataSize - 127;
  EXPECT_EQ(DecodeRequest(Sendmsg(&data, h), kGeneration, data.data(), kDataSize, &call),
            -EFAULT);
  // Negative as an int: the kernel refuses it without reading.
  h.namelen = 0xffffffff;
  h.name = kDataSize;
  EXPECT_EQ(DecodeRequest(Sendmsg(&data, h), kGeneration, data.data(), kDataSize, &call), 0);
  // The data region must hold the whole message.
  h = MsgHeader();
  h.data = kDataSize - 99;
  EXPECT_EQ(DecodeRequest(Sendmsg(&data, h), kGeneration, data.data(), kDataSize, &call),
            -EFAULT);
}

lkd_channel_request Ifconf(std::vector<uint8_t>* data, uint64_t buf, uint32_t len) {
  lkd_channel_ifconf h = {};
  h.buf = buf;
  h.len = len;
  memcpy(data->data() + 8, &h, sizeof(h));
  lkd_channel_request r = Request(LKD_NR_ioctl);
  r.args[0] = 3;
  r.args[1] = SIOCGIFCONF;
  r.args[2] = 8;
  r.lens[2] = sizeof(h);
  return r;
}

TEST(RequestDecoderTest, IfconfBecomesAPrivateCopyPointingIntoTheDataArea) {
  std::vector<uint8_t> data(kDataSize);
  DecodedCall call;
  ASSERT_EQ(DecodeRequest(Ifconf(&data, 64, 120), kGeneration, data.data(), kDataSize, &call),
            0);
  ASSERT_EQ(reinterpret_cast<ifconf*>(call.args[2]), &call.private_ifconf);
  EXPECT_EQ(call.private_ifconf.ifc_buf, reinterpret_cast<char*>(data.data() + 64));
  EXPECT_EQ(call.private_ifconf.ifc_len, 120);
  // The client rewriting its header now changes nothing the kernel sees.
  lkd_channel_ifconf evil = {0, 1u << 30, 0};
  memcpy(data.data() + 8, &evil, sizeof(evil));
  EXPECT_EQ(call.private_ifconf.ifc_len, 120);
  // What the kernel wrote back: only the length, into the header.
  call.private_ifconf.ifc_len = 80;
  FinishCall(call, data.data());
  lkd_channel_ifconf back;
  memcpy(&back, data.data() + 8, sizeof(back));
  EXPECT_EQ(back.len, 80u);
  EXPECT_EQ(back.buf, 0u) << "not the kernel's to change";

  // A NULL buffer asks for the length; a negative one gets nothing.
  ASSERT_EQ(DecodeRequest(Ifconf(&data, LKD_CHANNEL_NULL, 7), kGeneration, data.data(),
                          kDataSize, &call),
            0);
  EXPECT_EQ(call.private_ifconf.ifc_buf, nullptr);
  ASSERT_EQ(DecodeRequest(Ifconf(&data, kDataSize, 0xffffffff), kGeneration, data.data(),
                          kDataSize, &call),
            0);
  EXPECT_EQ(call.private_ifconf.ifc_len, -1);
  // The buffer must lie in the data area with its whole length.
  EXPECT_EQ(DecodeRequest(Ifconf(&data, kDataSize - 119, 120), kGeneration, data.data(),
                          kDataSize, &call),
            -EFAULT);
  lkd_channel_request r = Ifconf(&data, 64, 120);
  r.lens[2] = sizeof(lkd_channel_ifconf) - 1;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EINVAL);
  r.args[2] = LKD_CHANNEL_NULL;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EFAULT);
}

TEST(RequestDecoderTest, PathsMustEndInsideTheirRegion) {
  std::vector<uint8_t> data(kDataSize, 'a');
  DecodedCall call;
  lkd_channel_request r = Request(LKD_NR_openat);
  r.args[1] = 10;
  r.lens[1] = 5;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EFAULT);
  data[14] = 0;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  // The kernel gets a private copy: a client removing the NUL afterwards
  // cannot make it read past the region.
  data[14] = 'a';
  EXPECT_STREQ(reinterpret_cast<const char*>(call.args[1]), "aaaa");
  // No NUL in the whole data area.
  r.args[1] = 0;
  r.lens[1] = kDataSize;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EFAULT);
}

TEST(RequestDecoderTest, LengthsReadThroughPointersArePrivate) {
  std::vector<uint8_t> data(kDataSize);
  DecodedCall call;
  lkd_channel_request r = Request(LKD_NR_accept4);
  r.args[1] = 0;    // sockaddr buffer
  r.lens[1] = 16;
  r.args[2] = 64;   // socklen_t
  r.lens[2] = 4;
  uint32_t addrlen = 128;  // claims more than the 16-byte region
  memcpy(&data[64], &addrlen, 4);
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), -EINVAL);
  addrlen = 16;
  memcpy(&data[64], &addrlen, 4);
  ASSERT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  // The kernel gets our copy: a client rewriting the shared word now
  // changes nothing the kernel sees.
  auto* kernel_len = reinterpret_cast<uint32_t*>(call.args[2]);
  EXPECT_NE(reinterpret_cast<uint8_t*>(kernel_len), &data[64]);
  addrlen = 4096;
  memcpy(&data[64], &addrlen, 4);
  EXPECT_EQ(*kernel_len, 16u);
  *kernel_len = 8;  // what the kernel would write back
  FinishCall(call, data.data());
  memcpy(&addrlen, &data[64], 4);
  EXPECT_EQ(addrlen, 8u);
  // Both NULL is accept4(fd, NULL, NULL, flags).
  r.args[1] = r.args[2] = LKD_CHANNEL_NULL;
  EXPECT_EQ(DecodeRequest(r, kGeneration, data.data(), kDataSize, &call), 0);
  EXPECT_EQ(call.args[1], 0);
  EXPECT_EQ(call.args[2], 0);
}

// A bounded random search: whatever the request, a successful decode only
// ever hands the kernel regions inside the data area, as large as the
// table says the kernel may touch.
TEST(RequestDecoderTest, RandomRequestsNeverEscapeTheDataArea) {
  std::mt19937_64 rng(12345);
  std::vector<uint8_t> data(kDataSize);
  int accepted = 0;
  for (int iteration = 0; iteration < 200000; iteration++) {
    if (iteration % 256 == 0)  // new contents now and then: refilling is slow
      for (auto& b : data) b = static_cast<uint8_t>(rng() % 4 == 0 ? 0 : rng());
    lkd_channel_request r{};
    r.generation = rng() % 8 == 0 ? static_cast<uint32_t>(rng()) : kGeneration;
    r.nr = rng() % 4 == 0
               ? static_cast<uint32_t>(rng())
               : lkd_syscall_table[rng() % lkd_syscall_table_size].nr;
    for (int i = 0; i < 6; i++) {
      switch (rng() % 4) {
        case 0: r.args[i] = rng(); break;
        case 1: r.args[i] = rng() % (kDataSize + 16); break;
        case 2: r.args[i] = LKD_CHANNEL_NULL; break;
        default: r.args[i] = rng() % 64; break;
      }
      r.lens[i] = rng() % 2 ? static_cast<uint32_t>(rng()) : rng() % (kDataSize + 16);
    }
    DecodedCall call;
    if (DecodeRequest(r, kGeneration, data.data(), kDataSize, &call) != 0) continue;
    accepted++;
    const lkd_syscall_desc* desc = lkd_syscall_describe(static_cast<int>(r.nr), r.args[1]);
    ASSERT_NE(desc, nullptr);
    auto inside = [&](const void* p, uint64_t n) {
      const auto* b = static_cast<const uint8_t*>(p);
      return b >= data.data() && b <= data.data() + kDataSize &&
             n <= static_cast<uint64_t>(data.data() + kDataSize - b);
    };
    for (int i = 0; i < 6; i++) {
      const lkd_arg_desc& a = desc->args[i];
      if (a.kind == LKD_ARG_NONE || a.kind == LKD_ARG_VAL || call.args[i] == 0)
        continue;
      auto* p = reinterpret_cast<uint8_t*>(call.args[i]);
      if (a.kind == LKD_ARG_MSGHDR || a.kind == LKD_ARG_MSGHDR_IN) {
        ASSERT_EQ(p, reinterpret_cast<uint8_t*>(&call.private_msg)) << desc->name;
        const msghdr& m = call.private_msg;
        ASSERT_EQ(m.msg_iov, &call.private_iov);
        ASSERT_EQ(m.msg_iovlen, 1u);
        ASSERT_TRUE(inside(m.msg_iov[0].iov_base, m.msg_iov[0].iov_len));
        // sendmsg: the kernel reads at most 128 bytes of the name.
        const uint64_t name_read = a.kind == LKD_ARG_MSGHDR_IN
                                       ? (m.msg_namelen > INT32_MAX ? 0 : std::min(m.msg_namelen, 128u))
                                       : m.msg_namelen;
        ASSERT_TRUE(m.msg_name == nullptr || inside(m.msg_name, name_read));
        if (a.kind == LKD_ARG_MSGHDR_IN && m.msg_control != nullptr)
          ASSERT_EQ(m.msg_control, call.private_control.get()) << "a private copy";
        else
          ASSERT_TRUE(m.msg_control == nullptr || inside(m.msg_control, m.msg_controllen));
        continue;
      }
      if (a.kind == LKD_ARG_IFCONF) {
        ASSERT_EQ(p, reinterpret_cast<uint8_t*>(&call.private_ifconf)) << desc->name;
        const ifconf& ifc = call.private_ifconf;
        ASSERT_TRUE(ifc.ifc_buf == nullptr ||
                    inside(ifc.ifc_buf, ifc.ifc_len < 0 ? 0 : ifc.ifc_len));
        continue;
      }
      if (call.private_len_arg[i] >= 0) {
        EXPECT_EQ(p, reinterpret_cast<uint8_t*>(&call.private_len[i]));
        continue;
      }
      if (a.kind == LKD_ARG_PATH) {
        // A private copy, equal to the client's string.
        const auto* copy = reinterpret_cast<const char*>(p);
        ASSERT_TRUE(copy == call.private_path[0] || copy == call.private_path[1])
            << desc->name;
        ASSERT_LT(r.args[i] + strlen(copy), kDataSize) << desc->name;
        EXPECT_EQ(memcmp(copy, data.data() + r.args[i], strlen(copy) + 1), 0) << desc->name;
        continue;
      }
      ASSERT_GE(p, data.data());
      uint64_t offset = p - data.data();
      ASSERT_LE(offset + r.lens[i], kDataSize);
      uint64_t may_touch = 0;
      if (a.size_rule == LKD_SIZE_FIXED) may_touch = a.scale;
      if (a.size_rule == LKD_SIZE_ARG || a.size_rule == LKD_SIZE_ARG_MAX)
        may_touch = static_cast<uint64_t>(call.args[a.param]);
      if (a.size_rule == LKD_SIZE_ARG_TIMES)
        may_touch = static_cast<uint64_t>(call.args[a.param]) * a.scale;
      if (a.size_rule == LKD_SIZE_AT_PTR) may_touch = call.private_len[a.param];
      ASSERT_LE(may_touch, r.lens[i]) << desc->name << " arg " << i;
    }
  }
  EXPECT_GT(accepted, 1000) << "the search should reach the success paths";
}

// Batches (LKD_NR_BATCH): every entry decoded as a request of its own,
// the results' place checked, and anything but plain buffers refused
// before a call is made.
class BatchDecoderTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kCallsAt = 1024, kResultsAt = 2048;
  std::vector<uint8_t> data = std::vector<uint8_t>(kDataSize);
  DecodedCall scratch;
  DecodedBatch batch;

  void Put(unsigned i, const lkd_channel_subcall& sub) {
    memcpy(data.data() + kCallsAt + i * sizeof(sub), &sub, sizeof(sub));
  }
  lkd_channel_request Batch(uint64_t count) {
    lkd_channel_request r = Request(LKD_NR_BATCH);
    r.args[0] = kCallsAt;
    r.lens[0] = static_cast<uint32_t>(count * sizeof(lkd_channel_subcall));
    r.args[1] = count;
    r.args[2] = kResultsAt;
    r.lens[2] = static_cast<uint32_t>(count * sizeof(int64_t));
    return r;
  }
  int Decode(const lkd_channel_request& r) {
    return DecodeBatch(r, kGeneration, data.data(), kDataSize, &scratch, &batch);
  }
};

TEST_F(BatchDecoderTest, EntriesBecomeKernelCalls) {
  lkd_channel_subcall ctl = {LKD_NR_epoll_ctl, 0, {4, 1, 5, 100}, {0, 0, 0, 12}};
  lkd_channel_subcall wait = {LKD_NR_epoll_pwait, 0, {4, 200, 16, 0, LKD_CHANNEL_NULL, 8},
                              {0, 16 * 12}};
  Put(0, ctl);
  Put(1, wait);
  ASSERT_EQ(Decode(Batch(2)), 0);
  ASSERT_EQ(batch.count, 2u);
  EXPECT_EQ(batch.calls[0].nr, LKD_NR_epoll_ctl);
  EXPECT_EQ(batch.calls[0].args[2], 5);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(batch.calls[0].args[3]), data.data() + 100);
  EXPECT_EQ(batch.calls[1].nr, LKD_NR_epoll_pwait);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(batch.calls[1].args[1]), data.data() + 200);
  EXPECT_EQ(batch.calls[1].args[4], 0) << "a NULL sigmask";
  EXPECT_EQ(reinterpret_cast<uint8_t*>(batch.results), data.data() + kResultsAt);
  EXPECT_EQ(scratch.private_len_arg[0], -1) << "scratch left reset";
}

TEST_F(BatchDecoderTest, RefusesMalformedBatches) {
  Put(0, {LKD_NR_getpid});
  EXPECT_EQ(Decode(Batch(0)), -EINVAL);
  EXPECT_EQ(Decode(Batch(LKD_CHANNEL_BATCH_MAX + 1)), -EINVAL);
  EXPECT_EQ(Decode(Batch(~uint64_t{0})), -EINVAL);
  lkd_channel_request r = Batch(1);
  EXPECT_EQ(DecodeBatch(r, kGeneration + 1, data.data(), kDataSize, &scratch, &batch), -ESTALE);
  r.lens[0] = sizeof(lkd_channel_subcall) - 1;
  EXPECT_EQ(Decode(r), -EINVAL) << "calls region too small";
  r = Batch(1);
  r.lens[2] = 4;
  EXPECT_EQ(Decode(r), -EINVAL) << "results region too small";
  r = Batch(1);
  r.args[0] = kDataSize - 8;
  EXPECT_EQ(Decode(r), -EFAULT) << "calls past the end";
  r = Batch(1);
  r.args[2] = kDataSize;
  EXPECT_EQ(Decode(r), -EFAULT) << "results past the end";
  r = Batch(1);
  r.args[2] = kResultsAt + 4;
  EXPECT_EQ(Decode(r), -EINVAL) << "results not aligned";
  EXPECT_EQ(batch.count, 0u);
}

TEST_F(BatchDecoderTest, RefusesEntriesThatAreNotPlainBuffers) {
  Put(0, {LKD_NR_getpid});
  // A path is copied privately, where the next entry would overwrite it.
  memcpy(data.data() + 300, "/tmp", 5);
  Put(1, {LKD_NR_openat, 0, {static_cast<uint64_t>(-100), 300, 0, 0}, {0, 5}});
  EXPECT_EQ(Decode(Batch(2)), -EINVAL);
  // So is a length passed through a pointer (accept's addrlen).
  uint32_t len = 16;
  memcpy(data.data() + 400, &len, sizeof(len));
  Put(1, {LKD_NR_accept4, 0, {3, 500, 400, 0}, {0, 16, 4}});
  EXPECT_EQ(Decode(Batch(2)), -EINVAL);
  // A batch in a batch, a call not served, an entry that fails its checks.
  Put(1, {LKD_NR_BATCH});
  EXPECT_EQ(Decode(Batch(2)), -EINVAL);
  Put(1, {LKD_NR_execve});
  EXPECT_EQ(Decode(Batch(2)), -ENOSYS);
  Put(1, {LKD_NR_read, 0, {3, kDataSize - 8, 16}, {0, 16}});
  EXPECT_EQ(Decode(Batch(2)), -EFAULT);
  EXPECT_EQ(batch.count, 0u);
}

// Random batches: one that decodes hands the kernel only pointers inside
// the data area (plain buffers, never the decoder's private copies) and a
// results array inside it.
TEST_F(BatchDecoderTest, RandomBatchesNeverEscapeTheDataArea) {
  std::mt19937_64 rng(54321);
  int accepted = 0;
  for (int iteration = 0; iteration < 50000; iteration++) {
    const unsigned count = 1 + rng() % 4;
    for (unsigned e = 0; e < count; e++) {
      lkd_channel_subcall sub = {};
      sub.nr = rng() % 8 == 0 ? static_cast<uint32_t>(rng())
                              : lkd_syscall_table[rng() % lkd_syscall_table_size].nr;
      for (int j = 0; j < 6; j++) {
        sub.args[j] = rng() % 3 == 0 ? LKD_CHANNEL_NULL : rng() % 1100;
        sub.lens[j] = static_cast<uint32_t>(rng() % 300);
      }
      Put(e, sub);
    }
    lkd_channel_request r = Batch(count);
    if (rng() % 8 == 0) r.args[2] = rng() % (kDataSize + 16);
    if (Decode(r) != 0) continue;
    accepted++;
    const auto* lo = data.data();
    const auto* results = reinterpret_cast<const uint8_t*>(batch.results);
    ASSERT_TRUE(results >= lo && results + count * 8 <= lo + kDataSize);
    for (unsigned e = 0; e < count; e++) {
      const lkd_syscall_desc* desc =
          lkd_syscall_describe(static_cast<int>(batch.calls[e].nr), batch.calls[e].args[1]);
      ASSERT_NE(desc, nullptr);
      for (int j = 0; j < 6; j++) {
        const lkd_arg_desc& a = desc->args[j];
        if (a.kind == LKD_ARG_NONE || a.kind == LKD_ARG_VAL || batch.calls[e].args[j] == 0)
          continue;
        const auto* p = reinterpret_cast<const uint8_t*>(batch.calls[e].args[j]);
        ASSERT_TRUE(p >= lo && p <= lo + kDataSize) << desc->name;
      }
    }
  }
  EXPECT_GT(accepted, 100) << "the search hardly reached a decodable batch";
}

}  // namespace
}  // namespace lkd::server
