#!/usr/bin/env bash
# vendor/build.sh OUTDIR [FLAVOUR]
#
# Fetch, verify and build pyro's third-party libraries (zlib, zstd,
# BearSSL, libarchive) as static libraries, from pinned Debian source
# packages. Results:
#   OUTDIR/lib/libz.a libzstd.a libbearssl.a libarchive.a
#   OUTDIR/include/...
#   OUTDIR/versions.txt   one line per library: name debian-version sha256
#
# FLAVOUR: musl (default; musl-gcc, for the shipping static binary) or
#          host (clang against glibc, -fPIC, for sanitizer builds).
#
# Environment (all optional; details in vendor/README.md):
#   PYRO_BUILD_CACHE       cache root (default $XDG_CACHE_HOME/pyro-build,
#                        or ~/.cache/pyro-build)
#   PYRO_VENDOR_DIR      take the source files from this directory instead
#                        of downloading them (still verified against pins)
#   PYRO_DEBIAN_MIRROR   Debian mirror URI to fetch from instead of the
#                        mirrors in the machine's apt configuration
#   PYRO_DEBIAN_SECURITY_MIRROR  security archive URI to use with
#                        PYRO_DEBIAN_MIRROR (default: that URI + "-security")
#
# vendor/build.sh --new-pin LIB [DEBIAN_VERSION] prints a new pin for LIB
# (default: the newest version the mirror has); see vendor/README.md.
set -euo pipefail

VENDOR_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Build order matters: libarchive links against zlib and zstd.
VENDOR_LIBS=(zlib zstd bearssl libarchive)
JOBS=2
# The Debian release the pins come from; used only with PYRO_DEBIAN_MIRROR.
DEBIAN_CODENAME=bookworm
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

say() { printf 'vendor: %s\n' "$*" >&2; }
die() { printf 'vendor: error: %s\n' "$*" >&2; exit 1; }

usage() {
	die "usage: vendor/build.sh OUTDIR [musl|host] | vendor/build.sh --new-pin LIB [DEBIAN_VERSION]"
}

