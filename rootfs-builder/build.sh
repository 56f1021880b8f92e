#!/usr/bin/env bash
# Build the root filesystem image of an official pyro environment:
#
#   rootfs-builder/build.sh [--no-cache] [--keep-tree] ENV OUTDIR
#   rootfs-builder/build.sh --repin
#
# ENV is one of
#   test              busybox-static only (seconds; no root needed)
#   debian-12-base    debootstrap --variant=minbase (+ procps)
#   debian-12         + git, ca-certificates, python3
#   debian-12-build   + build-essential, make, pkg-config, curl
# The debian-12* environments need root (debootstrap) and take minutes.
#
# Output: OUTDIR/rootfs.ext4 and OUTDIR/rootfs.json (name, version, size,
# sha256, packages with versions, build inputs). The same inputs give the
# same bytes (rootfs-builder/README.md says how); check-reproducible.sh
# proves it by building twice.
#
# The result is cached under PYRO_BUILD_CACHE (default
# $XDG_CACHE_HOME/pyro-build or ~/.cache/pyro-build, shared with
# kernel-config/ and vendor/) as rootfs-ENV-KEY, KEY being a hash of every
# input: this script, pins, mke2fs.conf, the e2fsprogs and debootstrap
# versions, and for the debian-12* environments the package list, the
# mirror and the sha256 of the suite's Release file (so a changed archive
# is a new key). Builders of one key wait for each other (flock); an entry
# appears atomically. --no-cache neither reads nor writes that cache (the
# verified downloads are still shared). --keep-tree leaves the file tree in
# OUTDIR/tree (for comparing two builds).
#
# --repin prints new `pins` lines for the busybox-static version the mirror
# offers now (for when the pinned one is gone).
#
# Environment (all optional):
#   PYRO_BUILD_CACHE      cache root (see above)
#   PYRO_DEBIAN_MIRROR    Debian mirror URI instead of the one in the
#                         machine's apt configuration
#   PYRO_ROOTFS_DEB_DIR   take the busybox-static .deb from this directory
#                         instead of downloading it (still checked against
#                         the pin)
#
# Exit status: 0 built or up to date, 1 failed, 2 usage, 3 the mirror could
# not be reached (an input is unavailable here), 4 needs root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
export LC_ALL=C TZ=UTC
umask 022

say() { printf 'rootfs: %s\n' "$*" >&2; }
die() { printf 'rootfs: error: %s\n' "$*" >&2; exit 1; }
die_code() { local c=$1; shift; printf 'rootfs: error: %s\n' "$*" >&2; exit "$c"; }
usage() {
	printf '%s\n' "usage: rootfs-builder/build.sh [--no-cache] [--keep-tree] ENV OUTDIR" \
		"       rootfs-builder/build.sh --repin" \
		"ENV: test, debian-12-base, debian-12, debian-12-build" >&2
	exit 2
}
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
sha256_str() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# shellcheck source-path=SCRIPTDIR source=pins
. "$here/pins"

# ---------------------------------------------------------------------------
# Environments

ENV='' NAME='' KIND='' INCLUDE=()
set_env() {
	ENV=$1
	case $ENV in
	test) NAME=test KIND=busybox ;;
	debian-12-base) NAME=debian:12-base KIND=debian INCLUDE=(procps) ;;
	debian-12) NAME=debian:12 KIND=debian INCLUDE=(procps git ca-certificates python3) ;;
	debian-12-build)
		NAME=debian:12-build KIND=debian
		INCLUDE=(procps git ca-certificates python3 build-essential make pkg-config curl)
		;;
	*) say "unknown environment '$ENV'"; usage ;;
	esac
}

# ---------------------------------------------------------------------------
# Tools

# need_packages PKG...: install missing Debian packages as root, else say
# the exact command.
need_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if [[ $(id -u) == 0 ]]; then
		say "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
			{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
	else
		die "missing packages; run as root: apt-get install -y ${missing[*]}"
	fi
}

# ---------------------------------------------------------------------------
# Cache, locks, clean-up

CACHE_ROOT='' WORK='' LOCK_FDS=()
setup_cache_root() {
	CACHE_ROOT=${PYRO_BUILD_CACHE:-${XDG_CACHE_HOME:-${HOME:?set HOME or PYRO_BUILD_CACHE}/.cache}/pyro-build}
	mkdir -p "$CACHE_ROOT/locks"
	CACHE_ROOT=$(cd "$CACHE_ROOT" && pwd)
}

# take_lock NAME WHAT: hold an exclusive flock until exit.
take_lock() {
	local fd
	exec {fd}>"$CACHE_ROOT/locks/$1"
	if ! flock -n "$fd"; then
		say "waiting for $2"
		flock "$fd"
	fi
	LOCK_FDS+=("$fd")
}
drop_lock() { flock -u "${LOCK_FDS[-1]}"; unset 'LOCK_FDS[-1]'; }

