#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# redis-server and redis-cli under lkrun: 10,000 SETs through one
# connection, every value read back with GET and compared, then BGSAVE
# (redis forks a child that writes the dump while the parent serves; the
# child closes the listeners it inherited) succeeds and the dump has the
# keys. The server's epoll mixes a pipe with kernel sockets.
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need redis-server redis-cli ss
start_lkd

dir="$tmp/redis"
mkdir -p "$dir"
spawn redis redis-server --port 7401 --bind 127.0.0.1 --dir "$dir" --save '' \
	--daemonize no --appendonly no --logfile "$dir/redis.log"
wait_listen 7401
cli() { run redis-cli -p 7401 "$@"; }

for i in $(seq 1 10000); do echo "SET key:$i value-$i-$RANDOM$RANDOM"; done >"$tmp/sets"
awk '{print $3}' "$tmp/sets" >"$tmp/expected"
cli <"$tmp/sets" >"$tmp/set_replies" || fail "redis-cli SET failed"
[ "$(grep -cx OK "$tmp/set_replies")" -eq 10000 ] || fail "not 10000 OKs: $(sort "$tmp/set_replies" | uniq -c | head)"
for i in $(seq 1 10000); do echo "GET key:$i"; done | cli >"$tmp/got" || fail "redis-cli GET failed"
cmp "$tmp/expected" "$tmp/got" || fail "GET answers differ from what was SET"
[ "$(cli DBSIZE)" = 10000 ] || fail "DBSIZE $(cli DBSIZE)"

before=$(cli LASTSAVE)
[ "$(cli BGSAVE)" = "Background saving started" ] || fail "BGSAVE refused"
# Wait for the fork's result (redis's own state, not a sleep).
tries=0
until cli INFO persistence | grep -q '^rdb_bgsave_in_progress:0'; do
	tries=$((tries + 1))
	[ "$tries" -lt 600 ] || fail "BGSAVE never finished"
	sleep 0.1
done
cli INFO persistence | grep -q '^rdb_last_bgsave_status:ok' || fail "BGSAVE failed: $(tail "$dir/redis.log")"
[ "$(cli LASTSAVE)" != "$before" ] || fail "LASTSAVE did not move"
grep -q 'Background saving terminated with success' "$dir/redis.log" || fail "redis log: $(tail "$dir/redis.log")"
[ -s "$dir/dump.rdb" ] || fail "no dump.rdb"
grep -q 'key:10000' "$dir/dump.rdb" || fail "dump.rdb lacks the keys"
# The parent still serves after its child is gone.
[ "$(cli GET key:4242)" = "$(sed -n 4242p "$tmp/expected")" ] || fail "GET after BGSAVE"

run ss -Htan >"$tmp/ss"
grep -q 'LISTEN.*127.0.0.1:7401' "$tmp/ss" || fail "redis's listener is not in lkd"
host_has_no_port 7401
cli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
wait "${bg_pids[0]}" || fail "redis-server exited with $?"
echo PASS
