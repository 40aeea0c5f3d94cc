// SPDX-License-Identifier: GPL-2.0
// The kernel's CRNG is seeded from the host (the getrandom hostop through
// asm/archrandom.h): it is ready as soon as lkd_start() returns, and two
// boots draw different secrets, seen as different TCP initial sequence
// numbers and ephemeral ports.
//
// Each boot runs in its own forked child (a process boots one kernel) and
// sends what it saw back through a pipe. The ISNs are read off the wire:
// an AF_PACKET socket inside the kernel captures each SYN as the loopback
// device transmits it, so the sequence number is the one TCP picked, not a
// value reported by the code under test.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "kernel/testing/kernel_test_util.h"

namespace lkd::testing {
namespace {

// One connection to each of these listeners. Fixed ports, so that two
// boots open the very same connections (same addresses, same destination
// ports): what differs between them can only come from the kernel's
// secrets. Each destination port hashes to its own ephemeral port offset,
// so the port sequences of two boots agree only if the secrets do.
constexpr int kConnections = 8;
constexpr uint16_t kFirstListenPort = 41000;

struct BootSample {
  // getrandom(16 bytes, GRND_NONBLOCK) right after boot: 16 once the CRNG
  // is ready, -EAGAIN before.
  long getrandom_rc = 0;
  // Where the child gave up (source line), 0 if it got everything.
  int failed_line = 0;
  long failed_rc = 0;
  // Per connection: the local port getsockname() reports, and the source
  // port and sequence number of the SYN captured on lo.
  uint16_t sockname_port[kConnections] = {};
  uint16_t syn_port[kConnections] = {};
  uint32_t syn_seq[kConnections] = {};
  int syns_seen = 0;
};

#define SAMPLE_CHECK(rc_expr)              \
  do {                                     \
    long rc_ = (rc_expr);                  \
    if (rc_ < 0) {                         \
      sample.failed_line = __LINE__;       \
      sample.failed_rc = rc_;              \
      return sample;                       \
    }                                      \
  } while (0)

// The SYNs (without ACK) that lo transmitted to one of our listeners, read
// until the packet socket is empty. An ETH_P_ALL tap sees each packet on lo
// twice, as transmitted and as received; only the transmitted copy counts.
void CollectSyns(long pkt, BootSample& sample) {
  unsigned char buf[2048];
  for (;;) {
    sockaddr_ll from = {};
    socklen_t from_len = sizeof(from);
    long n = Sys(LKD_NR_recvfrom, pkt, buf, sizeof(buf), MSG_DONTWAIT, &from, &from_len);
    if (n < 0) return;  // -EAGAIN: all captured packets read
    if (from.sll_pkttype != PACKET_OUTGOING || from.sll_protocol != htons(ETH_P_IP) || n < 20)
      continue;
    size_t ihl = (buf[0] & 0x0f) * 4u;
    if ((buf[0] >> 4) != 4 || buf[9] != IPPROTO_TCP || static_cast<size_t>(n) < ihl + 20) continue;
    const unsigned char* tcp = buf + ihl;
    uint16_t sport = static_cast<uint16_t>(tcp[0] << 8 | tcp[1]);
    uint16_t dport = static_cast<uint16_t>(tcp[2] << 8 | tcp[3]);
    uint32_t seq;
    memcpy(&seq, tcp + 4, 4);
    const unsigned char flags = tcp[13];
    const bool syn = flags & 0x02, ack = flags & 0x10;
    int i = dport - kFirstListenPort;
    if (!syn || ack || i < 0 || i >= kConnections) continue;
    sample.syn_port[i] = sport;
    sample.syn_seq[i] = ntohl(seq);
    sample.syns_seen++;
  }
}

BootSample BootAndSample() {
  BootSample sample;
  absl::Status boot = BootForTest();
  if (!boot.ok()) {
    fprintf(stderr, "boot: %s\n", boot.ToString().c_str());
    sample.failed_line = __LINE__;
    return sample;
  }
  // First thing after boot, before any traffic could add jitter entropy.
  unsigned char bytes[16];
  sample.getrandom_rc = Sys(LKD_NR_getrandom, bytes, sizeof(bytes), GRND_NONBLOCK);

  // ETH_P_ALL: only taps of all protocols see outgoing packets
  // (dev_queue_xmit_nit); SOCK_DGRAM strips lo's Ethernet header.
  long pkt = Sys(LKD_NR_socket, AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
  SAMPLE_CHECK(pkt);
  ifreq ifr = {};
  strncpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name) - 1);
  SAMPLE_CHECK(Sys(LKD_NR_ioctl, pkt, SIOCGIFINDEX, &ifr));
  sockaddr_ll on_lo = {};
  on_lo.sll_family = AF_PACKET;
  on_lo.sll_protocol = htons(ETH_P_ALL);
  on_lo.sll_ifindex = ifr.ifr_ifindex;
  SAMPLE_CHECK(Sys(LKD_NR_bind, pkt, &on_lo, sizeof(on_lo)));

