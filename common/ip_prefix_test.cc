// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "common/ip_prefix.h"

#include <sys/socket.h>

#include "gtest/gtest.h"

namespace lkd {
namespace {

TEST(IpPrefix, V4AndV6WithAndWithoutLength) {
  absl::StatusOr<IpPrefix> p = ParseIpPrefix("10.1.2.3/24");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->family, AF_INET);
  EXPECT_EQ(p->length, 24);
  EXPECT_EQ(p->size(), 4u);
  EXPECT_EQ(p->addr[0], 10);
  EXPECT_EQ(p->addr[3], 3);
  EXPECT_TRUE(p->HostBitsSet());

  p = ParseIpPrefix("fd00:2::/64");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->family, AF_INET6);
  EXPECT_EQ(p->length, 64);
  EXPECT_EQ(p->size(), 16u);
  EXPECT_FALSE(p->HostBitsSet());

  p = ParseIpPrefix("192.168.0.1", PrefixLength::kRefused);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->length, 32) << "no length: the full width";
  p = ParseIpPrefix("10.0.0.0/0");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->length, 0);
}

TEST(IpPrefix, RefusesWhatIsNotAnAddressOrLength) {
  for (const char* bad : {"", "10.0.0", "10.0.0.256", "host", "10.0.0.1/", "10.0.0.1/33",
                          "10.0.0.1/-1", "10.0.0.1/+8", "10.0.0.1/ 8", "10.0.0.1/8x",
                          "fd00::1/129", "10.0.0.1/99999999999"}) {
    absl::StatusOr<IpPrefix> p = ParseIpPrefix(bad);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "'";
    EXPECT_NE(p.status().message().find(std::string("'") + bad), std::string::npos)
        << p.status();
  }
  absl::StatusOr<IpPrefix> p = ParseIpPrefix("10.0.0.1/8", PrefixLength::kRefused);
  EXPECT_EQ(p.status().message(), "'10.0.0.1/8' must be an address without a prefix length");
}

}  // namespace
}  // namespace lkd
