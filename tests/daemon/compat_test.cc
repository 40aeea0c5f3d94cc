// SPDX-License-Identifier: GPL-2.0
// Calls whose results must be Linux's, checked against the host kernel:
// each case runs the same sequence once on the host (libc) and once in a
// client's kernel process in lkd (liblkclient), in a real forked client,
// and compares every result and errno.
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "kernel/testing/loopback.h"
#include "rumpclient/lkclient.h"
#include "tests/daemon/lkd_test.h"

namespace lkd::testing {
namespace {

// The host's calls...
struct Host {
  static const char* Name() { return "host"; }
  static int Socket(int d, int t, int p) { return socket(d, t, p); }
  static int Bind(int fd, const void* a, socklen_t l) {
    return bind(fd, static_cast<const sockaddr*>(a), l);
  }
  static int Connect(int fd, const void* a, socklen_t l) {
    return connect(fd, static_cast<const sockaddr*>(a), l);
  }
  static int GetSockName(int fd, void* a, socklen_t* l) {
    return getsockname(fd, static_cast<sockaddr*>(a), l);
  }
  static ssize_t SendTo(int fd, const void* b, size_t n, int f, const void* a,
                        socklen_t l) {
    return sendto(fd, b, n, f, static_cast<const sockaddr*>(a), l);
  }
  static ssize_t RecvMsg(int fd, msghdr* m, int f) { return recvmsg(fd, m, f); }
  static ssize_t SendMsg(int fd, const msghdr* m, int f) { return sendmsg(fd, m, f); }
  static int SetSockOpt(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value));
  }
  static int GetSockOpt(int fd, int level, int name, int* value) {
    socklen_t len = sizeof(*value);
    return getsockopt(fd, level, name, value, &len);
  }
  static int Poll(pollfd* fds, nfds_t n, int timeout) { return poll(fds, n, timeout); }
  static int SocketPair(int d, int t, int p, int sv[2]) { return socketpair(d, t, p, sv); }
  static ssize_t Write(int fd, const void* b, size_t n) { return write(fd, b, n); }
  static ssize_t Read(int fd, void* b, size_t n) { return read(fd, b, n); }
  static int Pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
  static int Fcntl(int fd, int cmd, long arg) { return fcntl(fd, cmd, arg); }
  static int Ioctl(int fd, unsigned long req, void* arg) { return ioctl(fd, req, arg); }
  static int Open(const char* path, int flags) { return open(path, flags, 0600); }
  static int Close(int fd) { return close(fd); }
  static int Pid() { return getpid(); }
  static int FstatAt(int dirfd, const char* path, struct stat* st, int flags) {
    return fstatat(dirfd, path, st, flags);
  }
  static int Rename2(const char* from, const char* to, unsigned flags) {
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, flags);
  }
  static int Unlink(const char* path) { return unlinkat(AT_FDCWD, path, 0); }
};

// ... and lkd's, with the same signatures.
struct Lkd {
  static const char* Name() { return "lkd"; }
  static int Socket(int d, int t, int p) { return lk_sys_socket(d, t, p); }
  static int Bind(int fd, const void* a, socklen_t l) {
    return lk_sys_bind(fd, static_cast<const sockaddr*>(a), l);
  }
  static int Connect(int fd, const void* a, socklen_t l) {
    return lk_sys_connect(fd, static_cast<const sockaddr*>(a), l);
  }
  static int GetSockName(int fd, void* a, socklen_t* l) {
    return lk_sys_getsockname(fd, static_cast<sockaddr*>(a), l);
  }
  static ssize_t SendTo(int fd, const void* b, size_t n, int f, const void* a,
                        socklen_t l) {
    return lk_sys_sendto(fd, b, n, f, static_cast<const sockaddr*>(a), l);
  }
  static ssize_t RecvMsg(int fd, msghdr* m, int f) { return lk_sys_recvmsg(fd, m, f); }
  static ssize_t SendMsg(int fd, const msghdr* m, int f) { return lk_sys_sendmsg(fd, m, f); }
  static int SetSockOpt(int fd, int level, int name, int value) {
    return lk_sys_setsockopt(fd, level, name, &value, sizeof(value));
  }
  static int GetSockOpt(int fd, int level, int name, int* value) {
    socklen_t len = sizeof(*value);
    return lk_sys_getsockopt(fd, level, name, value, &len);
  }
  static int Poll(pollfd* fds, nfds_t n, int timeout) { return lk_sys_poll(fds, n, timeout); }
  static int SocketPair(int d, int t, int p, int sv[2]) {
    return lk_sys_socketpair(d, t, p, sv);
  }
  static ssize_t Write(int fd, const void* b, size_t n) { return lk_sys_write(fd, b, n); }
  static ssize_t Read(int fd, void* b, size_t n) { return lk_sys_read(fd, b, n); }
  static int Pipe2(int fds[2], int flags) { return lk_sys_pipe2(fds, flags); }
  static int Fcntl(int fd, int cmd, long arg) { return lk_sys_fcntl(fd, cmd, arg); }
  static int Ioctl(int fd, unsigned long req, void* arg) { return lk_sys_ioctl(fd, req, arg); }
  static int Open(const char* path, int flags) {
    return lk_sys_openat(AT_FDCWD, path, flags, 0600);
  }
  static int Close(int fd) { return lk_sys_close(fd); }
  static int Pid() { return lk_sys_getpid(); }
  static int FstatAt(int dirfd, const char* path, struct stat* st, int flags) {
    return lk_sys_fstatat(dirfd, path, st, flags);
  }
  static int Rename2(const char* from, const char* to, unsigned flags) {
    return lk_sys_renameat2(AT_FDCWD, from, AT_FDCWD, to, flags);
  }
  static int Unlink(const char* path) { return lk_sys_unlinkat(AT_FDCWD, path, 0); }
};

