#!/usr/bin/env bash
# zlib: static library only. Run by vendor/build.sh (see there) as
#   bash recipe.sh SRCDIR PREFIX
# with CC, CFLAGS, JOBS (and KHEADERS, unused here) in the environment.
# SRCDIR is the unpacked .orig tree with the Debian patches applied;
# results go to PREFIX/lib and PREFIX/include.
set -euo pipefail
src=$1 prefix=$2
cd "$src"
CC=$CC CFLAGS=$CFLAGS ./configure --static --prefix="$prefix"
make -j"$JOBS" libz.a
install -d "$prefix/lib" "$prefix/include"
install -m 644 libz.a "$prefix/lib/libz.a"
install -m 644 zlib.h zconf.h "$prefix/include/"
