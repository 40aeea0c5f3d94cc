// SPDX-License-Identifier: GPL-2.0
// The control block's cache-line layout (lkd_channel.h): a hot call moves
// the request's line one way and the answer's line back, nothing else.
#include <cstddef>
#include <cstring>

#include "gtest/gtest.h"
#include "schema/lkd_channel.h"

namespace {

constexpr size_t kLine = 64;
size_t LineOf(size_t offset) { return offset / kLine; }

TEST(ChannelLayout, EachSideWritesItsOwnLines) {
  // Line 0: set once, or written on slow paths only.
  EXPECT_EQ(LineOf(offsetof(lkd_channel, magic)), 0u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, blocked_seq)), 0u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, server_sleeping)), 0u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, client_sleeping)), 0u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, cancel_seq)), 0u);
  // Line 1: the request's doorbell and its fixed part, all of it.
  EXPECT_EQ(LineOf(offsetof(lkd_channel, req_seq)), 1u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, req_nr)), 1u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, req_args)), 1u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, req_args) + sizeof(lkd_channel::req_args) - 1), 1u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, req_flags)), 1u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, req_generation) + sizeof(uint32_t) - 1), 1u);
  // Line 2: the lengths of pointer arguments.
  EXPECT_EQ(LineOf(offsetof(lkd_channel, req_lens)), 2u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, req_lens) + sizeof(lkd_channel::req_lens) - 1), 2u);
  // Line 3: the answer's doorbell and the answer.
  EXPECT_EQ(LineOf(offsetof(lkd_channel, resp_seq)), 3u);
  EXPECT_EQ(LineOf(offsetof(lkd_channel, resp) + sizeof(lkd_channel_response) - 1), 3u);
  // Traced calls write beyond.
  EXPECT_GE(LineOf(offsetof(lkd_channel, trace)), 4u);
}

TEST(ChannelLayout, RequestCrossesWhole) {
  alignas(64) static lkd_channel ch;
  memset(&ch, 0, sizeof(ch));
  lkd_channel_request in = {};
  in.generation = 7;
  in.nr = 45;
  in.flags = LKD_CHANNEL_REQ_TRACE;
  for (int i = 0; i < 6; i++) {
    in.args[i] = 0x1000u * (i + 1);
    in.lens[i] = 10u * i;
  }
  lkd_channel_put_request(&ch, &in);
  lkd_channel_request out;
  memset(&out, 0xff, sizeof(out));
  lkd_channel_get_request(&ch, &out);
  EXPECT_EQ(out.generation, 7u);
  EXPECT_EQ(out.nr, 45u);
  EXPECT_EQ(out.flags, LKD_CHANNEL_REQ_TRACE);
  for (int i = 0; i < 6; i++) {
    EXPECT_EQ(out.args[i], 0x1000u * (i + 1)) << i;
    EXPECT_EQ(out.lens[i], 10u * i) << i;
  }
  // A later call without pointers leaves no stale length behind.
  lkd_channel_request none = {};
  none.generation = 7;
  none.nr = 39;
  lkd_channel_put_request(&ch, &none);
  lkd_channel_get_request(&ch, &out);
  EXPECT_EQ(out.nr, 39u);
  EXPECT_EQ(out.flags, 0u);
  for (int i = 0; i < 6; i++) EXPECT_EQ(out.lens[i], 0u) << i;
}

}  // namespace
