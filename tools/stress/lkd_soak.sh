#!/usr/bin/env bash
# Soak: one lkd, up to N client processes at a time connecting, copying data
# through a TCP connection inside lkd's kernel (checked byte for byte) and
# exiting, a quarter of them killed with SIGKILL halfway. Every 10 s it
# samples lkd's RSS, threads and fds; at the end it compares the last sample
# with the first minute's and says whether each stayed within 5 %.
# The client is rumpclient/sdk_test_prog.c built against liblkclient.so with
# plain cc and pkg-config, as a user would build it.
set -uo pipefail

usage() {
	cat <<'USAGE'
Usage: tools/stress/lkd_soak.sh [--minutes N] [--clients N] [--lkd PATH] [--bin DIR]

  --minutes N  how long to run (default 60)
  --clients N  client processes at a time (default 64)
  --lkd PATH   the lkd binary (default: BIN/server/lkd)
  --bin DIR    a copy of bazel-bin holding server/lkd and rumpclient/ (the
               library and lkclient.pc), so that builds during a long soak
               do not swap binaries under it (default: bazel-bin)

Needs `bazel build //server:lkd //rumpclient:sdk` first. Prints one line
per sample and a summary; exit status 1 if a surviving client's data came
back different, lkd died, or a figure grew by more than 5 %.
USAGE
}

minutes=60 clients=64 lkd="" bin=""
while [ $# -gt 0 ]; do
	case "$1" in
	--minutes) minutes="$2"; shift 2 ;;
	--clients) clients="$2"; shift 2 ;;
	--lkd) lkd="$2"; shift 2 ;;
	--bin) bin="$2"; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "lkd_soak: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
repo="$(cd "$(dirname "$0")/../.." && pwd)"
[ -n "$bin" ] || bin="$(cd "$repo" && bazel info bazel-bin 2>/dev/null)"
[ -n "$lkd" ] || lkd="$bin/server/lkd"
[ -x "$lkd" ] || { echo "lkd_soak: no lkd at $lkd (bazel build //server:lkd)" >&2; exit 2; }
[ -f "$bin/rumpclient/lkclient.pc" ] ||
	{ echo "lkd_soak: no lkclient.pc (bazel build //rumpclient:sdk)" >&2; exit 2; }

