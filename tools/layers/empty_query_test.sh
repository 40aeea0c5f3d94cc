#!/usr/bin/env bash
# Passes when a genquery's output is empty; else prints what it found.
# Usage: empty_query_test.sh QUERY_OUTPUT WHAT
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 QUERY_OUTPUT WHAT" >&2; exit 2; }
if [ -s "$1" ]; then
	echo "FAIL: $2, by this path:" >&2
	cat "$1" >&2
	exit 1
fi
echo "PASS: nothing found ($2)"
