#!/usr/bin/env bash
# Boots and stops lkd again and again, optionally next to busy loops, and
# reports any boot that does not reach "serving on" in time, with the
# stacks of all its threads (gdb). This is how the lost-CPU boot hang fixed
# in kernel/arch/lkd/kernel/threads.c (lkd_run_as resets `leaving`) was
# found: before the fix about 1 boot in 45-150 hung with two busy loops.
set -uo pipefail

usage() {
	cat <<'USAGE'
Usage: tools/stress/lkd_boot_loop.sh [--runs N] [--busy N] [--lkd PATH]

  --runs N   boots to try (default 100)
  --busy N   host busy loops to run meanwhile (default 2)
  --lkd PATH the lkd binary (default: bazel-bin/server/lkd)

Prints one line per boot and a summary; exit status 1 if any boot hung.
Stacks of a hung lkd go to /tmp/lkd_boot_loop.<run>.gdb (needs gdb).
USAGE
}

runs=100 busy=2 lkd=""
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs="$2"; shift 2 ;;
	--busy) busy="$2"; shift 2 ;;
	--lkd) lkd="$2"; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "lkd_boot_loop: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
if [ -z "$lkd" ]; then
	lkd="$(cd "$(dirname "$0")/../.." && bazel info bazel-bin 2>/dev/null)/server/lkd"
fi
[ -x "$lkd" ] || { echo "lkd_boot_loop: no lkd at $lkd (bazel build //server:lkd)" >&2; exit 2; }

dir="$(mktemp -d /tmp/lkd_boot_loop.XXXXXX)"
busy_pids=()
cleanup() {
	for p in "${busy_pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 1 "$busy"); do
	( while :; do :; done ) &
	busy_pids+=($!)
done

hangs=0
for i in $(seq 1 "$runs"); do
	# A fresh log: the check below must not see the last boot's line
	# before the new lkd's shell has truncated the file.
	rm -f "$dir/log"
	"$lkd" --listen "unix://$dir/lkd.sock" --mem 128M >"$dir/log" 2>&1 &
	pid=$!
	ok=0
	for _ in $(seq 1 150); do
		grep -qs "serving on" "$dir/log" && { ok=1; break; }
		sleep 0.1
	done
	if [ "$ok" = 0 ]; then
		hangs=$((hangs + 1))
		echo "boot $i: no 'serving on' after 15 s; stacks in /tmp/lkd_boot_loop.$i.gdb"
		timeout 60 gdb -p "$pid" -batch -ex "thread apply all bt 30" \
			>"/tmp/lkd_boot_loop.$i.gdb" 2>&1
		kill -9 "$pid" 2>/dev/null
	fi
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	echo "boot $i: exit $?"
done
echo "lkd_boot_loop: $runs boots, $hangs hung"
[ "$hangs" = 0 ]
