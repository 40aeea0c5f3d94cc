// SPDX-License-Identifier: GPL-2.0
// The daemon end to end: real lkd processes, real client processes
// attached through liblkclient, the real kernel's TCP/IP in between.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/cpu_set.h"
#include "gtest/gtest.h"
#include "rumpclient/lkclient.h"
#include "kernel/testing/loopback.h"
#include "lkd/sysnr.h"
#include "tests/daemon/lkd_test.h"

namespace lkd::testing {
namespace {

int Listen(uint16_t port, int flags = 0) {
  int fd = lk_sys_socket(AF_INET, SOCK_STREAM | flags, 0);
  if (fd < 0) return -1;
  int one = 1;
  lk_sys_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a = Ipv4Loopback(port);
  if (lk_sys_bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) return -1;
  if (lk_sys_listen(fd, 128) < 0) return -1;
  return fd;
}

int Connect(uint16_t port) {
  int fd = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a = Ipv4Loopback(port);
  if (lk_sys_connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) return -1;
  return fd;
}

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = lk_sys_write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= w;
  }
  return true;
}

bool ReadAll(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = lk_sys_read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= r;
  }
  return true;
}

// The state letter of a kernel task as the kernel shows it in its stat
// file ('S' asleep in a call; a task between calls is parked, 'P'), or 0
// if it cannot be read.
char KernelTaskState(const std::string& stat_path) {
  int fd = lk_sys_openat(AT_FDCWD, stat_path.c_str(), O_RDONLY, 0);
  if (fd < 0) return 0;
  char buf[512];
  long n = lk_sys_read(fd, buf, sizeof(buf) - 1);
  lk_sys_close(fd);
  if (n <= 0) return 0;
  std::string stat(buf, n);
  size_t paren = stat.rfind(')');  // the name may hold spaces and parens
  return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : 0;
}

// Whether one of kernel process `pid`'s tasks is asleep in a call, from
// /proc/<pid>/task/*/stat. (Each client thread is a task of its own; the
// process's leader stays parked.)
bool SomeTaskAsleep(long pid) {
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  int fd = lk_sys_openat(AT_FDCWD, dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return false;
  alignas(8) char buf[4096];
  bool asleep = false;
  long n;
  while (!asleep && (n = lk_sys_getdents64(fd, buf, sizeof(buf))) > 0) {
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino, off, reclen, type, name.
      uint16_t reclen;
      memcpy(&reclen, buf + off + 16, sizeof(reclen));
      const char* name = buf + off + 19;
      if (name[0] >= '0' && name[0] <= '9' &&
          KernelTaskState(absl::StrCat(dir, "/", name, "/stat")) == 'S')
        asleep = true;
      off += reclen;
    }
  }
  lk_sys_close(fd);
  return asleep;
}

// In a client whose main thread is about to block in a call (and whose
// other threads do not block): a thread that signals `ready` once the
// kernel shows a task of this process asleep, so the test acts on a call
// that really is blocked. Signals nothing (and the test's Wait fails) if
// that is not seen within 60 s.
std::thread SignalWhenBlocked(ReadyPipe& ready) {
  const long pid = lk_sys_getpid();
  return std::thread([pid, &ready]() {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      if (SomeTaskAsleep(pid)) {
        ready.Signal();
        return;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
  });
}

std::string Pattern(int seed, size_t n) {
  std::string s(n, '\0');
  uint32_t x = 2654435761u * (seed + 1);
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

using DaemonTest = LkdTest;

// 64 clients at once: one listens, 63 connect and exchange data through it,
// byte for byte; each client's fd numbers start at 0 (its own table).
TEST_F(DaemonTest, SixtyFourClientsExchangeData) {
  constexpr int kClients = 64;
  constexpr size_t kBytes = 64 * 1024;
  ReadyPipe listening;
  // Each client (the listener too) reports its exchange done, then stays
  // attached until released, so that all 64 are attached at the same time.
  int done[2], release[2];
  ASSERT_EQ(pipe(done), 0);
  ASSERT_EQ(pipe(release), 0);
  pid_t server = ForkClient(lkd_->url(), [&]() {
    close(release[1]);
    CHECK_OR(lk_init() == 0, 10);
    int lfd = Listen(5000);
    CHECK_OR(lfd == 0, 11);  // a fresh process's first fd
    listening.Signal();
    std::vector<std::thread> echoers;
    std::atomic<int> failures{0};
    for (int i = 0; i < kClients - 1; i++) {
      int c = lk_sys_accept4(lfd, nullptr, nullptr, 0);
      CHECK_OR(c >= 0, 12);
      echoers.emplace_back([c, &failures]() {
        std::string buf(kBytes, '\0');
        if (!ReadAll(c, buf.data(), kBytes) || !WriteAll(c, buf.data(), kBytes))
          failures++;
        lk_sys_close(c);
      });
    }
    for (auto& t : echoers) t.join();
    CHECK_OR(failures.load() == 0, 13);
    CHECK_OR(write(done[1], "d", 1) == 1, 14);
    char c;
    (void)!read(release[0], &c, 1);  // EOF when the test releases us
    return 0;
  });
  ASSERT_TRUE(listening.Wait());
  std::vector<pid_t> clients;
  for (int i = 1; i < kClients; i++) {
    clients.push_back(ForkClient(lkd_->url(), [i, &done, &release]() {
      close(release[1]);
      CHECK_OR(lk_init() == 0, 20);
      int fd = Connect(5000);
      CHECK_OR(fd == 0, 21);
      std::string out = Pattern(i, kBytes), in(kBytes, '\0');
      CHECK_OR(WriteAll(fd, out.data(), kBytes), 22);
      CHECK_OR(ReadAll(fd, in.data(), kBytes), 23);
      CHECK_OR(in == out, 24);
      CHECK_OR(write(done[1], "d", 1) == 1, 25);
      char c;
      (void)!read(release[0], &c, 1);  // EOF when the test releases us
      return 0;
    }));
  }
  close(release[0]);
  close(done[1]);
  int finished = 0;
  char c;
  while (finished < kClients && read(done[0], &c, 1) == 1) finished++;
  EXPECT_EQ(finished, kClients);
  // 64 sessions (kernel processes) at once, as lkd logs them.
  EXPECT_EQ(lkd_->LiveSessions(), kClients) << lkd_->Log();
  close(release[1]);
  close(done[0]);
  for (pid_t c : clients) EXPECT_EQ(WaitClient(c), 0);
  EXPECT_EQ(WaitClient(server), 0);
}

// Adds 10.99.0.0/16 via lo through rtnetlink; returns 0 or the kernel's errno.
int AddRouteErrno() {
  int fd = lk_sys_socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errno;
  struct {
    nlmsghdr nh;
    rtmsg rt;
    char attrs[64];
  } req = {};
  req.nh.nlmsg_type = RTM_NEWROUTE;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
  req.nh.nlmsg_seq = 1;
  req.rt.rtm_family = AF_INET;
  req.rt.rtm_dst_len = 16;
  req.rt.rtm_table = RT_TABLE_MAIN;
  req.rt.rtm_protocol = RTPROT_STATIC;
  req.rt.rtm_scope = RT_SCOPE_LINK;
  req.rt.rtm_type = RTN_UNICAST;
  size_t len = NLMSG_LENGTH(sizeof(rtmsg));
  auto add = [&](uint16_t type, const void* data, size_t n) {
    auto* rta = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(len));
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(n);
    memcpy(RTA_DATA(rta), data, n);
    len = NLMSG_ALIGN(len) + RTA_ALIGN(rta->rta_len);
  };
  in_addr dst;
  inet_pton(AF_INET, "10.99.0.0", &dst);
  add(RTA_DST, &dst, 4);
  int lo = 1;
  add(RTA_OIF, &lo, 4);
  req.nh.nlmsg_len = len;
  if (lk_sys_send(fd, &req, len, 0) < 0) return errno;
  char buf[512];
  ssize_t n = lk_sys_recv(fd, buf, sizeof(buf), 0);
  lk_sys_close(fd);
  if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr)))) return EIO;
  auto* nh = reinterpret_cast<nlmsghdr*>(buf);
  if (nh->nlmsg_type != NLMSG_ERROR) return EIO;
  return -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(nh))->error;
}

