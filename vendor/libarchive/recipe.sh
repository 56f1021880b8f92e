#!/usr/bin/env bash
# libarchive: static library with zlib and zstd (both already installed
# in PREFIX by their recipes) and nothing else: no tools, ACLs, xattrs,
# iconv, crypto or XML. Run by vendor/build.sh as
#   bash recipe.sh SRCDIR PREFIX
# with CC, CFLAGS, JOBS and KHEADERS in the environment (see
# zlib/recipe.sh). KHEADERS, when set, is a directory of symlinks to the
# kernel UAPI headers (musl-gcc does not search /usr/include); it is
# searched after everything else, so it only supplies linux/*.h and asm*.
set -euo pipefail
src=$1 prefix=$2
cd "$src"
cppflags="-I$prefix/include"
[[ -n ${KHEADERS:-} ]] && cppflags+=" -idirafter $KHEADERS"
./configure \
	CC="$CC" CFLAGS="$CFLAGS" CPPFLAGS="$cppflags" LDFLAGS="-L$prefix/lib" \
	--prefix="$prefix" \
	--disable-maintainer-mode --disable-shared --enable-static \
	--disable-bsdtar --disable-bsdcpio --disable-bsdcat --disable-bsdunzip \
	--disable-acl --disable-xattr \
	--with-zlib --with-zstd \
	--without-lzma --without-bz2lib --without-libb2 --without-iconv \
	--without-lz4 --without-lzo2 --without-cng --without-mbedtls \
	--without-nettle --without-openssl --without-xml2 --without-expat

# configure quietly drops a library it cannot find or link: insist on the
# two we want, and on no other external library (it would not be in the
# static link line of pyro).
for want in HAVE_ZLIB_H HAVE_LIBZ HAVE_ZSTD_H HAVE_LIBZSTD HAVE_LIBZSTD_COMPRESSOR; do
	grep -q "^#define $want 1" config.h || {
		echo "recipe: configure did not enable $want (see config.log)" >&2
		exit 1
	}
done
extra=$(grep -E '^#define HAVE_LIB[A-Z0-9_]+ 1' config.h |
	grep -vE ' HAVE_LIB(Z|ZSTD|ZSTD_COMPRESSOR) ' || true)
if [[ -n $extra ]]; then
	echo "recipe: configure enabled unexpected external libraries:" >&2
	echo "$extra" >&2
	exit 1
fi

make -j"$JOBS" libarchive.la
install -d "$prefix/lib" "$prefix/include"
install -m 644 .libs/libarchive.a "$prefix/lib/libarchive.a"
install -m 644 libarchive/archive.h libarchive/archive_entry.h "$prefix/include/"
