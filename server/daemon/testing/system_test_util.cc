// SPDX-License-Identifier: GPL-2.0
#include "server/daemon/testing/system_test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "server/daemon/kernel_hooks.h"
#include "kernel/testing/kernel_test_util.h"
#include "lkd/kernel.h"

namespace lkd::testing {

absl::Status RunInChild(const std::function<absl::Status()>& body) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) return absl::InternalError("pipe");
  fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork");
  if (pid == 0) {
    close(pipefd[0]);
    absl::Status status = body();
    std::string report =
        absl::StrCat(static_cast<int>(status.code()), " ", status.message());
    [[maybe_unused]] ssize_t n = write(pipefd[1], report.data(), report.size());
    _exit(0);
  }
  close(pipefd[1]);
  std::string report;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) report.append(buf, n);
  close(pipefd[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (!WIFEXITED(wstatus) || report.empty())
    return absl::InternalError(absl::StrCat("child died (wait status ", wstatus,
                                            "); report: '", report, "'"));
  int code = atoi(report.c_str());
  size_t space = report.find(' ');
  return absl::Status(
      static_cast<absl::StatusCode>(code),
      space == std::string::npos ? "" : report.substr(space + 1));
}

absl::Status RunKernelChild(
    const std::function<absl::Status(virtio::Devices&)>& add_devices,
    const std::function<absl::Status()>& body, KernelEnd end) {
  return RunInChild([&]() -> absl::Status {
    // On the heap, and deleted only after a halt: with kCrash the devices
    // must not be stopped (nor the kernel halted) before the report, as on
    // a power cut. RunInChild _exits right after the report, so they are
    // never destroyed.
    auto* devices = new virtio::Devices(virtio::LibraryKernelHooks());
    absl::Status status = add_devices(*devices);
    if (status.ok()) status = BootForTest();
    if (status.ok()) status = body();
    if (end == KernelEnd::kHalt) {
      int rc = lkd_halt();
      if (status.ok() && rc < 0) status = SysStatus(rc, "lkd_halt");
      devices->StopAll();
      delete devices;
    }
    return status;
  });
}

int Shell(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) text.append(buf, n);
  int status = pclose(pipe);
  if (output) *output = text;
  if (status < 0 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

ScopedNetns::ScopedNetns(std::string name) : name_(std::move(name)) {
  Shell("ip netns del " + name_);  // left over from a killed run
  ok_ = Shell("ip netns add " + name_) == 0;
  if (ok_) Shell("ip -n " + name_ + " link set lo up");
}

ScopedNetns::~ScopedNetns() {
  if (ok_) Shell("ip netns del " + name_);
}

absl::Status ScopedNetns::Enter() const {
  int fd = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
    if (fd >= 0) close(fd);
    return absl::InternalError("cannot enter netns " + name_);
  }
  close(fd);
  return absl::OkStatus();
}

absl::Status ScopedNetns::Run(const std::function<absl::Status()>& fn) const {
  absl::Status status;
  std::thread thread([&] {
    status = Enter();
    if (status.ok()) status = fn();
  });
  thread.join();
  return status;
}

sockaddr_in Ipv4Address(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

std::string Pattern(size_t size, uint32_t seed) {
  std::string data(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    data[i] = static_cast<char>(x);
  }
  return data;
}

}  // namespace lkd::testing
