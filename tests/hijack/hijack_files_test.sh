#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Files under `lkrun --prefix /lkd` are lkd's, seen by stock programs: a
# tree made in lkd's kernel (which the host does not have: /lkd does not
# exist there) is listed by ls -la, find, python's os.listdir, os.scandir
# and os.walk, and by a C program through every directory-stream call
# (dir_prog, glob too), and nftw and ftw walk it as they walk the same
# tree on the host (walk_prog); chmod, chown, ln -s, ln, readlink, touch, os.utime,
# os.truncate and os.access act on lkd's files, as stat (statx, hooked
# before this test's calls) then shows from another program; stat -f and
# os.statvfs show lkd's ramfs; a hard link
# from lkd to the host is EXDEV; mkfifo, mknod and python's os.mknod make
# special files in lkd; cd into the prefix (a shell's, python's chdir and
# fchdir) moves lkd's process's cwd and not the host's, relative paths and
# getcwd follow it, and programs the shell runs keep it; extended
# attributes on an ext4 disk of lkd's are set, read, listed and removed;
# sed -i and python's tempfile make temporary files and directories in
# lkd (the mkstemp family), cp and shutil copy within lkd (lkd's
# copy_file_range) and across (EXDEV, then a plain copy), and splice on a
# kernel fd is EINVAL; rsync copies a tree into lkd and back (it walks
# to its destination from an fd of "/", one component at a time); git
# keeps a repository in lkd (it mmaps its files: a private mapping is a
# copy read from lkd, a shared one ENODEV); a raw syscall(SYS_statx), as
# node's libuv makes, reaches lkd; flock excludes a second open file in
# lkd, posix_fallocate and posix_fadvise work on ext4 and ramfs; rm -r
# removes the tree from lkd.
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need ls find python3 touch chmod chown ln readlink stat rm
[ ! -e /lkd ] || fail "/lkd exists on the host: this test needs it not to"
need mkfs.ext4 mkfifo mknod df
truncate -s 32M "$tmp/disk.img" && mkfs.ext4 -q -F "$tmp/disk.img" || fail "mkfs.ext4"
start_lkd --disk "$tmp/disk.img,ext4,/data"
PROG="$root/tests/hijack/dir_prog"
lk() { run --prefix /lkd "$@"; }

# The tree, made with calls that reached lkd before (mkdir, open).
lk sh -c 'mkdir /lkd/tree /lkd/tree/sub && echo hello >/lkd/tree/a && : >/lkd/tree/sub/c' ||
	fail "making the tree in lkd"

# ---- listings ----
out=$(lk ls -1a /lkd/tree 2>"$tmp/ls.log") || fail "ls: $(cat "$tmp/ls.log")"
[ "$out" = "$(printf '.\n..\na\nsub')" ] || fail "ls -1a /lkd/tree gave: $out"
# ls -l asks each file's ACL (getxattr): no complaint either.
lk ls -la /lkd/tree >"$tmp/lsl" 2>"$tmp/ls.log" || fail "ls -la: $(cat "$tmp/ls.log")"
[ ! -s "$tmp/ls.log" ] || fail "ls -la complained: $(cat "$tmp/ls.log")"
grep -Eq '^-rw-r--r-- +1 .* 6 .* a$' "$tmp/lsl" || fail "ls -la: $(cat "$tmp/lsl")"
grep -Eq '^d.* sub$' "$tmp/lsl" || fail "ls -la shows no directory sub: $(cat "$tmp/lsl")"

out=$(lk find /lkd/tree 2>&1 | sort) || fail "find: $out"
[ "$out" = "$(printf '/lkd/tree\n/lkd/tree/a\n/lkd/tree/sub\n/lkd/tree/sub/c')" ] ||
	fail "find /lkd/tree gave: $out"
out=$(lk find /lkd/tree -type f -name c) || fail "find -type f: $out"
[ "$out" = /lkd/tree/sub/c ] || fail "find -type f -name c gave: $out"

