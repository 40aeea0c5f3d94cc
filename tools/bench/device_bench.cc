// SPDX-License-Identifier: GPL-2.0
// Benchmarks of the library kernel's devices (issue #3) against the host in
// the same run. Prints "BENCH <name> <value> <unit>" lines:
//   tap_tcp_gbps / tap_tcp_nooffload_gbps: one TCP stream from the library
//     kernel to a peer in a host network namespace over a TAP, with the
//     virtio-net offloads on / off;
//   veth_tcp_gbps: the same stream host to host over a veth pair;
//   disk_seq_write_mbps / disk_seq_read_mbps: a file written (then fsynced)
//     and read back through ext4 in the kernel on a virtio-blk image;
//   host_seq_write_mbps / host_seq_read_mbps: the same on the host's file
//     system, in the same directory.
// Needs root (TAP, namespaces). Each kernel runs in a child process.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "kernel/setup/setup.h"
#include "kernel/testing/kernel_test_util.h"
#include "server/daemon/testing/system_test_util.h"

ABSL_FLAG(double, tcp_seconds, 3.0, "how long each TCP stream runs");
ABSL_FLAG(int, disk_mib, 256, "file size for the disk benchmarks");
ABSL_FLAG(std::string, dir, "/var/tmp",
          "directory for disk images and host files");
ABSL_FLAG(std::string, only, "", "run only benchmarks whose name contains this");

namespace {

using lkd::testing::Ipv4Address;
using lkd::testing::kAtFdCwd;
using lkd::testing::RunKernelChild;
using lkd::testing::ScopedNetns;
using lkd::testing::Shell;
using lkd::testing::Sys;
namespace setup = lkd::setup;
namespace virtio = lkd::virtio;

double NowSec() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool Selected(const std::string& name) {
  std::string only = absl::GetFlag(FLAGS_only);
  return only.empty() || name.find(only) != std::string::npos;
}

void Report(const std::string& name, double value, const char* unit) {
  printf("BENCH %s %.3f %s\n", name.c_str(), value, unit);
  fflush(stdout);
}

// Receives one connection on `listen_fd` to EOF; returns Gbit/s from the
// first byte to the last.
double ReceiveStream(int listen_fd) {
  pollfd p{listen_fd, POLLIN, 0};
  if (poll(&p, 1, 60000) != 1) return 0;
  int fd = accept(listen_fd, nullptr, nullptr);
  if (fd < 0) return 0;
  static char buf[1 << 20];
  size_t total = 0;
  double start = 0, end = 0;
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
    if (total == 0) start = NowSec();
    total += n;
    end = NowSec();
  }
  close(fd);
  return end > start ? total * 8 / (end - start) / 1e9 : 0;
}

int ListenIn(const ScopedNetns& ns, const char* ip, uint16_t port) {
  int fd = -1;
  absl::Status entered = ns.Run([&] {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a = Ipv4Address(ip, port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 ||
        listen(fd, 4) < 0) {
      close(fd);
      fd = -1;
    }
    return absl::OkStatus();
  });
  if (!entered.ok()) {
    fprintf(stderr, "cannot listen in %s: %s\n", ns.name().c_str(),
            std::string(entered.message()).c_str());
    return -1;
  }
  return fd;
}

