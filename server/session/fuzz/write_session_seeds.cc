// SPDX-License-Identifier: GPL-2.0
// Writes seed inputs for session_fuzzer: the bytes a real Cap'n Proto
// client sends to lkd for a few conversations (attach, channels, fork,
// exec, detach, refusals), captured from a socket pair. Pipelined calls
// let the client send a whole conversation without any answer.
//
// Usage: write_session_seeds DIR
#include <capnp/rpc-twoparty.h>
#include <fcntl.h>
#include <kj/async-io.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "schema/lkd.capnp.h"

namespace {

using lkd::rpc::Gate;

// The bytes `conversation` makes a client send on a fresh connection.
// What a conversation keeps alive until its requests are sent.
using Pending = std::vector<kj::Promise<void>>;
using Conversation = std::function<void(Gate::Client&, Pending&)>;

template <typename P>
void Hold(Pending& pending, P promise) {
  pending.push_back(promise.ignoreResult());
}

std::string Capture(const Conversation& conversation) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return "";
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  {
    auto io = kj::setupAsyncIo();
    auto stream = io.lowLevelProvider->wrapUnixSocketFd(sv[1]);
    capnp::TwoPartyClient client(*stream, 1);
    auto gate = client.bootstrap().castAs<Gate>();
    Pending pending;
    conversation(gate, pending);
    for (int i = 0; i < 100; i++) io.waitScope.poll();
  }
  close(sv[1]);
  std::string bytes;
  char buf[65536];
  ssize_t n;
  while ((n = read(sv[0], buf, sizeof(buf))) > 0) bytes.append(buf, static_cast<size_t>(n));
  close(sv[0]);
  return bytes;
}

capnp::Request<Gate::AttachParams, Gate::AttachResults> Attach(Gate::Client& gate,
                                                                uint32_t version) {
  auto req = gate.attachRequest();
  req.setVersion(version);
  return req;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) == "--help") {
    fprintf(stderr, "usage: %s DIR\nWrites session_fuzzer's seed inputs into DIR.\n", argv[0]);
    return argc == 2 ? 0 : 2;
  }
  const std::vector<std::pair<std::string, Conversation>> seeds = {
          {"attach", [](Gate::Client& g, Pending& p) {
             Hold(p, Attach(g, lkd::rpc::PROTOCOL_VERSION).send());
           }},
          {"attach_old_version", [](Gate::Client& g, Pending& p) {
             Hold(p, Attach(g, lkd::rpc::PROTOCOL_VERSION + 1).send());
           }},
          {"attach_cookie", [](Gate::Client& g, Pending& p) {
             auto req = Attach(g, lkd::rpc::PROTOCOL_VERSION);
             req.setCookie(kj::StringPtr("0123456789abcdef").asBytes());
             Hold(p, req.send());
           }},
          {"attach_twice", [](Gate::Client& g, Pending& p) {
             Hold(p, Attach(g, lkd::rpc::PROTOCOL_VERSION).send());
             Hold(p, Attach(g, lkd::rpc::PROTOCOL_VERSION).send());
           }},
          {"channels", [](Gate::Client& g, Pending& p) {
             auto attached = Attach(g, lkd::rpc::PROTOCOL_VERSION).send();
             auto session = attached.getSession();
             for (int i = 0; i < 3; i++) {
               Hold(p, session.openChannelRequest().send());
             }
             Hold(p, kj::mv(attached));
           }},
          {"fork_exec_detach", [](Gate::Client& g, Pending& p) {
             auto attached = Attach(g, lkd::rpc::PROTOCOL_VERSION).send();
             auto session = attached.getSession();
             Hold(p, session.forkRequest().send());
             Hold(p, session.prepareExecRequest().send());
             Hold(p, session.detachRequest().send());
             Hold(p, session.openChannelRequest().send());
             Hold(p, kj::mv(attached));
           }},
      };
  int written = 0;
  for (const auto& [name, conversation] : seeds) {
    std::string bytes = Capture(conversation);
    if (bytes.empty()) {
      fprintf(stderr, "write_session_seeds: %s: the client sent nothing\n", name.c_str());
      return 1;
    }
    std::string path = std::string(argv[1]) + "/" + name;
    FILE* f = fopen(path.c_str(), "wb");
    if (!f || fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || fclose(f) != 0) {
      perror(path.c_str());
      return 1;
    }
    written++;
  }
  fprintf(stderr, "write_session_seeds: %d seeds in %s\n", written, argv[1]);
  return 0;
}