lk python3 -c '
import os
assert sorted(os.listdir("/lkd/tree")) == ["a", "sub"], os.listdir("/lkd/tree")
got = sorted((e.name, e.is_dir(), e.stat().st_size) for e in os.scandir("/lkd/tree"))
assert [g[:2] for g in got] == [("a", False), ("sub", True)], got
assert got[0][2] == 6, got
fd = os.open("/lkd/tree", os.O_RDONLY | os.O_DIRECTORY)
assert sorted(os.listdir(fd)) == ["a", "sub"], "listdir(fd)"
assert sorted(os.listdir(fd)) == ["a", "sub"], "listdir(fd) twice (rewinddir)"
os.close(fd)
walk = [(d, sorted(ds), sorted(fs)) for d, ds, fs in os.walk("/lkd/tree")]
assert walk == [("/lkd/tree", ["sub"], ["a"]), ("/lkd/tree/sub", [], ["c"])], walk
try:
    os.listdir("/lkd/none")
    raise SystemExit("listdir of a missing directory succeeded")
except FileNotFoundError:
    pass
' 2>&1 || fail "python listings"

lk "$PROG" /lkd/tree / >"$tmp/dir" 2>"$tmp/dir.log" || fail "dir_prog: $(cat "$tmp/dir.log")"
[ "$(sort "$tmp/dir")" = "$(printf '. d\n.. d\na f\nsub d')" ] || fail "dir_prog gave: $(cat "$tmp/dir")"

# nftw and ftw report lkd's tree as they report the same tree on the host.
mkdir -p "$tmp/host/tree/sub" && echo hello >"$tmp/host/tree/a" && : >"$tmp/host/tree/sub/c" &&
	ln -s a "$tmp/host/tree/la" && ln -s /nowhere "$tmp/host/tree/dl" || fail "the host's tree"
lk sh -c 'ln -s a /lkd/tree/la && ln -s /nowhere /lkd/tree/dl' || fail "links in lkd"
"$root/tests/hijack/walk_prog" "$tmp/host/tree" | sort >"$tmp/walk.host" || fail "walk_prog on the host"
lk "$root/tests/hijack/walk_prog" /lkd/tree >"$tmp/walk.lkd" 2>"$tmp/walk.log" ||
	fail "walk_prog in lkd: $(cat "$tmp/walk.log")"
sort -o "$tmp/walk.lkd" "$tmp/walk.lkd"
grep -q '^follow SLN 1 ./dl dl$' "$tmp/walk.host" || fail "walk_prog on the host: $(cat "$tmp/walk.host")"
diff -u "$tmp/walk.host" "$tmp/walk.lkd" >"$tmp/diff" || fail "nftw/ftw in lkd differ: $(cat "$tmp/diff")"
lk rm /lkd/tree/la /lkd/tree/dl || fail "rm of the links"

# ---- path calls ----
lk chmod 751 /lkd/tree/a || fail "chmod"
[ "$(lk stat -c %a /lkd/tree/a)" = 751 ] || fail "chmod did not reach lkd: $(lk stat -c %a /lkd/tree/a)"
lk chown 12:34 /lkd/tree/sub/c || fail "chown"
[ "$(lk stat -c %u:%g /lkd/tree/sub/c)" = 12:34 ] || fail "chown did not reach lkd"

lk ln -s /some/target /lkd/tree/l || fail "ln -s"
[ "$(lk readlink /lkd/tree/l)" = /some/target ] || fail "readlink: $(lk readlink /lkd/tree/l 2>&1)"
[ "$(lk stat -c %F /lkd/tree/l)" = "symbolic link" ] || fail "ln -s made no link in lkd"
lk ln /lkd/tree/a /lkd/tree/h || fail "ln"
[ "$(lk stat -c '%h %i' /lkd/tree/a)" = "2 $(lk stat -c %i /lkd/tree/h)" ] || fail "ln made no hard link in lkd"
if lk ln /lkd/tree/a "$tmp/cross" 2>"$tmp/ln.log"; then fail "a hard link from lkd to the host"; fi
grep -q 'Invalid cross-device link' "$tmp/ln.log" || fail "ln across: $(cat "$tmp/ln.log")"

lk touch -d @981173106 /lkd/tree/a || fail "touch"
[ "$(lk stat -c %Y /lkd/tree/a)" = 981173106 ] || fail "touch did not reach lkd"
lk touch -h -d @981173107 /lkd/tree/l || fail "touch -h"
[ "$(lk stat -c %Y /lkd/tree/l)" = 981173107 ] || fail "touch -h did not reach the link"
lk touch -d @981173108 /lkd/tree/new || fail "touch of a new file"
[ "$(lk stat -c %Y /lkd/tree/new)" = 981173108 ] || fail "touch did not make lkd's file"

