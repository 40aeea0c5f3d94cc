// SPDX-License-Identifier: GPL-2.0
// The admin plane's costs (issue #13): routes added per second through
// the API (no lkctl process per route) beside the host kernel's own
// rtnetlink through ip(8)'s batch mode in a fresh network namespace; the
// median and 99th percentile of a read call; a large table added, listed,
// and lkd's RSS after it. Prints "BENCH <name> <value> <unit>" lines.
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "schema/admin/v1/routes.grpc.pb.h"
#include "schema/admin/v1/sysctl.grpc.pb.h"
#include "server/daemon/testing/lkd_fixture.h"

ABSL_FLAG(int, routes, 5000, "routes added for the per-second figures");
ABSL_FLAG(int, calls, 2000, "read calls for the latency figures");
ABSL_FLAG(int, table_routes, 100000, "routes in the large table (0: skip)");

namespace {

namespace v1 = ::lkd::admin::v1;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point from) {
  return std::chrono::duration<double>(Clock::now() - from).count();
}

void Bench(const char* name, double value, const char* unit) {
  printf("BENCH %s %.3f %s\n", name, value, unit);
  fflush(stdout);
}

// The i-th distinct /24 under 10.0.0.0/8 (skipping nothing: lo takes any).
std::string Prefix(int i) {
  return absl::StrCat("10.", (i >> 8) & 0xff, ".", i & 0xff, ".0/24");
}
std::string Prefix16(int i) {  // for the large table: /32s under 11.0.0.0/8
  return absl::StrCat("11.", (i >> 16) & 0xff, ".", (i >> 8) & 0xff, ".", i & 0xff);
}

// Adds `count` routes named by `prefix` through the API; false on the
// first error (printed).
bool AddRoutes(v1::Routes::Stub& stub, int count, std::string (*prefix)(int)) {
  for (int i = 0; i < count; i++) {
    v1::AddRouteRequest req;
    req.mutable_route()->set_dst(prefix(i));
    req.mutable_route()->set_dev("lo");
    v1::AddRouteResponse resp;
    grpc::ClientContext c;
    grpc::Status s = stub.AddRoute(&c, req, &resp);
    if (!s.ok()) {
      fprintf(stderr, "admin_bench: add route %s: %s\n", prefix(i).c_str(),
              s.error_message().c_str());
      return false;
    }
  }
  return true;
}

// ip -batch with `count` route adds in a new network namespace of a
// child process: the host kernel's rtnetlink, one process for all.
double HostRoutesPerSecond(int count) {
  if (geteuid() != 0) return -1;
  char path[] = "/tmp/lkd-admin-bench-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  close(fd);
  {
    std::ofstream batch(path);
    batch << "link set lo up\n";
    for (int i = 0; i < count; i++) batch << "route add " << Prefix(i) << " dev lo\n";
  }
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    if (unshare(CLONE_NEWNET) != 0) _exit(1);
    execlp("ip", "ip", "-batch", path, static_cast<char*>(nullptr));
    _exit(127);
  }
  int status;
  waitpid(pid, &status, 0);
  double seconds = Seconds(start);
  unlink(path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return count / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the admin plane's route-add rate beside the host's, its read-call latency, and a "
      "large route table.\nUsage: admin_bench [--routes N] [--calls N] [--table_routes N]");
  absl::ParseCommandLine(argc, argv);
  auto lkd = lkd::testing::LkdDaemon::Start({"--mem", "512M"});
  if (!lkd.ok()) {
    fprintf(stderr, "admin_bench: %s\n", std::string(lkd.status().message()).c_str());
    return 1;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);  // the large table's list
  auto channel = grpc::CreateCustomChannel((*lkd)->admin_url(),
                                           grpc::experimental::LocalCredentials(UDS), args);
  auto routes = v1::Routes::NewStub(channel);
  auto sysctl = v1::Sysctl::NewStub(channel);

  const int n = absl::GetFlag(FLAGS_routes);
  auto start = Clock::now();
  if (!AddRoutes(*routes, n, Prefix)) return 1;
  Bench("admin_route_add_per_s", n / Seconds(start), "routes/s");
  if (double host = HostRoutesPerSecond(n); host > 0)
    Bench("host_route_add_per_s", host, "routes/s");
  else
    fprintf(stderr, "admin_bench: host_route_add_per_s needs root and ip(8)\n");

  std::vector<double> us;
  for (int i = 0; i < absl::GetFlag(FLAGS_calls); i++) {
    v1::GetSysctlRequest req;
    req.set_name("kernel.ostype");
    v1::GetSysctlResponse resp;
    grpc::ClientContext c;
    auto t = Clock::now();
    if (!sysctl->GetSysctl(&c, req, &resp).ok()) return 1;
    us.push_back(Seconds(t) * 1e6);
  }
  std::sort(us.begin(), us.end());
  Bench("admin_call_p50_us", us[us.size() / 2], "us");
  Bench("admin_call_p99_us", us[us.size() * 99 / 100], "us");

  if (int table = absl::GetFlag(FLAGS_table_routes); table > 0) {
    start = Clock::now();
    if (!AddRoutes(*routes, table, Prefix16)) return 1;
    Bench("admin_table_add_s", Seconds(start), "s");
    start = Clock::now();
    v1::ListRoutesRequest req;
    v1::ListRoutesResponse resp;
    grpc::ClientContext c;
    grpc::Status s = routes->ListRoutes(&c, req, &resp);
    if (!s.ok()) {
      fprintf(stderr, "admin_bench: list routes: %s\n", s.error_message().c_str());
      return 1;
    }
    Bench("admin_table_list_ms", Seconds(start) * 1000, "ms");
    Bench("admin_table_routes", resp.routes_size(), "routes");
    Bench("admin_table_lkd_rss_mib", (*lkd)->RssKib() / 1024.0, "MiB");
  }
  return 0;
}
