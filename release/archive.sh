#!/usr/bin/env bash
# A reproducible archive of a bundle, for `pyro env import ARCHIVE`:
#
#   release/archive.sh BUNDLE_DIR ARCHIVE.tar.zst
#
# manifest.json, vmlinux and rootfs.ext4 at the archive's top level, sorted
# by name, owner 0:0 (numeric), mode 0644, mtime the bundle's
# source_date_epoch (build_inputs.source_date_epoch in manifest.json), then
# zstd (release/lib.sh, rel_tar_zst). The same bundle gives the same bytes.
# Written to a temporary file next to ARCHIVE and renamed at the end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=release/lib.sh
. "$here/lib.sh"

die() { printf 'archive: error: %s\n' "$*" >&2; exit 1; }
(($# == 2)) || { echo "usage: release/archive.sh BUNDLE_DIR ARCHIVE.tar.zst" >&2; exit 2; }
bundle=$1 archive=$2

[[ -f $bundle/manifest.json ]] || die "$bundle has no manifest.json"
epoch=$(rel_json "$bundle/manifest.json" 'd["build_inputs"]["source_date_epoch"]') ||
	die "$bundle/manifest.json has no build_inputs.source_date_epoch"
files=(manifest.json)
for a in kernel rootfs; do
	f=$(rel_json "$bundle/manifest.json" "d['artifacts']['$a']['path']") || die "manifest.json has no artifacts.$a.path"
	[[ -f $bundle/$f ]] || die "$bundle/$f is missing"
	files+=("$f")
done

mkdir -p "$(dirname "$archive")"
tmp=$(mktemp "$(dirname "$archive")/.$(basename "$archive").XXXXXX")
trap 'rm -f "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rel_tar_zst "$tmp" "$bundle" "$epoch" "${files[@]}" || die "tar | zstd failed"
chmod 0644 "$tmp"
mv -f "$tmp" "$archive"
