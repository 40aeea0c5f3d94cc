// SPDX-License-Identifier: GPL-2.0
#include "server/admin/roles.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace lkd::admin {
namespace {

TEST(Roles, RootIsAdminWhateverTheGroups) {
  EXPECT_EQ(RoleOf({}, 0, 0, {}), Role::kAdmin);
}

TEST(Roles, GroupsDecideForOthers) {
  RolePolicy p{.admin_gid = 1001, .reader_gid = 1002};
  EXPECT_EQ(RoleOf(p, 1000, 1001, {}), Role::kAdmin);       // primary group
  EXPECT_EQ(RoleOf(p, 1000, 100, {5, 1001}), Role::kAdmin);  // supplementary
  EXPECT_EQ(RoleOf(p, 1000, 100, {1002}), Role::kReader);
  EXPECT_EQ(RoleOf(p, 1000, 1002, {1001}), Role::kAdmin);   // the stronger wins
  EXPECT_EQ(RoleOf(p, 65534, 65534, {}), Role::kNone);
  EXPECT_EQ(RoleOf({}, 1000, 1001, {1002}), Role::kNone);   // no groups configured
}

TEST(Roles, GroupsOfThisProcess) {
  std::vector<gid_t> groups = GroupsOf(getpid());
  gid_t list[256];
  int n = getgroups(256, list);
  ASSERT_GE(n, 0);
  EXPECT_EQ(groups, std::vector<gid_t>(list, list + n));
}

TEST(Roles, ResolveGroup) {
  EXPECT_EQ(*ResolveGroup("0"), 0u);
  EXPECT_EQ(*ResolveGroup("root"), 0u);
  EXPECT_EQ(ResolveGroup("no-such-group-lkd").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace lkd::admin
