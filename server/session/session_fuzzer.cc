// SPDX-License-Identifier: GPL-2.0
// libFuzzer target: arbitrary bytes from a client to lkd's session endpoint
// (Cap'n Proto RPC: bootstrap, attach, openChannel, fork, prepareExec,
// detach, and anything else a stream can carry), served by the real session
// server on the real library kernel, booted once. Each input is one
// connection: the bytes are written, the client stops writing, and the
// server serves until it has read everything. lkd must never crash, hang or leak
// a kernel process (checked after every input: the kernel's process count
// comes back to where it was).
//
// Built with clang: bazel build --config=fuzz //server/session:session_fuzzer
// Run by tools/fuzz/fuzz.sh session (seeds from session_fuzz_seeds).
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernel/testing/kernel_test_util.h"
#include "server/session/session_server.h"

namespace {

lkd::server::SessionServer* server = nullptr;

// Processes in the kernel (its /proc), to see that none is left behind.
int KernelProcesses() {
  long fd = lkd::Sys(LKD_NR_openat, lkd::kAtFdCwd, "/proc", O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return -1;
  int n = 0;
  char buf[8192];
  for (;;) {
    long len = lkd::Sys(LKD_NR_getdents64, fd, buf, sizeof(buf));
    if (len <= 0) break;
    for (long off = 0; off < len;) {
      auto* d = reinterpret_cast<dirent64*>(buf + off);
      if (d->d_name[0] >= '1' && d->d_name[0] <= '9') n++;
      off += d->d_reclen;
    }
  }
  lkd::Sys(LKD_NR_close, fd);
  return n;
}

// The last pid the kernel handed out (the last field of /proc/loadavg):
// it moves when an input made a kernel process or task (attach, fork, a
// channel's worker).
long LastPid() {
  std::string loadavg;
  if (!lkd::testing::ReadFile("/proc/loadavg", &loadavg).ok()) return -1;
  size_t last = loadavg.rfind(' ');
  return last == std::string::npos ? -1 : atol(loadavg.c_str() + last + 1);
}

int baseline = 0;
long inputs = 0, reached_kernel = 0;

void PrintSummary() {
  // tools/fuzz/fuzz.sh reads this line.
  fprintf(stderr, "session_fuzzer: %ld inputs: %ld made kernel processes or tasks\n", inputs,
          reached_kernel);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  absl::Status booted = lkd::testing::BootForTest();
  if (!booted.ok()) {
    fprintf(stderr, "session_fuzzer: the kernel did not boot: %s\n",
            std::string(booted.message()).c_str());
    abort();
  }
  lkd::server::SessionServerOptions options;
  options.max_channels_per_session = 8;
  options.channel_data_size = 64 * 1024;
  server = new lkd::server::SessionServer(options);
  baseline = KernelProcesses();
  atexit(PrintSummary);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
  // A socket pair buffers far more than -max_len: the write never blocks.
  for (size_t done = 0; done < size;) {
    ssize_t n = write(sv[1], data + done, size - done);
    if (n <= 0) abort();
    done += static_cast<size_t>(n);
  }
  // Half-close: the server reads everything, then EOF, and its answers
  // still fit in the socket's buffer. (A full close would make its first
  // answer fail with EPIPE and end the connection before any call ran.)
  shutdown(sv[1], SHUT_WR);
  const long pid_before = LastPid();
  absl::Status served = server->ServeConnectedSocket(sv[0]);
  close(sv[1]);
  inputs++;
  if (LastPid() != pid_before) reached_kernel++;
  if (!served.ok()) {
    fprintf(stderr, "session_fuzzer: %s\n", std::string(served.message()).c_str());
    abort();
  }
  // Every kernel process this connection made (attach, fork) is gone
  // once its channel workers have left the kernel (they notice on their
  // own, a moment after the session ends).
  int now = KernelProcesses();
  for (int i = 0; i < 10000 && now != baseline; i++) {
    usleep(1000);
    now = KernelProcesses();
  }
  if (now != baseline) {
    fprintf(stderr, "session_fuzzer: %d kernel processes, %d before the input\n", now,
            baseline);
    abort();
  }
  return 0;
}
