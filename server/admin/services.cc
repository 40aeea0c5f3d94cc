// SPDX-License-Identifier: GPL-2.0
// The admin API's services (schema/admin/v1): each handler checks the
// caller's role, then does its kernel work on the plane's kernel worker
// through the kernel's own interfaces (rtnetlink.h, kernel/setup's
// sysctls). Errors reach the wire through ToGrpcStatus only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/errno_status.h"
#include "kernel/setup/netlink.h"
#include "kernel/setup/setup.h"
#include "lkd/kernel.h"
#include "kernel/sys.h"
#include "schema/admin/v1/addresses.grpc.pb.h"
#include "schema/admin/v1/links.grpc.pb.h"
#include "schema/admin/v1/namespaces.grpc.pb.h"
#include "schema/admin/v1/neighbours.grpc.pb.h"
#include "schema/admin/v1/observe.grpc.pb.h"
#include "schema/admin/v1/routes.grpc.pb.h"
#include "schema/admin/v1/sessions.grpc.pb.h"
#include "schema/admin/v1/sockets.grpc.pb.h"
#include "schema/admin/v1/sysctl.grpc.pb.h"
#include "schema/admin/v1/system.grpc.pb.h"
#include "server/admin/grpc_status.h"
#include "server/admin/plane.h"
#include "server/admin/rtnetlink.h"
#include "server/admin/sockets.h"

namespace lkd::admin {

// What `lkd_version` reports.
constexpr char kLkdVersion[] = "lkd 0.1 (admin API lkd.admin.v1)";

// ---- the plane ----------------------------------------------------------

Role Plane::RoleOfCall(const grpc::ServerContextBase* context) const {
  auto auth = context->auth_context();
  if (auth == nullptr) return Role::kNone;
  for (const grpc::string_ref& v : auth->FindPropertyValues(kRoleProperty)) {
    std::string role(v.data(), v.size());
    if (role == "admin") return Role::kAdmin;
    if (role == "reader") return Role::kReader;
  }
  return Role::kNone;
}

std::string Plane::Who(const grpc::ServerContextBase* context) const {
  std::string who = "unverified peer";
  if (auto auth = context->auth_context()) {
    for (const grpc::string_ref& v : auth->FindPropertyValues(kPeerProperty))
      who = std::string(v.data(), v.size());
  }
  return absl::StrCat(who, " (", RoleName(RoleOfCall(context)), ")");
}

namespace {
// Whether the call came over the TCP listener (its role is a certificate's).
bool OverTls(const grpc::ServerContextBase* context) {
  auto auth = context->auth_context();
  return auth != nullptr && !auth->FindPropertyValues(kTransportProperty).empty();
}
}  // namespace

grpc::Status Plane::Allowed(const grpc::ServerContextBase* context, bool change,
                            const std::string& what) const {
  const Role role = RoleOfCall(context);
  const bool tls = OverTls(context);
  if (role == Role::kNone) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        tls ? "not allowed to use lkd's admin plane: the client certificate "
                              "carries none of lkd's admin or reader names "
                              "(admin_tls_admin_name, admin_tls_reader_name)"
                            : "not allowed to use lkd's admin plane: the caller is not root and "
                              "not in lkd's admin or reader group");
  }
  if (change && role != Role::kAdmin) {
    fprintf(stderr, "lkd: admin: refused to %s: %s may only read\n", what.c_str(),
            Who(context).c_str());
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("not allowed to ", what,
                     tls ? ": the client certificate has a reader name, which may only read; "
                           "changes need an admin name"
                         : ": the caller is in lkd's reader group, which may only "
                           "read; changes need root or the admin group"));
  }
  return grpc::Status::OK;
}

absl::Status Plane::InKernel(const v1::Target& target, const std::function<absl::Status()>& body) {
  absl::Status result;
  absl::Status ran = kernel_.Run([&] {
    if (netns_ == nullptr) {
      auto table = NetnsTable::Open();
      if (!table.ok()) {
        result = table.status();
        return;
      }
      netns_ = std::move(*table);
    }
    result = netns_->RunIn(target.netns(), body);
  });
  return ran.ok() ? result : ran;
}

grpc::Status Plane::Read(grpc::ServerContext* context, const v1::Target& target,
                         const std::function<absl::Status()>& body) {
  if (grpc::Status s = Allowed(context, false, "read"); !s.ok()) return s;
  return ToGrpcStatus(InKernel(target, body));
}

