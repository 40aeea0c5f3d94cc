#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# posix_spawn, system and popen under lkrun. glibc makes them with
# internal calls, so their children used to start a kernel process of
# their own: without the parent's working directory in lkd or its kernel
# fds, and a child given an environment without LD_PRELOAD ran on the
# host's stack. spawn_prog's children here resolve relative paths in the
# parent's cwd in lkd, write to a kernel fd the parent handed them by a
# dup2 action and to a file an open action made, report failing programs
# and actions as glibc does (ENOENT), and system's and popen's children
# read and write lkd's files.
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
[ ! -e /lkd ] || fail "/lkd exists on the host: this test needs it not to"
start_lkd
lk() { run --prefix /lkd "$@"; }
lk sh -c 'mkdir /lkd/sp && echo marker > /lkd/sp/marker' || fail "setting up lkd's files"

out=$(cd "$tmp" && lk "$root/tests/hijack/spawn_prog" /lkd/sp 2>"$tmp/prog.log") ||
	fail "spawn_prog: $(cat "$tmp/prog.log")"
[ "$out" = "$(printf 'ok 1\nok 2\nok 3\nok 4')" ] || fail "spawn_prog printed: $out"
[ "$(lk cat /lkd/sp/spawned | tr '\n' ' ')" = "/lkd/sp marker " ] ||
	fail "the spawned shell's stdout in lkd: $(lk cat /lkd/sp/spawned)"
[ "$(lk cat /lkd/sp/err)" = to-stderr ] || fail "the spawned shell's stderr: $(lk cat /lkd/sp/err)"
[ "$(lk cat /lkd/sp/by-system)" = marker ] || fail "system's output: $(lk cat /lkd/sp/by-system)"
[ "$(lk cat /lkd/sp/by-popen)" = "through popen" ] || fail "popen's output: $(lk cat /lkd/sp/by-popen)"
for f in spawned err by-system by-popen; do
	[ ! -e "$tmp/$f" ] || fail "$f landed in the host's cwd"
done
[ ! -e /lkd ] || fail "the host got /lkd"
echo PASS
