#!/usr/bin/env bash
# Assemble an environment bundle (docs/environments.md, "A bundle"):
#
#   release/bundle.sh [--archive FILE] ENV OUTDIR
#
# ENV is test, debian-12-base, debian-12 or debian-12-build. Runs the kernel
# build (kernel-config/build.sh) and the rootfs build (rootfs-builder/
# build.sh), both cached under $PYRO_BUILD_CACHE, and writes
# OUTDIR/{vmlinux,rootfs.ext4,manifest.json}. manifest.json holds only
# reproducible facts (no build time, path or job count), so the same inputs
# give the same bytes. The bundle is assembled in a temporary directory next
# to OUTDIR and renamed into place at the end: an interrupted run leaves the
# previous OUTDIR (or none), never half a bundle. An existing OUTDIR is
# replaced only if it is a bundle (has manifest.json) or empty.
#
# --archive FILE also writes FILE, a reproducible tar.zst of the bundle
# (release/archive.sh) for `pyro env import FILE`.
#
# Exit status: 0 done; 1 failed; 2 usage; 3 the Debian mirror could not be
# reached; 4 the environment needs root (the last two from the rootfs build).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source=release/lib.sh
. "$here/lib.sh"
export LC_ALL=C TZ=UTC

say() { printf 'bundle: %s\n' "$*" >&2; }
die() { printf 'bundle: error: %s\n' "$*" >&2; exit 1; }
usage() {
	echo "usage: release/bundle.sh [--archive FILE] ENV OUTDIR (ENV: test, debian-12-base, debian-12, debian-12-build)" >&2
	exit 2
}

archive=
while (($#)); do
	case $1 in
	--archive) (($# >= 2)) || usage; archive=$2; shift 2 ;;
	--archive=*) archive=${1#*=}; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
(($# == 2)) || usage
env=$1 out=${2%/}
[[ -n $out ]] || usage

# The catalog (docs/environments.md): catalog name, version, description.
version=1.0.0
case $env in
test)
	name="test"
	description="Debian's busybox-static and nothing else, for pyro's guest tests." ;;
debian-12-base)
	name=debian:12-base
	description="Debian 12 (bookworm) minbase + procps." ;;
debian-12)
	name=debian:12
	description="Debian 12 (bookworm) minbase + git, ca-certificates, python3." ;;
debian-12-build)
	name=debian:12-build
	description="Debian 12 (bookworm) minbase + git, ca-certificates, python3, build-essential, make, pkg-config, curl." ;;
*) usage ;;
esac

if [[ -e $out && ! -d $out ]]; then die "$out exists and is not a directory"; fi
if [[ -d $out && -n $(ls -A "$out") && ! -f $out/manifest.json ]]; then
	die "$out is neither empty nor a bundle (no manifest.json); not replacing it"
fi
parent=$(dirname "$out")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.$(basename "$out").tmp.XXXXXX")
old=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	rm -rf --one-file-system "$tmp"
	if [[ -n $old ]]; then rm -rf --one-file-system "$old"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$(date +%s%N)
say "$env: kernel"
"$top/kernel-config/build.sh" "$tmp/.kernel" || die "the kernel build failed"
say "$env: rootfs"
rc=0
"$top/rootfs-builder/build.sh" "$env" "$tmp/.rootfs" || rc=$?
((rc == 0)) || { say "error: the rootfs build failed (exit $rc)"; exit "$rc"; }

mv "$tmp/.kernel/vmlinux" "$tmp/vmlinux"
mv "$tmp/.rootfs/rootfs.ext4" "$tmp/rootfs.ext4"
kernel_sha=$(rel_sha256 "$tmp/vmlinux")
rootfs_sha=$(rel_sha256 "$tmp/rootfs.ext4")

"$PY3" - "$tmp" "$name" "$version" "$description" "$kernel_sha" "$rootfs_sha" <<'PY' || die "writing manifest.json failed"
import json, os, re, sys

tmp, name, version, description, kernel_sha, rootfs_sha = sys.argv[1:]
kj = json.load(open(os.path.join(tmp, ".kernel", "kernel.json"), encoding="utf-8"))
rj = json.load(open(os.path.join(tmp, ".rootfs", "rootfs.json"), encoding="utf-8"))

def fail(msg):
    sys.exit("bundle: error: " + msg)

if kj.get("vmlinux_sha256") != kernel_sha:
    fail("vmlinux does not have the sha256 kernel.json records")
if rj.get("sha256") != rootfs_sha:
    fail("rootfs.ext4 does not have the sha256 rootfs.json records")
if rj.get("name") != name:
    fail("rootfs.json names %r, the catalog %r" % (rj.get("name"), name))

if rj["environment"] == "test":
    # busybox-static's Debian version, epoch and revision stripped: 1.35.0
    bb = [p["version"] for p in rj["packages"] if p["name"] == "busybox-static"]
    if len(bb) != 1:
        fail("rootfs.json does not list busybox-static")
    distribution = "busybox"
    distribution_version = re.sub(r"-[^-]*$", "", re.sub(r"^[0-9]+:", "", bb[0]))
else:
    # /etc/debian_version of the image (rootfs.json's version is that plus
    # the suite's Release date: 12.15+20260711)
    distribution = "debian"
    distribution_version = rj["version"].split("+", 1)[0]

def artifact(path, sha):
    return {"path": path, "sha256": sha, "size": os.stat(os.path.join(tmp, path)).st_size}

manifest = {
    "schema_version": 1,
    "name": name,
    "version": version,
    "description": description,
    "platform": "linux-x86_64",
    "distribution": distribution,
    "distribution_version": distribution_version,
    "artifacts": {
        "kernel": artifact("vmlinux", kernel_sha),
        "rootfs": artifact("rootfs.ext4", rootfs_sha),
    },
    "kernel_config_sha256": kj["config_sha256"],
    "packages": rj["packages"],
    # Only what shapes the bytes: not kernel.json's build_seconds or jobs.
    "build_inputs": {
        "kernel": {k: kj[k] for k in ("cache_key", "compiler", "source_package", "source_version")},
        "rootfs": rj["inputs"],
        "source_date_epoch": rj["source_date_epoch"],
    },
}
with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
    f.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
PY
rm -rf "$tmp/.kernel" "$tmp/.rootfs"
chmod 0644 "$tmp/vmlinux" "$tmp/rootfs.ext4" "$tmp/manifest.json"
chmod 0755 "$tmp"

if [[ -n $archive ]]; then
	say "$env: archive $archive"
	"$here/archive.sh" "$tmp" "$archive" || die "writing the archive failed"
fi

# Into place: the old bundle (if any) moves aside first and goes at exit.
if [[ -d $out ]]; then
	old=$(mktemp -d "$parent/.$(basename "$out").old.XXXXXX")
	mv "$out" "$old/"
fi
mv "$tmp" "$out"
ms=$((($(date +%s%N) - start) / 1000000))
say "$env: $out ($name $version) in $((ms / 1000)).$((ms % 1000 / 100))s"
printf '%s  %s\n' "$(rel_sha256 "$out/manifest.json")" "$out/manifest.json"