  std::vector<long> fds;
  for (int i = 0; i < kConnections; ++i) {
    sockaddr_in addr = Ipv4Loopback(static_cast<uint16_t>(kFirstListenPort + i));
    long lfd = Sys(LKD_NR_socket, AF_INET, SOCK_STREAM, 0);
    SAMPLE_CHECK(lfd);
    SAMPLE_CHECK(Sys(LKD_NR_bind, lfd, &addr, sizeof(addr)));
    SAMPLE_CHECK(Sys(LKD_NR_listen, lfd, 1));
    long fd = Sys(LKD_NR_socket, AF_INET, SOCK_STREAM, 0);
    SAMPLE_CHECK(fd);
    // Blocking: returns once the SYN went out and the SYN-ACK came back.
    SAMPLE_CHECK(Sys(LKD_NR_connect, fd, &addr, sizeof(addr)));
    sockaddr_in local = {};
    socklen_t local_len = sizeof(local);
    SAMPLE_CHECK(Sys(LKD_NR_getsockname, fd, &local, &local_len));
    sample.sockname_port[i] = ntohs(local.sin_port);
    fds.push_back(lfd);
    fds.push_back(fd);
  }
  CollectSyns(pkt, sample);
  for (long fd : fds) Sys(LKD_NR_close, fd);
  Sys(LKD_NR_close, pkt);
  lkd_halt();
  return sample;
}

// Boots a kernel in a fresh child process and returns what it saw.
bool SampleInChild(BootSample* out) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    BootSample s = BootAndSample();
    ssize_t n = write(fds[1], &s, sizeof(s));
    _exit(n == static_cast<ssize_t>(sizeof(s)) ? 0 : 1);
  }
  close(fds[1]);
  size_t got = 0;
  while (got < sizeof(*out)) {
    ssize_t n = read(fds[0], reinterpret_cast<char*>(out) + got, sizeof(*out) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "child exited abnormally, status " << status;
    return false;
  }
  return got == sizeof(*out);
}

void ExpectComplete(const BootSample& s, const char* which) {
  SCOPED_TRACE(which);
  EXPECT_EQ(s.failed_line, 0) << "child failed at line " << s.failed_line << " with "
                              << s.failed_rc;
  // The seeding: without the host's bytes the CRNG has no credited
  // entropy at this point and the call would return -EAGAIN.
  EXPECT_EQ(s.getrandom_rc, 16) << "CRNG not ready right after boot";
  ASSERT_EQ(s.syns_seen, kConnections) << "one SYN per connection on lo";
  for (int i = 0; i < kConnections; ++i) {
    EXPECT_NE(s.sockname_port[i], 0) << i;
    EXPECT_EQ(s.syn_port[i], s.sockname_port[i]) << "captured SYN " << i << " is the connection's";
  }
}

TEST(Entropy, TwoBootsReadyAtOnceWithDifferentIsnsAndPorts) {
  BootSample a, b;
  ASSERT_TRUE(SampleInChild(&a));
  ASSERT_TRUE(SampleInChild(&b));
  ExpectComplete(a, "first boot");
  ExpectComplete(b, "second boot");

  // Same connections, different secrets: no ISN of one boot recurs in the
  // other (8 x 32 bits), and the ephemeral ports, one independent offset
  // per destination port, do not come out in the same sequence.
  std::set<uint32_t> isns_a(a.syn_seq, a.syn_seq + kConnections);
  for (int i = 0; i < kConnections; ++i)
    EXPECT_EQ(isns_a.count(b.syn_seq[i]), 0u) << "ISN " << b.syn_seq[i] << " in both boots";
  std::vector<uint16_t> ports_a(a.syn_port, a.syn_port + kConnections);
  std::vector<uint16_t> ports_b(b.syn_port, b.syn_port + kConnections);
  EXPECT_NE(ports_a, ports_b) << "both boots used the same ephemeral port sequence";
  for (int i = 0; i < kConnections; ++i)
    printf("connection %d: port %5u / %5u  isn %10u / %10u\n", i, ports_a[i], ports_b[i],
           a.syn_seq[i], b.syn_seq[i]);
}

}  // namespace
}  // namespace lkd::testing
