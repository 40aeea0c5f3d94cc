#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Stock programs under lkrun against a real lkd, beside the same programs
# on the host in the same run (issue #11): iperf3 (one TCP stream), nginx
# (wrk, small file), redis (redis-benchmark SET and GET). Prints
# "BENCH <name> <value> <unit>" lines.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: bazel run -c opt //tools/bench:hijack_bench -- [--seconds N] [--only LIST]
                                                      [--lkd_args "FLAGS"]

  --seconds N   length of each iperf3 and wrk run (default 3)
  --only LIST   comma-separated subset of iperf3,nginx,redis (default all)
  --lkd_args F  extra flags for the lkd it starts (e.g. "--dispatch_waker=false")
  --help        this text

Prints, for each workload, the lkrun figure and the host figure:
  BENCH hijack_iperf3_gbps / host_iperf3_gbps   iperf3 -t N, one stream
  BENCH hijack_nginx_rps / host_nginx_rps       wrk -t2 -c32 against nginx (1 KiB file)
  BENCH hijack_redis_kops / host_redis_kops     redis-benchmark -t set,get (mean of both)
Needs iperf3, nginx-light, wrk, redis-server and redis-tools (setup.sh installs them).
USAGE
}

seconds=3
only=iperf3,nginx,redis
lkd_args=""
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--lkd_args) lkd_args=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "hijack_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
for p in iperf3 nginx wrk redis-server redis-benchmark python3; do
	command -v "$p" >/dev/null || { echo "hijack_bench: $p not installed (run ./setup.sh)" >&2; exit 1; }
done

runfiles="${RUNFILES_DIR:-$0.runfiles}/lkd"
LKD="$runfiles/server/lkd"
LKRUN="$runfiles/rumpclient/lkrun"
tmp=$(mktemp -d /tmp/hijack-bench-XXXXXX)
pids=()
lkd_pid=
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -z "$lkd_pid" ] || { kill -TERM "$lkd_pid" 2>/dev/null && wait "$lkd_pid" || true; }
	rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck disable=SC2086 # lkd_args is a list of flags
"$LKD" --listen "unix://$tmp/lkd.sock" --mem 512M $lkd_args >"$tmp/lkd.log" 2>&1 &
lkd_pid=$!
until grep -qs 'serving on' "$tmp/lkd.log"; do
	kill -0 "$lkd_pid" 2>/dev/null || { cat "$tmp/lkd.log" >&2; exit 1; }
	sleep 0.05
done
export LKD_SERVER="unix://$tmp/lkd.sock"

# MODE is "host" or "hijack": the command prefix for each.
prefix() { [ "$1" = host ] && echo "" || echo "$LKRUN"; }

# Waits until PORT listens, on the host or inside lkd.
wait_listen() {
	local mode=$1 port=$2 tries=0
	until $(prefix "$mode") ss -Htln "sport = :$port" | grep -q .; do
		tries=$((tries + 1))
		[ "$tries" -lt 600 ] || { echo "hijack_bench: nothing listens on $port ($mode)" >&2; exit 1; }
		sleep 0.1
	done
}

start() {  # MODE LOG COMMAND...: in its own process group
	local mode=$1 log=$2
	shift 2
	setsid $(prefix "$mode") "$@" >"$tmp/$log" 2>&1 &
	pids+=("$!")
}

# Each bench_<workload> MODE PORT sets `value`.
bench_iperf3() {
	local mode=$1 port=$2
	start "$mode" "iperf3_s_$mode.log" iperf3 -s -1 -p "$port" -B 127.0.0.1
	wait_listen "$mode" "$port"
	$(prefix "$mode") iperf3 -c 127.0.0.1 -p "$port" -t "$seconds" -J >"$tmp/iperf3_$mode.json"
	value=$(python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' \
		"$tmp/iperf3_$mode.json")
}

bench_nginx() {
	local mode=$1 port=$2 dir="$tmp/nginx_$mode"
	mkdir -p "$dir/www" "$dir/tmp"
	head -c 1024 /dev/urandom >"$dir/www/1k"
	cat >"$dir/nginx.conf" <<CONF
daemon off;
user root;
worker_processes 1;
error_log $dir/error.log error;
pid $dir/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path $dir/tmp;
	proxy_temp_path $dir/tmp;
	fastcgi_temp_path $dir/tmp;
	uwsgi_temp_path $dir/tmp;
	scgi_temp_path $dir/tmp;
	server { listen 127.0.0.1:$port; root $dir/www; }
}
CONF
	start "$mode" "nginx_$mode.log" nginx -p "$dir" -c "$dir/nginx.conf"
	wait_listen "$mode" "$port"
	$(prefix "$mode") wrk -t2 -c32 -d"${seconds}s" "http://127.0.0.1:$port/1k" >"$tmp/wrk_$mode"
	value=$(awk '/^Requests\/sec:/ {printf "%.0f\n", $2}' "$tmp/wrk_$mode")
	kill -QUIT "$(cat "$dir/nginx.pid")"
}

bench_redis() {
	local mode=$1 port=$2
	start "$mode" "redis_$mode.log" redis-server --port "$port" --bind 127.0.0.1 --save '' \
		--appendonly no --daemonize no
	wait_listen "$mode" "$port"
	$(prefix "$mode") redis-benchmark -p "$port" -t set,get -n 100000 -c 32 --csv >"$tmp/redis_$mode.csv"
	value=$(python3 -c '
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if r and r[0] in ("SET", "GET")]
print("%.1f" % (sum(float(r[1]) for r in rows) / len(rows) / 1000))' "$tmp/redis_$mode.csv")
	$(prefix "$mode") redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
}

port=7800
for w in iperf3 nginx redis; do
	case ",$only," in *",$w,"*) ;; *) continue ;; esac
	unit=$(case $w in iperf3) echo "Gbit/s gbps" ;; nginx) echo "req/s rps" ;; redis) echo "kreq/s kops" ;; esac)
	for mode in host hijack; do
		port=$((port + 1))
		# In this shell (not $(...)): start records its pids for cleanup.
		"bench_$w" "$mode" "$port"
		echo "BENCH ${mode}_${w}_${unit#* } $value ${unit% *}"
	done
done
