#!/usr/bin/env bash
# Runs the whole test suite; the last line is "N passed, N failed, N skipped".
# Arguments go to `bazel test` (e.g. ./test.sh //kernel/...).
# Run ./setup.sh first on a fresh machine.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${1:-}" in
-h|--help)
	echo "Usage: ./test.sh [BAZEL-TEST-ARGS...] [TARGETS...]"
	echo "Runs all tests (default //...) and ends with a line 'N passed, N failed, N skipped'."
	echo "See tools/run_tests.sh --help for details."
	exit 0 ;;
esac
exec "$here/tools/run_tests.sh" "$@"
