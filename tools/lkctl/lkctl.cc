// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// lkctl: configure a running lkd through its admin plane (issue #13), with
// the grammar and habits of ip(8) and sysctl(8):
//
//   lkctl [-H ADDRESS] [-j [-p]] [-n NETNS] OBJECT [COMMAND [ARGS...]]
//
// ADDRESS is lkd's local admin socket (unix:///PATH) or its TCP listener
// (tcp://HOST:PORT, mutual TLS: --cacert, --cert, --key).
//
// Output looks like the tool each object mirrors; -j prints ip(8)'s JSON
// (always an array). Exit status as ip(8): 0 done, 1 not found, 2 the
// kernel refused (its words on stderr: "RTNETLINK answers: File exists"),
// 255 usage; and 3 when lkd cannot be reached or refuses the caller.
// lkctl links no kernel: it only speaks gRPC (schema/admin/v1).
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cpu_set.h"
#include "schema/admin/v1/addresses.grpc.pb.h"
#include "schema/admin/v1/common.pb.h"
#include "schema/admin/v1/links.grpc.pb.h"
#include "schema/admin/v1/namespaces.grpc.pb.h"
#include "schema/admin/v1/neighbours.grpc.pb.h"
#include "schema/admin/v1/observe.grpc.pb.h"
#include "schema/admin/v1/routes.grpc.pb.h"
#include "schema/admin/v1/sessions.grpc.pb.h"
#include "schema/admin/v1/sockets.grpc.pb.h"
#include "schema/admin/v1/sysctl.grpc.pb.h"
#include "schema/admin/v1/system.grpc.pb.h"
#include "tools/lkctl/json.h"