// What a sequence of calls returned, one line per observation.
class Trace {
 public:
  // A call's result: its value, or -1 and the errno's name.
  void Call(const std::string& what, long r) {
    lines_.push_back(absl::StrCat(what, " = ", r, r < 0 ? absl::StrCat(" ", strerrorname_np(errno)) : ""));
  }
  void Note(const std::string& what, long v) { lines_.push_back(absl::StrCat(what, ": ", v)); }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
};

// Runs Case<Host> and Case<Lkd> in a forked client; 0 if they agree, else
// both traces on stderr.
template <template <typename> class Case>
int Compare() {
  Trace host, lkd;
  Case<Host>::Run(&host);
  if (lk_init() < 0) {
    fprintf(stderr, "lk_init: %s\n", lk_errmsg());
    return 100;
  }
  Case<Lkd>::Run(&lkd);
  if (host.lines() == lkd.lines()) return 0;
  fprintf(stderr, "host:\n  %s\nlkd:\n  %s\n", absl::StrJoin(host.lines(), "\n  ").c_str(),
          absl::StrJoin(lkd.lines(), "\n  ").c_str());
  return 1;
}

using CompatTest = LkdTest;

// A socket address longer than sockaddr_storage (or negative as an int) is
// EINVAL, whatever else is wrong with the call.
template <typename Api>
struct AddressLengths {
  static void Run(Trace* t) {
    int fd = Api::Socket(AF_INET, SOCK_DGRAM, 0);
    t->Call("socket", fd >= 0 ? 0 : -1);
    sockaddr_in a = Ipv4Loopback(9);
    for (socklen_t len : {0xffffffffu, 0x80000000u, 129u, 4096u, 1u << 20}) {
      t->Call(absl::StrCat("sendto len ", len), Api::SendTo(fd, "x", 1, 0, &a, len));
      t->Call(absl::StrCat("bind len ", len), Api::Bind(fd, &a, len));
      t->Call(absl::StrCat("connect len ", len), Api::Connect(fd, &a, len));
    }
    // A valid length still works.
    t->Call("sendto len 16", Api::SendTo(fd, "x", 1, 0, &a, sizeof(a)));
    Api::Close(fd);
  }
};

TEST_F(CompatTest, SocketAddressLengthsAsLinux) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), Compare<AddressLengths>)), 0);
}

// recvmsg: MSG_TRUNC in msg_flags for a datagram larger than the buffer,
// the sender's address, scatter over several iovecs, no control data.
template <typename Api>
struct RecvmsgFlags {
  static void Run(Trace* t) {
    int rx = Api::Socket(AF_INET, SOCK_DGRAM, 0);
    int tx = Api::Socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in any = Ipv4Loopback(0);
    t->Call("bind rx", Api::Bind(rx, &any, sizeof(any)));
    t->Call("bind tx", Api::Bind(tx, &any, sizeof(any)));
    sockaddr_in rx_addr, tx_addr;
    socklen_t len = sizeof(rx_addr);
    Api::GetSockName(rx, &rx_addr, &len);
    len = sizeof(tx_addr);
    Api::GetSockName(tx, &tx_addr, &len);
    char payload[100];
    for (int i = 0; i < 100; i++) payload[i] = static_cast<char>('a' + i % 26);

    for (int flags : {0, static_cast<int>(MSG_TRUNC), MSG_PEEK | MSG_TRUNC}) {
      t->Call("sendto", Api::SendTo(tx, payload, sizeof(payload), 0, &rx_addr,
                                    sizeof(rx_addr)));
      char a[4], b[6];
      iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
      sockaddr_in from = {};
      char control[64];
      msghdr m = {};
      m.msg_name = &from;
      m.msg_namelen = sizeof(from) + 8;
      m.msg_iov = iov;
      m.msg_iovlen = 2;
      m.msg_control = control;
      m.msg_controllen = sizeof(control);
      m.msg_flags = 0x7fff0000;  // recvmsg overwrites it
      std::string label = absl::StrCat("recvmsg flags ", flags);
      t->Call(label, Api::RecvMsg(rx, &m, flags));
      t->Note(label + " msg_flags", m.msg_flags);
      t->Note(label + " msg_namelen", m.msg_namelen);
      t->Note(label + " from is tx", memcmp(&from, &tx_addr, sizeof(from)) == 0);
      t->Note(label + " msg_controllen", static_cast<long>(m.msg_controllen));
      t->Note(label + " bytes", std::string(a, 4) + std::string(b, 6) == "abcdefghij");
      if (flags & MSG_PEEK) {
        // The datagram is still there: read it for real.
        m.msg_flags = 0;
        m.msg_controllen = sizeof(control);
        t->Call("recvmsg after peek", Api::RecvMsg(rx, &m, 0));
        t->Note("recvmsg after peek msg_flags", m.msg_flags);
      }
    }
    // A stream: a short read is no truncation.
    int sv[2];
    t->Call("socketpair", Api::SocketPair(AF_UNIX, SOCK_STREAM, 0, sv));
    t->Call("write", Api::Write(sv[0], payload, 20));
    char buf[8];
    iovec iov = {buf, sizeof(buf)};
    msghdr m = {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_flags = -1;
    t->Call("recvmsg stream", Api::RecvMsg(sv[1], &m, 0));
    t->Note("recvmsg stream msg_flags", m.msg_flags);
    for (int fd : {rx, tx, sv[0], sv[1]}) Api::Close(fd);
  }
};

TEST_F(CompatTest, RecvmsgReportsTruncationAsLinux) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), Compare<RecvmsgFlags>)), 0);
}

