#!/usr/bin/env bash
# Build helper called by the Makefile. Subcommands:
#   deps             check the Debian packages the build needs; as root on
#                    Debian, install missing ones with apt-get; otherwise
#                    print the exact apt-get command and fail
#   vendor OUTDIR    fetch, verify and build the static musl libraries
#                    (BearSSL, zlib, zstd, libarchive) into OUTDIR
#   kheaders OUTDIR  make the kernel-header directory musl-gcc needs
set -euo pipefail

# Packages needed to build and test pyro on Debian 12.
BUILD_PACKAGES=(
	make gcc musl-tools musl-dev clang libclang-rt-14-dev llvm
	dpkg-dev patch xz-utils file ca-certificates linux-libc-dev
	util-linux python3 e2fsprogs
	curl openssl zstd tar
	qemu-system-x86
)

die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

missing_packages() {
	local p status
	for p in "${BUILD_PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $status == "install ok installed" ]] || printf '%s\n' "$p"
	done
	# The MCP tier runs the official MCP SDK and chat-host CLIs under
	# Node.js. Any node >= 18 with npm will do (a machine may have one from
	# elsewhere than Debian): ask for Debian's only when there is none.
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		printf '%s\n' nodejs npm
	fi
}

cmd_deps() {
	if ! command -v dpkg-query >/dev/null 2>&1 || [[ ! -f /etc/debian_version ]]; then
		die "this build is scripted for Debian 12. Install the equivalents of: ${BUILD_PACKAGES[*]}"
	fi
	local missing
	missing=$(missing_packages | tr '\n' ' ')
	[[ -z $missing ]] && return 0
	if [[ $(id -u) -ne 0 ]]; then
		die "missing build packages. Run as root: apt-get install -y $missing"
	fi
	printf 'build.sh: installing %s\n' "$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y -q $missing >/dev/null 2>&1 || {
		apt-get update -q >/dev/null
		apt-get install -y -q $missing >/dev/null
	}
	missing=$(missing_packages | tr '\n' ' ')
	[[ -z $missing ]] || die "apt-get did not install: $missing"
}

cmd_kheaders() {
	local out=${1:?usage: build.sh kheaders OUTDIR}
	local arch_asm=/usr/include/x86_64-linux-gnu/asm
	[[ -d /usr/include/linux ]] || die "kernel headers missing: apt-get install -y linux-libc-dev"
	mkdir -p "$out"
	ln -sfn /usr/include/linux "$out/linux"
	ln -sfn /usr/include/asm-generic "$out/asm-generic"
	ln -sfn "$arch_asm" "$out/asm"
}

case ${1:-} in
deps) cmd_deps ;;
vendor) shift; exec "$(dirname "$0")/vendor/build.sh" "$@" ;;
kheaders) shift; cmd_kheaders "$@" ;;
*) die "usage: build.sh deps | vendor OUTDIR | kheaders OUTDIR" ;;
esac
