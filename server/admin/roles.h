// SPDX-License-Identifier: GPL-2.0
// Who may use the admin plane: a local peer's credentials (SO_PEERCRED,
// and its supplementary groups from /proc) decide its role once, when lkd
// accepts its connection. Root and members of the admin group may change
// things; members of the reader group may only read; anyone else is
// accepted too, so that every call of theirs gets a clear
// PERMISSION_DENIED rather than a dropped connection.
#ifndef LKD_SERVER_ADMIN_ROLES_H_
#define LKD_SERVER_ADMIN_ROLES_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lkd::admin {

enum class Role { kNone, kReader, kAdmin };

const char* RoleName(Role role);  // "none", "reader", "admin"

struct RolePolicy {
  std::optional<gid_t> admin_gid;   // members may change things
  std::optional<gid_t> reader_gid;  // members may read
};

// The role of a peer with uid `uid`, primary gid `gid` and supplementary
// groups `groups`.
Role RoleOf(const RolePolicy& policy, uid_t uid, gid_t gid, const std::vector<gid_t>& groups);

// The supplementary groups of host process `pid` (the "Groups:" line of
// /proc/PID/status); empty if it is gone.
std::vector<gid_t> GroupsOf(pid_t pid);

// A group given by name or number ("lkdadm", "1001"). NotFound for an
// unknown name.
absl::StatusOr<gid_t> ResolveGroup(std::string_view group);

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_ROLES_H_
