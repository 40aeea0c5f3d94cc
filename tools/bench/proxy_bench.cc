// SPDX-License-Identifier: GPL-2.0
// Benchmarks of the system call proxy (issue #4): client processes attached
// to a real lkd through liblkclient, against the host kernel in the same
// run. Prints "BENCH <name> <value> <unit>" lines on stdout, progress on
// stderr:
//   host_getppid_ns: getppid() on the host (median of batches of 100);
//   uds_rtt_ns: a 64-byte ping-pong between two threads over a host
//     AF_UNIX socketpair (median round trip);
//   proxy_null_p50_ns / proxy_null_p99_ns: getppid through lkd, back to
//     back, each call timed on its own;
//   proxy_null_cold_p50_ns: the same with ~2 ms of sleep before each call,
//     so both ends have stopped spinning and sleep on their futexes;
//   proxy_tcp_gbps / host_tcp_gbps: one TCP stream over 127.0.0.1 between
//     two client processes, 1 MiB writes, verified byte for byte;
//   proxy_rr_kreqs_nN / host_rr_kreqs_nN: N client processes, one
//     connection each, 64-byte request/response against one epoll echo
//     server process, total thousands of requests per second;
//   proxy_conn_per_s / host_conn_per_s: connect + accept + close cycles;
//   shm_pingpong_ns: two processes bouncing one shared cache line, both
//     spinning (median round trip): the floor of any hot cross-process call;
//   futex_pingpong_ns: two processes waking each other with futexes, no
//     spinning (median round trip): the floor of any cold call;
//   futex_cold_pingpong_ns: the same with ~2 ms of idleness before each
//     round trip, as before each cold call (CPUs that went idle wake);
//   proxy_null_mcalls_n8 / host_getppid_mcalls_n8: getppid through lkd /
//     on the host from 8 client processes of one thread each, millions of
//     calls per second summed;
//   breakdown_<stage>_p50_ns / _p99_ns (hot, back to back) and
//     breakdown_cold_<stage>_* (2 ms apart): where a null call's time goes,
//     from the channel's trace timestamps (client/call_trace.h, README
//     "Where a call's time goes");
//   lkd_idle_cpu_pct: a fresh lkd with 8 attached but idle clients, its
//     threads' run time (schedstat) over 5 s as percent of one CPU;
//   lkd_rss_per_client_kib: lkd's RSS growth per attached idle client
//     (one channel each), over 64 clients.
// A benchmark, not a test: nothing is asserted about times. The exit code
// is non-zero only when something broke (lkd did not start, a client
// failed, data arrived corrupted).
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <sstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "client/call_trace.h"
#include "client/connection.h"
#include "lkd/sysnr.h"
#include "rumpclient/lkclient.h"
#include "kernel/testing/loopback.h"
#include "server/daemon/testing/lkd_fixture.h"

ABSL_FLAG(bool, quick, false,
          "shorten every duration and sample count (a smoke run)");
ABSL_FLAG(double, seconds, 2.0, "how long each timed loop runs");
ABSL_FLAG(std::vector<std::string>, lkd_args, {},
          "extra lkd flags, comma-separated (e.g. --dispatch_spin_us=5)");
ABSL_FLAG(std::string, only, "",
          "run only benchmarks whose name contains this");

namespace {

using lkd::testing::ForkClient;
using lkd::testing::Ipv4Loopback;
using lkd::testing::LkdDaemon;
using lkd::testing::ReadyPipe;
using lkd::testing::WaitClient;

// Set when anything failed outright; decides the exit code.
bool g_failed = false;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + ts.tv_nsec;
}

void SleepNs(uint64_t ns) {
  timespec ts = {static_cast<time_t>(ns / 1000000000u),
                 static_cast<long>(ns % 1000000000u)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

bool Quick() { return absl::GetFlag(FLAGS_quick); }

// The length of every timed loop.
double Seconds() { return Quick() ? 0.3 : absl::GetFlag(FLAGS_seconds); }

bool Selected(const std::string& name) {
  const std::string only = absl::GetFlag(FLAGS_only);
  return only.empty() || name.find(only) != std::string::npos;
}

void Report(const std::string& name, double value, const char* unit) {
  printf("BENCH %s %.3f %s\n", name.c_str(), value, unit);
  fflush(stdout);
}

void Progress(const std::string& what) {
  fprintf(stderr, "proxy_bench: %s\n", what.c_str());
}

void Fail(const std::string& what) {
  fprintf(stderr, "proxy_bench: FAILED: %s\n", what.c_str());
  g_failed = true;
}

// The q-quantile of `samples`, which it sorts.
uint64_t Percentile(std::vector<uint64_t>& samples, double q) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t i = std::min(samples.size() - 1,
                      static_cast<size_t>(q * samples.size()));
  return samples[i];
}

#define CHECK_OR(cond, code)                                          \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "proxy_bench: client %d: %s failed: %s\n",      \
              getpid(), #cond, strerror(errno));                      \
      return code;                                                    \
    }                                                                 \
  } while (0)

// ---------------------------------------------------------------------------
// The same workloads on both kernels: the socket calls they make, either
// the host's (libc) or the kernel's inside lkd (liblkclient). The
// signatures are the same on purpose (lkclient.h follows libc).

