// SPDX-License-Identifier: GPL-2.0
#include "server/admin/roles.h"

#include <grp.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace lkd::admin {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kReader: return "reader";
    default: return "none";
  }
}

Role RoleOf(const RolePolicy& policy, uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
  auto member = [&](const std::optional<gid_t>& g) {
    return g && (gid == *g || std::find(groups.begin(), groups.end(), *g) != groups.end());
  };
  if (uid == 0 || member(policy.admin_gid)) return Role::kAdmin;
  if (member(policy.reader_gid)) return Role::kReader;
  return Role::kNone;
}

Role RoleOfCertificate(const CertPolicy& policy, const CertIdentity& id, std::string* matched) {
  std::vector<std::string> names = id.alt_names;
  if (!id.common_name.empty()) names.push_back(id.common_name);
  for (auto [role, list] : {std::pair{Role::kAdmin, &policy.admin_names},
                            std::pair{Role::kReader, &policy.reader_names}}) {
    for (const std::string& name : names) {
      if (std::find(list->begin(), list->end(), name) != list->end()) {
        *matched = name;
        return role;
      }
    }
  }
  *matched = !id.common_name.empty() ? id.common_name
             : names.empty()         ? std::string("(no name)")
                                     : names.front();
  return Role::kNone;
}

std::vector<gid_t> GroupsOf(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  std::vector<gid_t> groups;
  while (std::getline(status, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream in(line.substr(7));
    gid_t g;
    while (in >> g) groups.push_back(g);
    break;
  }
  return groups;
}

absl::StatusOr<gid_t> ResolveGroup(std::string_view group) {
  gid_t gid;
  if (absl::SimpleAtoi(absl::string_view(group.data(), group.size()), &gid)) return gid;
  std::string name(group);
  struct group entry, *found = nullptr;
  std::vector<char> buf(16384);
  int rc = getgrnam_r(name.c_str(), &entry, buf.data(), buf.size(), &found);
  if (rc != 0) return ErrnoStatus(rc, absl::StrCat("group '", name, "'"));
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("no group named '", name, "'"));
  return found->gr_gid;
}

}  // namespace lkd::admin
