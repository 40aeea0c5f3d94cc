// SPDX-License-Identifier: GPL-2.0
#include "server/admin/admin_server.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/errno_status.h"
#include "common/host_file.h"
#include "common/unix_listener.h"

namespace lkd::admin {
namespace {

// Peers accepted lately, so that a call's claimed host pid can be checked
// against the credentials lkd itself read for that role's connections.
// gRPC gives the metadata processor no way to know which connection a
// call came on; the role is certain (one acceptor per role), the identity
// in the audit log is as good as this check: a pid that some accepted
// peer of the same role has.
class RecentPeers {
 public:
  void Add(const ucred& cred, Role role) {
    absl::MutexLock lock(&mu_);
    peers_.push_back({cred, role});
    if (peers_.size() > kMax) peers_.pop_front();
  }
  // "uid U pid P" if a peer of `role` with host pid `pid` was accepted.
  std::string Verify(int pid, Role role) const {
    absl::MutexLock lock(&mu_);
    for (auto it = peers_.rbegin(); it != peers_.rend(); ++it)
      if (it->cred.pid == pid && it->role == role)
        return absl::StrCat("uid ", it->cred.uid, " pid ", it->cred.pid);
    return "";
  }

 private:
  static constexpr size_t kMax = 1024;
  struct Peer {
    ucred cred;
    Role role;
  };
  mutable absl::Mutex mu_;
  std::deque<Peer> peers_ ABSL_GUARDED_BY(mu_);
};

// Stamps the role of its acceptor, and the verified peer, on each call.
class RoleStamp final : public grpc::AuthMetadataProcessor {
 public:
  RoleStamp(Role role, const RecentPeers& peers) : role_(role), peers_(peers) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata*, OutputMetadata*) override {
    context->AddProperty(kRoleProperty, RoleName(role_));
    auto it = metadata.find(kClientPidMetadata);
    int pid;
    if (it != metadata.end() &&
        absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &pid)) {
      std::string who = peers_.Verify(pid, role_);
      if (!who.empty()) context->AddProperty(kPeerProperty, who);
    }
    return grpc::Status::OK;
  }

 private:
  const Role role_;
  const RecentPeers& peers_;
};

// Stamps the role a TCP client's verified certificate earns (roles.h),
// and who it is, on each call. gRPC has checked the certificate against
// the client CA before any call: a client without one, or with one of
// another CA, never gets this far.
class CertStamp final : public grpc::AuthMetadataProcessor {
 public:
  explicit CertStamp(CertPolicy policy) : policy_(std::move(policy)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata&, grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    CertIdentity id;
    for (const char* property :
         {GRPC_X509_SAN_PROPERTY_NAME, GRPC_PEER_DNS_PROPERTY_NAME, GRPC_PEER_URI_PROPERTY_NAME})
      for (const grpc::string_ref& v : context->FindPropertyValues(property))
        id.alt_names.emplace_back(v.data(), v.size());
    for (const grpc::string_ref& v : context->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME))
      id.common_name.assign(v.data(), v.size());
    std::string name;
    const Role role = RoleOfCertificate(policy_, id, &name);
    context->AddProperty(kRoleProperty, RoleName(role));
    context->AddProperty(kPeerProperty, absl::StrCat("TLS client '", name, "'"));
    context->AddProperty(kTransportProperty, "tls");
    return grpc::Status::OK;
  }

 private:
  const CertPolicy policy_;
};

// Checks a TLS file before gRPC gets it: gRPC reads it on its own thread
// and only logs what is wrong, so a typo would show as every handshake
// failing, not as lkd refusing to start.
absl::Status CheckPemFile(const std::string& path, const char* what) {
  absl::StatusOr<std::string> text = ReadHostFile(path);
  if (!text.ok()) return ErrnoStatus(ErrnoOf(text.status()), absl::StrCat(what, " ", path));
  if (text->find("-----BEGIN ") == std::string::npos)
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": not a PEM file"));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckTlsFiles(const TlsListenOptions& tls) {
  for (auto [path, what] : {std::pair{&tls.cert_path, "admin_tls_cert"},
                            std::pair{&tls.key_path, "admin_tls_key"},
                            std::pair{&tls.client_ca_path, "admin_tls_client_ca"}})
    if (absl::Status s = CheckPemFile(*path, what); !s.ok()) return s;
  return absl::OkStatus();
}