# unmount_under DIR: unmount everything mounted at or below DIR (an
# interrupted debootstrap leaves proc and sys mounted in its target).
unmount_under() {
	local dir m
	dir=$(readlink -f "$1") || return 0
	awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts |
		sort -r | while read -r m; do
		m=$(printf '%b' "$m") # /proc/mounts escapes spaces as \040
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}

CHILD_PID=''
# on_signal STATUS: stop a running debootstrap (its whole process group),
# then exit (the EXIT trap cleans up).
on_signal() {
	if [[ -n $CHILD_PID ]]; then
		kill -TERM -- "-$CHILD_PID" 2>/dev/null || true
		wait "$CHILD_PID" 2>/dev/null || true
		CHILD_PID=''
	fi
	exit "$1"
}

cleanup() {
	if [[ -n $WORK && -d $WORK ]]; then
		unmount_under "$WORK"
		rm -rf --one-file-system "$WORK"
	fi
}

# ---------------------------------------------------------------------------
# Mirror

# apt_sources_files: the machine's one-line and deb822 source files.
apt_sources_files() {
	local SL='' SP='' f
	eval "$(apt-config shell SL Dir::Etc::SourceList/f SP Dir::Etc::SourceParts/d)"
	[[ -n $SL && -f $SL ]] && printf '%s\n' "$SL"
	if [[ -n $SP && -d $SP ]]; then
		for f in "$SP"/*.list "$SP"/*.sources; do
			if [[ -f $f ]]; then printf '%s\n' "$f"; fi
		done
	fi
	return 0
}

# machine_mirror: the URI of the first enabled "deb" entry for DEBIAN_SUITE
# in the machine's apt configuration.
machine_mirror() {
	local f uri
	while read -r f; do
		case $f in
		*.sources)
			uri=$(awk -v suite="$DEBIAN_SUITE" '
			BEGIN { RS = ""; FS = "\n" }
			{
				types = ""; suites = ""; uris = ""; enabled = "yes"
				for (i = 1; i <= NF; i++) {
					line = $i
					if (line ~ /^[ \t]*#/) continue
					low = tolower(line)
					v = line; sub(/^[^:]*:[ \t]*/, "", v)
					if (low ~ /^types:/) types = v
					else if (low ~ /^suites:/) suites = v
					else if (low ~ /^uris:/) uris = v
					else if (low ~ /^enabled:/) enabled = tolower(v)
				}
				if (enabled ~ /^no/) next
				if ((" " types " ") !~ /[ \t]deb[ \t]/) next
				if ((" " suites " ") !~ ("[ \t]" suite "/?[ \t]")) next
				split(uris, u, /[ \t]+/)
				print u[1]; exit
			}' "$f")
			;;
		*)
			uri=$(awk -v suite="$DEBIAN_SUITE" '
			$1 != "deb" { next }
			{
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == suite || $(i + 1) == suite "/") { print $i; exit }
			}' "$f")
			;;
		esac
		if [[ -n $uri && $uri != cdrom:* ]]; then
			printf '%s\n' "${uri%/}"
			return 0
		fi
	done < <(apt_sources_files)
	return 1
}

MIRROR=''
find_mirror() {
	if [[ -n ${PYRO_DEBIAN_MIRROR:-} ]]; then
		MIRROR=${PYRO_DEBIAN_MIRROR%/}
		return 0
	fi
	MIRROR=$(machine_mirror) ||
		die "no '$DEBIAN_SUITE' entry in the machine's apt configuration to take the mirror from: set PYRO_DEBIAN_MIRROR=URI"
}

# apt with a private state for PYRO_DEBIAN_MIRROR (the machine's apt state
# is then neither used nor written).
APT_OPTS=()
private_apt() {
	local d=$CACHE_ROOT/rootfs-apt
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/parts"
	local signed=''
	[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] &&
		signed=' [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]'
	printf 'deb%s %s %s main\n' "$signed" "${PYRO_DEBIAN_MIRROR%/}" "$DEBIAN_SUITE" >"$d/sources.list"
	APT_OPTS=(
		-o "Dir::Etc::SourceList=$d/sources.list"
		-o "Dir::Etc::SourceParts=$d/parts"
		-o "Dir::State::Lists=$d/lists"
		-o "Dir::Cache=$d/cache"
		-o "Acquire::Languages=none"
	)
	apt-get "${APT_OPTS[@]}" update
}

# network_failure LOG: the log says the mirror could not be reached.
network_failure() {
	grep -qE 'Could not resolve|Temporary failure resolving|Failed to fetch|Connection (failed|timed out|refused)|Unable to connect|No route to host|Network is unreachable' "$1"
}

# ---------------------------------------------------------------------------
# The busybox-static .deb

