# SPDX-License-Identifier: GPL-2.0
"""Credentials under lkrun: run as root; drops to uid/gid 65534 and checks
that lkd's kernel agrees (hijack_creds_test.sh). Each check prints one
line; the shell script compares them."""
import errno
import os
import socket
import sys
import threading


def bind_low(port):
    """0 if binding TCP `port` (< 1024) in lkd works, else the errno."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return 0
    except OSError as e:
        return e.errno
    finally:
        s.close()


def name(err):
    return "ok" if err == 0 else errno.errorcode[err]


def setuid0():
    try:
        os.setuid(0)
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]


def drop():
    print("before-drop", name(bind_low(81)), flush=True)
    # A thread that exists (with its own kernel task) before the drop and
    # binds only after it.
    go = threading.Event()
    result = []
    t = threading.Thread(target=lambda: (go.wait(), result.append(bind_low(82))))
    t.start()
    # Its task exists once it made a call.
    ready = threading.Event()
    t2_result = []

    def early():
        t2_result.append(bind_low(83))
        ready.set()
        go.wait()
        t2_result.append(bind_low(84))

    t2 = threading.Thread(target=early)
    t2.start()
    ready.wait()
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    print("ids", os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), flush=True)
    print("after-drop", name(bind_low(85)), flush=True)
    go.set()
    t.join()
    t2.join()
    print("thread-before-drop", name(t2_result[0]), name(t2_result[1]), flush=True)
    print("thread-idle", name(result[0]), flush=True)
    pid = os.fork()
    if pid == 0:
        print("fork-child", name(bind_low(86)), flush=True)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    # Gaining root back is refused by both sides.
    print("setuid0", setuid0(), flush=True)
    print("after-all", name(bind_low(87)), flush=True)
    # A new program keeps the kernel process, and its credentials. It
    # also keeps this listening socket of lkd's: connecting to it proves
    # the new program runs on lkd (on the host nothing listens there).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    os.execv(sys.executable, [sys.executable, __file__, "exec", str(port)])


def after_exec():
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10).close()
        on_lkd = "on-lkd"
    except OSError as e:
        on_lkd = errno.errorcode.get(e.errno, str(e))
    print("after-exec", os.getuid(), name(bind_low(90)), on_lkd, flush=True)


def gain():
    """Run as uid 65534, with or without CAP_SETUID on the host: lkd's
    kernel, which gave this process no capabilities, refuses setuid(0)."""
    print("setuid0", setuid0(), flush=True)
    print("bind", name(bind_low(88)), flush=True)


{"drop": drop, "gain": gain, "exec": after_exec}[sys.argv[1]]()
