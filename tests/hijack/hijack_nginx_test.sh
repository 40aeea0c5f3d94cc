#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# nginx under lkrun (master + 2 workers: the workers inherit the master's
# kernel listen socket across fork, wait in epoll over an eventfd, their
# AF_UNIX channel and kernel sockets, and send a host file with sendfile)
# serving curl and wget, also under lkrun: every byte compared, the
# listener and the connections inside lkd, none on the host's stack. Then
# the same nginx as a daemon (fork, setsid, the parent exits). Its workers
# run as nobody (`user`), in lkd too: the socket a worker opens to an
# upstream belongs to uid 65534 in lkd's kernel (ss -e under lkrun).
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need nginx curl wget ss
start_lkd

ngx="$tmp/nginx"
mkdir -p "$ngx/tmp" "$ngx/logs"
# The workers (nobody) read the files: not under /root, where the test's
# directory is.
www="$sockdir/www"
mkdir -p "$www"
chmod 755 "$sockdir" "$www"
random_file "$www/small" 1000
random_file "$www/big" 5000000
chmod 644 "$www"/*
cat >"$ngx/nginx.conf" <<CONF
daemon off;
user nobody nogroup;
master_process on;
worker_processes 2;
error_log $ngx/logs/error.log info;
pid $ngx/nginx.pid;
events { worker_connections 128; }
http {
	access_log $ngx/logs/access.log;
	sendfile on;
	tcp_nopush on;
	client_body_temp_path $ngx/tmp;
	proxy_temp_path $ngx/tmp;
	fastcgi_temp_path $ngx/tmp;
	uwsgi_temp_path $ngx/tmp;
	scgi_temp_path $ngx/tmp;
	upstream back {
		server 127.0.0.1:7203;
		keepalive 4;
	}
	server {
		listen 127.0.0.1:7201;
		root $www;
		location /up/ {
			proxy_pass http://back/;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
	server {
		listen 127.0.0.1:7203;
		root $www;
	}
}
CONF
# Waits up to 60 s for nginx (master PID) to exit; else shows its
# processes' threads, where they wait and their signal masks, and the log.
stopped() {
	local pid=$1 tries=0 p t
	while kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
		tries=$((tries + 1))
		if [ "$tries" -ge 600 ]; then
			for p in $(pgrep -g "$pid"); do
				echo "pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline")" >&2
				for t in /proc/"$p"/task/*; do
					echo "  $t $(cat "$t/comm") $(cat "$t/wchan") $(grep -E 'SigBlk' "$t/status")" >&2
				done
			done
			tail -20 "$ngx/logs/error.log" >&2
			return 1
		fi
		sleep 0.1
	done
}

spawn nginx nginx -p "$ngx" -c "$ngx/nginx.conf"
nginx_job=$!
wait_listen 7201

for i in 1 2 3 4; do
	run curl -sS -o "$tmp/curl_big" http://127.0.0.1:7201/big || fail "curl $i failed"
	cmp "$www/big" "$tmp/curl_big" || fail "curl $i: bytes differ"
	run curl -sS -o "$tmp/curl_small" http://127.0.0.1:7201/small || fail "curl small failed"
	cmp "$www/small" "$tmp/curl_small" || fail "curl small: bytes differ"
done
run wget -q -O "$tmp/wget_big" http://127.0.0.1:7201/big || fail "wget failed"
cmp "$www/big" "$tmp/wget_big" || fail "wget: bytes differ"
# Through the upstream: the worker's connection to it stays open
# (keepalive), made by the worker after it became nobody.
run curl -sS -o "$tmp/curl_up" http://127.0.0.1:7201/up/small || fail "curl (upstream) failed"
cmp "$www/small" "$tmp/curl_up" || fail "curl (upstream): bytes differ"
run ss -Htane "dport = :7203" >"$tmp/ss_up"
grep -q 'ESTAB.*uid:65534' "$tmp/ss_up" ||
	fail "the worker's upstream socket is not nobody's in lkd: $(cat "$tmp/ss_up")"
code=$(run curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:7201/missing)
[ "$code" = 404 ] || fail "a missing file gave HTTP $code"

# Both ends were in lkd: its stack holds the listener and the closed
# connections' TIME-WAIT; the host's has nothing on the port.
run ss -Htan >"$tmp/ss"
grep -q 'LISTEN.*127.0.0.1:7201' "$tmp/ss" || fail "no listener in lkd: $(cat "$tmp/ss")"
grep -q 'TIME-WAIT.*127.0.0.1:7201' "$tmp/ss" || fail "no finished connection in lkd: $(cat "$tmp/ss")"
host_has_no_port 7201
[ "$(grep -c '" 200 ' "$ngx/logs/access.log")" -eq 11 ] || fail "access log: $(cat "$ngx/logs/access.log")"
workers=$(grep -c 'start worker process [0-9]' "$ngx/logs/error.log")
[ "$workers" -eq 2 ] || fail "$workers workers started"
if grep -E '\[(alert|emerg|crit)\]' "$ngx/logs/error.log"; then fail "nginx logged alerts"; fi

# Graceful stop: the master tells the workers, all exit.
kill -QUIT "$(cat "$ngx/nginx.pid")"
stopped "$nginx_job" || fail "nginx did not stop"
wait "$nginx_job" || fail "nginx exited with $?"

# As a daemon: lkrun's nginx forks, the parent exits, the child (setsid)
# keeps the kernel process and its listener.
sed -e 's/^daemon off;/daemon on;/' -e 's/7201/7202/' "$ngx/nginx.conf" >"$ngx/daemon.conf"
rm -f "$ngx/nginx.pid"
run nginx -p "$ngx" -c "$ngx/daemon.conf" || fail "nginx (daemon on) did not start"
[ -s "$ngx/nginx.pid" ] || fail "the nginx daemon wrote no pid file"
daemon_pid=$(cat "$ngx/nginx.pid")
bg_pids+=("$daemon_pid")  # its own session and process group
wait_listen 7202
run curl -sS -o "$tmp/curl_daemon" http://127.0.0.1:7202/big || fail "curl (daemon) failed"
cmp "$www/big" "$tmp/curl_daemon" || fail "curl (daemon): bytes differ"
host_has_no_port 7202
kill -QUIT "$daemon_pid"
stopped "$daemon_pid" || fail "the nginx daemon did not stop"
echo PASS