# download_busybox DIR [VERSION]: apt-get download into DIR; prints the file.
download_busybox() {
	local dir=$1 spec=busybox-static:$BUSYBOX_ARCH${2:+=$2} log=$1/apt.log f
	: >"$log"
	(
		cd "$dir"
		if [[ -n ${PYRO_DEBIAN_MIRROR:-} ]]; then
			private_apt
		fi
		apt-get "${APT_OPTS[@]}" download "$spec"
	) >>"$log" 2>&1 || {
		# Stale package lists are the usual reason on a machine; as root,
		# refresh them once (as kernel-config/build.sh does) and retry.
		if [[ -z ${PYRO_DEBIAN_MIRROR:-} && $(id -u) == 0 ]] && ! network_failure "$log"; then
			{ apt-get update && (cd "$dir" && apt-get download "$spec"); } >>"$log" 2>&1
		else
			false
		fi
	} || {
		sed 's/^/  apt: /' "$log" | tail -n 15 >&2
		if network_failure "$log"; then
			die_code 3 "could not reach the Debian mirror to download $spec (see above); PYRO_DEBIAN_MIRROR=URI picks another, PYRO_ROOTFS_DEB_DIR=DIR supplies the .deb"
		fi
		if [[ -n ${2:-} ]]; then
			die "the mirror does not offer busybox-static $2 (rootfs-builder/pins) any more. Re-pin: run \`rootfs-builder/build.sh --repin\`, put its lines into rootfs-builder/pins and commit; or supply the pinned .deb with PYRO_ROOTFS_DEB_DIR=DIR"
		fi
		die "apt-get download $spec failed (see above)"
	}
	for f in "$dir"/*.deb; do
		[[ -f $f ]] && { printf '%s\n' "$f"; return 0; }
	done
	die "apt-get download $spec produced no .deb"
}

# busybox_deb: the path of a verified copy of the pinned .deb in the
# download cache.
busybox_deb() {
	local name cached tmp f got rc
	name="busybox-static_${BUSYBOX_VERSION/:/%3a}_$BUSYBOX_ARCH.deb"
	cached=$CACHE_ROOT/downloads/$name
	mkdir -p "$CACHE_ROOT/downloads"
	if [[ -f $cached && $(sha256_of "$cached") == "$BUSYBOX_SHA256" ]]; then
		printf '%s\n' "$cached"
		return 0
	fi
	take_lock rootfs-download "another build's download"
	if [[ -f $cached && $(sha256_of "$cached") == "$BUSYBOX_SHA256" ]]; then
		drop_lock
		printf '%s\n' "$cached"
		return 0
	fi
	tmp=$(mktemp -d "$CACHE_ROOT/downloads/.fetch.XXXXXX")
	chmod 755 "$tmp"
	if [[ -n ${PYRO_ROOTFS_DEB_DIR:-} ]]; then
		f=$PYRO_ROOTFS_DEB_DIR/$name
		[[ -f $f ]] || f=$PYRO_ROOTFS_DEB_DIR/busybox-static_${BUSYBOX_VERSION#*:}_$BUSYBOX_ARCH.deb
		[[ -f $f ]] || { rm -rf "$tmp"; die "PYRO_ROOTFS_DEB_DIR=$PYRO_ROOTFS_DEB_DIR lacks $name"; }
		cp "$f" "$tmp/$name"
		f=$tmp/$name
	else
		say "downloading busybox-static $BUSYBOX_VERSION"
		f=$(download_busybox "$tmp" "$BUSYBOX_VERSION") || { rc=$?; rm -rf "$tmp"; exit "$rc"; }
	fi
	got=$(sha256_of "$f")
	if [[ $got != "$BUSYBOX_SHA256" ]]; then
		rm -rf "$tmp"
		printf '%s\n' \
			"rootfs: error: checksum mismatch for busybox-static $BUSYBOX_VERSION" \
			"  expected: $BUSYBOX_SHA256 (rootfs-builder/pins)" \
			"  actual:   $got" \
			"  The file was not used. Same version, different bytes: the mirror (or" \
			"  PYRO_ROOTFS_DEB_DIR) serves something else under this name. Check where" \
			"  it comes from before re-pinning with \`rootfs-builder/build.sh --repin\`." >&2
		exit 1
	fi
	mv -f "$f" "$cached"
	rm -rf "$tmp"
	drop_lock
	printf '%s\n' "$cached"
}

cmd_repin() {
	setup_cache_root
	local tmp f ver arch x
	tmp=$(mktemp -d)
	chmod 755 "$tmp"
	WORK=$tmp
	trap cleanup EXIT
	f=$(download_busybox "$tmp")
	ver=$(dpkg-deb -f "$f" Version)
	arch=$(dpkg-deb -f "$f" Architecture)
	x=$tmp/x
	dpkg-deb -x "$f" "$x"
	cat <<EOF
BUSYBOX_VERSION=$ver
BUSYBOX_ARCH=$arch
BUSYBOX_SHA256=$(sha256_of "$f")
# SOURCE_DATE_EPOCH of the test image: the mtime of bin/busybox in that .deb.
TEST_EPOCH=$(stat -c %Y "$x/bin/busybox")
EOF
}

# ---------------------------------------------------------------------------
# File trees

# populate_test TREE DEB: the busybox test root.
populate_test() {
	local t=$1 deb=$2 x=$WORK/deb a
	dpkg-deb -x "$deb" "$x"
	mkdir -p "$t"
	for a in bin sbin usr usr/bin usr/sbin etc dev proc sys run tmp root workspace \
		usr/share usr/share/doc usr/share/doc/busybox-static; do
		mkdir -p "$t/$a"
	done
	cp "$x/bin/busybox" "$t/bin/busybox"
	cp "$x/usr/share/doc/busybox-static/copyright" "$t/usr/share/doc/busybox-static/copyright"
	# One symlink per applet where busybox itself says it belongs
	# (bin/sh, usr/bin/env, sbin/ifconfig, ...), but no init (pyro-init is
	# the init). One perl process (perl-base is Essential): a fork per link
	# costs seconds on a slow VM.
	"$x/bin/busybox" --list-full | sort | perl -e '
		my $t = shift;
		while (my $a = <STDIN>) {
			chomp $a;
			my ($d, $n) = $a =~ m{^(.+)/([^/]+)$} or next;
			next if $a eq "bin/busybox" || $n eq "init" || $n eq "linuxrc";
			next if -e "$t/$a" || -l "$t/$a";
			-d "$t/$d" or die "busybox wants $a, but $d is not a directory\n";
			symlink($d eq "bin" ? "busybox" : "/bin/busybox", "$t/$a")
				or die "symlink $t/$a: $!\n";
		}' "$t"
	for a in sh ls cat echo mkdir rm sleep ps mount true false env test; do
		[[ -L $t/bin/$a || -L $t/usr/bin/$a ]] || die "busybox $BUSYBOX_VERSION has no applet '$a'"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$t/etc/passwd"
	printf 'root:x:0:\n' >"$t/etc/group"
	printf 'pyro\n' >"$t/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tpyro\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$t/etc/hosts"
	: >"$t/etc/resolv.conf"
	# Modes do not depend on the umask or on who builds.
	find "$t" -type d -exec chmod 0755 {} +
	find "$t" -type f -exec chmod 0644 {} +
	chmod 0755 "$t/bin/busybox"
	chmod 0700 "$t/root"
	chmod 1777 "$t/tmp"
}

# scrub_debian TREE: remove what makes a debootstrapped tree machine- or
# time-specific, and the documentation (as Debian's "slim" images do).
scrub_debian() {
	local t=$1
	if [[ -e $t/etc/machine-id ]]; then : >"$t/etc/machine-id"; fi
	rm -f "$t/var/lib/dbus/machine-id" "$t"/etc/ssh/ssh_host_*
	rm -rf "$t"/var/cache/apt/* "$t"/var/lib/apt/lists/*
	mkdir -p "$t/var/cache/apt/archives/partial" "$t/var/lib/apt/lists/partial"
	rm -f "$t/var/cache/ldconfig/aux-cache" "$t"/var/cache/debconf/*-old "$t"/var/lib/dpkg/*-old
	rm -f "$t"/etc/*- # passwd-, group-, shadow-, gshadow- backups
	# Logs: rotated ones go, the rest are emptied (wtmp, btmp, lastlog
	# keep their owner and mode).
	find "$t/var/log" -type f \( -name '*.gz' -o -name '*.xz' -o -name '*.[0-9]' -o -name '*.old' \) -delete
	find "$t/var/log" -type f -exec truncate -s 0 {} +
	# Documentation, man and info pages and message catalogues; the
	# copyright files stay. dpkg keeps them out of later installs too.
	find "$t/usr/share/doc" -mindepth 1 \( -type f -o -type l \) ! -name copyright -delete
	find "$t/usr/share/doc" -mindepth 1 -depth -type d -empty -delete
	rm -rf "$t"/usr/share/man/* "$t"/usr/share/info/* "$t"/usr/share/locale/* "$t"/usr/share/lintian
	mkdir -p "$t/etc/dpkg/dpkg.cfg.d"
	cat >"$t/etc/dpkg/dpkg.cfg.d/pyro-slim" <<'EOF'
# pyro environment images carry no documentation (rootfs-builder/README.md)
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
EOF
	# pyro-init mounts these; the image keeps them as empty mount points.
	local d
	for d in dev proc sys run tmp; do
		find "$t/$d" -mindepth 1 -xdev -delete 2>/dev/null || rm -rf --one-file-system "${t:?}/$d"/*
		mkdir -p "$t/$d"
	done
	chmod 1777 "$t/tmp"
	chmod 0755 "$t/run" "$t/dev"
	printf 'pyro\n' >"$t/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tpyro\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$t/etc/hosts"
	rm -f "$t/etc/resolv.conf" && : >"$t/etc/resolv.conf"
	chmod 0644 "$t/etc/hostname" "$t/etc/hosts" "$t/etc/resolv.conf"
	# Password ages count days since 1970: pin them to the epoch's day (shadow
	# honours SOURCE_DATE_EPOCH, this makes sure).
	local f=$t/etc/shadow day=$((EPOCH / 86400))
	if [[ -f $f ]]; then
		awk -F: -v OFS=: -v day="$day" '$3 != "" { $3 = day } { print }' "$f" >"$f.new"
		chmod --reference="$f" "$f.new" && chown --reference="$f" "$f.new" && mv -f "$f.new" "$f"
	fi
	mkdir -p "$t/workspace" && chmod 0755 "$t/workspace"
}

# clamp_times TREE EPOCH THRESHOLD: every mtime newer than THRESHOLD becomes
# EPOCH (files from .debs keep their packaged mtimes, which are older);
# atime, ctime and crtime are set on the image itself (normalize_image).
clamp_times() {
	find "$1" -xdev -newermt "@$3" -exec touch -h -d "@$2" {} +
	touch -h -d "@$2" "$1"
}

# ---------------------------------------------------------------------------
# The image

# tree_stats TREE: "INODES DATA_BLOCKS" (4 KiB blocks, hard links once).
tree_stats() {
	find "$1" -xdev -printf '%i %y %s\n' | awk '
	seen[$1]++ { next }
	{
		n++
		if ($2 == "f" || $2 == "d") b += int(($3 + 4095) / 4096)
		else if ($2 == "l" && $3 > 59) b += 1
	}
	END { printf "%d %d\n", n, b }'
}

# uuid_for WHAT: a fixed UUID (RFC 9562 version 8) derived from WHAT.
uuid_for() {
	local h
	h=$(sha256_str "pyro-rootfs $1")
	printf '%s-%s-8%s-%x%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" \
		$(((0x${h:16:1} & 3) | 8)) "${h:17:3}" "${h:20:12}"
}

# used_inodes IMAGE: every inode in use that a file owns (the root and
# from the first non-reserved inode on), from the inode bitmaps.
used_inodes() {
	dumpe2fs "$1" 2>/dev/null | awk '
	/^Inodes per group:/ { ipg = $4 }
	/^First inode:/ { first = $3 }
	/^Group [0-9]+:/ { g = $2; sub(/:$/, "", g); next }
	/^  Free inodes:/ {
		lo = g * ipg + 1; hi = (g + 1) * ipg; cur = lo
		s = $0; sub(/^  Free inodes:[ \t]*/, "", s)
		n = split(s, r, /, */)
		for (i = 1; i <= n; i++) {
			if (r[i] == "") continue
			split(r[i], ab, "-"); a = ab[1] + 0; b = (ab[2] == "" ? a : ab[2] + 0)
			for (x = cur; x < a; x++) used(x)
			cur = b + 1
		}
		for (x = cur; x <= hi; x++) used(x)
	}
	function used(x) { if (x == 2 || x >= first) print x }'
}

