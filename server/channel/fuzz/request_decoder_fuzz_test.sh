#!/usr/bin/env bash
# Runs request_decoder_fuzzer for a bounded, reproducible number of inputs
# (fixed seed, fixed run count, no ASLR) from the seeds write_seeds writes,
# and fails if it finds an input that breaks a promise of the decoder (the
# fuzzer aborts), a sanitizer error, or if the search never got past the
# decoder's checks.
#
# Usage: request_decoder_fuzz_test.sh FUZZER WRITE_SEEDS [LIBFUZZER-FLAGS...]
# A crashing input is kept in the test's undeclared outputs
# (bazel-testlogs/server/channel/request_decoder_fuzz_test/test.outputs/);
# reproduce it with: bazel-bin/server/channel/request_decoder_fuzzer.bin FILE
set -uo pipefail

[ $# -ge 2 ] || { echo "usage: $0 FUZZER WRITE_SEEDS [LIBFUZZER-FLAGS...]" >&2; exit 2; }
fuzzer=$1 write_seeds=$2
shift 2

tmp=${TEST_TMPDIR:-$(mktemp -d)}
artifacts=${TEST_UNDECLARED_OUTPUTS_DIR:-$tmp}
corpus=$tmp/corpus
log=$tmp/fuzzer.log
mkdir -p "$corpus" "$artifacts"
"$write_seeds" "$corpus" || { echo "FAIL: write_seeds failed" >&2; exit 1; }

# Reproducible: a fixed seed, no rereading of the corpus directory on a
# timer (-reload=0), and no address randomization, since libFuzzer feeds
# compared values to its mutations, addresses among them (the decoder's
# `if (!desc)` compares a table address with NULL).
no_aslr=(setarch "$(uname -m)" -R)
if ! "${no_aslr[@]}" true 2>/dev/null; then
	echo "note: setarch -R does not work here: the run is not reproducible" >&2
	no_aslr=()
fi
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"${no_aslr[@]}" "$fuzzer" -seed=1 -runs=1000000 -reload=0 -max_len=4096 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="$artifacts/" "$@" "$corpus" >"$log" 2>&1
rc=$?

if [ "$rc" -ne 0 ]; then
	tail -n 40 "$log" >&2
	echo "--- what the fuzzer found (full log: $log):" >&2
	grep -A 10 -E 'VIOLATION|ERROR: |runtime error|was not built' "$log" | head -n 40 >&2
	echo "FAIL: request_decoder_fuzzer exited with $rc" >&2
	ls "$artifacts" 2>/dev/null | grep -E '^(crash|leak|timeout|oom)-' | sed "s|^|  input kept: $artifacts/|" >&2
	exit 1
fi

grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added|request_decoder_fuzzer:)' "$log"
summary=$(grep -E '^request_decoder_fuzzer: [0-9]+ inputs:' "$log") || {
	echo "FAIL: the fuzzer printed no summary" >&2
	exit 1
}
ok=$(sed -E 's/.* ok=([0-9]+) .*/\1/' <<<"$summary")
served=$(sed -E 's/.*decoded: ([0-9]+) of ([0-9]+).*/\1 \2/' <<<"$summary")
read -r decoded table <<<"$served"
# Every served call must have been decoded successfully at least once, and
# batches (every input is decoded as one too) a hundred times, or the
# checks of their success paths never ran.
batches=$(sed -E 's/.* batches=([0-9]+);.*/\1/' <<<"$summary")
if [ "$ok" -lt 1000 ] || [ "$decoded" -ne "$table" ] || [ "$batches" -lt 100 ]; then
	echo "FAIL: the search did not reach the success paths (ok=$ok, $decoded of $table calls, $batches batches)" >&2
	exit 1
fi
echo "PASS"