grpc::Status Plane::Change(grpc::ServerContext* context, const v1::Target& target,
                           const std::string& what, const std::function<absl::Status()>& body) {
  if (grpc::Status s = Allowed(context, true, what); !s.ok()) return s;
  const std::string where =
      target.netns().empty() ? what : absl::StrCat(what, " in netns ", target.netns());
  absl::Status result = InKernel(target, body);
  // The audit trail: every change, who asked, and how it ended (a
  // failure's message names the change itself).
  fprintf(stderr, "lkd: admin: %s: %s\n", Who(context).c_str(),
          result.ok() ? (where + ": done").c_str()
                      : ("failed to " + std::string(result.message())).c_str());
  return ToGrpcStatus(result);
}

grpc::Status Plane::Stream(grpc::ServerContext* context, const v1::Target& target,
                           const std::function<absl::Status()>& body) {
  if (grpc::Status s = Allowed(context, false, "read"); !s.ok()) return s;
  int tid = lkd_bind(kernel_.pid());
  if (tid < 0) return ToGrpcStatus(SysStatus(tid, "bind to the admin plane's kernel process"));
  // The task is this call's alone and ends with it: it need not come back.
  absl::Status result = target.netns().empty() ? absl::OkStatus() : EnterNetns(target.netns());
  if (result.ok()) result = body();
  lkd_unbind();
  return ToGrpcStatus(result);
}

namespace {

// ---- System -------------------------------------------------------------

// The kernel's own idea of itself, from its uname(2) and /proc.
absl::Status KernelFacts(v1::GetSystemResponse* r) {
  struct utsname u {};  // the generic ABI's new_utsname has the same layout
  if (long rc = Sys(LKD_NR_uname, &u); rc < 0) return SysStatus(rc, "uname");
  r->set_kernel_release(u.release);
  r->set_kernel_version(u.version);
  for (const char* path : {"/proc/cmdline", "/proc/uptime"}) {
    long fd = Sys(LKD_NR_openat, kAtFdCwd, path, 0 /* O_RDONLY */, 0);
    if (fd < 0) return SysStatus(fd, absl::StrCat("open ", path));
    char buf[4096];
    long n = Sys(LKD_NR_read, fd, buf, sizeof(buf) - 1);
    Sys(LKD_NR_close, fd);
    if (n < 0) return SysStatus(n, absl::StrCat("read ", path));
    std::string text(buf, n);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (std::string(path) == "/proc/cmdline") {
      r->set_kernel_cmdline(text);
    } else {
      r->set_kernel_uptime_ms(static_cast<uint64_t>(strtod(text.c_str(), nullptr) * 1000));
    }
  }
  return absl::OkStatus();
}

class SystemService final : public v1::System::Service {
 public:
  explicit SystemService(Plane& plane) : plane_(plane) {}
  grpc::Status GetSystem(grpc::ServerContext* c, const v1::GetSystemRequest* req,
                         v1::GetSystemResponse* resp) override {
    return plane_.Read(c, req->target(), [&] {
      resp->set_lkd_version(kLkdVersion);
      resp->set_uptime_ms(absl::ToInt64Milliseconds(absl::Now() - plane_.facts().booted));
      for (const v1::Nic& n : plane_.facts().nics) *resp->add_nics() = n;
      for (const v1::Disk& d : plane_.facts().disks) *resp->add_disks() = d;
      for (int cpu : plane_.facts().dispatch_cpus) resp->add_dispatch_cpus(cpu);
      resp->set_sessions(plane_.sessions().size());
      resp->set_role(RoleName(plane_.RoleOfCall(c)));
      return KernelFacts(resp);
    });
  }

