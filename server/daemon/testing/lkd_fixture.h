// SPDX-License-Identifier: GPL-2.0
// System-test helpers: a real lkd daemon started from the build (with its
// log in the test's temp dir), and client processes forked from the test.
#ifndef LKD_SERVER_DAEMON_TESTING_LKD_FIXTURE_H_
#define LKD_SERVER_DAEMON_TESTING_LKD_FIXTURE_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace lkd::testing {

class LkdDaemon {
 public:
  // Starts server/lkd with a fresh socket in TEST_TMPDIR and `args`, and
  // waits until it serves (or fails: then its log is in the error).
  static absl::StatusOr<std::unique_ptr<LkdDaemon>> Start(
      const std::vector<std::string>& args = {});
  // SIGKILLs lkd if it still runs.
  ~LkdDaemon();

  pid_t pid() const { return pid_; }
  const std::string& url() const { return url_; }
  const std::string& socket_path() const { return socket_path_; }
  // The admin plane's socket (lkctl -H), beside the session socket.
  std::string admin_url() const { return "unix://" + sock_dir_ + "/admin.sock"; }
  std::string Log() const;
  // Sends `sig` and waits for lkd to exit; returns its wait status.
  absl::StatusOr<int> StopWith(int sig);

  // From /proc: lkd's thread count, open fds, resident memory (KiB).
  int Threads() const;
  // Channels (client threads) lkd serves now: its "lkd-channel" memfds.
  int Channels() const;
  // Threads that serve the channels ("lkd-dispatch"), one per 127: their
  // host tids (none once lkd is gone), and how many.
  std::vector<pid_t> DispatchThreadIds() const { return ThreadIdsNamed("lkd-dispatch"); }
  int DispatchThreads() const { return static_cast<int>(DispatchThreadIds().size()); }
  // Host tids of lkd's threads named `comm` (pthread_setname_np).
  std::vector<pid_t> ThreadIdsNamed(const std::string& comm) const;
  // Sessions attached now, from lkd's log ("attached" minus "detached").
  int LiveSessions() const;
  int OpenFds() const;
  long RssKib() const;

 private:
  LkdDaemon() = default;
  pid_t pid_ = -1;
  std::string url_, socket_path_, sock_dir_, log_path_;
};

// Forks a client process that points LKD_SERVER at `url`, runs `body`
// and exits with its return value (0 = success). Returns the host pid.
pid_t ForkClient(const std::string& url, const std::function<int()>& body);
// Waits for a client; its exit code, or 128+signal if it was killed.
int WaitClient(pid_t pid);

// A one-byte pipe for "ready" signals between forked processes.
struct ReadyPipe {
  ReadyPipe();
  ~ReadyPipe();
  void Signal();
  // False if nothing was signalled within 60 s.
  bool Wait();
  int fds[2];
};

}  // namespace lkd::testing

#endif  // LKD_SERVER_DAEMON_TESTING_LKD_FIXTURE_H_
