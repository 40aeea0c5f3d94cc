// SPDX-License-Identifier: GPL-2.0
// lkd: boots the Linux library kernel with its NICs and disks and serves
// system calls to the client processes that attach to it (in the spirit of
// NetBSD's rump_server). Runs in the foreground and logs to stderr.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/internal/parse.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/cpu_set.h"
#include "server/admin/admin_server.h"
#include "server/daemon/config.h"
#include "server/daemon/kernel_host.h"
#include "server/session/session_server.h"

ABSL_FLAG(std::string, config, "",
          "configuration file (protobuf text format; see "
          "server/daemon/lkd.conf.example); flags add to it");
ABSL_FLAG(std::string, listen, "",
          "session socket, unix:///PATH (default " LKD_DEFAULT_SERVER ")");
ABSL_FLAG(std::string, mem, "", "kernel memory, e.g. 256M (default 256M)");
// The four below may be given many times; main() collects every
// occurrence (absl flags keep only the last), these entries document them.
ABSL_FLAG(std::string, net, "",
          "a NIC, repeatable: tap:NAME | raw:IFNAME | wire:PATH, then "
          "[,mac=MAC][,mtu=N][,offload=on|off][,addr=CIDR]...");
ABSL_FLAG(std::string, disk, "",
          "a disk, repeatable: IMAGE,FSTYPE,MOUNTPOINT[,ro]");
ABSL_FLAG(std::string, route, "",
          "a route, repeatable: DEST[,via=GW][,dev=IF][,table=N]");
ABSL_FLAG(std::string, sysctl, "", "a sysctl, repeatable: NAME=VALUE");
ABSL_FLAG(uint32_t, max_client_threads, 1024,
          "channels (client threads, each a kernel task in lkd) one client "
          "may have at once");
ABSL_FLAG(uint32_t, handover_timeout_s, 30,
          "how long a fork's or exec's hand-over of a kernel process waits for "
          "the new program to claim it before lkd drops it");
ABSL_FLAG(uint32_t, dispatch_spin_us, 20,
          "how long a dispatch thread keeps polling its channels after the last "
          "call before it sleeps on their doorbells (0: sleep at once)");
ABSL_FLAG(std::string, dispatch_cpus, "auto",
          "host CPUs the dispatch threads (which poll the channels and run the "
          "kernel) are pinned to while busy, e.g. 3 or 2-3; clients keep their "
          "threads off them (LKD_CLIENT_CPUS=any lets a client use them too). "
          "auto: the highest CPU lkd may use, if it may use two or more; none: "
          "not pinned");
ABSL_FLAG(bool, dispatch_waker, true,
          "while several clients are busy at once, a waker thread wakes the "
          "sleeping ones instead of the thread that runs the kernel");
ABSL_FLAG(bool, dispatch_waker_pinned, true,
          "the waker thread runs on the dispatch threads' CPUs (--dispatch_cpus), "
          "whose polling leaves them time, instead of beside the clients");
ABSL_FLAG(std::string, admin_socket, "",
          "admin plane socket for lkctl, unix:///PATH (default admin.sock beside "
          "the session socket), or none");
ABSL_FLAG(std::string, admin_group, "",
          "group (name or gid) whose members may change lkd through the admin "
          "plane, besides root");
ABSL_FLAG(std::string, reader_group, "",
          "group (name or gid) whose members may read through the admin plane");
ABSL_FLAG(std::string, admin_listen, "",
          "also serve the admin plane on TCP, tcp://ADDR:PORT, with mutual TLS "
          "only (needs --admin_tls_cert, --admin_tls_key, --admin_tls_client_ca)");
ABSL_FLAG(std::string, admin_tls_cert, "", "PEM certificate (chain) of the TCP admin listener");
ABSL_FLAG(std::string, admin_tls_key, "", "PEM private key of the TCP admin listener");
ABSL_FLAG(std::string, admin_tls_client_ca, "",
          "PEM CA certificate(s) a TCP admin client's certificate must be signed by");
ABSL_FLAG(std::vector<std::string>, admin_tls_admin_names, {},
          "comma-separated names (client certificate SAN DNS/URI or CN) that may "
          "change lkd over TCP");
ABSL_FLAG(std::vector<std::string>, admin_tls_reader_names, {},
          "comma-separated names (client certificate SAN DNS/URI or CN) that may "
          "read over TCP");
ABSL_FLAG(uint32_t, admin_tls_reload_s, 0,
          "how often the TLS files are checked for changes and reloaded, in "
          "seconds (default 10)");
