// SPDX-License-Identifier: GPL-2.0
// Benchmarks of the library kernel against the host kernel, measured in the
// same run. Prints "BENCH <name> <value> <unit>" lines (see README.md).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "hostops/posix_hostops.h"
#include "kernel/testing/kernel_test_util.h"

ABSL_FLAG(double, tcp_seconds, 2.0, "how long each TCP stream runs");
ABSL_FLAG(int, syscall_batches, 20000, "batches of 64 calls timed for the syscall p50");
ABSL_FLAG(std::string, only, "", "run only benchmarks whose name contains this");

namespace {

using lkd::testing::Sys;

double NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

bool Selected(const char* name) {
  std::string only = absl::GetFlag(FLAGS_only);
  return only.empty() || std::string(name).find(only) != std::string::npos;
}

void Report(const char* name, double value, const char* unit) {
  printf("BENCH %s %.3f %s\n", name, value, unit);
  fflush(stdout);
}

// Median per-call time of `call`, timed in batches of 64 calls.
double P50PerCallNs(const std::function<void()>& call) {
  constexpr int kBatch = 64;
  const int batches = absl::GetFlag(FLAGS_syscall_batches);
  for (int i = 0; i < 1000; ++i) call();  // warm up
  std::vector<double> per_call(batches);
  for (int b = 0; b < batches; ++b) {
    double t0 = NowNs();
    for (int i = 0; i < kBatch; ++i) call();
    per_call[b] = (NowNs() - t0) / kBatch;
  }
  std::nth_element(per_call.begin(), per_call.begin() + batches / 2, per_call.end());
  return per_call[batches / 2];
}

// Median time of one call made after the caller slept 2 ms: every host
// thread involved has gone to sleep on its futex by then (cold path).
double ColdP50Ns(const std::function<void()>& call) {
  constexpr int kCalls = 300;
  std::vector<double> times(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    usleep(2000);
    double t0 = NowNs();
    call();
    times[i] = NowNs() - t0;
  }
  std::nth_element(times.begin(), times.begin() + kCalls / 2, times.end());
  return times[kCalls / 2];
}

// Socket operations of one kernel (the library's or the host's).
struct SocketApi {
  std::function<long(int, int, int)> socket;
  std::function<long(long, const sockaddr*, socklen_t)> bind;
  std::function<long(long, int)> listen;
  std::function<long(long)> accept;
  std::function<long(long, const sockaddr*, socklen_t)> connect;
  std::function<long(long, const void*, size_t)> write;
  std::function<long(long, void*, size_t)> read;
  std::function<long(long)> close;
};

SocketApi LibraryKernel() {
  return {
      [](int d, int t, int p) { return Sys(LKD_NR_socket, d, t, p); },
      [](long fd, const sockaddr* a, socklen_t l) { return Sys(LKD_NR_bind, fd, a, l); },
      [](long fd, int n) { return Sys(LKD_NR_listen, fd, n); },
      [](long fd) { return Sys(LKD_NR_accept4, fd, nullptr, nullptr, 0); },
      [](long fd, const sockaddr* a, socklen_t l) { return Sys(LKD_NR_connect, fd, a, l); },
      [](long fd, const void* b, size_t n) { return Sys(LKD_NR_write, fd, b, n); },
      [](long fd, void* b, size_t n) { return Sys(LKD_NR_read, fd, b, n); },
      [](long fd) { return Sys(LKD_NR_close, fd); },
  };
}

long Errno(long rc) { return rc < 0 ? -errno : rc; }

SocketApi HostKernel() {
  return {
      [](int d, int t, int p) { return Errno(::socket(d, t, p)); },
      [](long fd, const sockaddr* a, socklen_t l) { return Errno(::bind(fd, a, l)); },
      [](long fd, int n) { return Errno(::listen(fd, n)); },
      [](long fd) { return Errno(::accept(fd, nullptr, nullptr)); },
      [](long fd, const sockaddr* a, socklen_t l) { return Errno(::connect(fd, a, l)); },
      [](long fd, const void* b, size_t n) { return Errno(::write(fd, b, n)); },
      [](long fd, void* b, size_t n) { return Errno(::read(fd, b, n)); },
      [](long fd) { return Errno(::close(fd)); },
  };
}

// One TCP stream over 127.0.0.1, 1 MiB writes, for the configured time.
// Returns Gbit/s, or a negative value on error.
double TcpStreamGbps(const SocketApi& api, uint16_t port) {
  const sockaddr_in addr = lkd::testing::Ipv4Loopback(port);
  long lfd = api.socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || api.bind(lfd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0 ||
      api.listen(lfd, 1) < 0) {
    fprintf(stderr, "bench: listen on port %u failed\n", port);
    return -1;
  }
  std::atomic<long long> received{0};
  std::thread sink([&] {
    long fd = api.accept(lfd);
    std::vector<char> buf(1 << 20);
    long n;
    while ((n = api.read(fd, buf.data(), buf.size())) > 0) received += n;
    api.close(fd);
  });
  long fd = api.socket(AF_INET, SOCK_STREAM, 0);
  if (api.connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0) {
    fprintf(stderr, "bench: connect failed\n");
    return -1;
  }
  std::vector<char> buf(1 << 20, 'x');
  const double seconds = absl::GetFlag(FLAGS_tcp_seconds);
  double t0 = NowNs();
  double t1 = t0;
  long long sent = 0;
  while ((t1 = NowNs()) - t0 < seconds * 1e9) {
    size_t off = 0;
    while (off < buf.size()) {
      long n = api.write(fd, buf.data() + off, buf.size() - off);
      if (n <= 0) return -1;
      off += n;
    }
    sent += buf.size();
  }
  api.close(fd);
  sink.join();
  double end = NowNs();
  api.close(lfd);
  if (received != sent) fprintf(stderr, "bench: sent %lld, received %lld\n", sent, received.load());
  return received * 8.0 / (end - t0);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Benchmarks the library kernel against the host kernel in one run.\n"
      "Prints one line per figure: BENCH <name> <value> <unit>.\n"
      "  kernel_syscall_getpid_ns  p50 of getpid in the library kernel (bound thread)\n"
      "  host_getppid_ns           p50 of getppid(2) on the host\n"
      "  kernel_tcp_loopback_gbps  one TCP stream over the library kernel's loopback\n"
      "  host_tcp_loopback_gbps    the same over the host's loopback\n"
      "Usage: kernel_bench [--tcp_seconds=S] [--syscall_batches=N] [--only=NAME]");
  absl::ParseCommandLine(argc, argv);

