// SPDX-License-Identifier: GPL-2.0
// The admin plane end to end: lkctl against a real lkd, and the effect
// checked from outside it: clients of lkd reach (or no longer reach) a
// host server across a TAP, a client socket gets the congestion control a
// sysctl chose, sessions listed are the clients the test forked, and
// users who may not change lkd are told so.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/cpu_set.h"
#include "gtest/gtest.h"
#include "rumpclient/lkclient.h"
#include "schema/admin/v1/observe.grpc.pb.h"
#include "schema/admin/v1/routes.grpc.pb.h"
#include "schema/admin/v1/sysctl.grpc.pb.h"
#include "server/daemon/testing/system_test_util.h"
#include "tests/daemon/lkd_test.h"

namespace lkd::testing {
namespace {

bool IsRoot() { return geteuid() == 0; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Result {
  int exit = -1;
  std::string out, err;
};

// lkctl, copied where any user may run it (Bazel's runfiles live under
// root's home, which other users cannot enter).
class Lkctl {
 public:
  Lkctl() {
    char dir[] = "/tmp/lkctl-XXXXXX";
    if (mkdtemp(dir) == nullptr) return;
    dir_ = dir;
    chmod(dir, 0755);
    path_ = dir_ + "/lkctl";
    std::ifstream src("tools/lkctl/lkctl", std::ios::binary);
    std::ofstream dst(path_, std::ios::binary);
    dst << src.rdbuf();
    dst.close();
    chmod(path_.c_str(), 0755);
  }
  ~Lkctl() {
    unlink(path_.c_str());
    unlink((dir_ + "/out").c_str());
    unlink((dir_ + "/err").c_str());
    rmdir(dir_.c_str());
  }

  // Runs lkctl with `args` as `who` (root if unset); stdout and stderr
  // through files, so that long outputs cannot block it.
  const std::string& path() const { return path_; }

  Result Run(const std::vector<std::string>& args, const Credentials* who = nullptr) const {
    Result r;
    const std::string out = dir_ + "/out", err = dir_ + "/err";
    pid_t pid = fork();
    if (pid == 0) {
      int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
      int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
      dup2(o, 1);
      dup2(e, 2);
      if (who != nullptr) {
        if (setgroups(0, nullptr) != 0 || setgid(who->gid) != 0 || setuid(who->uid) != 0)
          _exit(120);
      }
      std::vector<char*> argv = {const_cast<char*>(path_.c_str())};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(path_.c_str(), argv.data());
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    r.exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    return r;
  }

 private:
  std::string dir_, path_;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.exit << "\n--- stdout ---\n" << r.out << "--- stderr ---\n" << r.err;
}

class AdminTest : public LkdTest {
 protected:
  Result Ctl(std::vector<std::string> args, const Credentials* who = nullptr) {
    args.insert(args.begin(), {"-H", lkd_->admin_url()});
    return lkctl_.Run(args, who);
  }
  Lkctl lkctl_;
};

// ---- sysctl ---------------------------------------------------------------

// A new client socket's congestion control, or "" on failure.
std::string ClientCongestionControl(const std::string& url) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return "";
  pid_t pid = ForkClient(url, [&]() {
    close(pipefd[0]);
    CHECK_OR(lk_init() == 0, 10);
    int fd = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_OR(fd >= 0, 11);
    char name[16] = {};
    socklen_t len = sizeof(name);
    CHECK_OR(lk_sys_getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) == 0, 12);
    CHECK_OR(write(pipefd[1], name, strnlen(name, sizeof(name))) > 0, 13);
    return 0;
  });
  close(pipefd[1]);
  std::string name;
  char buf[16];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) name.append(buf, n);
  close(pipefd[0]);
  if (WaitClient(pid) != 0) return "";
  return name;
}

TEST_F(AdminTest, SysctlWriteReachesNewSockets) {
  Result before = Ctl({"sysctl", "-n", "net.ipv4.tcp_congestion_control"});
  ASSERT_EQ(before.exit, 0) << before;
  EXPECT_NE(before.out, "bbr\n");
  EXPECT_EQ(ClientCongestionControl(lkd_->url()) + "\n", before.out);

  Result set = Ctl({"sysctl", "-w", "net.ipv4.tcp_congestion_control=bbr"});
  ASSERT_EQ(set.exit, 0) << set;
  EXPECT_EQ(set.out, "net.ipv4.tcp_congestion_control = bbr\n");
  EXPECT_EQ(ClientCongestionControl(lkd_->url()), "bbr");
  EXPECT_NE(lkd_->Log().find("set sysctl net.ipv4.tcp_congestion_control = bbr: done"),
            std::string::npos)
      << "the change is not in lkd's audit log";
}

TEST_F(AdminTest, SysctlListsTheKernelsTree) {
  Result all = Ctl({"sysctl", "-a"});
  ASSERT_EQ(all.exit, 0) << all;
  std::vector<std::string> lines = absl::StrSplit(all.out, '\n', absl::SkipEmpty());
  EXPECT_GT(lines.size(), 300u);
  EXPECT_NE(all.out.find("\nkernel.ostype = Linux\n"), std::string::npos);
  EXPECT_NE(all.out.find("\nnet.ipv4.ip_forward = 0\n"), std::string::npos);
  for (const std::string& line : lines) ASSERT_NE(line.find(" = "), std::string::npos) << line;

  Result prefix = Ctl({"sysctl", "-a", "net.ipv4.tcp_congestion_control"});
  EXPECT_EQ(prefix.exit, 0) << prefix;
  EXPECT_EQ(absl::StrSplit(prefix.out, '\n', absl::SkipEmpty()).begin()->substr(0, 31),
            "net.ipv4.tcp_congestion_control");

  Result unknown = Ctl({"sysctl", "net.ipv4.no_such_thing"});
  EXPECT_EQ(unknown.exit, 1) << unknown;
  EXPECT_EQ(unknown.err,
            "sysctl: cannot stat /proc/sys/net/ipv4/no_such_thing: No such file or directory\n");
  Result bad = Ctl({"sysctl", "-w", "net.ipv4.tcp_congestion_control=no-such-algorithm"});
  EXPECT_EQ(bad.exit, 2) << bad;
  EXPECT_NE(bad.err.find("No such file or directory"), std::string::npos) << bad;
}

// ---- links and usage --------------------------------------------------

TEST_F(AdminTest, LinksAndUsage) {
  Result show = Ctl({"link", "show", "lo"});
  ASSERT_EQ(show.exit, 0) << show;
  EXPECT_EQ(show.out.substr(0, 35), "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 6");
  Result mtu = Ctl({"link", "set", "dev", "lo", "mtu", "1400"});
  ASSERT_EQ(mtu.exit, 0) << mtu;
  Result json = Ctl({"-j", "link", "show", "lo"});
  ASSERT_EQ(json.exit, 0) << json;
  EXPECT_EQ(json.out.substr(0, 1), "[");
  EXPECT_NE(json.out.find("\"ifname\":\"lo\""), std::string::npos) << json;
  EXPECT_NE(json.out.find("\"mtu\":1400"), std::string::npos) << json;

  Result missing = Ctl({"addr", "add", "10.5.0.1/24", "dev", "eth9"});
  EXPECT_EQ(missing.exit, 1) << missing;
  EXPECT_EQ(missing.err, "Cannot find device \"eth9\"\n");
  // The kernel's extended ack, in ip(8)'s words.
  Result no_gateway = Ctl({"route", "add", "10.8.0.0/16", "via", "10.77.0.1"});
  EXPECT_EQ(no_gateway.exit, 2) << no_gateway;
  EXPECT_EQ(no_gateway.err, "Error: Nexthop has invalid gateway.\n");

  EXPECT_EQ(Ctl({"frobnicate"}).exit, 255);
  EXPECT_EQ(Ctl({"route", "add"}).exit, 255);
  for (const char* object :
       {"link", "addr", "route", "neigh", "netns", "sysctl", "ss", "dmesg", "metrics", "capture",
        "monitor", "session", "status"}) {
    Result help = Ctl({object, "help"});
    EXPECT_EQ(help.exit, 0) << object;
    EXPECT_NE(help.out.find("Usage: lkctl"), std::string::npos) << object << help;
  }
  EXPECT_EQ(lkctl_.Run({"--help"}).exit, 0);
  Result status = Ctl({"status"});
  EXPECT_EQ(status.exit, 0) << status;
  EXPECT_NE(status.out.find("kernel:   Linux 6.1"), std::string::npos) << status;
  EXPECT_NE(status.out.find("role:     admin"), std::string::npos) << status;
  // lkd's default --dispatch_cpus=auto: the highest CPU it may use, if two.
  const std::vector<int> cpus = AllowedCpus();
  const std::string dispatch =
      cpus.size() >= 2 ? absl::StrCat("dispatch: CPU ", cpus.back(), " while busy")
                       : "dispatch: not pinned";
  EXPECT_NE(status.out.find(dispatch), std::string::npos) << status;
  Result status_json = Ctl({"-j", "status"});
  EXPECT_EQ(status_json.exit, 0) << status_json;
  EXPECT_NE(status_json.out.find(cpus.size() >= 2
                              ? absl::StrCat("\"dispatch_cpus\":[", cpus.back(), "]")
                              : "\"dispatch_cpus\":[]"),
            std::string::npos)
      << status_json;
}

// ---- client wake-ups -----------------------------------------------------

// The count of lkd_client_wakes_total{by="BY"} in `metrics`, or -1.
long long ClientWakes(const std::string& metrics, const std::string& by) {
  const std::string key = absl::StrCat("lkd_client_wakes_total{by=\"", by, "\"} ");
  const size_t at = metrics.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(metrics.substr(at + key.size()));
}

// 8 clients, each with two threads bouncing a byte through a socket pair
// in lkd 2,000 times: every read blocks in lkd and its thread sleeps until
// the other thread's write wakes it. Returns true if every exchange was
// right.
bool PingPongClients(const std::string& url) {
  constexpr int kClients = 8, kRounds = 2000;
  std::vector<pid_t> pids;
  for (int i = 0; i < kClients; i++) {
    pids.push_back(ForkClient(url, [&]() {
      CHECK_OR(lk_init() == 0, 10);
      int sv[2];
      CHECK_OR(lk_sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, 11);
      std::atomic<bool> echo_ok{true};
      std::thread echo([&] {
        for (int k = 0; k < kRounds; k++) {
          char b;
          if (lk_sys_read(sv[1], &b, 1) != 1 || lk_sys_write(sv[1], &b, 1) != 1) {
            echo_ok = false;
            return;
          }
        }
      });
      bool ok = true;
      for (int k = 0; k < kRounds && ok; k++) {
        char out = static_cast<char>(k), in = 0;
        ok = lk_sys_write(sv[0], &out, 1) == 1 && lk_sys_read(sv[0], &in, 1) == 1 && in == out;
      }
      if (!ok) lk_sys_shutdown(sv[0], SHUT_RDWR);  // ends the echo thread's read
      echo.join();
      return ok && echo_ok ? 0 : 12;
    }));
  }
  bool ok = true;
  for (pid_t pid : pids) ok = WaitClient(pid) == 0 && ok;
  return ok;
}

// While many clients are busy at once, a waker thread wakes the sleeping
// ones, so the thread running lkd's kernel does not pay for those wake-ups
// (channel_dispatcher.cc, Waker); every exchange stays right.
TEST_F(AdminTest, ClientsBusyAtOnceAreWokenByTheWaker) {
  ASSERT_TRUE(PingPongClients(lkd_->url()));
  Result metrics = Ctl({"metrics"});
  ASSERT_EQ(metrics.exit, 0) << metrics;
  EXPECT_NE(metrics.out.find("# TYPE lkd_client_wakes_total counter\n"), std::string::npos);
  EXPECT_GT(ClientWakes(metrics.out, "waker"), 0) << metrics.out;
  EXPECT_GE(ClientWakes(metrics.out, "answering_thread"), 0) << metrics.out;
}

// --dispatch_waker=false: the thread that completes a call wakes its
// client itself, always; the same exchanges stay right.
TEST(AdminWakerOffTest, WithoutTheWakerAnsweringThreadsWake) {
  auto lkd = LkdDaemon::Start({"--dispatch_waker=false"});
  ASSERT_TRUE(lkd.ok()) << lkd.status();
  ASSERT_TRUE(PingPongClients((*lkd)->url()));
  Lkctl lkctl;
  Result metrics = lkctl.Run({"-H", (*lkd)->admin_url(), "metrics"});
  ASSERT_EQ(metrics.exit, 0) << metrics;
  EXPECT_EQ(ClientWakes(metrics.out, "waker"), 0) << metrics.out;
  EXPECT_GT(ClientWakes(metrics.out, "answering_thread"), 0) << metrics.out;
}

// ---- sessions -----------------------------------------------------------

TEST_F(AdminTest, SessionsListedAndOneKilled) {
  constexpr int kClients = 8;
  constexpr uid_t kNobody = 65534;
  int ready[2], release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < kClients; i++) {
    pids.push_back(ForkClient(lkd_->url(), [&, i]() {
      close(release[1]);
      if (i >= kClients / 2) CHECK_OR(setgid(kNobody) == 0 && setuid(kNobody) == 0, 10);
      CHECK_OR(lk_init() == 0, 11);
      for (int k = 0; k < 10 * (i + 1); k++) {
        int fd = lk_sys_socket(AF_INET, SOCK_DGRAM, 0);
        CHECK_OR(fd >= 0, 12);
        CHECK_OR(lk_sys_close(fd) == 0, 13);
      }
      // Client i moves (i + 1) * 1000 bytes through a socket pair in lkd:
      // sent once and received once.
      int sv[2];
      CHECK_OR(lk_sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, 16);
      const std::string data((i + 1) * 1000, 'x');
      CHECK_OR(lk_sys_write(sv[0], data.data(), data.size()) == static_cast<ssize_t>(data.size()),
               17);
      std::string got(data.size(), '\0');
      for (size_t n = 0; n < got.size();) {
        ssize_t r = lk_sys_read(sv[1], got.data() + n, got.size() - n);
        CHECK_OR(r > 0, 18);
        n += r;
      }
      CHECK_OR(got == data && lk_sys_close(sv[0]) == 0 && lk_sys_close(sv[1]) == 0, 19);
      // Client i holds i + 1 sockets while it is listed.
      for (int k = 0; k <= i; k++) CHECK_OR(lk_sys_socket(AF_INET, SOCK_DGRAM, 0) == k, 15);
      CHECK_OR(write(ready[1], "r", 1) == 1, 14);
      char c;
      (void)!read(release[0], &c, 1);  // EOF: the test is done listing
      int fd = lk_sys_socket(AF_INET, SOCK_DGRAM, 0);
      if (fd < 0) return errno == ENOTCONN ? 50 : 51;
      return 0;
    }));
  }
  close(release[0]);
  close(ready[1]);
  for (int i = 0; i < kClients; i++) {
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1) << "client " << i << " never got ready";
  }
  close(ready[0]);

  Result list = Ctl({"session", "list"});
  ASSERT_EQ(list.exit, 0) << list;
  std::vector<std::string> lines = absl::StrSplit(list.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u + kClients) << list;
  EXPECT_NE(lines[0].find("KPID  HOSTPID    UID THREADS        CALLS    FDS         SENT"
                          "     RECEIVED  STARTED"),
            std::string::npos)
      << lines[0];
  int victim_kpid = -1;
  for (size_t l = 1; l < lines.size(); l++) {
    std::istringstream row(lines[l]);
    int kpid, host_pid;
    unsigned uid, threads, fds;
    unsigned long long calls, sent, received;
    ASSERT_TRUE(row >> kpid >> host_pid >> uid >> threads >> calls >> fds >> sent >> received)
        << lines[l];
    auto it = std::find(pids.begin(), pids.end(), host_pid);
    ASSERT_NE(it, pids.end()) << "not a client of this test: " << lines[l];
    const int i = static_cast<int>(it - pids.begin());
    EXPECT_EQ(uid, i >= kClients / 2 ? kNobody : 0u) << lines[l];
    EXPECT_GE(threads, 1u) << lines[l];
    EXPECT_GE(calls, 2ull * 10 * (i + 1)) << lines[l];
    EXPECT_EQ(fds, static_cast<unsigned>(i + 1)) << lines[l];
    EXPECT_EQ(sent, (i + 1) * 1000ull) << lines[l];
    EXPECT_EQ(received, (i + 1) * 1000ull) << lines[l];
    if (i == 0) victim_kpid = kpid;
  }
  ASSERT_GT(victim_kpid, 0);

  Result metrics = Ctl({"metrics"});
  ASSERT_EQ(metrics.exit, 0) << metrics;
  EXPECT_NE(metrics.out.find("\nlkd_sessions 8\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.out.find("# TYPE lkd_session_calls_total counter\n"), std::string::npos);
  EXPECT_NE(metrics.out.find(absl::StrCat("lkd_session_calls_total{kernel_pid=\"", victim_kpid,
                                          "\",host_pid=\"", pids[0], "\",uid=\"0\"} ")),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.out.find(absl::StrCat("lkd_session_open_fds{kernel_pid=\"", victim_kpid,
                                          "\",host_pid=\"", pids[0], "\",uid=\"0\"} 1\n")),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.out.find("lkd_link_rx_bytes_total{link=\"lo\"} "), std::string::npos);
  EXPECT_NE(metrics.out.find(absl::StrCat("lkd_session_bytes_sent_total{kernel_pid=\"",
                                          victim_kpid, "\",host_pid=\"", pids[0],
                                          "\",uid=\"0\"} 1000\n")),
            std::string::npos)
      << metrics;
  // The call-latency histogram: cumulative buckets ending in +Inf, whose
  // count is every call served so far (at least the clients' calls).
  EXPECT_NE(metrics.out.find("# TYPE lkd_call_latency_seconds histogram\n"), std::string::npos);
  {
    const size_t inf = metrics.out.find("lkd_call_latency_seconds_bucket{le=\"+Inf\"} ");
    const size_t count = metrics.out.find("lkd_call_latency_seconds_count ");
    ASSERT_NE(inf, std::string::npos) << metrics;
    ASSERT_NE(count, std::string::npos) << metrics;
    const unsigned long long in_inf = std::stoull(metrics.out.substr(inf + 43));
    const unsigned long long total = std::stoull(metrics.out.substr(count + 31));
    EXPECT_EQ(in_inf, total);
    EXPECT_GE(total, 8ull * 2 * 10);
    EXPECT_NE(metrics.out.find("lkd_call_latency_seconds_bucket{le=\"1e-06\"} "),
              std::string::npos);
  }

  Result kill = Ctl({"session", "kill", std::to_string(victim_kpid)});
  EXPECT_EQ(kill.exit, 0) << kill;
  EXPECT_EQ(Ctl({"session", "kill", "999999"}).exit, 1);
  close(release[1]);
  EXPECT_EQ(WaitClient(pids[0]), 50) << "the killed client's calls should fail with ENOTCONN";
  for (int i = 1; i < kClients; i++) EXPECT_EQ(WaitClient(pids[i]), 0) << "client " << i;
}

// ---- sockets ----------------------------------------------------------------

TEST_F(AdminTest, SsShowsSocketsWithTheirSessions) {
  int ready[2], release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  pid_t client = ForkClient(lkd_->url(), [&]() {
    close(release[1]);
    CHECK_OR(lk_init() == 0, 10);
    int l = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in at = Ipv4Address("127.0.0.1", 5555);
    CHECK_OR(lk_sys_bind(l, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 0, 11);
    CHECK_OR(lk_sys_listen(l, 4) == 0, 12);
    int c = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_OR(lk_sys_connect(c, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 0, 13);
    int u = lk_sys_socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in uat = Ipv4Address("127.0.0.1", 5556);
    CHECK_OR(lk_sys_bind(u, reinterpret_cast<sockaddr*>(&uat), sizeof(uat)) == 0, 14);
    CHECK_OR(write(ready[1], "r", 1) == 1, 15);
    char ch;
    (void)!read(release[0], &ch, 1);
    return 0;
  });
  close(ready[1]);
  close(release[0]);
  char ch;
  ASSERT_EQ(read(ready[0], &ch, 1), 1);
  const std::string users = absl::StrCat("pid=", client, ",fd=");

  Result listening = Ctl({"ss", "-tlnp"});
  ASSERT_EQ(listening.exit, 0) << listening;
  std::vector<std::string> lines = absl::StrSplit(listening.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << listening;
  EXPECT_EQ(lines[0].substr(0, 5), "State");
  EXPECT_EQ(lines[1].substr(0, 6), "LISTEN");
  EXPECT_NE(lines[1].find("127.0.0.1:5555"), std::string::npos) << listening;
  EXPECT_NE(lines[1].find(users), std::string::npos) << listening;

  Result all = Ctl({"ss", "-tanp"});
  ASSERT_EQ(all.exit, 0) << all;
  int established = 0;
  for (const absl::string_view line : absl::StrSplit(all.out, '\n'))
    if (absl::StartsWith(line, "ESTAB") && line.find(users) != std::string::npos) established++;
  EXPECT_EQ(established, 1) << "the connected end (the accepted one is not in the client's "
                               "fd table until accept)\n" << all;
  EXPECT_NE(all.out.find("LISTEN"), std::string::npos);

  Result udp = Ctl({"ss", "-ulnp"});
  EXPECT_NE(udp.out.find("UNCONN"), std::string::npos) << udp;
  EXPECT_NE(udp.out.find("127.0.0.1:5556"), std::string::npos) << udp;

  close(release[1]);
  EXPECT_EQ(WaitClient(client), 0);
  close(ready[0]);
}

// ---- packet capture -------------------------------------------------------

bool ReadUntil(int fd, const std::string& text, std::string* seen);  // below

// Captures 6 frames of lkd's loopback `lo` in namespace `netns` ("": the
// initial one) with `lkctl [-n NETNS] capture` while a client attached to
// that namespace makes a TCP exchange on `port`; tcpdump reads the pcap.
void CaptureLoopbackExchange(const LkdDaemon& lkd, const Lkctl& lkctl, const std::string& netns,
                             uint16_t port) {
  const std::string pcap = absl::StrCat(::testing::TempDir(), "/capture", netns, ".pcap");
  int err[2];
  ASSERT_EQ(pipe(err), 0);
  pid_t capture = fork();
  if (capture == 0) {
    dup2(err[1], 2);
    close(err[0]);
    std::vector<std::string> args = {"lkctl", "-H", lkd.admin_url()};
    if (!netns.empty()) args.insert(args.end(), {"-n", netns});
    args.insert(args.end(), {"capture", "dev", "lo", "-c", "6", "-w", pcap});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(lkctl.path().c_str(), argv.data());
    _exit(127);
  }
  close(err[1]);
  std::string seen;
  ASSERT_TRUE(ReadUntil(err[0], "listening on lo", &seen)) << seen;
  // A TCP exchange over lkd's loopback: the handshake, data and acks.
  pid_t client = ForkClient(lkd.url(), [&]() {
    if (!netns.empty()) setenv("LKD_NETNS", netns.c_str(), 1);
    CHECK_OR(lk_init() == 0, 10);
    int l = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in at = Ipv4Address("127.0.0.1", port);
    CHECK_OR(lk_sys_bind(l, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 0, 11);
    CHECK_OR(lk_sys_listen(l, 1) == 0, 12);
    int c = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_OR(lk_sys_connect(c, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 0, 13);
    int a = lk_sys_accept(l, nullptr, nullptr);
    CHECK_OR(a >= 0, 14);
    for (int i = 0; i < 4; i++) {
      CHECK_OR(lk_sys_write(c, "capture-me", 10) == 10, 15);
      char buf[10];
      CHECK_OR(lk_sys_recv(a, buf, 10, MSG_WAITALL) == 10, 16);
    }
    return 0;
  });
  EXPECT_EQ(WaitClient(client), 0);
  // The capture ends after 6 frames; a capture of the wrong namespace would
  // see none (bounded, so that it fails instead of hanging).
  int status = 0;
  bool ended = false;
  for (int i = 0; i < 600 && !ended; i++) {
    ended = waitpid(capture, &status, WNOHANG) == capture;
    if (!ended) absl::SleepFor(absl::Milliseconds(100));
  }
  if (!ended) {
    kill(capture, SIGKILL);
    waitpid(capture, &status, 0);
  }
  ASSERT_TRUE(ended) << "the capture saw fewer than 6 frames in 60 s";
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ReadUntil(err[0], "packets captured", &seen);
  close(err[0]);
  EXPECT_NE(seen.find("6 packets captured"), std::string::npos) << seen;

  std::string out;
  ASSERT_EQ(Shell("tcpdump -nn -r " + pcap + " 2>&1", &out), 0) << out;
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  int frames = 0;
  for (const std::string& line : lines)
    if (line.find(" IP 127.0.0.1.") != std::string::npos) frames++;
  EXPECT_EQ(frames, 6) << out;
  EXPECT_NE(out.find(absl::StrCat("> 127.0.0.1.", port, ": Flags [S]")), std::string::npos) << out;
  EXPECT_NE(out.find("length 10"), std::string::npos) << "the data segment\n" << out;
  unlink(pcap.c_str());
}

TEST_F(AdminTest, CaptureGivesAPcapTcpdumpReads) {
  if (access("/usr/bin/tcpdump", X_OK) != 0) GTEST_SKIP() << "needs tcpdump (setup.sh)";
  CaptureLoopbackExchange(*lkd_, lkctl_, "", 6000);
}

// The capture of a namespace's link is that namespace's traffic: the
// exchange runs only there.
TEST_F(AdminTest, CaptureInANamespace) {
  if (access("/usr/bin/tcpdump", X_OK) != 0) GTEST_SKIP() << "needs tcpdump (setup.sh)";
  ASSERT_EQ(Ctl({"netns", "add", "cap"}).exit, 0);
  ASSERT_EQ(Ctl({"-n", "cap", "link", "set", "lo", "up"}).exit, 0);
  CaptureLoopbackExchange(*lkd_, lkctl_, "cap", 6001);
  Result missing = Ctl({"-n", "nosuch", "capture", "dev", "lo", "-c", "1", "-w", "/dev/null"});
  EXPECT_EQ(missing.exit, 2) << missing;
  EXPECT_NE(missing.err.find("No such file or directory"), std::string::npos) << missing;
  EXPECT_EQ(Ctl({"netns", "del", "cap"}).exit, 0);
}

// ---- the kernel log --------------------------------------------------------

// Reads lines from `fd` until one contains `text`; false at EOF.
bool ReadUntil(int fd, const std::string& text, std::string* seen) {
  char c;
  std::string line;
  while (read(fd, &c, 1) == 1) {
    if (c != '\n') {
      line += c;
      continue;
    }
    *seen += line + "\n";
    if (line.find(text) != std::string::npos) return true;
    line.clear();
  }
  return false;
}

TEST_F(AdminTest, DmesgShowsTheBootAndFollowsNewLines) {
  Result log = Ctl({"dmesg"});
  ASSERT_EQ(log.exit, 0) << log;
  EXPECT_NE(log.out.find("] Linux version 6.1."), std::string::npos) << log;

  // lkctl dmesg -w into a pipe: its output is the signal.
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t follower = fork();
  if (follower == 0) {
    dup2(out[1], 1);
    close(out[0]);
    std::string host = lkd_->admin_url();
    execl(lkctl_.path().c_str(), "lkctl", "-H", host.c_str(), "dmesg", "-w", nullptr);
    _exit(127);
  }
  close(out[1]);
  std::string seen;
  ASSERT_TRUE(ReadUntil(out[0], "Linux version", &seen)) << seen;
  // Something the kernel logs after the follower started: the first
  // write to vm.drop_caches ("init (23): drop_caches: 1").
  const std::string marker = "drop_caches: 1";
  EXPECT_EQ(seen.find(marker), std::string::npos);
  Result drop = Ctl({"sysctl", "-w", "vm.drop_caches=1"});
  EXPECT_EQ(drop.exit, 0) << drop;
  EXPECT_TRUE(ReadUntil(out[0], marker, &seen)) << seen;
  kill(follower, SIGTERM);
  waitpid(follower, nullptr, 0);
  close(out[0]);
}

// ---- events -----------------------------------------------------------------

TEST_F(AdminTest, MonitorShowsStateThenChanges) {
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t monitor = fork();
  if (monitor == 0) {
    dup2(out[1], 1);
    close(out[0]);
    std::string host = lkd_->admin_url();
    execl(lkctl_.path().c_str(), "lkctl", "-H", host.c_str(), "monitor", "--snapshot", nullptr);
    _exit(127);
  }
  close(out[1]);
  std::string seen;
  // The snapshot: taken after the subscription, so what follows is new.
  ASSERT_TRUE(ReadUntil(out[0], "[LINK] 1: lo: <LOOPBACK,UP,LOWER_UP>", &seen)) << seen;
  ASSERT_TRUE(ReadUntil(out[0], "[ADDR] 1: lo    inet 127.0.0.1/8 scope host", &seen)) << seen;

  ASSERT_EQ(Ctl({"route", "add", "10.3.0.0/16", "dev", "lo"}).exit, 0);
  EXPECT_TRUE(ReadUntil(out[0], "[ROUTE] 10.3.0.0/16 dev lo proto static", &seen)) << seen;
  ASSERT_EQ(Ctl({"route", "del", "10.3.0.0/16", "dev", "lo"}).exit, 0);
  EXPECT_TRUE(ReadUntil(out[0], "[ROUTE] Deleted 10.3.0.0/16 dev lo", &seen)) << seen;
  ASSERT_EQ(Ctl({"link", "set", "dummy0", "up"}).exit, 0);
  EXPECT_TRUE(ReadUntil(out[0], "[LINK] 2: dummy0: <BROADCAST,NOARP,UP,LOWER_UP>", &seen)) << seen;

  int release[2];
  ASSERT_EQ(pipe(release), 0);
  pid_t client = ForkClient(lkd_->url(), [&]() {
    close(release[1]);
    CHECK_OR(lk_init() == 0, 10);
    char c;
    (void)!read(release[0], &c, 1);
    return 0;
  });
  close(release[0]);
  EXPECT_TRUE(ReadUntil(out[0], absl::StrCat(" host pid ", client, " uid 0"), &seen)) << seen;
  EXPECT_NE(seen.find("[SESSION] kernel pid "), std::string::npos) << seen;
  close(release[1]);
  EXPECT_EQ(WaitClient(client), 0);
  EXPECT_TRUE(ReadUntil(out[0], absl::StrCat("[SESSION] Deleted kernel pid "), &seen)) << seen;
  kill(monitor, SIGTERM);
  waitpid(monitor, nullptr, 0);
  close(out[0]);
}

// ---- network namespaces --------------------------------------------------

TEST_F(AdminTest, NamespacesAreIsolatedStacks) {
  ASSERT_EQ(Ctl({"netns", "add", "blue"}).exit, 0);
  ASSERT_EQ(Ctl({"netns", "add", "red"}).exit, 0);
  Result dup = Ctl({"netns", "add", "blue"});
  EXPECT_EQ(dup.exit, 2) << dup;
  EXPECT_EQ(dup.err, "Cannot create namespace file \"/run/netns/blue\": File exists\n");
  EXPECT_EQ(Ctl({"netns"}).out, "blue\nred\n");

  // A fresh namespace has only its loopback link, down.
  Result links = Ctl({"-n", "blue", "link"});
  ASSERT_EQ(links.exit, 0) << links;
  EXPECT_EQ(links.out.substr(0, 30), "1: lo: <LOOPBACK> mtu 65536 qd");
  EXPECT_EQ(links.out.find("dummy0"), std::string::npos);

  // Addresses, routes and sysctls given in one stay in it.
  ASSERT_EQ(Ctl({"-n", "blue", "link", "set", "lo", "up"}).exit, 0);
  ASSERT_EQ(Ctl({"-n", "blue", "addr", "add", "10.1.0.1/24", "dev", "lo"}).exit, 0);
  ASSERT_EQ(Ctl({"-n", "blue", "route", "add", "10.2.0.0/16", "dev", "lo"}).exit, 0);
  ASSERT_EQ(Ctl({"-n", "blue", "sysctl", "-w", "net.ipv4.ip_forward=1"}).exit, 0);
  EXPECT_NE(Ctl({"-n", "blue", "addr"}).out.find("inet 10.1.0.1/24"), std::string::npos);
  EXPECT_NE(Ctl({"-n", "blue", "route"}).out.find("10.2.0.0/16 dev lo"), std::string::npos);
  for (const std::vector<std::string>& where : {std::vector<std::string>{}, {"-n", "red"}}) {
    auto in = [&](std::vector<std::string> args) {
      args.insert(args.begin(), where.begin(), where.end());
      return Ctl(args);
    };
    EXPECT_EQ(in({"addr"}).out.find("10.1.0.1"), std::string::npos);
    EXPECT_EQ(in({"route"}).out.find("10.2.0.0"), std::string::npos);
    EXPECT_EQ(in({"sysctl", "-n", "net.ipv4.ip_forward"}).out, "0\n");
  }
  // The same address in another namespace is no conflict.
  EXPECT_EQ(Ctl({"-n", "red", "addr", "add", "10.1.0.1/24", "dev", "lo"}).exit, 0);

  // A link moved into one leaves the initial namespace.
  ASSERT_EQ(Ctl({"link", "set", "dev", "dummy0", "netns", "red"}).exit, 0);
  EXPECT_NE(Ctl({"-n", "red", "link"}).out.find("dummy0"), std::string::npos);
  EXPECT_EQ(Ctl({"link"}).out.find("dummy0"), std::string::npos);
  EXPECT_NE(lkd_->Log().find("(admin): move link dummy0 to netns red: done"), std::string::npos);

  Result unknown = Ctl({"-n", "green", "addr"});
  EXPECT_EQ(unknown.exit, 2) << unknown;
  EXPECT_EQ(Ctl({"netns", "del", "red"}).exit, 0);
  EXPECT_EQ(Ctl({"netns", "del", "red"}).exit, 1);
  EXPECT_EQ(Ctl({"netns"}).out, "blue\n");
  EXPECT_EQ(Ctl({"netns", "add", "a/b"}).exit, 255);
}

// A client chooses its namespace at attach (LKD_NETNS, lkrun --netns):
// it sees that namespace's links only, and a port bound in one namespace
// is free in another.
TEST_F(AdminTest, ClientsChooseTheirNamespaceAtAttach) {
  for (const char* ns : {"blue", "red"}) {
    ASSERT_EQ(Ctl({"netns", "add", ns}).exit, 0);
    ASSERT_EQ(Ctl({"-n", ns, "link", "set", "lo", "up"}).exit, 0);
  }
  // In the kernel, as the client: its /proc/net/dev lists its links.
  auto links = []() -> std::string {
    int fd = lk_sys_openat(AT_FDCWD, "/proc/net/dev", O_RDONLY, 0);
    if (fd < 0) return "open failed";
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = lk_sys_read(fd, buf, sizeof(buf))) > 0) text.append(buf, n);
    lk_sys_close(fd);
    return text;
  };
  auto listen_on = [](uint16_t port) {
    int fd = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = Ipv4Address("127.0.0.1", port);
    if (fd < 0 || lk_sys_bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 ||
        lk_sys_listen(fd, 1) < 0)
      return -errno;
    return fd;
  };
  int ready[2], release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  // blue holds port 6000 until released.
  pid_t blue = ForkClient(lkd_->url(), [&]() {
    close(release[1]);
    setenv("LKD_NETNS", "blue", 1);
    CHECK_OR(lk_init() == 0, 10);
    std::string l = links();
    CHECK_OR(l.find("lo:") != std::string::npos, 11);
    CHECK_OR(l.find("dummy0") == std::string::npos, 12);
    CHECK_OR(listen_on(6000) >= 0, 13);
    CHECK_OR(write(ready[1], "r", 1) == 1, 14);
    char c;
    (void)!read(release[0], &c, 1);
    return 0;
  });
  close(ready[1]);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1) << "the client in blue did not get its port";
  // red binds the same port at the same time; the initial namespace, where
  // dummy0 lives, too.
  pid_t red = ForkClient(lkd_->url(), [&]() {
    setenv("LKD_NETNS", "red", 1);
    CHECK_OR(lk_init() == 0, 20);
    CHECK_OR(links().find("dummy0") == std::string::npos, 21);
    CHECK_OR(listen_on(6000) >= 0, 22);
    return 0;
  });
  EXPECT_EQ(WaitClient(red), 0);
  pid_t initial = ForkClient(lkd_->url(), [&]() {
    CHECK_OR(lk_init() == 0, 30);
    CHECK_OR(links().find("dummy0") != std::string::npos, 31);
    CHECK_OR(listen_on(6000) >= 0, 32);
    return 0;
  });
  EXPECT_EQ(WaitClient(initial), 0);
  close(release[1]);
  EXPECT_EQ(WaitClient(blue), 0);
  close(ready[0]);
  close(release[0]);
  // A namespace that does not exist fails the attach, saying which.
  pid_t none = ForkClient(lkd_->url(), [&]() {
    setenv("LKD_NETNS", "green", 1);
    if (lk_init() == 0) return 40;
    return std::string(lk_errmsg()).find("network namespace 'green'") != std::string::npos ? 0
                                                                                          : 41;
  });
  EXPECT_EQ(WaitClient(none), 0);
  EXPECT_NE(lkd_->Log().find("attached (new, in netns blue)"), std::string::npos) << lkd_->Log();
}

// ---- roles --------------------------------------------------------------

class AdminRolesTest : public AdminTest {
 protected:
  static constexpr gid_t kReaders = 4242;
  void SetUp() override {
    if (!IsRoot()) GTEST_SKIP() << "needs root to run lkctl as other users";
    auto d = LkdDaemon::Start({"--reader_group", std::to_string(kReaders)});
    ASSERT_TRUE(d.ok()) << d.status();
    lkd_ = std::move(*d);
  }
};

TEST_F(AdminRolesTest, NobodyIsRefusedEveryCall) {
  const Credentials nobody{65534, 65534};
  for (std::vector<std::string> args :
       {std::vector<std::string>{"route", "show"}, {"status"}, {"session", "list"},
        {"sysctl", "-a"}, {"addr", "add", "10.6.0.1/24", "dev", "lo"}}) {
    Result r = Ctl(args, &nobody);
    EXPECT_EQ(r.exit, 3) << args[0] << ": " << r;
    EXPECT_NE(r.err.find("refuses this caller (uid 65534)"), std::string::npos) << r;
    EXPECT_NE(r.err.find("not allowed to use lkd's admin plane"), std::string::npos) << r;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(AdminRolesTest, ReadersReadButDoNotChange) {
  const Credentials reader{65534, kReaders};
  Result show = Ctl({"route", "show"}, &reader);
  EXPECT_EQ(show.exit, 0) << show;
  Result status = Ctl({"status"}, &reader);
  EXPECT_EQ(status.exit, 0) << status;
  EXPECT_NE(status.out.find("role:     reader"), std::string::npos) << status;
  EXPECT_EQ(Ctl({"sysctl", "kernel.ostype"}, &reader).out, "kernel.ostype = Linux\n");

  Result add = Ctl({"route", "add", "10.7.0.0/16", "dev", "lo"}, &reader);
  EXPECT_EQ(add.exit, 3) << add;
  EXPECT_NE(add.err.find("reader group, which may only read"), std::string::npos) << add;
  Result set = Ctl({"sysctl", "-w", "net.ipv4.ip_forward=1"}, &reader);
  EXPECT_EQ(set.exit, 3) << set;
  EXPECT_EQ(Ctl({"sysctl", "-n", "net.ipv4.ip_forward"}).out, "0\n");
  EXPECT_NE(lkd_->Log().find("refused to add route 10.7.0.0/16 dev lo: uid 65534"),
            std::string::npos)
      << lkd_->Log();

  // Root may, and the audit log says who did it.
  Result root = Ctl({"route", "add", "10.7.0.0/16", "dev", "lo"});
  EXPECT_EQ(root.exit, 0) << root;
  EXPECT_NE(lkd_->Log().find("uid 0 pid "), std::string::npos) << lkd_->Log();
  EXPECT_NE(lkd_->Log().find("(admin): add route 10.7.0.0/16 dev lo: done"), std::string::npos)
      << lkd_->Log();
}

TEST_F(AdminTest, GarbageOnTheAdminSocketHarmsNoOne) {
  // Bytes that are not HTTP/2, and a connection dropped half-way: lkd
  // drops that connection and serves the next caller.
  for (int round = 0; round < 3; round++) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::string path = lkd_->admin_url().substr(strlen("unix://"));
    strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    std::string junk = round == 0 ? std::string(65536, '\xff')
                       : round == 1 ? std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(100, '\0')
                                    : std::string("GET / HTTP/1.1\r\nHost: lkd\r\n\r\n");
    (void)!send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    close(fd);
  }
  Result status = Ctl({"status"});
  EXPECT_EQ(status.exit, 0) << status;
  EXPECT_EQ(kill(lkd_->pid(), 0), 0) << "lkd died";
}

TEST_F(AdminTest, LkdAdminEnvironmentNamesTheSocket) {
  setenv("LKD_ADMIN", lkd_->admin_url().c_str(), 1);
  Result r = lkctl_.Run({"status"});
  unsetenv("LKD_ADMIN");
  EXPECT_EQ(r.exit, 0) << r;
  // -H wins over the environment.
  setenv("LKD_ADMIN", "unix:///nonexistent/admin.sock", 1);
  Result h = lkctl_.Run({"-H", lkd_->admin_url(), "status"});
  Result env = lkctl_.Run({"status"});
  unsetenv("LKD_ADMIN");
  EXPECT_EQ(h.exit, 0) << h;
  EXPECT_EQ(env.exit, 3) << env;
  EXPECT_NE(env.err.find("cannot reach lkd at unix:///nonexistent/admin.sock"), std::string::npos)
      << env;
}

TEST_F(AdminTest, StoppedLkdCannotBeReached) {
  const std::string url = lkd_->admin_url();
  ASSERT_EQ(Ctl({"status"}).exit, 0);
  auto st = lkd_->StopWith(SIGTERM);
  ASSERT_TRUE(st.ok()) << st.status();
  Result r = lkctl_.Run({"-H", url, "route", "show"});
  EXPECT_EQ(r.exit, 3) << r;
  EXPECT_EQ(r.err.rfind("lkctl: cannot reach lkd at " + url, 0), 0u) << r;
  Result env = lkctl_.Run({"status"});  // the default socket; no lkd there in tests
  if (access("/run/lkd/admin.sock", F_OK) != 0) {
    EXPECT_EQ(env.exit, 3) << env;
  }
}

// ---- addresses and routes across a TAP ----------------------------------

// lkd in a network namespace of the test's own, with a TAP whose host side
// is 10.0.2.1/24, and a host server on 10.9.0.1 (on its lo): lkd's
// client reaches it only once lkctl gave lkd an address and a route.
class AdminNetTest : public AdminTest {
 protected:
  void SetUp() override {
    if (!IsRoot() || access("/dev/net/tun", R_OK) != 0)
      GTEST_SKIP() << "needs root and /dev/net/tun";
    const std::string suffix = std::to_string(getpid() % 100000);
    ns_ = std::make_unique<ScopedNetns>("lkda-" + suffix);
    ASSERT_TRUE(ns_->ok());
    tap_ = "lkdatap" + suffix;
    const std::string ip = "ip -n " + ns_->name() + " ";
    std::string out;
    ASSERT_EQ(Shell(ip + "link set lo up && " + ip + "tuntap add dev " + tap_ + " mode tap && " +
                        ip + "addr add 10.0.2.1/24 dev " + tap_ + " && " + ip + "link set " +
                        tap_ + " up && " + ip + "addr add 10.9.0.1/32 dev lo",
                    &out),
              0)
        << out;
    // lkd (forked from here) and the host server live in the namespace.
    home_ns_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(home_ns_, 0);
    ASSERT_TRUE(ns_->Enter().ok());
    auto d = LkdDaemon::Start({"--net", "tap:" + tap_ + ",mac=02:00:00:00:0a:02"});
    ASSERT_TRUE(d.ok()) << d.status();
    lkd_ = std::move(*d);
  }
  void TearDown() override {
    AdminTest::TearDown();
    lkd_.reset();
    if (home_ns_ >= 0) {
      setns(home_ns_, CLONE_NEWNET);
      close(home_ns_);
    }
    ns_.reset();
  }

  // A client of lkd connects to 10.9.0.1:port and sends "hello": 0, or
  // the errno of its connect.
  int ClientConnect(uint16_t port) {
    pid_t pid = ForkClient(lkd_->url(), [port]() {
      CHECK_OR(lk_init() == 0, 100);
      int fd = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
      CHECK_OR(fd >= 0, 101);
      sockaddr_in to = Ipv4Address("10.9.0.1", port);
      if (lk_sys_connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) return errno;
      CHECK_OR(lk_sys_write(fd, "hello", 5) == 5, 102);
      lk_sys_close(fd);
      return 0;
    });
    return WaitClient(pid);
  }

  std::unique_ptr<ScopedNetns> ns_;
  std::string tap_;
  int home_ns_ = -1;
};

TEST_F(AdminNetTest, AddressAndRouteAtRunTime) {
  // The host server, in the namespace (the test thread is in it).
  int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(server, 0);
  int one = 1;
  setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in at = Ipv4Address("10.9.0.1", 7001);
  ASSERT_EQ(bind(server, reinterpret_cast<sockaddr*>(&at), sizeof(at)), 0) << strerror(errno);
  ASSERT_EQ(listen(server, 4), 0);

  EXPECT_EQ(ClientConnect(7001), ENETUNREACH) << "lkd has no address or route yet";

  Result add = Ctl({"addr", "add", "10.0.2.2/24", "dev", "eth0"});
  ASSERT_EQ(add.exit, 0) << add;
  Result again = Ctl({"addr", "add", "10.0.2.2/24", "dev", "eth0"});
  EXPECT_EQ(again.exit, 2) << again;
  EXPECT_EQ(again.err, "RTNETLINK answers: File exists\n");
  Result addrs = Ctl({"addr", "show", "dev", "eth0"});
  EXPECT_NE(addrs.out.find("    inet 10.0.2.2/24 brd 10.0.2.255 scope global eth0\n"),
            std::string::npos)
      << addrs;

  Result route = Ctl({"route", "add", "10.9.0.0/24", "via", "10.0.2.1"});
  ASSERT_EQ(route.exit, 0) << route;
  Result routes = Ctl({"route"});
  EXPECT_NE(routes.out.find("10.9.0.0/24 via 10.0.2.1 dev eth0 proto static"), std::string::npos)
      << routes;
  EXPECT_NE(routes.out.find("10.0.2.0/24 dev eth0 proto kernel scope link src 10.0.2.2"),
            std::string::npos)
      << routes;
  Result json = Ctl({"-j", "route", "show"});
  EXPECT_NE(json.out.find("{\"dst\":\"10.9.0.0/24\",\"gateway\":\"10.0.2.1\",\"dev\":\"eth0\","
                          "\"protocol\":\"static\""),
            std::string::npos)
      << json;

  pid_t accepted = fork();  // the host side: accept one, read "hello"
  if (accepted == 0) {
    pollfd p{server, POLLIN, 0};
    if (poll(&p, 1, 60000) != 1) _exit(1);
    int c = accept(server, nullptr, nullptr);
    char buf[5];
    _exit(c >= 0 && recv(c, buf, 5, MSG_WAITALL) == 5 && memcmp(buf, "hello", 5) == 0 ? 0 : 2);
  }
  EXPECT_EQ(ClientConnect(7001), 0) << "lkd's client did not reach the host server";
  int status;
  waitpid(accepted, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the host server got no hello";

  // Neighbours: a static one, listed, refused twice, deleted.
  Result neigh = Ctl({"neigh", "add", "10.0.2.9", "lladdr", "02:00:00:00:0a:09", "dev", "eth0"});
  EXPECT_EQ(neigh.exit, 0) << neigh;
  EXPECT_EQ(Ctl({"neigh", "add", "10.0.2.9", "lladdr", "02:00:00:00:0a:09", "dev", "eth0"}).err,
            "RTNETLINK answers: File exists\n");
  EXPECT_NE(Ctl({"neigh", "show", "dev", "eth0"})
                .out.find("10.0.2.9 dev eth0 lladdr 02:00:00:00:0a:09 PERMANENT\n"),
            std::string::npos);
  EXPECT_EQ(Ctl({"neigh", "del", "10.0.2.9", "dev", "eth0"}).exit, 0);

  Result del = Ctl({"route", "del", "10.9.0.0/24", "via", "10.0.2.1"});
  ASSERT_EQ(del.exit, 0) << del;
  EXPECT_EQ(ClientConnect(7001), ENETUNREACH) << "Network is unreachable, as Linux says";
  Result del_again = Ctl({"route", "del", "10.9.0.0/24", "via", "10.0.2.1"});
  EXPECT_EQ(del_again.exit, 2) << del_again;
  EXPECT_EQ(del_again.err, "RTNETLINK answers: No such process\n");

  Result deladdr = Ctl({"addr", "del", "10.0.2.2/24", "dev", "eth0"});
  EXPECT_EQ(deladdr.exit, 0) << deladdr;
  EXPECT_EQ(Ctl({"addr", "show", "dev", "eth0"}).out.find("10.0.2.2"), std::string::npos);
  close(server);
}


// ---- reflection and health ----------------------------------------------

// A minimal client of gRPC's reflection (v1alpha) and health services over
// the generic stub: Debian ships neither their .proto files nor generated
// clients. Requests are written as protobuf wire bytes by hand, with the
// protocols' field numbers; answers are read with protobuf's
// UnknownFieldSet.
class GenericClient {
 public:
  explicit GenericClient(const std::string& url)
      : stub_(grpc::CreateChannel(url, grpc::experimental::LocalCredentials(UDS))) {}

  // One request on the reflection stream, its one answer (empty on error).
  std::string Reflect(const std::string& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::CompletionQueue cq;
    auto call = stub_.PrepareCall(
        &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
    grpc::ByteBuffer reply;
    call->StartCall(Tag(1));
    bool ok = Await(cq, 1);
    grpc::ByteBuffer out = Buffer(request);
    if (ok) call->Write(out, Tag(2));
    ok = ok && Await(cq, 2);
    if (ok) call->Read(&reply, Tag(3));
    ok = ok && Await(cq, 3);
    call->WritesDone(Tag(4));
    Await(cq, 4);
    grpc::Status status;
    call->Finish(&status, Tag(5));
    Await(cq, 5);
    return ok && status.ok() ? Bytes(reply) : "";
  }

  // A unary call: its status, and its answer in `reply`.
  grpc::Status Unary(const std::string& method, const std::string& request, std::string* reply) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::CompletionQueue cq;
    auto call = stub_.PrepareUnaryCall(&context, method, Buffer(request), &cq);
    call->StartCall();
    grpc::ByteBuffer answer;
    grpc::Status status;
    call->Finish(&answer, &status, Tag(1));
    Await(cq, 1);
    *reply = Bytes(answer);
    return status;
  }

 private:
  static void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }
  static bool Await(grpc::CompletionQueue& cq, intptr_t n) {
    void* tag;
    bool ok;
    return cq.Next(&tag, &ok) && tag == Tag(n) && ok;
  }
  static grpc::ByteBuffer Buffer(const std::string& bytes) {
    grpc::Slice slice(bytes);
    return grpc::ByteBuffer(&slice, 1);
  }
  static std::string Bytes(const grpc::ByteBuffer& buffer) {
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (!buffer.Dump(&slices).ok()) return bytes;
    for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return bytes;
  }
  grpc::GenericStub stub_;
};

// The length-delimited fields numbered `number` of a message's bytes.
std::vector<std::string> Fields(const std::string& message, int number) {
  google::protobuf::UnknownFieldSet set;
  std::vector<std::string> values;
  if (!set.ParseFromString(message)) return values;
  for (int i = 0; i < set.field_count(); i++) {
    const google::protobuf::UnknownField& f = set.field(i);
    if (f.number() == number && f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
      values.push_back(f.length_delimited());
  }
  return values;
}

// A string field as wire bytes: tag (number, type 2), length, bytes.
std::string StringField(int number, const std::string& value) {
  return std::string(1, static_cast<char>(number << 3 | 2)) +
         std::string(1, static_cast<char>(value.size())) + value;
}

TEST_F(AdminTest, ReflectionListsTheServicesAndHealthServes) {
  GenericClient client(lkd_->admin_url());
  // ServerReflectionRequest.list_services (7) -> ServerReflectionResponse.
  // list_services_response (6) -> ListServiceResponse.service (1) ->
  // ServiceResponse.name (1).
  std::vector<std::string> services;
  for (const std::string& list : Fields(client.Reflect(StringField(7, "")), 6))
    for (const std::string& service : Fields(list, 1))
      for (const std::string& name : Fields(service, 1)) services.push_back(name);
  for (const char* expected :
       {"lkd.admin.v1.System", "lkd.admin.v1.Sysctl", "lkd.admin.v1.Links",
        "lkd.admin.v1.Addresses", "lkd.admin.v1.Routes", "lkd.admin.v1.Neighbours",
        "lkd.admin.v1.Sessions", "lkd.admin.v1.Namespaces", "lkd.admin.v1.Observe",
        "lkd.admin.v1.Sockets", "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection"})
    EXPECT_NE(std::find(services.begin(), services.end(), expected), services.end())
        << expected << " not listed; listed: " << absl::StrJoin(services, ", ");

  // A service's file, as a generic client would fetch it to call it:
  // file_containing_symbol (4) -> file_descriptor_response (4) ->
  // file_descriptor_proto (1).
  std::vector<std::string> files;
  for (const std::string& response :
       Fields(client.Reflect(StringField(4, "lkd.admin.v1.Routes")), 4))
    files = Fields(response, 1);
  ASSERT_FALSE(files.empty());
  google::protobuf::FileDescriptorProto routes;
  ASSERT_TRUE(routes.ParseFromString(files[0]));
  EXPECT_EQ(routes.name(), "schema/admin/v1/routes.proto");
  EXPECT_EQ(routes.package(), "lkd.admin.v1");
  ASSERT_GE(routes.service_size(), 1);
  EXPECT_EQ(routes.service(0).name(), "Routes");

  // grpc.health.v1: HealthCheckRequest{} -> HealthCheckResponse{status:
  // SERVING (1)}, field 1 as a varint.
  std::string health;
  grpc::Status checked = client.Unary("/grpc.health.v1.Health/Check", "", &health);
  ASSERT_TRUE(checked.ok()) << checked.error_message();
  EXPECT_EQ(health, std::string("\x08\x01", 2));
}

// ---- a thousand followers that never read --------------------------------

// Followers of the kernel log and of events that start their calls and
// never read: lkd must neither hold a thread for each nor let them slow
// its clients, and must drop them, saying why, once they are too far
// behind.
class AdminFollowersTest : public AdminTest {
 protected:
  // --admin_subscriber_queue: more than the workloads below publish in one
  // of lkd's 50 ms polls, so that only not reading gets a follower dropped.
  static constexpr int kQueue = 1024;
  void SetUp() override {
    if (!IsRoot()) GTEST_SKIP() << "needs root (the admin role on the local socket)";
    auto d = LkdDaemon::Start({"--admin_subscriber_queue", std::to_string(kQueue)});
    ASSERT_TRUE(d.ok()) << d.status();
    lkd_ = std::move(*d);
  }
  // A sample of lkctl metrics, or -1.
  long Metric(const std::string& line_prefix) {
    Result m = Ctl({"metrics"});
    size_t at = m.out.find("\n" + line_prefix + " ");
    if (at == std::string::npos) return -1;
    return strtol(m.out.c_str() + at + line_prefix.size() + 2, nullptr, 10);
  }
};

// The followers, all started on one completion queue whose completions a
// thread collects (so that the calls make progress) without any follower
// ever asking for a message until ReadToEnd. Each follower has one
// operation outstanding at a time, tagged with itself.
class Followers {
 public:
  Followers(const std::string& url, int count) {
    for (int c = 0; c < kChannels; c++) {
      grpc::ChannelArguments args;
      args.SetInt("lkd.test.channel", c);        // a connection each, not shared
      args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);  // windows stay at their initial size
      channels_.push_back(
          grpc::CreateCustomChannel(url, grpc::experimental::LocalCredentials(UDS), args));
    }
    for (int i = 0; i < count; i++) {
      auto f = std::make_unique<Follower>();
      f->log = i % 2 == 0;
      auto stub = admin::v1::Observe::NewStub(channels_[i % kChannels]);
      if (f->log) {
        admin::v1::StreamKernelLogRequest req;
        req.set_follow(true);
        f->log_call = stub->PrepareAsyncStreamKernelLog(&f->context, req, &cq_);
        f->log_call->StartCall(f.get());
      } else {
        f->events_call = stub->PrepareAsyncWatchEvents(&f->context, {}, &cq_);
        f->events_call->StartCall(f.get());
      }
      followers_.push_back(std::move(f));
    }
    drain_ = std::thread([this] {
      void* tag;
      bool ok;
      while (cq_.Next(&tag, &ok)) {
        std::lock_guard<std::mutex> lock(mu_);
        done_[static_cast<Follower*>(tag)] = ok;
        cv_.notify_all();
      }
    });
  }
  ~Followers() {
    for (auto& f : followers_) f->context.TryCancel();
    for (auto& f : followers_)
      if (!f->finished) Finish(f.get());
    cq_.Shutdown();
    drain_.join();
  }

  // Reads follower `i` to its end: the status its call ended with.
  grpc::Status ReadToEnd(int i) {
    Follower* f = followers_[i].get();
    bool ok = Wait(f);  // StartCall
    while (ok) {
      if (f->log) f->log_call->Read(&f->log_record, f);
      else f->events_call->Read(&f->event, f);
      ok = Wait(f);
    }
    return Finish(f);
  }
  bool is_log(int i) const { return followers_[i]->log; }

 private:
  static constexpr int kChannels = 10;
  struct Follower {
    bool log;
    bool started_waited = false;
    bool finished = false;
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncReader<admin::v1::KernelLogRecord>> log_call;
    std::unique_ptr<grpc::ClientAsyncReader<admin::v1::Event>> events_call;
    admin::v1::KernelLogRecord log_record;
    admin::v1::Event event;
  };
  // Waits for `f`'s outstanding operation: its ok.
  bool Wait(Follower* f) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_.count(f) != 0; });
    bool ok = done_[f];
    done_.erase(f);
    f->started_waited = true;
    return ok;
  }
  grpc::Status Finish(Follower* f) {
    if (!f->started_waited) Wait(f);  // StartCall's completion
    grpc::Status status;
    if (f->log) f->log_call->Finish(&status, f);
    else f->events_call->Finish(&status, f);
    Wait(f);
    f->finished = true;
    return status;
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Follower>> followers_;
  std::thread drain_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<Follower*, bool> done_;
};

TEST_F(AdminFollowersTest, AThousandFollowersThatNeverReadAreDroppedNotServed) {
  constexpr int kFollowers = 1000;
  const int threads_before = lkd_->Threads();
  Followers followers(lkd_->admin_url(), kFollowers);
  // All subscribed (a generous bound for a loaded machine).
  long log = -1, events = -1;
  for (int i = 0; i < 600 && (log != kFollowers / 2 || events != kFollowers / 2); i++) {
    if (i > 0) usleep(200 * 1000);
    log = Metric("lkd_admin_subscribers{stream=\"kernel_log\"}");
    events = Metric("lkd_admin_subscribers{stream=\"events\"}");
  }
  ASSERT_EQ(log, kFollowers / 2);
  ASSERT_EQ(events, kFollowers / 2);
  // No thread per follower.
  EXPECT_LT(lkd_->Threads(), threads_before + 32) << "lkd has a thread per follower";

  // A client of lkd with a fixed piece of work, while lkd's state changes
  // under the followers: each round adds and deletes a route (two events)
  // and makes the kernel log a line ("drop_caches: 1").
  pid_t client = ForkClient(lkd_->url(), [] {
    CHECK_OR(lk_init() == 0, 10);
    for (int i = 0; i < 5000; i++) {
      int fd = lk_sys_socket(AF_INET, SOCK_DGRAM, 0);
      CHECK_OR(fd >= 0, 11);
      sockaddr_in any = Ipv4Address("127.0.0.1", 0);
      CHECK_OR(lk_sys_bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof(any)) == 0, 12);
      CHECK_OR(lk_sys_close(fd) == 0, 13);
    }
    return 0;
  });
  auto channel = grpc::CreateChannel(lkd_->admin_url(), grpc::experimental::LocalCredentials(UDS));
  auto routes = admin::v1::Routes::NewStub(channel);
  auto sysctl = admin::v1::Sysctl::NewStub(channel);
  admin::v1::AddRouteRequest add;
  add.mutable_route()->set_dst("10.55.0.0/16");
  add.mutable_route()->set_dev("lo");
  admin::v1::DeleteRouteRequest del;
  *del.mutable_route() = add.route();
  admin::v1::SetSysctlRequest drop;
  drop.set_name("vm.drop_caches");
  drop.set_value("1");
  int failed_calls = 0, rounds = 0;
  long dropped = 0;
  // Until every follower is dropped, or a bound far beyond what their
  // queues and windows hold.
  for (; rounds < 10000 && dropped < kFollowers; rounds++) {
    for (int call = 0; call < 3; call++) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      admin::v1::AddRouteResponse added;
      admin::v1::DeleteRouteResponse deleted;
      admin::v1::SetSysctlResponse set;
      grpc::Status s = call == 0   ? routes->AddRoute(&context, add, &added)
                       : call == 1 ? routes->DeleteRoute(&context, del, &deleted)
                                   : sysctl->SetSysctl(&context, drop, &set);
      if (!s.ok()) failed_calls++;
    }
    if (rounds % 100 == 99)
      dropped = Metric("lkd_admin_subscribers_dropped_total{stream=\"kernel_log\"}") +
                Metric("lkd_admin_subscribers_dropped_total{stream=\"events\"}");
  }
  EXPECT_EQ(failed_calls, 0);
  EXPECT_EQ(WaitClient(client), 0) << "lkd's client did not finish its work";
  // For the record (README's admin-plane figures), not asserted.
  fprintf(stderr, "followers: all dropped within %d rounds; lkd: %d threads (%d before), RSS %ld KiB\n",
          rounds + 1, lkd_->Threads(), threads_before, lkd_->RssKib());
  EXPECT_EQ(Metric("lkd_admin_subscribers_dropped_total{stream=\"kernel_log\"}"), kFollowers / 2);
  EXPECT_EQ(Metric("lkd_admin_subscribers_dropped_total{stream=\"events\"}"), kFollowers / 2);
  EXPECT_EQ(Metric("lkd_admin_subscribers{stream=\"kernel_log\"}"), 0);
  EXPECT_EQ(Metric("lkd_admin_subscribers{stream=\"events\"}"), 0);
  const std::string why = absl::StrCat("it did not read and fell more than ", kQueue,
                                       " messages behind");
  EXPECT_NE(lkd_->Log().find("lkd: admin: dropped a follower of the kernel log ("),
            std::string::npos);
  EXPECT_NE(lkd_->Log().find("lkd: admin: dropped a follower of the events ("), std::string::npos);

  // What a dropped follower reads once it reads: what the transport held
  // for it, then the reason.
  for (int i : {0, 1, 2, 3, 998, 999}) {
    grpc::Status s = followers.ReadToEnd(i);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << i << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(absl::StrCat("lkd dropped this follower of the ",
                                                  followers.is_log(i) ? "kernel log" : "events",
                                                  ": ", why)),
              std::string::npos)
        << s.error_message();
  }
  // And lkd serves on.
  Result dmesg = Ctl({"dmesg"});
  EXPECT_EQ(dmesg.exit, 0) << dmesg;
  EXPECT_NE(dmesg.out.find("drop_caches: 1"), std::string::npos);
}