namespace lkd::lkctl {
namespace {

namespace v1 = ::lkd::admin::v1;

constexpr char kDefaultHost[] = "unix:///run/lkd/admin.sock";

// ip(8)'s exit codes, and ours for "no lkd to talk to".
enum Exit { kOk = 0, kNotFound = 1, kKernel = 2, kUnreachable = 3, kUsage = 255 };

// A usage error: message on stderr, exit 255 (as ip(8) does).
struct UsageError {
  std::string message;
};

struct Options {
  std::string host;  // unix:///PATH or tcp://HOST:PORT
  // TLS, for tcp:// only: lkd's CA (empty: the system's roots), and this
  // client's certificate and key (mutual TLS: lkd requires them).
  std::string cacert, cert, key;
  bool json = false;
  bool pretty = false;
  std::string netns;
  int family = 0;  // 4, 6 or 0
  bool stats = false;
};

// ---------------------------------------------------------------------
// Talking to lkd
// ---------------------------------------------------------------------

bool OverTcp(const Options& o) { return o.host.rfind("tcp://", 0) == 0; }

// A whole PEM file named by a TLS flag; a usage error if unreadable.
std::string ReadPem(const std::string& path, const char* flag) {
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError{"lkctl: " + std::string(flag) + " " + path + ": " + strerror(errno)};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class Admin {
 public:
  explicit Admin(const Options& o) : options_(o) {
    if (OverTcp(o)) {
      // TCP is mutual TLS, always: lkd serves nothing else there.
      grpc::SslCredentialsOptions tls;
      tls.pem_root_certs = ReadPem(o.cacert, "--cacert");
      tls.pem_cert_chain = ReadPem(o.cert, "--cert");
      tls.pem_private_key = ReadPem(o.key, "--key");
      channel_ = grpc::CreateChannel(o.host.substr(strlen("tcp://")), grpc::SslCredentials(tls));
    } else {
      // Local credentials: the server's acceptors speak gRPC's "local"
      // security over Unix sockets.
      channel_ = grpc::CreateChannel(o.host, grpc::experimental::LocalCredentials(UDS));
    }
  }
  const Options& options() const { return options_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }

  // A context for one call: a deadline (a hung lkd must not hang lkctl),
  // and this process's pid, which lkd checks against the peer credentials
  // it read, for its audit log.
  std::unique_ptr<grpc::ClientContext> Context() const {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    c->AddMetadata("lkd-client-pid", std::to_string(getpid()));
    return c;
  }
  v1::Target Target() const {
    v1::Target t;
    t.set_netns(options_.netns);
    return t;
  }

 private:
  Options options_;
  std::shared_ptr<grpc::Channel> channel_;
};

// What went wrong with a call, in the words of the tool lkctl mirrors.
struct Failure {
  int exit;
  std::string message;
};

// Whether an UNAVAILABLE over TCP means that the TLS handshake failed (as
// opposed to nobody listening): gRPC gives the same code for both and
// says which only in its message. A server that refuses a client's
// certificate just closes the connection ("Socket closed").
bool TlsRefused(const grpc::Status& s) {
  const std::string& m = s.error_message();
  for (const char* unreachable : {"Connection refused", "No route to host", "Network is unreachable",
                                  "Timeout occurred", "Deadline Exceeded", "DNS resolution failed"})
    if (m.find(unreachable) != std::string::npos) return false;
  return true;
}

// What to tell the user when the TLS handshake with lkd failed: which of
// the usual causes fits what they gave and what gRPC saw.
std::string ExplainTls(const grpc::Status& s, const Options& o) {
  const std::string& m = s.error_message();
  std::string why;
  if (m.find("certificate verify failed") != std::string::npos ||
      m.find("CERTIFICATE_VERIFY_FAILED") != std::string::npos)
    return "lkctl: lkd at " + o.host + " cannot be trusted: its certificate is not signed by " +
           (o.cacert.empty() ? std::string("a CA of this system") : "--cacert " + o.cacert) +
           " or does not name that host (" + m + ")";
  if (o.cert.empty())
    why = "lkd requires a client certificate, and none was given (--cert FILE --key FILE)";
  else
    why = "lkd did not accept the client certificate " + o.cert +
          " (not signed by a CA lkd trusts, expired, or not matching --key)";
  return "lkctl: lkd at " + o.host + " refused the TLS handshake: " + why + " (" + m + ")";
}

// `kernel_prefix`: how the mirrored tool introduces a kernel error
// ("RTNETLINK answers: "). `dev`: the link the command named, for
// ip(8)'s "Cannot find device".
Failure Explain(const grpc::Status& s, const Options& o, const std::string& kernel_prefix,
                const std::string& dev = "") {
  v1::ErrorDetail d;
  const bool has_detail = !s.error_details().empty() && d.ParseFromString(s.error_details()) &&
                          d.errno_value() != 0;
  if (!has_detail) {
    switch (s.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        if (OverTcp(o) && TlsRefused(s)) return {kUnreachable, ExplainTls(s, o)};
        return {kUnreachable, "lkctl: cannot reach lkd at " + o.host + " (is lkd running? " +
                                  s.error_message() + ")"};
      case grpc::StatusCode::PERMISSION_DENIED:
      case grpc::StatusCode::UNAUTHENTICATED:
        return {kUnreachable, "lkctl: lkd at " + o.host + " refuses this caller (" +
                                  (OverTcp(o) ? "certificate " + o.cert
                                              : "uid " + std::to_string(getuid())) +
                                  "): " + s.error_message()};
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        // lkd ended a follow that fell too far behind (dmesg -w, monitor
        // into a pipe nobody reads): lkd's words say so.
        return {kUnreachable, "lkctl: " + s.error_message()};
      case grpc::StatusCode::UNIMPLEMENTED:
        return {kUnreachable, "lkctl: lkd at " + o.host +
                                  " does not serve this call (older lkd?): " + s.error_message()};
      default:
        return {kKernel, "lkctl: " + s.error_message()};
    }
  }
  if (d.errno_name() == "ENODEV" && !dev.empty())
    return {kNotFound, "Cannot find device \"" + dev + "\""};
  // ip(8) prints the extended ack instead of the errno when there is one.
  if (!d.extack().empty()) return {kKernel, "Error: " + d.extack() + "."};
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT && d.errno_name() == "EINVAL" &&
      s.error_message().find("(EINVAL)") == std::string::npos)
    return {kUsage, "Error: " + s.error_message()};  // refused before the kernel saw it
  return {kKernel, kernel_prefix + d.errno_text()};
}

int Report(const Failure& f) {
  fprintf(stderr, "%s\n", f.message.c_str());
  return f.exit;
}

// ---------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------

using Args = std::vector<std::string>;

bool Matches(const std::string& arg, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (arg == n) return true;
  return false;
}

std::string NextArg(const Args& args, size_t* i, const std::string& what) {
  if (*i + 1 >= args.size()) throw UsageError{"Error: argument \"" + what + "\" is required"};
  return args[++*i];
}

uint32_t NumberArg(const Args& args, size_t* i, const std::string& what) {
  std::string v = NextArg(args, i, what);
  char* end = nullptr;
  errno = 0;
  unsigned long n = strtoul(v.c_str(), &end, 0);
  if (v.empty() || *end != '\0' || errno != 0 || n > 0xffffffffUL || v[0] == '-')
    throw UsageError{"Error: argument \"" + v + "\" is wrong: invalid " + what};
  return static_cast<uint32_t>(n);
}

void Print(const std::string& s) { fwrite(s.data(), 1, s.size(), stdout); }

bool HelpAsked(const Args& args, size_t from) {
  for (size_t i = from; i < args.size(); i++)
    if (args[i] == "help" || args[i] == "--help" || args[i] == "-h") return true;
  return false;
}

// ---------------------------------------------------------------------
// link / addr
// ---------------------------------------------------------------------

constexpr char kLinkHelp[] =
    "Usage: lkctl link show [ [dev] NAME ]\n"
    "       lkctl link set [dev] NAME [ up | down ] [ mtu MTU ] [ address LLADDR ]\n"
    "                                 [ netns NETNS ]\n";
constexpr char kAddrHelp[] =
    "Usage: lkctl addr show [ dev NAME ]\n"
    "       lkctl addr { add | del } IFADDR dev NAME\n"
    "IFADDR := PREFIX (10.0.2.2/24, fd00::2/64; no length: a host address)\n";

std::string Flags(const google::protobuf::RepeatedPtrField<std::string>& flags) {
  std::string s;
  for (const std::string& f : flags) s += (s.empty() ? "" : ",") + f;
  return "<" + s + ">";
}

void LinkText(const v1::Link& l, bool stats, std::string* out) {
  char head[512];
  snprintf(head, sizeof(head), "%u: %s: %s mtu %u qdisc %s state %s mode DEFAULT group default",
           l.index(), l.name().c_str(), Flags(l.flags()).c_str(), l.mtu(),
           l.qdisc().empty() ? "noop" : l.qdisc().c_str(),
           l.operstate().empty() ? "UNKNOWN" : l.operstate().c_str());
  *out += head;
  if (l.txqlen()) *out += " qlen " + std::to_string(l.txqlen());
  *out += "\n    link/" + l.link_type();
  if (!l.address().empty()) *out += " " + l.address();
  if (!l.broadcast().empty()) *out += " brd " + l.broadcast();
  *out += "\n";
  if (stats) {
    const v1::LinkStats& s = l.stats();
    char lines[512];
    snprintf(lines, sizeof(lines),
             "    RX:  bytes packets errors dropped\n    %10lu %7lu %6lu %7lu\n"
             "    TX:  bytes packets errors dropped\n    %10lu %7lu %6lu %7lu\n",
             (unsigned long)s.rx_bytes(), (unsigned long)s.rx_packets(),
             (unsigned long)s.rx_errors(), (unsigned long)s.rx_dropped(),
             (unsigned long)s.tx_bytes(), (unsigned long)s.tx_packets(),
             (unsigned long)s.tx_errors(), (unsigned long)s.tx_dropped());
    *out += lines;
  }
}

void LinkJson(const v1::Link& l, JsonWriter& j) {
  j.Number("ifindex", l.index());
  j.String("ifname", l.name());
  j.Strings("flags", {l.flags().begin(), l.flags().end()});
  j.Number("mtu", l.mtu());
  j.String("qdisc", l.qdisc().empty() ? "noop" : l.qdisc());
  j.String("operstate", l.operstate());
  j.String("linkmode", "DEFAULT");
  j.String("group", "default");
  if (l.txqlen()) j.Number("txqlen", l.txqlen());
  j.String("link_type", l.link_type());
  if (!l.address().empty()) j.String("address", l.address());
  if (!l.broadcast().empty()) j.String("broadcast", l.broadcast());
}

void AddrText(const v1::Address& a, std::string* out) {
  std::string fam = a.family() == v1::ADDRESS_FAMILY_INET6 ? "inet6" : "inet";
  *out += "    " + fam + " " + a.local() + "/" + std::to_string(a.prefixlen());
  if (!a.broadcast().empty()) *out += " brd " + a.broadcast();
  *out += " scope " + a.scope();
  for (const std::string& f : a.flags())
    if (f != "permanent") *out += " " + f;
  if (a.family() == v1::ADDRESS_FAMILY_INET) *out += " " + (a.label().empty() ? a.link() : a.label());
  *out += "\n       valid_lft forever preferred_lft forever\n";
}

void AddrJson(const v1::Address& a, JsonWriter& j) {
  j.String("family", a.family() == v1::ADDRESS_FAMILY_INET6 ? "inet6" : "inet");
  j.String("local", a.local());
  j.Number("prefixlen", a.prefixlen());
  if (!a.broadcast().empty()) j.String("broadcast", a.broadcast());
  j.String("scope", a.scope());
  for (const std::string& f : a.flags())
    if (f != "permanent") j.Bool(f, true);
  if (!a.label().empty()) j.String("label", a.label());
  j.Number("valid_life_time", 4294967295);
  j.Number("preferred_life_time", 4294967295);
}

int LinkCmd(Admin& admin, const Args& args, size_t i, bool with_addresses) {
  const Options& o = admin.options();
  std::string cmd = i < args.size() ? args[i] : "show";
  if (HelpAsked(args, i)) {
    Print(with_addresses ? kAddrHelp : kLinkHelp);
    return kOk;
  }
  if (Matches(cmd, {"show", "list", "lst", "sh", "ls", "s", "l"})) {
    std::string dev;
    for (size_t k = i + 1; k < args.size(); k++) {
      if (args[k] == "dev") dev = NextArg(args, &k, "dev");
      else if (dev.empty()) dev = args[k];
      else throw UsageError{"Error: either \"dev\" is duplicate, or \"" + args[k] + "\" is a garbage."};
    }
    v1::ListLinksRequest lreq;
    *lreq.mutable_target() = admin.Target();
    lreq.set_name(dev);
    v1::ListLinksResponse links;
    auto c = admin.Context();
    grpc::Status s = v1::Links::NewStub(admin.channel())->ListLinks(c.get(), lreq, &links);
    if (!s.ok()) return Report(Explain(s, o, "RTNETLINK answers: ", dev));
    v1::ListAddressesResponse addrs;
    if (with_addresses) {
      v1::ListAddressesRequest areq;
      *areq.mutable_target() = admin.Target();
      areq.set_link(dev);
      areq.set_family(o.family == 4   ? v1::ADDRESS_FAMILY_INET
                      : o.family == 6 ? v1::ADDRESS_FAMILY_INET6
                                      : v1::ADDRESS_FAMILY_UNSPECIFIED);
      auto c2 = admin.Context();
      s = v1::Addresses::NewStub(admin.channel())->ListAddresses(c2.get(), areq, &addrs);
      if (!s.ok()) return Report(Explain(s, o, "RTNETLINK answers: ", dev));
    }
    JsonWriter j(o.pretty);
    std::string text;
    j.BeginArray();
    for (const v1::Link& l : links.links()) {
      if (o.json) {
        j.BeginObject();
        LinkJson(l, j);
        if (with_addresses) {
          j.BeginArray("addr_info");
          for (const v1::Address& a : addrs.addresses())
            if (a.index() == l.index()) {
              j.BeginObject();
              AddrJson(a, j);
              j.EndObject();
            }
          j.EndArray();
        }
        j.EndObject();
      } else {
        LinkText(l, o.stats, &text);
        if (with_addresses)
          for (const v1::Address& a : addrs.addresses())
            if (a.index() == l.index()) AddrText(a, &text);
      }
    }
    j.EndArray();
    Print(o.json ? j.Take() : text);
    return kOk;
  }
  if (!with_addresses && cmd == "set") {
    v1::SetLinkRequest req;
    *req.mutable_target() = admin.Target();
    std::optional<std::string> to_netns;
    for (size_t k = i + 1; k < args.size(); k++) {
      const std::string& a = args[k];
      if (a == "dev") req.set_name(NextArg(args, &k, "dev"));
      else if (a == "netns") to_netns = NextArg(args, &k, "netns");
      else if (a == "up") req.set_state(v1::LINK_STATE_UP);
      else if (a == "down") req.set_state(v1::LINK_STATE_DOWN);
      else if (a == "mtu") req.set_mtu(NumberArg(args, &k, "mtu"));
      else if (Matches(a, {"address", "addr", "lladdr"})) req.set_address(NextArg(args, &k, "address"));
      else if (req.name().empty()) req.set_name(a);
      else throw UsageError{"Error: either \"dev\" is duplicate, or \"" + a + "\" is a garbage."};
    }
    if (req.name().empty()) throw UsageError{"Not enough information: \"dev\" argument is required."};
    grpc::Status s;
    if (req.state() != v1::LINK_STATE_UNSPECIFIED || req.mtu() != 0 || !req.address().empty()) {
      v1::SetLinkResponse resp;
      auto c = admin.Context();
      s = v1::Links::NewStub(admin.channel())->SetLink(c.get(), req, &resp);
      if (!s.ok()) return Report(Explain(s, o, "RTNETLINK answers: ", req.name()));
    }
    if (to_netns) {  // last, as ip(8) does: the other changes apply where the link was
      v1::MoveLinkRequest move;
      *move.mutable_target() = admin.Target();
      move.set_link(req.name());
      move.set_to_netns(*to_netns);
      v1::MoveLinkResponse resp;
      auto c = admin.Context();
      s = v1::Namespaces::NewStub(admin.channel())->MoveLink(c.get(), move, &resp);
      if (!s.ok()) return Report(Explain(s, o, "RTNETLINK answers: ", req.name()));
    }
    return kOk;
  }
  if (with_addresses && Matches(cmd, {"add", "a", "del", "delete", "d"})) {
    const bool add = Matches(cmd, {"add", "a"});
    std::string cidr, dev;
    for (size_t k = i + 1; k < args.size(); k++) {
      const std::string& a = args[k];
      if (a == "dev") dev = NextArg(args, &k, "dev");
      else if (Matches(a, {"local", "to"})) cidr = NextArg(args, &k, a);
      else if (cidr.empty()) cidr = a;
      else throw UsageError{"Error: either \"local\" is duplicate, or \"" + a + "\" is a garbage."};
    }
    if (dev.empty()) throw UsageError{"Not enough information: \"dev\" argument is required."};
    if (cidr.empty()) throw UsageError{"Not enough information: an address is required."};
    auto c = admin.Context();
    grpc::Status s;
    auto stub = v1::Addresses::NewStub(admin.channel());
    if (add) {
      v1::AddAddressRequest req;
      *req.mutable_target() = admin.Target();
      req.set_link(dev);
      req.set_cidr(cidr);
      v1::AddAddressResponse resp;
      s = stub->AddAddress(c.get(), req, &resp);
    } else {
      v1::DeleteAddressRequest req;
      *req.mutable_target() = admin.Target();
      req.set_link(dev);
      req.set_cidr(cidr);
      v1::DeleteAddressResponse resp;
      s = stub->DeleteAddress(c.get(), req, &resp);
    }
    if (!s.ok()) return Report(Explain(s, o, "RTNETLINK answers: ", dev));
    return kOk;
  }
  throw UsageError{"Command \"" + cmd + "\" is unknown, try \"lkctl " +
                   (with_addresses ? "addr" : "link") + " help\"."};
}

// ---------------------------------------------------------------------
// route
// ---------------------------------------------------------------------

constexpr char kRouteHelp[] =
    "Usage: lkctl route [ show [ table TABLE_ID | all ] ]\n"
    "       lkctl route { add | del | replace } ROUTE\n"
    "ROUTE := [ TYPE ] PREFIX [ via ADDRESS ] [ dev NAME ] [ table TABLE_ID ]\n"
    "         [ metric NUMBER ] [ mtu NUMBER ] [ src ADDRESS ]\n"
    "PREFIX := default | ADDRESS[/LEN]\n"
    "TYPE := unicast | blackhole | unreachable | prohibit | local\n"
    "TABLE_ID := main | local | NUMBER\n";

uint32_t TableArg(const Args& args, size_t* i) {
  std::string t = args.size() > *i + 1 ? args[*i + 1] : "";
  if (t == "main") return ++*i, 254;
  if (t == "local") return ++*i, 255;
  if (t == "all") return ++*i, 0xffffffffu;
  return NumberArg(args, i, "table id");
}

const char* TypeName(v1::RouteType t) {
  switch (t) {
    case v1::ROUTE_TYPE_LOCAL: return "local";
    case v1::ROUTE_TYPE_BROADCAST: return "broadcast";
    case v1::ROUTE_TYPE_MULTICAST: return "multicast";
    case v1::ROUTE_TYPE_BLACKHOLE: return "blackhole";
    case v1::ROUTE_TYPE_UNREACHABLE: return "unreachable";
    case v1::ROUTE_TYPE_PROHIBIT: return "prohibit";
    case v1::ROUTE_TYPE_ANYCAST: return "anycast";
    default: return "unicast";
  }
}

std::string TableName(uint32_t t) {
  return t == 254 ? "main" : t == 255 ? "local" : std::to_string(t);
}

int RouteCmd(Admin& admin, const Args& args, size_t i) {
  const Options& o = admin.options();
  std::string cmd = i < args.size() ? args[i] : "show";
  if (HelpAsked(args, i)) {
    Print(kRouteHelp);
    return kOk;
  }
  if (Matches(cmd, {"show", "list", "lst", "sh", "ls", "s", "l"})) {
    v1::ListRoutesRequest req;
    *req.mutable_target() = admin.Target();
    req.set_family(o.family == 6 ? v1::ADDRESS_FAMILY_INET6 : v1::ADDRESS_FAMILY_INET);
    for (size_t k = i + 1; k < args.size(); k++) {
      if (args[k] == "table") req.set_table(TableArg(args, &k));
      else throw UsageError{"Error: \"" + args[k] + "\" is a garbage."};
    }
    v1::ListRoutesResponse resp;
    auto c = admin.Context();
    grpc::Status s = v1::Routes::NewStub(admin.channel())->ListRoutes(c.get(), req, &resp);
    if (!s.ok()) return Report(Explain(s, o, "RTNETLINK answers: "));
    JsonWriter j(o.pretty);
    std::string text;
    j.BeginArray();
    const bool all_tables = req.table() == 0xffffffffu;
    for (const v1::Route& r : resp.routes()) {
      if (o.json) {
        j.BeginObject();
        if (r.type() != v1::ROUTE_TYPE_UNICAST) j.String("type", TypeName(r.type()));
        j.String("dst", r.dst());
        if (!r.gateway().empty()) j.String("gateway", r.gateway());
        if (!r.dev().empty()) j.String("dev", r.dev());
        if (all_tables || r.table() != 254) j.String("table", TableName(r.table()));
        j.String("protocol", r.protocol());
        if (r.scope() != "universe") j.String("scope", r.scope());
        if (!r.prefsrc().empty()) j.String("prefsrc", r.prefsrc());
        if (r.metric()) j.Number("metric", r.metric());
        j.Strings("flags", {r.flags().begin(), r.flags().end()});
        if (r.mtu()) {
          j.BeginArray("metrics");
          j.BeginObject();
          j.Number("mtu", r.mtu());
          j.EndObject();
          j.EndArray();
        }
        j.EndObject();
        continue;
      }
      std::string line;
      if (r.type() != v1::ROUTE_TYPE_UNICAST) line += std::string(TypeName(r.type())) + " ";
      line += r.dst();
      if (!r.gateway().empty()) line += " via " + r.gateway();
      if (!r.dev().empty()) line += " dev " + r.dev();
      if (all_tables || r.table() != 254) line += " table " + TableName(r.table());
      line += " proto " + r.protocol();
      if (r.scope() != "universe") line += " scope " + r.scope();
      if (!r.prefsrc().empty()) line += " src " + r.prefsrc();
      if (r.metric()) line += " metric " + std::to_string(r.metric());
      for (const std::string& f : r.flags()) line += " " + f;
      if (r.mtu()) line += " mtu " + std::to_string(r.mtu());
      text += line + " \n";
    }
    j.EndArray();
    Print(o.json ? j.Take() : text);
    return kOk;
  }
  const bool add = Matches(cmd, {"add", "a", "replace", "change"});
  if (!add && !Matches(cmd, {"del", "delete", "d"}))
    throw UsageError{"Command \"" + cmd + "\" is unknown, try \"lkctl route help\"."};
  v1::RouteSpec spec;
  for (size_t k = i + 1; k < args.size(); k++) {
    const std::string& a = args[k];
    if (a == "via") spec.set_gateway(NextArg(args, &k, "via"));
    else if (a == "dev") spec.set_dev(NextArg(args, &k, "dev"));
    else if (a == "table") spec.set_table(TableArg(args, &k));
    else if (Matches(a, {"metric", "priority", "preference"})) spec.set_metric(NumberArg(args, &k, "metric"));
    else if (a == "mtu") spec.set_mtu(NumberArg(args, &k, "mtu"));
    else if (a == "src") spec.set_prefsrc(NextArg(args, &k, "src"));
    else if (a == "unicast") spec.set_type(v1::ROUTE_TYPE_UNICAST);
    else if (a == "blackhole") spec.set_type(v1::ROUTE_TYPE_BLACKHOLE);
    else if (a == "unreachable") spec.set_type(v1::ROUTE_TYPE_UNREACHABLE);
    else if (a == "prohibit") spec.set_type(v1::ROUTE_TYPE_PROHIBIT);
    else if (a == "local") spec.set_type(v1::ROUTE_TYPE_LOCAL);
    else if (a == "to") spec.set_dst(NextArg(args, &k, "to"));
    else if (spec.dst().empty()) spec.set_dst(a);
    else throw UsageError{"Error: either \"to\" is duplicate, or \"" + a + "\" is a garbage."};
  }
  if (spec.dst().empty()) throw UsageError{"Not enough information: a destination is required."};
  if (spec.dst() == "default" && o.family == 6 && spec.gateway().empty()) spec.set_dst("::/0");
  auto c = admin.Context();
  auto stub = v1::Routes::NewStub(admin.channel());
  grpc::Status s;
  if (add) {
    v1::AddRouteRequest req;
    *req.mutable_target() = admin.Target();
    *req.mutable_route() = spec;
    req.set_replace(cmd == "replace" || cmd == "change");
    v1::AddRouteResponse resp;
    s = stub->AddRoute(c.get(), req, &resp);
  } else {
    v1::DeleteRouteRequest req;
    *req.mutable_target() = admin.Target();
    *req.mutable_route() = spec;
    v1::DeleteRouteResponse resp;
    s = stub->DeleteRoute(c.get(), req, &resp);
  }
  if (!s.ok()) return Report(Explain(s, o, "RTNETLINK answers: ", spec.dev()));
  return kOk;
}

// ---------------------------------------------------------------------
// neigh
// ---------------------------------------------------------------------

constexpr char kNeighHelp[] =
    "Usage: lkctl neigh show [ dev NAME ]\n"
    "       lkctl neigh { add | replace } ADDR lladdr LLADDR dev NAME\n"
    "       lkctl neigh del ADDR dev NAME\n";

int NeighCmd(Admin& admin, const Args& args, size_t i) {
  const Options& o = admin.options();
  std::string cmd = i < args.size() ? args[i] : "show";
  if (HelpAsked(args, i)) {
    Print(kNeighHelp);
    return kOk;
  }
  std::string dst, dev, lladdr;
  for (size_t k = i + 1; k < args.size(); k++) {
    const std::string& a = args[k];
    if (a == "dev") dev = NextArg(args, &k, "dev");
    else if (a == "lladdr") lladdr = NextArg(args, &k, "lladdr");
    else if (Matches(a, {"nud"})) NextArg(args, &k, "nud");  // always permanent
    else if (a == "to") dst = NextArg(args, &k, "to");
    else if (dst.empty()) dst = a;
    else throw UsageError{"Error: either \"to\" is duplicate, or \"" + a + "\" is a garbage."};
  }
  auto stub = v1::Neighbours::NewStub(admin.channel());
  auto c = admin.Context();
  grpc::Status s;
  if (Matches(cmd, {"show", "list", "lst", "sh", "ls", "s", "l"})) {
    v1::ListNeighboursRequest req;
    *req.mutable_target() = admin.Target();
    req.set_dev(dev);
    v1::ListNeighboursResponse resp;
    s = stub->ListNeighbours(c.get(), req, &resp);
    if (!s.ok()) return Report(Explain(s, o, "RTNETLINK answers: ", dev));
    JsonWriter j(o.pretty);
    std::string text;
    j.BeginArray();
    for (const v1::Neighbour& n : resp.neighbours()) {
      if (o.family == 4 && n.family() != v1::ADDRESS_FAMILY_INET) continue;
      if (o.family == 6 && n.family() != v1::ADDRESS_FAMILY_INET6) continue;
      if (o.json) {
        j.BeginObject();
        j.String("dst", n.dst());
        j.String("dev", n.dev());
        if (!n.lladdr().empty()) j.String("lladdr", n.lladdr());
        if (n.router()) j.Bool("router", true);
        j.Strings("state", {n.state().begin(), n.state().end()});
        j.EndObject();
        continue;
      }
      text += n.dst() + " dev " + n.dev();
      if (!n.lladdr().empty()) text += " lladdr " + n.lladdr();
      if (n.router()) text += " router";
      for (const std::string& st : n.state()) text += " " + st;
      text += "\n";
    }
    j.EndArray();
    Print(o.json ? j.Take() : text);
    return kOk;
  }
  if (dev.empty()) throw UsageError{"Device and destination are required arguments."};
  if (dst.empty()) throw UsageError{"Device and destination are required arguments."};
  if (Matches(cmd, {"add", "a", "replace", "change"})) {
    v1::AddNeighbourRequest req;
    *req.mutable_target() = admin.Target();
    req.set_dst(dst);
    req.set_dev(dev);
    req.set_lladdr(lladdr);
    req.set_replace(cmd == "replace" || cmd == "change");
    v1::AddNeighbourResponse resp;
    s = stub->AddNeighbour(c.get(), req, &resp);
  } else if (Matches(cmd, {"del", "delete", "d"})) {
    v1::DeleteNeighbourRequest req;
    *req.mutable_target() = admin.Target();
    req.set_dst(dst);
    req.set_dev(dev);
    v1::DeleteNeighbourResponse resp;
    s = stub->DeleteNeighbour(c.get(), req, &resp);
  } else {
    throw UsageError{"Command \"" + cmd + "\" is unknown, try \"lkctl neigh help\"."};
  }
  if (!s.ok()) return Report(Explain(s, o, "RTNETLINK answers: ", dev));
  return kOk;
}

// ---------------------------------------------------------------------
// sysctl (procps's grammar)
// ---------------------------------------------------------------------

constexpr char kSysctlHelp[] =
    "Usage: lkctl sysctl [options] [variable[=value] ...]\n"
    "  -a, --all     show every variable (of lkd's kernel)\n"
    "  -n, --values  print values only\n"
    "  -N, --names   print names only\n"
    "  -e, --ignore  ignore unknown variables\n"
    "  -q, --quiet   do not echo variables set\n"
    "  -w, --write   set: every argument is variable=value\n"
    "  -p, --load[=FILE]  read variable=value lines from FILE (default /etc/sysctl.conf)\n"
    "  -r, --pattern REGEX  only names matching (with -a)\n";

int SysctlCmd(Admin& admin, const Args& args, size_t i) {
  const Options& o = admin.options();
  bool all = false, values_only = false, names_only = false, ignore = false, quiet = false,
       write = false;
  std::vector<std::string> files;
  std::vector<std::string> items;
  std::string pattern;
  for (size_t k = i; k < args.size(); k++) {
    const std::string& a = args[k];
    if (a == "-h" || a == "--help" || a == "help") {
      Print(kSysctlHelp);
      return kOk;
    }
    if (a == "--all" || a == "-A" || a == "-X") all = true;
    else if (a == "--values") values_only = true;
    else if (a == "--names") names_only = true;
    else if (a == "--ignore") ignore = true;
    else if (a == "--quiet") quiet = true;
    else if (a == "--write") write = true;
    else if (a.rfind("--load", 0) == 0) files.push_back(a.size() > 7 ? a.substr(7) : "/etc/sysctl.conf");
    else if (a == "--pattern" || a == "-r") pattern = NextArg(args, &k, "pattern");
    else if (a.size() > 1 && a[0] == '-' && a[1] != '-') {
      for (size_t c = 1; c < a.size(); c++) {
        switch (a[c]) {
          case 'a': all = true; break;
          case 'n': values_only = true; break;
          case 'N': names_only = true; break;
          case 'e': ignore = true; break;
          case 'q': quiet = true; break;
          case 'w': write = true; break;
          case 'p':
            if (c + 1 < a.size()) files.push_back(a.substr(c + 1));
            else if (k + 1 < args.size() && args[k + 1][0] != '-') files.push_back(args[++k]);
            else files.push_back("/etc/sysctl.conf");
            c = a.size();
            break;
          default:
            throw UsageError{"sysctl: unknown option '-" + std::string(1, a[c]) + "'\n" + kSysctlHelp};
        }
      }
    } else {
      items.push_back(a);
    }
  }
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) {
      fprintf(stderr, "sysctl: cannot open \"%s\": %s\n", file.c_str(), strerror(errno));
      return kUsage;
    }
    std::string line;
    while (std::getline(in, line)) {
      size_t b = line.find_first_not_of(" \t");
      if (b == std::string::npos || line[b] == '#' || line[b] == ';') continue;
      std::string item = line.substr(b);
      size_t eq = item.find('=');
      if (eq == std::string::npos) continue;
      auto trim = [](std::string s) {
        size_t x = s.find_first_not_of(" \t"), y = s.find_last_not_of(" \t");
        return x == std::string::npos ? std::string() : s.substr(x, y - x + 1);
      };
      items.push_back(trim(item.substr(0, eq)) + "=" + trim(item.substr(eq + 1)));
    }
    write = true;
  }
  auto stub = v1::Sysctl::NewStub(admin.channel());
  // procps names the file it could not find: /proc/sys/a/b/c.
  auto path = [](std::string name) {
    for (char& ch : name) ch = ch == '.' ? '/' : ch;
    return "/proc/sys/" + name;
  };
  auto show = [&](const std::string& name, const std::string& value) {
    if (values_only) printf("%s\n", value.c_str());
    else if (names_only) printf("%s\n", name.c_str());
    else printf("%s = %s\n", name.c_str(), value.c_str());
  };
  if (all || (items.empty() && !pattern.empty())) {
    v1::ListSysctlsRequest req;
    *req.mutable_target() = admin.Target();
    if (!items.empty()) req.set_prefix(items[0]);
    v1::ListSysctlsResponse resp;
    auto c = admin.Context();
    grpc::Status s = stub->ListSysctls(c.get(), req, &resp);
    if (!s.ok()) return Report(Explain(s, o, "sysctl: "));
    if (o.json) {
      JsonWriter j(o.pretty);
      j.BeginArray();
      for (const auto& e : resp.entries()) {
        if (!pattern.empty() && e.name().find(pattern) == std::string::npos) continue;
        j.BeginObject();
        j.String("name", e.name());
        j.String("value", e.value());
        j.EndObject();
      }
      j.EndArray();
      Print(j.Take());
      return kOk;
    }
    for (const auto& e : resp.entries())
      if (pattern.empty() || e.name().find(pattern) != std::string::npos) show(e.name(), e.value());
    return kOk;
  }
  if (items.empty()) throw UsageError{std::string("sysctl: no variables specified\n") + kSysctlHelp};
  int rc = kOk;
  for (const std::string& item : items) {
    size_t eq = item.find('=');
    if (write && eq == std::string::npos) {
      fprintf(stderr, "sysctl: \"%s\" must be of the form name=value\n", item.c_str());
      rc = kUsage;
      continue;
    }
    auto c = admin.Context();
    if (eq != std::string::npos) {
      v1::SetSysctlRequest req;
      *req.mutable_target() = admin.Target();
      req.set_name(item.substr(0, eq));
      req.set_value(item.substr(eq + 1));
      v1::SetSysctlResponse resp;
      grpc::Status s = stub->SetSysctl(c.get(), req, &resp);
      // As procps: "cannot stat" only if the sysctl does not exist; a
      // value the kernel refuses with ENOENT (an unknown congestion
      // control) is a refusal of the setting.
      if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
        v1::GetSysctlRequest get;
        *get.mutable_target() = admin.Target();
        get.set_name(req.name());
        v1::GetSysctlResponse got;
        auto c2 = admin.Context();
        if (stub->GetSysctl(c2.get(), get, &got).ok()) {
          fprintf(stderr, "sysctl: setting key \"%s\": No such file or directory\n",
                  req.name().c_str());
          rc = kKernel;
          continue;
        }
      }
      if (!s.ok()) {
        Failure f = Explain(s, o, "");
        if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
          if (ignore) continue;
          fprintf(stderr, "sysctl: cannot stat %s: No such file or directory\n",
                  path(req.name()).c_str());
          rc = kNotFound;
        } else if (f.exit == kKernel) {
          fprintf(stderr, "sysctl: setting key \"%s\": %s\n", req.name().c_str(), f.message.c_str());
          rc = kKernel;
        } else {
          return Report(f);
        }
        continue;
      }
      if (!quiet) show(resp.entry().name(), resp.entry().value());
    } else {
      v1::GetSysctlRequest req;
      *req.mutable_target() = admin.Target();
      req.set_name(item);
      v1::GetSysctlResponse resp;
      grpc::Status s = stub->GetSysctl(c.get(), req, &resp);
      if (!s.ok()) {
        Failure f = Explain(s, o, "");
        if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
          if (ignore) continue;
          fprintf(stderr, "sysctl: cannot stat %s: No such file or directory\n",
                  path(item).c_str());
          rc = kNotFound;
        } else if (f.exit == kKernel) {
          fprintf(stderr, "sysctl: reading key \"%s\": %s\n", item.c_str(), f.message.c_str());
          rc = kKernel;
        } else {
          return Report(f);
        }
        continue;
      }
      show(resp.entry().name(), resp.entry().value());
    }
  }
  return rc;
}