struct Net {
  const char* name;  // "host" or "proxy": the prefix of the results
  int (*init)();
  int (*socket)(int, int, int);
  int (*bind)(int, const sockaddr*, socklen_t);
  int (*listen)(int, int);
  int (*accept4)(int, sockaddr*, socklen_t*, int);
  int (*connect)(int, const sockaddr*, socklen_t);
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*write)(int, const void*, size_t);
  int (*close)(int);
  int (*setsockopt)(int, int, int, const void*, socklen_t);
  int (*getsockname)(int, sockaddr*, socklen_t*);
  int (*epoll_create1)(int);
  int (*epoll_ctl)(int, int, int, epoll_event*);
  int (*epoll_wait)(int, epoll_event*, int, int);
};

int HostInit() { return 0; }

const Net kHost = {"host",        HostInit,   ::socket,        ::bind,
                   ::listen,      ::accept4,  ::connect,       ::read,
                   ::write,       ::close,    ::setsockopt,    ::getsockname,
                   ::epoll_create1, ::epoll_ctl, ::epoll_wait};

const Net kProxy = {"proxy",          lk_init,          lk_sys_socket,
                    lk_sys_bind,      lk_sys_listen,    lk_sys_accept4,
                    lk_sys_connect,   lk_sys_read,      lk_sys_write,
                    lk_sys_close,     lk_sys_setsockopt, lk_sys_getsockname,
                    lk_sys_epoll_create1, lk_sys_epoll_ctl, lk_sys_epoll_wait};

// A listening socket on 127.0.0.1 at a port the kernel picks; its port in
// *port. -1 on failure.
int Listen(const Net& net, uint16_t* port) {
  int fd = net.socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a = Ipv4Loopback(0);
  socklen_t len = sizeof(a);
  if (net.bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 ||
      net.listen(fd, 512) < 0 ||
      net.getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0) {
    net.close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

int Connect(const Net& net, uint16_t port) {
  int fd = net.socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a = Ipv4Loopback(port);
  if (net.connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
    net.close(fd);
    return -1;
  }
  return fd;
}

void NoDelay(const Net& net, int fd) {
  int one = 1;
  net.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

bool WriteAll(const Net& net, int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = net.write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= w;
  }
  return true;
}

bool ReadAll(const Net& net, int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = net.read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= r;
  }
  return true;
}

// State shared between the bench and its forked client processes (an
// anonymous shared mapping made before the forks). Each client writes only
// its own slot; the bench reads the slots after waiting for the clients.
struct Shared {
  std::atomic<uint32_t> port;
  std::atomic<uint32_t> stop;
  std::atomic<uint64_t> start_ns, stop_ns;  // the window timed loops use
  uint64_t count[64];
  uint64_t a[64], b[64];
};

// A T in an anonymous shared mapping (T: trivially destructible).
template <typename T = Shared>
class SharedMapping {
 public:
  SharedMapping() {
    void* p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) abort();
    shared_ = new (p) T();
  }
  ~SharedMapping() { munmap(shared_, sizeof(T)); }
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  T* operator->() { return shared_; }
  T& operator*() { return *shared_; }

 private:
  T* shared_;
};

// A workload's kernel and the URL its client processes attach to (unused
// by the host's).
struct Env {
  const Net& net;
  std::string url;
};

// Waits for every pid; false (and a failure) if any did not exit with 0.
bool WaitAll(const std::vector<pid_t>& pids, const std::string& what) {
  bool ok = true;
  for (pid_t p : pids) {
    int rc = WaitClient(p);
    if (rc != 0) {
      Fail(absl::StrCat(what, ": client process ", p, " exited with ", rc));
      ok = false;
    }
  }
  return ok;
}

// Kills and reaps processes left behind after a failure.
void KillAll(const std::vector<pid_t>& pids) {
  for (pid_t p : pids) kill(p, SIGKILL);
  for (pid_t p : pids) WaitClient(p);
}

// Forks a workload's server process: it attaches, listens on 127.0.0.1 at
// a port the kernel picks, publishes the port in shared.port, then runs
// serve(listening fd) and exits with its result. Returns the pid once the
// server listens, or -1 after reporting the failure.
pid_t StartServer(const Env& env, Shared& shared, const std::string& what,
                  const std::function<int(int)>& serve) {
  ReadyPipe ready;
  pid_t pid = ForkClient(env.url, [&] {
    CHECK_OR(env.net.init() == 0, 10);
    uint16_t port;
    int lfd = Listen(env.net, &port);
    CHECK_OR(lfd >= 0, 11);
    shared.port = port;
    ready.Signal();
    return serve(lfd);
  });
  if (!ready.Wait()) {
    Fail(what + " not ready");
    KillAll({pid});
    return -1;
  }
  return pid;
}

// ---------------------------------------------------------------------------
// Host baselines.

void HostGetppid() {
  Progress("host getppid");
  const int kBatch = 100, kBatches = Quick() ? 1000 : 20000;
  std::vector<uint64_t> per_call;
  per_call.reserve(kBatches);
  for (int i = 0; i < 100; i++) syscall(SYS_getppid);
  for (int b = 0; b < kBatches; b++) {
    uint64_t t0 = NowNs();
    for (int i = 0; i < kBatch; i++) syscall(SYS_getppid);
    per_call.push_back((NowNs() - t0) / kBatch);
  }
  Report("host_getppid_ns", Percentile(per_call, 0.5), "ns");
}

