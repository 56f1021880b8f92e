#!/usr/bin/env bash
# zstd: the static library only, single-threaded, without the legacy
# (pre-v0.8) format decoders. Run by vendor/build.sh as
#   bash recipe.sh SRCDIR PREFIX
# with CC, CFLAGS, JOBS in the environment (see zlib/recipe.sh).
set -euo pipefail
src=$1 prefix=$2
cd "$src/lib"
# CFLAGS goes through the environment, not the command line: lib/Makefile
# appends to it (-Wa,--noexecstack and friends), which a command-line
# assignment would silently override.
CFLAGS=$CFLAGS make -j"$JOBS" CC="$CC" ZSTD_LEGACY_SUPPORT=0 libzstd.a
install -d "$prefix/lib" "$prefix/include"
install -m 644 libzstd.a "$prefix/lib/libzstd.a"
install -m 644 zstd.h zstd_errors.h "$prefix/include/"