// Control messages, built into one buffer as a program builds them.
class Control {
 public:
  template <typename T>
  Control& Add(int level, int type, const T& value) {
    size_t at = bytes_.size();
    bytes_.resize(at + CMSG_SPACE(sizeof(T)));
    cmsghdr c = {};
    c.cmsg_len = CMSG_LEN(sizeof(T));
    c.cmsg_level = level;
    c.cmsg_type = type;
    memcpy(bytes_.data() + at, &c, sizeof(c));
    memcpy(bytes_.data() + at + CMSG_LEN(0), &value, sizeof(T));
    return *this;
  }
  // Raw bytes (a malformed message).
  Control& Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
    return *this;
  }
  void* data() { return bytes_.empty() ? nullptr : bytes_.data(); }
  size_t size() const { return bytes_.size(); }

 private:
  std::vector<uint8_t> bytes_;
};

// One datagram to `to` with `control` (and `payload`), through sendmsg.
template <typename Api>
long SendWith(int fd, const void* to, socklen_t tolen, Control* control,
              const char* payload = "cmsg") {
  iovec iov = {const_cast<char*>(payload), strlen(payload)};
  msghdr m = {};
  m.msg_name = const_cast<void*>(to);
  m.msg_namelen = tolen;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control->data();
  m.msg_controllen = control->size();
  return Api::SendMsg(fd, &m, 0);
}

// Receives one message and notes its result, msg_flags and every control
// message: level, type, length, and its value where it is the same on
// both kernels (times are only noted as non-zero; addresses as bytes).
template <typename Api>
void ReceiveAndNote(Trace* t, const std::string& label, int fd, int flags) {
  char buf[64];
  iovec iov = {buf, sizeof(buf)};
  alignas(cmsghdr) uint8_t control[512];
  sockaddr_storage from;
  msghdr m = {};
  m.msg_name = &from;
  m.msg_namelen = sizeof(from);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  long r = Api::RecvMsg(fd, &m, flags);
  t->Call(label, r);
  if (r < 0) return;
  t->Note(label + " msg_flags", m.msg_flags);
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    const std::string what = absl::StrCat(label, " cmsg ", c->cmsg_level, "/", c->cmsg_type);
    t->Note(what + " len", static_cast<long>(c->cmsg_len));
    const uint8_t* d = CMSG_DATA(c);
    const size_t n = c->cmsg_len - CMSG_LEN(0);
    if ((c->cmsg_level == IPPROTO_IP && (c->cmsg_type == IP_TOS || c->cmsg_type == IP_TTL)) ||
        (c->cmsg_level == IPPROTO_IPV6 &&
         (c->cmsg_type == IPV6_HOPLIMIT || c->cmsg_type == IPV6_TCLASS))) {
      int v = 0;
      memcpy(&v, d, std::min(n, sizeof(v)));
      t->Note(what + " value", c->cmsg_type == IP_TOS ? (v & 0xff) : v);
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo p;
      memcpy(&p, d, sizeof(p));
      t->Note(what + " ifindex", p.ipi_ifindex);
      t->Note(what + " spec_dst", ntohl(p.ipi_spec_dst.s_addr));
      t->Note(what + " addr", ntohl(p.ipi_addr.s_addr));
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo p;
      memcpy(&p, d, sizeof(p));
      t->Note(what + " ifindex", p.ipi6_ifindex);
      t->Note(what + " addr is ::1", IN6_IS_ADDR_LOOPBACK(&p.ipi6_addr));
    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMP_OLD) {
      timeval tv;
      memcpy(&tv, d, sizeof(tv));
      t->Note(what + " set", tv.tv_sec != 0 || tv.tv_usec != 0);
    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING_OLD) {
      timespec ts[3];
      memcpy(ts, d, sizeof(ts));
      t->Note(what + " software stamp set", ts[0].tv_sec != 0 || ts[0].tv_nsec != 0);
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) {
      sock_extended_err e;
      memcpy(&e, d, sizeof(e));
      t->Note(what + " ee_errno", e.ee_errno);
      t->Note(what + " ee_origin", e.ee_origin);
      t->Note(what + " ee_type", e.ee_type);
      t->Note(what + " ee_code", e.ee_code);
      if (e.ee_origin == SO_EE_ORIGIN_ICMP) {
        sockaddr_in offender;
        memcpy(&offender, d + sizeof(e), sizeof(offender));
        t->Note(what + " offender", ntohl(offender.sin_addr.s_addr));
      }
    }
  }
  t->Note(label + " bytes", std::string(buf, r > 0 ? std::min<long>(r, 64) : 0) == "cmsg");
}

