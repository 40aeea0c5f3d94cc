# SPDX-License-Identifier: GPL-2.0
# Control messages under lkrun: sendmsg's IP_TOS and IP_TTL reach the
# datagram through lkd's kernel; SCM_RIGHTS on a kernel socket is
# EOPNOTSUPP while a host AF_UNIX pair still passes a host fd; a blocking
# recvmsg(MSG_ERRQUEUE) with nothing queued is EAGAIN at once, as on Linux;
# SO_TIMESTAMPNS stamps a datagram with lkd's wall clock, which is the
# host's: the stamp lies between the host's clock before the send and
# after the receive (100 us of slack for the two clocks' reads; lkd's
# clock once stayed 0.7 ms behind).
import array
import time
import errno
import os
import socket
import struct

IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)


def kernel_socket(s):
    # A kernel fd's host side is its /dev/null placeholder.
    return os.readlink("/proc/self/fd/%d" % s.fileno()) == "/dev/null"


rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
rx.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
rx.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
assert kernel_socket(rx) and kernel_socket(tx)
n = tx.sendmsg([b"to", b"s"],
               [(socket.IPPROTO_IP, socket.IP_TOS, struct.pack("i", 0x10)),
                (socket.IPPROTO_IP, socket.IP_TTL, struct.pack("i", 7))],
               0, rx.getsockname())
assert n == 3, n
data, anc, flags, addr = rx.recvmsg(16, 256)
assert data == b"tos", data
got = {(level, kind): value for level, kind, value in anc}
assert got[(socket.IPPROTO_IP, socket.IP_TOS)][0] == 0x10, anc
assert struct.unpack("i", got[(socket.IPPROTO_IP, socket.IP_TTL)])[0] == 7, anc
assert addr[1] == tx.getsockname()[1], (addr, tx.getsockname())

try:
    tx.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [1]))],
               0, rx.getsockname())
    raise AssertionError("SCM_RIGHTS on a kernel socket was sent")
except OSError as e:
    assert e.errno == errno.EOPNOTSUPP, e

a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
assert not kernel_socket(a)
r, w = os.pipe()
a.sendmsg([b"fd"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w]))])
msg, anc, _, _ = b.recvmsg(4, socket.CMSG_SPACE(4))
passed = array.array("i", anc[0][2][:4])[0]
os.write(passed, b"via")
assert os.read(r, 3) == b"via"

tx.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
try:
    tx.recvmsg(16, 256, socket.MSG_ERRQUEUE)
    raise AssertionError("an empty error queue gave a message")
except BlockingIOError:
    pass
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
for _ in range(20):
    before = time.time_ns()
    tx.sendto(b"t", rx.getsockname())
    _, anc, _, _ = rx.recvmsg(4, 256)
    after = time.time_ns()
    stamps = [d for level, kind, d in anc if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS]
    assert stamps, anc
    sec, nsec = struct.unpack("qq", stamps[0][:16])
    stamp = sec * 10**9 + nsec
    assert before - 100000 <= stamp <= after + 100000, (before, stamp, after)
print("cmsgs ok")
