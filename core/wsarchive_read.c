/* Reading workspace archives: libarchive behind a pull callback, member
 * classification, the host's inspect pass and the ready-made pulls. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "fault.h"
#include "tarsafe.h"
#include "wsarchive.h"
#include "wsarchive_internal.h"

ssize_t wsarchive_pull_fd(void *ctx, void *buf, size_t cap, struct pyro_err *err)
{
	const struct wsarchive_fd_source *src = ctx;
	for (;;) {
		ssize_t n = pyro_read(src->fd, buf, cap);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return pyro_err_sys(err, errno, "reading the archive");
	}
}

ssize_t wsarchive_pull_mem(void *ctx, void *buf, size_t cap, struct pyro_err *err)
{
	struct wsarchive_mem_source *src = ctx;
	(void)err;
	size_t n = src->len - src->pos;
	if (n > cap)
		n = cap;
	if (n)
		memcpy(buf, (const char *)src->data + src->pos, n);
	src->pos += n;
	return (ssize_t)n;
}

const char *wsarchive_artifact_name(enum wsarchive_artifact type)
{
	switch (type) {
	case WSARCHIVE_FILE:
		return "file";
	case WSARCHIVE_DIRECTORY:
		return "directory";
	case WSARCHIVE_SYMLINK:
		return "symlink";
	}
	return "unknown";
}

void wsa_limits_resolve(const struct wsarchive_limits *lim, struct wsarchive_limits *out)
{
	*out = lim ? *lim : (struct wsarchive_limits){ 0, 0, 0 };
	if (!out->max_entries)
		out->max_entries = WSARCHIVE_DEFAULT_MAX_ENTRIES;
	if (!out->max_bytes)
		out->max_bytes = WSARCHIVE_DEFAULT_MAX_BYTES;
	if (!out->max_path)
		out->max_path = TARSAFE_PATH_MAX;
}

/* libarchive's read callback: one pull into the reader's chunk. */
static la_ssize_t read_cb(struct archive *a, void *ud, const void **out)
{
	struct wsa_reader *r = ud;
	if (r->pull_eof || r->pull_failed)
		return 0;
	ssize_t n = r->pull(r->pull_ctx, r->chunk, WSA_PULL_CHUNK, &r->pull_err);
	if (n < 0 || n > WSA_PULL_CHUNK) {
		if (n > WSA_PULL_CHUNK)
			pyro_err_set(&r->pull_err, PYRO_EXIT_INTERNAL,
				     "the archive source returned %zd bytes for a %d-byte buffer",
				     n, WSA_PULL_CHUNK);
		r->pull_failed = 1;
		archive_set_error(a, EIO, "%s", r->pull_err.msg);
		return -1;
	}
	if (n == 0)
		r->pull_eof = 1;
	r->pulled += (uint64_t)n;
	*out = r->chunk;
	return n;
}

/* An error from libarchive (or from the pull behind it) into err. */
static int reader_fail(struct wsa_reader *r, struct pyro_err *err)
{
	if (r->pull_failed) {
		if (err)
			*err = r->pull_err;
		return -1;
	}
	const char *why = archive_error_string(r->a);
	if (!why)
		why = "unknown error";
	if (r->headers == 0 && r->pulled == 0 && r->pull_eof)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the archive is empty (0 bytes)");
	if (r->headers == 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "cannot read the archive (a tar, optionally gzip- or zstd-compressed): %s",
				    why);
	return pyro_err_set(err, PYRO_EXIT_FAILURE, "the archive is damaged: %s", why);
}

void wsa_reader_close(struct wsa_reader *r)
{
	if (r->a)
		archive_read_free(r->a);
	r->a = NULL;
	free(r->chunk);
	r->chunk = NULL;
	free(r->norm);
	r->norm = NULL;
	buf_release(&r->name);
}

int wsa_reader_open(struct wsa_reader *r, wsarchive_pull_fn pull, void *ctx,
		    const struct wsarchive_limits *lim, struct pyro_err *err)
{
	memset(r, 0, sizeof *r);
	buf_init(&r->name, 0);
	r->pull = pull;
	r->pull_ctx = ctx;
	wsa_limits_resolve(lim, &r->lim);
	if (!pull)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "reading an archive needs a source");
	r->chunk = pyro_malloc(WSA_PULL_CHUNK);
	r->norm = pyro_malloc(r->lim.max_path + 1);
	r->a = r->chunk && r->norm ? archive_read_new() : NULL;
	if (!r->a) {
		wsa_reader_close(r);
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory starting an archive reader");
	}
	/* Only these: the smaller libarchive's parsing surface, the better. */
	if (archive_read_support_filter_none(r->a) != ARCHIVE_OK ||
	    archive_read_support_filter_gzip(r->a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(r->a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(r->a) != ARCHIVE_OK) {
		pyro_err_set(err, PYRO_EXIT_INTERNAL, "setting up the archive reader: %s",
			     archive_error_string(r->a) ? archive_error_string(r->a) : "?");
		wsa_reader_close(r);
		return -1;
	}
	if (archive_read_open(r->a, r, NULL, read_cb, NULL) < ARCHIVE_WARN) {
		reader_fail(r, err);
		wsa_reader_close(r);
		return -1;
	}
	return 0;
}

int wsa_reader_next(struct wsa_reader *r, struct wsa_member *m, struct pyro_err *err)
{
	struct archive_entry *e;
	int rc = archive_read_next_header(r->a, &e);
	if (rc == ARCHIVE_EOF)
		return 0;
	/* WARN: a name that did not convert to the locale and the like; the
	 * entry is complete. RETRY (a damaged header) and worse stop. */
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
		return reader_fail(r, err);
	if (r->headers >= r->lim.max_entries)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the archive has more than %llu members; "
				    "split it or raise the limit",
				    (unsigned long long)r->lim.max_entries);
	r->headers++;

	memset(m, 0, sizeof *m);
	const char *hard = archive_entry_hardlink(e);
	switch (archive_entry_filetype(e)) {
	case AE_IFDIR:
		m->kind = WSA_DIR;
		break;
	case AE_IFREG:
		m->kind = WSA_FILE;
		break;
	case AE_IFLNK:
		m->kind = WSA_SYMLINK;
		break;
	default:
		m->kind = WSA_OTHER;
	}
	/* A hard link may carry data (pax), which makes it look regular. */
	if (hard)
		m->kind = WSA_HARDLINK;

	const char *name = archive_entry_pathname(e);
	buf_reset(&r->name);
	if (buf_append_str(&r->name, name ? name : "") < 0)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory reading an archive member name");
	if (m->kind == WSA_DIR) /* tarfile: name.rstrip("/") for directories */
		while (r->name.len && r->name.data[r->name.len - 1] == '/')
			buf_truncate(&r->name, r->name.len - 1);
	m->name = r->name.data;
	const char *link = m->kind == WSA_SYMLINK ? archive_entry_symlink(e) : NULL;
	m->link = link ? link : "";
	m->size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	if (m->size < 0)
		m->size = 0;
	m->perm = archive_entry_perm(e) & 07777;
	m->mtime.tv_sec = archive_entry_mtime(e);
	m->mtime.tv_nsec = archive_entry_mtime_nsec(e);
	if (m->mtime.tv_nsec < 0 || m->mtime.tv_nsec > 999999999)
		m->mtime.tv_nsec = 0;
	return 1;
}

