/* Shared by wsarchive_read.c, wsarchive_extract.c and wsarchive_export.c:
 * the libarchive reader behind a pull callback and the member it yields.
 * Not a public interface; see wsarchive.h. */
#ifndef PYRO_WSARCHIVE_INTERNAL_H
#define PYRO_WSARCHIVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "err.h"
#include "wsarchive.h"

struct archive;

/* Bytes asked of the pull callback at a time. */
#define WSA_PULL_CHUNK (64 * 1024)

enum wsa_kind { WSA_DIR, WSA_FILE, WSA_SYMLINK, WSA_HARDLINK, WSA_OTHER };

/* One member. Strings point into the reader and stay valid until the next
 * wsa_reader_next(). */
struct wsa_member {
	enum wsa_kind kind;
	const char *name;  /* as tarfile shows it: a directory's trailing '/' dropped */
	const char *norm;  /* normalised name, after wsa_member_normalize() */
	const char *link;  /* symlink target ("" for other kinds) */
	int64_t size;      /* declared data size (regular files) */
	mode_t perm;       /* permission bits, 07777 */
	struct timespec mtime;
};

struct wsa_reader {
	struct archive *a;
	wsarchive_pull_fn pull;
	void *pull_ctx;
	struct pyro_err pull_err;
	int pull_failed;
	int pull_eof;
	uint64_t pulled;   /* raw bytes pulled so far */
	uint64_t headers;  /* members read so far */
	struct wsarchive_limits lim;
	unsigned char *chunk;  /* WSA_PULL_CHUNK bytes, owned */
	struct buf name;       /* the current member's name, owned */
	char *norm;            /* lim.max_path + 1 bytes, owned */
};

/* Fill in the defaults of a limits struct (lim may be NULL). */
void wsa_limits_resolve(const struct wsarchive_limits *lim, struct wsarchive_limits *out);

/* Start reading. On failure everything is released. */
int wsa_reader_open(struct wsa_reader *r, wsarchive_pull_fn pull, void *ctx,
		    const struct wsarchive_limits *lim, struct pyro_err *err);
/* The next member: 1, 0 at the end of the archive, -1 on error (damaged
 * archive, failed pull, more than max_entries members). */
int wsa_reader_next(struct wsa_reader *r, struct wsa_member *m, struct pyro_err *err);
/* Apply tarsafe_member_name (with the max_path limit) to m->name. */
/* A directory member that names the archive's root itself (".", "./",
 * "./." — what `tar -C dir .` writes first): the destination, which
 * exists, so extraction counts it and moves on. The original rejected it
 * ("unsafe archive member path: ."), which made the most common way of
 * making a tarball fail. */
bool wsa_member_is_root(const struct wsa_member *m);
int wsa_member_normalize(struct wsa_reader *r, struct wsa_member *m, struct pyro_err *err);
/* The current member's data: bytes read (> 0), 0 at its end, -1 on error. */
ssize_t wsa_reader_data(struct wsa_reader *r, const struct wsa_member *m,
			void *buf, size_t cap, struct pyro_err *err);
/* Pull the input to its end, discarding it (after the end of the archive). */
int wsa_reader_drain(struct wsa_reader *r, struct pyro_err *err);
void wsa_reader_close(struct wsa_reader *r);

/* The bytes-limit check for adding a file of `size` to `st`. */
int wsa_check_bytes(const struct wsa_reader *r, const struct wsarchive_stats *st,
		    const struct wsa_member *m, struct pyro_err *err);

#endif