// lkctl dmesg -w into a pipe nobody reads: lkctl stops reading, lkd drops
// it, and once its output is read lkctl says why and exits 3.
TEST_F(AdminFollowersTest, DmesgIntoAPipeNobodyReadsEndsWithTheReason) {
  int out[2], err[2];
  ASSERT_EQ(pipe(out), 0);
  ASSERT_EQ(pipe(err), 0);
  pid_t follower = fork();
  if (follower == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]);
    close(err[0]);
    std::string host = lkd_->admin_url();
    execl(lkctl_.path().c_str(), "lkctl", "-H", host.c_str(), "dmesg", "-w", nullptr);
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  ASSERT_TRUE(Metric("lkd_admin_subscribers{stream=\"kernel_log\"}") == 1 || [&] {
    for (int i = 0; i < 600; i++) {
      if (Metric("lkd_admin_subscribers{stream=\"kernel_log\"}") == 1) return true;
      usleep(100 * 1000);
    }
    return false;
  }());
  // Kernel log lines until lkd drops it (the pipe, the transport's window
  // and the ring hold some 3,000 lines; the bound is far beyond).
  auto sysctl = admin::v1::Sysctl::NewStub(
      grpc::CreateChannel(lkd_->admin_url(), grpc::experimental::LocalCredentials(UDS)));
  admin::v1::SetSysctlRequest drop;
  drop.set_name("vm.drop_caches");
  drop.set_value("1");
  for (int i = 0; i < 20000; i++) {
    grpc::ClientContext context;
    admin::v1::SetSysctlResponse set;
    ASSERT_TRUE(sysctl->SetSysctl(&context, drop, &set).ok());
    if (i % 200 == 199 &&
        Metric("lkd_admin_subscribers_dropped_total{stream=\"kernel_log\"}") == 1)
      break;
  }
  ASSERT_EQ(Metric("lkd_admin_subscribers_dropped_total{stream=\"kernel_log\"}"), 1);
  // Now read: lkctl writes what it had, then ends.
  std::string seen;
  char buf[65536];
  while (read(out[0], buf, sizeof(buf)) > 0) {
  }
  ssize_t n;
  while ((n = read(err[0], buf, sizeof(buf))) > 0) seen.append(buf, n);
  int status;
  waitpid(follower, &status, 0);
  close(out[0]);
  close(err[0]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << status;
  EXPECT_EQ(seen, absl::StrCat("lkctl: lkd dropped this follower of the kernel log: it did not "
                               "read and fell more than ",
                               kQueue, " messages behind (the most lkd keeps for a follower)\n"));
}