void UnixRtt() {
  Progress("host AF_UNIX round trip");
  const int kWarm = 2000, kRounds = Quick() ? 5000 : 50000;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    Fail("socketpair");
    return;
  }
  std::thread echo([&] {
    char buf[64];
    for (;;) {
      if (!ReadAll(kHost, sv[1], buf, sizeof(buf))) return;
      if (!WriteAll(kHost, sv[1], buf, sizeof(buf))) return;
    }
  });
  std::vector<uint64_t> rtt;
  rtt.reserve(kRounds);
  char out[64], in[64];
  bool ok = true;
  for (int i = 0; i < kWarm + kRounds && ok; i++) {
    memset(out, i & 0xff, sizeof(out));
    uint64_t t0 = NowNs();
    ok = WriteAll(kHost, sv[0], out, sizeof(out)) &&
         ReadAll(kHost, sv[0], in, sizeof(in)) && memcmp(in, out, 64) == 0;
    if (i >= kWarm) rtt.push_back(NowNs() - t0);
  }
  shutdown(sv[0], SHUT_RDWR);
  echo.join();
  close(sv[0]);
  close(sv[1]);
  if (!ok) {
    Fail("AF_UNIX ping-pong broke");
    return;
  }
  Report("uds_rtt_ns", Percentile(rtt, 0.5), "ns");
}

// ---------------------------------------------------------------------------
// Null calls through lkd.

long ProxyGetppid() { return lk_syscall(LKD_NR_getppid, 0, 0, 0, 0, 0, 0); }

// Hot: back to back after a warm-up, so both the client and lkd's dispatch thread
// are inside their spin when the next call comes.
void ProxyNullHot(const std::string& url) {
  Progress("proxy null call, hot");
  SharedMapping shared;
  const int kWarm = 20000, kCalls = Quick() ? 20000 : 200000;
  pid_t pid = ForkClient(url, [&] {
    CHECK_OR(lk_init() == 0, 10);
    for (int i = 0; i < kWarm; i++) CHECK_OR(ProxyGetppid() >= 0, 11);
    std::vector<uint64_t> t(kCalls);
    for (int i = 0; i < kCalls; i++) {
      uint64_t t0 = NowNs();
      long r = ProxyGetppid();
      t[i] = NowNs() - t0;
      CHECK_OR(r >= 0, 12);
    }
    shared->a[0] = Percentile(t, 0.5);
    shared->a[1] = Percentile(t, 0.99);
    shared->a[2] = Percentile(t, 0.9);
    shared->a[3] = Percentile(t, 0.999);
    shared->a[4] = t.front();
    return 0;
  });
  if (!WaitAll({pid}, "proxy null hot")) return;
  Report("proxy_null_p50_ns", shared->a[0], "ns");
  Report("proxy_null_p99_ns", shared->a[1], "ns");
  Progress(absl::StrCat("  hot: min ", shared->a[4], " p90 ", shared->a[2],
                        " p99.9 ", shared->a[3], " ns"));
}

// Where the hot latency goes: the same loop on a client::Connection with
// the client's bounded spin (20 us in liblkclient) set to other values.
// With 0 the client sleeps on its doorbell at once, leaving the CPU to
// lkd's dispatch thread (which runs the kernel for it). On stderr
// only: a diagnosis, not a figure.
void ProxyNullSpin(const std::string& url) {
  Progress("proxy null call, hot, by client spin");
  const int kWarm = 2000, kCalls = Quick() ? 5000 : 30000;
  for (uint64_t spin_ns : {0, 5000, 20000, 100000}) {
    SharedMapping shared;
    pid_t pid = ForkClient(url, [&] {
      lkd::client::ConnectionOptions options;
      options.spin_ns = spin_ns;
      auto connection = lkd::client::Connection::Connect(url, "", options);
      if (!connection.ok()) {
        fprintf(stderr, "proxy_bench: %s\n", connection.status().ToString().c_str());
        return 10;
      }
      const long args[6] = {};
      for (int i = 0; i < kWarm; i++)
        CHECK_OR((*connection)->Call(LKD_NR_getppid, args) >= 0, 11);
      std::vector<uint64_t> t(kCalls);
      for (int i = 0; i < kCalls; i++) {
        uint64_t t0 = NowNs();
        long r = (*connection)->Call(LKD_NR_getppid, args);
        t[i] = NowNs() - t0;
        CHECK_OR(r >= 0, 12);
      }
      shared->a[0] = Percentile(t, 0.5);
      shared->a[1] = Percentile(t, 0.99);
      return 0;
    });
    if (!WaitAll({pid}, "proxy null by spin")) return;
    Progress(absl::StrCat("  client spin ", spin_ns / 1000, " us: p50 ",
                          shared->a[0], " p99 ", shared->a[1], " ns"));
  }
}

// ---------------------------------------------------------------------------
// Floors: what any cross-process call costs at least on this machine.

// A round-trip counter on a cache line of its own, shared by two
// processes: the bench makes it odd, the peer even.
struct alignas(64) PingLine {
  std::atomic<uint32_t> value;
};

void Pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

long Futex(std::atomic<uint32_t>* word, int op, uint32_t val) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, val, nullptr,
                 nullptr, 0);
}

// Waits on the futex (no spinning) until *word != old.
void FutexWaitChange(std::atomic<uint32_t>* word, uint32_t old) {
  while (word->load(std::memory_order_acquire) == old) Futex(word, FUTEX_WAIT, old);
}

