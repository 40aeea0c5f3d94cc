// SPDX-License-Identifier: GPL-2.0
#include "server/daemon/config.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errno_status.h"
#include "common/host_file.h"
#include "common/ip_prefix.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "hostops/virtio/nic_spec.h"

namespace lkd::daemon {
namespace {

using config::Disk;
using config::Nic;
using config::Route;
using config::Sysctl;

// The kernel refuses less (kernel/arch/lkd/kernel/setup.c).
constexpr uint64_t kMinMem = 16ull << 20;
constexpr char kUnixScheme[] = "unix://";

absl::Status Invalid(const std::string& what, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
}

// Collects the text-format parser's messages, which carry 0-based
// positions, as "SOURCE:LINE:COLUMN: message" lines.
class ErrorLines : public google::protobuf::io::ErrorCollector {
 public:
  explicit ErrorLines(std::string source) : source_(std::move(source)) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    Add(line, column, message);
  }
  void AddWarning(int line, google::protobuf::io::ColumnNumber column,
                  const std::string& message) override {
    Add(line, column, "warning: " + message);
  }
  std::string Text() const { return absl::StrJoin(lines_, "\n"); }

 private:
  void Add(int line, int column, const std::string& message) {
    lines_.push_back(absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message));
  }
  std::string source_;
  std::vector<std::string> lines_;
};

// Linux's dev_valid_name(): what a link may be called.
bool ValidLinkName(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == ':' || absl::ascii_isspace(c)) return false;
  }
  return true;
}