namespace {

// The TCP listener's credentials: mutual TLS, the client's certificate
// required and verified against the client CA; the files watched, so that
// a rotated certificate, key or CA is taken without a restart.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(
    const TlsListenOptions& tls) {
  if (absl::Status s = CheckTlsFiles(tls); !s.ok()) return s;
  auto files = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key_path, tls.cert_path, tls.client_ca_path, std::max(1u, tls.reload_interval_s));
  grpc::experimental::TlsServerCredentialsOptions options(files);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::experimental::TlsServerCredentials(options);
  if (creds == nullptr) return absl::InternalError("admin_listen: gRPC made no TLS credentials");
  creds->SetAuthMetadataProcessor(std::make_shared<CertStamp>(tls.policy));
  return creds;
}

// Serves grpc.reflection.v1alpha on every server built from now on, so
// that generic tools can list and describe the API. The plugin goes on a
// process-wide list in gRPC: added once, however many servers start.
void EnableReflection() {
  static const bool enabled = [] {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    return true;
  }();
  (void)enabled;
}

// The admin socket's backlog: admin clients are few (lkctl, monitoring).
constexpr int kAdminBacklog = 64;

}  // namespace

class AdminServer::Impl {
 public:
  Impl(AdminOptions options, std::unique_ptr<KernelWorker> kernel, std::unique_ptr<Feeds> feeds,
       SystemFacts facts, server::SessionRegistry& sessions)
      : options_(std::move(options)),
        kernel_(std::move(kernel)),
        feeds_(std::move(feeds)),
        plane_(*kernel_, *feeds_, sessions, std::move(facts), options_.policy) {}
  ~Impl() { Stop(); }