bool wsa_member_is_root(const struct wsa_member *m)
{
	if (m->kind != WSA_DIR || !m->name[0])
		return false;
	for (const char *p = m->name; *p; p++)
		if (*p != '.' && *p != '/')
			return false;
	/* Only "." components: no ".." may hide in there. */
	return !strstr(m->name, "..");
}

int wsa_member_normalize(struct wsa_reader *r, struct wsa_member *m, struct pyro_err *err)
{
	if (tarsafe_member_name(m->name, r->norm, r->lim.max_path + 1, err) < 0)
		return -1;
	m->norm = r->norm;
	return 0;
}

ssize_t wsa_reader_data(struct wsa_reader *r, const struct wsa_member *m,
			void *buf, size_t cap, struct pyro_err *err)
{
	la_ssize_t n = archive_read_data(r->a, buf, cap);
	if (n >= 0)
		return n;
	char shown[TARSAFE_SHOW_SIZE];
	tarsafe_show(shown, sizeof shown, m->name);
	reader_fail(r, err);
	return pyro_err_wrap(err, "reading archive member %s", shown);
}

int wsa_reader_drain(struct wsa_reader *r, struct pyro_err *err)
{
	while (!r->pull_eof) {
		ssize_t n = r->pull(r->pull_ctx, r->chunk, WSA_PULL_CHUNK, &r->pull_err);
		if (n < 0) {
			r->pull_failed = 1;
			if (err)
				*err = r->pull_err;
			return -1;
		}
		if (n == 0)
			r->pull_eof = 1;
		r->pulled += (uint64_t)n;
	}
	return 0;
}

int wsa_check_bytes(const struct wsa_reader *r, const struct wsarchive_stats *st,
		    const struct wsa_member *m, struct pyro_err *err)
{
	uint64_t max = r->lim.max_bytes;
	if ((uint64_t)m->size > max || st->bytes_written > max - (uint64_t)m->size)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the archive holds more than %llu bytes of file data; "
				    "make it smaller or raise the limit",
				    (unsigned long long)max);
	return 0;
}

int wsarchive_inspect(wsarchive_pull_fn pull, void *pull_ctx,
		      const struct wsarchive_limits *lim, struct wsarchive_stats *st,
		      struct pyro_err *err)
{
	struct wsarchive_stats dummy;
	struct wsa_reader r;
	struct wsa_member m;
	char shown[TARSAFE_SHOW_SIZE];
	int rc;
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof *st);
	if (wsa_reader_open(&r, pull, pull_ctx, lim, err) < 0)
		return -1;
	while ((rc = wsa_reader_next(&r, &m, err)) == 1) {
		if (wsa_member_is_root(&m)) {
			st->entry_count++;
			continue;
		}
		if (wsa_member_normalize(&r, &m, err) < 0)
			goto fail;
		tarsafe_show(shown, sizeof shown, m.name);
		switch (m.kind) {
		case WSA_DIR:
			break;
		case WSA_FILE:
			if (wsa_check_bytes(&r, st, &m, err) < 0)
				goto fail;
			st->bytes_written += (uint64_t)m.size;
			break;
		case WSA_SYMLINK:
			if (tarsafe_symlink_target(m.norm, m.link, err) < 0)
				goto fail;
			break;
		case WSA_HARDLINK:
			pyro_err_set(err, PYRO_EXIT_FAILURE,
				     "hard links are not allowed in workspace archives: %s", shown);
			goto fail;
		case WSA_OTHER:
			pyro_err_set(err, PYRO_EXIT_FAILURE,
				     "unsupported archive member type: %s", shown);
			goto fail;
		}
		st->entry_count++;
	}
	if (rc < 0 || wsa_reader_drain(&r, err) < 0)
		goto fail;
	wsa_reader_close(&r);
	return 0;
fail:
	wsa_reader_close(&r);
	return -1;
}
