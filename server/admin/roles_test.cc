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

TEST(Roles, CertificateNamesDecideOverTls) {
  const CertPolicy p{.admin_names = {"ops.example.com", "spiffe://lkd/admin"},
                     .reader_names = {"watcher"}};
  std::string who;
  EXPECT_EQ(RoleOfCertificate(p, {.alt_names = {"ops.example.com"}, .common_name = "x"}, &who),
            Role::kAdmin);
  EXPECT_EQ(who, "ops.example.com");
  EXPECT_EQ(RoleOfCertificate(p, {.alt_names = {"a", "spiffe://lkd/admin"}}, &who), Role::kAdmin);
  EXPECT_EQ(who, "spiffe://lkd/admin");
  EXPECT_EQ(RoleOfCertificate(p, {.common_name = "watcher"}, &who), Role::kReader);
  EXPECT_EQ(who, "watcher");
  // A reader name and an admin name on one certificate: the stronger wins.
  EXPECT_EQ(RoleOfCertificate(p, {.alt_names = {"watcher"}, .common_name = "ops.example.com"},
                              &who),
            Role::kAdmin);
  EXPECT_EQ(RoleOfCertificate(p, {.alt_names = {"other.example.com"}, .common_name = "stranger"},
                              &who),
            Role::kNone);
  EXPECT_EQ(who, "stranger");
  EXPECT_EQ(RoleOfCertificate({}, {.common_name = "ops.example.com"}, &who), Role::kNone);
  // Names are compared whole: no prefix or case folding.
  EXPECT_EQ(RoleOfCertificate(p, {.common_name = "OPS.example.com"}, &who), Role::kNone);
  EXPECT_EQ(RoleOfCertificate(p, {.common_name = "ops.example.com.evil"}, &who), Role::kNone);
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
