// SPDX-License-Identifier: GPL-2.0
#include "server/daemon/testing/lkd_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/errno_status.h"
#include "common/host_file.h"

namespace lkd::testing {

namespace {

std::string TempDir() {
  const char* d = getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

std::atomic<int> g_daemons{0};

bool SocketAccepts(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LkdDaemon>> LkdDaemon::Start(
    const std::vector<std::string>& args) {
  std::unique_ptr<LkdDaemon> d(new LkdDaemon());
  int n = g_daemons++;
  std::string dir = absl::StrCat(TempDir(), "/lkd", getpid(), "-", n);
  mkdir(dir.c_str(), 0755);
  // Socket paths are limited to 107 bytes; TEST_TMPDIR can be longer.
  char sock_dir[] = "/tmp/lkdtest-XXXXXX";
  if (!mkdtemp(sock_dir)) return ErrnoStatus(errno, "mkdtemp");
  d->sock_dir_ = sock_dir;
  chmod(sock_dir, 0755);  // non-root clients must reach the socket
  d->socket_path_ = d->sock_dir_ + "/lkd.sock";
  d->url_ = "unix://" + d->socket_path_;
  d->log_path_ = dir + "/lkd.log";
  std::vector<std::string> argv = {"server/lkd", "--listen", d->url_, "--mem", "128M"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus(errno, "fork");
  if (pid == 0) {
    int log = open(d->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(log, 2);
    dup2(log, 1);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  d->pid_ = pid;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      d->pid_ = -1;
      return absl::FailedPreconditionError(
          absl::StrCat("lkd exited (status ", status, ") before serving:\n", d->Log()));
    }
    if (d->Log().find("serving on") != std::string::npos && SocketAccepts(d->socket_path_))
      return d;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("lkd did not start in 60 s:\n" + d->Log());
}

LkdDaemon::~LkdDaemon() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (!sock_dir_.empty()) {
    unlink(socket_path_.c_str());
    unlink((sock_dir_ + "/admin.sock").c_str());  // lkd's admin plane, beside it
    rmdir(sock_dir_.c_str());
  }
}

std::string LkdDaemon::Log() const {
  return ReadHostFileOrEmpty(log_path_);
}

absl::StatusOr<int> LkdDaemon::StopWith(int sig) {
  if (pid_ <= 0) return absl::FailedPreconditionError("lkd not running");
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

namespace {

// The number after "key:" in /proc/<pid>/status, or -1.
long StatusField(pid_t pid, const std::string& key) {
  for (absl::string_view line :
       absl::StrSplit(ReadHostFileOrEmpty(absl::StrCat("/proc/", pid, "/status")), '\n'))
    if (absl::ConsumePrefix(&line, key + ":")) return atol(std::string(line).c_str());
  return -1;
}

}  // namespace

int LkdDaemon::Threads() const { return static_cast<int>(StatusField(pid_, "Threads")); }

int LkdDaemon::Channels() const {
  const std::string dir = absl::StrCat("/proc/", pid_, "/fd");
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  int n = 0;
  char target[256];
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ssize_t len = readlink(absl::StrCat(dir, "/", e->d_name).c_str(), target, sizeof(target) - 1);
    if (len <= 0) continue;
    target[len] = 0;
    // memfd_create("lkd-channel") (channel_dispatcher.cc).
    if (absl::StartsWith(target, "/memfd:lkd-channel")) n++;
  }
  closedir(d);
  return n;
}

std::vector<pid_t> LkdDaemon::ThreadIdsNamed(const std::string& comm) const {
  const std::string dir = absl::StrCat("/proc/", pid_, "/task");
  std::vector<pid_t> tids;
  DIR* d = opendir(dir.c_str());
  if (!d) return tids;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (ReadHostFileOrEmpty(absl::StrCat(dir, "/", e->d_name, "/comm")) == comm + "\n")
      tids.push_back(static_cast<pid_t>(atoi(e->d_name)));
  }
  closedir(d);
  return tids;
}

int LkdDaemon::LiveSessions() const {
  std::istringstream log(Log());
  std::string line;
  int live = 0;
  while (std::getline(log, line)) {
    if (line.find(" attached (") != std::string::npos)
      live++;
    else if (line.find(") detached") != std::string::npos)
      live--;
  }
  return live;
}

int LkdDaemon::OpenFds() const {
  DIR* dir = opendir(absl::StrCat("/proc/", pid_, "/fd").c_str());
  if (!dir) return -1;
  int n = 0;
  while (dirent* e = readdir(dir))
    if (e->d_name[0] != '.') n++;
  closedir(dir);
  return n - 1;  // the directory fd itself
}

long LkdDaemon::RssKib() const { return StatusField(pid_, "VmRSS"); }

pid_t ForkClient(const std::string& url, const std::function<int()>& body) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("LKD_SERVER", url.c_str(), 1);
    _exit(body());
  }
  return pid;
}

int WaitClient(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

ReadyPipe::ReadyPipe() {
  if (pipe2(fds, O_CLOEXEC) < 0) abort();
}
ReadyPipe::~ReadyPipe() {
  close(fds[0]);
  close(fds[1]);
}
void ReadyPipe::Signal() {
  char c = 1;
  (void)!write(fds[1], &c, 1);
}
bool ReadyPipe::Wait() {
  // Both ends stay open in the waiter (forked clients inherit them), so a
  // writer that died is noticed by the time limit, not by EOF.
  pollfd p = {fds[0], POLLIN, 0};
  if (poll(&p, 1, 60000) != 1) return false;
  char c;
  return read(fds[0], &c, 1) == 1;
}

}  // namespace lkd::testing