// The library kernel streams to 10.0.9.1:5201 over a TAP for tcp_seconds.
void TapStream(const std::string& name, bool offload) {
  std::string suffix = std::to_string(getpid() % 100000);
  ScopedNetns ns("lkdb-tap-" + suffix);
  std::string tap = "lkdbtap" + suffix;
  if (!ns.ok() ||
      Shell("ip -n " + ns.name() + " tuntap add dev " + tap +
            " mode tap && ip -n " + ns.name() + " addr add 10.0.9.1/24 dev " +
            tap + " && ip -n " + ns.name() + " link set " + tap + " up") != 0) {
    fprintf(stderr, "%s: cannot set up the namespace (root?)\n", name.c_str());
    return;
  }
  int listen_fd = ListenIn(ns, "10.0.9.1", 5201);
  double gbps = 0;
  std::thread receiver([&] { gbps = ReceiveStream(listen_fd); });
  absl::StatusOr<virtio::NicSpec> spec = virtio::ParseNicSpec(absl::StrCat(
      "tap:", tap, ",mac=02:00:00:00:09:02,offload=", offload ? "on" : "off"));
  absl::Status status = RunKernelChild(
      [&](virtio::Devices& devices) -> absl::Status {
        if (absl::Status s = ns.Enter(); !s.ok()) return s;
        return devices.AddNic(*spec).status();
      },
      [&]() -> absl::Status {
        absl::StatusOr<std::string> ifname = setup::LinkNameByMac(spec->mac);
        if (!ifname.ok()) return ifname.status();
        if (auto s = setup::LinkUp(*ifname); !s.ok()) return s;
        if (auto s = setup::AddAddress(*ifname, "10.0.9.2/24"); !s.ok()) return s;
        long fd = Sys(LKD_NR_socket, AF_INET, SOCK_STREAM, 0);
        sockaddr_in to = Ipv4Address("10.0.9.1", 5201);
        long rc = -1;
        for (int i = 0; i < 50 && rc < 0; i++) {
          rc = Sys(LKD_NR_connect, fd, &to, sizeof(to));
          if (rc < 0) usleep(100000);
        }
        if (rc < 0) return lkd::SysStatus(rc, "connect");
        static char buf[1 << 20];
        memset(buf, 'x', sizeof(buf));
        double end = NowSec() + absl::GetFlag(FLAGS_tcp_seconds);
        while (NowSec() < end)
          if (Sys(LKD_NR_sendto, fd, buf, sizeof(buf), 0, nullptr, 0) < 0) break;
        Sys(LKD_NR_close, fd);
        return absl::OkStatus();
      });
  if (!status.ok()) shutdown(listen_fd, SHUT_RDWR);
  receiver.join();
  close(listen_fd);
  if (!status.ok()) {
    fprintf(stderr, "%s: %s\n", name.c_str(), std::string(status.message()).c_str());
    return;
  }
  Report(name, gbps, "Gbit/s");
}

// Host to host over a veth pair between two namespaces.
void VethStream() {
  std::string suffix = std::to_string(getpid() % 100000);
  ScopedNetns a("lkdb-va-" + suffix), b("lkdb-vb-" + suffix);
  if (!a.ok() || !b.ok() ||
      Shell("ip -n " + a.name() + " link add va type veth peer name vb netns " +
            b.name() + " && ip -n " + a.name() + " addr add 10.0.8.1/24 dev va" +
            " && ip -n " + b.name() + " addr add 10.0.8.2/24 dev vb" +
            " && ip -n " + a.name() + " link set va up && ip -n " + b.name() +
            " link set vb up") != 0) {
    fprintf(stderr, "veth_tcp_gbps: cannot set up namespaces (root?)\n");
    return;
  }
  int listen_fd = ListenIn(a, "10.0.8.1", 5201);
  double gbps = 0;
  std::thread receiver([&] { gbps = ReceiveStream(listen_fd); });
  absl::Status sent = b.Run([&] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to = Ipv4Address("10.0.8.1", 5201);
    if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) {
      static char buf[1 << 20];
      memset(buf, 'x', sizeof(buf));
      double end = NowSec() + absl::GetFlag(FLAGS_tcp_seconds);
      while (NowSec() < end)
        if (send(fd, buf, sizeof(buf), 0) < 0) break;
    }
    close(fd);
    return absl::OkStatus();
  });
  if (!sent.ok())
    fprintf(stderr, "veth_tcp_gbps: cannot send from %s: %s\n",
            b.name().c_str(), std::string(sent.message()).c_str());
  receiver.join();
  close(listen_fd);
  Report("veth_tcp_gbps", gbps, "Gbit/s");
}

