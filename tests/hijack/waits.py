# SPDX-License-Identifier: GPL-2.0
"""Mixed host + kernel waits under lkrun: select, poll and epoll over a
host pipe and kernel sockets; a signal interrupts a wait on kernel fds and
a blocking recv (also with MSG_WAITALL, which then returns what came),
accept, send or connect on a kernel socket; SO_RCVTIMEO bounds a blocking
recv; kernel fds are small and their host slot is a placeholder."""
import faulthandler
import os
import select
import signal
import socket
import struct
import sys
import threading

# A wait that never ends shows where it is, and ends the test.
faulthandler.dump_traceback_later(60, exit=True)
port = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", port))
srv.listen()
cli = socket.create_connection(("127.0.0.1", port))
acc, _ = srv.accept()
r, w = os.pipe()

assert acc.fileno() < 1024, acc.fileno()
assert os.readlink(f"/proc/self/fd/{acc.fileno()}") == "/dev/null"
assert os.readlink(f"/proc/self/fd/{r}").startswith("pipe:")

# select
assert select.select([r, acc], [], [], 0.05) == ([], [], [])
os.write(w, b"x")
assert select.select([r, acc], [], [], 5)[0] == [r]
os.read(r, 1)
cli.send(b"y")
assert select.select([r, acc], [], [], 5)[0] == [acc]
assert acc.recv(1) == b"y"
assert select.select([], [cli], [], 5)[1] == [cli]

# poll
p = select.poll()
p.register(r, select.POLLIN)
p.register(acc, select.POLLIN)
assert p.poll(50) == []
cli.send(b"z")
assert p.poll(5000) == [(acc.fileno(), select.POLLIN)]
assert acc.recv(1) == b"z"
os.write(w, b"x")
assert p.poll(5000) == [(r, select.POLLIN)]
os.read(r, 1)

# epoll: host and kernel fds in one set, both ready at once
ep = select.epoll()
ep.register(r, select.EPOLLIN)
ep.register(acc, select.EPOLLIN)
assert ep.poll(0.05) == []
os.write(w, b"a")
cli.send(b"b")
got = sorted(fd for fd, _ in ep.poll(5))
assert got == sorted([r, acc.fileno()]), got
os.read(r, 1)
acc.recv(1)
# a kernel fd becoming ready while the host side waits
pid = os.fork()
if pid == 0:
    # the child shares the kernel socket (fork keeps the kernel process)
    cli.send(b"c")
    os._exit(0)
assert [fd for fd, _ in ep.poll(5)] == [acc.fileno()]
os.waitpid(pid, 0)
assert acc.recv(1) == b"c"
ep.unregister(acc)
assert ep.poll(0.05) == []
ep.register(acc, select.EPOLLIN)

# epoll over kernel fds only: waits inside lkd (no waiter thread)
kep = select.epoll()
kep.register(acc, select.EPOLLIN)
assert kep.poll(0.05) == []
threading.Timer(0.1, lambda: cli.send(b"k")).start()
assert kep.poll(5) == [(acc.fileno(), select.EPOLLIN)]
assert acc.recv(1) == b"k"


# a signal with a handler interrupts waits on kernel fds only
class Interrupted(Exception):
    pass


# The timer repeats: a first signal that lands before the wait begins (on
# a loaded machine) only trips Python's flag, and the next one interrupts
# the wait; the handler raises once per wait.
armed = [False]


def handler(*_):
    if armed[0]:
        armed[0] = False
        raise Interrupted()


signal.signal(signal.SIGALRM, handler)
# a connection nobody reads: a large blocking send fills it and blocks
full = socket.create_connection(("127.0.0.1", port))
unread, _ = srv.accept()
big = b"x" * (64 << 20)
# a listener whose accept queue is full (backlog 0, one connection
# waiting): lkd's kernel drops a further SYN, so that connect blocks
crowded = socket.socket()
crowded.bind(("127.0.0.1", port + 10))
crowded.listen(0)
queued = socket.create_connection(("127.0.0.1", port + 10))
blocked = socket.socket()
for wait in (lambda: select.select([acc], [], [], 30),
             lambda: p.poll(30000),
             lambda: ep.poll(30),
             lambda: kep.poll(30),
             lambda: acc.recv(1),
             lambda: acc.recv(4, socket.MSG_WAITALL),
             lambda: srv.accept(),
             lambda: full.sendall(big),
             lambda: blocked.connect(("127.0.0.1", port + 10))):
    armed[0] = True
    signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)
    try:
        wait()
        sys.exit("a wait was not interrupted by SIGALRM")
    except Interrupted:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)

# MSG_WAITALL interrupted after part of it came returns that part (a
# handler that does not raise: Python would retry an EINTR)
seen = []
signal.signal(signal.SIGALRM, lambda *_: seen.append(1))
cli.send(b"abc")
signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)
try:
    part = acc.recv(10, socket.MSG_WAITALL)
finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
assert part == b"abc" and seen, (part, seen)
signal.signal(signal.SIGALRM, signal.SIG_IGN)

# MSG_WAITALL gathers pieces that come one after another
threading.Timer(0.1, lambda: cli.send(b"all")).start()
cli.send(b"w")
assert acc.recv(4, socket.MSG_WAITALL) == b"wall"

# a blocking connect that can complete does
crowded.accept()[0].close()
done = socket.socket()
done.connect(("127.0.0.1", port))
assert srv.accept()[0].getpeername() == done.getsockname()

# a blocking recv waits for data that comes later
threading.Timer(0.1, lambda: cli.send(b"late")).start()
assert acc.recv(4) == b"late"

# SO_RCVTIMEO bounds a blocking recv: EAGAIN
acc.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 100000))
try:
    acc.recv(1)
    sys.exit("recv with SO_RCVTIMEO returned")
except BlockingIOError:
    pass
print("waits ok")
