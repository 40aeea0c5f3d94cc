// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The client transport against a fake lkd that speaks schema/lkd.capnp on
// a Unix socket and serves no kernel: what the client sends on attach,
// how the session's errors reach a call as errno (OVERLOADED -> EAGAIN
// with the session alive, DISCONNECTED -> ENOTCONN, a channel of another
// layout -> EPROTO), and that a lost session fails calls at once.
#include "client/connection.h"

#include <capnp/rpc-twoparty.h>
#include <fcntl.h>
#include <kj/async-io.h>
#include <kj/io.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/errno_status.h"
#include "gtest/gtest.h"
#include "lkd/sysnr.h"
#include "schema/lkd.capnp.h"
#include "schema/lkd_channel.h"

namespace lkd::client {
namespace {

constexpr int kPid = 77;
constexpr uint32_t kDataOffset = 4096;
constexpr uint32_t kDataSize = 64 * 1024;

// How the fake answers, set before the client connects.
struct Behaviour {
  std::optional<kj::Exception::Type> attach_error;
  std::optional<kj::Exception::Type> open_error;
  uint32_t channel_version = LKD_CHANNEL_VERSION;
};

// What the fake saw.
struct Seen {
  std::mutex mu;
  uint32_t attach_version = 0;
  std::string cookie;
  std::atomic<int> opens{0};
};

kj::Exception Error(kj::Exception::Type type) {
  return kj::Exception(type, __FILE__, __LINE__, kj::str("fake lkd says no"));
}

// A channel capability carrying its shared memory.
class FakeChannel final : public rpc::Channel::Server {
 public:
  explicit FakeChannel(int fd) : fd_(fd) {}
  kj::Maybe<int> getFd() override { return fd_.get(); }

 private:
  kj::AutoCloseFd fd_;
};

class FakeSession final : public rpc::Session::Server {
 public:
  FakeSession(const Behaviour& behaviour, Seen& seen) : behaviour_(behaviour), seen_(seen) {}

  kj::Promise<void> openChannel(OpenChannelContext context) override {
    seen_.opens++;
    if (behaviour_.open_error) return Error(*behaviour_.open_error);
    int fd = memfd_create("fake-channel", MFD_CLOEXEC);
    KJ_REQUIRE(fd >= 0 && ftruncate(fd, kDataOffset + kDataSize) == 0);
    lkd_channel header{};
    header.magic = LKD_CHANNEL_MAGIC;
    header.version = behaviour_.channel_version;
    header.data_offset = kDataOffset;
    header.data_size = kDataSize;
    header.generation = 1;
    KJ_REQUIRE(pwrite(fd, &header, sizeof(header), 0) == sizeof(header));
    auto results = context.getResults();
    results.setChannel(kj::heap<FakeChannel>(fd));
    results.setGeneration(1);
    results.setDataOffset(kDataOffset);
    results.setDataSize(kDataSize);
    return kj::READY_NOW;
  }

 private:
  const Behaviour& behaviour_;
  Seen& seen_;
};

class FakeGate final : public rpc::Gate::Server {
 public:
  FakeGate(const Behaviour& behaviour, Seen& seen) : behaviour_(behaviour), seen_(seen) {}

  kj::Promise<void> attach(AttachContext context) override {
    auto params = context.getParams();
    {
      std::lock_guard lock(seen_.mu);
      seen_.attach_version = params.getVersion();
      auto cookie = params.getCookie();
      seen_.cookie.assign(reinterpret_cast<const char*>(cookie.begin()), cookie.size());
    }
    if (behaviour_.attach_error) return Error(*behaviour_.attach_error);
    context.getResults().setSession(kj::heap<FakeSession>(behaviour_, seen_));
    context.getResults().setPid(kPid);
    return kj::READY_NOW;
  }

 private:
  const Behaviour& behaviour_;
  Seen& seen_;
};

// Listens on a socket in TEST_TMPDIR and serves one connection on a
// thread of its own until the client leaves or Drop() cuts it.
class FakeLkd {
 public:
  explicit FakeLkd(Behaviour behaviour) : behaviour_(behaviour) {
    // Socket paths are limited to 107 bytes; TEST_TMPDIR can be longer.
    char dir[] = "/tmp/lkd-connection-test-XXXXXX";
    if (!mkdtemp(dir)) abort();
    dir_ = dir;
    path_ = dir_ + "/lkd.sock";
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 1) != 0 || pipe2(drop_, O_CLOEXEC) != 0)
      abort();
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeLkd() {
    shutdown(listen_fd_, SHUT_RDWR);  // an accept() that got no client returns
    Drop();
    thread_.join();
    close(listen_fd_);
    close(drop_[0]);
    close(drop_[1]);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }

  std::string url() const { return "unix://" + path_; }
  Seen& seen() { return seen_; }
  // Closes the session socket, as a killed lkd would.
  void Drop() {
    if (!dropped_.exchange(true)) (void)!write(drop_[1], "x", 1);
  }

 private:
  void Serve() {
    // A reply written after the client hung up must fail with EPIPE (lkd
    // ignores SIGPIPE), not kill the test (exit 141, seen under load).
    sigset_t sigpipe;
    sigemptyset(&sigpipe);
    sigaddset(&sigpipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigpipe, nullptr);
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    auto io = kj::setupAsyncIo();
    auto stream = io.lowLevelProvider->wrapUnixSocketFd(
        fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    auto drop = io.lowLevelProvider->wrapInputFd(drop_[0]);
    capnp::TwoPartyServer server(kj::heap<FakeGate>(behaviour_, seen_));
    char byte;
    server.accept(*stream, 4)
        .exclusiveJoin(drop->tryRead(&byte, 1, 1).ignoreResult())
        .wait(io.waitScope);
  }

  const Behaviour behaviour_;
  Seen seen_;
  std::string dir_, path_;
  int listen_fd_ = -1;
  int drop_[2] = {-1, -1};
  std::atomic<bool> dropped_{false};
  std::thread thread_;
};

long Getpid(Connection& c) {
  const long args[6] = {};
  return c.Call(LKD_NR_getpid, args);
}

TEST(SocketPathFromUrl, AcceptsUnixUrlsAndAbsolutePaths) {
  EXPECT_EQ(*SocketPathFromUrl("unix:///run/x.sock"), "/run/x.sock");
  EXPECT_EQ(*SocketPathFromUrl("/run/x.sock"), "/run/x.sock");
  EXPECT_EQ(SocketPathFromUrl("tcp://1.2.3.4:5").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SocketPathFromUrl("unix://relative").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Connection, NoServerIsAnErrnoNotAHang) {
  auto c = Connection::Connect("unix:///tmp/lkd-connection-test-none/nobody.sock");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(ErrnoOf(c.status()), ENOENT) << c.status();
}

TEST(Connection, AttachSendsVersionAndCookieAndTakesThePid) {
  FakeLkd lkd({});
  auto c = Connection::Connect(lkd.url(), "handover-cookie");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->pid(), kPid);
  EXPECT_TRUE((*c)->connected());
  std::lock_guard lock(lkd.seen().mu);
  EXPECT_EQ(lkd.seen().attach_version, rpc::PROTOCOL_VERSION);
  EXPECT_EQ(lkd.seen().cookie, "handover-cookie");
}

TEST(Connection, RefusedAttachIsEproto) {
  FakeLkd lkd({.attach_error = kj::Exception::Type::FAILED});
  auto c = Connection::Connect(lkd.url());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(ErrnoOf(c.status()), EPROTO) << c.status();
}

TEST(Connection, UnknownCallIsEnosysWithoutAChannel) {
  FakeLkd lkd({});
  auto c = Connection::Connect(lkd.url());
  ASSERT_TRUE(c.ok()) << c.status();
  const long args[6] = {};
  EXPECT_EQ((*c)->Call(100000, args), -ENOSYS);
  EXPECT_EQ(lkd.seen().opens.load(), 0);
}

TEST(Connection, OverloadedChannelIsEagainAndTheNextCallTriesAgain) {
  FakeLkd lkd({.open_error = kj::Exception::Type::OVERLOADED});
  auto c = Connection::Connect(lkd.url());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Getpid(**c), -EAGAIN);
  EXPECT_TRUE((*c)->connected());
  EXPECT_EQ(Getpid(**c), -EAGAIN);
  EXPECT_EQ(lkd.seen().opens.load(), 2);
}

TEST(Connection, DisconnectedChannelIsEnotconn) {
  FakeLkd lkd({.open_error = kj::Exception::Type::DISCONNECTED});
  auto c = Connection::Connect(lkd.url());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Getpid(**c), -ENOTCONN);
}

TEST(Connection, ChannelOfAnotherLayoutVersionIsRefused) {
  FakeLkd lkd({.channel_version = LKD_CHANNEL_VERSION + 1});
  auto c = Connection::Connect(lkd.url());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Getpid(**c), -EPROTO);
  EXPECT_EQ(lkd.seen().opens.load(), 1);
}

TEST(Connection, LostSessionFailsCallsWithEnotconn) {
  FakeLkd lkd({});
  auto c = Connection::Connect(lkd.url());
  ASSERT_TRUE(c.ok()) << c.status();
  lkd.Drop();
  // The client's RPC thread notices the closed socket; polled, with a
  // deadline that only a hang reaches.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((*c)->connected() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_FALSE((*c)->connected());
  EXPECT_EQ(Getpid(**c), -ENOTCONN);
  EXPECT_EQ(lkd.seen().opens.load(), 0);
}

}  // namespace
}  // namespace lkd::client
