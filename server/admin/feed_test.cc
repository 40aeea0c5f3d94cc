// SPDX-License-Identifier: GPL-2.0
// Feed alone (no kernel, so that it runs under TSan): a real gRPC server
// on a Unix socket whose WatchEvents follows a Feed<Event>, and real
// clients that read, do not read, cancel, or are ended.
#include "server/admin/feed.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "schema/admin/v1/observe.grpc.pb.h"

namespace lkd::admin {
namespace {

using v1::Event;

constexpr size_t kCapacity = 16;

Event Line(const std::string& text) {
  Event e;
  e.set_line(text);
  return e;
}

// WatchEvents on the feed: from now on; or, with initial_snapshot, a
// prefix "snapshot", then what the feed keeps, then the end.
class FollowFeed final : public v1::Observe::WithCallbackMethod_WatchEvents<v1::Observe::Service> {
 public:
  explicit FollowFeed(Feed<Event>& feed) : feed_(feed) {}
  grpc::ServerWriteReactor<Event>* WatchEvents(grpc::CallbackServerContext*,
                                               const v1::WatchEventsRequest* req) override {
    auto* s = feed_.NewPending();
    Feed<Event>::Start start;
    start.who = "a test client";
    if (req->initial_snapshot()) {
      start.prefix.push_back(Line("snapshot"));
      start.from_oldest = true;
      start.stop_at = feed_.end();
    } else {
      start.position = feed_.end();
    }
    feed_.Attach(s, std::move(start));
    return s;
  }

 private:
  Feed<Event>& feed_;
};

class FeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Not TEST_TMPDIR (a socket path has at most 107 bytes), and not a
    // name from the pid (sandboxed runs share pids and /tmp).
    char dir[] = "/tmp/lkd-feed-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    url_ = absl::StrCat("unix:", dir_, "/feed.sock");
    grpc::ServerBuilder builder;
    builder.AddListeningPort(url_, grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    feed_.Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "test over"));
    if (server_) server_->Shutdown();
    unlink(url_.substr(strlen("unix:")).c_str());
    rmdir(dir_.c_str());
  }

  std::unique_ptr<v1::Observe::Stub> Stub() {
    grpc::ChannelArguments args;
    args.SetInt("feed_test.channel", next_channel_++);  // a connection each
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);           // windows stay at their initial size
    return v1::Observe::NewStub(
        grpc::CreateCustomChannel(url_, grpc::InsecureChannelCredentials(), args));
  }
  // Waits (a generous bound, not a timing assertion) until `n` follow.
  bool Followers(size_t n) {
    for (int i = 0; i < 6000 && feed_.subscribers() != n; i++) usleep(10 * 1000);
    return feed_.subscribers() == n;
  }

  Feed<Event> feed_{kCapacity, "events"};
  FollowFeed service_{feed_};
  std::unique_ptr<grpc::Server> server_;
  std::string dir_, url_;
  int next_channel_ = 0;
};

TEST_F(FeedTest, FollowersGetEverythingInOrder) {
  constexpr int kMessages = 200;  // many times the capacity: readers keep up
  std::vector<std::unique_ptr<v1::Observe::Stub>> stubs;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<Event>>> readers;
  for (int i = 0; i < 3; i++) {
    stubs.push_back(Stub());
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(stubs.back()->WatchEvents(contexts.back().get(), {}));
  }
  ASSERT_TRUE(Followers(3));
  std::vector<std::thread> threads;
  std::atomic<int> got[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    threads.emplace_back([&, i] {
      Event e;
      while (got[i] < kMessages && readers[i]->Read(&e)) {
        EXPECT_EQ(e.line(), std::to_string(got[i]));
        got[i]++;
      }
    });
  }
  // One at a time, each only once every reader has it: none falls behind.
  for (int m = 0; m < kMessages; m++) {
    feed_.Publish({Line(std::to_string(m))});
    for (int i = 0; i < 3; i++)
      while (got[i] <= m && feed_.dropped() == 0) usleep(100);
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 3; i++) EXPECT_EQ(got[i], kMessages);
  EXPECT_EQ(feed_.dropped(), 0u);
  // Ended by the feed: UNAVAILABLE with its message.
  feed_.Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "lkd is stopping"));
  for (auto& r : readers) {
    grpc::Status s = r->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.error_message(), "lkd is stopping");
  }
  EXPECT_EQ(feed_.subscribers(), 0u);
}

TEST_F(FeedTest, OneThatDoesNotReadIsDroppedWithAMessage) {
  auto stub = Stub();
  grpc::ClientContext idle_context, reader_context;
  auto idle = stub->WatchEvents(&idle_context, {});
  auto other = Stub();
  auto reader = other->WatchEvents(&reader_context, {});
  ASSERT_TRUE(Followers(2));
  std::atomic<int> read{0};
  std::atomic<bool> reader_ended{false};
  std::thread reading([&] {
    Event e;
    while (reader->Read(&e)) read++;
    reader_ended = true;
  });
  // 1 KiB messages, each published once the reader has the one before,
  // until the idle follower's window and ring are full and it is dropped
  // (the bound is far beyond 64 KiB plus 16 messages).
  const std::string payload(1024, 'x');
  int published = 0;
  while (published < 5000 && feed_.dropped() == 0) {
    feed_.Publish({Line(payload)});
    published++;
    while (read < published && !reader_ended) usleep(100);
  }
  EXPECT_EQ(feed_.dropped(), 1u);
  EXPECT_EQ(feed_.subscribers(), 1u) << "the reader was dropped too";
  // What the transport held, then the reason.
  Event e;
  int held = 0;
  while (idle->Read(&e)) held++;
  EXPECT_LT(held, published);
  grpc::Status s = idle->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(),
            "lkd dropped this follower of the events: it did not read and fell more than 16 "
            "messages behind (the most lkd keeps for a follower)");
  reader_context.TryCancel();
  reading.join();
  EXPECT_EQ(read, published) << "the reader missed messages";
}

TEST_F(FeedTest, CancelledFollowersLeave) {
  auto stub = Stub();
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<Event>>> readers;
  for (int i = 0; i < 20; i++) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(stub->WatchEvents(contexts.back().get(), {}));
  }
  ASSERT_TRUE(Followers(20));
  feed_.Publish({Line("one")});  // some of them busy writing when cancelled
  for (auto& c : contexts) c->TryCancel();
  for (auto& r : readers) EXPECT_EQ(r->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Followers(0));
}

TEST_F(FeedTest, APrefixThenWhatIsKeptThenTheEnd) {
  for (int m = 0; m < 40; m++) feed_.Publish({Line(std::to_string(m))});
  auto stub = Stub();
  grpc::ClientContext context;
  v1::WatchEventsRequest req;
  req.set_initial_snapshot(true);
  auto reader = stub->WatchEvents(&context, req);
  std::vector<std::string> lines;
  Event e;
  while (reader->Read(&e)) lines.push_back(e.line());
  EXPECT_TRUE(reader->Finish().ok());
  // The snapshot, then the last 16 of the 40 kept, then OK.
  ASSERT_EQ(lines.size(), 1 + kCapacity);
  EXPECT_EQ(lines[0], "snapshot");
  EXPECT_EQ(lines[1], "24");
  EXPECT_EQ(lines.back(), "39");
}

}  // namespace
}  // namespace lkd::admin
