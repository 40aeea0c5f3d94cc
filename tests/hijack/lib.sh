# SPDX-License-Identifier: GPL-2.0
# Shared by the tests of this directory (sourced): a real lkd started from
# the build, programs run under lkrun as a user runs them, and checks made
# from inside lkd (ss under lkrun reads lkd's sockets through its netlink).
# Every background process is recorded and ended by pid on exit.
set -euo pipefail

root="$TEST_SRCDIR/$TEST_WORKSPACE"
LKRUN="$root/rumpclient/lkrun"
LKD="$root/server/lkd"
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/hijack.XXXXXX")
# Socket paths are limited to 107 bytes: not under TEST_TMPDIR.
sockdir=$(mktemp -d /tmp/lkdhj-XXXXXX)
bg_pids=()
lkd_pid=

dump_logs() {
	for f in "$tmp"/*.log; do
		[ -s "$f" ] || continue
		echo "---- $f" >&2
		tail -n 30 "$f" >&2
	done
}

fail() {
	echo "FAIL: $*" >&2
	dump_logs
	exit 1
}

# Ends what the test started: each background program is the leader of
# its own process group (spawn), so its children (nginx's workers, redis's
# fork) go with it.
cleanup() {
	local p
	for p in "${bg_pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
	for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$lkd_pid" ]; then
		kill -TERM "$lkd_pid" 2>/dev/null && wait "$lkd_pid" 2>/dev/null || true
	fi
	rm -rf "$sockdir"
}
trap cleanup EXIT

# Fails unless every program is installed (setup.sh installs them).
need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null || fail "$p is not installed (run ./setup.sh)"
	done
}

# Starts lkd (extra flags as arguments).
start_lkd() {
	"$LKD" --listen "unix://$sockdir/lkd.sock" --mem 256M "$@" >"$tmp/lkd.log" 2>&1 &
	lkd_pid=$!
	until grep -qs 'serving on' "$tmp/lkd.log"; do
		kill -0 "$lkd_pid" 2>/dev/null || fail "lkd did not start"
		sleep 0.05
	done
	export LKD_SERVER="unix://$sockdir/lkd.sock"
}

# A program under lkrun (the timeout only bounds a hung test).
run() { timeout 120 "$LKRUN" "$@"; }

# Starts a program under lkrun in the background, in a process group of
# its own (setsid execs in place: $! is the program), output in LOG.log;
# its pid in $! and bg_pids. Redirections of the call apply (stdin).
spawn() {
	local log="$1"
	shift
	setsid "$LKRUN" "$@" >"$tmp/$log.log" 2>&1 &
	bg_pids+=("$!")
}

# Waits until lkd's kernel has a TCP listener on PORT (fails after 60 s).
wait_listen() {
	local port="$1" tries=0
	until run ss -Htln "sport = :$port" | grep -q .; do
		tries=$((tries + 1))
		[ "$tries" -lt 600 ] || fail "nothing listens on port $port inside lkd"
		sleep 0.1
	done
}

# The host's own stack must not have it: both ends are inside lkd.
host_has_no_port() {
	local port="$1"
	if ss -Htan "( sport = :$port or dport = :$port )" | grep -q .; then
		fail "the host's stack has sockets on port $port: $(ss -Htan "sport = :$port")"
	fi
}

random_file() { head -c "$2" /dev/urandom >"$1"; }