ABSL_FLAG(uint32_t, admin_subscriber_queue, 0,
          "messages kept per followed admin stream (kernel log, events): the most "
          "a follower may fall behind before it is dropped (default 4096)");
ABSL_FLAG(bool, check, false,
          "check the configuration and exit without booting");

namespace {

struct RepeatedFlags {
  std::vector<std::string> net, disk, route, sysctl;
};

// Takes every --net/--disk/--route/--sysctl (as --f=V or --f V) out of
// argv, keeping the rest for absl.
std::vector<char*> CollectRepeated(int argc, char** argv, RepeatedFlags* out) {
  struct Name {
    const char* flag;
    std::vector<std::string>* values;
  } names[] = {{"net", &out->net}, {"disk", &out->disk},
               {"route", &out->route}, {"sysctl", &out->sysctl}};
  std::vector<char*> rest;
  for (int i = 0; i < argc; i++) {
    bool taken = false;
    std::string arg = argv[i];
    if (i > 0 && arg == "--") {  // everything after "--" is not a flag
      for (; i < argc; i++) rest.push_back(argv[i]);
      break;
    }
    for (const Name& n : names) {
      for (const std::string dashes : {"--", "-"}) {
        std::string bare = dashes + n.flag;
        if (arg == bare && i + 1 < argc) {
          n.values->push_back(argv[++i]);
          taken = true;
        } else if (absl::StartsWith(arg, bare + "=")) {
          n.values->push_back(arg.substr(bare.size() + 1));
          taken = true;
        }
        if (taken) break;
      }
      if (taken) break;
    }
    if (!taken) rest.push_back(argv[i]);
  }
  return rest;
}

int Fail(const absl::Status& status) {
  fprintf(stderr, "lkd: %s\n", std::string(status.message()).c_str());
  return 1;
}

// The admin plane's options from the config: nullopt for "none".
absl::StatusOr<std::optional<lkd::admin::AdminOptions>> AdminOptions(
    const lkd::daemon::LkdConfig& config) {
  if (config.admin_socket() == "none") return std::nullopt;
  lkd::admin::AdminOptions options;
  auto path = lkd::daemon::UnixListenPath(config.admin_socket());
  if (!path.ok()) return path.status();
  options.socket_path = *path;
  if (!config.admin_group().empty()) {
    auto gid = lkd::admin::ResolveGroup(config.admin_group());
    if (!gid.ok()) return gid.status();
    options.policy.admin_gid = *gid;
  }
  if (!config.reader_group().empty()) {
    auto gid = lkd::admin::ResolveGroup(config.reader_group());
    if (!gid.ok()) return gid.status();
    options.policy.reader_gid = *gid;
  }
  if (config.admin_subscriber_queue() != 0)
    options.feed_capacity = config.admin_subscriber_queue();
  if (!config.admin_listen().empty()) {
    auto address = lkd::daemon::TcpListenAddress(config.admin_listen());
    if (!address.ok()) return address.status();
    lkd::admin::TlsListenOptions tcp;
    tcp.address = *address;
    tcp.cert_path = config.admin_tls_cert();
    tcp.key_path = config.admin_tls_key();
    tcp.client_ca_path = config.admin_tls_client_ca();
    tcp.policy.admin_names.assign(config.admin_tls_admin_name().begin(),
                                  config.admin_tls_admin_name().end());
    tcp.policy.reader_names.assign(config.admin_tls_reader_name().begin(),
                                   config.admin_tls_reader_name().end());
    if (config.admin_tls_reload_s() != 0) tcp.reload_interval_s = config.admin_tls_reload_s();
    // Before booting: a missing or mistyped file is one line, at once.
    if (absl::Status st = lkd::admin::CheckTlsFiles(tcp); !st.ok()) return st;
    options.tcp = std::move(tcp);
  }
  return options;
}

// What lkd booted with, for the admin plane's System service.
lkd::admin::SystemFacts Facts(const lkd::daemon::LkdConfig& config,
                              const lkd::daemon::KernelHost& kernel,
                              const std::vector<int>& dispatch_cpus) {
  lkd::admin::SystemFacts facts;
  facts.booted = absl::Now();
  facts.dispatch_cpus = dispatch_cpus;
  for (int i = 0; i < config.nic_size(); i++) {
    lkd::admin::v1::Nic nic;
    nic.set_backend(config.nic(i).backend());
    if (i < static_cast<int>(kernel.link_names().size())) nic.set_link(kernel.link_names()[i]);
    facts.nics.push_back(nic);
  }
  for (const auto& d : config.disk()) {
    lkd::admin::v1::Disk disk;
    disk.set_image(d.image());
    disk.set_fstype(d.fstype());
    disk.set_mountpoint(d.mountpoint());
    disk.set_read_only(d.read_only());
    facts.disks.push_back(disk);
  }
  return facts;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil checks absl::Mutex acquisitions for lock-order cycles
  // (a debug feature): a global graph kept on Lock(), in lkd's own code
  // and in gRPC's. lkd's locks are checked by clang's thread-safety
  // analysis and TSan instead, and with 1,000 admin connections
  // AddressSanitizer reports a stack-buffer-underflow inside the graph's
  // own code (GraphCycles::InsertEdge, from gRPC's handshake), so lkd
  // turns it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Before any thread exists: the kernel's threads inherit the mask, so
  // SIGTERM/SIGINT reach only the session server's event loop.
  lkd::server::SessionServer::BlockShutdownSignals();
  // SIGHUP (reload the admin plane's TLS files) too: the admin plane reads
  // it from a signalfd, so no handler runs on any thread (admin_server.h).
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, nullptr);

