#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# epoll_ctl on kernel sockets under lkrun (liblkhijack defers and coalesces
# the changes to the next wait, hijack_epoll.c): every answer and every
# event is Linux's, and redis's event-loop pattern costs fewer calls to lkd.
#   - epoll_prog's transcript (EEXIST/ENOENT from the set's contents,
#     changes undone before a wait, a number closed or dup2'ed over while
#     a change is pending, an ADD seen by a thread already waiting,
#     one-shot and edge-triggered re-arming, a DEL made by a forked child)
#     is the host's, with deferral (the default) and with
#     LKD_HIJACK=epoll=immediate;
#   - 4 threads changing their sockets' registrations on one epoll (DEL,
#     ADD, MOD, 3,000 rounds each) while a fifth waits on it in a loop get
#     the expected answers, and each socket is then reported once;
#   - 1,000 rounds of redis's pattern on 8 sockets (MOD, DEL, ADD on each,
#     wait, DEL, ADD on each, wait): lkd counts at least 40 calls a round
#     when each change is sent at once (5 per socket and the waits), and at
#     most 4.5 with deferral, which sends a wait's changes as one batch
#     (a round: two batches, two waits; its metrics, read with lkctl).
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
start_lkd
PROG="$root/tests/hijack/epoll_prog"
LKCTL="$root/tools/lkctl/lkctl"
export LKD_ADMIN="unix://$sockdir/admin.sock"

"$PROG" >"$tmp/host" 2>"$tmp/host.log" || fail "epoll_prog on the host failed: $(cat "$tmp/host.log")"
grep -q '^done$' "$tmp/host" || fail "epoll_prog did not finish on the host"
for mode in deferred immediate; do
	LKD_HIJACK="epoll=$mode" run "$PROG" >"$tmp/$mode" 2>"$tmp/$mode.log" ||
		fail "epoll_prog under lkrun (epoll=$mode) failed: $(cat "$tmp/$mode.log")"
	diff -u "$tmp/host" "$tmp/$mode" >"$tmp/diff" ||
		fail "epoll under lkrun (epoll=$mode) differs from the host: $(cat "$tmp/diff")"
	if [ -s "$tmp/$mode.log" ]; then fail "epoll=$mode said: $(cat "$tmp/$mode.log")"; fi
done

# Threads changing one shared epoll while another waits on it: every
# answer as expected, and at the end each socket reported exactly once.
for mode in deferred immediate; do
	out=$(LKD_HIJACK="epoll=$mode" run "$PROG" threads 2>&1) ||
		fail "epoll_prog threads (epoll=$mode) failed: $out"
	[ "$out" = "threads: ok" ] || fail "epoll_prog threads (epoll=$mode): $out"
done

# Calls lkd served, from its call-latency histogram's count.
calls() { "$LKCTL" metrics | awk '/^lkd_call_latency_seconds_count/ {print $2}'; }
rounds=1000
declare -A per_round
for mode in deferred immediate; do
	before=$(calls)
	LKD_HIJACK="epoll=$mode" run "$PROG" churn "$rounds" 8 2>"$tmp/churn.log" ||
		fail "churn (epoll=$mode) failed: $(cat "$tmp/churn.log")"
	after=$(calls)
	per_round[$mode]=$(python3 -c "print('%.2f' % (($after - $before) / $rounds))")
	echo "epoll=$mode: ${per_round[$mode]} calls to lkd a round"
done
python3 -c "import sys; sys.exit(0 if ${per_round[immediate]} >= 40 else 1)" ||
	fail "immediate epoll_ctl made only ${per_round[immediate]} calls a round (expected >= 40)"
python3 -c "import sys; sys.exit(0 if ${per_round[deferred]} <= 4.5 else 1)" ||
	fail "deferred epoll_ctl made ${per_round[deferred]} calls a round (expected <= 4.5)"
echo PASS