# fail_log LOG MESSAGE: report a failed step with the tail of its log.
fail_log() {
	printf 'vendor: error: %s\nvendor: full log: %s\nvendor: last 40 lines:\n' "$2" "$1" >&2
	tail -n 40 "$1" >&2
	exit 1
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# take_lock FILE WHAT: hold an exclusive flock on FILE until exit (or
# `flock -u "$LOCK_FD"`), saying WHAT we wait for if it is busy. Without
# flock(1) (util-linux) there is no locking.
LOCK_FD=
take_lock() {
	command -v flock >/dev/null 2>&1 || return 0
	exec {LOCK_FD}>"$1"
	if ! flock -n "$LOCK_FD"; then
		say "waiting for $2"
		flock "$LOCK_FD"
	fi
}

# ---------------------------------------------------------------------------
# Setup

# Variables set by main and used throughout.
OUTDIR='' FLAVOUR='' CC='' CFLAGS='' CACHE_ROOT='' WORK='' KHEADERS='' STAGING='' TMP_FETCH=''

RECIPE_PID=''

# on_signal STATUS: stop the running recipe (its whole process group:
# make, the compilers) before exiting, so nothing writes on after us.
on_signal() {
	if [[ -n $RECIPE_PID ]]; then
		kill -TERM -- "-$RECIPE_PID" 2>/dev/null || true
		wait "$RECIPE_PID" 2>/dev/null || true
		RECIPE_PID=''
	fi
	exit "$1"
}

cleanup() {
	[[ -n $STAGING && -d $STAGING ]] && rm -rf "$STAGING"
	[[ -n $TMP_FETCH && -d $TMP_FETCH ]] && rm -rf "$TMP_FETCH"
	return 0
}

require_tools() {
	local missing=() t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	((${#missing[@]} == 0)) && return 0
	die "missing tools: ${missing[*]} (on Debian: ./build.sh deps; musl-gcc is in musl-tools, bzip2 is needed for zlib's .tar.bz2)"
}

# Keep the build independent of whatever the caller has exported (make
# exports MAKEFLAGS with jobserver descriptors we do not inherit).
sanitize_env() {
	unset CFLAGS CPPFLAGS CXXFLAGS LDFLAGS LIBS CPP LD AR RANLIB \
		MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS \
		CONFIG_SITE CHOST prefix
	export LC_ALL=C
}

# load_pin LIB: source vendor/LIB/pin into PIN_* and DEB_* and check it.
load_pin() {
	local lib=$1 pin=$VENDOR_SRC/$1/pin
	[[ -f $pin ]] || die "missing $pin"
	PIN_LIB='' PIN_UPSTREAM_VERSION='' DEB_SOURCE='' DEB_VERSION='' DEB_FILES=''
	# shellcheck source=/dev/null
	. "$pin"
	[[ $PIN_LIB == "$lib" && -n $PIN_UPSTREAM_VERSION && -n $DEB_SOURCE && -n $DEB_VERSION ]] ||
		die "$pin: PIN_LIB, PIN_UPSTREAM_VERSION, DEB_SOURCE and DEB_VERSION must be set (PIN_LIB=$lib)"
	local sha name n=0 orig=0 deb=0 dsc=0
	while read -r sha name; do
		[[ -z $sha ]] && continue
		[[ $sha =~ ^[0-9a-f]{64}$ && -n $name && $name != */* ]] ||
			die "$pin: bad DEB_FILES line: $sha $name"
		n=$((n + 1))
		case $name in
		*.asc) ;;
		*.orig.tar.*) orig=$((orig + 1)) ;;
		*.debian.tar.*) deb=$((deb + 1)) ;;
		*.dsc) dsc=$((dsc + 1)) ;;
		esac
	done <<<"$DEB_FILES"
	((orig == 1 && deb == 1 && dsc == 1)) ||
		die "$pin: DEB_FILES must list exactly one .dsc, one .orig.tar.* and one .debian.tar.* (a \"3.0 (quilt)\" source package)"
	# Debian names the .dsc SOURCE_VERSION.dsc (without the epoch).
	name=$(pin_file_matching '\.dsc$')
	[[ $name == "${DEB_SOURCE}_${DEB_VERSION#*:}.dsc" ]] ||
		die "$pin: DEB_FILES lists $name, but DEB_SOURCE=$DEB_SOURCE DEB_VERSION=$DEB_VERSION means ${DEB_SOURCE}_${DEB_VERSION#*:}.dsc"
}

# pin_files: the "sha256 name" lines of the loaded pin.
pin_files() { sed -e '/^[[:space:]]*$/d' <<<"$DEB_FILES"; }
pin_file_matching() { pin_files | awk -v pat="$1" '$2 ~ pat && $2 !~ /\.asc$/ { print $2 }'; }

# libc_archive: the path of the libc.a that $CC -static links.
libc_archive() {
	local t
	t=$(mktemp -d)
	printf 'int main(void) { return 0; }\n' |
		"$CC" -static -Wl,-t -x c - -o "$t/a.out" 2>/dev/null |
		grep -m1 '/libc\.a$' || true
	rm -rf "$t"
}

# The cache key: everything that determines the output.
compute_key() {
	local lib libc
	{
		echo "pyro-vendor 1"
		echo "flavour $FLAVOUR"
		echo "cflags $CFLAGS"
		echo "kheaders ${KHEADERS:+yes}"
		uname -m
		(cd "$VENDOR_SRC" && sha256sum build.sh)
		for lib in "${VENDOR_LIBS[@]}"; do
			(cd "$VENDOR_SRC" && sha256sum "$lib/pin" "$lib/recipe.sh")
		done
		"$CC" --version
		# The C library the compiler links against (musl or glibc), as
		# found by the linker (musl-gcc -print-file-name names glibc's).
		libc=$(libc_archive)
		if [[ -n $libc && -f $libc ]]; then sha256sum "$libc" | cut -d' ' -f1; fi
		if [[ -n $KHEADERS && -f /usr/include/linux/version.h ]]; then
			cat /usr/include/linux/version.h
		fi
	} | sha256sum | cut -c1-16
}

# cache_entry_ok DIR: DIR holds a complete build.
cache_entry_ok() {
	local d=$1 f
	[[ -f $d/.complete && -f $d/versions.txt ]] || return 1
	for f in libz.a libzstd.a libbearssl.a libarchive.a; do
		[[ -s $d/lib/$f ]] || return 1
	done
	for f in bearssl.h zlib.h zconf.h zstd.h zstd_errors.h archive.h archive_entry.h; do
		[[ -s $d/include/$f ]] || return 1
	done
}

# install_outdir DIR: copy a complete cache entry into OUTDIR. Copies, not
# hard links, so nothing done to OUTDIR can damage the cache.
install_outdir() {
	local d=$1
	rm -rf "${OUTDIR:?}/lib" "${OUTDIR:?}/include" "${OUTDIR:?}/versions.txt"
	cp -R "$d/lib" "$d/include" "$d/versions.txt" "$OUTDIR/"
}

# ---------------------------------------------------------------------------
# Sources: PYRO_VENDOR_DIR, the download cache, or apt-get source.

# verify FILE SHA NAME ORIGIN: fail loudly unless FILE has sha256 SHA.
verify() {
	local file=$1 want=$2 name=$3 origin=$4 got
	got=$(sha256_of "$file")
	[[ $got == "$want" ]] && return 0
	rm -f "$file"
	printf '%s\n' \
		"vendor: error: checksum mismatch for $name" \
		"  from:     $origin" \
		"  expected: $want (vendor/$PIN_LIB/pin)" \
		"  actual:   $got" \
		"  The file was not used (and was deleted from the work area)." >&2
	if [[ $origin == PYRO_VENDOR_DIR=* ]]; then
		printf '%s\n' \
			"  Replace it in PYRO_VENDOR_DIR with the genuine file from" \
			"  \`apt-get source --download-only $DEB_SOURCE=$DEB_VERSION\`." >&2
	else
		printf '%s\n' \
			"  The mirror now serves different bytes under this name: the pin is" \
			"  out of date. Update vendor/$PIN_LIB/pin (vendor/README.md," \
			"  \"Bumping a pin\"), or supply the pinned files with PYRO_VENDOR_DIR." >&2
	fi
	exit 1
}

# One-line sources.list entries: "deb ..." -> "deb-src ...".
oneline_to_src() {
	sed -n -e 's/^[[:space:]]*deb[[:space:]]\{1,\}/deb-src /p' "$1"
}

# deb822 stanzas whose Types include "deb" -> the same stanza as deb-src.
deb822_to_src() {
	awk '
	BEGIN { RS = ""; FS = "\n" }
	{
		types = ""; enabled = "yes"; out = ""
		for (i = 1; i <= NF; i++) {
			line = $i
			if (line ~ /^#/) continue
			low = tolower(line)
			if (low ~ /^types:/) { types = substr(line, 7); continue }
			if (low ~ /^enabled:/) { enabled = tolower(substr(line, 9)); gsub(/[ \t]/, "", enabled) }
			out = out line "\n"
		}
		if (enabled == "no" || (" " types " ") !~ /[ \t]deb[ \t]/) next
		printf "Types: deb-src\n%s\n", out
	}' "$1"
}

# write_apt_sources DIR: DIR/sources.list (one-line) and
# DIR/sources.list.d/pyro.sources (deb822), deb-src only.
write_apt_sources() {
	local dir=$1
	local sl=$dir/sources.list parts=$dir/sources.list.d
	rm -rf "$parts" && mkdir -p "$parts"
	: >"$sl"
	if [[ -n ${PYRO_DEBIAN_MIRROR:-} ]]; then
		local main=${PYRO_DEBIAN_MIRROR%/}
		local sec=${PYRO_DEBIAN_SECURITY_MIRROR:-$main-security}
		local signed=
		[[ -f $DEBIAN_KEYRING ]] && signed="Signed-By: $DEBIAN_KEYRING"
		printf '%s\n' \
			"Types: deb-src" "URIs: $main" \
			"Suites: $DEBIAN_CODENAME $DEBIAN_CODENAME-updates" \
			"Components: main" "$signed" "" \
			"Types: deb-src" "URIs: ${sec%/}" \
			"Suites: $DEBIAN_CODENAME-security" \
			"Components: main" "$signed" >"$parts/pyro.sources"
		return 0
	fi
	command -v apt-config >/dev/null 2>&1 || die "apt-config not found: set PYRO_VENDOR_DIR (vendor/README.md)"
	local SL='' SP='' f
	eval "$(apt-config shell SL Dir::Etc::SourceList/f SP Dir::Etc::SourceParts/d)"
	if [[ -n $SL && -f $SL ]]; then
		case $SL in
		*.sources) deb822_to_src "$SL" >>"$parts/pyro.sources" ;;
		*) oneline_to_src "$SL" >>"$sl" ;;
		esac
	fi
	if [[ -n $SP && -d $SP ]]; then
		for f in "$SP"/*.list; do
			if [[ -f $f ]]; then oneline_to_src "$f" >>"$sl"; fi
		done
		for f in "$SP"/*.sources; do
			if [[ -f $f ]]; then deb822_to_src "$f" >>"$parts/pyro.sources"; fi
		done
	fi
	if [[ ! -s $sl && ! -s $parts/pyro.sources ]]; then
		die "no 'deb' entries in the apt configuration ($SL, $SP) to derive deb-src entries from: set PYRO_DEBIAN_MIRROR=URI or PYRO_VENDOR_DIR=DIR (vendor/README.md)"
	fi
	return 0
}

APT_OPTS=()
APT_READY=
APT_LOG=

# apt_prepare: a private apt configuration under CACHE_ROOT/apt; the
# machine's own apt configuration and state are never written to.
apt_prepare() {
	[[ -n $APT_READY ]] && return 0
	require_tools apt-get apt-config
	local d=$CACHE_ROOT/apt
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	write_apt_sources "$d"
	APT_OPTS=(
		-o "Dir::Etc::SourceList=$d/sources.list"
		-o "Dir::Etc::SourceParts=$d/sources.list.d"
		-o "Dir::State::Lists=$d/lists"
		-o "Dir::Cache=$d/cache"
		-o "Acquire::Languages=none"
		-q
	)
	APT_LOG=$WORK/logs/apt.log
	say "updating the package index (deb-src, private apt state in $d)"
	{
		echo "== sources.list"; cat "$d/sources.list"
		echo "== sources.list.d/pyro.sources"; cat "$d/sources.list.d/pyro.sources" 2>/dev/null || true
		echo "== apt-get update"
	} >>"$APT_LOG"
	# Errors for individual repositories (say, one without source
	# packages) are not fatal: apt-get source reports what is missing.
	apt-get "${APT_OPTS[@]}" update >>"$APT_LOG" 2>&1 ||
		echo "(apt-get update exited $?; continuing)" >>"$APT_LOG"
	APT_READY=1
}

# apt_fetch DIR [SPEC]: apt-get source --download-only SPEC (default: the
# pinned version) into DIR.
apt_fetch() {
	local dir=$1 spec=${2:-$DEB_SOURCE=$DEB_VERSION}
	apt_prepare
	echo "== apt-get source $spec" >>"$APT_LOG"
	if ! (cd "$dir" && apt-get "${APT_OPTS[@]}" source --download-only --only-source \
		"$spec") >>"$APT_LOG" 2>&1; then
		printf '%s\n' \
			"vendor: error: could not download $spec with apt-get source." \
			"  If the log says the version cannot be found, the mirror no longer carries" \
			"  it (a newer security update replaced it): bump vendor/$PIN_LIB/pin" \
			"  (vendor/README.md, \"Bumping a pin\"), or supply the pinned files with" \
			"  PYRO_VENDOR_DIR. Otherwise check the network and the mirror" \
			"  (PYRO_DEBIAN_MIRROR overrides it)." >&2
		fail_log "$APT_LOG" "apt-get source $spec failed"
	fi
}

# fetch_to_cache LIB: make sure the download cache holds every pinned file.
fetch_to_cache() {
	local cache=$CACHE_ROOT/sources sha name need=0
	mkdir -p "$cache"
	while read -r sha name; do
		if [[ -f $cache/$name ]]; then
			[[ $(sha256_of "$cache/$name") == "$sha" ]] && continue
			# A damaged or stale cached copy: fetch it again.
			rm -f "$cache/$name"
		fi
		need=1
	done < <(pin_files)
	((need)) || return 0

	say "fetching $DEB_SOURCE $DEB_VERSION"
	TMP_FETCH=$(mktemp -d "$cache/.fetch-$PIN_LIB.XXXXXX")
	apt_fetch "$TMP_FETCH"
	local f
	for f in "$TMP_FETCH"/*; do
		[[ -e $f ]] || continue
		pin_files | awk -v n="${f##*/}" '$2 == n { found = 1 } END { exit !found }' ||
			die "apt-get source $DEB_SOURCE=$DEB_VERSION downloaded ${f##*/}, which vendor/$PIN_LIB/pin does not list: the source package changed on the mirror; update the pin (vendor/README.md, \"Bumping a pin\")"
	done
	while read -r sha name; do
		[[ -f $TMP_FETCH/$name ]] ||
			die "apt-get source $DEB_SOURCE=$DEB_VERSION did not download $name, which vendor/$PIN_LIB/pin lists: the source package changed on the mirror; update the pin (vendor/README.md, \"Bumping a pin\")"
		verify "$TMP_FETCH/$name" "$sha" "$name" "the mirror, via apt-get source"
	done < <(pin_files)
	while read -r sha name; do
		mv -f "$TMP_FETCH/$name" "$cache/$name"
	done < <(pin_files)
	rm -rf "$TMP_FETCH"
	TMP_FETCH=
}

# get_sources LIB DEST: verified copies of the pinned files in DEST. The
# copies are what gets unpacked, so the bytes used are the bytes checked.
get_sources() {
	local dest=$2 sha name from origin
	mkdir -p "$dest"
	if [[ -n ${PYRO_VENDOR_DIR:-} ]]; then
		[[ -d $PYRO_VENDOR_DIR ]] || die "PYRO_VENDOR_DIR=$PYRO_VENDOR_DIR is not a directory"
		from=$PYRO_VENDOR_DIR origin="PYRO_VENDOR_DIR=$PYRO_VENDOR_DIR"
		while read -r sha name; do
			[[ -f $from/$name ]] ||
				die "PYRO_VENDOR_DIR=$from lacks $name (vendor/$PIN_LIB/pin lists it; \`apt-get source --download-only $DEB_SOURCE=$DEB_VERSION\` fetches it)"
		done < <(pin_files)
	else
		fetch_to_cache "$1"
		from=$CACHE_ROOT/sources origin="the download cache $CACHE_ROOT/sources"
	fi
	while read -r sha name; do
		cp -- "$from/$name" "$dest/$name"
		verify "$dest/$name" "$sha" "$name" "$origin"
	done < <(pin_files)
}

# ---------------------------------------------------------------------------
# Unpack, patch, build.

# unpack LIB DLDIR: check the .dsc, unpack the orig tarball and the debian
# tarball over it (as dpkg-source does); prints the source tree's path.
unpack() {
	local lib=$1 dl=$2 top=$WORK/src/$1 orig debtar dsc entries
	dsc=$(pin_file_matching '\.dsc$')
	orig=$(pin_file_matching '\.orig\.tar\.')
	debtar=$(pin_file_matching '\.debian\.tar\.')
	grep -qx 'Format: 3.0 (quilt)' "$dl/$dsc" ||
		die "$dsc: not a \"3.0 (quilt)\" source package; vendor/build.sh cannot unpack it"
	{ grep -qxF "Source: $DEB_SOURCE" "$dl/$dsc" && grep -qxF "Version: $DEB_VERSION" "$dl/$dsc"; } ||
		die "$dsc does not describe $DEB_SOURCE $DEB_VERSION (vendor/$lib/pin)"
	rm -rf "$top" && mkdir -p "$top/x"
	tar -xf "$dl/$orig" -C "$top/x" --no-same-owner
	entries=("$top"/x/*)
	if ((${#entries[@]} == 1)) && [[ -d ${entries[0]} ]]; then
		mv "${entries[0]}" "$top/tree"
		rmdir "$top/x"
	else
		mv "$top/x" "$top/tree"
	fi
	rm -rf "$top/tree/debian"
	tar -xf "$dl/$debtar" -C "$top/tree" --no-same-owner
	printf '%s\n' "$top/tree"
}

# series_patches TREE: "name strip-level" per patch in debian/patches/series.
series_patches() {
	local series=$1/debian/patches/series name opt
	[[ -f $series ]] || return 0
	while read -r name opt _; do
		[[ -z $name || $name == \#* ]] && continue
		[[ $opt =~ ^-p[0-9]+$ ]] || opt=-p1
		printf '%s %s\n' "$name" "$opt"
	done <"$series"
}

# apply_patches TREE LOG: quilt order, no fuzz (as dpkg-source requires).
apply_patches() {
	local tree=$1 log=$2 name opt
	while read -r name opt; do
		echo "== patch $opt debian/patches/$name" >>"$log"
		patch -d "$tree" "$opt" --batch --forward --fuzz=0 --no-backup-if-mismatch \
			-i "$tree/debian/patches/$name" >>"$log" 2>&1 ||
			fail_log "$log" "$PIN_LIB: Debian patch $name does not apply"
	done < <(series_patches "$tree")
}

# make_kheaders DIR: the kernel UAPI headers musl-gcc does not search.
make_kheaders() {
	local d=$1 arch_asm
	arch_asm=/usr/include/$(uname -m)-linux-gnu/asm
	[[ -d /usr/include/linux && -d $arch_asm ]] ||
		die "kernel headers missing (/usr/include/linux, $arch_asm): apt-get install linux-libc-dev"
	mkdir -p "$d"
	ln -sfn /usr/include/linux "$d/linux"
	ln -sfn /usr/include/asm-generic "$d/asm-generic"
	ln -sfn "$arch_asm" "$d/asm"
}

build_lib() {
	local lib=$1 prefix=$2 log=$WORK/logs/$1.log tree npatch
	load_pin "$lib"
	: >"$log"
	tree=$(unpack "$lib" "$WORK/dl/$lib")
	npatch=$(series_patches "$tree" | wc -l)
	say "building $lib $DEB_VERSION ($FLAVOUR, $npatch Debian patches)"
	apply_patches "$tree" "$log"
	# Keep build paths out of the objects (debug info, __FILE__), so the
	# same cache key gives the same bytes wherever OUTDIR and the cache are.
	local cflags="$CFLAGS -ffile-prefix-map=$tree=/usr/src/$lib"
	cflags+=" -ffile-prefix-map=$prefix=/usr/src/pyro-vendor"
	cflags+=" -ffile-prefix-map=$WORK=/usr/src/pyro-vendor-work"
	echo "== recipe $lib/recipe.sh (CC=$CC CFLAGS=$cflags)" >>"$log"
	# The recipe runs as a background job in its own process group (set -m)
	# so that on_signal can stop all of it.
	local rc=0
	set -m
	CC=$CC CFLAGS=$cflags JOBS=$JOBS KHEADERS=$KHEADERS \
		bash "$VENDOR_SRC/$lib/recipe.sh" "$tree" "$prefix" </dev/null >>"$log" 2>&1 &
	RECIPE_PID=$!
	set +m
	wait "$RECIPE_PID" || rc=$?
	RECIPE_PID=''
	((rc == 0)) || fail_log "$log" "building $lib $DEB_VERSION ($FLAVOUR) failed"
	printf '%s %s %s\n' "$lib" "$DEB_VERSION" \
		"$(pin_files | awk '$2 ~ /\.orig\.tar\./ && $2 !~ /\.asc$/ { print $1 }')" \
		>>"$prefix/versions.txt"
	rm -rf "$WORK/src/$lib" "$WORK/dl/$lib"
}

setup_cache_root() {
	if [[ -n ${PYRO_BUILD_CACHE:-} ]]; then
		CACHE_ROOT=$PYRO_BUILD_CACHE
	else
		CACHE_ROOT=${XDG_CACHE_HOME:-${HOME:?set HOME or PYRO_BUILD_CACHE}/.cache}/pyro-build
	fi
	mkdir -p "$CACHE_ROOT"
	CACHE_ROOT=$(cd "$CACHE_ROOT" && pwd)
}

# vendor/build.sh --new-pin LIB [DEBIAN_VERSION]: fetch that version (by
# default the newest the mirror has) of LIB's source package and print a
# pin for it on stdout, with its newest changelog entry on stderr.
cmd_new_pin() {
	local lib=${1:-} want=${2:-} dsc ver up f
	[[ -n $lib && -f $VENDOR_SRC/$lib/pin ]] ||
		die "usage: vendor/build.sh --new-pin LIB [DEBIAN_VERSION] (LIB: ${VENDOR_LIBS[*]})"
	sanitize_env
	require_tools sha256sum awk sed tar xz
	setup_cache_root
	load_pin "$lib"
	mkdir -p "$CACHE_ROOT/locks"
	take_lock "$CACHE_ROOT/locks/fetch" "another run's download"
	trap cleanup EXIT
	TMP_FETCH=$(mktemp -d)
	WORK=$TMP_FETCH
	mkdir -p "$WORK/logs" "$WORK/dl"
	apt_fetch "$WORK/dl" "$DEB_SOURCE${want:+=$want}"
	dsc=$(cd "$WORK/dl" && ls -- *.dsc)
	ver=$(sed -n 's/^Version: //p' "$WORK/dl/$dsc")
	up=${ver#*:}
	up=${up%-*}
	up=${up%%[+~]*}
	up=${up%.dfsg*}
	for f in "$WORK/dl"/*.debian.tar.*; do
		tar -xOf "$f" debian/changelog 2>/dev/null | sed -n '1,/^ -- /p' >&2 || true
	done
	cat <<EOF
# shellcheck shell=bash disable=SC2034
# Pinned Debian source package for $lib. Sourced by vendor/build.sh.
# To bump: see vendor/README.md, "Bumping a pin". Every file that
# \`apt-get source --download-only $DEB_SOURCE=$ver\` fetches must be
# listed below with its sha256; a file that is missing, extra or
# different stops the build.
PIN_LIB=$lib
PIN_UPSTREAM_VERSION=$up
DEB_SOURCE=$DEB_SOURCE
DEB_VERSION=$ver
DEB_FILES='
$(cd "$WORK/dl" && sha256sum -- *)
'
EOF
}

main() {
	(($# >= 1 && $# <= 2)) || usage
	FLAVOUR=${2:-musl}
	sanitize_env
	case $FLAVOUR in
	musl) CC=musl-gcc CFLAGS="-O2 -g -ffunction-sections -fdata-sections" ;;
	host) CC=clang CFLAGS="-O2 -g -fPIC" ;;
	*) usage ;;
	esac
	require_tools "$CC" make patch tar xz bzip2 sha256sum awk sed
	mkdir -p "$1"
	OUTDIR=$(cd "$1" && pwd)
	setup_cache_root
	# KHEADERS is only a marker here; its real path (under WORK) is set
	# below and kept out of the cache key.
	if [[ $FLAVOUR == musl ]]; then KHEADERS=yes; fi

	local lib key entry
	for lib in "${VENDOR_LIBS[@]}"; do load_pin "$lib"; done
	key=$(compute_key)
	entry=$CACHE_ROOT/vendor-$FLAVOUR-$key
	# Concurrent runs: one at a time per OUTDIR (it owns OUTDIR/.work),
	# and one build per cache key (a second run then gets a cache hit).
	take_lock "$OUTDIR/.lock" "another vendor build into $OUTDIR"
	mkdir -p "$CACHE_ROOT/locks"
	take_lock "$CACHE_ROOT/locks/vendor-$FLAVOUR-$key" "another build of $entry"
	if cache_entry_ok "$entry"; then
		install_outdir "$entry"
		say "up to date ($FLAVOUR, cached: $entry)"
		return 0
	fi

	trap cleanup EXIT
	trap 'on_signal 130' INT
	trap 'on_signal 143' TERM
	trap 'on_signal 129' HUP
	WORK=$OUTDIR/.work
	rm -rf "$WORK"
	mkdir -p "$WORK/logs" "$WORK/src" "$WORK/dl"
	if [[ $FLAVOUR == musl ]]; then
		KHEADERS=$WORK/kheaders
		make_kheaders "$KHEADERS"
	fi
	# Stale staging directories of interrupted builds (older than a day).
	find "$CACHE_ROOT" -maxdepth 1 -name '.tmp-vendor-*' -mmin +1440 \
		-exec rm -rf {} + 2>/dev/null || true
	STAGING=$(mktemp -d "$CACHE_ROOT/.tmp-vendor-$FLAVOUR-$key.XXXXXX")
	: >"$STAGING/versions.txt"
	# All sources first, so a bad or missing file stops the build at once.
	# The download cache and apt state are shared by all runs.
	take_lock "$CACHE_ROOT/locks/fetch" "another run's download"
	for lib in "${VENDOR_LIBS[@]}"; do
		load_pin "$lib"
		get_sources "$lib" "$WORK/dl/$lib"
	done
	[[ -z $LOCK_FD ]] || flock -u "$LOCK_FD"
	for lib in "${VENDOR_LIBS[@]}"; do
		build_lib "$lib" "$STAGING"
	done
	cp "$STAGING/versions.txt" "$WORK/versions.txt"
	touch "$STAGING/.complete"
	chmod 755 "$STAGING"
	cache_entry_ok "$STAGING" || die "internal: the build in $STAGING is incomplete"
	# Publish atomically. A concurrent build of the same key may have won.
	if [[ -e $entry ]] && ! cache_entry_ok "$entry"; then
		rm -rf "$entry"
	fi
	if mv -T "$STAGING" "$entry" 2>/dev/null; then
		STAGING=
	fi
	cache_entry_ok "$entry" || die "could not publish the build to $entry"
	install_outdir "$entry"
	say "done ($FLAVOUR, cached: $entry; logs: $WORK/logs)"
}

case ${1:-} in
--new-pin) shift; cmd_new_pin "$@" ;;
-h | --help | -*) usage ;;
*) main "$@" ;;
esac
