// SPDX-License-Identifier: GPL-2.0
// The session server on its own: one connection at a time served with
// ServeConnectedSocket on a thread of the test, a Cap'n Proto client on
// the other end of a socket pair, the real library kernel underneath.
#include "server/session/session_server.h"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "lkd/kernel.h"
#include "lkd/sysnr.h"
#include "schema/lkd.capnp.h"

namespace lkd::server {
namespace {

// A server thread serving one end of a socket pair; the test's thread is
// the client on the other end.
class OneConnection {
 public:
  explicit OneConnection(SessionServerOptions options = {}) : server_(std::move(options)) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client_fd_ = sv[1];
    thread_ = std::thread([this, fd = sv[0]] { served_ = server_.ServeConnectedSocket(fd); });
  }
  ~OneConnection() { HangUp().IgnoreError(); }

  int client_fd() const { return client_fd_; }
  // Closes the client's end and waits for the server to finish with it.
  absl::Status HangUp() {
    if (client_fd_ >= 0) close(client_fd_);
    client_fd_ = -1;
    if (thread_.joinable()) thread_.join();
    return served_;
  }

 private:
  SessionServer server_;
  int client_fd_ = -1;
  std::thread thread_;
  absl::Status served_;
};

// A Cap'n Proto client of the Gate on `fd` (not owned).
class Client {
 public:
  explicit Client(int fd)
      : io_(kj::setupAsyncIo()),
        stream_(io_.lowLevelProvider->wrapUnixSocketFd(fd)),
        rpc_(*stream_, 1) {}
  rpc::Gate::Client gate() { return rpc_.bootstrap().castAs<rpc::Gate>(); }
  kj::WaitScope& wait() { return io_.waitScope; }

 private:
  kj::AsyncIoContext io_;
  kj::Own<kj::AsyncCapabilityStream> stream_;
  capnp::TwoPartyClient rpc_;
};

// The kernel process exists (its leader can be looked up).
bool ProcessExists(int pid) { return lkd_proc_fatal_signal(pid) != -ESRCH; }

// What a failed request threw: its type and text.
struct Refusal {
  kj::Exception::Type type;
  std::string text;
};
Refusal Failure(kj::Function<void()> request) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] { request(); })) {
    return {e->getType(), e->getDescription().cStr()};
  }
  return {kj::Exception::Type::UNIMPLEMENTED, "the request did not fail"};
}

TEST(SessionServer, AttachOpenChannelAndDetachEndTheKernelProcess) {
  OneConnection conn;
  Client client(conn.client_fd());
  auto req = client.gate().attachRequest();
  req.setVersion(rpc::PROTOCOL_VERSION);
  auto attached = req.send().wait(client.wait());
  const int pid = attached.getPid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(ProcessExists(pid));
  auto session = attached.getSession();
  auto opened = session.openChannelRequest().send().wait(client.wait());
  EXPECT_EQ(opened.getDataSize(), LKD_CHANNEL_DEFAULT_DATA_SIZE);
  EXPECT_GE(opened.getDataOffset(), sizeof(lkd_channel));
  KJ_IF_MAYBE(fd, opened.getChannel().getFd().wait(client.wait())) {
    EXPECT_GE(*fd, 0) << "the channel's memfd";
  } else {
    ADD_FAILURE() << "the channel came without its memory";
  }
  session.detachRequest().send().wait(client.wait());
  EXPECT_FALSE(ProcessExists(pid)) << "detach ends the kernel process at once";
}

TEST(SessionServer, HangUpEndsTheKernelProcess) {
  OneConnection conn;
  int pid;
  {
    Client client(conn.client_fd());
    auto req = client.gate().attachRequest();
    req.setVersion(rpc::PROTOCOL_VERSION);
    pid = req.send().wait(client.wait()).getPid();
    ASSERT_TRUE(ProcessExists(pid));
  }
  EXPECT_TRUE(conn.HangUp().ok());
  EXPECT_FALSE(ProcessExists(pid));
}