// A pair of UDP sockets on the loopback of `family`, both bound; `to` is
// rx's address.
struct UdpPair {
  int rx = -1, tx = -1;
  sockaddr_storage to = {};
  socklen_t tolen = 0;
};

template <typename Api>
UdpPair BindUdpPair(Trace* t, int family) {
  UdpPair p;
  p.rx = Api::Socket(family, SOCK_DGRAM, 0);
  p.tx = Api::Socket(family, SOCK_DGRAM, 0);
  sockaddr_storage any = {};
  if (family == AF_INET) {
    sockaddr_in a = Ipv4Loopback(0);
    memcpy(&any, &a, sizeof(a));
    p.tolen = sizeof(a);
  } else {
    sockaddr_in6 a = {};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    memcpy(&any, &a, sizeof(a));
    p.tolen = sizeof(a);
  }
  t->Call("bind rx", Api::Bind(p.rx, &any, p.tolen));
  t->Call("bind tx", Api::Bind(p.tx, &any, p.tolen));
  Api::GetSockName(p.rx, &p.to, &p.tolen);
  return p;
}

// sendmsg's control messages for IPv4: IP_TOS, IP_TTL and IP_PKTINFO reach
// the datagram (the receiver asks for them back); bad values and malformed
// messages are refused as Linux refuses them.
template <typename Api>
struct SendControlV4 {
  static void Run(Trace* t) {
    auto [rx, tx, to, tolen] = BindUdpPair<Api>(t, AF_INET);
    t->Call("IP_PKTINFO", Api::SetSockOpt(rx, IPPROTO_IP, IP_PKTINFO, 1));
    t->Call("IP_RECVTOS", Api::SetSockOpt(rx, IPPROTO_IP, IP_RECVTOS, 1));
    t->Call("IP_RECVTTL", Api::SetSockOpt(rx, IPPROTO_IP, IP_RECVTTL, 1));
    in_pktinfo info = {};
    info.ipi_spec_dst.s_addr = htonl(INADDR_LOOPBACK);
    Control all;
    all.Add(IPPROTO_IP, IP_TOS, 0x10).Add(IPPROTO_IP, IP_TTL, 7).Add(IPPROTO_IP, IP_PKTINFO, info);
    t->Call("sendmsg tos+ttl+pktinfo", SendWith<Api>(tx, &to, tolen, &all));
    ReceiveAndNote<Api>(t, "recvmsg", rx, 0);
    Control tos_byte;
    tos_byte.Add(IPPROTO_IP, IP_TOS, static_cast<uint8_t>(0x20));
    t->Call("sendmsg tos as a byte", SendWith<Api>(tx, &to, tolen, &tos_byte));
    ReceiveAndNote<Api>(t, "recvmsg tos byte", rx, 0);

    Control ttl0, tos_big, unknown, bad_len, on_null;
    ttl0.Add(IPPROTO_IP, IP_TTL, 0);
    t->Call("sendmsg ttl 0", SendWith<Api>(tx, &to, tolen, &ttl0));
    tos_big.Add(IPPROTO_IP, IP_TOS, 256);
    t->Call("sendmsg tos 256", SendWith<Api>(tx, &to, tolen, &tos_big));
    unknown.Add(IPPROTO_IP, 12345, 1);
    t->Call("sendmsg unknown type", SendWith<Api>(tx, &to, tolen, &unknown));
    cmsghdr short_header = {};
    short_header.cmsg_len = 4;
    short_header.cmsg_level = IPPROTO_IP;
    short_header.cmsg_type = IP_TTL;
    bad_len.Raw(&short_header, sizeof(short_header));
    t->Call("sendmsg cmsg_len 4", SendWith<Api>(tx, &to, tolen, &bad_len));
    // A length with no buffer.
    iovec iov = {const_cast<char*>("x"), 1};
    msghdr m = {};
    m.msg_name = &to;
    m.msg_namelen = tolen;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_controllen = 32;
    t->Call("sendmsg NULL control", Api::SendMsg(tx, &m, 0));
    // A name longer than sockaddr_storage is cut to it.
    sockaddr_storage long_name[2] = {};
    memcpy(long_name, &to, tolen);
    m.msg_name = long_name;
    m.msg_namelen = sizeof(long_name);
    m.msg_control = all.data();
    m.msg_controllen = all.size();
    t->Call("sendmsg long name", Api::SendMsg(tx, &m, 0));
    m.msg_namelen = 0x80000000u;
    t->Call("sendmsg negative name length", Api::SendMsg(tx, &m, 0));
    pollfd p = {rx, POLLIN, 0};
    t->Call("only the long name's datagram arrived", Api::Poll(&p, 1, 0));
    ReceiveAndNote<Api>(t, "recvmsg long name's", rx, 0);
    t->Call("then nothing", Api::Poll(&p, 1, 0));
    Api::Close(rx);
    Api::Close(tx);
  }
};