// ---------------------------------------------------------------------
// netns
// ---------------------------------------------------------------------

constexpr char kNetnsHelp[] =
    "Usage: lkctl netns [ list ]\n"
    "       lkctl netns add NAME\n"
    "       lkctl netns del NAME\n"
    "Network namespaces of lkd's kernel. Any command can act inside one:\n"
    "lkctl -n NAME addr show; move a link: lkctl link set dev eth1 netns NAME.\n";

int NetnsCmd(Admin& admin, const Args& args, size_t i) {
  const Options& o = admin.options();
  std::string cmd = i < args.size() ? args[i] : "list";
  if (HelpAsked(args, i)) {
    Print(kNetnsHelp);
    return kOk;
  }
  auto stub = v1::Namespaces::NewStub(admin.channel());
  auto c = admin.Context();
  grpc::Status s;
  if (Matches(cmd, {"list", "show", "ls", "l", "s"})) {
    v1::ListNamespacesResponse resp;
    s = stub->ListNamespaces(c.get(), {}, &resp);
    if (!s.ok()) return Report(Explain(s, o, "lkctl: "));
    JsonWriter j(o.pretty);
    j.BeginArray();
    for (const std::string& n : resp.names()) {
      if (o.json) {
        j.BeginObject();
        j.String("name", n);
        j.EndObject();
      } else {
        printf("%s\n", n.c_str());
      }
    }
    j.EndArray();
    if (o.json) Print(j.Take());
    return kOk;
  }
  if (args.size() != i + 2) throw UsageError{std::string("Usage: lkctl netns ") + cmd + " NAME"};
  const std::string& name = args[i + 1];
  if (Matches(cmd, {"add", "a"})) {
    v1::CreateNamespaceRequest req;
    req.set_name(name);
    v1::CreateNamespaceResponse resp;
    s = stub->CreateNamespace(c.get(), req, &resp);
    if (!s.ok()) {
      Failure f = Explain(s, o, "");
      if (f.exit != kKernel) return Report(f);
      return Report({kKernel, "Cannot create namespace file \"/run/netns/" + name + "\": " +
                                  f.message});
    }
    return kOk;
  }
  if (Matches(cmd, {"del", "delete", "d"})) {
    v1::DeleteNamespaceRequest req;
    req.set_name(name);
    v1::DeleteNamespaceResponse resp;
    s = stub->DeleteNamespace(c.get(), req, &resp);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      fprintf(stderr, "Cannot remove namespace file \"/run/netns/%s\": No such file or directory\n",
              name.c_str());
      return kNotFound;
    }
    if (!s.ok()) return Report(Explain(s, o, ""));
    return kOk;
  }
  throw UsageError{"Command \"" + cmd + "\" is unknown, try \"lkctl netns help\"."};
}