TEST(SessionServer, RefusalsSayWhyWithTheRightType) {
  SessionServerOptions options;
  options.max_channels_per_session = 2;
  OneConnection conn(options);
  Client client(conn.client_fd());

  auto old_version = client.gate().attachRequest();
  old_version.setVersion(rpc::PROTOCOL_VERSION + 1);
  Refusal e = Failure([&] { old_version.send().wait(client.wait()); });
  EXPECT_EQ(e.type, kj::Exception::Type::FAILED);
  EXPECT_NE(e.text.find("protocol version"), std::string::npos)
      << e.text;

  auto bad_cookie = client.gate().attachRequest();
  bad_cookie.setVersion(rpc::PROTOCOL_VERSION);
  bad_cookie.setCookie(kj::StringPtr("not a cookie").asBytes());
  e = Failure([&] { bad_cookie.send().wait(client.wait()); });
  EXPECT_EQ(e.type, kj::Exception::Type::FAILED);
  EXPECT_NE(e.text.find("cookie"), std::string::npos);

  auto req = client.gate().attachRequest();
  req.setVersion(rpc::PROTOCOL_VERSION);
  auto session = req.send().wait(client.wait()).getSession();
  auto again = client.gate().attachRequest();
  again.setVersion(rpc::PROTOCOL_VERSION);
  e = Failure([&] { again.send().wait(client.wait()); });
  EXPECT_NE(e.text.find("attached already"), std::string::npos);

  // Two channels are the limit; the third is a limit reached (EAGAIN for
  // the client), and the session goes on.
  auto one = session.openChannelRequest().send().wait(client.wait()).getChannel();
  auto two = session.openChannelRequest().send().wait(client.wait()).getChannel();
  e = Failure([&] { session.openChannelRequest().send().wait(client.wait()); });
  EXPECT_EQ(e.type, kj::Exception::Type::OVERLOADED) << e.text;
  auto forked = session.forkRequest().send().wait(client.wait());
  EXPECT_GT(forked.getChildPid(), 0);
  EXPECT_EQ(forked.getCookie().size(), 16u);

  session.detachRequest().send().wait(client.wait());
  e = Failure([&] { session.forkRequest().send().wait(client.wait()); });
  EXPECT_EQ(e.type, kj::Exception::Type::DISCONNECTED) << e.text;
}

// A fork makes a kernel child waiting for its host child to claim it; the
// hand-over ends with the server that made it (here: with the connection).
TEST(SessionServer, ForkMakesAChildThatEndsWithAnUnclaimedHandOver) {
  OneConnection conn;
  int parent_pid, child;
  {
    Client parent(conn.client_fd());
    auto req = parent.gate().attachRequest();
    req.setVersion(rpc::PROTOCOL_VERSION);
    auto attached = req.send().wait(parent.wait());
    parent_pid = attached.getPid();
    auto forked = attached.getSession().forkRequest().send().wait(parent.wait());
    child = forked.getChildPid();
    EXPECT_NE(child, parent_pid);
    ASSERT_TRUE(ProcessExists(child));
  }
  EXPECT_TRUE(conn.HangUp().ok());
  EXPECT_FALSE(ProcessExists(parent_pid));
  EXPECT_FALSE(ProcessExists(child)) << "an unclaimed hand-over ends with its server";
}

// getuid as task `task`, asynchronously (the way lkd serves a channel).
long UidOf(lkd_task* task) {
  struct Done {
    std::atomic<long> ret{-1};
    std::atomic<bool> done{false};
  } d;
  long args[6] = {};
  EXPECT_EQ(lkd_task_submit(task, LKD_NR_getuid, args,
                            [](void* arg, long ret, unsigned long long) {
                              auto* d = static_cast<Done*>(arg);
                              d->ret = ret;
                              d->done = true;
                            },
                            &d),
            0);
  while (!d.done) std::this_thread::yield();
  return d.ret;
}