// ---- the TCP listener: mutual TLS, from another network namespace ------

// Plain TCP cannot be configured: lkd refuses to start, in one line.
TEST(AdminTcpTest, PlainTcpIsRefused) {
  auto d = LkdDaemon::Start({"--admin_listen", "tcp://127.0.0.1:7443"});
  ASSERT_FALSE(d.ok()) << "lkd served the admin plane on TCP without TLS";
  EXPECT_NE(d.status().message().find(
                "lkd: admin_listen 'tcp://127.0.0.1:7443': TCP is served with mutual TLS only"),
            std::string::npos)
      << d.status();
  auto half = LkdDaemon::Start({"--admin_listen", "tcp://127.0.0.1:7443", "--admin_tls_cert",
                                "/nonexistent.crt", "--admin_tls_key", "/nonexistent.key"});
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("admin_tls_client_ca"), std::string::npos)
      << half.status();
  // All three named, one missing: refused before the kernel boots.
  auto missing = LkdDaemon::Start({"--admin_listen", "tcp://127.0.0.1:7443", "--admin_tls_cert",
                                   "/nonexistent.crt", "--admin_tls_key", "/nonexistent.key",
                                   "--admin_tls_client_ca", "/nonexistent-ca.crt"});
  ASSERT_FALSE(missing.ok());
  const std::string log(missing.status().message());
  EXPECT_NE(log.find("lkd: admin_tls_cert /nonexistent.crt: No such file or directory"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("lkd: kernel: mem="), std::string::npos) << "booted first: " << log;
}