  absl::SetProgramUsageMessage(
      "the Linux kernel as a daemon.\n\n"
      "Usage: lkd [--config FILE] [--listen unix:///PATH] [--mem SIZE]\n"
      "           [--net SPEC]... [--disk SPEC]... [--route SPEC]... "
      "[--sysctl N=V]...\n\n"
      "Example: lkd --net tap:lkd0,addr=10.0.2.2/24 --route default,via=10.0.2.1 \\\n"
      "             --disk /srv/data.img,ext4,/data\n"
      "Clients attach with liblkclient (LKD_SERVER=unix:///PATH). SIGTERM or\n"
      "SIGINT: stop accepting, end every client's kernel process, sync and\n"
      "unmount the disks, halt. SIGHUP: reload the admin plane's TLS files.");
  absl::FlagsUsageConfig usage;
  // --help lists the flags of this file (absl's default looks for a file
  // named after the program).
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "server/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  RepeatedFlags repeated;
  std::vector<char*> rest = CollectRepeated(argc, argv, &repeated);
  // absl's ParseCommandLine ends the program with status 1 after printing
  // what --help asks for; asked-for help is a success, so lkd handles the
  // usage flags itself. Unknown flags still end it (one line, status 1).
  std::vector<char*> positional = absl::flags_internal::ParseCommandLineImpl(
      static_cast<int>(rest.size()), rest.data(),
      absl::flags_internal::ArgvListAction::kRemoveParsedArgs,
      absl::flags_internal::UsageFlagsAction::kIgnoreUsage,
      absl::flags_internal::OnUndefinedFlag::kAbortIfUndefined);
  if (absl::flags_internal::HandleUsageFlags(std::cout, absl::ProgramUsageMessage()) >= 0) {
    std::cout.flush();
    return 0;
  }
  if (positional.size() > 1) {
    fprintf(stderr, "lkd: unexpected argument '%s' (see --help)\n", positional[1]);
    return 1;
  }