// ---------------------------------------------------------------------
// ss
// ---------------------------------------------------------------------

constexpr char kSsHelp[] =
    "Usage: lkctl ss [ -t | -u ] [ -a | -l ] [ -n ] [ -p ]\n"
    "  -t TCP (the default), -u UDP; -a all sockets, -l listening ones only\n"
    "  (default: connected ones); -n numeric (always); -p the sessions\n"
    "  (kernel pid, host pid, fd) that hold each socket.\n";

int SsCmd(Admin& admin, const Args& args, size_t i) {
  const Options& o = admin.options();
  v1::ListSocketsRequest req;
  *req.mutable_target() = admin.Target();
  bool processes = false;
  for (size_t k = i; k < args.size(); k++) {
    const std::string& a = args[k];
    if (Matches(a, {"-h", "--help", "help"})) {
      Print(kSsHelp);
      return kOk;
    }
    if (a.size() < 2 || a[0] != '-') throw UsageError{"ss: unexpected '" + a + "'\n" + kSsHelp};
    for (size_t ch = 1; ch < a.size(); ch++) {
      switch (a[ch]) {
        case 't': req.set_protocol(v1::SOCKET_PROTOCOL_TCP); break;
        case 'u': req.set_protocol(v1::SOCKET_PROTOCOL_UDP); break;
        case 'a': req.set_all(true); break;
        case 'l': req.set_listening_only(true); break;
        case 'n': break;
        case 'p': processes = true; break;
        default: throw UsageError{"ss: unknown option '-" + std::string(1, a[ch]) + "'\n" + kSsHelp};
      }
    }
  }
  v1::ListSocketsResponse resp;
  auto c = admin.Context();
  grpc::Status s = v1::Sockets::NewStub(admin.channel())->ListSockets(c.get(), req, &resp);
  if (!s.ok()) return Report(Explain(s, o, "ss: "));
  auto endpoint = [](const std::string& addr, uint32_t port, bool v6) {
    std::string a = addr == "0.0.0.0" || addr == "::" ? "*" : v6 ? "[" + addr + "]" : addr;
    return a + ":" + (port ? std::to_string(port) : std::string("*"));
  };
  printf("%-10s %-6s %-6s %-25s %-25s%s\n", "State", "Recv-Q", "Send-Q", "Local Address:Port",
         "Peer Address:Port", processes ? " Process" : "");
  for (const v1::Socket& k : resp.sockets()) {
    const bool v6 = k.family() == v1::ADDRESS_FAMILY_INET6;
    std::string users;
    if (processes && k.owners_size() > 0) {
      users = " users:(";
      for (int x = 0; x < k.owners_size(); x++) {
        const v1::SocketOwner& w = k.owners(x);
        users += (x ? "," : "") + std::string("(\"kpid ") + std::to_string(w.kernel_pid()) +
                 "\",pid=" + std::to_string(w.host_pid()) + ",fd=" + std::to_string(w.fd()) + ")";
      }
      users += ")";
    }
    printf("%-10s %-6u %-6u %-25s %-25s%s\n", k.state().c_str(), k.recv_q(), k.send_q(),
           endpoint(k.local_address(), k.local_port(), v6).c_str(),
           endpoint(k.peer_address(), k.peer_port(), v6).c_str(), users.c_str());
  }
  return kOk;
}