TEST_F(CompatTest, SendmsgIpv4ControlMessagesAsLinux) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), Compare<SendControlV4>)), 0);
}

template <typename Api>
struct SendControlV6 {
  static void Run(Trace* t) {
    auto [rx, tx, to, tolen] = BindUdpPair<Api>(t, AF_INET6);
    t->Call("IPV6_RECVPKTINFO", Api::SetSockOpt(rx, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1));
    t->Call("IPV6_RECVHOPLIMIT", Api::SetSockOpt(rx, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1));
    t->Call("IPV6_RECVTCLASS", Api::SetSockOpt(rx, IPPROTO_IPV6, IPV6_RECVTCLASS, 1));
    in6_pktinfo info = {};
    info.ipi6_addr = in6addr_loopback;
    Control all;
    all.Add(IPPROTO_IPV6, IPV6_HOPLIMIT, 9)
        .Add(IPPROTO_IPV6, IPV6_TCLASS, 0x20)
        .Add(IPPROTO_IPV6, IPV6_PKTINFO, info);
    t->Call("sendmsg hoplimit+tclass+pktinfo", SendWith<Api>(tx, &to, tolen, &all));
    ReceiveAndNote<Api>(t, "recvmsg", rx, 0);
    Control bad_hops, bad_class;
    bad_hops.Add(IPPROTO_IPV6, IPV6_HOPLIMIT, 256);
    t->Call("sendmsg hoplimit 256", SendWith<Api>(tx, &to, tolen, &bad_hops));
    bad_class.Add(IPPROTO_IPV6, IPV6_TCLASS, 256);
    t->Call("sendmsg tclass 256", SendWith<Api>(tx, &to, tolen, &bad_class));
    Api::Close(rx);
    Api::Close(tx);
  }
};

TEST_F(CompatTest, SendmsgIpv6ControlMessagesAsLinux) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), Compare<SendControlV6>)), 0);
}

// Control messages in: IP_PKTINFO and SO_TIMESTAMP with a datagram; an
// ICMP port unreachable through IP_RECVERR and MSG_ERRQUEUE; a transmit
// timestamp asked for by an SO_TIMESTAMPING control message on send.
template <typename Api>
struct ReceiveControl {
  static void Run(Trace* t) {
    auto [rx, tx, to, tolen] = BindUdpPair<Api>(t, AF_INET);
    t->Call("IP_PKTINFO", Api::SetSockOpt(rx, IPPROTO_IP, IP_PKTINFO, 1));
    t->Call("SO_TIMESTAMP", Api::SetSockOpt(rx, SOL_SOCKET, SO_TIMESTAMP_OLD, 1));
    t->Call("sendto", Api::SendTo(tx, "cmsg", 4, 0, &to, tolen));
    ReceiveAndNote<Api>(t, "recvmsg pktinfo+timestamp", rx, 0);

    // A port nobody listens on: rx's, once rx is closed.
    Api::Close(rx);
    t->Call("IP_RECVERR", Api::SetSockOpt(tx, IPPROTO_IP, IP_RECVERR, 1));
    ReceiveAndNote<Api>(t, "MSG_ERRQUEUE empty", tx, MSG_ERRQUEUE);
    t->Call("sendto closed port", Api::SendTo(tx, "cmsg", 4, 0, &to, tolen));
    pollfd p = {tx, 0, 0};
    t->Call("poll for the error", Api::Poll(&p, 1, -1));
    t->Note("POLLERR", p.revents & POLLERR);
    ReceiveAndNote<Api>(t, "MSG_ERRQUEUE", tx, MSG_ERRQUEUE);
    int err = -1;
    t->Call("SO_ERROR", Api::GetSockOpt(tx, SOL_SOCKET, SO_ERROR, &err));
    t->Note("SO_ERROR value", err);

    // A transmit timestamp asked for by this one datagram, reported in
    // software (the socket's reporting flags).
    auto [sink, echo, sink_addr, sink_len] = BindUdpPair<Api>(t, AF_INET);
    t->Call("SO_TIMESTAMPING report",
            Api::SetSockOpt(echo, SOL_SOCKET, SO_TIMESTAMPING_OLD, SOF_TIMESTAMPING_SOFTWARE));
    Control stamp;
    stamp.Add(SOL_SOCKET, SO_TIMESTAMPING_OLD, static_cast<uint32_t>(SOF_TIMESTAMPING_TX_SOFTWARE));
    t->Call("sendmsg SO_TIMESTAMPING", SendWith<Api>(echo, &sink_addr, sink_len, &stamp));
    pollfd q = {echo, 0, 0};
    t->Call("poll for the stamp", Api::Poll(&q, 1, -1));
    ReceiveAndNote<Api>(t, "MSG_ERRQUEUE stamp", echo, MSG_ERRQUEUE);
    for (int fd : {tx, echo, sink}) Api::Close(fd);
  }
};