// Without a TCP listener SIGHUP reloads nothing, and does not end lkd.
TEST_F(AdminTest, SighupWithoutTcpIsHarmless) {
  ASSERT_EQ(kill(lkd_->pid(), SIGHUP), 0);
  bool logged = false;
  for (int i = 0; i < 600 && !logged; i++) {
    logged = lkd_->Log().find("lkd: admin: SIGHUP: nothing to reload") != std::string::npos;
    if (!logged) usleep(100 * 1000);
  }
  EXPECT_TRUE(logged) << lkd_->Log();
  Result status = Ctl({"status"});
  EXPECT_EQ(status.exit, 0) << status;
}

// A CA, a second CA, and certificates made with the openssl CLI at run
// time in a directory of the test's own: lkd's (for 10.77.0.1), an admin
// (by a SAN DNS name), a reader (by its CN only), a stranger (signed, but
// named nowhere), and an impostor with the admin's name from the other CA.
class TestPki {
 public:
  TestPki() {
    char dir[] = "/tmp/lkd-pki-XXXXXX";
    if (mkdtemp(dir) == nullptr) return;
    dir_ = dir;
    ok_ = Ca("ca") && Ca("otherca") && Cert("lkd", "ca", "IP:10.77.0.1,DNS:lkd") &&
          Cert("ops", "ca", "DNS:ops.example.com,URI:spiffe://example.com/ops") &&
          Cert("watcher", "ca", "") && Cert("stranger", "ca", "DNS:stranger.example.com") &&
          Cert("impostor", "otherca", "DNS:ops.example.com");
  }
  ~TestPki() {
    if (!dir_.empty()) Shell("rm -rf " + dir_);
  }
  bool ok() const { return ok_; }
  const std::string& log() const { return log_; }
  std::string crt(const std::string& name) const { return dir_ + "/" + name + ".crt"; }
  std::string key(const std::string& name) const { return dir_ + "/" + name + ".key"; }
  const std::string& dir() const { return dir_; }