int BindErrno(uint16_t port) {
  int fd = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return errno;
  sockaddr_in a = Ipv4Loopback(port);
  int rc = lk_sys_bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  int err = rc < 0 ? errno : 0;
  lk_sys_close(fd);
  return err;
}

// The peer's credentials decide: nobody cannot bind port 80 nor change
// routes, root can.
TEST_F(DaemonTest, CredentialsComeFromThePeer) {
  pid_t nobody = ForkClient(lkd_->url(), []() {
    CHECK_OR(setgid(65534) == 0 && setuid(65534) == 0, 30);
    CHECK_OR(lk_init() == 0, 31);
    if (BindErrno(80) != EACCES) return 32;
    if (AddRouteErrno() != EPERM) return 33;
    return 0;
  });
  EXPECT_EQ(WaitClient(nobody), 0);
  pid_t root = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 40);
    if (BindErrno(80) != 0) return 41;
    if (AddRouteErrno() != 0) return 42;
    return 0;
  });
  EXPECT_EQ(WaitClient(root), 0);
}

// The inode of the "memfd:lkd-spin-board" mapping in this process, or 0.
unsigned long SpinBoardInode() {
  FILE* maps = fopen("/proc/self/maps", "r");
  if (maps == nullptr) return 0;
  char line[512];
  unsigned long inode = 0;
  while (inode == 0 && fgets(line, sizeof(line), maps)) {
    if (strstr(line, "memfd:lkd-spin-board") == nullptr) continue;
    unsigned long start, end, offset, ino;
    char perms[8], dev[16];
    if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &start, &end, perms, &offset, dev, &ino) == 6)
      inode = ino;
  }
  fclose(maps);
  return inode;
}

// Every client maps lkd's one spin board (schema/lkd.capnp, SpinBoard):
// the count of spinning client threads is machine-wide, so two clients
// in different processes see the same page (a client spinning in one
// takes the turn of the other).
TEST_F(DaemonTest, ClientsShareOneSpinBoard) {
  int results[2];
  ASSERT_EQ(pipe(results), 0);
  std::vector<pid_t> clients;
  for (int i = 0; i < 2; i++) {
    clients.push_back(ForkClient(lkd_->url(), [&]() {
      close(results[0]);
      CHECK_OR(lk_init() == 0, 10);
      CHECK_OR(lk_sys_getpid() > 0, 11);  // a call through a channel
      const unsigned long inode = SpinBoardInode();
      CHECK_OR(write(results[1], &inode, sizeof(inode)) == sizeof(inode), 12);
      return 0;
    }));
  }
  close(results[1]);
  unsigned long inodes[2] = {};
  for (auto& inode : inodes) ASSERT_EQ(read(results[0], &inode, sizeof(inode)), sizeof(inode));
  close(results[0]);
  for (pid_t c : clients) EXPECT_EQ(WaitClient(c), 0);
  EXPECT_NE(inodes[0], 0u) << "a client has no spin board mapped";
  EXPECT_EQ(inodes[0], inodes[1]);
}