TEST_F(CompatTest, RecvmsgControlMessagesAsLinux) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), Compare<ReceiveControl>)), 0);
}

// Where lkd differs on purpose: SCM_RIGHTS on a kernel socket is
// EOPNOTSUPP (schema/lkd_syscalls.h), on an AF_INET socket (Linux: EINVAL)
// and on a kernel AF_UNIX pair (Linux would pass the fd), and nothing is
// sent; the pair carries on.
int ScmRightsRefused() {
  if (lk_init() < 0) return 100;
  int failures = 0;
  auto expect = [&](bool ok, const char* what) {
    if (!ok) {
      fprintf(stderr, "%s (errno %s)\n", what, strerrorname_np(errno));
      failures++;
    }
  };
  int sv[2];
  expect(lk_sys_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0, "socketpair");
  int udp = lk_sys_socket(AF_INET, SOCK_DGRAM, 0);
  int fd = sv[0];
  Control rights;
  rights.Add(SOL_SOCKET, SCM_RIGHTS, fd);
  iovec iov = {const_cast<char*>("fd"), 2};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = rights.data();
  m.msg_controllen = rights.size();
  errno = 0;
  expect(lk_sys_sendmsg(sv[0], &m, 0) == -1 && errno == EOPNOTSUPP, "SCM_RIGHTS on AF_UNIX");
  sockaddr_in to = Ipv4Loopback(9);
  m.msg_name = &to;
  m.msg_namelen = sizeof(to);
  errno = 0;
  expect(lk_sys_sendmsg(udp, &m, 0) == -1 && errno == EOPNOTSUPP, "SCM_RIGHTS on AF_INET");
  char buf[4];
  expect(lk_sys_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == -1 && errno == EAGAIN,
         "nothing was sent");
  expect(lk_sys_send(sv[0], "ok", 2, 0) == 2 && lk_sys_recv(sv[1], buf, sizeof(buf), 0) == 2,
         "the pair carries on");
  return failures;
}

TEST_F(CompatTest, ScmRightsOnKernelSocketsIsEopnotsupp) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), ScmRightsRefused)), 0);
}

template <typename Api>
struct Pipes {
  static void Run(Trace* t) {
    int p[2] = {-1, -1};
    t->Call("pipe2", Api::Pipe2(p, O_CLOEXEC | O_NONBLOCK));
    t->Note("distinct fds", p[0] >= 0 && p[1] >= 0 && p[0] != p[1]);
    t->Call("F_GETFD", Api::Fcntl(p[0], F_GETFD, 0));
    t->Call("F_GETFL read end", Api::Fcntl(p[0], F_GETFL, 0));
    t->Call("F_GETFL write end", Api::Fcntl(p[1], F_GETFL, 0));
    char buf[16];
    t->Call("read empty", Api::Read(p[0], buf, sizeof(buf)));
    t->Call("write", Api::Write(p[1], "through", 7));
    t->Call("read", Api::Read(p[0], buf, sizeof(buf)));
    t->Note("bytes", memcmp(buf, "through", 7) == 0);
    t->Call("F_GETPIPE_SZ", Api::Fcntl(p[1], F_GETPIPE_SZ, 0));
    t->Call("F_SETPIPE_SZ", Api::Fcntl(p[1], F_SETPIPE_SZ, 1 << 16));
    t->Call("pipe2 bad flags", Api::Pipe2(p, O_APPEND));
    Api::Close(p[0]);
    Api::Close(p[1]);
  }
};

TEST_F(CompatTest, Pipe2AsLinux) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), Compare<Pipes>)), 0);
}

