#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: installs every dependency from
# Debian's packages, builds the library kernel (with progress) and then
# everything else with Bazel. Safe to run again; the second run is quick.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: sudo ./setup.sh [--no-install] [--help]

  1. apt-get installs the Debian packages lkd needs (skipped when they are
     all present, or with --no-install);
  2. kernel/build.sh builds the Linux 6.1 library kernel in ~/.cache/lkd
     (6-14 minutes the first time on 2 cores, seconds afterwards);
  3. bazel build //... builds the rest.

Then run the tests with ./test.sh.

Environment: LKD_CACHE_DIR (kernel cache, default ~/.cache/lkd),
LKD_JOBS (parallel kernel jobs, default nproc).
USAGE
}

install=1
for arg in "$@"; do
	case "$arg" in
	--no-install) install=0 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "setup.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
	esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# Everything comes from Debian 12's archive; see README.md ("Dependencies").
packages=(
	# build tools
	bazel-bootstrap gcc g++ make pkg-config python3 git rsync util-linux xz-utils
	ccache binutils
	# the kernel: Debian's source and what Kbuild needs
	linux-source-6.1 bc bison flex libelf-dev
	# libraries of the daemon, clients and tests
	capnproto libcapnp-dev libgrpc++-dev protobuf-compiler-grpc protobuf-compiler
	libprotobuf-dev libabsl-dev libboost-dev libboost-context-dev libuv1-dev googletest
	libgtest-dev
	libgmock-dev
	# system tests: disk images and network namespaces; tcpdump reads the
	# admin plane's packet captures
	e2fsprogs dosfstools mtools iproute2 tcpdump
	# stock programs run under lkrun (tests/hijack); their packaged services
	# are not used (see README, "Unmodified programs"); wrk for hijack_bench
	curl wget netcat-openbsd socat iputils-ping nginx-light redis-server redis-tools
	iperf3 wrk rsync git
	# the request decoder's libFuzzer target (clang; libFuzzer is only a
	# recommendation of clang, so named here)
	clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$install" = 0 ]; then
		echo "setup.sh: missing packages (not installing, --no-install): ${missing[*]}" >&2
		exit 1
	fi
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || { echo "setup.sh: run as root to install: ${missing[*]}" >&2; exit 1; }
		sudo=sudo
	fi
	echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "setup: all Debian packages present"
fi

echo "setup: building the library kernel (kernel/build.sh)"
kernel/build.sh

echo "setup: building everything (bazel build //...)"
bazel build //...
echo "setup: done. Run the tests with: ./test.sh"