void DiskBenchmarks() {
  const std::string dir = absl::GetFlag(FLAGS_dir);
  const size_t mib = absl::GetFlag(FLAGS_disk_mib);
  const size_t bytes = mib << 20;
  std::string image = dir + "/lkd-bench-" + std::to_string(getpid()) + ".img";
  std::string host_file = image + ".host";
  if (Shell(absl::StrCat("truncate -s ", mib * 2 + 128, "M ", image,
                         " && mkfs.ext4 -q -F ", image)) != 0) {
    fprintf(stderr, "disk benchmarks: cannot make %s\n", image.c_str());
    return;
  }
  static char buf[1 << 20];
  memset(buf, 'd', sizeof(buf));
  // The kernel runs in a child process: it reports its own figures.
  absl::Status status = RunKernelChild(
      [&](virtio::Devices& devices) -> absl::Status {
        virtio::DiskSpec spec;
        spec.path = image;
        spec.serial = "bench";
        return devices.AddDisk(spec).status();
      },
      [&]() -> absl::Status {
        if (auto s = setup::MountDevtmpfs(); !s.ok()) return s;
        absl::StatusOr<std::string> dev = setup::DiskBySerial("bench");
        if (!dev.ok()) return dev.status();
        if (auto s = setup::Mount(*dev, "/mnt", "ext4", false); !s.ok()) return s;
        long fd = Sys(LKD_NR_openat, kAtFdCwd, "/mnt/f", O_CREAT | O_WRONLY, 0644);
        if (fd < 0) return lkd::SysStatus(fd, "create");
        double t0 = NowSec();
        for (size_t done = 0; done < bytes; done += sizeof(buf))
          if (Sys(LKD_NR_write, fd, buf, sizeof(buf)) != sizeof(buf))
            return absl::InternalError("kernel write");
        Sys(LKD_NR_fsync, fd);
        Report("disk_seq_write_mbps", bytes / (NowSec() - t0) / 1e6, "MB/s");
        Sys(LKD_NR_close, fd);
        // Unmount and mount again: the read comes from the image.
        if (auto s = setup::Unmount("/mnt"); !s.ok()) return s;
        if (auto s = setup::Mount(*dev, "/mnt", "ext4", false); !s.ok()) return s;
        fd = Sys(LKD_NR_openat, kAtFdCwd, "/mnt/f", O_RDONLY, 0);
        t0 = NowSec();
        size_t got = 0;
        long n;
        while ((n = Sys(LKD_NR_read, fd, buf, sizeof(buf))) > 0) got += n;
        Report("disk_seq_read_mbps", got / (NowSec() - t0) / 1e6, "MB/s");
        Sys(LKD_NR_close, fd);
        return setup::Unmount("/mnt");
      });
  if (!status.ok())
    fprintf(stderr, "disk benchmarks: %s\n", std::string(status.message()).c_str());
  // The host, same directory: write + fdatasync, then read after dropping
  // the file's pages from the cache.
  int fd = open(host_file.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  double t0 = NowSec();
  for (size_t done = 0; done < bytes; done += sizeof(buf))
    if (write(fd, buf, sizeof(buf)) != sizeof(buf)) break;
  fdatasync(fd);
  Report("host_seq_write_mbps", bytes / (NowSec() - t0) / 1e6, "MB/s");
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
  fd = open(host_file.c_str(), O_RDONLY);
  t0 = NowSec();
  size_t got = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) got += n;
  Report("host_seq_read_mbps", got / (NowSec() - t0) / 1e6, "MB/s");
  close(fd);
  unlink(host_file.c_str());
  unlink(image.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Benchmarks the library kernel's NICs and disks against the host.\n"
      "Usage: device_bench [--tcp_seconds=3] [--disk_mib=256] [--dir=DIR] "
      "[--only=NAME]\nNeeds root for the network benchmarks.");
  absl::ParseCommandLine(argc, argv);
  if (Selected("veth_tcp_gbps")) VethStream();
  if (Selected("tap_tcp_gbps")) TapStream("tap_tcp_gbps", true);
  if (Selected("tap_tcp_nooffload_gbps")) TapStream("tap_tcp_nooffload_gbps", false);
  if (Selected("disk_seq")) DiskBenchmarks();
  return 0;
}