// Record locks (POSIX and open file description) and F_[GS]ETOWN_EX: the
// fcntl commands that take pointers.
template <typename Api>
struct FcntlPointers {
  static void Lock(Trace* t, const std::string& what, int fd, int cmd, short type,
                   off_t start, off_t len) {
    struct flock fl = {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    t->Call(what, Api::Fcntl(fd, cmd, reinterpret_cast<long>(&fl)));
    if (cmd == F_GETLK || cmd == F_OFD_GETLK) {
      t->Note(what + " l_type", fl.l_type);
      t->Note(what + " l_start", fl.l_start);
      t->Note(what + " l_len", fl.l_len);
      // The owner's pid is the process's own pid on each side.
      t->Note(what + " l_pid", fl.l_pid == Api::Pid() ? -2 : fl.l_pid);
    }
  }

  static void Run(Trace* t) {
    std::string path = absl::StrCat("/tmp/lkd-compat-lock-", getpid(), "-", Api::Name());
    int fd1 = Api::Open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC);
    int fd2 = Api::Open(path.c_str(), O_RDWR);
    t->Note("opened", fd1 >= 0 && fd2 >= 0);
    Lock(t, "OFD_SETLK fd1 wr 0+10", fd1, F_OFD_SETLK, F_WRLCK, 0, 10);
    Lock(t, "OFD_GETLK fd2", fd2, F_OFD_GETLK, F_WRLCK, 0, 0);
    Lock(t, "OFD_SETLK fd2 rd 5+5", fd2, F_OFD_SETLK, F_RDLCK, 5, 5);
    Lock(t, "SETLK fd2 wr 0+1", fd2, F_SETLK, F_WRLCK, 0, 1);
    Lock(t, "SETLK fd2 wr 100+10", fd2, F_SETLK, F_WRLCK, 100, 10);
    Lock(t, "GETLK fd1 100+1", fd1, F_GETLK, F_WRLCK, 100, 1);
    Lock(t, "OFD_GETLK fd1 100+1", fd1, F_OFD_GETLK, F_WRLCK, 100, 1);
    Lock(t, "SETLKW fd2 unlock", fd2, F_SETLKW, F_UNLCK, 100, 10);
    Lock(t, "OFD_SETLKW fd1 unlock", fd1, F_OFD_SETLKW, F_UNLCK, 0, 10);
    Lock(t, "OFD_GETLK fd2 after", fd2, F_OFD_GETLK, F_WRLCK, 0, 0);
    Lock(t, "OFD_SETLK bad type", fd1, F_OFD_SETLK, 77, 0, 1);
    Lock(t, "SETLK bad fd", 999, F_SETLK, F_WRLCK, 0, 1);
    Api::Close(fd1);
    Api::Close(fd2);
    if (Api::Name() == std::string("host")) unlink(path.c_str());

    int s = Api::Socket(AF_INET, SOCK_DGRAM, 0);
    f_owner_ex own = {F_OWNER_PID, Api::Pid()};
    t->Call("F_SETOWN_EX self", Api::Fcntl(s, F_SETOWN_EX, reinterpret_cast<long>(&own)));
    memset(&own, 0, sizeof(own));
    t->Call("F_GETOWN_EX", Api::Fcntl(s, F_GETOWN_EX, reinterpret_cast<long>(&own)));
    t->Note("F_GETOWN_EX type", own.type);
    t->Note("F_GETOWN_EX is self", own.pid == Api::Pid());
    t->Note("F_GETOWN is self", Api::Fcntl(s, F_GETOWN, 0) == Api::Pid());
    own.type = F_OWNER_PID;
    own.pid = INT_MAX;
    t->Call("F_SETOWN_EX no such pid",
            Api::Fcntl(s, F_SETOWN_EX, reinterpret_cast<long>(&own)));
    own.type = static_cast<__pid_type>(42);
    own.pid = 0;
    t->Call("F_SETOWN_EX bad type", Api::Fcntl(s, F_SETOWN_EX, reinterpret_cast<long>(&own)));
    Api::Close(s);
  }
};

TEST_F(CompatTest, FcntlPointerCommandsAsLinux) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), Compare<FcntlPointers>)), 0);
}

// One link's struct ifreq requests, on the loopback link both kernels have
// (its index, name, MTU and loopback flag; whether it is up depends on the
// host's namespace, so that bit is left out); an unknown name is ENODEV.
template <typename Api>
struct IfreqRequests {
  static void Run(Trace* t) {
    int fd = Api::Socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr = {};
    strcpy(ifr.ifr_name, "lo");
    t->Call("SIOCGIFINDEX lo", Api::Ioctl(fd, SIOCGIFINDEX, &ifr));
    t->Note("index", ifr.ifr_ifindex);
    ifreq by_index = {};
    by_index.ifr_ifindex = ifr.ifr_ifindex;
    t->Call("SIOCGIFNAME", Api::Ioctl(fd, SIOCGIFNAME, &by_index));
    t->Note("name is lo", strcmp(by_index.ifr_name, "lo") == 0);
    t->Call("SIOCGIFMTU lo", Api::Ioctl(fd, SIOCGIFMTU, &ifr));
    t->Note("mtu", ifr.ifr_mtu);
    t->Call("SIOCGIFFLAGS lo", Api::Ioctl(fd, SIOCGIFFLAGS, &ifr));
    t->Note("IFF_LOOPBACK", (ifr.ifr_flags & IFF_LOOPBACK) != 0);
    ifreq missing = {};
    strcpy(missing.ifr_name, "nosuch0");
    t->Call("SIOCGIFINDEX nosuch0", Api::Ioctl(fd, SIOCGIFINDEX, &missing));
    t->Call("SIOCGIFMTU nosuch0", Api::Ioctl(fd, SIOCGIFMTU, &missing));
    Api::Close(fd);
  }
};

TEST_F(CompatTest, IfreqRequestsAsLinux) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), Compare<IfreqRequests>)), 0);
}

