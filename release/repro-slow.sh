#!/usr/bin/env bash
# Reproducibility from scratch (`make repro-slow`), about 30+ minutes on 2
# cores:
#
#   1. rootfs-builder/check-reproducible.sh debian-12: two from-scratch
#      builds of the debian-12 image (no image cache; the verified .debs are
#      shared, being inputs), compared byte for byte (root, ~4-5 min);
#   2. the kernel built twice, each in a fresh, empty PYRO_BUILD_CACHE
#      (so neither is a cache hit; ~13-16 min each), vmlinux and bzImage
#      sha256 compared, and with the machine's cached kernel if it has one.
#
# Exit 0 when everything matched, 1 otherwise. PYRO_REPRO_SKIP_ROOTFS=1 or
# PYRO_REPRO_SKIP_KERNEL=1 leaves one half out.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
export LC_ALL=C TZ=UTC
say() { printf 'repro-slow: %s\n' "$*" >&2; }
status=0

if [[ ${PYRO_REPRO_SKIP_ROOTFS:-0} != 1 ]]; then
	say "rootfs: debian-12, twice from scratch"
	"$top/rootfs-builder/check-reproducible.sh" debian-12 || status=1
fi

if [[ ${PYRO_REPRO_SKIP_KERNEL:-0} != 1 ]]; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/pyro-repro-kernel.XXXXXX")
	trap 'rm -rf --one-file-system "$dir"' EXIT
	declare -A vm bz
	for n in 1 2; do
		say "kernel: build $n of 2 in a fresh cache ($dir/cache$n); ~15 min"
		start=$(date +%s)
		PYRO_BUILD_CACHE=$dir/cache$n "$top/kernel-config/build.sh" "$dir/out$n"
		vm[$n]=$(sha256sum <"$dir/out$n/vmlinux" | cut -d' ' -f1)
		bz[$n]=$(sha256sum <"$dir/out$n/bzImage" | cut -d' ' -f1)
		printf 'kernel build %s: vmlinux %s bzImage %s  %ss\n' "$n" "${vm[$n]}" "${bz[$n]}" $(($(date +%s) - start))
		rm -rf --one-file-system "$dir/cache$n"
	done
	if [[ ${vm[1]} == "${vm[2]}" ]]; then
		printf 'reproducible: vmlinux %s\n' "${vm[1]}"
	else
		printf 'NOT reproducible: vmlinux %s vs %s\n' "${vm[1]}" "${vm[2]}"
		status=1
	fi
	if [[ ${bz[1]} != "${bz[2]}" ]]; then
		printf 'NOT reproducible: bzImage %s vs %s\n' "${bz[1]}" "${bz[2]}"
		status=1
	fi
	# The machine's own cache entry (same key: same inputs) should agree too.
	key=$(sed -n 's/^  "cache_key": "\(.*\)",$/\1/p' "$dir/out1/kernel.json")
	cached=${PYRO_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pyro-build}/kernel-$key/kernel.json
	if [[ -f $cached ]]; then
		c=$(sed -n 's/^  "vmlinux_sha256": "\(.*\)",$/\1/p' "$cached")
		if [[ $c == "${vm[1]}" ]]; then
			printf 'the cached kernel (%s) is the same vmlinux\n' "$key"
		else
			printf 'the cached kernel (%s) has another vmlinux: %s\n' "$key" "$c"
			status=1
		fi
	fi
fi
exit "$status"
