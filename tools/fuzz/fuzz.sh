#!/usr/bin/env bash
# Runs one of lkd's libFuzzer targets for a fixed number of inputs from a
# fixed seed, built with clang (--config=fuzz: coverage, ASan, UBSan):
#
#   session    arbitrary bytes as a client's Cap'n Proto stream, served by
#              the real session server on the real library kernel
#              (server/session/session_fuzzer.cc)
#   virtqueue  malformed split rings from the driver side against the
#              virtio-blk device model (hostops/virtio/virtqueue_fuzzer.cc)
#
# Fails on a crash, a sanitizer report, a broken promise the target checks
# (a kernel process left behind, a chain served wrong), or a search that
# never reached the code past the first checks.
# (The request decoder's fuzzer runs in the test suite:
# //server/channel:request_decoder_fuzz_test.)
set -uo pipefail

usage() {
	cat <<'USAGE'
Usage: tools/fuzz/fuzz.sh session|virtqueue [--runs N] [--out DIR] [-- LIBFUZZER-FLAGS...]

  --runs N   inputs to run (default 1000000)
  --out DIR  where the corpus, logs and any crashing input go
             (default: a new directory under /tmp)

Needs clang and libclang-rt-14-dev (setup.sh installs them). Prints the
fuzzer's final statistics, its own summary line and "PASS" or "FAIL: ...".
USAGE
}

target="${1:-}"
case "$target" in
-h|--help) usage; exit 0 ;;
session)
	label=//server/session:session_fuzzer seeds=//server/session:session_fuzz_seeds
	max_len=8192
	# Inputs that made a kernel process or task (an attach got through).
	progress='s/.*: ([0-9]+) made kernel.*/\1/' ;;
virtqueue)
	label=//hostops/virtio:virtqueue_fuzzer seeds=""
	max_len=8192
	progress='s/.*: ([0-9]+) chains served.*/\1/' ;;
*) echo "fuzz: which target? session or virtqueue (see --help)" >&2; exit 2 ;;
esac
shift
runs=1000000 out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs="$2"; shift 2 ;;
	--out) out="$2"; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	--) shift; break ;;
	*) echo "fuzz: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo" || exit 2
[ -n "$out" ] || out="$(mktemp -d "/tmp/lkd_${target}_fuzz.XXXXXX")"
mkdir -p "$out/corpus" "$out/artifacts"

echo "fuzz: building $label (clang, libFuzzer, ASan, UBSan; log $out/build.log)"
bazel build --config=fuzz "$label" $seeds >"$out/build.log" 2>&1 ||
	{ tail -30 "$out/build.log" >&2; echo "FAIL: build" >&2; exit 1; }
bin="$(bazel info --config=fuzz bazel-bin 2>/dev/null)"
fuzzer="$bin/${label#//}"
fuzzer="${fuzzer/://}"
if [ -n "$seeds" ]; then
	seeder="$bin/${seeds#//}"
	"${seeder/://}" "$out/corpus" || { echo "FAIL: writing the seeds" >&2; exit 1; }
fi

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The booted kernel lives until exit by design: leak checking at exit would
# report the kernel itself.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
echo "fuzz: $runs inputs (log $out/fuzzer.log)"
start=$SECONDS
"$fuzzer" -seed=1 -runs="$runs" -reload=0 -max_len="$max_len" -timeout=60 \
	-print_final_stats=1 -artifact_prefix="$out/artifacts/" "$@" "$out/corpus" \
	>"$out/fuzzer.log" 2>&1
rc=$?
echo "fuzz: $((SECONDS - start)) s"
if [ "$rc" -ne 0 ]; then
	tail -n 40 "$out/fuzzer.log" >&2
	echo "FAIL: $target fuzzer exited with $rc" >&2
	ls "$out/artifacts" | sed "s|^|  input kept: $out/artifacts/|" >&2
	exit 1
fi
grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added|[a-z_]+_fuzzer:)' "$out/fuzzer.log"
summary=$(grep -E '^[a-z_]+_fuzzer: [0-9]+ inputs:' "$out/fuzzer.log") || {
	echo "FAIL: the fuzzer printed no summary" >&2
	exit 1
}
reached=$(sed -E "$progress" <<<"$summary")
if [ "$reached" -lt 100 ]; then
	echo "FAIL: the search did not get past the first checks ($summary)" >&2
	exit 1
fi
echo "PASS"
