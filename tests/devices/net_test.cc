// SPDX-License-Identifier: GPL-2.0
// NICs of the library kernel (issue #3) against real host peers: a TAP whose
// host side is in a network namespace the test made, an AF_PACKET socket on
// one end of a veth pair, and the wire between two kernels in two
// processes. Traffic is checked byte for byte at both ends.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "kernel/setup/setup.h"
#include "kernel/testing/kernel_test_util.h"
#include "server/daemon/testing/system_test_util.h"

namespace lkd::testing {
namespace {

using virtio::Devices;
using virtio::NicSpec;

constexpr size_t kBulkBytes = 16 << 20;  // kernel -> host
constexpr size_t kEchoBytes = 1 << 20;   // host -> kernel -> host

bool IsRoot() { return geteuid() == 0 && access("/dev/net/tun", R_OK) == 0; }

std::string Suffix() { return std::to_string(getpid() % 100000); }

// ---- the kernel side (runs in the kernel child) -------------------------

uint16_t InetChecksum(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (len & 1) sum += p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

// Waits up to `seconds` for `fd` to become readable in the kernel.
bool KernelWaitReadable(long fd, int seconds) {
  pollfd p{static_cast<int>(fd), POLLIN, 0};
  timespec ts{seconds, 0};
  return Sys(LKD_NR_ppoll, &p, 1, &ts, nullptr, 0) == 1;
}

// ICMP echo from the kernel to `peer` (v4 or v6) through a raw socket;
// waits for the matching reply.
absl::Status KernelPing(const std::string& peer) {
  bool v6 = peer.find(':') != std::string::npos;
  long fd = Sys(LKD_NR_socket, v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC,
                v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP});
  if (fd < 0) return SysStatus(fd, "raw socket");
  sockaddr_storage to{};
  socklen_t to_len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&to);
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, peer.c_str(), &a->sin6_addr);
    to_len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&to);
    a->sin_family = AF_INET;
    inet_pton(AF_INET, peer.c_str(), &a->sin_addr);
    to_len = sizeof(*a);
  }
  const uint16_t id = 0x4c4b;
  absl::Status result = absl::DeadlineExceededError("no echo reply from " + peer);
  // Neighbour discovery may eat the first request; try a few times.
  for (uint16_t seq = 1; seq <= 5 && !result.ok(); seq++) {
    uint8_t packet[64] = {};
    packet[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
    memcpy(packet + 4, &id, 2);
    uint16_t nseq = htons(seq);
    memcpy(packet + 6, &nseq, 2);
    memcpy(packet + 8, "lkd ping payload", 16);
    if (!v6) {  // the kernel fills ICMPv6 checksums itself
      uint16_t sum = InetChecksum(packet, sizeof(packet));
      memcpy(packet + 2, &sum, 2);
    }
    long n = Sys(LKD_NR_sendto, fd, packet, sizeof(packet), 0, &to, to_len);
    if (n < 0) {
      result = SysStatus(n, "send echo to " + peer);
      continue;
    }
    while (KernelWaitReadable(fd, 2)) {
      uint8_t reply[256];
      n = Sys(LKD_NR_recvfrom, fd, reply, sizeof(reply), 0, nullptr, nullptr);
      if (n < 0) break;
      // IPv4 raw sockets see the IP header; IPv6 ones do not.
      size_t off = v6 ? 0 : (reply[0] & 0xf) * 4;
      if (static_cast<size_t>(n) < off + 8) continue;
      uint8_t want = v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY;
      if (reply[off] == want && memcmp(reply + off + 4, &id, 2) == 0 &&
          memcmp(reply + off + 8, "lkd ping payload", 16) == 0) {
        result = absl::OkStatus();
        break;
      }
    }
  }
  Sys(LKD_NR_close, fd);
  return result;
}

