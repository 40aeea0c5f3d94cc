#!/usr/bin/env bash
# Runs `bazel test` and ends with one line "N passed, N failed, N skipped"
# (CI's log reader looks for "N passed, N failed"), counted per test target
# from Bazel's build event protocol and the targets' test.xml. Exit status 0
# only if nothing failed and at least one test passed.
set -uo pipefail

usage() {
	cat <<'EOF'
Usage: tools/run_tests.sh [BAZEL-TEST-ARGS...] [TARGETS...]

Runs `bazel test --keep_going` over TARGETS (default: //...) and prints, as
the very last line, "N passed, N failed, N skipped", counted per test target:

  passed  overall status PASSED and no test case skipped
  skipped overall status PASSED but at least one test case skipped itself
          (GTEST_SKIP, e.g. a test that needs root), as test.xml records it;
          the skipped cases are listed on stderr
  failed  FAILED, TIMEOUT, FLAKY, INCOMPLETE, REMOTE_FAILURE, FAILED_TO_BUILD,
          TOOL_HALTED_BEFORE_TESTING, NO_STATUS, and test targets that never
          got a result; a build failure that leaves no failed test counts as 1

Exit status: 0 if failed == 0 and passed > 0, else 1 (also when no test
targets matched). Skips alone neither fail a run nor pass it.

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
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "run_tests: python3 not found (run: sudo ./setup.sh)" >&2
	echo "0 passed, 1 failed, 0 skipped"
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
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

path, rc = sys.argv[1], int(sys.argv[2])
FAILED = {
    "FAILED", "TIMEOUT", "FLAKY", "INCOMPLETE", "REMOTE_FAILURE",
    "FAILED_TO_BUILD", "TOOL_HALTED_BEFORE_TESTING", "NO_STATUS",
}

summaries = {}     # label -> overallStatus
test_targets = set()
built = set()         # labels whose build completed successfully
test_xmls = {}     # label -> paths of its test.xml (one per shard/run/attempt)


def local_path(uri):
    """The file behind a file:// URI of the event log, else None."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme != "file":
        return None
    return urllib.request.url2pathname(parsed.path)


def skipped_cases(path):
    """Names of the test cases a test.xml records as skipped.

    GoogleTest writes <testcase result="skipped"> with a <skipped> child for
    GTEST_SKIP(); a test.xml that Bazel wrote itself (sh_test) has neither.
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return []
    names = []
    for case in root.iter("testcase"):
        if case.get("result") == "skipped" or case.find("skipped") is not None:
            names.append(f"{case.get('classname', '?')}.{case.get('name', '?')}")
    return names


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
            elif "testResult" in eid:
                label = eid["testResult"].get("label", "?")
                for output in event.get("testResult", {}).get("testActionOutput", []):
                    if output.get("name") == "test.xml":
                        xml_path = local_path(output.get("uri", ""))
                        if xml_path:
                            test_xmls.setdefault(label, []).append(xml_path)
            elif "targetConfigured" in eid:
                if "testSize" in event.get("configured", {}):
                    test_targets.add(eid["targetConfigured"].get("label", "?"))
            elif "targetCompleted" in eid:
                if event.get("completed", {}).get("success"):
                    built.add(eid["targetCompleted"].get("label", "?"))
except OSError:
    pass  # Bazel stopped before writing any event

skips = {}         # label -> skipped case names, for targets that PASSED
for label, status in summaries.items():
    if status != "PASSED":
        continue
    names = sorted({n for p in test_xmls.get(label, []) for n in skipped_cases(p)})
    if names:
        skips[label] = names
passed = sorted(l for l, s in summaries.items() if s == "PASSED" and l not in skips)
failed = sorted((l, s) for l, s in summaries.items() if s != "PASSED")
unknown = [(l, s) for l, s in failed if s not in FAILED]
# Test targets that were configured but never reported: their build
# failed, or they built and --test_tag_filters left them out (as
# --config=asan does for no_asan tests), which is not a failure.
not_run = sorted(l for l in test_targets - summaries.keys() if l in built)
failed += sorted((l, "FAILED_TO_BUILD (no test result)")
                 for l in test_targets - summaries.keys() if l not in built)
if not_run:
    print("run_tests: built but not run (left out by the test filters):", file=sys.stderr)
    for l in not_run:
        print(f"  {l}", file=sys.stderr)

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

if skips:
    print("run_tests: test targets that skipped cases (counted as skipped):", file=sys.stderr)
    for label, names in sorted(skips.items()):
        print(f"  {label}  {', '.join(names)}", file=sys.stderr)

sys.stderr.flush()
print(f"{len(passed)} passed, {n_failed} failed, {len(skips)} skipped")
sys.exit(0 if n_failed == 0 and passed else 1)
PY
py_rc=$?
if [ "$py_rc" -gt 1 ]; then
	echo "run_tests: could not read Bazel's event log (bazel exit code $rc)" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
exit "$py_rc"
