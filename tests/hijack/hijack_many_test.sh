#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 16 programs under lkrun on one lkd at once: 8 nc listeners and 8 nc
# clients, all connected (lkd's ss shows the 16 ends); one client is
# killed with SIGKILL; the other 7 pairs then carry their data byte for
# byte, the killed client's listener sees its connection end, and lkd
# lives on.
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need nc ss
start_lkd

n=8
declare -a servers clients writers
for i in $(seq 1 $n); do
	port=$((7600 + i))
	setsid "$LKRUN" nc -l 127.0.0.1 "$port" </dev/null >"$tmp/out$i" 2>"$tmp/server$i.log" &
	servers[$i]=$!
	bg_pids+=("$!")
done
for i in $(seq 1 $n); do wait_listen $((7600 + i)); done
for i in $(seq 1 $n); do
	mkfifo "$tmp/fifo$i"
	# The client opens its end of the fifo before it starts (the open
	# waits for our writer below), then connects.
	setsid "$LKRUN" nc -N 127.0.0.1 $((7600 + i)) <"$tmp/fifo$i" >/dev/null 2>"$tmp/client$i.log" &
	clients[$i]=$!
	bg_pids+=("$!")
	exec {fd}>"$tmp/fifo$i"
	writers[$i]=$fd
done

# All 16 ends established inside lkd.
tries=0
until [ "$(run ss -Htan state established '( sport >= :7601 and sport <= :7608 ) or ( dport >= :7601 and dport <= :7608 )' | wc -l)" -eq $((2 * n)) ]; do
	tries=$((tries + 1))
	[ "$tries" -lt 600 ] || fail "not all $((2 * n)) ends established: $(run ss -Htan)"
	sleep 0.1
done

victim=3
kill -KILL "${clients[$victim]}"
wait "${clients[$victim]}" 2>/dev/null || true
exec {writers[$victim]}>&-
wait "${servers[$victim]}" || fail "the killed client's listener failed"

for i in $(seq 1 $n); do
	[ "$i" = "$victim" ] && continue
	random_file "$tmp/in$i" $((100000 + i * 1000))
	cat "$tmp/in$i" >&"${writers[$i]}"
	exec {writers[$i]}>&-
done
for i in $(seq 1 $n); do
	[ "$i" = "$victim" ] && continue
	wait "${clients[$i]}" || fail "client $i failed: $(cat "$tmp/client$i.log")"
	wait "${servers[$i]}" || fail "listener $i failed: $(cat "$tmp/server$i.log")"
	cmp "$tmp/in$i" "$tmp/out$i" || fail "pair $i: bytes differ"
done
kill -0 "$lkd_pid" || fail "lkd died"
grep -q "host pid ${clients[$victim]} .* detached" "$tmp/lkd.log" ||
	fail "lkd did not end the killed client's kernel process"
host_has_no_port 7601
echo PASS
