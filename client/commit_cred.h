// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Gate.commitCred (schema/lkd.capnp) on a connection of its own: every task
// of kernel process `pid` takes the credentials of its task `tid`. For
// liblkclient's lk_commit_cred, after a set*id call on the caller's
// channel. The connection lives only for the call, on the calling thread
// (its own kj event loop), and attaches nothing; lkd accepts the request
// only from the host process attached to `pid`.
#ifndef LKD_CLIENT_COMMIT_CRED_H_
#define LKD_CLIENT_COMMIT_CRED_H_

#include <string>

#include "absl/status/status.h"

namespace lkd::client {

// `server` as for Connection::Connect. The errno the caller should see is
// carried by the status, as client/kj_errno.h maps it: lkd's refusal (not
// this process's kernel process, no such task) EPROTO, an lkd gone
// ENOTCONN, an lkd that does not know the request ENOSYS.
absl::Status CommitCred(const std::string& server, int pid, int tid);

}  // namespace lkd::client

#endif  // LKD_CLIENT_COMMIT_CRED_H_