// SIOCGIFCONF, whose struct ifconf points at the buffer to fill: the
// length a NULL buffer asks for, a buffer with room to spare filled with
// exactly that, loopback's 127.0.0.1 among the entries (the other links
// are each kernel's own), a buffer too small for one entry, room for one,
// a negative length, a NULL struct.
template <typename Api>
struct IfconfRequest {
  static void Run(Trace* t) {
    int fd = Api::Socket(AF_INET, SOCK_DGRAM, 0);
    ifconf ifc = {};
    t->Call("SIOCGIFCONF NULL buffer", Api::Ioctl(fd, SIOCGIFCONF, &ifc));
    const int needed = ifc.ifc_len;
    t->Note("needed: whole ifreqs, some", needed > 0 && needed % sizeof(ifreq) == 0);
    std::vector<ifreq> reqs(needed / sizeof(ifreq) + 2);
    ifc.ifc_len = static_cast<int>(reqs.size() * sizeof(ifreq));
    ifc.ifc_req = reqs.data();
    t->Call("SIOCGIFCONF", Api::Ioctl(fd, SIOCGIFCONF, &ifc));
    t->Note("wrote what it said it needs", ifc.ifc_len == needed);
    bool lo = false;
    for (int i = 0; i < ifc.ifc_len / static_cast<int>(sizeof(ifreq)); i++) {
      sockaddr_in a;
      memcpy(&a, &reqs[i].ifr_addr, sizeof(a));
      lo |= strcmp(reqs[i].ifr_name, "lo") == 0 && a.sin_family == AF_INET &&
            a.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    }
    t->Note("lo 127.0.0.1", lo);
    for (int len : {static_cast<int>(sizeof(ifreq)) - 1, static_cast<int>(sizeof(ifreq)), -1}) {
      ifc.ifc_len = len;
      t->Call(absl::StrCat("SIOCGIFCONF room ", len), Api::Ioctl(fd, SIOCGIFCONF, &ifc));
      t->Note(absl::StrCat("SIOCGIFCONF room ", len, " wrote"), ifc.ifc_len);
    }
    t->Call("SIOCGIFCONF NULL ifconf", Api::Ioctl(fd, SIOCGIFCONF, nullptr));
    Api::Close(fd);
  }
};

TEST_F(CompatTest, SiocgifconfAsLinux) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), Compare<IfconfRequest>)), 0);
}

// fstatat and renameat2 by path (what liblkhijack's stat and rename under
// its prefix use): the fields that do not depend on the file system, a
// missing name, RENAME_NOREPLACE onto an existing name, RENAME_EXCHANGE.
template <typename Api>
struct PathCalls {
  static void Run(Trace* t) {
    const std::string a = absl::StrCat("/tmp/lkd-compat-path-", getpid(), "-", Api::Name());
    const std::string b = a + "-b";
    int fd = Api::Open(a.c_str(), O_RDWR | O_CREAT | O_TRUNC);
    t->Call("write a", Api::Write(fd, "12345", 5));
    Api::Close(fd);
    fd = Api::Open(b.c_str(), O_RDWR | O_CREAT | O_TRUNC);
    Api::Close(fd);
    struct stat st = {};
    t->Call("fstatat a", Api::FstatAt(AT_FDCWD, a.c_str(), &st, 0));
    t->Note("a regular, 0600", st.st_mode == (S_IFREG | 0600));
    t->Note("a size", st.st_size);
    t->Note("a nlink", st.st_nlink);
    t->Call("fstatat nofollow", Api::FstatAt(AT_FDCWD, a.c_str(), &st, AT_SYMLINK_NOFOLLOW));
    t->Call("fstatat missing", Api::FstatAt(AT_FDCWD, (a + "-none").c_str(), &st, 0));
    t->Call("fstatat bad flags", Api::FstatAt(AT_FDCWD, a.c_str(), &st, 0x40000000));
    t->Call("fstatat / is a directory", Api::FstatAt(AT_FDCWD, "/", &st, 0));
    t->Note("S_ISDIR", S_ISDIR(st.st_mode));
    t->Call("RENAME_NOREPLACE onto b", Api::Rename2(a.c_str(), b.c_str(), RENAME_NOREPLACE));
    t->Call("RENAME_EXCHANGE", Api::Rename2(a.c_str(), b.c_str(), RENAME_EXCHANGE));
    t->Call("fstatat b", Api::FstatAt(AT_FDCWD, b.c_str(), &st, 0));
    t->Note("b size after exchange", st.st_size);
    t->Call("rename bad flags", Api::Rename2(a.c_str(), b.c_str(), 0x80));
    t->Call("rename", Api::Rename2(a.c_str(), b.c_str(), 0));
    t->Call("fstatat a after rename", Api::FstatAt(AT_FDCWD, a.c_str(), &st, 0));
    t->Call("unlink b", Api::Unlink(b.c_str()));
  }
};

TEST_F(CompatTest, PathCallsAsLinux) {
  EXPECT_EQ(WaitClient(ForkClient(lkd_->url(), Compare<PathCalls>)), 0);
}

}  // namespace
}  // namespace lkd::testing
