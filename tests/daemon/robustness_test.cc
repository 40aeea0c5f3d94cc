// SPDX-License-Identifier: GPL-2.0
// Bad input and shutdown: malformed channel entries and garbage on the
// session socket hurt only the client that sent them; SIGTERM under load
// ends every client's connections and leaves the disk clean; startup
// errors are one clear message and a non-zero exit.
#include <capnp/rpc-twoparty.h>
#include <fcntl.h>
#include <kj/async-io.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "lkd/sysnr.h"
#include "rumpclient/lkclient.h"
#include "schema/lkd.capnp.h"
#include "schema/lkd_channel.h"
#include "kernel/testing/loopback.h"
#include "tests/daemon/lkd_test.h"

namespace lkd::testing {
namespace {

int RunShell(const std::string& command, std::string* output) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  output->clear();
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A client that speaks the protocol by hand: attach, one channel, raw
// requests written straight into shared memory.
class RawClient {
 public:
  explicit RawClient(const std::string& socket_path, uint32_t version = rpc::PROTOCOL_VERSION,
                     const std::string& cookie = "")
      : io_(kj::setupAsyncIo()) {
    int fd = ConnectUnix(socket_path);
    stream_ = io_.lowLevelProvider->wrapUnixSocketFd(fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    client_ = kj::heap<capnp::TwoPartyClient>(*stream_, 2);
    auto req = client_->bootstrap().castAs<rpc::Gate>().attachRequest();
    req.setVersion(version);
    req.setCookie(kj::arrayPtr(reinterpret_cast<const kj::byte*>(cookie.data()), cookie.size()));
    try {
      session_ = req.send().wait(io_.waitScope).getSession();
    } catch (const kj::Exception& e) {
      error_ = e.getDescription().cStr();
    }
  }
  const std::string& error() const { return error_; }

  bool OpenChannel() {
    auto resp = session_.openChannelRequest().send().wait(io_.waitScope);
    channel_ = resp.getChannel();
    generation_ = resp.getGeneration();
    data_offset_ = resp.getDataOffset();
    data_size_ = resp.getDataSize();
    KJ_IF_MAYBE(fd, channel_.getFd().wait(io_.waitScope)) {
      void* base = mmap(nullptr, data_offset_ + data_size_, PROT_READ | PROT_WRITE,
                        MAP_SHARED, *fd, 0);
      if (base == MAP_FAILED) return false;
      ctl_ = static_cast<lkd_channel*>(base);
      data_ = static_cast<uint8_t*>(base) + data_offset_;
      return true;
    }
    return false;
  }

  // Sends `req` as is; returns the response's result.
  int64_t Call(const lkd_channel_request& req) {
    __atomic_store_n(&ctl_->client_sleeping, 1, __ATOMIC_SEQ_CST);  // always wake us
    const uint32_t seq = Send(req);
    while (__atomic_load_n(&ctl_->resp_seq, __ATOMIC_ACQUIRE) != seq) {
      timespec ts = {0, 1000000};
      syscall(SYS_futex, &ctl_->resp_seq, FUTEX_WAIT, seq - 1, &ts, nullptr, 0);
    }
    return ctl_->resp.result;
  }

  // Sends `req` and returns at once: the caller rings again or waits.
  uint32_t Send(const lkd_channel_request& req) {
    lkd_channel_put_request(ctl_, &req);
    uint32_t seq = ++seq_;
    __atomic_store_n(&ctl_->req_seq, seq, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &ctl_->req_seq, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    return seq;
  }
  // Waits until the answer to `seq` (or a later one) is published; false
  // after `deadline`.
  bool WaitAnswer(uint32_t seq, absl::Duration deadline) {
    const absl::Time end = absl::Now() + deadline;
    while (static_cast<int32_t>(__atomic_load_n(&ctl_->resp_seq, __ATOMIC_ACQUIRE) - seq) < 0) {
      if (absl::Now() > end) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }
  uint32_t resp_seq() const { return __atomic_load_n(&ctl_->resp_seq, __ATOMIC_ACQUIRE); }
  // Waits until lkd marks request `seq` as blocked in the kernel.
  bool WaitBlocked(uint32_t seq, absl::Duration deadline) {
    const absl::Time end = absl::Now() + deadline;
    while (__atomic_load_n(&ctl_->blocked_seq, __ATOMIC_ACQUIRE) != seq) {
      if (absl::Now() > end) return false;
      absl::SleepFor(absl::Microseconds(100));
    }
    return true;
  }
  int64_t result() const { return ctl_->resp.result; }

  // Opens one more channel and keeps it; "" or the error.
  std::string HoldAnotherChannel() {
    try {
      held_.push_back(session_.openChannelRequest().send().wait(io_.waitScope).getChannel());
      return "";
    } catch (const kj::Exception& e) {
      return e.getDescription().cStr();
    }
  }
  void DropHeldChannels() { held_.clear(); }

  // Session.fork: the hand-over cookie of a copy of this kernel process.
  std::string Fork() {
    auto resp = session_.forkRequest().send().wait(io_.waitScope);
    auto c = resp.getCookie();
    return std::string(reinterpret_cast<const char*>(c.begin()), c.size());
  }

  lkd_channel_request Request(uint32_t nr) const {
    lkd_channel_request r = {};
    r.generation = generation_;
    r.nr = nr;
    return r;
  }
  uint32_t data_size() const { return data_size_; }
  uint8_t* data() const { return data_; }

 private:
  kj::AsyncIoContext io_;
  kj::Own<kj::AsyncCapabilityStream> stream_;
  kj::Own<capnp::TwoPartyClient> client_;
  rpc::Session::Client session_ = nullptr;
  rpc::Channel::Client channel_ = nullptr;
  std::vector<rpc::Channel::Client> held_;
  std::string error_;
  lkd_channel* ctl_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t generation_ = 0, data_offset_ = 0, data_size_ = 0, seq_ = 0;
};

class RobustnessTest : public LkdTest {
 protected:
  // A well-behaved client keeps working: a TCP exchange with itself.
  int BystanderWorks() {
    pid_t c = ForkClient(lkd_->url(), []() {
      if (lk_init() < 0) return 1;
      int l = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a = Ipv4Loopback(0);
      socklen_t len = sizeof(a);
      if (lk_sys_bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 ||
          lk_sys_listen(l, 1) < 0 ||
          lk_sys_getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) < 0)
        return 2;
      int c = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
      if (lk_sys_connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) return 3;
      int s = lk_sys_accept(l, nullptr, nullptr);
      char buf[4] = {};
      if (lk_sys_write(c, "ping", 4) != 4 || lk_sys_read(s, buf, 4) != 4) return 4;
      return memcmp(buf, "ping", 4) == 0 ? 0 : 5;
    });
    return WaitClient(c);
  }
};

TEST_F(RobustnessTest, MalformedChannelEntriesFailOnlyThatCall) {
  RawClient raw(lkd_->socket_path());
  ASSERT_EQ(raw.error(), "");
  ASSERT_TRUE(raw.OpenChannel());
  const uint32_t size = raw.data_size();

  EXPECT_GT(raw.Call(raw.Request(LKD_NR_getpid)), 0);
  EXPECT_EQ(raw.Call(raw.Request(9999)), -ENOSYS);
  EXPECT_EQ(raw.Call(raw.Request(LKD_NR_execve)), -ENOSYS);  // not served

  auto stale = raw.Request(LKD_NR_getpid);
  stale.generation ^= 1;
  EXPECT_EQ(raw.Call(stale), -ESTALE);

  auto outside = raw.Request(LKD_NR_getcwd);  // buffer past the data area
  outside.args[0] = size - 8;
  outside.lens[0] = 64;
  outside.args[1] = 64;
  EXPECT_EQ(raw.Call(outside), -EFAULT);

  auto wrap = raw.Request(LKD_NR_read);  // offset + length wraps around
  wrap.args[0] = 0;
  wrap.args[1] = UINT64_MAX - 4;
  wrap.lens[1] = 16;
  wrap.args[2] = 16;
  EXPECT_EQ(raw.Call(wrap), -EFAULT);

  auto small = raw.Request(LKD_NR_write);  // count larger than the region
  small.args[0] = 1;
  small.args[1] = 0;
  small.lens[1] = 4;
  small.args[2] = 4096;
  EXPECT_EQ(raw.Call(small), -EINVAL);

  auto no_nul = raw.Request(LKD_NR_chdir);  // path without its NUL
  memset(raw.data(), 'x', 32);
  no_nul.args[0] = 0;
  no_nul.lens[0] = 32;
  EXPECT_EQ(raw.Call(no_nul), -EFAULT);

  // Random entries: every one gets an answer, lkd stays up.
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; i++) {
    lkd_channel_request r;
    for (auto& w : r.args) w = rng() % 4 == 0 ? rng() : rng() % (size + 64);
    for (auto& l : r.lens) l = static_cast<uint32_t>(rng() % 2 ? rng() : rng() % 512);
    r.generation = rng() % 8 ? raw.Request(0).generation : static_cast<uint32_t>(rng());
    r.nr = static_cast<uint32_t>(rng() % 8 ? rng() % 300 : rng());
    // Not calls that would block or end the test's own process.
    if (r.nr == LKD_NR_read || r.nr == LKD_NR_recvfrom || r.nr == LKD_NR_accept4 ||
        r.nr == LKD_NR_ppoll || r.nr == LKD_NR_epoll_pwait || r.nr == LKD_NR_pread64)
      continue;
    r.flags = 0;
    raw.Call(r);
  }
  EXPECT_GT(raw.Call(raw.Request(LKD_NR_getpid)), 0);
  EXPECT_EQ(BystanderWorks(), 0);
}

// A client that rings again (with other requests) while its call is still
// blocked in the kernel breaks the protocol: lkd must not take a second
// call for the channel (the kernel still uses the first one's buffers) nor
// stop serving others; the last request rung is taken after the blocked
// call's answer.
TEST_F(RobustnessTest, RingingDuringABlockedCallWaitsForItsAnswer) {
  RawClient raw(lkd_->socket_path());
  ASSERT_EQ(raw.error(), "");
  ASSERT_TRUE(raw.OpenChannel());
  // ppoll on no fds with a 3 s timeout: blocks, then answers 0.
  auto sleep = raw.Request(LKD_NR_ppoll);
  struct timespec ts = {3, 0};
  memcpy(raw.data() + 64, &ts, sizeof(ts));
  sleep.args[0] = 0;
  sleep.lens[0] = 8;
  sleep.args[1] = 0;
  sleep.args[2] = 64;
  sleep.lens[2] = 16;
  sleep.args[3] = LKD_CHANNEL_NULL;
  sleep.args[4] = 8;
  const absl::Time sent = absl::Now();
  const uint32_t first = raw.Send(sleep);
  // Rung too early, a request overwrites the one not yet taken: wait until
  // lkd says the ppoll is in the kernel (lkd_channel.blocked_seq).
  ASSERT_TRUE(raw.WaitBlocked(first, absl::Seconds(60)));
  uint32_t last = first;
  for (int i = 0; i < 1000; i++) {
    last = raw.Send(raw.Request(i % 2 ? LKD_NR_getpid : 9999));
  }
  EXPECT_EQ(BystanderWorks(), 0);  // lkd serves others meanwhile
  // The last request written (getpid, i = 999) is answered, and only once
  // the ppoll's 3 s are over (a lower bound: no timing assumption).
  ASSERT_TRUE(raw.WaitAnswer(last, absl::Seconds(60)));
  EXPECT_GE(absl::Now() - sent, absl::Seconds(3));
  EXPECT_EQ(raw.resp_seq(), last);
  EXPECT_GT(raw.result(), 0);
  EXPECT_GT(raw.Call(raw.Request(LKD_NR_getpid)), 0);
}

TEST_F(RobustnessTest, GarbageOnTheSessionSocketDropsOnlyThatConnection) {
  int fd = ConnectUnix(lkd_->socket_path());
  ASSERT_GE(fd, 0);
  std::mt19937 rng(7);
  std::string junk(65536, '\0');
  for (auto& c : junk) c = static_cast<char>(rng());
  // A first segment size that is absurd: the server must hang up.
  (void)!send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
  }
  // Closed with our junk unread: EOF or a reset.
  EXPECT_TRUE(n == 0 || errno == ECONNRESET) << "lkd should close the connection: "
                                             << strerror(errno);
  close(fd);
  EXPECT_EQ(kill(lkd_->pid(), 0), 0) << "lkd died";
  EXPECT_EQ(BystanderWorks(), 0);
}

TEST_F(RobustnessTest, ProtocolVersionIsChecked) {
  RawClient raw(lkd_->socket_path(), 99);
  EXPECT_NE(raw.error().find("protocol version 99"), std::string::npos) << raw.error();
  EXPECT_NE(raw.error().find("lkd speaks 1"), std::string::npos) << raw.error();
  EXPECT_EQ(BystanderWorks(), 0);
}

TEST_F(RobustnessTest, HandoverCookiesAreOneTimeAndChecked) {
  // (One RawClient at a time: each owns this thread's kj event loop.)
  {
    RawClient forger(lkd_->socket_path(), rpc::PROTOCOL_VERSION, "0123456789abcdef");
    EXPECT_NE(forger.error().find("unknown or expired hand-over cookie"), std::string::npos)
        << forger.error();
  }
  // A real fork cookie works once, and only for the same user.
  std::string cookie;
  {
    RawClient parent(lkd_->socket_path());
    ASSERT_EQ(parent.error(), "");
    cookie = parent.Fork();
  }
  ASSERT_EQ(cookie.size(), 16u);
  pid_t other_user = ForkClient(lkd_->url(), [&]() {
    if (setgid(65534) != 0 || setuid(65534) != 0) return 1;
    RawClient thief(lkd_->socket_path(), rpc::PROTOCOL_VERSION, cookie);
    return thief.error().find("belongs to another user") != std::string::npos ? 0 : 2;
  });
  EXPECT_EQ(WaitClient(other_user), 0);
  {
    RawClient child(lkd_->socket_path(), rpc::PROTOCOL_VERSION, cookie);
    EXPECT_EQ(child.error(), "");
  }
  {
    RawClient again(lkd_->socket_path(), rpc::PROTOCOL_VERSION, cookie);
    EXPECT_NE(again.error().find("unknown or expired"), std::string::npos) << again.error();
  }
  EXPECT_EQ(BystanderWorks(), 0);
}

TEST(Limits, ChannelsPerClientAreBounded) {
  auto d = LkdDaemon::Start({"--max_client_threads", "4"});
  ASSERT_TRUE(d.ok()) << d.status();
  RawClient raw((*d)->socket_path());
  ASSERT_EQ(raw.error(), "");
  for (int i = 0; i < 4; i++) ASSERT_EQ(raw.HoldAnotherChannel(), "") << i;
  EXPECT_NE(raw.HoldAnotherChannel().find("too many channels"), std::string::npos);
  raw.DropHeldChannels();
  // Dropping is asynchronous on the server: one round trip later it counts.
  std::string err;
  for (int i = 0; i < 100; i++) {
    err = raw.HoldAnotherChannel();
    if (err.empty()) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(err, "");
}

// A thread over --max_client_threads is told to try again (EAGAIN), not
// that the session is gone: the session and its other threads go on.
TEST(Limits, ThreadOverTheLimitGetsEagainOthersWork) {
  auto d = LkdDaemon::Start({"--max_client_threads", "2"});
  ASSERT_TRUE(d.ok()) << d.status();
  pid_t client = ForkClient((*d)->url(), []() {
    CHECK_OR(lk_init() == 0, 10);
    const long pid = lk_sys_getpid();  // channel 1
    CHECK_OR(pid > 0, 11);
    // The second thread holds channel 2 until told to call again.
    std::promise<long> first, second;
    std::promise<void> again;
    std::thread holder([&]() {
      first.set_value(lk_sys_getpid());
      again.get_future().wait();
      second.set_value(lk_sys_getpid());
    });
    CHECK_OR(first.get_future().get() == pid, 12);
    int errors[2] = {0, 0};
    long results[2] = {0, 0};
    std::thread extra([&]() {
      for (int i = 0; i < 2; i++) {  // still over the limit the second time
        errno = 0;
        results[i] = lk_sys_getpid();
        errors[i] = errno;
      }
    });
    extra.join();
    CHECK_OR(lk_sys_getpid() == pid, 13);
    again.set_value();
    std::future<long> holder_again = second.get_future();
    const long held = holder_again.get();
    holder.join();
    CHECK_OR(held == pid, 14);
    for (int i = 0; i < 2; i++) {
      errno = errors[i];
      CHECK_OR(results[i] == -1 && errors[i] == EAGAIN, 15 + i);
    }
    return 0;
  });
  EXPECT_EQ(WaitClient(client), 0) << (*d)->Log();
}

// What the load clients of the SIGTERM test did, in memory shared across
// fork: each counts what the kernel accepted from it, so the test can wait
// for real load before the signal and check the disk against it after.
struct LoadProgress {
  static constexpr int kStreams = 4;
  std::atomic<long> sent[kStreams];
  std::atomic<long> received;
  std::atomic<long> files_done;  // files written in full and closed
};

// The files in the root of an ext4 image and their sizes, read with
// debugfs (not with the kernel that wrote them).
std::map<std::string, long> FilesInImage(const std::string& image, std::string* out) {
  std::map<std::string, long> files;
  if (RunShell("debugfs -R 'ls -p /' " + image, out) != 0) return files;
  // Lines of the form /inode/mode/uid/gid/name/size/.
  for (absl::string_view line : absl::StrSplit(*out, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, '/');
    long size;
    if (f.size() == 8 && absl::SimpleAtoi(f[6], &size)) files[f[5]] = size;
  }
  return files;
}

TEST(Shutdown, SigtermUnderLoadEndsConnectionsAndLeavesDiskClean) {
  constexpr int kFiles = 50;
  constexpr long kFileSize = 16 * 4096;
  std::string out;
  const std::string image = absl::StrCat(getenv("TEST_TMPDIR"), "/data.img");
  ASSERT_EQ(RunShell("truncate -s 64M " + image + " && mkfs.ext4 -q -F " + image, &out), 0)
      << out;
  auto d = LkdDaemon::Start({"--disk", image + ",ext4,/data"});
  ASSERT_TRUE(d.ok()) << d.status();
  auto& lkd = *d;
  void* shared = mmap(nullptr, sizeof(LoadProgress), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  auto* progress = new (shared) LoadProgress{};

  // One server client, four streaming clients, one file writer.
  ReadyPipe listening;
  pid_t server = ForkClient(lkd->url(), [&]() {
    if (lk_init() < 0) return 1;
    int l = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = Ipv4Loopback(5700);
    if (lk_sys_bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 ||
        lk_sys_listen(l, 16) < 0)
      return 2;
    listening.Signal();
    std::vector<std::thread> readers;
    for (int i = 0; i < LoadProgress::kStreams; i++) {
      int s = lk_sys_accept(l, nullptr, nullptr);
      if (s < 0) break;
      readers.emplace_back([s, progress]() {
        char buf[65536];
        long n;
        while ((n = lk_sys_read(s, buf, sizeof(buf))) > 0) progress->received += n;
      });
    }
    for (auto& t : readers) t.join();
    return 0;  // every connection ended
  });
  ASSERT_TRUE(listening.Wait());
  std::vector<pid_t> streams;
  for (int i = 0; i < LoadProgress::kStreams; i++) {
    streams.push_back(ForkClient(lkd->url(), [i, progress]() {
      signal(SIGPIPE, SIG_IGN);
      if (lk_init() < 0) return 1;
      int c = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a = Ipv4Loopback(5700);
      if (lk_sys_connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) return 2;
      std::string buf(1 << 16, 'x');
      long n;
      while ((n = lk_sys_write(c, buf.data(), buf.size())) > 0) progress->sent[i] += n;
      // The connection ended: by a reset/EOF from the server side or
      // because lkd is gone.
      if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) return 0;
      fprintf(stderr, "stream client: write ended with %s\n", strerror(errno));
      return 3;
    }));
  }
  pid_t writer = ForkClient(lkd->url(), [progress]() {
    if (lk_init() < 0) return 1;
    std::string block(4096, 'd');
    for (int i = 0;; i++) {
      int f = lk_sys_openat(AT_FDCWD, absl::StrCat("/data/f", i % kFiles).c_str(),
                            O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (f < 0) return errno == ENOTCONN ? 0 : 2;
      for (long k = 0; k < kFileSize / 4096; k++)
        if (lk_sys_write(f, block.data(), block.size()) < 0) {
          if (errno == ENOTCONN) return 0;
          fprintf(stderr, "file writer: write ended with %s\n", strerror(errno));
          return 3;
        }
      if (lk_sys_close(f) < 0) return errno == ENOTCONN ? 0 : 4;
      progress->files_done++;
    }
  });
  // Under load: every stream sent a MiB, the server read one, and every
  // file was written once.
  auto loaded = [&]() {
    for (auto& s : progress->sent)
      if (s < (1 << 20)) return false;
    return progress->received >= (1 << 20) && progress->files_done >= kFiles;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!loaded() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE(loaded()) << "no load within 60 s: files " << progress->files_done
                        << ", bytes received " << progress->received;
  auto status = lkd->StopWith(SIGTERM);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "wait status " << *status << "\n" << lkd->Log();
  for (pid_t s : streams) EXPECT_EQ(WaitClient(s), 0);
  EXPECT_EQ(WaitClient(server), 0);
  EXPECT_EQ(WaitClient(writer), 0);
  long sent = 0;
  for (auto& s : progress->sent) sent += s;
  EXPECT_GE(progress->received, 1 << 20);
  // A write the kernel took just before the stop may have lost its answer
  // (and so is not in `sent`): at most one buffer per stream.
  EXPECT_LE(progress->received, sent + LoadProgress::kStreams * (1 << 16));
  EXPECT_EQ(RunShell("e2fsck -fn " + image, &out), 0) << out;

  // Every file the writer closed is on the disk in full; the one it was
  // writing when lkd stopped holds at most one file's worth.
  const long done = progress->files_done;
  std::map<std::string, long> files = FilesInImage(image, &out);
  for (int i = 0; i < kFiles; i++) {
    const std::string name = absl::StrCat("f", i);
    ASSERT_TRUE(files.count(name)) << name << " missing after " << done << " files:\n" << out;
    if (i == done % kFiles)
      EXPECT_LE(files[name], kFileSize) << name;
    else
      EXPECT_EQ(files[name], kFileSize) << name << " (" << done << " files written)";
  }
  EXPECT_EQ(RunShell("debugfs -R 'cat /f" + std::to_string((done + 1) % kFiles) + "' " + image +
                         " 2>/dev/null | tr -d d | wc -c",
                     &out),
            0);
  EXPECT_EQ(absl::StripAsciiWhitespace(out), "0") << "file content is not the writer's";
  munmap(shared, sizeof(LoadProgress));
}

TEST(Startup, ErrorsAreOneClearMessage) {
  std::string out;
  // A socket path of this run's own: copies of the test may run at once.
  char dir[] = "/tmp/lkd-startup-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string listen = std::string("--listen unix://") + dir + "/lkd.sock ";
  EXPECT_NE(RunShell("server/lkd --no-such-flag", &out), 0);
  EXPECT_NE(out.find("no-such-flag"), std::string::npos) << out;
  EXPECT_NE(RunShell("server/lkd " + listen + "--net raw:nosuchif0",
                     &out),
            0);
  EXPECT_NE(out.find("nosuchif0"), std::string::npos) << out;
  EXPECT_NE(RunShell("server/lkd " + listen + "--disk /nonexistent.img,ext4,/data",
                     &out),
            0);
  EXPECT_NE(out.find("/nonexistent.img"), std::string::npos) << out;
  EXPECT_NE(RunShell("server/lkd " + listen + "--dispatch_cpus=1-x", &out), 0);
  EXPECT_NE(out.find("--dispatch_cpus: bad CPU list \"1-x\""), std::string::npos) << out;
  EXPECT_NE(RunShell("server/lkd " + listen + "--dispatch_cpus=1000", &out), 0);
  EXPECT_NE(out.find("CPU 1000 is not one lkd may run on"), std::string::npos) << out;
  EXPECT_NE(RunShell("server/lkd --listen tcp://1.2.3.4:5", &out), 0);
  EXPECT_NE(out.find("unix://"), std::string::npos) << out;
  // A second lkd on a socket that is being served.
  auto first = LkdDaemon::Start();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_NE(RunShell("server/lkd --listen " + (*first)->url(), &out), 0);
  EXPECT_NE(out.find("another lkd is serving"), std::string::npos) << out;
  rmdir(dir);
}

// Asked-for help is a success; a stray word is an error like any other.
TEST(Startup, HelpSucceedsAndAPositionalArgumentFails) {
  char dir[] = "/tmp/lkd-startup-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string out;
  EXPECT_EQ(RunShell("(server/lkd --help 2>/dev/null)", &out), 0);
  EXPECT_NE(out.find("--net"), std::string::npos) << out;
  EXPECT_NE(out.find("--listen"), std::string::npos) << out;
  // Only stderr is kept: (... 2>&1 >/dev/null).
  EXPECT_EQ(RunShell("(server/lkd --listen unix://" + std::string(dir) + "/lkd.sock stray 2>&1 >/dev/null)",
                     &out),
            1);
  EXPECT_EQ(out, "lkd: unexpected argument 'stray' (see --help)\n");
  EXPECT_EQ(RunShell("(server/lkd -- --net 2>&1 >/dev/null)", &out), 1);
  EXPECT_EQ(out, "lkd: unexpected argument '--net' (see --help)\n");
  rmdir(dir);
}

}  // namespace
}  // namespace lkd::testing
