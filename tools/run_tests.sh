#!/usr/bin/env bash
# Runs `bazel test` and ends with one line "N passed, N failed" (the line CI's
# log reader looks for), counted per test target from Bazel's build event
# protocol. Exit status 0 only if nothing failed and at least one test passed.
set -uo pipefail

usage() {
	cat <<'EOF'
Usage: tools/run_tests.sh [BAZEL-TEST-ARGS...] [TARGETS...]

Runs `bazel test --keep_going` over TARGETS (default: //...) and prints, as
the very last line, "N passed, N failed", counted per test target:

  passed  overall status PASSED
  failed  FAILED, TIMEOUT, FLAKY, INCOMPLETE, REMOTE_FAILURE, FAILED_TO_BUILD,
          TOOL_HALTED_BEFORE_TESTING, NO_STATUS, and test targets that never
          got a result; a build failure that leaves no failed test counts as 1

Exit status: 0 if failed == 0 and passed > 0, else 1 (also when no test
targets matched).

Arguments are passed to `bazel test` unchanged, so flags work too, e.g.
  tools/run_tests.sh --test_filter=Foo.* //server/...

Environment:
  LKD_BAZEL_STARTUP   extra Bazel startup options, e.g. --output_base=/tmp/x
EOF
}

for arg in "$@"; do
	case "$arg" in
	-h|--help) usage; exit 0 ;;
	esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 1

# Targets default to //... unless the arguments name at least one target.
have_target=0
for arg in "$@"; do
	case "$arg" in
	-*) ;;
	*) have_target=1 ;;
	esac
done
args=("$@")
if [ "$have_target" -eq 0 ]; then
	args+=("//...")
fi

if ! command -v bazel >/dev/null 2>&1; then
	echo "run_tests: bazel not found (run: sudo ./setup.sh)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "run_tests: python3 not found (run: sudo ./setup.sh)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

bep="$(mktemp "${TMPDIR:-/tmp}/lkd-bep.XXXXXX.json")" || exit 1
trap 'rm -f "$bep"' EXIT

# shellcheck disable=SC2086  # startup options are meant to be word-split
bazel ${LKD_BAZEL_STARTUP:-} test --keep_going --build_event_json_file="$bep" "${args[@]}" </dev/null
rc=$?

python3 - "$bep" "$rc" <<'PY'
import json
import sys

path, rc = sys.argv[1], int(sys.argv[2])
FAILED = {
    "FAILED", "TIMEOUT", "FLAKY", "INCOMPLETE", "REMOTE_FAILURE",
    "FAILED_TO_BUILD", "TOOL_HALTED_BEFORE_TESTING", "NO_STATUS",
}

summaries = {}     # label -> overallStatus
test_targets = set()
try:
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a truncated last line if Bazel was killed
            eid = event.get("id", {})
            if "testSummary" in eid:
                label = eid["testSummary"].get("label", "?")
                status = event.get("testSummary", {}).get("overallStatus", "NO_STATUS")
                summaries[label] = status
            elif "targetConfigured" in eid:
                if "testSize" in event.get("configured", {}):
                    test_targets.add(eid["targetConfigured"].get("label", "?"))
except OSError:
    pass  # Bazel stopped before writing any event

passed = sorted(l for l, s in summaries.items() if s == "PASSED")
failed = sorted((l, s) for l, s in summaries.items() if s != "PASSED")
unknown = [(l, s) for l, s in failed if s not in FAILED]
# Test targets that were configured but never reported (their build failed).
failed += sorted((l, "FAILED_TO_BUILD (no test result)") for l in test_targets - summaries.keys())

n_failed = len(failed)
if rc == 4:
    print("run_tests: no test targets matched (bazel exit code 4); "
          "counting that as a failure", file=sys.stderr)
elif rc not in (0, 3) and n_failed == 0:
    print(f"run_tests: bazel failed (exit code {rc}) before any test failed; counting 1 failed",
          file=sys.stderr)
    n_failed = 1
elif rc == 3 and n_failed == 0:
    print("run_tests: bazel reported failing tests (exit code 3) but the event "
          "log names none; counting 1 failed", file=sys.stderr)
    n_failed = 1

if failed:
    print("run_tests: failed test targets:", file=sys.stderr)
    for label, status in failed:
        print(f"  {label}  {status}", file=sys.stderr)
for label, status in unknown:
    print(f"run_tests: unexpected status {status} for {label}; counted as failed",
          file=sys.stderr)

sys.stderr.flush()
print(f"{len(passed)} passed, {n_failed} failed")
sys.exit(0 if n_failed == 0 and passed else 1)
PY
py_rc=$?
if [ "$py_rc" -gt 1 ]; then
	echo "run_tests: could not read Bazel's event log (bazel exit code $rc)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
exit "$py_rc"
