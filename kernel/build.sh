#!/usr/bin/env bash
# Build the library kernel: Debian's linux-source-6.1 (never patched) plus our
# arch port (kernel/arch/lkd), compiled by Kbuild into one relocatable object
# whose only global symbols are lkd's entry points, packed as a static library.
#
# The unpacked source, the build directory and ccache live outside the clone
# (default ~/.cache/lkd) so that rebuilds are incremental; when nothing changed
# the script returns in a second or two without running make.
set -euo pipefail

usage() {
	cat <<EOF
Usage: kernel/build.sh [--out DIR] [--clean] [--quiet] [--help]

Builds liblkd_kernel.a (the Linux 6.1 library kernel) into DIR
(default: kernel/out in this checkout).

  --out DIR   where to put liblkd_kernel.a and the entry-API headers
  --clean     remove the kernel build directory first (full rebuild)
  --quiet     print only a summary, not every compiled file
  --help      this text

Environment:
  LKD_CACHE_DIR   cache for the unpacked source, build tree and ccache
                  (default: \$XDG_CACHE_HOME/lkd or ~/.cache/lkd)
  LKD_JOBS        parallel jobs (default: nproc)
EOF
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
out="$here/out"
clean=0
quiet=0
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out="$2"; shift 2 ;;
	--out=*) out="${1#--out=}"; shift ;;
	--clean) clean=1; shift ;;
	--quiet) quiet=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "kernel/build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done

tarball=/usr/src/linux-source-6.1.tar.xz
# Bazel runs this script without HOME (passing it to every action would put
# it into every cache key), so the home directory comes from the user
# database when the environment lacks it.
home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
cache="${LKD_CACHE_DIR:-${XDG_CACHE_HOME:-$home/.cache}/lkd}"
src="$cache/linux-source-6.1"
build="$cache/build"
jobs="${LKD_JOBS:-$(nproc)}"
fragment="$here/arch/lkd/configs/lkd.config"

log() { echo "kernel: $*" >&2; }
die() { echo "kernel/build.sh: error: $*" >&2; exit 1; }
[ -n "${LKD_CACHE_DIR:-}${XDG_CACHE_HOME:-}$home" ] || die "no HOME and no home directory for uid $(id -u): set LKD_CACHE_DIR"

[ -f "$tarball" ] || die "$tarball not found: install Debian's linux-source-6.1 (sudo ./setup.sh)"
for tool in make gcc flex bison bc rsync flock nm ar; do
	command -v "$tool" >/dev/null || die "'$tool' not found (sudo ./setup.sh installs it)"
done
mkdir -p "$cache" "$out"

# One build at a time per cache (setup.sh and Bazel's genrule may overlap).
exec 9>"$cache/.lock"
if ! flock -n 9; then
	log "waiting for another kernel build using $cache"
	flock 9
fi

# 1. Unpacked source, once per tarball version.
tar_id="$(stat -c '%s %Y' "$tarball")"
if [ ! -f "$src/.lkd-unpacked" ] || [ "$(cat "$src/.lkd-unpacked")" != "$tar_id" ]; then
	log "unpacking $tarball into $cache (once)"
	rm -rf "$src" "$build"
	tar -C "$cache" -xf "$tarball"
	echo "$tar_id" >"$src/.lkd-unpacked"
fi

# 2. Inputs fingerprint: skip make entirely when nothing changed.
inputs_id="$( { tar_id_line="$tar_id"; echo "$tar_id_line"; gcc --version | head -1;
	cat "$here/build.sh" "$here/symbols_test.sh";
	(cd "$here" && find -L arch/lkd include -type f -print0 | sort -z | xargs -0 sha1sum);
	(cd "$repo" && find -L hostops/include -type f -print0 | sort -z | xargs -0 sha1sum);
	} | sha1sum | cut -d' ' -f1)"
if [ "$clean" = 0 ] && [ -f "$build/liblkd_kernel.a" ] &&
	[ "$(cat "$build/.lkd-inputs" 2>/dev/null)" = "$inputs_id" ]; then
	cmp -s "$build/liblkd_kernel.a" "$out/liblkd_kernel.a" 2>/dev/null ||
		cp "$build/liblkd_kernel.a" "$out/liblkd_kernel.a"
	log "up to date ($out/liblkd_kernel.a)"
	exit 0
fi
[ "$clean" = 1 ] && { log "cleaning $build"; rm -rf "$build"; }

