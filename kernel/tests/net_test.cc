// SPDX-License-Identifier: GPL-2.0
// The kernel's TCP/IP stack over its loopback, between host threads.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kernel/testing/kernel_test_util.h"

namespace lkd::testing {
namespace {

constexpr size_t kMiB = 1 << 20;

std::vector<unsigned char> Pattern(size_t n, unsigned seed) {
  std::vector<unsigned char> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1103515245u + 12345u;
    b = static_cast<unsigned char>(x >> 16);
  }
  return v;
}

// Writes all of `data`; false on error.
bool WriteAll(long fd, const std::vector<unsigned char>& data) {
  size_t done = 0;
  while (done < data.size()) {
    // Uneven chunk sizes exercise partial reads on the other side.
    size_t chunk = std::min<size_t>(data.size() - done, 65536 + 123);
    long n = Sys(LKD_NR_write, fd, data.data() + done, chunk);
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

// Reads until EOF.
std::vector<unsigned char> ReadToEof(long fd) {
  std::vector<unsigned char> out;
  unsigned char buf[32768];
  for (;;) {
    long n = Sys(LKD_NR_read, fd, buf, sizeof(buf));
    if (n <= 0) {
      EXPECT_EQ(n, 0) << "read error";
      break;
    }
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

struct Endpoint {
  int family;
  sockaddr_storage addr;
  socklen_t len;
};

Endpoint Loopback(int family, uint16_t port) {
  Endpoint e{family, {}, 0};
  if (family == AF_INET) {
    sockaddr_in a = Ipv4Loopback(port);
    memcpy(&e.addr, &a, sizeof(a));
    e.len = sizeof(a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&e.addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = in6addr_loopback;
    e.len = sizeof(*a);
  }
  return e;
}

class Tcp : public ::testing::TestWithParam<int> {};

// 1 MiB each way, byte for byte, between a server and a client thread.
TEST_P(Tcp, OneMiBEachWayOverLoopback) {
  const int family = GetParam();
  const uint16_t port = family == AF_INET ? 5001 : 5002;
  Endpoint ep = Loopback(family, port);
  long lfd = Sys(LKD_NR_socket, family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  int one = 1;
  ASSERT_EQ(Sys(LKD_NR_setsockopt, lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
  ASSERT_EQ(Sys(LKD_NR_bind, lfd, &ep.addr, ep.len), 0);
  ASSERT_EQ(Sys(LKD_NR_listen, lfd, 8), 0);

  const auto to_server = Pattern(kMiB, 1);
  const auto to_client = Pattern(kMiB, 2);
  std::vector<unsigned char> server_got;
  bool server_wrote = false;
  std::thread server([&] {
    long cfd = Sys(LKD_NR_accept4, lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) return;
    server_got = ReadToEof(cfd);
    server_wrote = WriteAll(cfd, to_client);
    Sys(LKD_NR_close, cfd);
  });

  long fd = Sys(LKD_NR_socket, family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(Sys(LKD_NR_connect, fd, &ep.addr, ep.len), 0);
  sockaddr_storage peer = {};
  socklen_t peer_len = sizeof(peer);
  ASSERT_EQ(Sys(LKD_NR_getpeername, fd, &peer, &peer_len), 0);
  EXPECT_EQ(peer.ss_family, family);
  EXPECT_TRUE(WriteAll(fd, to_server));
  ASSERT_EQ(Sys(LKD_NR_shutdown, fd, SHUT_WR), 0);
  auto client_got = ReadToEof(fd);
  server.join();
  Sys(LKD_NR_close, fd);
  Sys(LKD_NR_close, lfd);

  EXPECT_TRUE(server_wrote);
  ASSERT_EQ(server_got.size(), kMiB);
  ASSERT_EQ(client_got.size(), kMiB);
  EXPECT_TRUE(server_got == to_server) << "client->server bytes differ";
  EXPECT_TRUE(client_got == to_client) << "server->client bytes differ";
}

INSTANTIATE_TEST_SUITE_P(Families, Tcp, ::testing::Values(AF_INET, AF_INET6),
                         [](const auto& info) { return info.param == AF_INET ? "IPv4" : "IPv6"; });

TEST(Tcp, ConnectToClosedPortIsRefused) {
  Endpoint ep = Loopback(AF_INET, 5999);
  long fd = Sys(LKD_NR_socket, AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(Sys(LKD_NR_connect, fd, &ep.addr, ep.len), -ECONNREFUSED);
  Sys(LKD_NR_close, fd);
}

TEST(Udp, DatagramsKeepBoundaries) {
  for (int family : {AF_INET, AF_INET6}) {
    SCOPED_TRACE(family == AF_INET ? "IPv4" : "IPv6");
    Endpoint ep = Loopback(family, 5003);
    long rx = Sys(LKD_NR_socket, family, SOCK_DGRAM, 0);
    long tx = Sys(LKD_NR_socket, family, SOCK_DGRAM, 0);
    ASSERT_GE(rx, 0);
    ASSERT_GE(tx, 0);
    ASSERT_EQ(Sys(LKD_NR_bind, rx, &ep.addr, ep.len), 0);
    for (int i = 1; i <= 3; ++i) {
      std::string msg(i * 100, static_cast<char>('a' + i));
      ASSERT_EQ(Sys(LKD_NR_sendto, tx, msg.data(), msg.size(), 0, &ep.addr, ep.len),
                static_cast<long>(msg.size()));
    }
    for (int i = 1; i <= 3; ++i) {
      char buf[1000];
      sockaddr_storage from = {};
      socklen_t from_len = sizeof(from);
      long n = Sys(LKD_NR_recvfrom, rx, buf, sizeof(buf), 0, &from, &from_len);
      ASSERT_EQ(n, i * 100);
      EXPECT_EQ(std::string(buf, n), std::string(i * 100, static_cast<char>('a' + i)));
      EXPECT_EQ(from.ss_family, family);
    }
    Sys(LKD_NR_close, rx);
    Sys(LKD_NR_close, tx);
  }
}

TEST(Epoll, WaitOnSocketIsWokenByData) {
  Endpoint ep = Loopback(AF_INET, 5004);
  long rx = Sys(LKD_NR_socket, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(rx, 0);
  ASSERT_EQ(Sys(LKD_NR_bind, rx, &ep.addr, ep.len), 0);
  long epfd = Sys(LKD_NR_epoll_create1, EPOLL_CLOEXEC);
  ASSERT_GE(epfd, 0);
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = 0x1234567890abcdefull;
  ASSERT_EQ(Sys(LKD_NR_epoll_ctl, epfd, EPOLL_CTL_ADD, rx, &ev), 0);

  // Nothing yet: a zero-timeout wait reports no events.
  epoll_event out[4] = {};
  EXPECT_EQ(Sys(LKD_NR_epoll_pwait, epfd, out, 4, 0, nullptr, 8), 0);

  long waited = -1;
  epoll_event got[4] = {};
  std::thread waiter([&] { waited = Sys(LKD_NR_epoll_pwait, epfd, got, 4, 10000, nullptr, 8); });
  // Sent only after the waiter had time to block (if it had not, it still
  // sees the event: the check below is on the result, not on timing).
  struct timespec ts = {0, 20000000};
  Sys(LKD_NR_nanosleep, &ts, nullptr);
  long tx = Sys(LKD_NR_socket, AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(Sys(LKD_NR_sendto, tx, "x", 1, 0, &ep.addr, ep.len), 1);
  waiter.join();
  ASSERT_EQ(waited, 1);
  EXPECT_EQ(got[0].data.u64, 0x1234567890abcdefull);
  EXPECT_TRUE(got[0].events & EPOLLIN);
  for (long fd : {rx, tx, epfd}) Sys(LKD_NR_close, fd);
}

TEST(Sockets, UnixStreamPair) {
  int sv[2];
  ASSERT_EQ(Sys(LKD_NR_socketpair, AF_UNIX, SOCK_STREAM, 0, sv), 0);
  EXPECT_EQ(Sys(LKD_NR_write, sv[0], "abc", 3), 3);
  char buf[4] = {};
  EXPECT_EQ(Sys(LKD_NR_read, sv[1], buf, sizeof(buf)), 3);
  EXPECT_STREQ(buf, "abc");
  Sys(LKD_NR_close, sv[0]);
  EXPECT_EQ(Sys(LKD_NR_read, sv[1], buf, sizeof(buf)), 0) << "EOF after the peer closes";
  Sys(LKD_NR_close, sv[1]);
}

}  // namespace
}  // namespace lkd::testing
