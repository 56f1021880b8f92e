#!/usr/bin/env bash
# Build an environment's image twice from scratch and compare:
#
#   rootfs-builder/check-reproducible.sh [--keep] ENV
#
# Both builds bypass the image cache (build.sh --no-cache) and go to their
# own temporary directories; verified downloads (the busybox-static .deb,
# debootstrap's package cache) are shared, being inputs. Prints each
# build's sha256 and time; exit 0 when the images are identical, 1 when
# not. On a difference it compares the two file trees (kept, with the
# images, under the directory it names); --keep keeps everything even when
# they match.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LC_ALL=C TZ=UTC

keep=0
if [[ ${1:-} == --keep ]]; then keep=1; shift; fi
(($# == 1)) || { echo "usage: rootfs-builder/check-reproducible.sh [--keep] ENV" >&2; exit 2; }
env=$1

dir=$(mktemp -d "${TMPDIR:-/tmp}/pyro-repro-$env.XXXXXX")
done_ok=0
# shellcheck disable=SC2317 # called by the EXIT trap
finish() {
	if ((done_ok && !keep)); then
		rm -rf --one-file-system "$dir"
	else
		echo "check-reproducible: builds kept in $dir" >&2
	fi
}
trap finish EXIT

# manifest TREE: one line per file: type, mode, owner, size, mtime, target
# or sha256, path.
manifest() {
	(cd "$1" && find . -printf '%y %m %U:%G %s %T@ %p\n' | sort -k7) | while read -r y m o s t p; do
		case $y in
		f) printf '%s %s %s %s %s %s %s\n' "$y" "$m" "$o" "$s" "$t" "$(sha256sum <"$1/$p" | cut -c1-16)" "$p" ;;
		l) printf '%s %s %s %s %s ->%s %s\n' "$y" "$m" "$o" "$s" "$t" "$(readlink "$1/$p")" "$p" ;;
		*) printf '%s %s %s %s %s - %s\n' "$y" "$m" "$o" "$s" "$t" "$p" ;;
		esac
	done
}

declare -A sha secs
for n in 1 2; do
	echo "check-reproducible: build $n of $env" >&2
	start=$(date +%s%N)
	rc=0
	"$here/build.sh" --no-cache --keep-tree "$env" "$dir/$n" || rc=$?
	if ((rc != 0)); then
		done_ok=1 # nothing worth keeping
		echo "check-reproducible: build $n failed (exit $rc)" >&2
		exit "$rc"
	fi
	ms=$((($(date +%s%N) - start) / 1000000))
	secs[$n]=$((ms / 1000)).$((ms % 1000 / 100))
	sha[$n]=$(sha256sum "$dir/$n/rootfs.ext4" | cut -d' ' -f1)
	printf 'build %s: %s  %ss  %s bytes\n' "$n" "${sha[$n]}" "${secs[$n]}" "$(stat -c %s "$dir/$n/rootfs.ext4")"
done

if [[ ${sha[1]} == "${sha[2]}" ]]; then
	printf 'reproducible: %s %s\n' "$env" "${sha[1]}"
	if ((!keep)); then rm -rf --one-file-system "$dir/1/tree" "$dir/2/tree"; fi
	done_ok=1
	exit 0
fi

printf 'NOT reproducible: %s\n' "$env"
if ! cmp -s <(grep -v '"sha256"\|"cache_key"' "$dir/1/rootfs.json") <(grep -v '"sha256"\|"cache_key"' "$dir/2/rootfs.json"); then
	echo "the builds' inputs or package lists differ (did the mirror change in between?):"
	diff "$dir/1/rootfs.json" "$dir/2/rootfs.json" | sed -n 1,40p || true
fi
manifest "$dir/1/tree" >"$dir/1/manifest"
manifest "$dir/2/tree" >"$dir/2/manifest"
if cmp -s "$dir/1/manifest" "$dir/2/manifest"; then
	echo "the file trees are identical (type, mode, owner, size, mtime, content); the difference is in the image:"
	cmp -l "$dir/1/rootfs.ext4" "$dir/2/rootfs.ext4" | awk '{ printf "  4 KiB block %d\n", int(($1 - 1) / 4096) }' | uniq -c | sed -n 1,20p || true
else
	echo "the file trees differ (< build 1, > build 2):"
	diff "$dir/1/manifest" "$dir/2/manifest" | sed -n 1,60p || true
fi
exit 1