// ---------------------------------------------------------------------
// capture
// ---------------------------------------------------------------------

constexpr char kCaptureHelp[] =
    "Usage: lkctl capture dev NAME [ -c COUNT ] [ -s SNAPLEN ] -w FILE|-\n"
    "Writes the frames link NAME of lkd's kernel sends and receives as a pcap\n"
    "file (tcpdump -r, Wireshark); '-' for stdout. Until COUNT frames, or ^C.\n";

// The pcap file format (the classic one, microsecond timestamps).
void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<char*>(&v), 4); }
void PutU16(std::string* out, uint16_t v) { out->append(reinterpret_cast<char*>(&v), 2); }

int CaptureCmd(Admin& admin, const Args& args, size_t i) {
  const Options& o = admin.options();
  v1::CaptureLinkRequest req;
  *req.mutable_target() = admin.Target();
  std::string file;
  for (size_t k = i; k < args.size(); k++) {
    const std::string& a = args[k];
    if (Matches(a, {"-h", "--help", "help"})) {
      Print(kCaptureHelp);
      return kOk;
    }
    if (a == "dev" || a == "-i") req.set_link(NextArg(args, &k, "dev"));
    else if (a == "-c") req.set_count(NumberArg(args, &k, "count"));
    else if (a == "-s") req.set_snaplen(NumberArg(args, &k, "snaplen"));
    else if (a == "-w") file = NextArg(args, &k, "file");
    else if (req.link().empty()) req.set_link(a);
    else throw UsageError{"capture: unexpected '" + a + "'\n" + kCaptureHelp};
  }
  if (req.link().empty() || file.empty()) throw UsageError{kCaptureHelp};
  FILE* out = file == "-" ? stdout : fopen(file.c_str(), "wb");
  if (out == nullptr) {
    fprintf(stderr, "lkctl: %s: %s\n", file.c_str(), strerror(errno));
    return kUsage;
  }
  grpc::ClientContext c;  // no deadline: until COUNT frames or ^C
  c.AddMetadata("lkd-client-pid", std::to_string(getpid()));
  auto reader = v1::Observe::NewStub(admin.channel())->CaptureLink(&c, req);
  reader->WaitForInitialMetadata();  // the socket is bound in lkd
  fprintf(stderr, "listening on %s, link-type EN10MB (Ethernet), snapshot length %u bytes\n",
            req.link().c_str(), req.snaplen() ? req.snaplen() : 65535);
  std::string header;
  PutU32(&header, 0xa1b2c3d4);
  PutU16(&header, 2);
  PutU16(&header, 4);
  PutU32(&header, 0);
  PutU32(&header, 0);
  PutU32(&header, req.snaplen() ? req.snaplen() : 65535);
  PutU32(&header, 1);  // LINKTYPE_ETHERNET (loopback frames have a zero Ethernet header)
  v1::CapturedFrame frame;
  bool started = false;
  uint32_t frames = 0;
  while (reader->Read(&frame)) {
    if (!started) {
      fwrite(header.data(), 1, header.size(), out);
      started = true;
    }
    std::string record;
    PutU32(&record, static_cast<uint32_t>(frame.timestamp_us() / 1000000));
    PutU32(&record, static_cast<uint32_t>(frame.timestamp_us() % 1000000));
    PutU32(&record, static_cast<uint32_t>(frame.data().size()));
    PutU32(&record, frame.length());
    record += frame.data();
    fwrite(record.data(), 1, record.size(), out);
    fflush(out);
    frames++;
  }
  grpc::Status s = reader->Finish();
  if (!started && s.ok()) fwrite(header.data(), 1, header.size(), out);
  if (out != stdout) fclose(out);
  if (!s.ok()) return Report(Explain(s, o, "lkctl: ", req.link()));
  fprintf(stderr, "%u packets captured\n", frames);
  return kOk;
}

