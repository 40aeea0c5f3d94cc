// SPDX-License-Identifier: GPL-2.0
// What every admin service shares: the caller's role (stamped by the
// admin server when it accepted the connection), the kernel worker that
// runs the kernel work, the followed streams (feeds.h), the audit log of
// changes, and the facts lkd booted with. One Plane per AdminServer; services borrow it.
#ifndef LKD_SERVER_ADMIN_PLANE_H_
#define LKD_SERVER_ADMIN_PLANE_H_

#include <grpcpp/impl/codegen/service_type.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "schema/admin/v1/common.pb.h"
#include "schema/admin/v1/system.pb.h"
#include "server/admin/feeds.h"
#include "server/admin/kernel_worker.h"
#include "server/admin/namespaces.h"
#include "server/admin/roles.h"
#include "server/session/session_registry.h"

namespace lkd::admin {

// Auth-context properties the admin server stamps on every call.
inline constexpr char kRoleProperty[] = "lkd.role";
inline constexpr char kPeerProperty[] = "lkd.peer";  // "uid 0 pid 123", if verified
// "tls" on calls that came over the TCP listener (mutual TLS).
inline constexpr char kTransportProperty[] = "lkd.transport";
// Metadata lkctl sends with its host pid, which the admin server checks
// against the connections it accepted for that role (plane.h's Who).
inline constexpr char kClientPidMetadata[] = "lkd-client-pid";

// What lkd booted with, for System.GetSystem.
struct SystemFacts {
  std::vector<v1::Nic> nics;
  std::vector<v1::Disk> disks;
  absl::Time booted;
  std::vector<int> dispatch_cpus;  // lkd --dispatch_cpus, resolved
};

class Plane {
 public:
  Plane(KernelWorker& kernel, Feeds& feeds, server::SessionRegistry& sessions, SystemFacts facts,
        RolePolicy policy)
      : kernel_(kernel),
        feeds_(feeds),
        sessions_(sessions),
        facts_(std::move(facts)),
        policy_(policy) {}

  // A read: any role but none. `body` runs on the kernel worker's thread.
  grpc::Status Read(grpc::ServerContext* context, const v1::Target& target,
                    const std::function<absl::Status()>& body);
  // A change: admins only; logged with who asked and how it ended.
  grpc::Status Change(grpc::ServerContext* context, const v1::Target& target,
                      const std::string& what, const std::function<absl::Status()>& body);

  // A long read (a stream): any role but none. `body` runs on the calling
  // gRPC thread, bound for the call to a new task of the plane's kernel
  // process that enters the target's namespace, so that its blocking waits
  // hold neither the kernel worker nor anyone else.
  grpc::Status Stream(grpc::ServerContext* context, const v1::Target& target,
                      const std::function<absl::Status()>& body);

  // A followed stream (the kernel log, events): any role but none. The
  // reactor `follow` makes, or one that ends the call with the refusal.
  // Runs on gRPC's callback threads: must not wait.
  template <typename Msg>
  grpc::ServerWriteReactor<Msg>* Follow(
      grpc::CallbackServerContext* context,
      const std::function<grpc::ServerWriteReactor<Msg>*(std::string who)>& follow);

  Role RoleOfCall(const grpc::ServerContextBase* context) const;
  // "uid 0 pid 12 (admin)", "TLS client 'ops' (reader)": for lkd's log.
  std::string Who(const grpc::ServerContextBase* context) const;
  // The named namespaces; only inside a Read or Change body.
  NetnsTable& netns() { return *netns_; }
  server::SessionRegistry& sessions() { return sessions_; }
  Feeds& feeds() { return feeds_; }
  const SystemFacts& facts() const { return facts_; }

 private:
  grpc::Status Allowed(const grpc::ServerContextBase* context, bool change,
                       const std::string& what) const;
  // Runs `body` on the kernel worker, inside the target's namespace.
  absl::Status InKernel(const v1::Target& target, const std::function<absl::Status()>& body);

  KernelWorker& kernel_;
  Feeds& feeds_;
  server::SessionRegistry& sessions_;
  const SystemFacts facts_;
  const RolePolicy policy_;
  // Made by the kernel worker's thread on its first job (it remembers that
  // task's namespace as home); used on that thread only.
  std::unique_ptr<NetnsTable> netns_;
};

// A call refused before it reached a feed: ends at once with `status`.
template <typename Msg>
class Refused final : public grpc::ServerWriteReactor<Msg> {
 public:
  explicit Refused(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

template <typename Msg>
grpc::ServerWriteReactor<Msg>* Plane::Follow(
    grpc::CallbackServerContext* context,
    const std::function<grpc::ServerWriteReactor<Msg>*(std::string who)>& follow) {
  if (grpc::Status s = Allowed(context, false, "read"); !s.ok()) return new Refused<Msg>(s);
  return follow(Who(context));
}

// Every service of the API, borrowing `plane`.
std::vector<std::unique_ptr<grpc::Service>> MakeServices(Plane& plane);

}  // namespace lkd::admin

#endif  // LKD_SERVER_ADMIN_PLANE_H_
