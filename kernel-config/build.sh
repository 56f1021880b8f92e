#!/usr/bin/env bash
# Build the guest kernel (vmlinux for Firecracker and qemu -M microvm,
# bzImage for the rest) from Debian's linux-source package:
#
#   kernel-config/build.sh OUTDIR
#
# `make tinyconfig`, then microvm.config merged on top, `make olddefconfig`,
# and a check that every symbol of the fragment survived. The result is
# cached outside the repository under a key made of everything that shapes
# it (source package version, the fragment, this script, the compiler), so
# a machine builds it once (about 16 minutes on 2 cores) and every later
# call, from any checkout, is a copy.
#
#   PYRO_BUILD_CACHE   cache root (default $XDG_CACHE_HOME/pyro-build or
#                      ~/.cache/pyro-build), shared with vendor/build.sh
#   PYRO_KERNEL_JOBS   make -j (default: the number of CPUs)
#
# Output: OUTDIR/vmlinux, OUTDIR/bzImage, OUTDIR/config, OUTDIR/kernel.json
# (source version, config sha256, cache key).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: kernel-config/build.sh OUTDIR}
pkg=linux-source-6.1
tarball=/usr/src/linux-source-6.1.tar.xz
fragment=$here/microvm.config
packages=(linux-source-6.1 bc bison flex libelf-dev cpio make gcc)

say() { printf 'kernel: %s\n' "$*" >&2; }
die() { printf 'kernel: error: %s\n' "$*" >&2; exit 1; }

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) == 0 ]]; then
		say "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
			{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
	else
		die "missing build packages; run as root: apt-get install -y ${missing[*]}"
	fi
fi
[[ -f $tarball ]] || die "$tarball is missing although $pkg is installed"

version=$(dpkg-query -W -f='${Version}' "$pkg")
cc_version=$(gcc --version | head -1)
key=$(printf '%s\n' "$pkg=$version" "$cc_version" "$(sha256sum <"$fragment")" "$(sha256sum <"$0")" |
	sha256sum | cut -c1-16)
cache_root=${PYRO_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pyro-build}
entry=$cache_root/kernel-$key
mkdir -p "$cache_root"

install_out() {
	mkdir -p "$out"
	for f in vmlinux bzImage config kernel.json; do
		cp "$entry/$f" "$out/$f.tmp.$$" && mv -f "$out/$f.tmp.$$" "$out/$f"
	done
}
entry_ok() { [[ -f $entry/kernel.json && -f $entry/vmlinux && -f $entry/bzImage && -f $entry/config ]]; }

if entry_ok; then
	install_out
	say "up to date ($pkg $version, cached: $entry)"
	exit 0
fi

# One builder per key at a time; a second one waits, then finds the cache.
exec {lock_fd}>"$entry.lock"
if ! flock -n "$lock_fd"; then
	say "another build of this kernel is running; waiting for it"
	flock "$lock_fd"
fi
if entry_ok; then
	install_out
	exit 0
fi

work=$cache_root/kernel-work-$key
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
say "building $pkg $version (cache key $key); this takes a while once per machine"
tar -xf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)
log=$work/build.log
# Fixed build identity: the same inputs give the same banner.
export KBUILD_BUILD_TIMESTAMP="1970-01-01" KBUILD_BUILD_USER=pyro KBUILD_BUILD_HOST=pyro \
	KBUILD_BUILD_VERSION=1 LC_ALL=C
jobs=${PYRO_KERNEL_JOBS:-$(nproc)}
(
	cd "$src"
	make tinyconfig
	scripts/kconfig/merge_config.sh -m .config "$fragment"
	make olddefconfig
) >"$log" 2>&1 || { tail -30 "$log" >&2; die "configuring the kernel failed (log above)"; }

# Every symbol of the fragment must have the value asked for.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) sym=${line%%=*} want=$line ;;
	"# CONFIG_"*" is not set") sym=${line#\# } sym=${sym%% *} want="# $sym is not set" ;;
	*) continue ;;
	esac
	got=$(grep -E "^(# )?$sym[= ]" "$src/.config" || true)
	if [[ $want == "# $sym is not set" && -z $got ]]; then
		continue # not offered at all: off
	fi
	if [[ $got != "$want" ]]; then
		say "$sym: wanted '$want', Kconfig gave '${got:-nothing}'"
		bad=1
	fi
done <"$fragment"
((bad == 0)) || die "the kernel config lost symbols of microvm.config (see above); fix the fragment"

start=$(date +%s)
(cd "$src" && make -j"$jobs" vmlinux bzImage) >>"$log" 2>&1 ||
	{ tail -40 "$log" >&2; die "building the kernel failed (log above)"; }
took=$(($(date +%s) - start))

tmp=$entry.tmp.$$
rm -rf "$tmp" && mkdir -p "$tmp"
cp "$src/vmlinux" "$tmp/vmlinux"
cp "$src/arch/x86/boot/bzImage" "$tmp/bzImage"
cp "$src/.config" "$tmp/config"
cat >"$tmp/kernel.json" <<JSON
{
  "source_package": "$pkg",
  "source_version": "$version",
  "compiler": "$cc_version",
  "config_sha256": "$(sha256sum <"$tmp/config" | cut -d' ' -f1)",
  "vmlinux_sha256": "$(sha256sum <"$tmp/vmlinux" | cut -d' ' -f1)",
  "bzImage_sha256": "$(sha256sum <"$tmp/bzImage" | cut -d' ' -f1)",
  "cache_key": "$key",
  "build_seconds": $took,
  "jobs": $jobs
}
JSON
rm -rf "$entry" && mv "$tmp" "$entry"
install_out
say "built in ${took}s with -j$jobs: $(stat -c %s "$entry/vmlinux") bytes vmlinux, $(stat -c %s "$entry/bzImage") bytes bzImage"