absl::Status KernelSendAll(long fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    long n = Sys(LKD_NR_sendto, fd, data.data() + done,
                 std::min<size_t>(data.size() - done, 256 << 10), MSG_NOSIGNAL,
                 nullptr, 0);
    if (n <= 0) return SysStatus(n < 0 ? n : -EPIPE, "kernel send");
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> KernelRecvExactly(long fd, size_t size) {
  std::string data(size, '\0');
  size_t done = 0;
  while (done < size) {
    long n = Sys(LKD_NR_recvfrom, fd, &data[done], size - done, 0, nullptr,
                 nullptr);
    if (n <= 0) return SysStatus(n < 0 ? n : -ECONNRESET, "kernel recv");
    done += n;
  }
  return data;
}

// Every blocking call of the kernel side gives up after this long, so that
// a host side that gave up first (its own waits are longer: kHostWaitSeconds)
// shows as a failure naming the step, never as a hung test.
constexpr int kKernelWaitSeconds = 120;

void BoundKernelWaits(long fd) {
  timeval limit = {kKernelWaitSeconds, 0};
  Sys(LKD_NR_setsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  Sys(LKD_NR_setsockopt, fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
}

absl::StatusOr<long> KernelConnect(const std::string& ip, uint16_t port,
                                   int attempts = 1) {
  sockaddr_in to = Ipv4Address(ip, port);
  long rc = -ECONNREFUSED;
  for (int i = 0; i < attempts; i++) {
    long fd = Sys(LKD_NR_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return SysStatus(fd, "socket");
    BoundKernelWaits(fd);
    rc = Sys(LKD_NR_connect, fd, &to, sizeof(to));
    if (rc == 0) return fd;
    Sys(LKD_NR_close, fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return SysStatus(rc, absl::StrCat("kernel connect to ", ip, ":", port));
}

absl::StatusOr<long> KernelListen(const std::string& ip, uint16_t port) {
  long fd = Sys(LKD_NR_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return SysStatus(fd, "socket");
  sockaddr_in addr = Ipv4Address(ip, port);
  int one = 1;
  Sys(LKD_NR_setsockopt, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  BoundKernelWaits(fd);  // accept, and the accepted socket inherits it
  if (long rc = Sys(LKD_NR_bind, fd, &addr, sizeof(addr)); rc < 0)
    return SysStatus(rc, "kernel bind");
  if (long rc = Sys(LKD_NR_listen, fd, 8); rc < 0)
    return SysStatus(rc, "kernel listen");
  return fd;
}

// Configures the NIC with MAC `mac` in the kernel: up, addresses.
absl::Status KernelConfigure(const virtio::MacAddress& mac,
                             const std::vector<std::string>& cidrs) {
  absl::StatusOr<std::string> name = setup::LinkNameByMac(mac);
  if (!name.ok()) return name.status();
  if (absl::Status s = setup::LinkUp(*name); !s.ok()) return s;
  for (const std::string& cidr : cidrs)
    if (absl::Status s = setup::AddAddress(*name, cidr); !s.ok()) return s;
  return absl::OkStatus();
}

// The kernel's half of the host exchange: ping, 16 MiB to the host's
// server, echo server for the host's client.
absl::Status KernelSideExchange(const std::string& kernel_ip,
                                const std::string& host_ip,
                                const std::string& host_ip6) {
  if (absl::Status s = KernelPing(host_ip); !s.ok()) return s;
  if (!host_ip6.empty())
    if (absl::Status s = KernelPing(host_ip6); !s.ok()) return s;
  absl::StatusOr<long> server = KernelListen(kernel_ip, 7002);
  if (!server.ok()) return server.status();
  absl::StatusOr<long> client = KernelConnect(host_ip, 7001, 25);
  if (!client.ok()) return client.status();
  if (absl::Status s = KernelSendAll(*client, Pattern(kBulkBytes, 16)); !s.ok())
    return s;
  Sys(LKD_NR_close, *client);
  long conn = Sys(LKD_NR_accept4, *server, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return SysStatus(conn, "kernel accept");
  absl::StatusOr<std::string> got = KernelRecvExactly(conn, kEchoBytes);
  if (!got.ok()) return got.status();
  if (*got != Pattern(kEchoBytes, 2))
    return absl::DataLossError("kernel server got different bytes");
  if (absl::Status s = KernelSendAll(conn, *got); !s.ok()) return s;
  Sys(LKD_NR_shutdown, conn, SHUT_WR);
  char byte;
  Sys(LKD_NR_recvfrom, conn, &byte, 1, 0, nullptr, nullptr);  // host closes
  Sys(LKD_NR_close, conn);
  Sys(LKD_NR_close, *server);
  return absl::OkStatus();
}

// ---- the host side (runs in a namespace thread of the parent) ----------

// Longer than the kernel side's kKernelWaitSeconds: if either side stalls,
// the kernel side's error names the step.
constexpr int kHostWaitSeconds = 180;

absl::Status HostRecvExactly(int fd, std::string* data, size_t size) {
  data->resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = recv(fd, &(*data)[done], size - done, 0);
    if (n <= 0) return absl::DataLossError(absl::StrCat("host recv at ", done));
    done += n;
  }
  return absl::OkStatus();
}

// Accepts one connection on `ip`:7001 and checks the 16 MiB pattern.
absl::Status HostBulkServer(const std::string& ip, int listen_fd) {
  pollfd p{listen_fd, POLLIN, 0};
  if (poll(&p, 1, kHostWaitSeconds * 1000) != 1)
    return absl::DeadlineExceededError("the kernel never connected to " + ip);
  int fd = accept(listen_fd, nullptr, nullptr);
  if (fd < 0) return absl::InternalError("host accept");
  std::string data;
  absl::Status s = HostRecvExactly(fd, &data, kBulkBytes);
  char extra;
  if (s.ok() && recv(fd, &extra, 1, 0) != 0)
    s = absl::DataLossError("more than 16 MiB arrived");
  close(fd);
  if (s.ok() && data != Pattern(kBulkBytes, 16))
    s = absl::DataLossError("the host got different bytes from the kernel");
  return s;
}

// Connects to the kernel's server (retrying until it listens), sends 1 MiB
// and checks that the same comes back.
absl::Status HostEchoClient(const std::string& kernel_ip) {
  sockaddr_in to = Ipv4Address(kernel_ip, 7002);
  int fd = -1;
  for (int i = 0; i < kHostWaitSeconds * 5 && fd < 0; i++) {  // every 200 ms
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0) {
      close(fd);
      fd = -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  if (fd < 0) return absl::DeadlineExceededError("cannot reach the kernel's server");
  std::string out = Pattern(kEchoBytes, 2), back;
  std::thread sender([&] {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += n;
    }
  });
  absl::Status s = HostRecvExactly(fd, &back, kEchoBytes);
  sender.join();
  close(fd);
  if (s.ok() && back != out) s = absl::DataLossError("echo differs");
  return s;
}

int HostListen(const std::string& ip) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = Ipv4Address(ip, 7001);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 ||
      listen(fd, 4) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Runs the kernel child and the host peers (in `ns`) together. With
// `open_in_ns` the child opens its NIC backend from inside the namespace
// (a TAP that lives there).
void RunExchange(const ScopedNetns& ns, const NicSpec& nic,
                 const std::string& kernel_ip, const std::string& host_ip,
                 const std::string& kernel_ip6, const std::string& host_ip6,
                 bool open_in_ns) {
  int listen_fd = -1;
  ASSERT_TRUE(ns.Run([&] {
                  listen_fd = HostListen(host_ip);
                  return listen_fd < 0 ? absl::InternalError("host listen")
                                       : absl::OkStatus();
                }).ok());
  absl::Status server_status, client_status;
  std::thread server([&] {
    server_status = ns.Run([&] { return HostBulkServer(host_ip, listen_fd); });
  });
  std::thread client([&] {
    client_status = ns.Run([&] { return HostEchoClient(kernel_ip); });
  });
  absl::Status kernel_status = RunKernelChild(
      [&](Devices& devices) -> absl::Status {
        if (open_in_ns)
          if (absl::Status s = ns.Enter(); !s.ok()) return s;
        return devices.AddNic(nic).status();
      },
      [&]() -> absl::Status {
        std::vector<std::string> cidrs = {kernel_ip + "/24"};
        if (!kernel_ip6.empty()) cidrs.push_back(kernel_ip6 + "/64");
        if (absl::Status s = KernelConfigure(nic.mac, cidrs); !s.ok()) return s;
        return KernelSideExchange(kernel_ip, host_ip, host_ip6);
      });
  if (!kernel_status.ok()) {
    // Unblock the host threads so that the test reports instead of hanging.
    shutdown(listen_fd, SHUT_RDWR);
  }
  server.join();
  client.join();
  close(listen_fd);
  EXPECT_TRUE(kernel_status.ok()) << kernel_status;
  EXPECT_TRUE(server_status.ok()) << server_status;
  EXPECT_TRUE(client_status.ok()) << client_status;
}

NicSpec Spec(const std::string& text) {
  absl::StatusOr<NicSpec> spec = virtio::ParseNicSpec(text);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : NicSpec{};
}

// TAP: the host side lives in a namespace with 10.0.2.1/24 and fd00:2::1;
// the kernel is 10.0.2.2 / fd00:2::2.
TEST(NetTest, TapToHostNamespace) {
  if (!IsRoot()) GTEST_SKIP() << "needs root and /dev/net/tun";
  ScopedNetns ns("lkdt-tap-" + Suffix());
  ASSERT_TRUE(ns.ok());
  std::string tap = "lkdtap" + Suffix();
  std::string out;
  ASSERT_EQ(Shell("ip -n " + ns.name() + " tuntap add dev " + tap +
                      " mode tap && ip -n " + ns.name() + " addr add 10.0.2.1/24 dev " +
                      tap + " && ip -n " + ns.name() + " addr add fd00:2::1/64 dev " +
                      tap + " nodad && ip -n " + ns.name() + " link set " + tap + " up",
                  &out),
            0)
      << out;
  NicSpec nic = Spec("tap:" + tap + ",mac=02:00:00:00:02:02");
  RunExchange(ns, nic, "10.0.2.2", "10.0.2.1", "fd00:2::2", "fd00:2::1",
              /*open_in_ns=*/true);
}

// AF_PACKET on the root-namespace end of a veth pair whose other end is in
// a namespace with 10.0.3.1/24; the kernel is 10.0.3.2.
TEST(NetTest, RawSocketOnVeth) {
  if (!IsRoot()) GTEST_SKIP() << "needs root";
  ScopedNetns ns("lkdt-raw-" + Suffix());
  ASSERT_TRUE(ns.ok());
  std::string veth = "lkdv" + Suffix();
  std::string out;
  ASSERT_EQ(Shell("ip link add " + veth + " type veth peer name " + veth +
                      "p netns " + ns.name() + " && ip link set " + veth +
                      " up && ip -n " + ns.name() + " addr add 10.0.3.1/24 dev " +
                      veth + "p && ip -n " + ns.name() + " link set " + veth +
                      "p up",
                  &out),
            0)
      << out;
  NicSpec nic = Spec("raw:" + veth + ",mac=02:00:00:00:03:02");
  RunExchange(ns, nic, "10.0.3.2", "10.0.3.1", "", "", /*open_in_ns=*/false);
  Shell("ip link del " + veth);
}

// The wire: two processes, each a library kernel, TCP both ways.
TEST(NetTest, WireBetweenTwoKernels) {
  char tmpl[] = "/tmp/lkd-wire-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/wire.sock";
  const std::string a_to_b = Pattern(4 << 20, 3), b_to_a = Pattern(4 << 20, 4);
  auto side = [&](const std::string& mac, const std::string& me, bool server) {
    return RunKernelChild(
        [&](Devices& devices) {
          return devices
              .AddNic(Spec("wire:" + path + ",mtu=9000,mac=" + mac))
              .status();
        },
        [&]() -> absl::Status {
          if (absl::Status s = KernelConfigure(*virtio::ParseMac(mac),
                                               {me + "/24"});
              !s.ok())
            return s;
          absl::StatusOr<std::string> ifname =
              setup::LinkNameByMac(*virtio::ParseMac(mac));
          std::string mtu;
          if (auto s = ReadFile("/sys/class/net/" + *ifname + "/mtu", &mtu);
              !s.ok() || mtu != "9000\n")
            return absl::InternalError("the MTU option did not reach the kernel: " + mtu);
          long conn;
          if (server) {
            absl::StatusOr<long> listener = KernelListen(me, 7003);
            if (!listener.ok()) return listener.status();
            conn = Sys(LKD_NR_accept4, *listener, nullptr, nullptr, 0);
            if (conn < 0) return SysStatus(conn, "accept");
          } else {
            absl::StatusOr<long> c = KernelConnect("10.0.4.1", 7003, 100);
            if (!c.ok()) return c.status();
            conn = *c;
          }
          const std::string& mine = server ? a_to_b : b_to_a;
          const std::string& theirs = server ? b_to_a : a_to_b;
          absl::Status sent;
          std::string got;
          // Both directions at once, from two kernel tasks.
          std::thread sender([&] {
            sent = KernelSendAll(conn, mine);
            lkd_unbind();
          });
          absl::StatusOr<std::string> received =
              KernelRecvExactly(conn, theirs.size());
          sender.join();
          if (!sent.ok()) return sent;
          if (!received.ok()) return received.status();
          if (*received != theirs)
            return absl::DataLossError("different bytes over the wire");
          // Halting this kernel drops whatever it has not delivered yet,
          // so each side ends only once the other has all its bytes: it
          // shuts down its sending side after receiving everything, and
          // waits for the peer's shutdown (EOF), which comes only after
          // the peer received everything too.
          if (long rc = Sys(LKD_NR_shutdown, conn, SHUT_WR); rc < 0)
            return SysStatus(rc, "shutdown");
          char eof_probe;
          if (long rc = Sys(LKD_NR_recvfrom, conn, &eof_probe, 1, 0, nullptr, nullptr);
              rc != 0)
            return absl::InternalError("expected the peer's EOF, got " + std::to_string(rc));
          Sys(LKD_NR_close, conn);
          std::string carrier;
          if (auto s = ReadFile("/sys/class/net/" + *ifname + "/carrier", &carrier);
              !s.ok() || carrier != "1\n")
            return absl::InternalError("no carrier with a peer: " + carrier);
          return absl::OkStatus();
        });
  };
  absl::Status a, b;
  std::thread ta([&] { a = side("02:00:00:00:04:01", "10.0.4.1", true); });
  std::thread tb([&] { b = side("02:00:00:00:04:02", "10.0.4.2", false); });
  ta.join();
  tb.join();
  EXPECT_TRUE(a.ok()) << a;
  EXPECT_TRUE(b.ok()) << b;
  Shell(std::string("rm -rf ") + tmpl);
}

// A wire with nobody at the other end: the kernel sees no carrier.
TEST(NetTest, LonelyWireHasNoCarrier) {
  char tmpl[] = "/tmp/lkd-wire-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/wire.sock";
  NicSpec nic = Spec("wire:" + path + ",mac=02:00:00:00:05:01");
  absl::Status status = RunKernelChild(
      [&](Devices& devices) { return devices.AddNic(nic).status(); },
      [&]() -> absl::Status {
        absl::StatusOr<std::string> ifname = setup::LinkNameByMac(nic.mac);
        if (!ifname.ok()) return ifname.status();
        if (auto s = setup::LinkUp(*ifname); !s.ok()) return s;
        std::string carrier;
        if (auto s = ReadFile("/sys/class/net/" + *ifname + "/carrier", &carrier);
            !s.ok())
          return s;
        if (carrier != "0\n")
          return absl::InternalError("carrier without a peer: " + carrier);
        return absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << status;
  Shell(std::string("rm -rf ") + tmpl);
}

// Bad specifications and busy backends: clear errors, nothing left behind.
TEST(NetTest, BadInputGivesClearErrors) {
  for (const char* bad : {"tap:", "raw:", "wire:", "tap", "vde:x", "tap:x,mtu=9",
                          "tap:x,mac=01:00:00:00:00:01", "tap:x,mac=zz",
                          "tap:x,colour=red", "tap:x,offload=maybe"}) {
    absl::StatusOr<NicSpec> spec = virtio::ParseNicSpec(bad);
    EXPECT_FALSE(spec.ok()) << bad;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(virtio::ParseNicSpec("tap:").status().message().find("missing"),
            std::string::npos);

  Devices devices({[](const lkd_mmio_ops*, void*, unsigned long) { return 5; },
                   [](int) {}});
  absl::StatusOr<virtio::VirtioNet*> raw =
      devices.AddNic(Spec("raw:lkdnosuchif0"));
  ASSERT_FALSE(raw.ok());
  EXPECT_NE(raw.status().message().find("no host interface"), std::string::npos)
      << raw.status();

  // The wire: a third process finds it busy; a path in a missing
  // directory is refused.
  char tmpl[] = "/tmp/lkd-wire-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/w.sock";
  auto first = virtio::OpenWireBackend(path);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = virtio::OpenWireBackend(path);
  ASSERT_TRUE(second.ok()) << second.status();
  // The listener learns its caller from the announcement it receives.
  char buf[64];
  iovec iov{buf, sizeof(buf)};
  EXPECT_EQ((*first)->Receive(&iov, 1), -EAGAIN);
  EXPECT_TRUE((*first)->CarrierUp());
  auto third = virtio::OpenWireBackend(path);
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.status().message().find("busy"), std::string::npos)
      << third.status();
  EXPECT_FALSE(virtio::OpenWireBackend(std::string(tmpl) + "/no/dir.sock").ok());
  first->reset();
  second->reset();
  Shell(std::string("rm -rf ") + tmpl);

  if (!IsRoot()) return;
  // A TAP created by name is ours alone: a second open is refused, and
  // when we close it, it is gone.
  std::string tap = "lkdbusy" + Suffix();
  auto opened = virtio::OpenTapBackend(tap, true);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_NE(if_nametoindex(tap.c_str()), 0u);
  auto again = virtio::OpenTapBackend(tap, true);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("in use"), std::string::npos)
      << again.status();
  opened->reset();
  EXPECT_EQ(if_nametoindex(tap.c_str()), 0u) << "the TAP outlived its backend";
}

}  // namespace
}  // namespace lkd::testing