 private:
  bool Run(const std::string& command) {
    std::string out;
    int rc = Shell("cd " + dir_ + " && " + command, &out);
    log_ += command + "\n" + out;
    return rc == 0;
  }
  static std::string NewKey(const std::string& name) {
    return "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name + ".key";
  }
  bool Ca(const std::string& name) {
    return Run("openssl req -x509 " + NewKey(name) + " -out " + name +
               ".crt -days 2 -subj /CN=" + name);
  }
  bool Cert(const std::string& name, const std::string& ca, const std::string& san) {
    std::string ext;
    if (!san.empty()) {
      if (!Run("printf 'subjectAltName=" + san + "\\n' > " + name + ".ext")) return false;
      ext = " -extfile " + name + ".ext";
    }
    return Run("openssl req " + NewKey(name) + " -out " + name + ".csr -subj /CN=" + name) &&
           Run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
               ".key -CAcreateserial -days 2 -out " + name + ".crt" + ext);
  }
  std::string dir_, log_;
  bool ok_ = false;
};

// lkd in one network namespace, lkctl in another, a veth pair between
// them (10.77.0.1 lkd's side, 10.77.0.2 lkctl's).
class AdminTlsTest : public AdminTest {
 protected:
  void SetUp() override {
    if (!IsRoot()) GTEST_SKIP() << "needs root for network namespaces";
    ASSERT_TRUE(pki_.ok()) << pki_.log();
    // lkd's client CA file: the first CA (ANewClientCaIsTakenWithoutRestart
    // replaces it).
    ASSERT_EQ(Shell("cp " + pki_.crt("ca") + " " + client_ca()), 0);
    const std::string suffix = std::to_string(getpid() % 100000);
    server_ns_ = std::make_unique<ScopedNetns>("lkdts-" + suffix);
    client_ns_ = std::make_unique<ScopedNetns>("lkdtc-" + suffix);
    ASSERT_TRUE(server_ns_->ok() && client_ns_->ok());
    const std::string s = "ip -n " + server_ns_->name() + " ", c = "ip -n " + client_ns_->name() + " ";
    std::string out;
    ASSERT_EQ(Shell(s + "link add lkdvs" + suffix + " type veth peer name lkdvc" + suffix +
                        " netns " + client_ns_->name() + " && " + s + "addr add 10.77.0.1/24 dev lkdvs" +
                        suffix + " && " + s + "link set lkdvs" + suffix + " up && " + c +
                        "addr add 10.77.0.2/24 dev lkdvc" + suffix + " && " + c + "link set lkdvc" +
                        suffix + " up",
                    &out),
              0)
        << out;
    ASSERT_TRUE(server_ns_
                    ->Run([&]() -> absl::Status {
                      // Forked from this thread: lkd lives in the server namespace.
                      auto d = LkdDaemon::Start(
                          {"--admin_listen", std::string("tcp://") + kAddress, "--admin_tls_cert",
                           pki_.crt("lkd"), "--admin_tls_key", pki_.key("lkd"),
                           "--admin_tls_client_ca", client_ca(), "--admin_tls_admin_names",
                           "ops.example.com", "--admin_tls_reader_names", "watcher",
                           "--admin_tls_reload_s", ReloadSeconds()});
                      if (!d.ok()) return d.status();
                      lkd_ = std::move(*d);
                      return absl::OkStatus();
                    })
                    .ok());
  }
  void TearDown() override {
    AdminTest::TearDown();
    lkd_.reset();  // its namespace, and the veth pair with it, go once lkd has
    server_ns_.reset();
    client_ns_.reset();
  }

