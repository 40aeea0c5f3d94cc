#!/usr/bin/env bash
# Builds request_decoder_fuzzer with clang and libFuzzer, for the genrule
# //server/channel:request_decoder_fuzzer: Bazel's C++ toolchain here is
# gcc, which has no libFuzzer. C sources are compiled as C11, the others as
# C++20, all instrumented with -fsanitize=fuzzer,address,undefined.
#
# Usage: build_fuzzer.sh OUT SYSNR_H SOURCE...
#   SYSNR_H  the generated lkd/sysnr.h (its grandparent is the include dir)
# Run from the workspace root (a genrule's working directory).
#
# Without clang's libFuzzer, OUT becomes a script that fails saying what to
# install: everything else still builds, and the test that runs the fuzzer
# fails with that message instead of passing without fuzzing. A compile
# error in the sources themselves fails the build as usual.
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 OUT SYSNR_H SOURCE..." >&2; exit 2; }
out=$1
sysnr_include=$(dirname "$(dirname "$2")")
shift 2

sanitize=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lkd_fuzzer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The Debian packages: clang (clang++) and libclang-rt-14-dev (the
# libFuzzer and sanitizer runtimes, only recommended by clang).
missing() {
	cat >"$out" <<STUB
#!/bin/sh
cat >&2 <<'MESSAGE'
request_decoder_fuzzer was not built: $1
It needs clang++ with libFuzzer: install the Debian packages clang and
libclang-rt-14-dev (setup.sh), then rebuild. Bazel keeps this placeholder
until an input of the genrule changes: run 'bazel clean' first.
MESSAGE
exit 1
STUB
	chmod +x "$out"
	echo "WARNING: $0: $1; $out only reports that (install clang and libclang-rt-14-dev)" >&2
	exit 0
}

cxx=""
for c in clang++ clang++-14; do
	if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
done
[ -n "$cxx" ] || missing "clang++ not found"
cc=${cxx/clang++/clang}

printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'extern "C" int LLVMFuzzerTestOneInput(const uint8_t *, size_t) { return 0; }' \
	>"$tmp/probe.cc"
if ! probe=$("$cxx" "${sanitize[@]}" "$tmp/probe.cc" -o "$tmp/probe" 2>&1); then
	missing "$cxx cannot link a fuzzer with -fsanitize=fuzzer,address,undefined: $(echo "$probe" | grep -m1 -E 'error|cannot' || echo "$probe" | head -1)"
fi

common=(-g -O1 -fno-omit-frame-pointer -Wall -Wextra "${sanitize[@]}" -I. -I"$sysnr_include")
cxx_sources=()
objects=()
for src in "$@"; do
	case "$src" in
	*.c)
		obj="$tmp/$(basename "$src" .c).o"
		"$cc" -std=c11 "${common[@]}" -c "$src" -o "$obj"
		objects+=("$obj") ;;
	*) cxx_sources+=("$src") ;;
	esac
done
"$cxx" -std=c++20 "${common[@]}" "${cxx_sources[@]}" "${objects[@]}" -o "$out"