dir="$(mktemp -d /tmp/lkd_soak.XXXXXX)"
lkd_pid=""
cleanup() {
	[ -n "$lkd_pid" ] && kill -TERM "$lkd_pid" 2>/dev/null && wait "$lkd_pid" 2>/dev/null
	pkill -KILL -P $$ 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

# The client, built as a user of the installed library would build it.
if ! cc "$repo/rumpclient/sdk_test_prog.c" -o "$dir/client" \
	$(PKG_CONFIG_PATH="$bin/rumpclient" pkg-config --cflags --libs lkclient) \
	-Wl,-rpath,"$bin/rumpclient"; then
	echo "lkd_soak: cannot build the client" >&2
	exit 1
fi
for i in 0 1 2 3 4 5 6 7; do
	head -c $(((i + 1) * 48 * 1024)) /dev/urandom >"$dir/in.$i"
done

"$lkd" --listen "unix://$dir/lkd.sock" --mem 256M >"$dir/lkd.log" 2>&1 &
lkd_pid=$!
for _ in $(seq 1 150); do
	grep -qs "serving on" "$dir/lkd.log" && break
	sleep 0.1
done
grep -qs "serving on" "$dir/lkd.log" || { echo "lkd_soak: lkd did not start" >&2; cat "$dir/lkd.log" >&2; exit 1; }
export LKD_SERVER="unix://$dir/lkd.sock"

# Background jobs that are clients (lkd is one of the shell's jobs too).
client_jobs() {
	jobs -rp | grep -vx "$lkd_pid" | wc -l
}

sample() {
	local rss threads fds
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$lkd_pid/status")
	threads=$(ls "/proc/$lkd_pid/task" | wc -l)
	fds=$(ls "/proc/$lkd_pid/fd" | wc -l)
	echo "$rss $threads $fds"
}

# One client: copy a file through lkd and compare; 1 in 4 is killed midway.
run_client() {
	local n=$1 input="$dir/in.$(($1 % 8))" out="$dir/out.$1"
	"$dir/client" <"$input" >"$out" 2>"$dir/err.$1" &
	local pid=$!
	if [ $((RANDOM % 4)) = 0 ]; then
		sleep "0.0$((RANDOM % 10))"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		echo killed >"$dir/result.$n"
	elif wait "$pid" && cmp -s "$input" "$out"; then
		echo ok >"$dir/result.$n"
	else
		echo bad >"$dir/result.$n"
		[ -f "$dir/first_bad" ] || cp "$dir/err.$n" "$dir/first_bad" 2>/dev/null
	fi
	rm -f "$out" "$dir/err.$n"
}

end=$((SECONDS + minutes * 60))
next_sample=$SECONDS
first_minute=()
n=0 ok=0 killed=0 bad=0
while [ $SECONDS -lt $end ]; do
	if ! kill -0 "$lkd_pid" 2>/dev/null; then
		echo "lkd_soak: lkd died"; tail -5 "$dir/lkd.log"; exit 1
	fi
	running=$(client_jobs)
	while [ "$running" -lt "$clients" ]; do
		run_client "$n" &
		n=$((n + 1))
		running=$((running + 1))
	done
	if [ $SECONDS -ge $next_sample ]; then
		s=$(sample)
		echo "lkd_soak: t=${SECONDS}s clients=$n rss_kib/threads/fds: $s"
		[ $SECONDS -lt 60 ] && first_minute+=("$s")
		next_sample=$((SECONDS + 10))
	fi
	sleep 0.05
done
# Clients still running 30 s after the end are hung: a failure.
for _ in $(seq 1 300); do
	[ "$(client_jobs)" = 0 ] && break
	sleep 0.1
done
hung=$(client_jobs)
if [ "$hung" != 0 ] && [ -n "${LKD_SOAK_HOLD:-}" ]; then
	echo "lkd_soak: holding for inspection: lkd pid $lkd_pid, hung jobs $(jobs -rp | grep -vx "$lkd_pid" | tr '\n' ' ')"
	sleep "$LKD_SOAK_HOLD"
fi
# One pass over the result files (an hour leaves over 100,000 of them: a
# subshell per file took longer than the soak's last ten minutes).
read -r ok killed bad < <(find "$dir" -maxdepth 1 -name 'result.*' -print0 |
	xargs -0 -r cat | awk '{ n[$1]++ } END { print n["ok"] + 0, n["killed"] + 0, n["bad"] + 0 }')
sleep 2	# let lkd notice the last hang-ups
last=$(sample)
echo "lkd_soak: $n clients: $ok copied exactly, $killed killed, $bad bad, $hung hung"
[ -f "$dir/first_bad" ] && echo "lkd_soak: the first bad client said: $(head -3 "$dir/first_bad")"
# The first minute's largest sample is the baseline.
read -r base_rss base_threads base_fds <<<"$(printf '%s\n' "${first_minute[@]}" |
	awk '{ if ($1 > r) r = $1; if ($2 > t) t = $2; if ($3 > f) f = $3 } END { print r, t, f }')"
read -r rss threads fds <<<"$last"
status=0
check() {
	local name=$1 base=$2 now=$3
	local limit=$((base + base / 20))
	if [ "$now" -le "$limit" ]; then
		echo "lkd_soak: $name first minute $base, end $now: within 5 %"
	else
		echo "lkd_soak: $name first minute $base, end $now: grew more than 5 %"
		status=1
	fi
}
check rss_kib "$base_rss" "$rss"
check threads "$base_threads" "$threads"
check fds "$base_fds" "$fds"
[ "$bad" = 0 ] && [ "$hung" = 0 ] || status=1
exit $status