// One side of a ping-pong on `line`: the bench makes the value odd, the
// peer answers with value + 1. Spinning with `pause`, or (`sleep`) waiting
// on the futex and waking the other side with FUTEX_WAKE.
class PingSide {
 public:
  PingSide(PingLine* line, bool sleep) : line_(line), sleep_(sleep) {}

  // Stores `value` and waits until the line holds something else.
  void Exchange(uint32_t value) {
    line_->value.store(value, std::memory_order_release);
    if (sleep_) {
      Futex(&line_->value, FUTEX_WAKE, 1);
      FutexWaitChange(&line_->value, value);
    } else {
      while (line_->value.load(std::memory_order_acquire) == value) Pause();
    }
  }

  // The peer: forks a process that answers until it is killed.
  pid_t ForkPeer() {
    pid_t peer = fork();
    if (peer != 0) return peer;
    if (sleep_) FutexWaitChange(&line_->value, 0);
    for (;;) {
      uint32_t v = line_->value.load(std::memory_order_acquire);
      if (v & 1)
        Exchange(v + 1);
      else
        Pause();
    }
  }

 private:
  PingLine* line_;
  bool sleep_;
};

// A ping-pong between two processes: batches of round trips, the median
// batch per round trip (and its p99), after 5 batches of warm-up; with
// `gap_ns`, both sides idle that long before each batch (untimed).
void PingPong(const std::string& name, bool sleep, int batch, int batches,
              uint64_t gap_ns = 0) {
  SharedMapping<PingLine> line;
  PingSide side(&*line, sleep);
  pid_t peer = side.ForkPeer();
  std::vector<uint64_t> per_round;
  uint32_t v = 1;
  for (int b = 0; b < batches + 5; b++) {
    if (gap_ns) SleepNs(gap_ns);
    uint64_t t0 = NowNs();
    for (int i = 0; i < batch; i++, v += 2) side.Exchange(v);
    if (b >= 5) per_round.push_back((NowNs() - t0) / batch);
  }
  KillAll({peer});  // it may wait for a next round (spinning or asleep)
  Report(name, Percentile(per_round, 0.5), "ns");
  Progress(absl::StrCat("  ", name, " p99 ", Percentile(per_round, 0.99), " ns"));
}

// Both spin: the floor of a hot cross-process call. Timed in batches: one
// round trip is a few clock reads long.
void ShmPingPong() {
  Progress("shared cache line ping-pong (two processes, spinning)");
  PingPong("shm_pingpong_ns", false, 1000, Quick() ? 50 : 300);
}

// Neither spins: each round trip is two FUTEX_WAKEs of a sleeping
// process, the floor of a cold call.
void FutexPingPong() {
  Progress("futex ping-pong (two processes, sleeping)");
  PingPong("futex_pingpong_ns", true, 1, Quick() ? 500 : 5000);
}

// The same after ~2 ms of idleness on both sides, as before each cold
// call: the wake-ups now reach CPUs that went idle (on a VM, vCPUs the
// hypervisor descheduled), the floor of proxy_null_cold_p50_ns.
void FutexColdPingPong() {
  Progress("futex ping-pong after 2 ms idle (two processes, sleeping)");
  PingPong("futex_cold_pingpong_ns", true, 1, Quick() ? 100 : 500, 2000000);
}

// Null calls per second from `clients` processes of one thread each, in
// the same timed window: through lkd (proxy) or on the host.
void NullCallRate(const std::string& url, bool proxy, int clients) {
  const std::string name =
      absl::StrCat(proxy ? "proxy_null" : "host_getppid", "_mcalls_n", clients);
  Progress(name);
  SharedMapping shared;
  ReadyPipe ready;
  std::vector<pid_t> pids;
  for (int i = 0; i < clients; i++) {
    pids.push_back(ForkClient(url, [&, i] {
      if (proxy) {
        CHECK_OR(lk_init() == 0, 10);
        for (int k = 0; k < 1000; k++) CHECK_OR(ProxyGetppid() >= 0, 11);
      }
      ready.Signal();
      while (shared->start_ns.load() == 0) SleepNs(1000000);
      uint64_t start = shared->start_ns, stop = shared->stop_ns, now = NowNs();
      if (now < start) SleepNs(start - now);
      uint64_t n = 0;
      // The clock is read every 64 calls only: a host getppid costs less
      // than a clock read.
      do {
        for (int k = 0; k < 64; k++) {
          long r = proxy ? ProxyGetppid() : syscall(SYS_getppid);
          CHECK_OR(r >= 0, 12);
        }
        n += 64;
      } while (NowNs() < stop);
      shared->count[i] = n;
      shared->a[i] = NowNs() - start;
      return 0;
    }));
  }
  for (int i = 0; i < clients; i++) {
    if (!ready.Wait()) {
      Fail(name + ": clients not ready");
      KillAll(pids);
      return;
    }
  }
  const double seconds = Seconds();
  uint64_t start = NowNs() + 50000000;
  shared->stop_ns = start + static_cast<uint64_t>(seconds * 1e9);
  shared->start_ns = start;
  if (!WaitAll(pids, name)) return;
  // Each client's own rate over its own span (it may overrun the window by
  // up to 64 calls), summed.
  double total = 0;
  for (int i = 0; i < clients; i++)
    if (shared->a[i]) total += shared->count[i] * 1e3 / shared->a[i];
  Report(name, total, "Mcalls/s");
}

