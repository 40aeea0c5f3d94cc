#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# setuid and friends under lkrun change the program's kernel process in
# lkd, not only the host process (creds.py prints what it saw):
#  - root drops to uid/gid 65534 with no groups: binding TCP port 81 in lkd
#    worked before, is EACCES after (the kernel's CAP_NET_BIND_SERVICE
#    check), also in a thread that made calls before the drop, in one that
#    waited meanwhile, and in a child forked after it; setuid(0) back is
#    EPERM; a program it then execs keeps the kernel process as nobody;
#  - a user that is not root cannot setuid(0) (EPERM), and one that may on
#    the host (CAP_SETUID) but not in lkd gets lkd's EPERM.
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need python3 setpriv
start_lkd

# The unprivileged runs need lkrun, its libraries and the script where
# uid 65534 can read them (the build output is under /root).
bin="$sockdir/bin"
mkdir -p "$bin"
cp -L "$root/rumpclient/lkrun" "$root/rumpclient/liblkhijack.so" \
	"$root/rumpclient/liblkclient.so.0" "$root/tests/hijack/creds.py" "$bin/"
chmod 755 "$sockdir" "$bin"
chmod a+rX "$bin"/*
py=$(command -v python3)
# pyenv and the like keep theirs under /root too.
if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; fi

expect() {
	local what="$1" got="$2" want="$3"
	[ "$got" = "$want" ] || fail "$what: got '$got', want '$want'"
}

# lkrun from the copy: the program it execs as nobody must be able to load
# the library (liblkhijack refuses an exec that could not, see below).
out=$(timeout 120 "$bin/lkrun" -- "$py" "$bin/creds.py" drop) ||
	fail "creds.py drop exited with $?: $out"
line() { grep "^$1 " <<<"$out" || true; }
expect "bind :81 as root" "$(line before-drop)" "before-drop ok"
expect "ids after the drop" "$(line ids)" "ids 65534 65534 65534 []"
expect "bind :85 after the drop" "$(line after-drop)" "after-drop EACCES"
expect "a thread that made calls before the drop" "$(line thread-before-drop)" \
	"thread-before-drop ok EACCES"
expect "a thread that waited" "$(line thread-idle)" "thread-idle EACCES"
expect "a child forked after the drop" "$(line fork-child)" "fork-child EACCES"
expect "setuid(0) after the drop" "$(line setuid0)" "setuid0 EPERM"
expect "bind after all" "$(line after-all)" "after-all EACCES"
expect "a program it then execs" "$(line after-exec)" "after-exec 65534 EACCES on-lkd"

# The same drop with the library where nobody cannot read it (the build
# output, under /root): the exec after the drop is refused, never run on
# the host's stack.
rc=0
out=$(run "$py" "$bin/creds.py" drop 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "an exec that could not load the library succeeded: $out"
grep -q "liblkhijack: not executing .*cannot read" <<<"$out" || fail "no reason given: $out"
grep -q "^after-exec" <<<"$out" && fail "the exec'd program ran: $out"

as_nobody() { timeout 120 setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }
out=$(as_nobody "$bin/lkrun" -- "$py" "$bin/creds.py" gain 2>&1) || fail "nonroot: $out"
expect "setuid(0) as nobody" "$(line setuid0)" "setuid0 EPERM"
expect "bind as nobody" "$(line bind)" "bind EACCES"
out=$(as_nobody --inh-caps +setuid --ambient-caps +setuid "$bin/lkrun" -- "$py" "$bin/creds.py" gain 2>&1) ||
	fail "capable: $out"
expect "setuid(0) with CAP_SETUID on the host only" "$(line setuid0)" "setuid0 EPERM"
expect "bind after it" "$(line bind)" "bind EACCES"

# lkd's session list shows the credentials a process dropped to, not
# those it attached with.
export LKD_ADMIN="unix://$sockdir/admin.sock"
spawn held "$py" -c '
import os, socket, time
socket.socket().close()
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
print("dropped", flush=True)
time.sleep(120)'
held=$!
for _ in $(seq 600); do grep -q dropped "$tmp/held.log" && break; sleep 0.1; done
grep -q dropped "$tmp/held.log" || fail "the held program did not drop: $(cat "$tmp/held.log")"
row=$("$root/tools/lkctl/lkctl" session list | awk -v p="$held" '$2 == p')
[ -n "$row" ] || fail "host pid $held not in lkctl session list: $("$root/tools/lkctl/lkctl" session list)"
[ "$(awk '{print $3}' <<<"$row")" = 65534 ] || fail "session list shows: $row"
echo PASS
