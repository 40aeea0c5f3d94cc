// SPDX-License-Identifier: GPL-2.0
// Named network namespaces of lkd's kernel, as ip-netns(8) keeps them:
// each is held by a bind mount of its nsfs file on /run/netns/NAME inside
// the kernel, so it lives without any process in it, and any kernel task
// can enter it by that path.
//
// Threads: only the admin plane's kernel worker thread (kernel_worker.h).
// Entering a namespace switches that thread's own kernel task (setns
// affects the calling task only); the worker's other jobs and every
// client stay where they are.
#ifndef LKD_SERVER_ADMIN_NAMESPACES_H_
#define LKD_SERVER_ADMIN_NAMESPACES_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lkd::admin {

class NetnsTable {
 public:
  // Remembers the calling task's namespace (the initial one) as home.
  static absl::StatusOr<std::unique_ptr<NetnsTable>> Open();
  ~NetnsTable();
  NetnsTable(const NetnsTable&) = delete;
  NetnsTable& operator=(const NetnsTable&) = delete;

  // AlreadyExists if the name is taken; InvalidArgument for a name that is
  // not one path component.
  absl::Status Create(std::string_view name);
  absl::Status Delete(std::string_view name);
  absl::StatusOr<std::vector<std::string>> List();

  // Runs `body` with the calling task in namespace `name` ("": home), and
  // returns home afterwards. NotFound for an unknown name.
  absl::Status RunIn(std::string_view name, const std::function<absl::Status()>& body);

  // A kernel fd of namespace `name` ("": home), for IFLA_NET_NS_FD; the
  // caller closes it.
  absl::StatusOr<long> OpenFd(std::string_view name);

 private:
  explicit NetnsTable(long home) : home_(home) {}
  const long home_;  // kernel fd of the home namespace
};

// Moves the calling task into namespace `name` for good (a task made for
// one call and ended after it); NotFound for an unknown name.
absl::Status EnterNetns(std::string_view name);

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_NAMESPACES_H_