lk python3 -c '
import os
os.utime("/lkd/tree/sub/c", (1000, 2000))
os.truncate("/lkd/tree/sub/c", 12345)
assert os.access("/lkd/tree/a", os.X_OK), "chmod 751 is executable"
assert not os.access("/lkd/tree/sub/c", os.X_OK), "0644 is not"
assert os.access("/lkd/tree/sub", os.W_OK)
assert not os.access("/lkd/none", os.F_OK)
' 2>&1 || fail "python os.utime, os.truncate, os.access"
[ "$(lk stat -c '%X %Y %s' /lkd/tree/sub/c)" = "1000 2000 12345" ] ||
	fail "os.utime/os.truncate did not reach lkd: $(lk stat -c '%X %Y %s' /lkd/tree/sub/c)"

# File system statistics are lkd's root file system's (ramfs).
[ "$(lk stat -f -c %T /lkd/tree)" = ramfs ] || fail "stat -f: $(lk stat -f -c %T /lkd/tree 2>&1)"
lk python3 -c '
import os
v = os.statvfs("/lkd/tree")
fd = os.open("/lkd/tree", os.O_RDONLY)
assert os.fstatvfs(fd) == v, (os.fstatvfs(fd), v)
assert v.f_namemax == 255 and v.f_blocks == 0, v
' 2>&1 || fail "os.statvfs under the prefix"

# ---- special files ----
lk mkfifo /lkd/tree/fifo || fail "mkfifo"
[ "$(lk stat -c %F /lkd/tree/fifo)" = fifo ] || fail "mkfifo made no FIFO in lkd"
lk mknod /lkd/tree/null c 1 3 || fail "mknod"
[ "$(lk stat -c '%F %t,%T' /lkd/tree/null)" = "character special file 1,3" ] ||
	fail "mknod made: $(lk stat -c '%F %t,%T' /lkd/tree/null 2>&1)"
lk python3 -c '
import os, stat
os.mknod("/lkd/tree/pyfifo", 0o600 | stat.S_IFIFO)
assert stat.S_ISFIFO(os.stat("/lkd/tree/pyfifo").st_mode)
' 2>&1 || fail "python os.mknod"
lk rm /lkd/tree/fifo /lkd/tree/null /lkd/tree/pyfifo || fail "rm of the special files"