# normalize_image IMAGE EPOCH ROOT_OWNED: one debugfs pass setting atime,
# ctime and crtime of every file to EPOCH (mke2fs -d copies atime and ctime
# from the build tree, and ctime cannot be set there), and with
# ROOT_OWNED=1 every owner to root:root.
normalize_image() {
	local img=$1 epoch=$2 owned=$3 cmds=$WORK/debugfs.cmds
	used_inodes "$img" | awk -v e="$epoch" -v owned="$owned" '{
		printf "sif <%s> atime @%s\nsif <%s> ctime @%s\nsif <%s> crtime @%s\n", $1, e, $1, e, $1, e
		if (owned) printf "sif <%s> uid 0\nsif <%s> gid 0\n", $1, $1
	}' >"$cmds"
	E2FSPROGS_FAKE_TIME=$epoch debugfs -w -f "$cmds" "$img" >"$WORK/debugfs.log" 2>&1 ||
		{ tail -20 "$WORK/debugfs.log" >&2; die "debugfs failed"; }
	if grep -v '^debugfs' "$WORK/debugfs.log" | grep -q .; then
		grep -v '^debugfs' "$WORK/debugfs.log" | sed -n 1,20p >&2
		die "debugfs reported errors while normalizing the image"
	fi
}

# make_image TREE IMAGE: the ext4 image of TREE, sized with headroom.
IMG_SIZE_MIB=0 IMG_INODES=0 TREE_INODES=0 TREE_BLOCKS=0
make_image() {
	local tree=$1 img=$2 journal data_mib
	read -r TREE_INODES TREE_BLOCKS < <(tree_stats "$tree")
	# Headroom: 30% over the data and the inode count, plus fixed slack
	# (16 MiB) for ext4's own metadata; the journal on top; whole MiB.
	IMG_INODES=$((TREE_INODES * 13 / 10 + 256))
	data_mib=$(((TREE_BLOCKS * 4096 * 13 / 10 + IMG_INODES * 256 + 1048575) / 1048576 + 16))
	if ((data_mib < 128)); then journal=4; else journal=16; fi
	IMG_SIZE_MIB=$((data_mib + journal))
	rm -f "$img"
	truncate -s "${IMG_SIZE_MIB}M" "$img"
	MKE2FS_CONFIG=$here/mke2fs.conf E2FSPROGS_FAKE_TIME=$EPOCH \
		mke2fs -q -F -t ext4 -T pyro -b 4096 -I 256 -m 0 -N "$IMG_INODES" -J "size=$journal" \
		-L "$(printf '%.16s' "$ENV")" -U "$UUID" -M / \
		-E "hash_seed=$HASH_SEED,root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1,nodiscard" \
		-d "$tree" "$img" >"$WORK/mke2fs.log" 2>&1 ||
		{ cat "$WORK/mke2fs.log" >&2; die "mke2fs failed"; }
	normalize_image "$img" "$EPOCH" "$ROOT_OWNED"
	e2fsck -fn "$img" >"$WORK/e2fsck.log" 2>&1 ||
		{ cat "$WORK/e2fsck.log" >&2; die "e2fsck found problems in the new image"; }
}