 private:
  Plane& plane_;
};

// ---- Sysctl -------------------------------------------------------------

class SysctlService final : public v1::Sysctl::Service {
 public:
  explicit SysctlService(Plane& plane) : plane_(plane) {}
  grpc::Status GetSysctl(grpc::ServerContext* c, const v1::GetSysctlRequest* req,
                         v1::GetSysctlResponse* resp) override {
    return plane_.Read(c, req->target(), [&]() -> absl::Status {
      auto value = setup::GetSysctl(req->name());
      if (!value.ok()) return value.status();
      resp->mutable_entry()->set_name(req->name());
      resp->mutable_entry()->set_value(*value);
      return absl::OkStatus();
    });
  }
  grpc::Status SetSysctl(grpc::ServerContext* c, const v1::SetSysctlRequest* req,
                         v1::SetSysctlResponse* resp) override {
    return plane_.Change(c, req->target(),
                         absl::StrCat("set sysctl ", req->name(), " = ", req->value()),
                         [&]() -> absl::Status {
                           if (auto s = setup::SetSysctl(req->name(), req->value()); !s.ok())
                             return s;
                           auto value = setup::GetSysctl(req->name());
                           resp->mutable_entry()->set_name(req->name());
                           resp->mutable_entry()->set_value(value.ok() ? *value : req->value());
                           return absl::OkStatus();
                         });
  }
  grpc::Status ListSysctls(grpc::ServerContext* c, const v1::ListSysctlsRequest* req,
                           v1::ListSysctlsResponse* resp) override {
    return plane_.Read(c, req->target(), [&]() -> absl::Status {
      auto list = setup::ListSysctls(req->prefix());
      if (!list.ok()) return list.status();
      for (auto& [name, value] : *list) {
        v1::SysctlEntry* e = resp->add_entries();
        e->set_name(name);
        e->set_value(value);
      }
      return absl::OkStatus();
    });
  }

 private:
  Plane& plane_;
};

// ---- Links, Addresses, Routes, Neighbours --------------------------------

// Moves a list into a repeated field.
template <typename T, typename Field>
absl::Status Fill(absl::StatusOr<std::vector<T>> list, Field* field) {
  if (!list.ok()) return list.status();
  for (T& item : *list) *field->Add() = std::move(item);
  return absl::OkStatus();
}

class LinksService final : public v1::Links::Service {
 public:
  explicit LinksService(Plane& plane) : plane_(plane) {}
  grpc::Status ListLinks(grpc::ServerContext* c, const v1::ListLinksRequest* req,
                         v1::ListLinksResponse* resp) override {
    return plane_.Read(c, req->target(),
                       [&] { return Fill(admin::ListLinks(req->name()), resp->mutable_links()); });
  }
  grpc::Status SetLink(grpc::ServerContext* c, const v1::SetLinkRequest* req,
                       v1::SetLinkResponse* resp) override {
    std::string what = absl::StrCat("set link ", req->name());
    if (req->state() != v1::LINK_STATE_UNSPECIFIED)
      absl::StrAppend(&what, req->state() == v1::LINK_STATE_UP ? " up" : " down");
    if (req->mtu() != 0) absl::StrAppend(&what, " mtu ", req->mtu());
    if (!req->address().empty()) absl::StrAppend(&what, " address ", req->address());
    return plane_.Change(c, req->target(), what, [&]() -> absl::Status {
      if (auto s = admin::SetLink(*req); !s.ok()) return s;
      auto after = admin::ListLinks(req->name());
      if (after.ok() && !after->empty()) *resp->mutable_link() = (*after)[0];
      return absl::OkStatus();
    });
  }

 private:
  Plane& plane_;
};

class AddressesService final : public v1::Addresses::Service {
 public:
  explicit AddressesService(Plane& plane) : plane_(plane) {}
  grpc::Status ListAddresses(grpc::ServerContext* c, const v1::ListAddressesRequest* req,
                             v1::ListAddressesResponse* resp) override {
    return plane_.Read(c, req->target(), [&] {
      return Fill(admin::ListAddresses(req->link(), req->family()), resp->mutable_addresses());
    });
  }
  grpc::Status AddAddress(grpc::ServerContext* c, const v1::AddAddressRequest* req,
                          v1::AddAddressResponse*) override {
    return plane_.Change(c, req->target(),
                         absl::StrCat("add address ", req->cidr(), " dev ", req->link()),
                         [&] { return admin::AddAddress(req->link(), req->cidr()); });
  }
  grpc::Status DeleteAddress(grpc::ServerContext* c, const v1::DeleteAddressRequest* req,
                             v1::DeleteAddressResponse*) override {
    return plane_.Change(c, req->target(),
                         absl::StrCat("delete address ", req->cidr(), " dev ", req->link()),
                         [&] { return admin::DeleteAddress(req->link(), req->cidr()); });
  }