  // How often lkd checks its TLS files (--admin_tls_reload_s).
  virtual std::string ReloadSeconds() const { return "1"; }
  // The file lkd reads its clients' CA from.
  std::string client_ca() const { return pki_.dir() + "/clients.crt"; }
  // Replaces the client CA file in one rename, as an operator (or
  // cert-manager) would.
  void SetClientCa(const std::string& text) {
    std::ofstream(client_ca() + ".new") << text;
    ASSERT_EQ(rename((client_ca() + ".new").c_str(), client_ca().c_str()), 0) << strerror(errno);
  }
  // Waits (a generous bound, not a timing assertion) until lkd's log
  // has `text`.
  bool LogShows(const std::string& text) {
    for (int i = 0; i < 600; i++) {
      if (lkd_->Log().find(text) != std::string::npos) return true;
      usleep(100 * 1000);
    }
    return false;
  }

  // lkctl over TCP from the client namespace, as `who` (a certificate
  // name; "" for none).
  Result Remote(const std::string& who, std::vector<std::string> args) {
    std::vector<std::string> flags = {"-H", std::string("tcp://") + kAddress, "--cacert",
                                      pki_.crt("ca")};
    if (!who.empty()) flags.insert(flags.end(), {"--cert", pki_.crt(who), "--key", pki_.key(who)});
    args.insert(args.begin(), flags.begin(), flags.end());
    return FromClientNs(args);
  }
  // lkctl with just `args`, from the client namespace.
  Result FromClientNs(const std::vector<std::string>& args) {
    Result r;
    absl::Status ran = client_ns_->Run([&] {
      r = lkctl_.Run(args);
      return absl::OkStatus();
    });
    EXPECT_TRUE(ran.ok()) << ran;
    return r;
  }