# 3. Our arch directory and the three headers the kernel side includes are
#    copied into the tree (checksum-compared, so unchanged files keep their
#    timestamps and Kbuild recompiles only what changed).
rsync -a --copy-links --checksum --delete --exclude host-include "$here/arch/lkd/" "$src/arch/lkd/"
mkdir -p "$src/arch/lkd/host-include/lkd"
rsync -a --copy-links --checksum "$repo/hostops/include/lkd/hostops.h" \
	"$repo/hostops/include/lkd/virtio_host.h" "$here/include/lkd/kernel.h" \
	"$src/arch/lkd/host-include/lkd/"

# Kbuild notices edited headers but not one that moves between our arch
# directory and asm-generic (a file added to or removed from
# arch/lkd/include): objects that included the old one are not rebuilt. So
# when that list changes, drop every object; ccache makes the rebuild cheap.
headers_id="$(cd "$here" && find arch/lkd/include -type f | sort | sha1sum | cut -d' ' -f1)"
if [ -d "$build" ] && [ -f "$build/.lkd-headers" ] &&
	[ "$(cat "$build/.lkd-headers")" != "$headers_id" ]; then
	log "arch headers were added or removed: recompiling everything"
	find "$build" -name '*.o' -delete
fi
mkdir -p "$build"
echo "$headers_id" >"$build/.lkd-headers"

export CCACHE_DIR="${CCACHE_DIR:-$cache/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-3G}"
cc="gcc"
command -v ccache >/dev/null && cc="ccache gcc"
kmake() { make -s -C "$src" O="$build" ARCH=lkd CC="$cc" HOSTCC="$cc" -j"$jobs" "$@"; }

# 4. Configuration: allnoconfig plus our fragment, redone when either changes.
# Our Kconfig files count too: a changed default must reconfigure, or make's
# own syncconfig would stop and prompt for the new symbol.
frag_id="$(cat "$fragment" "$here"/arch/lkd/Kconfig* | sha1sum | cut -d' ' -f1)"
if [ ! -f "$build/.config" ] || [ "$(cat "$build/.lkd-config" 2>/dev/null)" != "$frag_id" ]; then
	log "configuring (allnoconfig + arch/lkd/configs/lkd.config)"
	kmake KCONFIG_ALLCONFIG="$src/arch/lkd/configs/lkd.config" allnoconfig >/dev/null
	# Every option the fragment asks for must have stuck.
	missing=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=n) opt="${line%%=*}"
			if grep -q "^$opt=" "$build/.config"; then log "config: $opt is set, wanted n"; missing=1; fi ;;
		CONFIG_*=*) grep -qxF "$line" "$build/.config" || { log "config: '$line' did not stick"; missing=1; } ;;
		esac
	done <"$fragment"
	[ "$missing" = 0 ] || die "kernel configuration incomplete (see above)"
	echo "$frag_id" >"$build/.lkd-config"
fi

# 5. Build, showing progress (one line per compiled file, numbered).
log "building with $jobs jobs in $build (ccache: ${cc%% *})"
start=$(date +%s)
set +e
make --no-print-directory -C "$src" O="$build" ARCH=lkd CC="$cc" HOSTCC="$cc" -j"$jobs" lkdlib 2>&1 |
	awk -v quiet="$quiet" '
		/^  (CC|AR|LD|AS|GEN|HOSTCC|HOSTLD|OBJCOPY|SYNC|WRAP|UPD|CHK|MKELF|CALL|MODPOST|NM|KSYMS|LDS|SYSHDR|SYSTBL|HDRINST|UNROLL|SHIPPED|CPP|MKCAP|POLICY|CONMK|MKDIR|COPY|TABLE|CHKSHA1|KSYMS) / { n++; if (!quiet) printf "[%5d] %s\n", n, $0; fflush(); next }
		{ print; fflush() }'
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || die "kernel build failed (exit $status)"
log "built in $(( $(date +%s) - start ))s"

# 6. The library: its globals are exactly kernel.h's entry points and it
#    needs nothing from the host but hostops (the same check as the test).
if ! symbols="$("$here/symbols_test.sh" "$build/lkd.o" "$here/include/lkd/kernel.h" 2>&1)"; then
	echo "$symbols" >&2
	die "lkd.o exports or needs the wrong symbols (see above)"
fi
rm -f "$build/liblkd_kernel.a"
ar rcs "$build/liblkd_kernel.a" "$build/lkd.o"
cp "$build/liblkd_kernel.a" "$out/liblkd_kernel.a"
echo "$inputs_id" >"$build/.lkd-inputs"
log "wrote $out/liblkd_kernel.a (${symbols##*PASS: })"