// lkd pins its dispatch threads (--dispatch_cpus) while they are busy and
// tells its clients, which keep every thread off those CPUs from the
// attach on (unless LKD_CLIENT_CPUS=any); an idle dispatch thread lets go
// of its CPU, so that a cold call's wake is not forced across CPUs.
namespace {

// The CPUs thread or process `tid` may run on ("" if it is gone).
std::string CpusOf(pid_t tid) { return FormatCpuList(AllowedCpus(tid)); }

// What a client of `url` (with LKD_CLIENT_CPUS=`mode` unless empty) may
// run on after attaching, and a thread it made afterwards: "CPUS CPUS".
std::string ClientCpus(const std::string& url, const char* mode) {
  int out[2];
  if (pipe(out) != 0) return "no pipe";
  pid_t c = ForkClient(url, [&]() {
    close(out[0]);
    if (*mode) setenv("LKD_CLIENT_CPUS", mode, 1);
    CHECK_OR(lk_init() == 0, 10);
    CHECK_OR(lk_sys_getpid() > 0, 11);
    std::string cpus = CpusOf(0) + " ";
    std::thread t([&] { cpus += CpusOf(0); });
    t.join();
    CHECK_OR(write(out[1], cpus.data(), cpus.size()) == static_cast<ssize_t>(cpus.size()), 12);
    return 0;
  });
  close(out[1]);
  char buf[256] = {};
  const ssize_t n = read(out[0], buf, sizeof(buf) - 1);
  close(out[0]);
  const int status = WaitClient(c);
  if (n <= 0 || status != 0) return absl::StrCat("client failed (exit ", status, ")");
  return buf;
}

// Polls until the CPUs of `tid` are `want` (true) or 30 s passed.
bool CpusBecome(pid_t tid, const std::string& want) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (CpusOf(tid) != want) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// lkd's waker thread ("lkd-wake", a name it takes once placed), or 0 if
// it does not show within 30 s.
pid_t WakerThreadOf(const LkdDaemon& lkd) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (;;) {
    const std::vector<pid_t> wakers = lkd.ThreadIdsNamed("lkd-wake");
    if (wakers.size() == 1) return wakers[0];
    if (absl::Now() > deadline) return 0;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace

TEST(DispatchCpus, ClientsKeepOffTheDispatchThreadsCpus) {
  const std::vector<int> allowed = AllowedCpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs two CPUs";
  // Not the default (auto, the highest): the list is what counts.
  const int kernel_cpu = allowed.front();
  const std::string all = FormatCpuList(allowed);
  const std::string rest = FormatCpuList(CpusApartFrom(allowed, {kernel_cpu}));
  auto lkd = LkdDaemon::Start({absl::StrCat("--dispatch_cpus=", kernel_cpu)});
  ASSERT_TRUE(lkd.ok()) << lkd.status();
  EXPECT_NE((*lkd)->Log().find(absl::StrCat("dispatch threads on CPU ", kernel_cpu)),
            std::string::npos)
      << (*lkd)->Log();

  // The waker thread lives on the dispatch threads' CPU, busy or not,
  // unless told to stay beside the clients.
  EXPECT_TRUE(CpusBecome(WakerThreadOf(**lkd), std::to_string(kernel_cpu)))
      << "waker runs on " << CpusOf(WakerThreadOf(**lkd));
  auto waker_apart = LkdDaemon::Start(
      {absl::StrCat("--dispatch_cpus=", kernel_cpu), "--dispatch_waker_pinned=false"});
  ASSERT_TRUE(waker_apart.ok()) << waker_apart.status();
  EXPECT_EQ(CpusOf(WakerThreadOf(**waker_apart)), all);

  for (const char* mode : {"", "apart", "any"}) {
    const std::string want = strcmp(mode, "any") == 0 ? all : rest;
    EXPECT_EQ(ClientCpus((*lkd)->url(), mode), want + " " + want) << "LKD_CLIENT_CPUS=" << mode;
  }

  // A busy dispatch thread runs on its CPU; idle, it may run anywhere.
  ReadyPipe busy;
  std::atomic<bool>* stop = static_cast<std::atomic<bool>*>(
      mmap(nullptr, sizeof(std::atomic<bool>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
           -1, 0));
  ASSERT_NE(stop, MAP_FAILED);
  new (stop) std::atomic<bool>(false);
  pid_t caller = ForkClient((*lkd)->url(), [&]() {
    CHECK_OR(lk_init() == 0, 10);
    CHECK_OR(lk_sys_getpid() > 0, 11);
    busy.Signal();
    while (!stop->load()) CHECK_OR(lk_sys_getpid() > 0, 12);
    return 0;
  });
  ASSERT_TRUE(busy.Wait());
  const std::vector<pid_t> dispatch_threads = (*lkd)->DispatchThreadIds();
  ASSERT_FALSE(dispatch_threads.empty());
  const pid_t dispatch = dispatch_threads.front();
  EXPECT_TRUE(CpusBecome(dispatch, std::to_string(kernel_cpu)))
      << "busy dispatch thread runs on " << CpusOf(dispatch);
  stop->store(true);
  EXPECT_EQ(WaitClient(caller), 0);
  EXPECT_TRUE(CpusBecome(dispatch, all)) << "idle dispatch thread runs on " << CpusOf(dispatch);
  munmap(stop, sizeof(std::atomic<bool>));

  // Not pinned: clients keep every CPU.
  auto unpinned = LkdDaemon::Start({"--dispatch_cpus=none"});
  ASSERT_TRUE(unpinned.ok()) << unpinned.status();
  EXPECT_EQ(ClientCpus((*unpinned)->url(), ""), all + " " + all);
  EXPECT_EQ(CpusOf(WakerThreadOf(**unpinned)), all);
}

// lk_batch: several calls in one round trip, made in order by the
// client's task, each answered on its own; a batch lkd cannot make (a
// path in it, a bad count, a call not served) is refused whole, with
// nothing made; a signal handler ends a batch blocked in one of its calls
// with EINTR there, and the calls after it are not made.
namespace {
void OnAlarm(int) {}
}  // namespace

TEST_F(DaemonTest, BatchesMakeTheirCallsInOrder) {
  pid_t client = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 10);
    int sv[2];
    CHECK_OR(lk_sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, 11);
    char got[4] = {};
    lk_call calls[4] = {
        {LKD_NR_write, {sv[1], reinterpret_cast<long>("abc"), 3}},
        {LKD_NR_close, {999}},
        {LKD_NR_read, {sv[0], reinterpret_cast<long>(got), 3}},
        {LKD_NR_getpid, {}},
    };
    CHECK_OR(lk_batch(calls, 4) == 0, 12);
    CHECK_OR(calls[0].result == 3, 13);
    CHECK_OR(calls[1].result == -EBADF, 14);
    CHECK_OR(calls[2].result == 3 && memcmp(got, "abc", 3) == 0, 15);
    CHECK_OR(calls[3].result == lk_sys_getpid(), 16);

    // Refused whole: the write before the path is not made.
    lk_call refused[2] = {
        {LKD_NR_write, {sv[1], reinterpret_cast<long>("z"), 1}},
        {LKD_NR_openat, {AT_FDCWD, reinterpret_cast<long>("/"), O_RDONLY}},
    };
    CHECK_OR(lk_batch(refused, 2) == -1 && errno == EINVAL, 17);
    lk_call unknown[2] = {refused[0], {LKD_NR_execve, {}}};
    CHECK_OR(lk_batch(unknown, 2) == -1 && errno == ENOSYS, 18);
    CHECK_OR(lk_batch(calls, 0) == -1 && errno == EINVAL, 19);
    lk_call many[LK_BATCH_MAX + 1] = {};
    CHECK_OR(lk_batch(many, LK_BATCH_MAX + 1) == -1 && errno == EINVAL, 20);
    CHECK_OR(lk_sys_fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0, 21);
    CHECK_OR(lk_sys_read(sv[0], got, 1) == -1 && errno == EAGAIN, 22);
    CHECK_OR(lk_sys_fcntl(sv[0], F_SETFL, 0) == 0, 23);

    // A handler without SA_RESTART ends the blocked read with EINTR. One
    // alarm every 100 ms until then: an alarm that lands while the client
    // still spins for an answer only runs its handler (README,
    // "Interrupted calls"), which a loaded machine can make happen.
    struct sigaction sa = {};
    sa.sa_handler = OnAlarm;
    CHECK_OR(sigaction(SIGALRM, &sa, nullptr) == 0, 24);
    std::atomic<bool> returned{false};
    std::thread alarm([&returned]() {
      while (!returned.load()) {
        usleep(100 * 1000);
        if (!returned.load()) kill(getpid(), SIGALRM);
      }
    });
    lk_call blocking[3] = {
        {LKD_NR_getpid, {}},
        {LKD_NR_read, {sv[0], reinterpret_cast<long>(got), 1}},
        {LKD_NR_write, {sv[1], reinterpret_cast<long>("q"), 1}},
    };
    const int rc = lk_batch(blocking, 3);
    returned.store(true);
    alarm.join();
    CHECK_OR(rc == 0, 25);
    CHECK_OR(blocking[1].result == -EINTR, 26);
    CHECK_OR(blocking[2].result == -ECANCELED, 27);
    CHECK_OR(lk_sys_fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0, 28);
    CHECK_OR(lk_sys_read(sv[0], got, 1) == -1 && errno == EAGAIN, 29);  // no "q"
    return 0;
  });
  EXPECT_EQ(WaitClient(client), 0);
}