  static constexpr char kAddress[] = "10.77.0.1:7443";
  TestPki pki_;
  std::unique_ptr<ScopedNetns> server_ns_, client_ns_;
};

TEST_F(AdminTlsTest, AdminChangesARouteOverMutualTls) {
  Result add = Remote("ops", {"route", "add", "10.66.0.0/16", "dev", "lo"});
  ASSERT_EQ(add.exit, 0) << add;
  // Taken effect, as lkd's local socket shows.
  EXPECT_NE(Ctl({"route", "show"}).out.find("10.66.0.0/16 dev lo proto static"),
            std::string::npos);
  EXPECT_NE(Remote("ops", {"route", "show"}).out.find("10.66.0.0/16 dev lo"), std::string::npos);
  // The audit log names the certificate, not a uid.
  EXPECT_NE(lkd_->Log().find("admin: TLS client 'ops.example.com' (admin): add route "
                             "10.66.0.0/16 dev lo: done"),
            std::string::npos)
      << lkd_->Log();
  Result status = Remote("ops", {"status"});
  EXPECT_NE(status.out.find("role:     admin"), std::string::npos) << status;

  // LKD_ADMIN names the TCP listener as -H does.
  setenv("LKD_ADMIN", (std::string("tcp://") + kAddress).c_str(), 1);
  Result env = FromClientNs({"--cacert", pki_.crt("ca"), "--cert", pki_.crt("ops"), "--key",
                             pki_.key("ops"), "route", "del", "10.66.0.0/16", "dev", "lo"});
  unsetenv("LKD_ADMIN");
  EXPECT_EQ(env.exit, 0) << env;
  EXPECT_EQ(Ctl({"route", "show"}).out.find("10.66.0.0/16"), std::string::npos);
}

