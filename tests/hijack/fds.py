# SPDX-License-Identifier: GPL-2.0
"""What liblkhijack does to descriptors, checked from a program's view:
fstat says socket; the second close of a fd is EBADF; dup2 of a kernel
socket onto a host number (stdout) sends through lkd; sendfile from a host
file to a kernel socket, with and without an offset; an inheritable
kernel socket survives exec (same number) and a blocking accept on it is
interrupted by a signal, a close-on-exec one does not survive, also when
exec is given an empty environment;
files under the prefix live in lkd's file systems, and stat, lstat,
mkdir, rename, unlink and rmdir by path reach them (a rename out of the
prefix is EXDEV)."""
import errno
import faulthandler
import os
import signal
import socket
import stat
import sys

if sys.argv[1] == "after-exec":
    keep, gone = int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(fileno=keep)
    assert s.getsockname()[1] == int(sys.argv[4]), s.getsockname()
    assert stat.S_ISSOCK(os.fstat(keep).st_mode)
    try:
        os.fstat(gone)
        sys.exit("the close-on-exec socket survived exec")
    except OSError:
        pass
    # a blocking accept on the inherited socket is interrupted by a signal
    faulthandler.dump_traceback_later(60, exit=True)

    class Interrupted(Exception):
        pass

    def interrupt(*_):
        raise Interrupted()

    s.listen()
    signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)
    try:
        s.accept()
        sys.exit("accept on an inherited socket was not interrupted")
    except Interrupted:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    s.detach()
    print("exec ok")
    sys.exit(0)

port, tmpdir = int(sys.argv[2]), sys.argv[3]
umask = os.umask(0o022)
srv = socket.socket()
srv.bind(("127.0.0.1", port))
srv.listen()
cli = socket.create_connection(("127.0.0.1", port))
acc, _ = srv.accept()
assert stat.S_ISSOCK(os.fstat(acc.fileno()).st_mode)

# close twice
extra = socket.socket()
fd = extra.detach()
os.close(fd)
try:
    os.close(fd)
    sys.exit("second close succeeded")
except OSError as e:
    assert e.errno == 9, e

# dup2 onto stdout: writes to fd 1 go through lkd
saved = os.dup(1)
os.dup2(cli.fileno(), 1)
os.write(1, b"via-stdout")
os.dup2(saved, 1)
os.close(saved)
got = b""
while len(got) < 10:
    got += acc.recv(10)
assert got == b"via-stdout", got
os.write(1, b"")  # stdout is the host's again

# sendfile, host file -> kernel socket
path = os.path.join(tmpdir, "sendfile.src")
data = os.urandom(200000)
open(path, "wb").write(data)
f = os.open(path, os.O_RDONLY)
sent = 0
while sent < 100000:
    sent += os.sendfile(cli.fileno(), f, sent, 100000 - sent)
assert os.lseek(f, 0, os.SEEK_CUR) == 0  # with an offset: position unchanged
os.lseek(f, 100000, os.SEEK_SET)
while sent < len(data):
    n = os.sendfile(cli.fileno(), f, None, len(data) - sent)
    sent += n
    assert os.lseek(f, 0, os.SEEK_CUR) == sent
got = b""
while len(got) < len(data):
    got += acc.recv(65536)
assert got == data

# files under the prefix (LKD_HIJACK prefix=/lkd)
with open("/lkd/hijack-file", "wb") as out:
    out.write(b"inside lkd")
# (stat of /lkd is lkd's /: the host is asked through a listing)
assert "lkd" not in os.listdir("/"), "the prefix exists on the host"
with open("/lkd/hijack-file", "rb") as back:
    assert back.read() == b"inside lkd"
# the path calls: stat, lstat, mkdir, rename, unlink, rmdir reach lkd too
assert os.stat("/lkd/hijack-file").st_size == len(b"inside lkd")
assert stat.S_ISREG(os.lstat("/lkd/hijack-file").st_mode)
os.mkdir("/lkd/dir", 0o750)
st = os.stat("/lkd/dir")
assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750 & ~umask, oct(st.st_mode)
os.rename("/lkd/hijack-file", "/lkd/dir/moved")
assert os.stat("/lkd/dir/moved").st_size == len(b"inside lkd")
for call, args, err in ((os.stat, ("/lkd/hijack-file",), errno.ENOENT),
                        (os.mkdir, ("/lkd/dir",), errno.EEXIST),
                        (os.rmdir, ("/lkd/dir",), errno.ENOTEMPTY),
                        (os.rename, ("/lkd/dir/moved", os.path.join(tmpdir, "x")), errno.EXDEV),
                        (os.unlink, ("/lkd/dir",), errno.EISDIR)):
    try:
        call(*args)
        sys.exit("%s%s succeeded" % (call.__name__, args))
    except OSError as e:
        assert e.errno == err, (call.__name__, args, e)
os.unlink("/lkd/dir/moved")
os.rmdir("/lkd/dir")
assert not os.path.lexists("/lkd/dir")
assert "lkd" not in os.listdir("/"), "the prefix exists on the host"

# exec keeps the inheritable socket, not the close-on-exec one
keep = socket.socket()
keep.bind(("127.0.0.1", port + 1))
os.set_inheritable(keep.fileno(), True)
gone = socket.socket()
sys.stdout.flush()
# with an empty environment: the library carries itself over
os.execve(sys.executable, [sys.executable, __file__, "after-exec", str(keep.fileno()),
                           str(gone.fileno()), str(port + 1)], {})