// A client SIGKILLed while a batch of its is blocked in lkd (its epoll_ctl
// made, its epoll_wait waiting): lkd ends the kernel process as for any
// call, and after 30 such kills its channels and fds are back at the
// baseline and it serves the next client.
TEST_F(DaemonTest, ClientsKilledInABlockedBatchLeaveNothingBehind) {
  auto kill_one = [&](int round) {
    ReadyPipe blocked;
    pid_t victim = ForkClient(lkd_->url(), [&]() {
      CHECK_OR(lk_init() == 0, 30);
      int sv[2];
      CHECK_OR(lk_sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, 31);
      const int ep = lk_sys_epoll_create1(0);
      CHECK_OR(ep >= 0, 32);
      epoll_event ev = {};
      ev.events = EPOLLIN;
      epoll_event got[4];
      lk_call calls[2] = {
          {LKD_NR_epoll_ctl, {ep, EPOLL_CTL_ADD, sv[0], reinterpret_cast<long>(&ev)}},
          {LKD_NR_epoll_pwait, {ep, reinterpret_cast<long>(got), 4, -1, 0, 8}},
      };
      std::thread watcher = SignalWhenBlocked(blocked);
      lk_batch(calls, 2);  // blocks until killed
      watcher.join();
      return 33;
    });
    ASSERT_TRUE(blocked.Wait()) << "round " << round << ": the batch never blocked";
    kill(victim, SIGKILL);
    EXPECT_EQ(WaitClient(victim), 128 + SIGKILL);
  };
  kill_one(0);
  for (int i = 0; i < 3000 && lkd_->LiveSessions() != 0; i++)
    absl::SleepFor(absl::Milliseconds(20));
  ASSERT_EQ(lkd_->LiveSessions(), 0);
  const int channels0 = lkd_->Channels(), fds0 = lkd_->OpenFds();
  for (int round = 1; round <= 30; round++) kill_one(round);
  for (int i = 0; i < 500 && (lkd_->Channels() > channels0 || lkd_->OpenFds() > fds0); i++)
    absl::SleepFor(absl::Milliseconds(20));
  EXPECT_LE(lkd_->Channels(), channels0);
  EXPECT_LE(lkd_->OpenFds(), fds0);
  pid_t next = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 40);
    lk_call one[2] = {{LKD_NR_getpid, {}}, {LKD_NR_getppid, {}}};
    CHECK_OR(lk_batch(one, 2) == 0 && one[0].result == lk_sys_getpid(), 41);
    return 0;
  });
  EXPECT_EQ(WaitClient(next), 0);
}

