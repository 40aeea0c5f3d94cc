#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An exec search over PATH (python's os.execvp, libc's execvp) tries each
# directory in turn: its failed attempts must not leave hand-overs of the
# kernel process behind in lkd, each expiring later with a log line. lkd
# runs with a 1 s hand-over timeout, so leftovers show within the test.
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need python3
start_lkd --handover_timeout_s=1
py=$(command -v python3)
# pyenv's shims are shell scripts that exec more programs: take Debian's.
if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; fi

search='import os, sys
os.environ["PATH"] = "/nonexistent/a:/nonexistent/b:/nonexistent/c:/usr/bin:/bin"
os.execvp(sys.argv[1], sys.argv[1:])'

# Found in the fourth directory after three failed attempts.
run "$py" -c "$search" true || fail "execvp of true under lkrun failed"
# Not found anywhere: five failed attempts, then the program goes on.
out=$(run "$py" -c "$search" no-such-program-lkd 2>&1) && fail "a missing program ran: $out"
grep -q "FileNotFoundError" <<<"$out" || fail "unexpected failure: $out"

sleep 2.5
expired=$(grep -c "hand-over of kernel process .* expired" "$tmp/lkd.log" || true)
# The first search's hand-over was claimed; the second left one, not five.
[ "$expired" -eq 1 ] || fail "$expired hand-overs expired, want 1: $(cat "$tmp/lkd.log")"
echo PASS
