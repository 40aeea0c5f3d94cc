#!/usr/bin/env bash
# Runs under ThreadSanitizer (--config=tsan) every test that does not link
# the library kernel: TSan cannot see the kernel's own locks (its code is
# not instrumented) nor follow its task contexts, so in anything that boots
# a kernel it would report races the kernel's locks prevent. Tests tagged
# "no_tsan" are left out for the same reason with other code: they run
# threads through Debian's gRPC and Abseil, whose mutexes TSan cannot see
# (not built with it). Ends with the same "N passed, N failed, N skipped"
# line as ./test.sh.
set -uo pipefail
case "${1:-}" in
-h|--help)
	echo "Usage: tools/tsan_tests.sh [BAZEL-TEST-ARGS...]"
	echo "Runs the tests that boot no kernel under --config=tsan."
	exit 0 ;;
esac
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.." || exit 2
# toolchain_test only checks that the system libraries link; gRPC's own
# threads (not instrumented) race in TSan's eyes on its internal state.
targets=$(bazel query 'kind(test, //...) except rdeps(//..., //kernel:kernel_lib)
                       except //tools/buildcheck:toolchain_test
                       except attr(tags, "no_tsan", //...)' 2>/dev/null) ||
	{ echo "tsan_tests: bazel query failed" >&2; exit 2; }
# The suppressions (tools/tsan.supp) name races inside libraries we do not
# build; the path must be absolute for the tests, which run elsewhere.
# shellcheck disable=SC2086
exec "$here/run_tests.sh" --config=tsan \
	--test_env=TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$here/tsan.supp" \
	"$@" $targets