// "/data", "/mnt/a": absolute, no empty, "." or ".." components, no
// trailing slash, so that two spellings of one directory compare equal.
bool CanonicalAbsolutePath(const std::string& path) {
  if (path.size() < 2 || path[0] != '/') return false;
  for (absl::string_view part : absl::StrSplit(absl::string_view(path).substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

// Whether `path` is `dir` or lies below it (both canonical).
bool Within(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

absl::Status ValidateListen(const std::string& listen) { return UnixListenPath(listen).status(); }

absl::Status ValidateAdminSocket(const LkdConfig& config) {
  if (config.admin_socket().empty() || config.admin_socket() == "none") return absl::OkStatus();
  absl::StatusOr<std::string> admin = UnixListenPath(config.admin_socket());
  if (!admin.ok())
    return Invalid(absl::StrCat("admin_socket '", config.admin_socket(), "'"),
                   "want unix:///ABSOLUTE/PATH or none (TCP is admin_listen, with mTLS)");
  if (*admin == UnixListenPath(config.listen()).value_or(""))
    return Invalid(absl::StrCat("admin_socket '", config.admin_socket(), "'"),
                   "must differ from the session socket (listen)");
  return absl::OkStatus();
}

absl::Status ValidateAdminListen(const LkdConfig& config) {
  const bool tls_given = !config.admin_tls_cert().empty() || !config.admin_tls_key().empty() ||
                         !config.admin_tls_client_ca().empty();
  if (config.admin_listen().empty()) {
    if (tls_given)
      return Invalid("admin_tls_cert/admin_tls_key/admin_tls_client_ca",
                     "given without admin_listen (they are for the TCP listener only)");
    return absl::OkStatus();
  }
  const std::string what = absl::StrCat("admin_listen '", config.admin_listen(), "'");
  if (absl::StatusOr<std::string> addr = TcpListenAddress(config.admin_listen()); !addr.ok())
    return addr.status();
  if (config.admin_socket() == "none")
    return Invalid(what, "needs the admin plane, which admin_socket 'none' turns off");
  // The one rule that matters most here: an admin plane on the network
  // without authentication is what GoBGP's and FRR's users got burnt by.
  if (config.admin_tls_cert().empty() || config.admin_tls_key().empty() ||
      config.admin_tls_client_ca().empty())
    return Invalid(what,
                   "TCP is served with mutual TLS only: give admin_tls_cert, admin_tls_key and "
                   "admin_tls_client_ca (--admin_tls_cert, --admin_tls_key, "
                   "--admin_tls_client_ca)");
  return absl::OkStatus();
}

absl::Status ValidateMem(const std::string& mem) {
  absl::StatusOr<uint64_t> bytes = ParseMemSize(mem.empty() ? kDefaultMem : mem);
  if (!bytes.ok()) return bytes.status();
  if (*bytes < kMinMem)
    return absl::InvalidArgumentError(
        absl::StrCat("mem '", mem, "' is too small (the kernel needs at least 16M)"));
  return absl::OkStatus();
}

absl::Status ValidateNics(const LkdConfig& config) {
  std::set<virtio::MacAddress> macs;
  for (int i = 0; i < config.nic_size(); i++) {
    const Nic& nic = config.nic(i);
    std::string what = absl::StrCat("nic ", i, " (", nic.backend(), ")");
    if (nic.backend().empty())
      return Invalid(what, "no backend (want tap:NAME, raw:IFNAME or wire:PATH)");
    absl::StatusOr<virtio::NicSpec> spec = virtio::ParseNicSpec(nic.backend());
    if (!spec.ok()) return About(what, spec.status());
    // Boot finds each NIC's link by its MAC.
    if (spec->mac_set && !macs.insert(spec->mac).second)
      return Invalid(
          what, absl::StrCat("MAC ", virtio::FormatMac(spec->mac), " is already another NIC's"));
    for (const std::string& address : nic.address()) {
      if (absl::StatusOr<IpPrefix> cidr = ParseIpPrefix(address); !cidr.ok())
        return About(what, cidr.status());
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDisks(const LkdConfig& config) {
  for (int i = 0; i < config.disk_size(); i++) {
    const Disk& disk = config.disk(i);
    std::string what = absl::StrCat("disk ", i, " (", disk.image(), ")");
    if (disk.image().empty()) return Invalid(what, "no image path");
    if (disk.fstype().empty()) return Invalid(what, "no file system type (fstype, e.g. ext4)");
    const std::string& mnt = disk.mountpoint();
    if (!CanonicalAbsolutePath(mnt))
      return Invalid(what, absl::StrCat("mountpoint '", mnt,
                                        "' is not an absolute path such as /data (no ., .., "
                                        "// or trailing /; not / itself)"));
    for (const char* own : {"/proc", "/sys", "/dev"}) {
      if (Within(mnt, own))
        return Invalid(what, absl::StrCat("mountpoint '", mnt, "' is on ", own,
                                          ", which the daemon mounts itself"));
    }
    // Disks are mounted in order: one below a later one would be hidden.
    for (int j = i + 1; j < config.disk_size(); j++) {
      const std::string& later = config.disk(j).mountpoint();
      if (Within(mnt, later))
        return Invalid(
            what, absl::StrCat("mountpoint '", mnt, "' is ", mnt == later ? "also" : "below",
                               " disk ", j, "'s mountpoint '", later, "' (list outer ones first)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRoute(const Route& route, const std::string& what) {
  if (route.via().empty() && route.dev().empty())
    return Invalid(what, "needs a gateway (via) or a link (dev)");
  int via_family = 0;
  if (!route.via().empty()) {
    absl::StatusOr<IpPrefix> via = ParseIpPrefix(route.via(), PrefixLength::kRefused);
    if (!via.ok()) return Invalid(what, absl::StrCat("gateway ", via.status().message()));
    via_family = via->family;
  }
  if (!route.dev().empty() && !ValidLinkName(route.dev()))
    return Invalid(what, absl::StrCat("bad link name '", route.dev(), "'"));
  if (route.dest() == "default") return absl::OkStatus();
  if (route.dest().empty()) return Invalid(what, "no destination (want default or a CIDR)");
  absl::StatusOr<IpPrefix> dest = ParseIpPrefix(route.dest());
  if (!dest.ok()) return About(what, dest.status());
  if (dest->HostBitsSet())
    return Invalid(
        what, absl::StrCat("destination '", route.dest(), "' has bits set past its prefix length"));
  if (via_family != 0 && via_family != dest->family)
    return Invalid(what, absl::StrCat("gateway '", route.via(),
                                      "' is not of the destination's address family"));
  return absl::OkStatus();
}

absl::Status ValidateSysctl(const Sysctl& sysctl, const std::string& what) {
  if (sysctl.name().empty()) return Invalid(what, "no name");
  for (char c : sysctl.name()) {
    if (absl::ascii_isspace(c) || c == '=')
      return Invalid(what, absl::StrCat("bad name '", sysctl.name(), "'"));
  }
  if (sysctl.value().empty()) return Invalid(what, "no value");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LkdConfig> ParseConfigText(std::string_view text, std::string_view source) {
  LkdConfig config;
  ErrorLines errors{std::string(source)};
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config))
    return absl::InvalidArgumentError(errors.Text());
  return config;
}

absl::StatusOr<LkdConfig> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadHostFile(path);
  if (!text.ok()) return ErrnoStatus(ErrnoOf(text.status()), absl::StrCat("read config ", path));
  return ParseConfigText(*text, path);
}

void ApplyDefaults(LkdConfig* config) {
  if (config->listen().empty()) config->set_listen(kDefaultListen);
  if (config->mem().empty()) config->set_mem(kDefaultMem);
  // Beside the session socket ("/run/lkd/admin.sock" for the default), so
  // that two daemons with their own sockets never share an admin socket.
  if (config->admin_socket().empty()) {
    absl::StatusOr<std::string> session = UnixListenPath(config->listen());
    std::string dir = session.ok() ? session->substr(0, session->rfind('/')) : "/run/lkd";
    config->set_admin_socket(absl::StrCat(kUnixScheme, dir, "/admin.sock"));
  }
}

absl::Status AddNicFlag(std::string_view spec, LkdConfig* config) {
  std::string what = absl::StrCat("bad --net '", std::string(spec), "'");
  Nic nic;
  std::vector<std::string> backend;
  std::vector<std::string> items = absl::StrSplit(std::string(spec), ',');
  for (const std::string& item : items) {
    if (item.starts_with("addr=")) {
      std::string address = item.substr(5);
      if (absl::StatusOr<IpPrefix> cidr = ParseIpPrefix(address); !cidr.ok())
        return About(what, cidr.status());
      nic.add_address(address);
    } else {
      backend.push_back(item);
    }
  }
  nic.set_backend(absl::StrJoin(backend, ","));
  // Only parses: opening the backend is Boot's business.
  if (absl::StatusOr<virtio::NicSpec> parsed = virtio::ParseNicSpec(nic.backend()); !parsed.ok())
    return About(what, parsed.status());
  *config->add_nic() = std::move(nic);
  return absl::OkStatus();
}

absl::Status AddDiskFlag(std::string_view spec, LkdConfig* config) {
  std::string what = absl::StrCat("bad --disk '", std::string(spec), "'");
  std::vector<std::string> fields = absl::StrSplit(std::string(spec), ',');
  if (fields.size() < 3 || fields.size() > 4)
    return Invalid(what, "want IMAGE,FSTYPE,MOUNTPOINT[,ro|rw]");
  Disk disk;
  disk.set_image(fields[0]);
  disk.set_fstype(fields[1]);
  disk.set_mountpoint(fields[2]);
  if (fields.size() == 4) {
    if (fields[3] != "ro" && fields[3] != "rw")
      return Invalid(what, absl::StrCat("unknown option '", fields[3], "' (want ro or rw)"));
    disk.set_read_only(fields[3] == "ro");
  }
  if (disk.image().empty()) return Invalid(what, "no image path");
  if (disk.fstype().empty()) return Invalid(what, "no file system type");
  if (!CanonicalAbsolutePath(disk.mountpoint()))
    return Invalid(what,
                   absl::StrCat("mountpoint '", disk.mountpoint(), "' is not an absolute path"));
  *config->add_disk() = std::move(disk);
  return absl::OkStatus();
}

absl::Status AddRouteFlag(std::string_view spec, LkdConfig* config) {
  std::string what = absl::StrCat("bad --route '", std::string(spec), "'");
  std::vector<std::string> fields = absl::StrSplit(std::string(spec), ',');
  Route route;
  route.set_dest(fields[0]);
  for (size_t i = 1; i < fields.size(); i++) {
    std::pair<std::string, std::string> kv = absl::StrSplit(fields[i], absl::MaxSplits('=', 1));
    if (kv.first == "via") {
      route.set_via(kv.second);
    } else if (kv.first == "dev") {
      route.set_dev(kv.second);
    } else if (kv.first == "table") {
      uint32_t table;
      if (kv.second.empty() ||
          !std::all_of(kv.second.begin(), kv.second.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(kv.second, &table))
        return Invalid(what, absl::StrCat("table '", kv.second, "' is not a number"));
      route.set_table(table);
    } else {
      return Invalid(what,
                     absl::StrCat("unknown option '", kv.first, "' (known: via, dev, table)"));
    }
  }
  if (absl::Status s = ValidateRoute(route, what); !s.ok()) return s;
  *config->add_route() = std::move(route);
  return absl::OkStatus();
}

absl::Status AddSysctlFlag(std::string_view spec, LkdConfig* config) {
  std::string what = absl::StrCat("bad --sysctl '", std::string(spec), "'");
  size_t equals = spec.find('=');
  if (equals == std::string_view::npos) return Invalid(what, "want NAME=VALUE");
  Sysctl sysctl;
  sysctl.set_name(std::string(spec.substr(0, equals)));
  sysctl.set_value(std::string(spec.substr(equals + 1)));
  if (absl::Status s = ValidateSysctl(sysctl, what); !s.ok()) return s;
  *config->add_sysctl() = std::move(sysctl);
  return absl::OkStatus();
}

absl::Status Validate(const LkdConfig& config) {
  if (absl::Status s = ValidateListen(config.listen()); !s.ok()) return s;
  if (absl::Status s = ValidateAdminSocket(config); !s.ok()) return s;
  if (absl::Status s = ValidateAdminListen(config); !s.ok()) return s;
  if (config.admin_subscriber_queue() != 0 && config.admin_subscriber_queue() < 16)
    return Invalid(absl::StrCat("admin_subscriber_queue ", config.admin_subscriber_queue()),
                   "too small (at least 16 messages)");
  if (absl::Status s = ValidateMem(config.mem()); !s.ok()) return s;
  if (absl::Status s = ValidateNics(config); !s.ok()) return s;
  if (absl::Status s = ValidateDisks(config); !s.ok()) return s;
  for (int i = 0; i < config.route_size(); i++) {
    std::string what = absl::StrCat("route ", i, " (", RouteText(config.route(i)), ")");
    if (absl::Status s = ValidateRoute(config.route(i), what); !s.ok()) return s;
  }
  for (int i = 0; i < config.sysctl_size(); i++) {
    const Sysctl& sysctl = config.sysctl(i);
    std::string what = absl::StrCat("sysctl ", i, " (", sysctl.name(), ")");
    if (absl::Status s = ValidateSysctl(sysctl, what); !s.ok()) return s;
  }
  // The kernel takes the first mem= it sees, which is ours; a second one
  // would be silently ignored.
  for (absl::string_view word : absl::StrSplit(config.cmdline(), ' ', absl::SkipEmpty())) {
    if (absl::StartsWith(word, "mem="))
      return Invalid(absl::StrCat("cmdline '", config.cmdline(), "'"),
                     "sets mem=; use the config's mem instead");
  }
  return absl::OkStatus();
}

std::string RouteText(const config::Route& route) {
  std::string text = route.dest();
  if (!route.via().empty()) absl::StrAppend(&text, " via ", route.via());
  if (!route.dev().empty()) absl::StrAppend(&text, " dev ", route.dev());
  if (route.table() != 0) absl::StrAppend(&text, " table ", route.table());
  return text;
}

absl::StatusOr<uint64_t> ParseMemSize(std::string_view text) {
  std::string digits(text);
  uint64_t shift = 0;
  if (!digits.empty()) {
    switch (absl::ascii_toupper(digits.back())) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
    }
    if (shift != 0) digits.pop_back();
  }
  uint64_t value;
  if (digits.empty() || digits.size() > 12 ||
      !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(digits, &value))
    return absl::InvalidArgumentError(absl::StrCat(
        "mem '", std::string(text), "' is not a size such as 256M (K, M or G suffix)"));
  if (value > (~uint64_t{0} >> shift))
    return absl::InvalidArgumentError(absl::StrCat("mem '", std::string(text), "' is too large"));
  return value << shift;
}

absl::StatusOr<std::string> UnixListenPath(std::string_view listen) {
  std::string text(listen.empty() ? std::string_view(kDefaultListen) : listen);
  std::string what = absl::StrCat("listen '", text, "'");
  if (!text.starts_with(kUnixScheme)) {
    if (text.find("://") != std::string::npos)
      return Invalid(what, "only unix:// addresses are supported for now");
    return Invalid(what, "want unix:///ABSOLUTE/PATH");
  }
  std::string path = text.substr(strlen(kUnixScheme));
  if (path.empty() || path[0] != '/') return Invalid(what, "the socket path must be absolute");
  if (path.size() >= sizeof(sockaddr_un{}.sun_path))
    return Invalid(what, absl::StrCat("the socket path is longer than ",
                                      sizeof(sockaddr_un{}.sun_path) - 1, " bytes"));
  return path;
}

absl::StatusOr<std::string> TcpListenAddress(std::string_view listen) {
  const std::string text(listen);
  const std::string what = absl::StrCat("admin_listen '", text, "'");
  constexpr char kTcp[] = "tcp://";
  if (!text.starts_with(kTcp)) return Invalid(what, "want tcp://ADDR:PORT");
  const std::string rest = text.substr(strlen(kTcp));
  const size_t colon = rest.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port == 0 || port > 65535)
    return Invalid(what, "want tcp://ADDR:PORT with a port from 1 to 65535");
  const std::string host = rest.substr(0, colon);
  if (host.find(':') != std::string::npos && (host.front() != '[' || host.back() != ']'))
    return Invalid(what, "an IPv6 address goes in brackets: tcp://[::1]:PORT");
  return rest;
}

}  // namespace lkd::daemon
