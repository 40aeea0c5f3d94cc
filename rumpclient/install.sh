#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Installs liblkclient from the build output (bazel build //rumpclient:sdk):
#   PREFIX/lib/liblkclient.so.0 (+ the liblkclient.so link for -llkclient),
#   PREFIX/include/lkd/lkclient.h, PREFIX/lib/pkgconfig/lkclient.pc,
#   PREFIX/lib/liblkhijack.so and PREFIX/bin/lkrun (which finds it there).
# Usage: rumpclient/install.sh [--prefix DIR] [--destdir DIR] [--from DIR]
#   --prefix  where it will live (default /usr/local), written into the .pc
#   --destdir staging root the files go under (packaging; default none)
#   --from    the build output (default bazel-bin/rumpclient of this clone)
set -eu
prefix=/usr/local
destdir=
bin=$(cd "$(dirname "$0")/.." && pwd)/bazel-bin/rumpclient
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --from) bin=$2; shift 2 ;;
    -h|--help) sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unexpected argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
[ -f "$bin/liblkclient.so.0" ] ||
  { echo "install.sh: $bin/liblkclient.so.0 missing: bazel build //rumpclient:sdk" >&2; exit 1; }
lib=$destdir$prefix/lib
inc=$destdir$prefix/include/lkd
install -d "$lib/pkgconfig" "$inc"
install -m 0755 "$bin/liblkclient.so.0" "$lib/liblkclient.so.0"
ln -sf liblkclient.so.0 "$lib/liblkclient.so"
install -m 0644 "$bin/include/lkd/lkclient.h" "$inc/lkclient.h"
sed -e "s|@LIBDIR@|$prefix/lib|" -e "s|@INCLUDEDIR@|$prefix/include|" \
  "$(dirname "$0")/lkclient.pc.in" >"$lib/pkgconfig/lkclient.pc"
if [ -f "$bin/liblkhijack.so" ] && [ -f "$bin/lkrun" ]; then
  install -d "$destdir$prefix/bin"
  install -m 0755 "$bin/liblkhijack.so" "$lib/liblkhijack.so"
  install -m 0755 "$bin/lkrun" "$destdir$prefix/bin/lkrun"
fi
[ -n "$destdir" ] || ldconfig 2>/dev/null || true
echo "installed liblkclient under $destdir$prefix"