# ---------------------------------------------------------------------------
# Debian

RELEASE_FILE='' RELEASE_NAME='' RELEASE_SHA='' RELEASE_DATE=''
# fetch_release FILE: the suite's InRelease (or, without one, Release) file,
# as debootstrap will fetch it: its sha256 stands for the archive's state.
fetch_release() {
	local helper=/usr/lib/apt/apt-helper log
	[[ -x $helper ]] || die "$helper not found (package apt)"
	RELEASE_FILE=$1
	log=$RELEASE_FILE.log
	for RELEASE_NAME in InRelease Release; do
		"$helper" download-file "$MIRROR/dists/$DEBIAN_SUITE/$RELEASE_NAME" "$RELEASE_FILE" >>"$log" 2>&1 && break
		RELEASE_NAME=''
	done
	if [[ -z $RELEASE_NAME ]]; then
		sed 's/^/  apt: /' "$log" | tail -n 10 >&2
		die_code 3 "could not fetch the $DEBIAN_SUITE Release file from the mirror (see above); PYRO_DEBIAN_MIRROR=URI picks another"
	fi
	RELEASE_SHA=$(sha256_of "$RELEASE_FILE")
	RELEASE_DATE=$(sed -n 's/^Date: //p' "$RELEASE_FILE" | sed -n 1p)
	[[ -n $RELEASE_DATE ]] || die "the $DEBIAN_SUITE $RELEASE_NAME file has no Date"
}

