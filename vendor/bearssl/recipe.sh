#!/usr/bin/env bash
# BearSSL: the static library only (no tools, tests or shared library).
# Run by vendor/build.sh as
#   bash recipe.sh SRCDIR PREFIX
# with CC, CFLAGS, JOBS in the environment (see zlib/recipe.sh).
# Debian carries no patches for bearssl 0.6 (no debian/patches); its
# packaging only wraps the headers in a bearssl/ subdirectory, which we
# do not copy: the headers go to PREFIX/include as upstream lays them out.
set -euo pipefail
src=$1 prefix=$2
cd "$src"
make -j"$JOBS" CONF=Unix CC="$CC" LD="$CC" LDDLL="$CC" \
	CFLAGS="-W -Wall $CFLAGS" lib
install -d "$prefix/lib" "$prefix/include"
install -m 644 build/libbearssl.a "$prefix/lib/libbearssl.a"
install -m 644 inc/bearssl*.h "$prefix/include/"