 private:
  Plane& plane_;
};

class RoutesService final : public v1::Routes::Service {
 public:
  explicit RoutesService(Plane& plane) : plane_(plane) {}
  grpc::Status ListRoutes(grpc::ServerContext* c, const v1::ListRoutesRequest* req,
                          v1::ListRoutesResponse* resp) override {
    return plane_.Read(c, req->target(), [&] {
      return Fill(admin::ListRoutes(req->family(), req->table()), resp->mutable_routes());
    });
  }
  grpc::Status AddRoute(grpc::ServerContext* c, const v1::AddRouteRequest* req,
                        v1::AddRouteResponse*) override {
    return plane_.Change(c, req->target(),
                         absl::StrCat(req->replace() ? "replace" : "add", " route ",
                                      DescribeRoute(req->route())),
                         [&] { return admin::AddRoute(req->route(), req->replace()); });
  }
  grpc::Status DeleteRoute(grpc::ServerContext* c, const v1::DeleteRouteRequest* req,
                           v1::DeleteRouteResponse*) override {
    return plane_.Change(c, req->target(), absl::StrCat("delete route ", DescribeRoute(req->route())),
                         [&] { return admin::DeleteRoute(req->route()); });
  }

 private:
  Plane& plane_;
};

class NeighboursService final : public v1::Neighbours::Service {
 public:
  explicit NeighboursService(Plane& plane) : plane_(plane) {}
  grpc::Status ListNeighbours(grpc::ServerContext* c, const v1::ListNeighboursRequest* req,
                              v1::ListNeighboursResponse* resp) override {
    return plane_.Read(c, req->target(), [&] {
      return Fill(admin::ListNeighbours(req->dev()), resp->mutable_neighbours());
    });
  }
  grpc::Status AddNeighbour(grpc::ServerContext* c, const v1::AddNeighbourRequest* req,
                            v1::AddNeighbourResponse*) override {
    return plane_.Change(
        c, req->target(),
        absl::StrCat(req->replace() ? "replace" : "add", " neighbour ", req->dst(), " lladdr ",
                     req->lladdr(), " dev ", req->dev()),
        [&] { return admin::AddNeighbour(req->dst(), req->dev(), req->lladdr(), req->replace()); });
  }
  grpc::Status DeleteNeighbour(grpc::ServerContext* c, const v1::DeleteNeighbourRequest* req,
                               v1::DeleteNeighbourResponse*) override {
    return plane_.Change(c, req->target(),
                         absl::StrCat("delete neighbour ", req->dst(), " dev ", req->dev()),
                         [&] { return admin::DeleteNeighbour(req->dst(), req->dev()); });
  }

 private:
  Plane& plane_;
};

// ---- Sessions -----------------------------------------------------------

// The open fds of a session's kernel process, counted in the kernel's own
// /proc (0 if the process is gone meanwhile). On the kernel worker.
uint32_t OpenFds(int kernel_pid) {
  auto fds = setup::ListDirectory(absl::StrCat("/proc/", kernel_pid, "/fd"));
  return fds.ok() ? static_cast<uint32_t>(fds->size()) : 0;
}

class SessionsService final : public v1::Sessions::Service {
 public:
  explicit SessionsService(Plane& plane) : plane_(plane) {}
  grpc::Status ListSessions(grpc::ServerContext* c, const v1::ListSessionsRequest* req,
                            v1::ListSessionsResponse* resp) override {
    return plane_.Read(c, req->target(), [&] {
      for (const server::SessionInfo& s : plane_.sessions().Snapshot()) {
        v1::Session* out = resp->add_sessions();
        out->set_kernel_pid(s.kernel_pid);
        out->set_host_pid(s.host_pid);
        out->set_uid(s.uid);
        out->set_gid(s.gid);
        out->set_threads(s.threads);
        out->set_calls(s.calls);
        out->set_start_time_unix_ms(absl::ToUnixMillis(s.started));
        out->set_open_fds(OpenFds(s.kernel_pid));
        out->set_bytes_sent(s.bytes_sent);
        out->set_bytes_received(s.bytes_received);
      }
      return absl::OkStatus();
    });
  }
  grpc::Status KillSession(grpc::ServerContext* c, const v1::KillSessionRequest* req,
                           v1::KillSessionResponse*) override {
    return plane_.Change(c, req->target(), absl::StrCat("kill session ", req->kernel_pid()),
                         [&] { return plane_.sessions().Kill(req->kernel_pid()); });
  }