// ---------------------------------------------------------------------
// monitor
// ---------------------------------------------------------------------

constexpr char kMonitorHelp[] =
    "Usage: lkctl monitor [ --snapshot ]\n"
    "Changes as they happen, as ip monitor shows them: [LINK], [ADDR], [ROUTE],\n"
    "[NEIGH] and lkd's [SESSION]s; --snapshot: the current state first. Until ^C.\n";

int MonitorCmd(Admin& admin, const Args& args, size_t i) {
  v1::WatchEventsRequest req;
  *req.mutable_target() = admin.Target();
  for (size_t k = i; k < args.size(); k++) {
    if (Matches(args[k], {"-h", "--help", "help"})) {
      Print(kMonitorHelp);
      return kOk;
    }
    if (Matches(args[k], {"--snapshot", "snapshot", "all"})) {
      if (args[k] != "all") req.set_initial_snapshot(true);
    } else {
      throw UsageError{"monitor: unexpected '" + args[k] + "'\n" + kMonitorHelp};
    }
  }
  grpc::ClientContext c;  // until ^C
  c.AddMetadata("lkd-client-pid", std::to_string(getpid()));
  auto reader = v1::Observe::NewStub(admin.channel())->WatchEvents(&c, req);
  v1::Event e;
  while (reader->Read(&e)) {
    const char* kind = e.kind() == v1::EVENT_KIND_LINK        ? "LINK"
                       : e.kind() == v1::EVENT_KIND_ADDRESS   ? "ADDR"
                       : e.kind() == v1::EVENT_KIND_ROUTE     ? "ROUTE"
                       : e.kind() == v1::EVENT_KIND_NEIGHBOUR ? "NEIGH"
                       : e.kind() == v1::EVENT_KIND_SESSION   ? "SESSION"
                                                              : "LOST";
    printf("[%s] %s%s\n", kind, e.action() == v1::EVENT_ACTION_DELETED ? "Deleted " : "",
           e.line().c_str());
    fflush(stdout);
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return Report(Explain(s, admin.options(), "lkctl: "));
  return kOk;
}

// ---------------------------------------------------------------------
// metrics
// ---------------------------------------------------------------------

int MetricsCmd(Admin& admin, const Args& args, size_t i) {
  if (HelpAsked(args, i)) {
    Print("Usage: lkctl metrics\nlkd's counters in the Prometheus text format: uptime,\n"
          "sessions, each session's calls and threads, each link's traffic.\n");
    return kOk;
  }
  if (args.size() > i) throw UsageError{"Error: \"" + args[i] + "\" is a garbage."};
  v1::GetMetricsRequest req;
  *req.mutable_target() = admin.Target();
  v1::GetMetricsResponse resp;
  auto c = admin.Context();
  grpc::Status s = v1::Observe::NewStub(admin.channel())->GetMetrics(c.get(), req, &resp);
  if (!s.ok()) return Report(Explain(s, admin.options(), "lkctl: "));
  Print(resp.text());
  return kOk;
}

// ---------------------------------------------------------------------
// dmesg
// ---------------------------------------------------------------------

constexpr char kDmesgHelp[] =
    "Usage: lkctl dmesg [ -w | --follow ]\n"
    "The kernel log of lkd's kernel, as dmesg(1) prints it; -w waits for new\n"
    "messages (until interrupted).\n";

int DmesgCmd(Admin& admin, const Args& args, size_t i) {
  const Options& o = admin.options();
  v1::StreamKernelLogRequest req;
  *req.mutable_target() = admin.Target();
  for (size_t k = i; k < args.size(); k++) {
    if (Matches(args[k], {"-h", "--help", "help"})) {
      Print(kDmesgHelp);
      return kOk;
    }
    if (Matches(args[k], {"-w", "--follow"})) req.set_follow(true);
    else throw UsageError{"dmesg: unknown option '" + args[k] + "'\n" + kDmesgHelp};
  }
  grpc::ClientContext c;  // no deadline: -w runs until interrupted
  c.AddMetadata("lkd-client-pid", std::to_string(getpid()));
  auto reader = v1::Observe::NewStub(admin.channel())->StreamKernelLog(&c, req);
  v1::KernelLogRecord r;
  JsonWriter j(o.pretty);
  j.BeginArray();
  while (reader->Read(&r)) {
    if (o.json) {
      j.BeginObject();
      j.Number("seq", static_cast<int64_t>(r.seq()));
      j.Number("timestamp_us", static_cast<int64_t>(r.timestamp_us()));
      j.Number("level", r.level());
      j.String("message", r.message());
      j.EndObject();
      continue;
    }
    printf("[%5llu.%06llu] %s\n", static_cast<unsigned long long>(r.timestamp_us() / 1000000),
           static_cast<unsigned long long>(r.timestamp_us() % 1000000), r.message().c_str());
    fflush(stdout);  // -w into a pipe: each line as it comes
  }
  j.EndArray();
  grpc::Status s = reader->Finish();
  if (!s.ok()) return Report(Explain(s, o, "dmesg: "));
  if (o.json) Print(j.Take());
  return kOk;
}

// ---------------------------------------------------------------------
// session, status
// ---------------------------------------------------------------------

constexpr char kSessionHelp[] =
    "Usage: lkctl session [ list ]\n"
    "       lkctl session kill KERNEL_PID\n"
    "Lists the client processes attached to lkd (their kernel pid, host pid,\n"
    "uid, threads, system calls served, open fds, bytes sent and received, start\n"
    "time), or ends one's kernel\n"
    "process (as SIGKILL would: its client's later calls fail with ENOTCONN).\n";

std::string TimeText(int64_t unix_ms) {
  time_t t = unix_ms / 1000;
  tm local;
  localtime_r(&t, &local);
  char buf[32];
  strftime(buf, sizeof(buf), "%H:%M:%S", &local);
  return buf;
}

int SessionCmd(Admin& admin, const Args& args, size_t i) {
  const Options& o = admin.options();
  std::string cmd = i < args.size() ? args[i] : "list";
  if (HelpAsked(args, i)) {
    Print(kSessionHelp);
    return kOk;
  }
  auto stub = v1::Sessions::NewStub(admin.channel());
  auto c = admin.Context();
  if (Matches(cmd, {"list", "ls", "show", "l", "s"})) {
    if (args.size() > i + 1) throw UsageError{"Error: \"" + args[i + 1] + "\" is a garbage."};
    v1::ListSessionsRequest req;
    *req.mutable_target() = admin.Target();
    v1::ListSessionsResponse resp;
    grpc::Status s = stub->ListSessions(c.get(), req, &resp);
    if (!s.ok()) return Report(Explain(s, o, "lkctl: "));
    if (o.json) {
      JsonWriter j(o.pretty);
      j.BeginArray();
      for (const v1::Session& x : resp.sessions()) {
        j.BeginObject();
        j.Number("kernel_pid", x.kernel_pid());
        j.Number("host_pid", x.host_pid());
        j.Number("uid", x.uid());
        j.Number("gid", x.gid());
        j.Number("threads", x.threads());
        j.Number("calls", static_cast<int64_t>(x.calls()));
        j.Number("open_fds", x.open_fds());
        j.Number("bytes_sent", static_cast<int64_t>(x.bytes_sent()));
        j.Number("bytes_received", static_cast<int64_t>(x.bytes_received()));
        j.Number("start_time_unix_ms", x.start_time_unix_ms());
        j.EndObject();
      }
      j.EndArray();
      Print(j.Take());
      return kOk;
    }
    printf("%8s %8s %6s %7s %12s %6s %12s %12s %8s\n", "KPID", "HOSTPID", "UID", "THREADS",
           "CALLS", "FDS", "SENT", "RECEIVED", "STARTED");
    for (const v1::Session& x : resp.sessions())
      printf("%8d %8d %6u %7u %12llu %6u %12llu %12llu %8s\n", x.kernel_pid(), x.host_pid(),
             x.uid(), x.threads(), static_cast<unsigned long long>(x.calls()), x.open_fds(),
             static_cast<unsigned long long>(x.bytes_sent()),
             static_cast<unsigned long long>(x.bytes_received()),
             TimeText(x.start_time_unix_ms()).c_str());
    return kOk;
  }
  if (cmd == "kill") {
    if (args.size() != i + 2) throw UsageError{"Usage: lkctl session kill KERNEL_PID"};
    size_t k = i;
    v1::KillSessionRequest req;
    *req.mutable_target() = admin.Target();
    req.set_kernel_pid(static_cast<int32_t>(NumberArg(args, &k, "kernel pid")));
    v1::KillSessionResponse resp;
    grpc::Status s = stub->KillSession(c.get(), req, &resp);
    if (!s.ok()) {
      if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
        fprintf(stderr, "lkctl: no session with kernel pid %d\n", req.kernel_pid());
        return kNotFound;
      }
      return Report(Explain(s, o, "lkctl: "));
    }
    return kOk;
  }
  throw UsageError{"Command \"" + cmd + "\" is unknown, try \"lkctl session help\"."};
}

