#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# stdio on kernel fds under lkrun. glibc's streams read and write with
# internal calls that never reach liblkhijack, so a stream on a kernel fd
# used its host placeholder (/dev/null): `seq 3 > /lkd/f` wrote nothing,
# and sed could not open a file under the prefix. Here stock programs
# write to lkd's files through a shell's redirection (the fd inherited
# across exec), read them with fopen (sed, sort, grep), write one with
# sort -o; and stdio_prog uses streams on lkd's files, on a TCP
# connection inside lkd, on stdout moved by dup2 and by freopen (a line
# flushed only at exit, while liblkclient's session is still there).
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need seq sed sort grep ls wc
[ ! -e /lkd ] || fail "/lkd exists on the host: this test needs it not to"
start_lkd
lk() { run --prefix /lkd "$@"; }
lk sh -c 'mkdir /lkd/s' || fail "mkdir in lkd"

# ---- stock programs ----
lk sh -c 'seq 1000 > /lkd/s/seq' || fail "seq > /lkd/s/seq"
[ "$(lk sh -c 'wc -l < /lkd/s/seq')" = 1000 ] ||
	fail "seq's output in lkd: $(lk sh -c 'wc -c < /lkd/s/seq') bytes"
[ "$(lk sed -n '500p;1000p' /lkd/s/seq | tr '\n' ' ')" = "500 1000 " ] || fail "sed reading lkd's file"
lk sort -rn -o /lkd/s/sorted /lkd/s/seq || fail "sort -o"
[ "$(lk sed -n 1p /lkd/s/sorted)" = 1000 ] || fail "sort -o wrote: $(lk sh -c 'head -c 64 /lkd/s/sorted')"
[ "$(lk grep -c 7 /lkd/s/seq)" = "$(seq 1000 | grep -c 7)" ] || fail "grep -c reading lkd's file"
lk sh -c 'ls -1 / > /lkd/s/ls; ls /nonexistent 2> /lkd/s/err' && fail "ls of a missing file succeeded"
[ "$(lk sh -c 'cat /lkd/s/ls' | sort)" = "$(ls -1 / | sort)" ] || fail "ls > /lkd/s/ls gave: $(lk cat /lkd/s/ls)"
lk grep -q 'No such file' /lkd/s/err || fail "ls's stderr in lkd: $(lk cat /lkd/s/err)"
[ ! -e /lkd ] || fail "the host got /lkd"

# ---- a program's own streams ----
out=$(lk "$root/tests/hijack/stdio_prog" /lkd/s 2>"$tmp/prog.log") ||
	fail "stdio_prog: $(cat "$tmp/prog.log")"
[ "$out" = "$(printf 'ok 1\nok 2\nok 3\nok 4')" ] || fail "stdio_prog printed: $out"
grep -q '^ok 5$' "$tmp/prog.log" || fail "stdio_prog's stderr: $(cat "$tmp/prog.log")"
[ "$(lk cat /lkd/s/closed)" = "before fclose" ] || fail "stdout closed by fclose: $(lk cat /lkd/s/closed)"
[ "$(lk cat /lkd/s/file)" = "$(printf 'FIRST 1\nsecond')" ] || fail "the file: $(lk cat /lkd/s/file)"
[ "$(lk cat /lkd/s/out)" = "to lkd's file" ] || fail "stdout moved by dup2: $(lk cat /lkd/s/out)"
[ "$(lk cat /lkd/s/reopened)" = "written at exit" ] || fail "freopen'd stdout: $(lk cat /lkd/s/reopened)"
echo PASS