// Where a null call's time goes: a client on client::Connection with
// tracing on; per stage p50 and p99 (client/call_trace.h). Hot: back to
// back. Cold: ~2 ms apart, so both sides sleep.
void Breakdown(const std::string& url, bool cold) {
  const std::string prefix = cold ? "breakdown_cold_" : "breakdown_";
  Progress(cold ? "breakdown of a cold null call" : "breakdown of a hot null call");
  SharedMapping shared;
  const int kWarm = cold ? 50 : 20000;
  const int kCalls = cold ? (Quick() ? 100 : 500) : (Quick() ? 5000 : 50000);
  pid_t pid = ForkClient(url, [&] {
    lkd::client::CallTraceTable table;
    bool recording = false;
    uint64_t server_slept = 0, client_slept = 0;
    lkd::client::ConnectionOptions options;
    options.trace = [&](const lkd::client::CallTrace& t) {
      if (!recording) return;
      table.Add(t);
      server_slept += t.server_slept;
      client_slept += t.client_slept;
    };
    auto connection = lkd::client::Connection::Connect(url, "", options);
    if (!connection.ok()) {
      fprintf(stderr, "proxy_bench: %s\n", connection.status().ToString().c_str());
      return 10;
    }
    const long args[6] = {};
    for (int i = 0; i < kWarm + kCalls; i++) {
      recording = i >= kWarm;
      if (cold) SleepNs(2000000);
      CHECK_OR((*connection)->Call(LKD_NR_getppid, args) >= 0, 11);
    }
    for (int st = 0; st < lkd::client::kStageCount; st++) {
      shared->a[st] = table.Percentile(st, 0.5);
      shared->b[st] = table.Percentile(st, 0.99);
    }
    shared->count[0] = table.size();
    shared->count[1] = server_slept;
    shared->count[2] = client_slept;
    return 0;
  });
  if (!WaitAll({pid}, prefix + "*")) return;
  for (int st = 0; st < lkd::client::kStageCount; st++) {
    const std::string stage = lkd::client::CallStageName(st);
    Report(absl::StrCat(prefix, stage, "_p50_ns"), shared->a[st], "ns");
    Report(absl::StrCat(prefix, stage, "_p99_ns"), shared->b[st], "ns");
  }
  Progress(absl::StrCat("  ", shared->count[0], " calls: lkd's dispatch thread slept for ",
                        shared->count[1], ", the client for ", shared->count[2]));
}

// Cold: ~2 ms of sleep before each call, far past both sides' bounded spin
// (20 us), so every call rings a sleeping dispatch thread with FUTEX_WAKE and the
// client itself may sleep before the answer comes.
void ProxyNullCold(const std::string& url) {
  Progress("proxy null call, cold");
  SharedMapping shared;
  const int kCalls = Quick() ? 100 : 500;
  pid_t pid = ForkClient(url, [&] {
    CHECK_OR(lk_init() == 0, 10);
    for (int i = 0; i < 100; i++) CHECK_OR(ProxyGetppid() >= 0, 11);
    std::vector<uint64_t> t(kCalls), host(kCalls);
    for (int i = 0; i < kCalls; i++) {
      SleepNs(2000000);
      uint64_t t0 = NowNs();
      long r = ProxyGetppid();
      t[i] = NowNs() - t0;
      CHECK_OR(r >= 0, 12);
    }
    // The host's own cost of coming back from the same sleep into a
    // system call, for comparison: the first call after the sleep.
    for (int i = 0; i < kCalls; i++) {
      SleepNs(2000000);
      uint64_t t0 = NowNs();
      syscall(SYS_getppid);
      host[i] = NowNs() - t0;
    }
    shared->a[0] = Percentile(t, 0.5);
    shared->a[1] = Percentile(t, 0.9);
    shared->a[2] = Percentile(t, 0.99);
    shared->a[3] = Percentile(host, 0.5);
    return 0;
  });
  if (!WaitAll({pid}, "proxy null cold")) return;
  Report("proxy_null_cold_p50_ns", shared->a[0], "ns");
  Progress(absl::StrCat("  cold: p90 ", shared->a[1], " p99 ", shared->a[2],
                        " ns; host getppid after the same sleep: p50 ",
                        shared->a[3], " ns"));
}

// ---------------------------------------------------------------------------
// One TCP stream over loopback. The bytes follow a pattern of period 251
// (prime, so that 1 MiB writes do not line up with it): the sender writes
// from a buffer at the stream's phase, the receiver compares each read.

constexpr size_t kStreamBuf = 1 << 20;
constexpr size_t kPeriod = 251;

std::vector<char> PatternBuffer() {
  std::vector<char> v(kStreamBuf + kPeriod);
  for (size_t i = 0; i < v.size(); i++) v[i] = static_cast<char>(i % kPeriod);
  return v;
}