int StatusCmd(Admin& admin, const Args& args, size_t i) {
  const Options& o = admin.options();
  if (HelpAsked(args, i)) {
    Print("Usage: lkctl status\nWhat lkd runs: versions, uptime, kernel command line, NICs,\n"
          "disks, attached clients, the CPUs its dispatch threads use, and what this\n"
          "caller may do.\n");
    return kOk;
  }
  if (args.size() > i) throw UsageError{"Error: \"" + args[i] + "\" is a garbage."};
  v1::GetSystemRequest req;
  *req.mutable_target() = admin.Target();
  v1::GetSystemResponse r;
  auto c = admin.Context();
  grpc::Status s = v1::System::NewStub(admin.channel())->GetSystem(c.get(), req, &r);
  if (!s.ok()) return Report(Explain(s, o, "lkctl: "));
  if (o.json) {
    JsonWriter j(o.pretty);
    j.BeginArray();
    j.BeginObject();
    j.String("lkd_version", r.lkd_version());
    j.String("kernel_release", r.kernel_release());
    j.String("kernel_version", r.kernel_version());
    j.String("kernel_cmdline", r.kernel_cmdline());
    j.Number("uptime_ms", static_cast<int64_t>(r.uptime_ms()));
    j.Number("sessions", r.sessions());
    j.String("role", r.role());
    j.BeginArray("dispatch_cpus");
    for (uint32_t cpu : r.dispatch_cpus()) j.Number({}, cpu);
    j.EndArray();
    j.BeginArray("nics");
    for (const auto& n : r.nics()) {
      j.BeginObject();
      j.String("backend", n.backend());
      j.String("ifname", n.link());
      j.EndObject();
    }
    j.EndArray();
    j.BeginArray("disks");
    for (const auto& d : r.disks()) {
      j.BeginObject();
      j.String("image", d.image());
      j.String("fstype", d.fstype());
      j.String("mountpoint", d.mountpoint());
      j.Bool("read_only", d.read_only());
      j.EndObject();
    }
    j.EndArray();
    j.EndObject();
    j.EndArray();
    Print(j.Take());
    return kOk;
  }
  printf("lkd:      %s at %s\n", r.lkd_version().c_str(), o.host.c_str());
  printf("kernel:   Linux %s %s\n", r.kernel_release().c_str(), r.kernel_version().c_str());
  printf("cmdline:  %s\n", r.kernel_cmdline().c_str());
  printf("uptime:   %.1fs\n", r.uptime_ms() / 1000.0);
  for (const auto& n : r.nics()) printf("nic:      %s is %s\n", n.backend().c_str(), n.link().c_str());
  for (const auto& d : r.disks())
    printf("disk:     %s on %s (%s, %s)\n", d.image().c_str(), d.mountpoint().c_str(),
           d.fstype().c_str(), d.read_only() ? "ro" : "rw");
  printf("sessions: %u\n", r.sessions());
  if (r.dispatch_cpus().empty()) {
    printf("dispatch: not pinned\n");
  } else {
    const std::vector<int> cpus(r.dispatch_cpus().begin(), r.dispatch_cpus().end());
    printf("dispatch: CPU %s while busy (clients keep off it)\n",
           lkd::FormatCpuList(cpus).c_str());
  }
  printf("role:     %s\n", r.role().c_str());
  return kOk;
}

