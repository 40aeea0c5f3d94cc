// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "common/host_file.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace lkd {
namespace {

TEST(HostFile, ReadsEveryByteOfALargeFile) {
  std::string path = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
                     "/host_file_test.bin";
  std::string want;
  for (int i = 0; i < 100000; i++) want.push_back(static_cast<char>(i * 7));
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(fwrite(want.data(), 1, want.size(), f), want.size());
  fclose(f);
  absl::StatusOr<std::string> got = ReadHostFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, want);
  remove(path.c_str());
}

TEST(HostFile, MissingFileKeepsItsErrnoAndPath) {
  absl::StatusOr<std::string> got = ReadHostFile("/nonexistent/lkd-file");
  EXPECT_EQ(ErrnoOf(got.status()), ENOENT);
  EXPECT_NE(got.status().message().find("/nonexistent/lkd-file"), std::string::npos);
  EXPECT_EQ(ReadHostFileOrEmpty("/nonexistent/lkd-file"), "");
  // /proc files report size 0 but have content.
  EXPECT_NE(ReadHostFileOrEmpty("/proc/self/status").find("Threads:"), std::string::npos);
}

}  // namespace
}  // namespace lkd
