// SPDX-License-Identifier: GPL-2.0
// The channel's trust boundary: requests decoded against the table and the
// data area, including hostile ones.
#include "server/channel/request_decoder.h"

#include <gtest/gtest.h>

#include <cerrno>
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
      if (a.size_rule == LKD_SIZE_ARG || a.size_rule == LKD_SIZE_ARG_TIMES) {
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
  lkd_channel_request lock = Request(LKD_NR_fcntl);
  lock.args[1] = 5;  // F_GETLK takes a struct pointer
  EXPECT_EQ(DecodeRequest(lock, kGeneration, data.data(), kDataSize, &call), -EPERM);
  lock.args[1] = 3;  // F_GETFL
  EXPECT_EQ(DecodeRequest(lock, kGeneration, data.data(), kDataSize, &call), 0);
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
    const lkd_syscall_desc* desc = lkd_syscall_lookup(static_cast<int>(r.nr));
    ASSERT_NE(desc, nullptr);
    for (int i = 0; i < 6; i++) {
      const lkd_arg_desc& a = desc->args[i];
      if (a.kind == LKD_ARG_NONE || a.kind == LKD_ARG_VAL || call.args[i] == 0)
        continue;
      auto* p = reinterpret_cast<uint8_t*>(call.args[i]);
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
      if (a.size_rule == LKD_SIZE_ARG) may_touch = static_cast<uint64_t>(call.args[a.param]);
      if (a.size_rule == LKD_SIZE_ARG_TIMES)
        may_touch = static_cast<uint64_t>(call.args[a.param]) * a.scale;
      if (a.size_rule == LKD_SIZE_AT_PTR) may_touch = call.private_len[a.param];
      ASSERT_LE(may_touch, r.lens[i]) << desc->name << " arg " << i;
    }
  }
  EXPECT_GT(accepted, 1000) << "the search should reach the success paths";
}

}  // namespace
}  // namespace lkd::server