// ---------------------------------------------------------------------
// main
// ---------------------------------------------------------------------

constexpr char kHelp[] =
    "Usage: lkctl [ OPTIONS ] OBJECT { COMMAND | help }\n"
    "Configure a running lkd (the Linux kernel as a daemon) through its admin plane.\n"
    "OBJECT := { link | addr | route | neigh | netns | sysctl | ss | dmesg | metrics |\n"
    "            capture | monitor | session | status }\n"
    "OPTIONS := { -H[ost] ADDRESS | -j[son] | -p[retty] | -n[etns] NAME | -4 | -6 |\n"
    "             -s[tatistics] | --cacert FILE | --cert FILE | --key FILE | -h[elp] }\n"
    "  -H ADDRESS  lkd's admin plane: unix:///PATH, or tcp://HOST:PORT (mutual TLS)\n"
    "              (default $LKD_ADMIN, else unix:///run/lkd/admin.sock)\n"
    "  --cacert FILE  for tcp://: the CA of lkd's certificate (default: the system's)\n"
    "  --cert FILE --key FILE  for tcp://: this client's certificate and key\n"
    "Examples:\n"
    "  lkctl addr add 10.0.2.2/24 dev eth0\n"
    "  lkctl route add 10.9.0.0/24 via 10.0.2.1\n"
    "  lkctl -j route show\n"
    "  lkctl sysctl -w net.ipv4.tcp_congestion_control=bbr\n"
    "  lkctl session list\n"
    "Exit status: 0 done, 1 not found, 2 the kernel refused, 3 lkd unreachable or\n"
    "refusing this caller, 255 usage.\n";

int Main(int argc, char** argv) {
  Args args(argv + 1, argv + argc);
  Options o;
  const char* env = getenv("LKD_ADMIN");
  o.host = env && *env ? env : kDefaultHost;
  size_t i = 0;
  for (; i < args.size(); i++) {
    const std::string& a = args[i];
    if (a.empty() || a[0] != '-') break;
    std::string flag = a.substr(a[1] == '-' ? 2 : 1);
    if (Matches(flag, {"H", "host", "Host"})) o.host = NextArg(args, &i, "host");
    else if (flag == "cacert") o.cacert = NextArg(args, &i, "cacert");
    else if (flag == "cert") o.cert = NextArg(args, &i, "cert");
    else if (flag == "key") o.key = NextArg(args, &i, "key");
    else if (Matches(flag, {"j", "json"})) o.json = true;
    else if (Matches(flag, {"p", "pretty"})) o.pretty = true;
    else if (Matches(flag, {"n", "netns"})) o.netns = NextArg(args, &i, "netns");
    else if (flag == "4") o.family = 4;
    else if (flag == "6") o.family = 6;
    else if (Matches(flag, {"s", "stats", "statistics"})) o.stats = true;
    else if (Matches(flag, {"h", "help"})) {
      Print(kHelp);
      return kOk;
    } else {
      throw UsageError{"Option \"" + a + "\" is unknown, try \"lkctl -help\"."};
    }
  }
  if (OverTcp(o)) {
    if (o.cert.empty() != o.key.empty())
      throw UsageError{"lkctl: --cert and --key go together (a client certificate and its key)"};
  } else if (o.host.rfind("unix://", 0) != 0 && o.host.rfind("unix:", 0) != 0) {
    if (!o.host.empty() && o.host[0] == '/') o.host = "unix://" + o.host;
    else
      throw UsageError{"lkctl: -H " + o.host +
                       ": want unix:///PATH or tcp://HOST:PORT (with --cacert --cert --key)"};
  } else if (!o.cacert.empty() || !o.cert.empty() || !o.key.empty()) {
    throw UsageError{"lkctl: --cacert, --cert and --key are for tcp:// addresses"};
  }
  if (i >= args.size()) {
    fputs(kHelp, stderr);
    return kUsage;
  }
  const std::string object = args[i++];
  if (object == "help") {
    Print(kHelp);
    return kOk;
  }
  Admin admin(o);
  // The classic abbreviations, spelled out (no prefix matching).
  if (Matches(object, {"link", "l", "li", "lin"})) return LinkCmd(admin, args, i, false);
  if (Matches(object, {"addr", "address", "a", "ad", "add"})) return LinkCmd(admin, args, i, true);
  if (Matches(object, {"route", "r", "ro", "rou"})) return RouteCmd(admin, args, i);
  if (Matches(object, {"neigh", "neighbour", "neighbor", "n", "ne", "nei"}))
    return NeighCmd(admin, args, i);
  if (object == "sysctl") return SysctlCmd(admin, args, i);
  if (Matches(object, {"netns", "netn"})) return NetnsCmd(admin, args, i);
  if (object == "dmesg") return DmesgCmd(admin, args, i);
  if (object == "ss") return SsCmd(admin, args, i);
  if (object == "metrics") return MetricsCmd(admin, args, i);
  if (object == "capture") return CaptureCmd(admin, args, i);
  if (Matches(object, {"monitor", "mon"})) return MonitorCmd(admin, args, i);
  if (Matches(object, {"session", "sessions", "se"})) return SessionCmd(admin, args, i);
  if (Matches(object, {"status", "st"})) return StatusCmd(admin, args, i);
  throw UsageError{"Object \"" + object + "\" is unknown, try \"lkctl help\"."};
}

}  // namespace
}  // namespace lkd::lkctl

int main(int argc, char** argv) {
  // lkctl explains every failure itself (Explain); gRPC's own log lines
  // (a failed TLS handshake, say) would only repeat it, in gRPC's words.
  // GRPC_VERBOSITY set by the user still wins.
  setenv("GRPC_VERBOSITY", "NONE", 0);
  try {
    return lkd::lkctl::Main(argc, argv);
  } catch (const lkd::lkctl::UsageError& e) {
    fprintf(stderr, "%s\n", e.message.c_str());
    return lkd::lkctl::kUsage;
  }
}