debootstrap_tree() {
	local t=$1 log=$WORK/debootstrap.log inc
	inc=$(IFS=,; printf '%s' "${INCLUDE[*]}")
	mkdir -p "$CACHE_ROOT/rootfs-debs"
	# One debootstrap at a time per cache (they share the .deb cache,
	# whose files debootstrap checks against the signed index).
	take_lock rootfs-debs "another debootstrap using $CACHE_ROOT/rootfs-debs"
	say "debootstrap $DEBIAN_SUITE (minbase + ${INCLUDE[*]}); this takes minutes"
	# SOURCE_DATE_EPOCH reaches the maintainer scripts: python byte-compiles
	# to hash-checked .pyc files, shadow dates passwords with it. Fixed hash
	# seeds keep perl and python output in a stable order.
	local proxy=() v
	for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
		if [[ -n ${!v:-} ]]; then proxy+=("$v=${!v}"); fi
	done
	# debootstrap runs in its own process group (set -m) so that on_signal
	# can stop all of it before the clean-up removes its target.
	local rc=0
	set -m
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C TZ=UTC HOME=/root "${proxy[@]}" \
		SOURCE_DATE_EPOCH="$EPOCH" PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 PYTHONHASHSEED=0 \
		DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
		debootstrap --variant=minbase --arch="$DEBIAN_ARCH" --include="$inc" \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		--cache-dir="$CACHE_ROOT/rootfs-debs" \
		"$DEBIAN_SUITE" "$t" "$MIRROR" </dev/null >"$log" 2>&1 &
	CHILD_PID=$!
	set +m
	wait "$CHILD_PID" || rc=$?
	CHILD_PID=''
	((rc == 0)) || {
		unmount_under "$t"
		tail -n 30 "$log" >&2
		if network_failure "$log" || grep -qE "Couldn't download|Failed getting release" "$log"; then
			die_code 3 "debootstrap could not download from the mirror (log above: $log)"
		fi
		die "debootstrap failed (log above)"
	}
	unmount_under "$t"
	drop_lock
	# The archive must not have changed since the key was computed.
	local used
	used=$(find "$t/var/lib/apt/lists" -maxdepth 1 -name "*_dists_${DEBIAN_SUITE}_$RELEASE_NAME" -print -quit)
	[[ -n $used ]] || die "debootstrap left no $RELEASE_NAME file in the tree to compare with"
	if [[ $(sha256_of "$used") != "$RELEASE_SHA" ]]; then
		die "the mirror's $DEBIAN_SUITE Release changed during the build; run again"
	fi
}