TEST_F(AdminTlsTest, ReadersReadAndStrangersAreRefused) {
  Result show = Remote("watcher", {"route", "show"});
  EXPECT_EQ(show.exit, 0) << show;
  Result add = Remote("watcher", {"route", "add", "10.67.0.0/16", "dev", "lo"});
  EXPECT_EQ(add.exit, 3) << add;
  EXPECT_NE(add.err.find("refuses this caller (certificate " + pki_.crt("watcher") +
                         "): not allowed to add route 10.67.0.0/16 dev lo: the client "
                         "certificate has a reader name, which may only read"),
            std::string::npos)
      << add;
  EXPECT_NE(lkd_->Log().find("refused to add route 10.67.0.0/16 dev lo: TLS client 'watcher' "
                             "(reader) may only read"),
            std::string::npos)
      << lkd_->Log();
  Result stranger = Remote("stranger", {"route", "show"});
  EXPECT_EQ(stranger.exit, 3) << stranger;
  EXPECT_NE(stranger.err.find("carries none of lkd's admin or reader names"), std::string::npos)
      << stranger;
  EXPECT_EQ(stranger.out, "");
}

TEST_F(AdminTlsTest, NoCertificateOrAnotherCasIsRefused) {
  Result none = Remote("", {"route", "add", "10.68.0.0/16", "dev", "lo"});
  EXPECT_EQ(none.exit, 3) << none;
  EXPECT_EQ(none.err.rfind("lkctl: lkd at tcp://10.77.0.1:7443 refused the TLS handshake: lkd "
                           "requires a client certificate, and none was given",
                           0),
            0u)
      << none;
  Result impostor = Remote("impostor", {"route", "add", "10.68.0.0/16", "dev", "lo"});
  EXPECT_EQ(impostor.exit, 3) << impostor;
  EXPECT_EQ(impostor.err.rfind("lkctl: lkd at tcp://10.77.0.1:7443 refused the TLS handshake: "
                               "lkd did not accept the client certificate " +
                                   pki_.crt("impostor"),
                               0),
            0u)
      << impostor;
  EXPECT_EQ(Ctl({"route", "show"}).out.find("10.68.0.0/16"), std::string::npos)
      << "a refused client changed lkd";
  EXPECT_EQ(lkd_->Log().find("10.68.0.0/16"), std::string::npos) << lkd_->Log();
  // lkd's certificate checked against the wrong CA: lkctl does not trust it.
  Result untrusted =
      FromClientNs({"-H", std::string("tcp://") + kAddress, "--cacert", pki_.crt("otherca"),
                    "--cert", pki_.crt("ops"), "--key", pki_.key("ops"), "status"});
  EXPECT_EQ(untrusted.exit, 3) << untrusted;
  EXPECT_NE(untrusted.err.find("cannot be trusted: its certificate is not signed by --cacert"),
            std::string::npos)
      << untrusted;
}

TEST_F(AdminTlsTest, ANewClientCaIsTakenWithoutRestart) {
  ASSERT_EQ(Remote("impostor", {"status"}).exit, 3);
  SetClientCa(ReadFile(pki_.crt("ca")) + ReadFile(pki_.crt("otherca")));  // both CAs
  // lkd checks the file every second (--admin_tls_reload_s 1); a generous
  // bound for a loaded machine, not a timing assertion.
  Result r;
  for (int i = 0; i < 120; i++) {
    r = Remote("impostor", {"status"});
    if (r.exit == 0) break;
    usleep(500 * 1000);
  }
  EXPECT_EQ(r.exit, 0) << "the new client CA was not taken: " << r;
  EXPECT_NE(r.out.find("role:     admin"), std::string::npos) << r;
}

// lkd that checks its TLS files only once an hour: SIGHUP makes it take
// them at once.
class AdminTlsSighupTest : public AdminTlsTest {
 protected:
  std::string ReloadSeconds() const override { return "3600"; }
};

TEST_F(AdminTlsSighupTest, SighupTakesNewFilesAndKeepsOldOnesIfBad) {
  ASSERT_EQ(Remote("impostor", {"status"}).exit, 3);
  SetClientCa(ReadFile(pki_.crt("ca")) + ReadFile(pki_.crt("otherca")));
  EXPECT_EQ(Remote("impostor", {"status"}).exit, 3) << "taken before SIGHUP (the watcher?)";
  ASSERT_EQ(kill(lkd_->pid(), SIGHUP), 0);
  ASSERT_TRUE(LogShows("lkd: admin: SIGHUP: tcp://10.77.0.1:7443 reloaded its certificate, key "
                       "and client CA"))
      << lkd_->Log();
  Result r = Remote("impostor", {"status"});
  EXPECT_EQ(r.exit, 0) << r;
  EXPECT_NE(r.out.find("role:     admin"), std::string::npos) << r;

  // A client CA file that is no PEM: the listener keeps what it had.
  SetClientCa("not a certificate\n");
  ASSERT_EQ(kill(lkd_->pid(), SIGHUP), 0);
  ASSERT_TRUE(LogShows("lkd: admin: SIGHUP: the TCP listener keeps its TLS files: "
                       "admin_tls_client_ca " + client_ca() + ": not a PEM file"))
      << lkd_->Log();
  Result kept = Remote("ops", {"route", "show"});
  EXPECT_EQ(kept.exit, 0) << kept;
  EXPECT_EQ(kill(lkd_->pid(), 0), 0) << "lkd died";
}

}  // namespace
}  // namespace lkd::testing