  absl::Status booted = lkd::testing::BootForTest();
  if (!booted.ok()) {
    fprintf(stderr, "bench: the library kernel did not boot: %s\n", booted.ToString().c_str());
    return 1;
  }
  if (Selected("getpid")) {
    Sys(LKD_NR_getpid);  // binds this thread to a task of the host process
    Report("kernel_syscall_getpid_ns", P50PerCallNs([] { Sys(LKD_NR_getpid); }), "ns");
  }
  if (Selected("getppid")) {
    Report("host_getppid_ns", P50PerCallNs([] { syscall(SYS_getppid); }), "ns");
  }
  if (Selected("cold")) {
    Sys(LKD_NR_getpid);
    Report("kernel_syscall_cold_ns", ColdP50Ns([] { Sys(LKD_NR_getpid); }), "ns");
    Report("host_getppid_cold_ns", ColdP50Ns([] { syscall(SYS_getppid); }), "ns");
  }
  if (Selected("kernel_tcp")) {
    Report("kernel_tcp_loopback_gbps", TcpStreamGbps(LibraryKernel(), 7001), "Gbit/s");
  }
  if (Selected("host_tcp")) {
    // Port 0 is not enough here (we need the number before connecting), so
    // pick a port from the ephemeral range that is unlikely to be in use.
    Report("host_tcp_loopback_gbps", TcpStreamGbps(HostKernel(), 47000 + getpid() % 10000), "Gbit/s");
  }
  lkd_halt();
  return 0;
}
