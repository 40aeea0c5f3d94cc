// SPDX-License-Identifier: GPL-2.0
// Calls whose results must be Linux's, checked against the host kernel:
// each case runs the same sequence once on the host (libc) and once in a
// client's kernel process in lkd (liblkclient), in a real forked client,
// and compares every result and errno.
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
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
  static int SocketPair(int d, int t, int p, int sv[2]) { return socketpair(d, t, p, sv); }
  static ssize_t Write(int fd, const void* b, size_t n) { return write(fd, b, n); }
  static ssize_t Read(int fd, void* b, size_t n) { return read(fd, b, n); }
  static int Pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
  static int Fcntl(int fd, int cmd, long arg) { return fcntl(fd, cmd, arg); }
  static int Ioctl(int fd, unsigned long req, void* arg) { return ioctl(fd, req, arg); }
  static int Open(const char* path, int flags) { return open(path, flags, 0600); }
  static int Close(int fd) { return close(fd); }
  static int Pid() { return getpid(); }
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

}  // namespace
}  // namespace lkd::testing
