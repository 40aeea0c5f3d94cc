// Checks that the system libraries behind @sys compile and link in C++20 and
// that a few calls into each actually run.

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gmock/gmock.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <uv.h>

#include <concepts>
#include <span>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "tools/buildcheck/check.capnp.h"

ABSL_FLAG(int, buildcheck_value, 7, "unused; checks that absl flags link");

namespace {

template <std::integral T>
constexpr T Twice(T v) { return v * 2; }

TEST(Toolchain, IsCxx20) {
  EXPECT_GE(__cplusplus, 202002L);
  static_assert(Twice(21) == 42);
}

TEST(Toolchain, Abseil) {
  absl::StatusOr<int> value = 3;
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(absl::StrFormat("%d-%s", *value, "x"), "3-x");
  EXPECT_THAT(absl::StrSplit("a,b", ','), testing::ElementsAre("a", "b"));
  absl::Mutex mu;
  absl::MutexLock lock(&mu);
  EXPECT_EQ(absl::GetFlag(FLAGS_buildcheck_value), 7);
}

TEST(Toolchain, CapnpAndKj) {
  kj::EventLoop loop;
  kj::WaitScope wait_scope(loop);
  EXPECT_EQ(kj::evalLater([] { return 5; }).wait(wait_scope), 5);

  // A message of the generated type round-trips through the flat encoding.
  capnp::MallocMessageBuilder builder;
  Check::Builder check = builder.initRoot<Check>();
  check.setName("lkd");
  check.setValue(42);
  kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  capnp::FlatArrayMessageReader reader(words);
  Check::Reader read = reader.getRoot<Check>();
  EXPECT_EQ(std::string(read.getName().cStr()), "lkd");
  EXPECT_EQ(read.getValue(), 42u);
}

TEST(Toolchain, Grpc) {
  grpc::ChannelArguments args;
  args.SetInt("lkd.buildcheck", 1);
  std::string version = grpc::Version();
  EXPECT_FALSE(version.empty());
  auto channel = grpc::CreateCustomChannel(
      "unix:/nonexistent/lkd-buildcheck", grpc::InsecureChannelCredentials(), args);
  ASSERT_NE(channel, nullptr);
}

// @sys//:grpc_reflection: the library without a pkg-config entry.
TEST(Toolchain, GrpcReflection) {
  grpc::reflection::ProtoServerReflectionPlugin plugin;
  EXPECT_EQ(plugin.name(), "proto_server_reflection");
}

TEST(Toolchain, Libuv) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  EXPECT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
