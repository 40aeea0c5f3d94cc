// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "client/commit_cred.h"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <signal.h>
#include <time.h>


#include "client/connection.h"
#include "client/kj_errno.h"
#include "schema/lkd.capnp.h"

namespace lkd::client {

namespace {

// The program's SIGPIPE stays as it was: kj's event port sets SIG_IGN for
// the whole process (put back here), and a write to a dead lkd raises
// SIGPIPE in this thread, which is blocked meanwhile and discarded after.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &mask_);
    sigaction(SIGPIPE, nullptr, &action_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeGuard() {
    sigaction(SIGPIPE, &action_, nullptr);
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      const timespec now = {0, 0};
      sigtimedwait(&pipe, nullptr, &now);
    }
    pthread_sigmask(SIG_SETMASK, &mask_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  // After kj set its own action.
  void Restore() { sigaction(SIGPIPE, &action_, nullptr); }

 private:
  sigset_t mask_;
  struct sigaction action_;
  bool was_pending_ = false;
};

}  // namespace

absl::Status CommitCred(const std::string& server, int pid, int tid) {
  SigpipeGuard sigpipe;
  auto path = SocketPathFromUrl(server);
  if (!path.ok()) return path.status();
  try {
    kj::AsyncIoContext io = kj::setupAsyncIo();
    sigpipe.Restore();
    auto address = io.provider->getNetwork()
                       .parseAddress(kj::str("unix:", path->c_str()))
                       .wait(io.waitScope);
    auto stream = address->connect().wait(io.waitScope);
    capnp::TwoPartyClient client(*stream);
    auto request = client.bootstrap().castAs<rpc::Gate>().commitCredRequest();
    request.setPid(pid);
    request.setTid(tid);
    request.send().wait(io.waitScope);
  } catch (const kj::Exception& e) {
    return KjStatus(e, "lkd: spreading credentials");
  }
  return absl::OkStatus();
}

}  // namespace lkd::client