  absl::Status Start(int listen_fd) {
    listen_fd_ = listen_fd;
    // The accept loop's libuv loop: the listening socket, a stop signal
    // from Stop(), and a back-off timer for EMFILE and the like.
    if (int rc = uv_loop_init(&loop_); rc < 0) return ErrnoStatus(-rc, "admin: uv_loop_init");
    loop_ready_ = true;
    listen_poll_.data = stop_.data = backoff_.data = this;
    if (int rc = uv_poll_init(&loop_, &listen_poll_, listen_fd_); rc < 0)
      return ErrnoStatus(-rc, "admin: uv_poll_init");
    uv_async_init(&loop_, &stop_, [](uv_async_t* a) { static_cast<Impl*>(a->data)->CloseHandles(); });
    uv_timer_init(&loop_, &backoff_);
    handles_ready_ = true;
    grpc::EnableDefaultHealthCheckService(true);
    EnableReflection();
    grpc::ServerBuilder builder;
    for (Role role : {Role::kNone, Role::kReader, Role::kAdmin}) {
      auto creds = grpc::experimental::LocalServerCredentials(UDS);
      creds->SetAuthMetadataProcessor(std::make_shared<RoleStamp>(role, peers_));
      acceptors_[static_cast<int>(role)] = builder.experimental().AddExternalConnectionAcceptor(
          grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, creds);
    }
    services_ = MakeServices(plane_);
    for (auto& s : services_) builder.RegisterService(s.get());
    server_ = builder.BuildAndStart();
    if (server_ == nullptr) return absl::InternalError("the admin gRPC server did not start");
    if (options_.tcp) {
      auto tcp = StartTcp();
      if (!tcp.ok()) return tcp.status();
      tcp_ = std::move(*tcp);
    }
    server_->GetHealthCheckService()->SetServingStatus(true);
    uv_poll_start(&listen_poll_, UV_READABLE,
                  [](uv_poll_t* p, int, int) { static_cast<Impl*>(p->data)->AcceptAll(); });
    // SIGHUP: reload the TLS files. Read through a signalfd, as main()
    // blocks SIGHUP in every thread (no handler runs on a kernel task's
    // stack); elsewhere, without the block, SIGHUP keeps its default.
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    sighup_fd_ = signalfd(-1, &hup, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sighup_fd_ >= 0 && uv_poll_init(&loop_, &sighup_poll_, sighup_fd_) == 0) {
      sighup_poll_.data = this;
      sighup_ready_ = true;
      uv_poll_start(&sighup_poll_, UV_READABLE,
                    [](uv_poll_t* p, int, int) { static_cast<Impl*>(p->data)->OnSighup(); });
    }
    accept_thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
    return absl::OkStatus();
  }

  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    if (accept_thread_.joinable()) {
      uv_async_send(&stop_);  // the one libuv call that is safe from another thread
      accept_thread_.join();
    }
    if (loop_ready_) {
      // Handles a failed Start left open close here, on the same loop.
      if (handles_ready_ && !closed_) CloseHandles();
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
      loop_ready_ = false;
    }
    // Followers never end by themselves: end them first, so that the
    // server's shutdown need not wait for them.
    feeds_->Close();
    const auto grace = std::chrono::system_clock::now() + std::chrono::seconds(2);
    if (tcp_.server) tcp_.server->Shutdown(grace);
    if (server_) server_->Shutdown(grace);
    if (sighup_fd_ >= 0) close(sighup_fd_);
    sighup_fd_ = -1;
    if (listen_fd_ >= 0) {
      close(listen_fd_);
      unlink(options_.socket_path.c_str());
      listen_fd_ = -1;
    }
    tcp_.server.reset();  // before its services
    tcp_.services.clear();
    server_.reset();
    feeds_.reset();   // after the servers: their reactors borrow the feeds
    kernel_.reset();  // ends the plane's kernel process
  }

 private:
  // On the loop's thread: the loop ends once these are closed.
  void CloseHandles() {
    closed_ = true;
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&listen_poll_),
                           reinterpret_cast<uv_handle_t*>(&stop_),
                           reinterpret_cast<uv_handle_t*>(&backoff_)})
      if (!uv_is_closing(h)) uv_close(h, nullptr);
    if (sighup_ready_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&sighup_poll_)))
      uv_close(reinterpret_cast<uv_handle_t*>(&sighup_poll_), nullptr);
  }

  // The TCP listener: a server of its own (same services, same plane), so
  // that SIGHUP can replace it with one built from the files as they are
  // now. Declared services first: a server must go before its services.
  struct TcpServer {
    std::vector<std::unique_ptr<grpc::Service>> services;
    std::unique_ptr<grpc::Server> server;
  };

  absl::StatusOr<TcpServer> StartTcp() {
    auto creds = TlsCredentials(*options_.tcp);
    if (!creds.ok()) return creds.status();
    grpc::ServerBuilder builder;
    int port = 0;
    // gRPC sets SO_REUSEPORT on Linux: a replacement binds while the old
    // listener still serves, so a reload refuses no one.
    builder.AddListeningPort(options_.tcp->address, *creds, &port);
    TcpServer tcp;
    tcp.services = MakeServices(plane_);
    for (auto& s : tcp.services) builder.RegisterService(s.get());
    tcp.server = builder.BuildAndStart();
    if (tcp.server == nullptr || port == 0)
      return absl::UnavailableError(absl::StrCat("admin_listen: cannot listen on tcp://",
                                                 options_.tcp->address,
                                                 " (address in use or not local?)"));
    tcp.server->GetHealthCheckService()->SetServingStatus(true);
    return tcp;
  }

  // On the loop's thread: SIGHUP arrived. gRPC's file watcher takes
  // changed files by itself, at its next check; SIGHUP takes them now, by
  // building a new TCP listener and ending the old one (its calls in
  // flight get the usual grace). Bad files keep the old listener.
  void OnSighup() {
    signalfd_siginfo info;
    bool got = false;
    while (read(sighup_fd_, &info, sizeof(info)) == sizeof(info)) got = true;
    if (!got) return;
    if (!options_.tcp) {
      fprintf(stderr, "lkd: admin: SIGHUP: nothing to reload (no admin_listen)\n");
      return;
    }
    auto fresh = StartTcp();
    if (!fresh.ok()) {
      fprintf(stderr, "lkd: admin: SIGHUP: the TCP listener keeps its TLS files: %s\n",
              std::string(fresh.status().message()).c_str());
      return;
    }
    TcpServer old = std::move(tcp_);
    tcp_ = std::move(*fresh);
    // Blocks the accept loop for the grace period at most: a reload is rare.
    old.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    fprintf(stderr, "lkd: admin: SIGHUP: tcp://%s reloaded its certificate, key and client CA\n",
            options_.tcp->address.c_str());
  }

  // The listening socket is readable: take every waiting connection.
  void AcceptAll() {
    for (;;) {
      // Non-blocking: gRPC's transport expects it (a blocking fd stalls
      // every call on the connection).
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
        // EMFILE and the like: stop listening for a tenth of a second so
        // that fds can free up, instead of spinning on a readable socket.
        fprintf(stderr, "lkd: admin: accept: %s\n", strerror(errno));
        uv_poll_stop(&listen_poll_);
        uv_timer_start(
            &backoff_,
            [](uv_timer_t* t) {
              auto* self = static_cast<Impl*>(t->data);
              uv_poll_start(&self->listen_poll_, UV_READABLE,
                            [](uv_poll_t* p, int, int) { static_cast<Impl*>(p->data)->AcceptAll(); });
            },
            100, 0);
        return;
      }
      HandOff(fd);
    }
  }

  // Decides the peer's role and gives the connection to that role's
  // acceptor.
  void HandOff(int fd) {
    ucred cred = {};
    socklen_t len = sizeof(cred);
    Role role = Role::kNone;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
      role = RoleOf(options_.policy, cred.uid, cred.gid, GroupsOf(cred.pid));
    peers_.Add(cred, role);
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
    p.listener_fd = listen_fd_;
    p.fd = fd;
    acceptors_[static_cast<int>(role)]->HandleNewConnection(&p);  // takes the fd
  }

  AdminOptions options_;
  std::unique_ptr<KernelWorker> kernel_;
  std::unique_ptr<Feeds> feeds_;
  Plane plane_;
  RecentPeers peers_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptors_[3];
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;  // the Unix socket's
  TcpServer tcp_;                         // the TCP listener, if any
  // The accept loop (libuv): its handles are touched on its thread only,
  // except stop_ (uv_async_send) and, after the thread ended, Stop().
  uv_loop_t loop_;
  uv_poll_t listen_poll_;
  uv_async_t stop_;
  uv_timer_t backoff_;
  uv_poll_t sighup_poll_;
  int sighup_fd_ = -1;
  bool sighup_ready_ = false;
  bool loop_ready_ = false;
  bool handles_ready_ = false;  // all three initialised
  bool closed_ = false;
  std::thread accept_thread_;
  int listen_fd_ = -1;
  bool stopped_ = false;
};

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(
    AdminOptions options, SystemFacts facts, server::SessionRegistry& sessions) {
  absl::StatusOr<int> fd =
      ListenUnixSocket(options.socket_path, options.socket_mode, kAdminBacklog, "admin socket");
  if (!fd.ok()) return fd.status();
  auto kernel = KernelWorker::Start();
  absl::StatusOr<std::unique_ptr<Feeds>> feeds =
      kernel.ok() ? Feeds::Start((*kernel)->pid(), sessions, options.feed_capacity)
                  : kernel.status();
  if (!feeds.ok()) {
    close(*fd);
    unlink(options.socket_path.c_str());
    return feeds.status();
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(*kernel), std::move(*feeds),
                                     std::move(facts), sessions);
  if (absl::Status s = impl->Start(*fd); !s.ok()) return s;
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() { Stop(); }
void AdminServer::Stop() { impl_->Stop(); }

}  // namespace lkd::admin