void TcpStream(const Env& env) {
  const Net& net = env.net;
  const std::string name = absl::StrCat(net.name, "_tcp_gbps");
  Progress(name);
  SharedMapping shared;
  const double seconds = Quick() ? 0.5 : 2.5;
  // Receiver: accepts one connection and reads it to EOF; reports bytes
  // and the time from its first byte to its last.
  pid_t receiver = StartServer(env, *shared, name + ": receiver", [&](int lfd) {
    int fd = net.accept4(lfd, nullptr, nullptr, 0);
    CHECK_OR(fd >= 0, 12);
    std::vector<char> pattern = PatternBuffer();
    std::vector<char> buf(kStreamBuf);
    uint64_t total = 0, first = 0, last = 0;
    ssize_t n;
    while ((n = net.read(fd, buf.data(), buf.size())) > 0) {
      if (total == 0) first = NowNs();
      if (memcmp(buf.data(), pattern.data() + total % kPeriod, n) != 0) {
        fprintf(stderr, "proxy_bench: %s: corrupted data near byte %llu\n",
                name.c_str(), static_cast<unsigned long long>(total));
        return 13;
      }
      total += n;
      last = NowNs();
    }
    CHECK_OR(n == 0, 14);
    net.close(fd);
    net.close(lfd);
    shared->a[0] = total;
    shared->a[1] = last - first;
    return 0;
  });
  if (receiver < 0) return;
  pid_t sender = ForkClient(env.url, [&] {
    CHECK_OR(net.init() == 0, 20);
    int fd = Connect(net, shared->port);
    CHECK_OR(fd >= 0, 21);
    std::vector<char> pattern = PatternBuffer();
    uint64_t sent = 0;
    const uint64_t end = NowNs() + static_cast<uint64_t>(seconds * 1e9);
    while (NowNs() < end) {
      ssize_t w = net.write(fd, pattern.data() + sent % kPeriod, kStreamBuf);
      CHECK_OR(w > 0, 22);
      sent += w;
    }
    CHECK_OR(net.close(fd) == 0, 23);
    shared->b[0] = sent;
    return 0;
  });
  bool ok = WaitAll({sender}, name) && WaitAll({receiver}, name);
  if (!ok) return;
  if (shared->a[0] != shared->b[0]) {
    Fail(absl::StrCat(name, ": sent ", shared->b[0], " bytes, received ",
                      shared->a[0]));
    return;
  }
  double gbps = shared->a[1] ? shared->a[0] * 8.0 / shared->a[1] : 0;
  Report(name, gbps, "Gbit/s");
  Progress(absl::StrCat("  ", shared->a[0] >> 20, " MiB verified"));
}

// ---------------------------------------------------------------------------
// Request/response: one epoll echo server process, `clients` processes
// with one persistent connection each, 64 bytes each way per request.

bool RunEchoServer(const Net& net, int lfd, int clients) {
  int ep = net.epoll_create1(0);
  if (ep < 0) return false;
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  if (net.epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) return false;
  int accepted = 0, closed = 0;
  epoll_event evs[64];
  char buf[4096];
  while (closed < clients) {
    int n = net.epoll_wait(ep, evs, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        int c = net.accept4(lfd, nullptr, nullptr, 0);
        if (c < 0) return false;
        NoDelay(net, c);
        ev.events = EPOLLIN;
        ev.data.fd = c;
        if (net.epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0) return false;
        if (++accepted == clients) net.epoll_ctl(ep, EPOLL_CTL_DEL, lfd, nullptr);
        continue;
      }
      ssize_t r = net.read(fd, buf, sizeof(buf));
      if (r > 0) {
        // An echo: whatever came goes back, so a request split in two
        // reads still arrives whole.
        if (!WriteAll(net, fd, buf, r)) return false;
      } else {
        net.epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        net.close(fd);
        closed++;
      }
    }
  }
  net.close(ep);
  return true;
}

void RequestResponse(const Env& env, int clients) {
  const Net& net = env.net;
  const std::string name = absl::StrCat(net.name, "_rr_kreqs_n", clients);
  Progress(name);
  SharedMapping shared;
  ReadyPipe ready;
  pid_t server = StartServer(env, *shared, name + ": server", [&](int lfd) {
    CHECK_OR(RunEchoServer(net, lfd, clients), 12);
    net.close(lfd);
    return 0;
  });
  if (server < 0) return;
  std::vector<pid_t> pids;
  for (int i = 0; i < clients; i++) {
    pids.push_back(ForkClient(env.url, [&, i] {
      CHECK_OR(net.init() == 0, 20);
      int fd = Connect(net, shared->port);
      CHECK_OR(fd >= 0, 21);
      NoDelay(net, fd);
      ready.Signal();
      while (shared->start_ns.load() == 0) SleepNs(1000000);
      uint64_t start = shared->start_ns, stop = shared->stop_ns, now = NowNs();
      if (now < start) SleepNs(start - now);
      char out[64], in[64];
      uint64_t n = 0;
      while (NowNs() < stop) {
        memset(out, static_cast<int>((n + i) & 0xff), sizeof(out));
        CHECK_OR(WriteAll(net, fd, out, sizeof(out)), 22);
        CHECK_OR(ReadAll(net, fd, in, sizeof(in)), 23);
        CHECK_OR(memcmp(in, out, sizeof(in)) == 0, 24);
        n++;
      }
      shared->count[i] = n;
      net.close(fd);
      return 0;
    }));
  }
  for (int i = 0; i < clients; i++) {
    if (!ready.Wait()) {
      Fail(name + ": clients not ready");
      KillAll(pids);
      KillAll({server});
      return;
    }
  }
  const double seconds = Seconds();
  uint64_t start = NowNs() + 50000000;
  shared->stop_ns = start + static_cast<uint64_t>(seconds * 1e9);
  shared->start_ns = start;
  bool ok = WaitAll(pids, name);
  ok = WaitAll({server}, name) && ok;
  if (!ok) return;
  uint64_t total = 0;
  for (int i = 0; i < clients; i++) total += shared->count[i];
  Report(name, total / seconds / 1000, "kreq/s");
}