// A client killed while blocked in accept: its kernel process exits and
// the port is free again; a bystander client notices nothing; after 100
// kills lkd's threads and fds are back where they were.
TEST_F(DaemonTest, KilledClientsLeaveNothingBehind) {
  // The bystander keeps a connection to itself and pings over it until told
  // to stop (by a byte on its pipe), failing on any error.
  int stop_pipe[2];
  ASSERT_EQ(pipe(stop_pipe), 0);
  pid_t bystander = ForkClient(lkd_->url(), [&]() {
    close(stop_pipe[1]);
    CHECK_OR(lk_init() == 0, 50);
    int l = Listen(5100);
    CHECK_OR(l >= 0, 51);
    int c = Connect(5100);
    CHECK_OR(c >= 0, 52);
    int s = lk_sys_accept4(l, nullptr, nullptr, 0);
    CHECK_OR(s >= 0, 53);
    fcntl(stop_pipe[0], F_SETFL, O_NONBLOCK);
    char b[64];
    for (long i = 0;; i++) {
      char x;
      if (read(stop_pipe[0], &x, 1) == 1) return 0;
      memset(b, static_cast<int>(i), sizeof(b));
      CHECK_OR(lk_sys_write(c, b, sizeof(b)) == sizeof(b), 54);
      CHECK_OR(ReadAll(s, b, sizeof(b)), 55);
      CHECK_OR(b[63] == static_cast<char>(i), 56);
    }
  });
  close(stop_pipe[0]);

  auto kill_one = [&](int round) {
    ReadyPipe blocked;
    pid_t victim = ForkClient(lkd_->url(), [&]() {
      CHECK_OR(lk_init() == 0, 60);
      int l = Listen(5200);
      CHECK_OR(l >= 0, 61);
      std::thread watcher = SignalWhenBlocked(blocked);
      lk_sys_accept4(l, nullptr, nullptr, 0);  // blocks until killed
      watcher.join();
      return 62;
    });
    ASSERT_TRUE(blocked.Wait()) << "round " << round << ": accept never blocked";
    kill(victim, SIGKILL);
    EXPECT_EQ(WaitClient(victim), 128 + SIGKILL);
  };

  kill_one(0);
  // The port is free again once lkd noticed (polled, no timing assumed).
  pid_t rebinder = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 70);
    for (int i = 0; i < 1000; i++) {
      int err = BindErrno(5200);
      if (err == 0) return 0;
      if (err != EADDRINUSE) return 71;
      usleep(10000);
    }
    return 72;
  });
  EXPECT_EQ(WaitClient(rebinder), 0);

  // Baseline after the first round (lazy allocations done), then 100 more.
  // Channels and fds must come back exactly; the kernel's own
  // threads (workqueue workers) may grow by a few under load.
  auto settle = [&](int channels, int fds) {
    for (int i = 0; i < 500; i++) {
      if (lkd_->Channels() <= channels && lkd_->OpenFds() <= fds) return;
      absl::SleepFor(absl::Milliseconds(20));
    }
  };
  // Baseline once only the bystander is attached (the victim's and the
  // rebinder's sessions ended).
  for (int i = 0; i < 3000 && lkd_->LiveSessions() != 1; i++)
    absl::SleepFor(absl::Milliseconds(20));
  ASSERT_EQ(lkd_->LiveSessions(), 1);
  const int channels0 = lkd_->Channels(), threads0 = lkd_->Threads();
  const int fds0 = lkd_->OpenFds();
  const long rss0 = lkd_->RssKib();
  for (int round = 1; round <= 100; round++) kill_one(round);
  settle(channels0, fds0);
  EXPECT_LE(lkd_->Channels(), channels0);
  EXPECT_LE(lkd_->OpenFds(), fds0);
  EXPECT_LE(lkd_->Threads(), threads0 + 4) << "baseline " << threads0;
  // Memory: the kernel's own caches may keep a little; leaking a channel
  // (256 KiB) or a thread stack per kill would show as tens of MiB. Under
  // AddressSanitizer freed memory sits in its quarantine (up to 256 MiB)
  // and RSS says nothing; its leak checker covers this instead.
#ifndef __SANITIZE_ADDRESS__
  EXPECT_LE(lkd_->RssKib(), rss0 + 8 * 1024)
      << "baseline " << rss0 << " KiB, now " << lkd_->RssKib() << " KiB";
#endif
  fprintf(stderr,
          "after 100 kills: channels %d (baseline %d), threads %d (%d), fds %d (%d), "
          "rss %ld KiB (%ld)\n",
          lkd_->Channels(), channels0, lkd_->Threads(), threads0, lkd_->OpenFds(), fds0,
          lkd_->RssKib(), rss0);

  ASSERT_EQ(write(stop_pipe[1], "x", 1), 1);
  close(stop_pipe[1]);
  EXPECT_EQ(WaitClient(bystander), 0);
}

