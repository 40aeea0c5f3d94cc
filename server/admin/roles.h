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

// Who may use the admin plane over TCP: the names a client certificate
// (verified against lkd's client CA) must carry to be an admin or a
// reader. A verified certificate with none of them gets the none role,
// refused on every call, as an unknown local peer is.
struct CertPolicy {
  std::vector<std::string> admin_names;
  std::vector<std::string> reader_names;
};

// The names a verified client certificate carries: its SAN DNS names and
// URIs, and its subject CN.
struct CertIdentity {
  std::vector<std::string> alt_names;
  std::string common_name;
};

// The role of a certificate; `matched` gets the name that decided it (for
// the audit log), else the CN. A SAN and the CN count alike, because a
// CA that fills only one of them is common; admin wins over reader.
Role RoleOfCertificate(const CertPolicy& policy, const CertIdentity& id, std::string* matched);

// The supplementary groups of host process `pid` (the "Groups:" line of
// /proc/PID/status); empty if it is gone.
std::vector<gid_t> GroupsOf(pid_t pid);

// A group given by name or number ("lkdadm", "1001"). NotFound for an
// unknown name.
absl::StatusOr<gid_t> ResolveGroup(std::string_view group);

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_ROLES_H_