// ---------------------------------------------------------------------------
// Connection rate: one client process connects and closes in a loop, one
// server process accepts and closes. The client closes with SO_LINGER 0
// (a reset, no TIME_WAIT): a few tens of thousands of TIME_WAIT sockets
// would otherwise use up the ephemeral ports and measure that instead.

int ConnectAndReset(const Net& net, uint16_t port) {
  int fd = net.socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  linger lg = {1, 0};
  net.setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  sockaddr_in a = Ipv4Loopback(port);
  int rc = net.connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  int err = errno;
  net.close(fd);
  errno = err;
  return rc;
}

void ConnectionRate(const Env& env) {
  const Net& net = env.net;
  const std::string name = absl::StrCat(net.name, "_conn_per_s");
  Progress(name);
  SharedMapping shared;
  pid_t server = StartServer(env, *shared, name + ": server", [&](int lfd) {
    uint64_t n = 0;
    // The client sets `stop` before its last connect, which wakes us.
    while (!shared->stop.load()) {
      int c = net.accept4(lfd, nullptr, nullptr, 0);
      if (c < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
      CHECK_OR(c >= 0, 12);
      net.close(c);
      n++;
    }
    shared->a[0] = n;
    net.close(lfd);
    return 0;
  });
  if (server < 0) return;
  const double seconds = Seconds();
  pid_t client = ForkClient(env.url, [&] {
    CHECK_OR(net.init() == 0, 20);
    uint16_t port = shared->port;
    uint64_t n = 0, t0 = NowNs();
    const uint64_t end = t0 + static_cast<uint64_t>(seconds * 1e9);
    uint64_t now;
    while ((now = NowNs()) < end) {
      CHECK_OR(ConnectAndReset(net, port) == 0, 21);
      n++;
    }
    shared->b[0] = n;
    shared->b[1] = now - t0;
    shared->stop = 1;
    // Wakes the server from accept. Refused if the server saw `stop`
    // after an earlier connection and closed its socket: fine too.
    ConnectAndReset(net, port);
    return 0;
  });
  bool ok = WaitAll({client}, name);
  if (!ok) {
    KillAll({server});
    return;
  }
  if (!WaitAll({server}, name)) return;
  Report(name, shared->b[0] * 1e9 / shared->b[1], "conn/s");
  Progress(absl::StrCat("  ", shared->b[0], " connected, ", shared->a[0],
                        " accepted"));
}

// ---------------------------------------------------------------------------
// lkd at rest with attached clients.

// Nanoseconds on a CPU of all threads of process `pid` (the first field of
// each thread's schedstat: exact, unlike the tick-sampled utime + stime),
// or -1.
long long CpuNs(pid_t pid) {
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  long long total = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(absl::StrCat(dir, "/", e->d_name, "/schedstat"));
    long long ns = 0;
    if (in >> ns) total += ns;
  }
  closedir(d);
  return total;
}

// utime + stime of process `pid` in clock ticks, or -1.
long long CpuTicks(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  // The command name (field 2) may contain spaces: count from its ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  long long utime = 0, stime = 0;
  // Fields 3..13 come before utime (14) and stime (15).
  for (int i = 3; i <= 15 && fields >> f; i++) {
    if (i == 14) utime = atoll(f.c_str());
    if (i == 15) stime = atoll(f.c_str());
  }
  return utime + stime;
}

// Forks `n` clients that attach, make one call (which opens their
// thread's channel) and sleep until shared.stop; false once one failed to
// get ready.
bool StartIdleClients(const std::string& url, int n, Shared& shared,
                      std::vector<pid_t>* pids) {
  ReadyPipe ready;
  for (int i = 0; i < n; i++) {
    pids->push_back(ForkClient(url, [&] {
      CHECK_OR(lk_init() == 0, 10);
      CHECK_OR(ProxyGetppid() >= 0, 11);
      ready.Signal();
      while (!shared.stop.load()) SleepNs(50000000);
      return 0;
    }));
  }
  for (int i = 0; i < n; i++) {
    if (!ready.Wait()) {
      Fail("idle clients not ready");
      return false;
    }
  }
  return true;
}