 private:
  Plane& plane_;
};

// ---- Namespaces -----------------------------------------------------------

class NamespacesService final : public v1::Namespaces::Service {
 public:
  explicit NamespacesService(Plane& plane) : plane_(plane) {}
  grpc::Status ListNamespaces(grpc::ServerContext* c, const v1::ListNamespacesRequest*,
                              v1::ListNamespacesResponse* resp) override {
    return plane_.Read(c, {}, [&]() -> absl::Status {
      auto names = plane_.netns().List();
      if (!names.ok()) return names.status();
      for (std::string& n : *names) resp->add_names(std::move(n));
      return absl::OkStatus();
    });
  }
  grpc::Status CreateNamespace(grpc::ServerContext* c, const v1::CreateNamespaceRequest* req,
                               v1::CreateNamespaceResponse*) override {
    return plane_.Change(c, {}, absl::StrCat("create netns ", req->name()),
                         [&] { return plane_.netns().Create(req->name()); });
  }
  grpc::Status DeleteNamespace(grpc::ServerContext* c, const v1::DeleteNamespaceRequest* req,
                               v1::DeleteNamespaceResponse*) override {
    return plane_.Change(c, {}, absl::StrCat("delete netns ", req->name()),
                         [&] { return plane_.netns().Delete(req->name()); });
  }
  grpc::Status MoveLink(grpc::ServerContext* c, const v1::MoveLinkRequest* req,
                        v1::MoveLinkResponse*) override {
    return plane_.Change(
        c, req->target(),
        absl::StrCat("move link ", req->link(), " to netns ",
                     req->to_netns().empty() ? "(initial)" : req->to_netns()),
        [&]() -> absl::Status {
          absl::StatusOr<long> fd = plane_.netns().OpenFd(req->to_netns());
          if (!fd.ok()) return fd.status();
          absl::Status moved = admin::MoveLink(req->link(), *fd);
          Sys(LKD_NR_close, *fd);
          return moved;
        });
  }

 private:
  Plane& plane_;
};

// ---- Sockets --------------------------------------------------------------

class SocketsService final : public v1::Sockets::Service {
 public:
  explicit SocketsService(Plane& plane) : plane_(plane) {}
  grpc::Status ListSockets(grpc::ServerContext* c, const v1::ListSocketsRequest* req,
                           v1::ListSocketsResponse* resp) override {
    return plane_.Read(c, req->target(), [&] {
      return Fill(admin::ListSockets(*req, plane_.sessions().Snapshot()), resp->mutable_sockets());
    });
  }