# ---------------------------------------------------------------------------
# JSON

json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
json_list() {
	local first=1 x
	printf '['
	for x in "$@"; do
		((first)) || printf ', '
		first=0
		json_str "$x"
	done
	printf ']'
}

# write_json FILE IMAGE PACKAGES_FILE ("name version" lines)
write_json() {
	local out=$1 img=$2 pk=$3 first=1 p v
	{
		printf '{\n'
		printf '  "name": %s,\n' "$(json_str "$NAME")"
		printf '  "environment": %s,\n' "$(json_str "$ENV")"
		printf '  "version": %s,\n' "$(json_str "$VERSION")"
		printf '  "format": "ext4",\n'
		printf '  "size": %d,\n' "$(stat -c %s "$img")"
		printf '  "sha256": "%s",\n' "$(sha256_of "$img")"
		printf '  "uuid": "%s",\n' "$UUID"
		printf '  "label": %s,\n' "$(json_str "$(printf '%.16s' "$ENV")")"
		printf '  "source_date_epoch": %d,\n' "$EPOCH"
		printf '  "files": %d,\n' "$TREE_INODES"
		printf '  "content_bytes": %d,\n' "$((TREE_BLOCKS * 4096))"
		printf '  "inodes": %d,\n' "$IMG_INODES"
		printf '  "packages": ['
		while read -r p v; do
			((first)) || printf ','
			first=0
			printf '\n    {"name": %s, "version": %s}' "$(json_str "$p")" "$(json_str "$v")"
		done <"$pk"
		printf '\n  ],\n'
		printf '  "inputs": {\n'
		printf '    "builder_sha256": "%s",\n' "$(sha256_of "$here/build.sh")"
		printf '    "pins_sha256": "%s",\n' "$(sha256_of "$here/pins")"
		printf '    "mke2fs_conf_sha256": "%s",\n' "$(sha256_of "$here/mke2fs.conf")"
		printf '    "e2fsprogs": %s,\n' "$(json_str "$E2FS_VERSION")"
		if [[ $KIND == busybox ]]; then
			printf '    "deb": "busybox-static",\n'
			printf '    "deb_version": %s,\n' "$(json_str "$BUSYBOX_VERSION")"
			printf '    "deb_sha256": "%s"\n' "$BUSYBOX_SHA256"
		else
			printf '    "debootstrap": %s,\n' "$(json_str "$DEBOOTSTRAP_VERSION")"
			printf '    "variant": "minbase",\n'
			printf '    "include": %s,\n' "$(json_list "${INCLUDE[@]}")"
			printf '    "suite": %s,\n' "$(json_str "$DEBIAN_SUITE")"
			printf '    "arch": %s,\n' "$(json_str "$DEBIAN_ARCH")"
			printf '    "release_file": %s,\n' "$(json_str "$RELEASE_NAME")"
			printf '    "release_date": %s,\n' "$(json_str "$RELEASE_DATE")"
			printf '    "release_sha256": "%s"\n' "$RELEASE_SHA"
		fi
		printf '  },\n'
		printf '  "cache_key": "%s"\n' "$KEY"
		printf '}\n'
	} >"$out"
}

# ---------------------------------------------------------------------------
# Main

EPOCH='' UUID='' HASH_SEED='' ROOT_OWNED=0 VERSION='' KEY='' E2FS_VERSION='' DEBOOTSTRAP_VERSION=''

entry_ok() { [[ -s $1/rootfs.ext4 && -s $1/rootfs.json ]]; }

install_out() {
	local from=$1 f
	mkdir -p "$OUTDIR"
	for f in rootfs.ext4 rootfs.json; do
		cp --sparse=always "$from/$f" "$OUTDIR/.$f.tmp.$$" && mv -f "$OUTDIR/.$f.tmp.$$" "$OUTDIR/$f"
	done
}

compute_key() {
	{
		echo "pyro-rootfs 1"
		echo "env $ENV kind $KIND include ${INCLUDE[*]}"
		sha256sum "$here/build.sh" "$here/pins" "$here/mke2fs.conf" | cut -d' ' -f1
		echo "$E2FS_VERSION"
		if [[ $KIND == debian ]]; then
			echo "$DEBOOTSTRAP_VERSION"
			echo "mirror $MIRROR"
			echo "release $RELEASE_SHA"
		fi
	} | sha256sum | cut -c1-16
}

