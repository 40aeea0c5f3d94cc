// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "tools/lkctl/json.h"

#include "gtest/gtest.h"

namespace lkd::lkctl {
namespace {

TEST(Json, CompactLikeIp) {
  JsonWriter j(false);
  j.BeginArray();
  j.BeginObject();
  j.Number("ifindex", 1);
  j.String("ifname", "lo");
  j.Strings("flags", {"LOOPBACK", "UP"});
  j.BeginArray("addr_info");
  j.EndArray();
  j.EndObject();
  j.EndArray();
  EXPECT_EQ(j.Take(),
            "[{\"ifindex\":1,\"ifname\":\"lo\",\"flags\":[\"LOOPBACK\",\"UP\"],\"addr_info\":[]}]\n");
}

TEST(Json, EmptyListIsAnArray) {
  JsonWriter j(true);
  j.BeginArray();
  j.EndArray();
  EXPECT_EQ(j.Take(), "[]\n");
}

TEST(Json, PrettyIndents) {
  JsonWriter j(true);
  j.BeginArray();
  j.BeginObject();
  j.Bool("up", true);
  j.EndObject();
  j.EndArray();
  EXPECT_EQ(j.Take(), "[\n    {\n        \"up\": true\n    }\n]\n");
}

TEST(Json, Escapes) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

}  // namespace
}  // namespace lkd::lkctl