// lkd's state after all its clients went, polled until the channels,
// sessions and fds are back to at most the baseline (the channels of
// killed clients are released asynchronously) or the deadline passed.
void AwaitBaseline(const LkdDaemon& lkd, int channels, int fds, absl::Duration deadline) {
  const absl::Time end = absl::Now() + deadline;
  while (absl::Now() < end) {
    if (lkd.LiveSessions() == 0 && lkd.Channels() <= channels && lkd.OpenFds() <= fds)
      return;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// One round of the scale test: `n` client processes of 2 threads attached
// at once, each exchanging data between its threads over TCP through lkd
// (byte for byte), then all SIGKILLed while one thread of each is blocked
// in the kernel. True if every client reported its exchange correct.
// `*threads_attached` gets lkd's host threads while all were attached.
bool ManyClientsRound(LkdDaemon& lkd, int n, int round, int* threads_attached) {
  constexpr size_t kBytes = 16 * 1024;
  int results[2];
  if (pipe(results) != 0) return false;
  std::vector<pid_t> clients;
  for (int i = 0; i < n; i++) {
    clients.push_back(ForkClient(lkd.url(), [&, i]() {
      close(results[0]);
      auto report = [&](char c) { return write(results[1], &c, 1) == 1 ? 0 : 99; };
      if (lk_init() != 0) return report('a');
      int lfd = Listen(0);
      sockaddr_in a = {};
      socklen_t len = sizeof(a);
      if (lfd < 0 || lk_sys_getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        return report('l');
      // The second thread (its own channel, its own task in lkd) echoes,
      // then blocks in the kernel until the process is killed.
      std::atomic<int> echoed{0};
      std::thread echo([&]() {
        int c = lk_sys_accept4(lfd, nullptr, nullptr, 0);
        std::string buf(kBytes, '\0');
        bool ok = c >= 0 && ReadAll(c, buf.data(), kBytes) && WriteAll(c, buf.data(), kBytes);
        echoed = ok ? 1 : 2;
        echoed.notify_one();
        char x;
        if (ok) lk_sys_read(c, &x, 1);
      });
      echo.detach();
      int fd = Connect(ntohs(a.sin_port));
      std::string out = Pattern(round * 1000 + i, kBytes), in(kBytes, '\0');
      if (fd < 0 || !WriteAll(fd, out.data(), kBytes) || !ReadAll(fd, in.data(), kBytes))
        return report('x');
      echoed.wait(0);
      if (in != out || echoed != 1) return report('c');
      report('d');
      for (;;) pause();  // attached until killed
    }));
  }
  close(results[1]);
  // Every client answers once: 'd' for a correct exchange (the deadline
  // only keeps a hung client from hanging the test).
  std::string answers;
  const absl::Time end = absl::Now() + absl::Minutes(5);
  while (static_cast<int>(answers.size()) < n && absl::Now() < end) {
    pollfd p = {results[0], POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    char buf[256];
    ssize_t got = read(results[0], buf, sizeof(buf));
    if (got <= 0) break;
    answers.append(buf, got);
  }
  close(results[0]);
  EXPECT_EQ(answers, std::string(n, 'd')) << "round " << round;
  // All attached at once, with both threads' channels.
  EXPECT_EQ(lkd.LiveSessions(), n) << "round " << round;
  EXPECT_GE(lkd.Channels(), 2 * n) << "round " << round;
  *threads_attached = lkd.Threads();
  // A dispatch thread serves up to 127 channels: host threads do not grow
  // with the clients' threads.
  EXPECT_LE(lkd.DispatchThreads(), (2 * n + 126) / 127) << "round " << round;
  for (pid_t c : clients) kill(c, SIGKILL);
  for (pid_t c : clients) EXPECT_EQ(WaitClient(c), 128 + SIGKILL);
  return answers == std::string(n, 'd');
}

// 256 clients of 2 threads each attached at once, exchanging data, then
// killed, twice. While they are attached lkd has no host thread per
// client thread (the 512 channels are served by 5 dispatch threads, the
// blocked calls hold no thread). After each round lkd's channels, sessions and fds
// return exactly to the baseline; its threads (the kernel's own workers
// may come and go) and RSS within a little slack of what the first round
// left (the kernel keeps memory it touched once, so the first round is
// the warm-up; a leaked channel or thread per client would add MiBs).
TEST_F(DaemonTest, ManyClientsComeAndGoWithoutLeaks) {
  constexpr int kClients = 256;
  const int channels0 = lkd_->Channels(), fds0 = lkd_->OpenFds();
  const int threads0 = lkd_->Threads();
  long rss1 = 0;
  int threads1 = threads0;
  for (int round = 1; round <= 2; round++) {
    int threads_attached = 0;
    ASSERT_TRUE(ManyClientsRound(*lkd_, kClients, round, &threads_attached));
    EXPECT_LE(threads_attached, threads0 + 8) << "round " << round;
    AwaitBaseline(*lkd_, channels0, fds0, absl::Minutes(3));
    EXPECT_EQ(lkd_->LiveSessions(), 0) << "round " << round;
    EXPECT_LE(lkd_->Channels(), channels0) << "round " << round;
    EXPECT_LE(lkd_->OpenFds(), fds0) << "round " << round;
    EXPECT_LE(lkd_->Threads(), std::max(threads0, threads1) + 8) << "round " << round;
    if (round == 1) {
      rss1 = lkd_->RssKib();
      threads1 = lkd_->Threads();
    }
  }
#ifndef __SANITIZE_ADDRESS__  // (RSS under ASan: see KilledClientsLeaveNothingBehind)
  EXPECT_LE(lkd_->RssKib(), rss1 + 8 * 1024);
#endif
  fprintf(stderr,
          "after %d clients twice: channels %d (baseline %d), threads %d (%d, after "
          "round 1 %d), fds %d (%d), rss %ld KiB (after round 1 %ld)\n",
          kClients, lkd_->Channels(), channels0, lkd_->Threads(), threads0, threads1,
          lkd_->OpenFds(), fds0, lkd_->RssKib(), rss1);
}

// Threads that end release their channels (and kernel tasks) while the
// client stays attached.
TEST_F(DaemonTest, ThreadExitReleasesItsChannel) {
  const int baseline = lkd_->Channels();
  ReadyPipe done;
  int release[2];
  ASSERT_EQ(pipe(release), 0);
  pid_t client = ForkClient(lkd_->url(), [&]() {
    close(release[1]);
    CHECK_OR(lk_init() == 0, 190);
    for (int round = 0; round < 10; round++) {
      std::vector<std::thread> threads;
      for (int i = 0; i < 10; i++)
        threads.emplace_back([]() { lk_sys_getpid(); });
      for (auto& t : threads) t.join();
    }
    CHECK_OR(lk_sys_getpid() > 0, 191);  // the main thread's channel stays
    done.Signal();
    char c;
    (void)!read(release[0], &c, 1);  // stay attached until told
    return 0;
  });
  close(release[0]);
  ASSERT_TRUE(done.Wait());
  // One channel (the main thread's) remains; 100 others came and went.
  int channels = 0;
  for (int i = 0; i < 500; i++) {
    channels = lkd_->Channels();
    if (channels <= baseline + 1) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(channels, baseline + 1);
  ASSERT_EQ(write(release[1], "x", 1), 1);
  close(release[1]);
  EXPECT_EQ(WaitClient(client), 0);
}

// A recv blocked in one thread does not hold up another thread of the same
// client, nor another client.
TEST_F(DaemonTest, BlockingCallBlocksOnlyItsThread) {
  pid_t client = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 80);
    int sv[2];
    CHECK_OR(lk_sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, 81);
    std::atomic<bool> returned{false};
    std::thread blocked([&]() {
      char c;
      lk_sys_recv(sv[0], &c, 1, 0);
      returned = true;
    });
    // The other thread's calls complete while recv is still blocked.
    for (int i = 0; i < 2000; i++) CHECK_OR(lk_sys_getpid() > 0, 82);
    int fd = lk_sys_socket(AF_INET, SOCK_DGRAM, 0);
    CHECK_OR(fd >= 0, 83);
    CHECK_OR(!returned.load(), 84);
    CHECK_OR(lk_sys_send(sv[1], "x", 1, 0) == 1, 85);
    blocked.join();
    return returned.load() ? 0 : 86;
  });
  // Meanwhile another client works normally.
  pid_t other = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 90);
    for (int i = 0; i < 2000; i++) CHECK_OR(lk_sys_getpid() > 0, 91);
    return 0;
  });
  EXPECT_EQ(WaitClient(other), 0);
  EXPECT_EQ(WaitClient(client), 0);
}