 private:
  Plane& plane_;
};

// ---- Observe ---------------------------------------------------------------

class ObserveService final
    : public v1::Observe::WithCallbackMethod_StreamKernelLog<
          v1::Observe::WithCallbackMethod_WatchEvents<v1::Observe::Service>> {
 public:
  explicit ObserveService(Plane& plane) : plane_(plane) {}
  // Followed streams: callback reactors on the plane's feeds, so that a
  // follower holds no thread (feeds.h).
  grpc::ServerWriteReactor<v1::KernelLogRecord>* StreamKernelLog(
      grpc::CallbackServerContext* c, const v1::StreamKernelLogRequest* req) override {
    return plane_.Follow<v1::KernelLogRecord>(
        c, [&](std::string who) { return plane_.feeds().KernelLog(*req, std::move(who)); });
  }
  grpc::ServerWriteReactor<v1::Event>* WatchEvents(grpc::CallbackServerContext* c,
                                                   const v1::WatchEventsRequest* req) override {
    return plane_.Follow<v1::Event>(
        c, [&](std::string who) { return plane_.feeds().Events(*req, std::move(who)); });
  }

  grpc::Status CaptureLink(grpc::ServerContext* c, const v1::CaptureLinkRequest* req,
                           grpc::ServerWriter<v1::CapturedFrame>* writer) override {
    return plane_.Stream(c, req->target(), [&]() -> absl::Status {
      const std::string what = absl::StrCat("capture on ", req->link());
      absl::StatusOr<int> index = setup::LinkIndex(req->link());
      if (!index.ok()) return WithErrno(index.status(), ENODEV);
      setup::KernelFd fd(Sys(LKD_NR_socket, AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                             htons(ETH_P_ALL)));
      if (!fd.ok()) return SysStatus(fd.get(), what);
      sockaddr_ll at{};
      at.sll_family = AF_PACKET;
      at.sll_protocol = htons(ETH_P_ALL);
      at.sll_ifindex = *index;
      if (long rc = Sys(LKD_NR_bind, fd.get(), &at, sizeof(at)); rc < 0) return SysStatus(rc, what);
      writer->SendInitialMetadata();  // bound: the caller may start its traffic
      const bool loopback = req->link() == "lo";
      const size_t snaplen = req->snaplen() ? req->snaplen() : 65535;
      std::vector<char> buf(65536);
      uint32_t sent = 0;
      while (!c->IsCancelled() && (req->count() == 0 || sent < req->count())) {
        sockaddr_ll from{};
        uint32_t from_len = sizeof(from);
        long n = Sys(LKD_NR_recvfrom, fd.get(), buf.data(), buf.size(), MSG_TRUNC, &from,
                     &from_len);
        if (n == -EAGAIN) {
          // Host-side polling, as for the kernel log (kernel waits with a
          // timeout do not return here); the socket's buffer holds what
          // arrives meanwhile.
          absl::SleepFor(absl::Milliseconds(5));
          continue;
        }
        if (n < 0) return SysStatus(n, what);
        // On a loopback link every frame passes twice, out and in; keep
        // one, as libpcap does.
        if (loopback && from.sll_pkttype == PACKET_OUTGOING) continue;
        v1::CapturedFrame frame;
        frame.set_timestamp_us(absl::ToUnixMicros(absl::Now()));
        frame.set_length(static_cast<uint32_t>(n));
        frame.set_data(buf.data(), std::min({static_cast<size_t>(n), snaplen, buf.size()}));
        if (!writer->Write(frame)) return absl::OkStatus();
        sent++;
      }
      return absl::OkStatus();
    });
  }

  grpc::Status GetMetrics(grpc::ServerContext* c, const v1::GetMetricsRequest* req,
                          v1::GetMetricsResponse* resp) override {
    return plane_.Read(c, req->target(), [&]() -> absl::Status {
      auto links = admin::ListLinks("");
      if (!links.ok()) return links.status();
      std::string& t = *resp->mutable_text();
      auto family = [&](const char* name, const char* type, const char* help) {
        absl::StrAppend(&t, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
      };
      family("lkd_uptime_seconds", "gauge", "Time since lkd booted its kernel.");
      absl::StrAppend(&t, "lkd_uptime_seconds ",
                      absl::ToDoubleSeconds(absl::Now() - plane_.facts().booted), "\n");
      const std::vector<server::SessionInfo> sessions = plane_.sessions().Snapshot();
      family("lkd_sessions", "gauge", "Clients attached now.");
      absl::StrAppend(&t, "lkd_sessions ", sessions.size(), "\n");
      auto labels = [](const server::SessionInfo& s) {
        return absl::StrCat("{kernel_pid=\"", s.kernel_pid, "\",host_pid=\"", s.host_pid,
                            "\",uid=\"", s.uid, "\"}");
      };
      family("lkd_session_calls_total", "counter", "System calls served per session.");
      for (const auto& s : sessions)
        absl::StrAppend(&t, "lkd_session_calls_total", labels(s), " ", s.calls, "\n");
      family("lkd_session_bytes_sent_total", "counter",
             "Data a session wrote or sent into lkd (write, send*, pwrite), in bytes.");
      for (const auto& s : sessions)
        absl::StrAppend(&t, "lkd_session_bytes_sent_total", labels(s), " ", s.bytes_sent, "\n");
      family("lkd_session_bytes_received_total", "counter",
             "Data a session read or received from lkd (read, recv*, pread), in bytes.");
      for (const auto& s : sessions)
        absl::StrAppend(&t, "lkd_session_bytes_received_total", labels(s), " ",
                        s.bytes_received, "\n");
      family("lkd_session_threads", "gauge", "Channels (client threads) per session.");
      for (const auto& s : sessions)
        absl::StrAppend(&t, "lkd_session_threads", labels(s), " ", s.threads, "\n");
      family("lkd_session_open_fds", "gauge", "Open file descriptors per session.");
      for (const auto& s : sessions)
        absl::StrAppend(&t, "lkd_session_open_fds", labels(s), " ", OpenFds(s.kernel_pid), "\n");
      // Every channel call, from the request taken to its answer published.
      family("lkd_call_latency_seconds", "histogram",
             "Channel calls by the time lkd took to answer them (blocking calls count "
             "their wait).");
      const server::CallLatency::Snapshot latency = plane_.sessions().latency().Take();
      uint64_t cumulative = 0;
      for (size_t b = 0; b < latency.buckets.size(); b++) {
        cumulative += latency.buckets[b];
        const std::string le = b < server::CallLatency::kBoundsNs.size()
                                   ? absl::StrCat(server::CallLatency::kBoundsNs[b] / 1e9)
                                   : "+Inf";
        absl::StrAppend(&t, "lkd_call_latency_seconds_bucket{le=\"", le, "\"} ", cumulative,
                        "\n");
      }
      absl::StrAppend(&t, "lkd_call_latency_seconds_sum ", latency.sum_seconds, "\n",
                      "lkd_call_latency_seconds_count ", latency.count, "\n");
      family("lkd_client_wakes_total", "counter",
             "Clients woken from a sleep for their answer, by who woke them: the thread "
             "that completed the call, or the waker thread (while many are busy).");
      const server::ClientWakes& wakes = plane_.sessions().wakes();
      absl::StrAppend(&t, "lkd_client_wakes_total{by=\"answering_thread\"} ",
                      wakes.by_answering_thread.load(std::memory_order_relaxed), "\n",
                      "lkd_client_wakes_total{by=\"waker\"} ",
                      wakes.by_waker.load(std::memory_order_relaxed), "\n");
      const Feeds& feeds = plane_.feeds();
      family("lkd_admin_subscribers", "gauge", "Followers of a stream (dmesg -w, monitor).");
      absl::StrAppend(&t, "lkd_admin_subscribers{stream=\"kernel_log\"} ",
                      feeds.kernel_log().subscribers(), "\n",
                      "lkd_admin_subscribers{stream=\"events\"} ", feeds.events().subscribers(),
                      "\n");
      family("lkd_admin_subscribers_dropped_total", "counter",
             "Followers dropped because they fell too far behind.");
      absl::StrAppend(&t, "lkd_admin_subscribers_dropped_total{stream=\"kernel_log\"} ",
                      feeds.kernel_log().dropped(), "\n",
                      "lkd_admin_subscribers_dropped_total{stream=\"events\"} ",
                      feeds.events().dropped(), "\n");
      struct Counter {
        const char* name;
        const char* help;
        uint64_t (v1::LinkStats::*get)() const;
      };
      const Counter counters[] = {
          {"lkd_link_rx_bytes_total", "Bytes received per link.", &v1::LinkStats::rx_bytes},
          {"lkd_link_tx_bytes_total", "Bytes sent per link.", &v1::LinkStats::tx_bytes},
          {"lkd_link_rx_packets_total", "Packets received per link.", &v1::LinkStats::rx_packets},
          {"lkd_link_tx_packets_total", "Packets sent per link.", &v1::LinkStats::tx_packets},
          {"lkd_link_rx_dropped_total", "Received packets dropped per link.",
           &v1::LinkStats::rx_dropped},
          {"lkd_link_tx_dropped_total", "Packets to send dropped per link.",
           &v1::LinkStats::tx_dropped},
      };
      for (const Counter& k : counters) {
        family(k.name, "counter", k.help);
        for (const v1::Link& l : *links)
          absl::StrAppend(&t, k.name, "{link=\"", l.name(), "\"} ", (l.stats().*k.get)(), "\n");
      }
      return absl::OkStatus();
    });
  }

 private:
  Plane& plane_;
};

}  // namespace

std::vector<std::unique_ptr<grpc::Service>> MakeServices(Plane& plane) {
  std::vector<std::unique_ptr<grpc::Service>> services;
  services.push_back(std::make_unique<SystemService>(plane));
  services.push_back(std::make_unique<SysctlService>(plane));
  services.push_back(std::make_unique<LinksService>(plane));
  services.push_back(std::make_unique<AddressesService>(plane));
  services.push_back(std::make_unique<RoutesService>(plane));
  services.push_back(std::make_unique<NeighboursService>(plane));
  services.push_back(std::make_unique<SessionsService>(plane));
  services.push_back(std::make_unique<NamespacesService>(plane));
  services.push_back(std::make_unique<ObserveService>(plane));
  services.push_back(std::make_unique<SocketsService>(plane));
  return services;
}

}  // namespace lkd::admin
