# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# The session protocol between lkd and its clients: Cap'n Proto RPC over
# lkd's Unix socket (LKD_SERVER, unix:///run/lkd/lkd.sock by default).
#
# The socket's bootstrap capability is a Gate. A client attaches once per
# host process and gets a Session: its kernel process inside lkd, created
# with the credentials the kernel saw on the socket (SO_PEERCRED), never
# with credentials the client claims. System calls do not travel here but
# over shared-memory channels (lkd_channel.h), one per client thread, whose
# memory is handed over as a memfd attached to the Channel capability.
#
# Lifetimes follow capabilities: dropping a Channel ends its worker (the
# kernel task of that client thread); losing the connection drops the
# Session, and the kernel process exits as if the client had been killed,
# closing its fds. The only thing that outlives a connection is a pending
# hand-over (fork or exec), until it is claimed or expires.
@0x91bf4372e2c69b94;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("lkd::rpc");

const protocolVersion :UInt32 = 1;
# Bumped on any incompatible change of this file or of lkd_channel.h.

interface Gate {
  attach @0 (version :UInt32, cookie :Data, netns :Text)
      -> (session :Session, pid :Int32, spinBoard :SpinBoard,
          kernelCpus :List(UInt16));
  # version: the client's protocolVersion; a different one fails with an
  # error naming both.
  # cookie: empty for a new kernel process; else a hand-over cookie from
  # Session.fork or Session.prepareExec, which gives this connection that
  # process (once; the peer's uid must be the one that asked for it).
  # An exec cookie closes the process's close-on-exec fds, as execve does.
  # netns: for a new kernel process, the name of the network namespace of
  # lkd's kernel it lives in (one the admin plane made: /run/netns/NAME in
  # the kernel, as ip-netns(8) keeps them); empty for the initial one. A
  # name that is not one path component, or no such namespace, fails the
  # attach. Ignored with a cookie: the process keeps its namespace.
  # pid: the kernel process's pid inside lkd.
  # spinBoard: lkd's one page that every client maps (SpinBoard).
  # kernelCpus: the host CPUs lkd's dispatch threads (which poll the
  # channels and run the kernel) are pinned to; empty if not pinned. A
  # client keeps its threads off them unless told otherwise, so that a
  # program never takes the CPU that runs its calls.

  commitCred @1 (pid :Int32, tid :Int32);
  # Every task of kernel process `pid` takes the credentials its task
  # `tid` has now (lkd_proc_commit_cred): after a set*id call, which the
  # kernel checked on that task, the rest of the process follows, as glibc
  # makes every thread follow. Only the host process attached to `pid`
  # may ask (this connection's SO_PEERCRED pid is its session's). Asked on
  # a connection of its own, which attaches nothing: the session's own
  # connection belongs to its RPC thread, and the caller is a program
  # thread in the middle of setuid().
}

interface Session {
  openChannel @0 () -> (channel :Channel, generation :UInt32,
                        dataOffset :UInt32, dataSize :UInt32);
  # A new channel and its worker, a new kernel task of this process. The
  # channel's memfd comes attached to `channel` (Capability getFd); map it
  # shared, size dataOffset + dataSize. Every request carries `generation`.

  fork @1 () -> (cookie :Data, childPid :Int32);
  # Duplicates the kernel process (fd table shared as fork(2) does). The
  # host child attaches with the cookie within handoverTimeoutSeconds, or
  # the kernel child exits.

  prepareExec @2 () -> (cookie :Data);
  # Before execve(2): the new program attaches with the cookie and keeps
  # this kernel process (close-on-exec fds closed). If execve fails the
  # caller keeps using this session; the cookie then just expires.

  detach @3 ();
  # Ends the kernel process now (as exit would); the session is unusable
  # afterwards.
}

interface SpinBoard {
  # Carries the memfd of a page lkd shares with every attached client (map
  # it shared, spinBoardBytes). Its first 32-bit word counts the client
  # threads spinning for an answer now, on the whole machine: a thread
  # spins only while fewer than the client's limit do (lkd_doorbell_spin),
  # so spinning clients never take every CPU from the processes they wait
  # for. No methods.
}

interface Channel {
  # Carries the channel's memfd. No methods: dropping it ends the worker.
}

const handoverTimeoutSeconds :UInt32 = 30;

const spinBoardBytes :UInt32 = 4096;
# The size of the SpinBoard's page.