  lkd::daemon::LkdConfig config;
  if (std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    auto loaded = lkd::daemon::LoadConfigFile(path);
    if (!loaded.ok()) return Fail(loaded.status());
    config = *loaded;
  }
  if (auto v = absl::GetFlag(FLAGS_listen); !v.empty()) config.set_listen(v);
  if (auto v = absl::GetFlag(FLAGS_mem); !v.empty()) config.set_mem(v);
  if (auto v = absl::GetFlag(FLAGS_admin_socket); !v.empty()) config.set_admin_socket(v);
  if (auto v = absl::GetFlag(FLAGS_admin_group); !v.empty()) config.set_admin_group(v);
  if (auto v = absl::GetFlag(FLAGS_reader_group); !v.empty()) config.set_reader_group(v);
  if (auto v = absl::GetFlag(FLAGS_admin_listen); !v.empty()) config.set_admin_listen(v);
  if (auto v = absl::GetFlag(FLAGS_admin_tls_cert); !v.empty()) config.set_admin_tls_cert(v);
  if (auto v = absl::GetFlag(FLAGS_admin_tls_key); !v.empty()) config.set_admin_tls_key(v);
  if (auto v = absl::GetFlag(FLAGS_admin_tls_client_ca); !v.empty())
    config.set_admin_tls_client_ca(v);
  for (const std::string& name : absl::GetFlag(FLAGS_admin_tls_admin_names))
    config.add_admin_tls_admin_name(name);
  for (const std::string& name : absl::GetFlag(FLAGS_admin_tls_reader_names))
    config.add_admin_tls_reader_name(name);
  if (auto v = absl::GetFlag(FLAGS_admin_tls_reload_s); v != 0) config.set_admin_tls_reload_s(v);
  if (auto v = absl::GetFlag(FLAGS_admin_subscriber_queue); v != 0)
    config.set_admin_subscriber_queue(v);
  for (const auto& s : repeated.net)
    if (auto st = lkd::daemon::AddNicFlag(s, &config); !st.ok()) return Fail(st);
  for (const auto& s : repeated.disk)
    if (auto st = lkd::daemon::AddDiskFlag(s, &config); !st.ok()) return Fail(st);
  for (const auto& s : repeated.route)
    if (auto st = lkd::daemon::AddRouteFlag(s, &config); !st.ok()) return Fail(st);
  for (const auto& s : repeated.sysctl)
    if (auto st = lkd::daemon::AddSysctlFlag(s, &config); !st.ok()) return Fail(st);
  lkd::daemon::ApplyDefaults(&config);
  if (auto st = lkd::daemon::Validate(config); !st.ok()) return Fail(st);
  auto socket_path = lkd::daemon::UnixListenPath(config.listen());
  if (!socket_path.ok()) return Fail(socket_path.status());
  auto admin_options = AdminOptions(config);
  if (!admin_options.ok()) return Fail(admin_options.status());
  auto dispatch_cpus =
      lkd::ResolveDispatchCpus(absl::GetFlag(FLAGS_dispatch_cpus), lkd::AllowedCpus());
  if (!dispatch_cpus.ok()) return Fail(dispatch_cpus.status());
  if (absl::GetFlag(FLAGS_check)) {
    fprintf(stderr, "lkd: configuration OK\n");
    return 0;
  }

  lkd::server::SessionServerOptions options;
  options.socket_path = *socket_path;
  options.max_channels_per_session = absl::GetFlag(FLAGS_max_client_threads);
  options.handover_timeout_s = absl::GetFlag(FLAGS_handover_timeout_s);
  options.dispatcher.spin_ns = uint64_t{absl::GetFlag(FLAGS_dispatch_spin_us)} * 1000;
  options.dispatcher.waker = absl::GetFlag(FLAGS_dispatch_waker);
  options.dispatcher.waker_on_dispatch_cpus = absl::GetFlag(FLAGS_dispatch_waker_pinned);
  options.dispatcher.cpus = std::move(*dispatch_cpus);
  lkd::server::SessionServer sessions(options);
  // The socket first: a second lkd on the same path fails before booting.
  if (auto st = sessions.Listen(); !st.ok()) return Fail(st);

  auto kernel = lkd::daemon::KernelHost::Boot(config);
  if (!kernel.ok()) return Fail(kernel.status());
  for (const std::string& line : (*kernel)->Describe())
    fprintf(stderr, "lkd: %s\n", line.c_str());
  if (!options.dispatcher.cpus.empty())
    fprintf(stderr, "lkd: dispatch threads on CPU %s (clients keep off it)\n",
            lkd::FormatCpuList(options.dispatcher.cpus).c_str());
  std::unique_ptr<lkd::admin::AdminServer> admin;
  if (*admin_options) {
    auto started = lkd::admin::AdminServer::Start(
        **admin_options, Facts(config, **kernel, options.dispatcher.cpus), sessions.registry());
    if (!started.ok()) {
      (void)(*kernel)->Shutdown();
      return Fail(started.status());
    }
    admin = std::move(*started);
    fprintf(stderr, "lkd: admin plane on %s\n", config.admin_socket().c_str());
    if (!config.admin_listen().empty())
      fprintf(stderr, "lkd: admin plane on %s (mutual TLS, clients of %s)\n",
              config.admin_listen().c_str(), config.admin_tls_client_ca().c_str());
  }
  fprintf(stderr, "lkd: serving on %s\n", config.listen().c_str());

  auto signal_number = sessions.Serve();
  // Before the kernel halts: admin calls run in a kernel process.
  if (admin) admin->Stop();
  if (!signal_number.ok()) {
    (void)(*kernel)->Shutdown();
    return Fail(signal_number.status());
  }
  fprintf(stderr, "lkd: syncing and unmounting disks, halting the kernel\n");
  if (auto st = (*kernel)->Shutdown(); !st.ok()) return Fail(st);
  fprintf(stderr, "lkd: stopped\n");
  return 0;
}