// fork: the child accepts on its parent's listening socket.
TEST_F(DaemonTest, ForkedChildAcceptsOnParentsSocket) {
  pid_t parent = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 100);
    int l = Listen(5300);
    CHECK_OR(l >= 0, 101);
    pid_t child = lk_fork();
    CHECK_OR(child >= 0, 102);
    if (child == 0) {
      int c = lk_sys_accept4(l, nullptr, nullptr, 0);
      if (c < 0) _exit(103);
      char buf[5];
      if (!ReadAll(c, buf, 5) || memcmp(buf, "hello", 5) != 0) _exit(104);
      _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 105;
  });
  pid_t connector = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 110);
    int fd = -1;
    for (int i = 0; i < 500 && fd < 0; i++) {
      fd = Connect(5300);
      if (fd < 0) usleep(10000);
    }
    CHECK_OR(fd >= 0, 111);
    CHECK_OR(WriteAll(fd, "hello", 5), 112);
    return 0;
  });
  EXPECT_EQ(WaitClient(connector), 0);
  EXPECT_EQ(WaitClient(parent), 0);
}

// A forked child that ends with exit() (thread-local destructors, atexit)
// rather than _exit() ends normally.
TEST_F(DaemonTest, ForkedChildExitsNormally) {
  pid_t parent = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 195);
    CHECK_OR(lk_sys_getpid() > 0, 196);  // this thread has a channel
    pid_t child = lk_fork();
    CHECK_OR(child >= 0, 197);
    if (child == 0) {
      if (lk_sys_getpid() <= 0) exit(1);
      exit(0);
    }
    for (int i = 0; i < 3000; i++) {  // a hang shows as a failure, not a stuck test
      int status;
      if (waitpid(child, &status, WNOHANG) == child)
        return WIFEXITED(status) ? WEXITSTATUS(status) : 198;
      usleep(10000);
    }
    kill(child, SIGKILL);
    return 199;
  });
  EXPECT_EQ(WaitClient(parent), 0);
}

// exec: a socket without close-on-exec survives into the new program, one
// with it does not.
TEST_F(DaemonTest, ExecKeepsSocketsWithoutCloexec) {
  pid_t client = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 120);
    int kept = Listen(5400);
    int gone = lk_sys_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_OR(kept >= 0 && gone >= 0, 121);
    std::string a = std::to_string(kept), b = std::to_string(gone);
    char* argv[] = {const_cast<char*>("tests/daemon/exec_probe"), a.data(), b.data(),
                    const_cast<char*>("5400"), nullptr};
    lk_exec(argv[0], argv, environ);
    perror("lk_exec");
    return 122;
  });
  EXPECT_EQ(WaitClient(client), 0);
}

// lkd killed outright: a call blocked in the kernel and later calls all
// fail (ENOTCONN) instead of hanging.
TEST_F(DaemonTest, ClientsFailFastWhenLkdDies) {
  ReadyPipe ready;
  pid_t client = ForkClient(lkd_->url(), [&]() {
    CHECK_OR(lk_init() == 0, 130);
    int l = Listen(5500);
    CHECK_OR(l >= 0, 131);
    std::thread watcher = SignalWhenBlocked(ready);
    absl::Time start = absl::Now();
    int rc = lk_sys_accept4(l, nullptr, nullptr, 0);
    watcher.join();
    CHECK_OR(rc < 0 && errno == ENOTCONN, 132);
    fprintf(stderr, "blocked accept failed %.0f ms after lkd was killed (or less)\n",
            absl::ToDoubleMilliseconds(absl::Now() - start));
    CHECK_OR(lk_sys_getpid() < 0 && errno == ENOTCONN, 133);
    CHECK_OR(lk_sys_socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == ENOTCONN, 134);
    return 0;
  });
  ASSERT_TRUE(ready.Wait()) << "accept never blocked";
  auto status = lkd_->StopWith(SIGKILL);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(WaitClient(client), 0);
}

// lk_init's errno is the one the failure had (carried through the
// transport, never guessed from message text), and lk_errmsg says why.
TEST_F(DaemonTest, AttachErrorsKeepTheirErrno) {
  pid_t client = ForkClient(lkd_->url(), [&]() {
    // lkd refuses a hand-over cookie it never gave: a protocol error.
    setenv("LKD_HANDOVER", "000102030405060708090a0b0c0d0e0f", 1);
    errno = 0;
    CHECK_OR(lk_init() == -1 && errno == EPROTO, 190);
    CHECK_OR(strstr(lk_errmsg(), "unknown or expired hand-over cookie") != nullptr, 191);
    // No socket where LKD_SERVER points: connect's own errno.
    setenv("LKD_SERVER", "unix:///proc/self/status/lkd.sock", 1);
    CHECK_OR(lk_init() == -1 && errno == ENOTDIR, 192);
    CHECK_OR(strstr(lk_errmsg(), "cannot reach lkd") != nullptr, 193);
    setenv("LKD_SERVER", "ftp://lkd", 1);
    CHECK_OR(lk_init() == -1 && errno == EINVAL, 194);
    return 0;
  });
  EXPECT_EQ(WaitClient(client), 0);
}

