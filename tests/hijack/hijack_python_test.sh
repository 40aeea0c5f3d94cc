#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# python3 under lkrun against a real lkd: a TCP echo server and client
# (3 MB byte for byte, the client's child `ss` sees both ends inside lkd,
# the host's stack sees nothing); mixed host + kernel waits (select, poll,
# epoll, EINTR); control messages; curl and wget fetching from python's
# http.server. Also what liblkhijack.so exports: hooked libc names only.
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need curl wget ss
py=/usr/bin/python3
[ -x "$py" ] || fail "$py is not installed (run ./setup.sh)"
here="$root/tests/hijack"

# Exports: libc's names only (nothing of liblkclient or C++).
lib="$root/rumpclient/liblkhijack.so"
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TWiV]$/ {print $3}')
for sym in socket connect accept4 poll epoll_wait select fork execve sendfile fcntl64 __read_chk; do
	grep -qx "$sym" <<<"$exported" || fail "liblkhijack.so does not export $sym"
done
bad=$(grep -E '^(lk_|_Z)' <<<"$exported" || true)
[ -z "$bad" ] || fail "liblkhijack.so exports non-libc names: $bad"

start_lkd

# Echo, both ends inside lkd.
random_file "$tmp/in" 3000000
spawn echo_server "$py" "$here/echo.py" server 7001
wait_listen 7001
run "$py" "$here/echo.py" client 7001 "$tmp/in" "$tmp/out" "$tmp/ss" >"$tmp/echo_client.log" 2>&1 ||
	fail "echo client failed"
cmp "$tmp/in" "$tmp/out" || fail "echo: bytes differ"
grep -q '127.0.0.1:7001 *127.0.0.1:' "$tmp/ss" || fail "ss inside lkd misses the server end: $(cat "$tmp/ss")"
grep -q '127.0.0.1:[0-9]* *127.0.0.1:7001' "$tmp/ss" || fail "ss inside lkd misses the client end"
host_has_no_port 7001

# Mixed waits.
run "$py" "$here/waits.py" 7002 >"$tmp/waits.log" 2>&1 || fail "waits.py failed"
grep -q 'waits ok' "$tmp/waits.log" || fail "waits.py did not finish"

# Control messages: sendmsg's through lkd, SCM_RIGHTS only on the host,
# MSG_ERRQUEUE never waits.
run "$py" "$here/cmsgs.py" >"$tmp/cmsgs.log" 2>&1 || fail "cmsgs.py failed: $(cat "$tmp/cmsgs.log")"
grep -q 'cmsgs ok' "$tmp/cmsgs.log" || fail "cmsgs.py did not finish"

# Descriptors: fstat, double close, dup2 onto stdout, sendfile, the
# prefix, exec.
run --prefix /lkd "$py" "$here/fds.py" run 7004 "$tmp" >"$tmp/fds.log" 2>&1 || fail "fds.py failed"
grep -q 'exec ok' "$tmp/fds.log" || fail "fds.py did not get through exec"
# coreutils' stat (statx) and mv, rm by path under the prefix: lkd's files.
out=$(run --prefix /lkd sh -c 'echo hi >/lkd/s && stat -c %s /lkd/s && mv /lkd/s /lkd/t &&
	stat -c %s /lkd/t && rm /lkd/t && ! stat /lkd/t 2>/dev/null && echo gone') ||
	fail "stat, mv, rm under the prefix: $out"
[ "$out" = "$(printf '3\n3\ngone')" ] || fail "stat, mv, rm under the prefix gave: $out"

# LKD_HIJACK: unix=lkd puts AF_UNIX sockets in lkd (a placeholder on the
# host); net=none leaves AF_INET on the host; a bad entry is refused.
run env LKD_HIJACK="unix=lkd" "$py" -c '
import os, socket
s = socket.socket(socket.AF_UNIX)
assert os.readlink("/proc/self/fd/%d" % s.fileno()) == "/dev/null"
a, b = socket.socketpair()
assert os.readlink("/proc/self/fd/%d" % b.fileno()) == "/dev/null"
a.sendall(b"pair")
assert b.recv(4) == b"pair"' || fail "unix=lkd"
# ftruncate and fsync on a file under the prefix reach lkd's file.
run --prefix /lkd "$py" -c '
import os
f = os.open("/lkd/truncated", os.O_CREAT | os.O_RDWR, 0o644)
os.write(f, b"x" * 100)
os.ftruncate(f, 10)
os.fsync(f)
assert os.fstat(f).st_size == 10, os.fstat(f).st_size' || fail "ftruncate under the prefix"
run env LKD_HIJACK="net=none" "$py" -c '
import os, socket
s = socket.socket()
assert os.readlink("/proc/self/fd/%d" % s.fileno()).startswith("socket:")' || fail "net=none"
set +e
run env LKD_HIJACK="bogus" true 2>"$tmp/bogus.err"
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "bad LKD_HIJACK entry 'bogus'" "$tmp/bogus.err" ||
	fail "a bad LKD_HIJACK: rc $rc, $(cat "$tmp/bogus.err")"
# Client tuning that is not a number is said and ignored: the program runs.
run env LKD_CLIENT_SPINNERS=many LKD_CLIENT_SPIN_US=-3 "$py" -c 'import socket; socket.socket()' \
	2>"$tmp/tuning.err" || fail "bad LKD_CLIENT_* stopped the program: $(cat "$tmp/tuning.err")"
grep -q "ignoring LKD_CLIENT_SPINNERS=many" "$tmp/tuning.err" &&
	grep -q "ignoring LKD_CLIENT_SPIN_US=-3" "$tmp/tuning.err" ||
	fail "bad LKD_CLIENT_* not said: $(cat "$tmp/tuning.err")"

# On two CPUs or more, lkd pins its dispatch thread to one (auto) and a
# program under lkrun keeps off it, unless LKD_CLIENT_CPUS=any.
all_cpus=$("$py" -c 'import os; print(sorted(os.sched_getaffinity(0)))')
kernel_cpu=$(sed -n 's/^lkd: dispatch threads on CPU \([0-9]*\) .*/\1/p' "$tmp/lkd.log")
if [ "$(nproc)" -ge 2 ]; then
	[ -n "$kernel_cpu" ] || fail "lkd did not pin its dispatch thread: $(cat "$tmp/lkd.log")"
	apart=$(run "$py" -c 'import os; print(sorted(os.sched_getaffinity(0)))')
	want=$("$py" -c "import os; print(sorted(os.sched_getaffinity(0) - {$kernel_cpu}))")
	[ "$apart" = "$want" ] || fail "under lkrun the program runs on $apart, want $want"
	any=$(LKD_CLIENT_CPUS=any run "$py" -c 'import os; print(sorted(os.sched_getaffinity(0)))')
	[ "$any" = "$all_cpus" ] || fail "LKD_CLIENT_CPUS=any: runs on $any, want $all_cpus"
fi

# curl and wget against python's http.server, all inside lkd.
mkdir -p "$tmp/www"
random_file "$tmp/www/blob" 1000000
spawn http "$py" -m http.server 7003 --bind 127.0.0.1 --directory "$tmp/www"
wait_listen 7003
run curl -sS -o "$tmp/curl.out" http://127.0.0.1:7003/blob || fail "curl failed"
cmp "$tmp/www/blob" "$tmp/curl.out" || fail "curl: bytes differ"
run wget -q -O "$tmp/wget.out" http://127.0.0.1:7003/blob || fail "wget failed"
cmp "$tmp/www/blob" "$tmp/wget.out" || fail "wget: bytes differ"
host_has_no_port 7003
echo PASS