# ---- the working directory ----
# The host's cwd stays where it was: nothing of this lands in $tmp.
out=$(cd "$tmp" && lk sh -c 'cd /lkd/tree && pwd && /bin/pwd && ls -d a sub && echo rel >made && cat made &&
	cd sub && ls && cd .. && ls -d sub' 2>&1) || fail "cd into the prefix: $out"
[ "$out" = "$(printf '/lkd/tree\n/lkd/tree\na\nsub\nrel\nc\nsub')" ] || fail "cd into the prefix gave: $out"
[ "$(lk cat /lkd/tree/made)" = rel ] || fail "a relative path after cd did not reach lkd"
[ ! -e "$tmp/made" ] || fail "a relative path after cd reached the host"
lk df /lkd/tree >"$tmp/df" 2>"$tmp/df.log" || fail "df: $(cat "$tmp/df.log")"
(cd "$tmp" && lk python3 -c '
import os
host = os.getcwd()
os.chdir("/lkd/tree")
assert os.getcwd() == "/lkd/tree", os.getcwd()
assert {"a", "made", "sub"} <= set(os.listdir()), os.listdir()
assert open("a").read() == "hello\n"
os.chdir("sub")
assert os.getcwd() == "/lkd/tree/sub" and os.listdir(".") == ["c"], os.getcwd()
os.chdir("/lkd")
assert os.getcwd() == "/lkd" and "tree" in os.listdir(), os.listdir()
fd = os.open("/lkd/tree/sub", os.O_RDONLY | os.O_DIRECTORY)
os.chdir(host)
assert os.getcwd() == host and not os.path.exists("a"), "back on the host"
os.fchdir(fd)
assert os.getcwd() == "/lkd/tree/sub", os.getcwd()
hostfd = os.open(host, os.O_RDONLY | os.O_DIRECTORY)
os.fchdir(hostfd)
assert os.getcwd() == host, os.getcwd()
' 2>&1) || fail "python chdir, fchdir, getcwd"
lk rm /lkd/tree/made || fail "rm made"

# ---- extended attributes (ext4: lkd's root, ramfs, has none) ----
lk python3 -c '
import os
p = "/lkd/data/x"
open(p, "w").write("x")
os.setxattr(p, "user.one", b"1")
os.setxattr(p, "user.empty", b"")
assert os.getxattr(p, "user.one") == b"1" and os.getxattr(p, "user.empty") == b""
assert sorted(os.listxattr(p)) == ["user.empty", "user.one"], os.listxattr(p)
fd = os.open(p, os.O_RDONLY)
os.setxattr(fd, "user.two", b"22")
os.removexattr(fd, "user.one")
os.removexattr(p, "user.empty")
assert os.listxattr(fd) == ["user.two"] and os.getxattr(p, "user.two") == b"22", os.listxattr(fd)
try:
    os.setxattr(p, "user.two", b"3", os.XATTR_CREATE)
    raise SystemExit("XATTR_CREATE replaced an attribute")
except FileExistsError:
    pass
os.symlink("x", "/lkd/data/l")
os.setxattr("/lkd/data/l", "trusted.t", b"t", follow_symlinks=False)
assert os.listxattr("/lkd/data/l", follow_symlinks=False) == ["trusted.t"]
os.removexattr("/lkd/data/l", "trusted.t", follow_symlinks=False)
assert os.listxattr("/lkd/data/l", follow_symlinks=False) == []
' 2>&1 || fail "python xattrs on lkd's ext4"
[ "$(lk python3 -c 'import os; print(os.getxattr("/lkd/data/x", "user.two").decode())')" = 22 ] ||
	fail "an attribute did not stay in lkd"

# ---- temporary files, copies ----
lk sh -c 'seq 20000 > /lkd/tree/seq && sed -i s/^1/X/ /lkd/tree/seq' || fail "sed -i"
[ "$(lk sed -n '1p;10p;20000p' /lkd/tree/seq | tr '\n' ' ')" = "X X0 20000 " ] ||
	fail "sed -i wrote: $(lk sed -n '1p;10p;20000p' /lkd/tree/seq)"
lk sh -c 'ls -A /lkd/tree' | grep -q '^sed' && fail "sed -i left its temporary file"
lk python3 -c '
import os, shutil, tempfile
fd, p = tempfile.mkstemp(dir="/lkd/tree", suffix=".t")
assert p.startswith("/lkd/tree/tmp") and p.endswith(".t") and os.path.exists(p), p
os.write(fd, b"temp"); os.close(fd); os.unlink(p)
d = tempfile.mkdtemp(dir="/lkd/tree")
assert os.path.isdir(d) and oct(os.stat(d).st_mode & 0o777) == "0o700", d
os.rmdir(d)
shutil.copyfile("/lkd/tree/seq", "/lkd/tree/seq2")
src = os.open("/lkd/tree/seq", os.O_RDONLY); dst = os.open("/lkd/tree/seq3", os.O_WRONLY | os.O_CREAT, 0o644)
n = os.copy_file_range(src, dst, 1 << 20)
assert n == os.stat("/lkd/tree/seq").st_size, n
r, w = os.pipe()
try:
    os.splice(src, w, 16)
    raise SystemExit("splice from a kernel fd into a host pipe succeeded")
except OSError as e:
    assert e.errno == 22, e
' 2>&1 || fail "python tempfile, copy_file_range, splice"
lk cmp /lkd/tree/seq /lkd/tree/seq2 || fail "shutil.copyfile within lkd"
lk cmp /lkd/tree/seq /lkd/tree/seq3 || fail "copy_file_range within lkd"
lk cp /lkd/tree/seq "$tmp/seq.host" && lk cp "$tmp/seq.host" /lkd/tree/seq4 || fail "cp across"
lk cmp /lkd/tree/seq /lkd/tree/seq4 || fail "cp from lkd to the host and back"
lk rm /lkd/tree/seq /lkd/tree/seq2 /lkd/tree/seq3 /lkd/tree/seq4 || fail "rm of the copies"

# ---- rsync ----
need rsync
mkdir -p "$tmp/rs/in/sub" && echo one >"$tmp/rs/in/a" && seq 5000 >"$tmp/rs/in/sub/b" &&
	ln -s a "$tmp/rs/in/link" || fail "the tree for rsync"
lk rsync -a "$tmp/rs/in/" /lkd/tree/rs/ 2>"$tmp/rsync.log" || fail "rsync into lkd: $(cat "$tmp/rsync.log")"
[ "$(lk readlink /lkd/tree/rs/link)" = a ] || fail "rsync's link in lkd"
lk rsync -a /lkd/tree/rs/ "$tmp/rs/out/" 2>"$tmp/rsync.log" || fail "rsync out of lkd: $(cat "$tmp/rsync.log")"
diff -r "$tmp/rs/in" "$tmp/rs/out" >"$tmp/diff" || fail "rsync's round trip differs: $(cat "$tmp/diff")"
lk rm -r /lkd/tree/rs || fail "rm -r of rsync's copy"

# ---- git, mmap, raw statx ----
need git
lk sh -c 'cd /lkd/tree && git init -q repo && cd repo && seq 3000 > f &&
	git add f && git -c user.name=t -c user.email=t@e commit -qm first &&
	echo more >> f && git -c user.name=t -c user.email=t@e commit -qam second &&
	git gc -q && git fsck --no-progress' 2>"$tmp/git.log" || fail "git in lkd: $(cat "$tmp/git.log")"
[ "$(lk git -C /lkd/tree/repo log --format=%s | tr '\n' ' ')" = "second first " ] ||
	fail "git log in lkd: $(lk git -C /lkd/tree/repo log --format=%s 2>&1)"
lk git clone -q /lkd/tree/repo "$tmp/clone" 2>"$tmp/git.log" || fail "git clone out of lkd: $(cat "$tmp/git.log")"
[ "$(tail -1 "$tmp/clone/f")" = more ] || fail "the clone's file: $(tail -1 "$tmp/clone/f")"
lk python3 -c '
import ctypes, errno, mmap, os
fd = os.open("/lkd/tree/repo/f", os.O_RDONLY)
m = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
assert m[:2] == b"1\n" and m[-5:] == b"more\n" and len(m) == os.fstat(fd).st_size, m[-8:]
try:
    mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    raise SystemExit("a shared mapping of a kernel file")
except OSError as e:
    assert e.errno == errno.ENODEV, e
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(256)
L = ctypes.c_long
r = libc.syscall(L(332), L(-100), b"/lkd/tree/repo/f", L(0), L(0x7ff), buf)
assert r == 0, os.strerror(ctypes.get_errno())
assert int.from_bytes(buf.raw[40:48], "little") == os.stat("/lkd/tree/repo/f").st_size
' 2>&1 || fail "python mmap and a raw statx in lkd"
lk rm -rf /lkd/tree/repo || fail "rm -rf of the repository"

# ---- flock, fallocate, fadvise ----
lk python3 -c '
import fcntl, os
for path in ("/lkd/data/fl", "/lkd/tree/fl"):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    pid = os.fork()
    if pid == 0:
        other = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os._exit(1)
        except BlockingIOError:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0, "a second flock on " + path
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.posix_fallocate(fd, 0, 1 << 20)
    assert os.fstat(fd).st_size == 1 << 20, (path, os.fstat(fd).st_size)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    os.close(fd)
    os.unlink(path)
assert os.statvfs("/lkd/data").f_bfree > 0
' 2>&1 || fail "flock, posix_fallocate, posix_fadvise in lkd"

# ---- removal ----
lk rm -r /lkd/tree || fail "rm -r"
if lk stat /lkd/tree >/dev/null 2>&1; then fail "rm -r left the tree in lkd"; fi
[ "$(lk ls /lkd)" = "$(lk python3 -c 'import os; print("\n".join(sorted(os.listdir("/lkd"))))')" ] ||
	fail "ls and os.listdir of lkd's root differ"
[ ! -e /lkd ] || fail "the host got /lkd"
echo PASS
