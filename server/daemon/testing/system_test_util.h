// SPDX-License-Identifier: GPL-2.0
// Helpers for system tests of the library kernel with real devices: each
// scenario boots its own kernel in a forked child process (one kernel per
// process), and the parent checks the outcome from the host: images with
// e2fsck/debugfs, traffic from network namespaces.
#ifndef LKD_SERVER_DAEMON_TESTING_SYSTEM_TEST_UTIL_H_
#define LKD_SERVER_DAEMON_TESTING_SYSTEM_TEST_UTIL_H_

#include <netinet/in.h>

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hostops/virtio/devices.h"

namespace lkd::testing {

enum class KernelEnd {
  kHalt,   // lkd_halt(): processes killed, file systems synced
  kCrash,  // the process exits at once, as on a power cut
};

// Forks; the child runs `body` and reports its status through a pipe,
// then _exits at once: it never returns into the caller (gtest), and
// nothing of its state is destroyed (no destructors, no atexit handlers).
// Returns the child's status, or an InternalError naming the wait status
// if the child died without a report.
absl::Status RunInChild(const std::function<absl::Status()>& body);

// Forks (RunInChild); the child adds devices with `add_devices`, boots a kernel
// (BootForTest), runs `body`, ends as `end` says and reports the first
// error. Returns that error, or OK.
absl::Status RunKernelChild(
    const std::function<absl::Status(virtio::Devices&)>& add_devices,
    const std::function<absl::Status()>& body, KernelEnd end = KernelEnd::kHalt);

// Runs a shell command; returns its exit status (or -1 if it could not
// run or was killed) and its stdout+stderr in *output.
int Shell(const std::string& command, std::string* output = nullptr);

// A network namespace the test owns: created on construction, deleted with
// everything in it on destruction.
class ScopedNetns {
 public:
  explicit ScopedNetns(std::string name);
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;
  const std::string& name() const { return name_; }
  bool ok() const { return ok_; }
  // Moves the calling thread into the namespace (setns affects only the
  // calling thread; in a single-threaded child, the whole process).
  absl::Status Enter() const;
  // Runs `fn` on a host thread inside the namespace and waits for it.
  absl::Status Run(const std::function<absl::Status()>& fn) const;

 private:
  std::string name_;
  bool ok_ = false;
};

// ip:port as a sockaddr_in (for host and kernel sockets alike).
sockaddr_in Ipv4Address(const std::string& ip, uint16_t port);

// A deterministic pseudo-random pattern of `size` bytes.
std::string Pattern(size_t size, uint32_t seed);

}  // namespace lkd::testing

#endif  // LKD_SERVER_DAEMON_TESTING_SYSTEM_TEST_UTIL_H_