// The socket and file calls of the C API, through the real kernel.
TEST_F(DaemonTest, SocketAndFileApi) {
  pid_t client = ForkClient(lkd_->url(), []() {
    CHECK_OR(lk_init() == 0, 140);
    // Sockets: poll, epoll, FIONREAD/FIONBIO, fcntl, options, names,
    // readv/writev, sendmsg/recvmsg, dup/dup3, eventfd, shutdown.
    int l = Listen(5600);
    int c = Connect(5600);
    int s = lk_sys_accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    CHECK_OR(l >= 0 && c >= 0 && s >= 0, 141);
    sockaddr_in name = {};
    socklen_t len = sizeof(name);
    CHECK_OR(lk_sys_getpeername(s, reinterpret_cast<sockaddr*>(&name), &len) == 0, 142);
    sockaddr_in mine = {};
    len = sizeof(mine);
    CHECK_OR(lk_sys_getsockname(c, reinterpret_cast<sockaddr*>(&mine), &len) == 0, 143);
    CHECK_OR(name.sin_port == mine.sin_port, 144);
    int nodelay = 1, got = 0;
    CHECK_OR(lk_sys_setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay)) == 0, 145);
    len = sizeof(got);
    CHECK_OR(lk_sys_getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &got, &len) == 0 && got == 1, 146);
    char a[] = "abc", b[] = "defg";
    iovec out[2] = {{a, 3}, {b, 4}};
    CHECK_OR(lk_sys_writev(c, out, 2) == 7, 147);
    pollfd p = {s, POLLIN, 0};
    CHECK_OR(lk_sys_poll(&p, 1, 5000) == 1 && (p.revents & POLLIN), 148);
    int avail = 0;
    CHECK_OR(lk_sys_ioctl(s, FIONREAD, &avail) == 0 && avail == 7, 149);
    char x[3], y[4];
    iovec in[2] = {{x, 3}, {y, 4}};
    CHECK_OR(lk_sys_readv(s, in, 2) == 7, 150);
    CHECK_OR(memcmp(x, "abc", 3) == 0 && memcmp(y, "defg", 4) == 0, 151);
    msghdr m = {};
    m.msg_iov = out;
    m.msg_iovlen = 2;
    CHECK_OR(lk_sys_sendmsg(c, &m, 0) == 7, 152);
    msghdr r = {};
    r.msg_iov = in;
    r.msg_iovlen = 2;
    CHECK_OR(lk_sys_recvmsg(s, &r, MSG_WAITALL) == 7 && memcmp(y, "defg", 4) == 0, 153);
    int ep = lk_sys_epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = 0x1122334455667788ull;
    CHECK_OR(lk_sys_epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, 154);
    CHECK_OR(lk_sys_epoll_wait(ep, &ev, 1, 0) == 0, 155);
    CHECK_OR(lk_sys_send(c, "z", 1, 0) == 1, 156);
    epoll_event got_ev[4] = {};
    CHECK_OR(lk_sys_epoll_wait(ep, got_ev, 4, 5000) == 1, 157);
    CHECK_OR(got_ev[0].data.u64 == 0x1122334455667788ull, 158);
    int nb = 1;
    CHECK_OR(lk_sys_ioctl(s, FIONBIO, &nb) == 0, 159);
    char z[2];
    CHECK_OR(lk_sys_recv(s, z, 2, 0) == 1, 160);
    CHECK_OR(lk_sys_recv(s, z, 2, 0) < 0 && errno == EAGAIN, 161);
    CHECK_OR((lk_sys_fcntl(s, F_GETFL, 0) & O_NONBLOCK) != 0, 162);
    CHECK_OR((lk_sys_fcntl(s, F_GETFD, 0) & FD_CLOEXEC) != 0, 163);
    int d = lk_sys_dup(c);
    CHECK_OR(d > c && lk_sys_dup3(c, 100, O_CLOEXEC) == 100, 164);
    int efd = lk_sys_eventfd(3, 0);
    uint64_t ecount = 0;
    CHECK_OR(efd >= 0 && lk_sys_read(efd, &ecount, 8) == 8 && ecount == 3, 165);
    CHECK_OR(lk_sys_shutdown(c, SHUT_WR) == 0, 166);
    nb = 0;
    lk_sys_ioctl(s, FIONBIO, &nb);
    CHECK_OR(lk_sys_recv(s, z, 1, 0) == 0, 167);  // EOF after shutdown
    // 4 MiB one way in single calls: chunked through the 256 KiB channel.
    int c2 = Connect(5600);
    int s2 = lk_sys_accept4(l, nullptr, nullptr, 0);
    std::string big = Pattern(7, 4 << 20), back(4 << 20, '\0');
    std::thread writer([&]() { WriteAll(c2, big.data(), big.size()); });
    CHECK_OR(ReadAll(s2, back.data(), back.size()), 168);
    writer.join();
    CHECK_OR(back == big, 169);

    // Files (on the kernel's tmpfs at /tmp).
    CHECK_OR(lk_sys_mkdirat(AT_FDCWD, "/tmp/dir", 0755) == 0, 170);
    CHECK_OR(lk_sys_chdir("/tmp/dir") == 0, 171);
    char cwd[64];
    CHECK_OR(lk_sys_getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/tmp/dir") == 0, 172);
    int f = lk_sys_openat(AT_FDCWD, "file", O_RDWR | O_CREAT | O_TRUNC, 0640);
    CHECK_OR(f >= 0 && lk_sys_write(f, "hello world", 11) == 11, 173);
    CHECK_OR(lk_sys_pwrite(f, "W", 1, 6) == 1 && lk_sys_fsync(f) == 0, 174);
    char rb[16] = {};
    CHECK_OR(lk_sys_pread(f, rb, 11, 0) == 11 && memcmp(rb, "hello World", 11) == 0, 175);
    CHECK_OR(lk_sys_lseek(f, 0, SEEK_END) == 11, 176);
    CHECK_OR(lk_sys_ftruncate(f, 5) == 0, 177);
    struct stat st;
    CHECK_OR(lk_sys_fstat(f, &st) == 0 && st.st_size == 5 && (st.st_mode & 0777) == 0640 &&
                 S_ISREG(st.st_mode), 178);
    struct statx stx;
    CHECK_OR(lk_sys_statx(AT_FDCWD, "file", 0, STATX_SIZE, &stx) == 0 && stx.stx_size == 5, 179);
    CHECK_OR(lk_sys_renameat(AT_FDCWD, "file", AT_FDCWD, "/tmp/dir/renamed") == 0, 180);
    int dfd = lk_sys_openat(AT_FDCWD, "/tmp/dir", O_RDONLY | O_DIRECTORY, 0);
    char dents[1024];
    ssize_t dn = lk_sys_getdents64(dfd, dents, sizeof(dents));
    CHECK_OR(dn > 0 && memmem(dents, dn, "renamed", 7) != nullptr, 181);
    CHECK_OR(lk_sys_unlinkat(AT_FDCWD, "renamed", 0) == 0, 182);
    CHECK_OR(lk_sys_unlinkat(AT_FDCWD, "renamed", 0) < 0 && errno == ENOENT, 183);
    // Unknown and refused calls.
    CHECK_OR(lk_syscall(9999, 0, 0, 0, 0, 0, 0) < 0 && errno == ENOSYS, 184);
    CHECK_OR(lk_sys_close(12345) < 0 && errno == EBADF, 185);
    return 0;
  });
  EXPECT_EQ(WaitClient(client), 0);
}

}  // namespace
}  // namespace lkd::testing
