#!/usr/bin/env bash
# The library kernel exports exactly the entry points its header declares:
# every global symbol is an lkd_* function of kernel.h and vice versa.
set -euo pipefail
lib="$1"
header="$2"
globals="$(nm -g --defined-only "$lib" | awk 'NF == 3 {print $3}' | sort -u)"
declared="$(grep -oE '\blkd_[a-z_]+\(' "$header" | tr -d '(' | sort -u)"
echo "global symbols of $(basename "$lib"):"
echo "$globals" | sed 's/^/  /'
if [ -z "$globals" ]; then echo "FAIL: no global symbols at all" >&2; exit 1; fi
bad="$(echo "$globals" | grep -v '^lkd_' || true)"
if [ -n "$bad" ]; then echo "FAIL: non-lkd globals: $bad" >&2; exit 1; fi
if [ "$globals" != "$declared" ]; then
	echo "FAIL: globals and kernel.h entry points differ:" >&2
	diff <(echo "$declared") <(echo "$globals") >&2 || true
	exit 1
fi
undef="$(nm -u "$lib" | awk '{print $2}' | grep -v '^_GLOBAL_OFFSET_TABLE_$' || true)"
if [ -n "$undef" ]; then echo "FAIL: undefined symbols (kernel must reach the host only via hostops): $undef" >&2; exit 1; fi
echo "PASS: $(echo "$globals" | wc -l) entry points, no other globals, no undefined symbols"
