/* Test helpers for archives: build tar streams in memory (hand-made ustar
 * headers for anything hostile or broken, libarchive's writer for pax, GNU,
 * gzip and zstd), extract them, compare directory trees. */
#ifndef PYRO_TEST_TARBUILD_H
#define PYRO_TEST_TARBUILD_H

#include <stddef.h>
#include <sys/types.h>

#include "../../core/buf.h"
#include "../../core/err.h"
#include "../../core/wsarchive.h"

#define TB_MTIME 1700000000

/* One ustar member with exactly these fields (name and link cut at 100
 * bytes), data padded to 512, a correct checksum unless bad_sum. */
void tb_raw(struct buf *b, const char *name, char type, const char *link,
	    const void *data, size_t size);
void tb_raw_mode(struct buf *b, const char *name, char type, const char *link,
		 const void *data, size_t size, unsigned mode, int bad_sum);
/* The end-of-archive marker: two zero blocks. */
void tb_raw_end(struct buf *b);

enum tb_filter { TB_NONE, TB_GZIP, TB_ZSTD };

struct archive;
struct archive_entry;
struct tb {
	struct archive *a;
	struct archive_entry *e;
	struct buf *out;
	int failed;
};

/* Write with libarchive into out. format: "pax", "gnutar", "ustar", "v7". */
int tb_open(struct tb *t, struct buf *out, enum tb_filter filter, const char *format);
void tb_dir(struct tb *t, const char *name, unsigned mode);
void tb_file(struct tb *t, const char *name, const char *data, unsigned mode);
void tb_symlink(struct tb *t, const char *name, const char *target);
void tb_hardlink(struct tb *t, const char *name, const char *target);
/* AE_IFCHR, AE_IFBLK or AE_IFIFO. */
void tb_special(struct tb *t, const char *name, unsigned type);
/* 0 when every call since tb_open succeeded. */
int tb_close(struct tb *t);

/* wsarchive_extract of the bytes in b into dirfd. */
int tb_extract(const struct buf *b, int dirfd, const struct wsarchive_limits *lim,
	       struct wsarchive_stats *st, struct pyro_err *err);

/* A fresh directory below the test's tmpdir; path into out[PATH_MAX]. */
int tb_mkdir(const char *name, char *out);
/* O_PATH descriptor of a directory. */
int tb_open_dir(const char *path);
/* The whole file (or symlink target) into b; -1 when it cannot be read. */
int tb_slurp(const char *path, struct buf *b);
int tb_file_is(const char *path, const char *content);
int tb_link_is(const char *path, const char *target);
int tb_exists(const char *path);
/* Entries in a directory (without . and ..), -1 on error. */
int tb_count(const char *dir);

/* 1 when the trees under a and b hold the same names, types, file
 * contents, file permission bits, file mtimes and symlink targets;
 * otherwise 0 with the first difference in why. */
int tb_tree_equal(const char *a, const char *b, char *why, size_t cap);

#endif