// A fresh lkd: its CPU with 8 idle clients attached, then its RSS growth
// per idle client with 64 attached.
void IdleClients() {
  Progress("lkd idle CPU (fresh lkd, 8 idle clients)");
  auto lkd = LkdDaemon::Start(absl::GetFlag(FLAGS_lkd_args));
  if (!lkd.ok()) {
    Fail(absl::StrCat("lkd did not start: ", lkd.status().ToString()));
    return;
  }
  SharedMapping shared;
  std::vector<pid_t> pids;
  const pid_t pid = (*lkd)->pid();
  SleepNs(500000000);  // let boot work finish
  const long rss_empty = (*lkd)->RssKib();
  if (!StartIdleClients((*lkd)->url(), 8, *shared, &pids)) {
    KillAll(pids);
    return;
  }
  SleepNs(500000000);  // let attach work finish
  const double seconds = Quick() ? 1.0 : 5.0;
  long long t0 = CpuTicks(pid), ns0 = CpuNs(pid);
  uint64_t w0 = NowNs();
  SleepNs(static_cast<uint64_t>(seconds * 1e9));
  long long t1 = CpuTicks(pid), ns1 = CpuNs(pid);
  uint64_t w1 = NowNs();
  const int threads = (*lkd)->Threads();
  const long rss_kib = (*lkd)->RssKib();
  constexpr int kManyClients = 64;
  bool ok = StartIdleClients((*lkd)->url(), kManyClients - 8, *shared, &pids);
  SleepNs(500000000);
  const long rss_many = (*lkd)->RssKib();
  const int threads_many = (*lkd)->Threads();
  shared->stop = 1;
  ok = WaitAll(pids, "idle") && ok;
  if (t0 < 0 || t1 < 0) {
    Fail("cannot read /proc/<lkd>/stat");
    return;
  }
  if (!ok) return;
  // The figure from the threads' schedstat (run time in ns); utime +
  // stime counts 10 ms ticks and shows 0 for an idle lkd.
  double cpu_s = static_cast<double>(t1 - t0) / sysconf(_SC_CLK_TCK);
  if (ns0 >= 0 && ns1 >= 0)
    Report("lkd_idle_cpu_pct", 100.0 * (ns1 - ns0) / (w1 - w0), "%");
  else
    Report("lkd_idle_cpu_pct", 100.0 * cpu_s * 1e9 / (w1 - w0), "%");
  Report("lkd_rss_per_client_kib",
         static_cast<double>(rss_many - rss_empty) / kManyClients, "KiB");
  Progress(absl::StrCat("  from utime + stime (10 ms ticks): ",
                        100.0 * cpu_s * 1e9 / (w1 - w0), " % of one CPU"));
  Progress(absl::StrCat("  lkd without clients: RSS ", rss_empty, " KiB; with 8: ",
                        threads, " threads, RSS ", rss_kib, " KiB; with ",
                        kManyClients, ": ", threads_many, " threads, RSS ", rss_many,
                        " KiB"));
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Benchmarks lkd's system call proxy (client processes attached to a "
      "real lkd) against the host kernel.\n"
      "Usage: proxy_bench [--quick] [--seconds=2] [--only=NAME]\n"
      "Run from the runfiles root (server/lkd must resolve). Prints "
      "\"BENCH <name> <value> <unit>\" lines.");
  absl::ParseCommandLine(argc, argv);
  // A write to a closed connection must fail, not kill a client (for lkd
  // clients liblkclient raises the kernel's SIGPIPE in the host process).
  signal(SIGPIPE, SIG_IGN);

  if (Selected("host_getppid_ns")) HostGetppid();
  if (Selected("uds_rtt_ns")) UnixRtt();
  if (Selected("shm_pingpong_ns")) ShmPingPong();
  if (Selected("futex_pingpong_ns")) FutexPingPong();
  if (Selected("futex_cold_pingpong_ns")) FutexColdPingPong();

  bool want_proxy = false;  // anything that needs lkd running
  for (const char* name :
       {"proxy_null_p50_ns", "proxy_null_spin", "proxy_null_cold_p50_ns",
        "proxy_null_mcalls_n8", "host_getppid_mcalls_n8", "breakdown_hot", "breakdown_cold",
        "proxy_tcp_gbps",
        "host_tcp_gbps", "proxy_rr_kreqs_n1", "proxy_rr_kreqs_n8",
        "proxy_rr_kreqs_n32", "host_rr_kreqs_n1", "host_rr_kreqs_n8",
        "host_rr_kreqs_n32", "proxy_conn_per_s", "host_conn_per_s"})
    want_proxy = want_proxy || Selected(name);
  std::unique_ptr<LkdDaemon> lkd;
  if (want_proxy) {
    Progress("starting lkd");
    auto started = LkdDaemon::Start(absl::GetFlag(FLAGS_lkd_args));
    if (!started.ok()) {
      Fail(absl::StrCat("lkd did not start: ", started.status().ToString()));
      return 2;
    }
    lkd = std::move(*started);
    const Env host{kHost, lkd->url()}, proxy{kProxy, lkd->url()};
    if (Selected("proxy_null_p50_ns")) ProxyNullHot(lkd->url());
    if (Selected("proxy_null_spin")) ProxyNullSpin(lkd->url());
    if (Selected("proxy_null_cold_p50_ns")) ProxyNullCold(lkd->url());
    if (Selected("proxy_null_mcalls_n8")) NullCallRate(lkd->url(), true, 8);
    if (Selected("host_getppid_mcalls_n8")) NullCallRate(lkd->url(), false, 8);
    if (Selected("breakdown_hot")) Breakdown(lkd->url(), false);
    if (Selected("breakdown_cold_")) Breakdown(lkd->url(), true);
    for (const Env* env : {&proxy, &host}) {
      if (Selected(absl::StrCat(env->net.name, "_tcp_gbps"))) TcpStream(*env);
    }
    for (int n : {1, 8, 32}) {
      for (const Env* env : {&proxy, &host}) {
        if (Selected(absl::StrCat(env->net.name, "_rr_kreqs_n", n)))
          RequestResponse(*env, n);
      }
    }
    for (const Env* env : {&proxy, &host}) {
      if (Selected(absl::StrCat(env->net.name, "_conn_per_s")))
        ConnectionRate(*env);
    }
    if (g_failed) fprintf(stderr, "--- lkd log ---\n%s\n", lkd->Log().c_str());
    lkd.reset();
  }
  if (Selected("lkd_idle_cpu_pct") || Selected("lkd_rss_per_client_kib")) IdleClients();
  return g_failed ? 1 : 0;
}
