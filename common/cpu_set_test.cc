// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "common/cpu_set.h"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lkd {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(CpuListTest, ParsesNumbersAndRanges) {
  EXPECT_THAT(*ParseCpuList("3"), ElementsAre(3));
  EXPECT_THAT(*ParseCpuList("4,0-2,1"), ElementsAre(0, 1, 2, 4));
  EXPECT_EQ(FormatCpuList({0, 1, 2, 4, 6, 7}), "0-2,4,6-7");
  EXPECT_EQ(FormatCpuList({}), "");
}

TEST(CpuListTest, RefusesMalformedLists) {
  for (const char* bad : {"", ",", "a", "1-", "-1", "3-1", "1,,2", "99999", "1-99999"})
    EXPECT_EQ(ParseCpuList(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
}

TEST(DispatchCpusTest, AutoTakesTheHighestAllowedCpuWhenThereAreTwo) {
  EXPECT_THAT(*ResolveDispatchCpus("auto", {0, 1}), ElementsAre(1));
  EXPECT_THAT(*ResolveDispatchCpus("auto", {2, 5, 7}), ElementsAre(7));
  EXPECT_THAT(*ResolveDispatchCpus("auto", {3}), IsEmpty());  // nothing left for clients
  EXPECT_THAT(*ResolveDispatchCpus("none", {0, 1}), IsEmpty());
  EXPECT_THAT(*ResolveDispatchCpus("0", {0, 1}), ElementsAre(0));
}

TEST(DispatchCpusTest, RefusesCpusLkdMayNotUse) {
  auto r = ResolveDispatchCpus("2", {0, 1});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("CPU 2"));
  EXPECT_FALSE(ResolveDispatchCpus("x", {0, 1}).ok());
}

TEST(KeepOffTest, CpusApartFrom) {
  EXPECT_THAT(CpusApartFrom({0, 1, 2, 3}, {1, 3}), ElementsAre(0, 2));
  EXPECT_THAT(CpusApartFrom({1}, {1}), IsEmpty());
}

// In a child process (affinity is process state): every thread, one that
// existed before and one made after, keeps off the kernel's CPU.
TEST(KeepOffTest, MovesEveryThreadOfTheProcess) {
  const std::vector<int> allowed = AllowedCpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs two CPUs";
  const int kernel_cpu = allowed.back();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::vector<int> seen_before, seen_after;
    bool go = false, done = false;
    std::mutex mu;
    std::condition_variable cv;
    std::thread before([&] {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return go; });
      seen_before = AllowedCpus();
      done = true;
      cv.notify_all();
    });
    auto moved = KeepProcessOffCpus({kernel_cpu});
    if (!moved.ok() || moved->empty()) _exit(10);
    {
      std::unique_lock<std::mutex> lock(mu);
      go = true;
      cv.notify_all();
      cv.wait(lock, [&] { return done; });
    }
    before.join();
    std::thread after([&] { seen_after = AllowedCpus(); });
    after.join();
    const std::vector<int> want = CpusApartFrom(allowed, {kernel_cpu});
    if (AllowedCpus() != want) _exit(11);
    if (seen_before != want) _exit(12);
    if (seen_after != want) _exit(13);
    // Again: nothing to change.
    auto again = KeepProcessOffCpus({kernel_cpu});
    if (!again.ok() || !again->empty()) _exit(14);
    // Only the kernel's CPU left: left as it is, not emptied.
    if (!KeepProcessOffCpus(want).ok() || AllowedCpus() != want) _exit(15);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(PinThreadTest, PinsAThread) {
  const std::vector<int> allowed = AllowedCpus();
  std::vector<int> seen;
  std::thread t([&] {
    if (PinThread(pthread_self(), {allowed.front()}).ok()) seen = AllowedCpus();
  });
  t.join();
  EXPECT_THAT(seen, ElementsAre(allowed.front()));
}

}  // namespace
}  // namespace lkd