// A task's setuid spreads to its whole process: the task that made calls
// before (between calls now), tasks made later (cloned from the leader)
// and forks; only the host process attached to the kernel process may ask.
TEST(SessionServer, CommitCredSpreadsATasksCredentialsToItsProcess) {
  OneConnection conn;
  Client client(conn.client_fd());
  auto req = client.gate().attachRequest();
  req.setVersion(rpc::PROTOCOL_VERSION);
  auto attached = req.send().wait(client.wait());
  const int pid = attached.getPid();

  lkd_task* before = nullptr;
  ASSERT_GT(lkd_task_create(pid, &before), 0);
  EXPECT_EQ(UidOf(before), 0);
  const int tid = lkd_bind(pid);
  ASSERT_GT(tid, 0);
  const long ids[6] = {65534, 65534, 65534};
  ASSERT_EQ(lkd_syscall(LKD_NR_setresuid, ids), 0);
  EXPECT_EQ(UidOf(before), 0) << "Linux changes the calling task only";

  auto stranger = client.gate().commitCredRequest();
  stranger.setPid(pid + 1000);
  stranger.setTid(tid);
  Refusal e = Failure([&] { stranger.send().wait(client.wait()); });
  EXPECT_EQ(e.type, kj::Exception::Type::FAILED);
  EXPECT_NE(e.text.find("not attached"), std::string::npos) << e.text;
  auto no_task = client.gate().commitCredRequest();
  no_task.setPid(pid);
  no_task.setTid(1);
  e = Failure([&] { no_task.send().wait(client.wait()); });
  EXPECT_NE(e.text.find("No such process"), std::string::npos) << e.text;

  auto commit = client.gate().commitCredRequest();
  commit.setPid(pid);
  commit.setTid(tid);
  commit.send().wait(client.wait());
  EXPECT_EQ(UidOf(before), 65534);
  lkd_task* after = nullptr;
  ASSERT_GT(lkd_task_create(pid, &after), 0);
  EXPECT_EQ(UidOf(after), 65534);
  const int child = lkd_proc_fork(pid);
  ASSERT_GT(child, 0);
  lkd_task* in_child = nullptr;
  ASSERT_GT(lkd_task_create(child, &in_child), 0);
  EXPECT_EQ(UidOf(in_child), 65534);
  // Root is gone for good: the kernel refuses it back.
  const long root[6] = {0, 0, 0};
  EXPECT_EQ(lkd_syscall(LKD_NR_setresuid, root), -EPERM);

  lkd_task_release(in_child);
  lkd_proc_exit(child);
  lkd_task_release(after);
  lkd_task_release(before);
  lkd_unbind();
}

TEST(SessionServer, GarbageEndsTheConnectionNotTheServer) {
  SessionServer server({});
  const std::string garbage[] = {
      std::string(1, '\0'),
      std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8),  // 4 billion segments
      std::string("\x00\x00\x00\x00\xff\xff\xff\x0f", 8),  // a 1 GiB segment
      std::string(4096, 'A'),
  };
  for (const std::string& bytes : garbage) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_EQ(write(sv[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(sv[1]);
    absl::Status served = server.ServeConnectedSocket(sv[0]);
    EXPECT_TRUE(served.ok()) << served;
  }
  // The same server still serves a real client.
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int pid = 0;
  std::thread t([&] { EXPECT_TRUE(server.ServeConnectedSocket(sv[0]).ok()); });
  {
    Client client(sv[1]);
    auto req = client.gate().attachRequest();
    req.setVersion(rpc::PROTOCOL_VERSION);
    pid = req.send().wait(client.wait()).getPid();
    EXPECT_GT(pid, 0);
  }
  close(sv[1]);
  t.join();
  EXPECT_FALSE(ProcessExists(pid));
}

}  // namespace
}  // namespace lkd::server