main() {
	local use_cache=1 keep_tree=0
	while (($#)); do
		case $1 in
		--no-cache) use_cache=0 ;;
		--keep-tree) keep_tree=1 ;;
		--repin) shift; (($# == 0)) || usage; cmd_repin; return ;;
		-h | --help) usage ;;
		-*) usage ;;
		*) break ;;
		esac
		shift
	done
	(($# == 2)) || usage
	set_env "$1"
	mkdir -p "$2"
	OUTDIR=$(cd "$2" && pwd)
	setup_cache_root
	[[ $(uname -m) == x86_64 ]] || die "only x86_64 hosts build these images (found $(uname -m))"

	local start now tree pk entry
	start=$(date +%s)
	if [[ $KIND == debian ]]; then
		[[ $(id -u) == 0 ]] || die_code 4 "$ENV needs root (debootstrap); run as root, or build 'test' instead"
		need_packages debootstrap debian-archive-keyring e2fsprogs
		DEBOOTSTRAP_VERSION=$(dpkg-query -W -f='${Version}' debootstrap)
		find_mirror
	else
		command -v dpkg-deb >/dev/null || die "dpkg-deb not found (package dpkg)"
		if ! command -v mke2fs >/dev/null || ! command -v debugfs >/dev/null; then
			need_packages e2fsprogs
		fi
	fi
	E2FS_VERSION=$(mke2fs -V 2>&1 | sed -n 1p)
	UUID=$(uuid_for "uuid $ENV")
	HASH_SEED=$(uuid_for "hash_seed $ENV")

	trap cleanup EXIT
	trap 'on_signal 130' INT
	trap 'on_signal 143' TERM
	trap 'on_signal 129' HUP
	WORK=$(mktemp -d "$CACHE_ROOT/.rootfs-work-$ENV.XXXXXX")
	chmod 755 "$WORK"
	if [[ $KIND == debian ]]; then
		fetch_release "$WORK/Release"
		EPOCH=$(date -u -d "$RELEASE_DATE" +%s) || die "cannot parse the Release Date '$RELEASE_DATE'"
	else
		EPOCH=$TEST_EPOCH
		ROOT_OWNED=1
	fi
	KEY=$(compute_key)
	entry=$CACHE_ROOT/rootfs-$ENV-$KEY

	if ((use_cache)); then
		if entry_ok "$entry"; then
			install_out "$entry"
			say "$ENV up to date (cached: $entry)"
			return 0
		fi
		take_lock "rootfs-$ENV-$KEY" "another build of $ENV (key $KEY)"
		if entry_ok "$entry"; then
			install_out "$entry"
			say "$ENV up to date (cached: $entry)"
			return 0
		fi
	fi

	tree=$WORK/tree
	pk=$WORK/packages
	if [[ $KIND == busybox ]]; then
		local deb
		deb=$(busybox_deb)
		say "building $ENV from busybox-static $BUSYBOX_VERSION (key $KEY)"
		populate_test "$tree" "$deb"
		printf 'busybox-static %s\n' "$BUSYBOX_VERSION" >"$pk"
		VERSION=${BUSYBOX_VERSION#*:}
		# Everything in this tree was made now: all of it gets EPOCH.
		clamp_times "$tree" "$EPOCH" 0
	else
		now=$(date +%s)
		((now > EPOCH)) || die "the clock ($(date -u)) is behind the archive's Release date ($RELEASE_DATE); fix the clock"
		debootstrap_tree "$tree"
		dpkg-query --admindir="$tree/var/lib/dpkg" -W -f='${Package} ${Version}\n' | sort >"$pk"
		VERSION="$(cat "$tree/etc/debian_version")+$(date -u -d "@$EPOCH" +%Y%m%d)"
		scrub_debian "$tree"
		# Made during this build (newer than the archive or than the build
		# start): EPOCH. Packaged files keep their .deb mtimes.
		clamp_times "$tree" "$EPOCH" "$((start < EPOCH ? start : EPOCH))"
	fi

	local stage
	stage=$WORK/out
	mkdir -p "$stage"
	make_image "$tree" "$stage/rootfs.ext4"
	write_json "$stage/rootfs.json" "$stage/rootfs.ext4" "$pk"

	if ((keep_tree)); then
		rm -rf --one-file-system "$OUTDIR/tree"
		mv "$tree" "$OUTDIR/tree"
	fi
	if ((use_cache)); then
		chmod 755 "$stage"
		rm -rf "$entry"
		mv -T "$stage" "$entry"
		install_out "$entry"
	else
		install_out "$stage"
	fi
	now=$(date +%s)
	say "built $ENV in $((now - start))s: $((IMG_SIZE_MIB)) MiB image, $TREE_INODES files, $((TREE_BLOCKS * 4 / 1024)) MiB content, sha256 $(sha256_of "$OUTDIR/rootfs.ext4")"
}

main "$@"
