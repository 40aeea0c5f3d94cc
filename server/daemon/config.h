// SPDX-License-Identifier: GPL-2.0
// The daemon's boot configuration (lkd_config.proto): loading it from a
// text-proto file, adding command-line spellings to it, and checking it
// before anything is opened or booted.
//
// Everything here is pure: no device is opened and no kernel is touched,
// so flags can be parsed and a config file checked (`lkd --check`) on any
// machine. Errors are InvalidArgument and name the bad item and why, e.g.
// "disk 1 (/srv/a.img): mountpoint 'data' is not an absolute path"; a file
// that cannot be read gets the errno's code (NotFound, PermissionDenied).
#ifndef LKD_SERVER_DAEMON_CONFIG_H_
#define LKD_SERVER_DAEMON_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "schema/lkd_defaults.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/daemon/lkd_config.pb.h"

namespace lkd::daemon {

using config::LkdConfig;

inline constexpr char kDefaultListen[] = LKD_DEFAULT_SERVER;
inline constexpr char kDefaultMem[] = "256M";

// Reads a text-format LkdConfig. Syntax errors and unknown fields are
// InvalidArgument "PATH:LINE:COLUMN: what the parser said". The result is
// as written (defaults not applied) and not yet validated.
absl::StatusOr<LkdConfig> LoadConfigFile(const std::string& path);
// The same for text already in memory; `source` names it in errors.
absl::StatusOr<LkdConfig> ParseConfigText(std::string_view text, std::string_view source);

// Fills the empty scalars that have defaults (listen, mem).
void ApplyDefaults(LkdConfig* config);

// Command-line spellings, each appending one item to `config` (or nothing
// when it returns an error).
//
// --net "tap:NAME[,mac=..][,mtu=..][,offload=on|off][,addr=CIDR]...": every
// addr= item becomes an address; the rest, checked by the NIC spec parser
// of hostops/virtio, is the backend.
absl::Status AddNicFlag(std::string_view spec, LkdConfig* config);
// --disk "IMAGE,FSTYPE,MOUNTPOINT[,ro|rw]".
absl::Status AddDiskFlag(std::string_view spec, LkdConfig* config);
// --route "DEST[,via=GW][,dev=IF][,table=N]", DEST "default" or a CIDR.
absl::Status AddRouteFlag(std::string_view spec, LkdConfig* config);
// --sysctl "NAME=VALUE".
absl::Status AddSysctlFlag(std::string_view spec, LkdConfig* config);

// Checks the whole config (empty listen and mem count as their defaults):
// listen is unix://ABSOLUTE_PATH, mem a size of at least 16M, every NIC
// backend parses and no two NICs share a MAC, addresses and routes parse,
// admin_listen, if set, is tcp://ADDR:PORT with all three TLS files (and
// no TLS file without it), disks have an image, a file system type and an
// absolute mountpoint
// (canonical: no ., .. or //) that is not /, not on /proc, /sys or /dev
// (the daemon mounts those itself) and not hidden by a later disk's,
// sysctl names and values are non-empty, and the extra command line does
// not set mem= (the config's mem does). Nothing is opened: a missing
// image or TAP shows at Boot.
absl::Status Validate(const LkdConfig& config);

// "256M" as bytes: decimal digits, then optionally K, M or G (either case),
// as the kernel's mem= reads it. No lower bound here (Validate has one).
absl::StatusOr<uint64_t> ParseMemSize(std::string_view text);

// A route as ip(8) would print it: "default via 10.0.2.1 dev eth0 table
// 100", for messages and logs.
std::string RouteText(const config::Route& route);

// The socket path of a "unix:///run/lkd/lkd.sock" listen address (empty:
// the default's).
absl::StatusOr<std::string> UnixListenPath(std::string_view listen);

// The "ADDR:PORT" (as gRPC takes it) of an admin_listen address
// "tcp://ADDR:PORT", ADDR an IPv4 address, a [bracketed] IPv6 address or
// a host name.
absl::StatusOr<std::string> TcpListenAddress(std::string_view listen);

}  // namespace lkd::daemon

#endif  // LKD_SERVER_DAEMON_CONFIG_H_
