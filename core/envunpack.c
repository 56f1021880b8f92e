/* Bundle archives and OCI layers into a directory, sparse and hashed. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "envunpack.h"
#include "exitcodes.h"

#define BLOCK 4096

static const unsigned char zero_block[BLOCK];

/* One output file being written: sparse writes, hashing in file order. */
struct sparse_out {
	int fd;
	const char *name;
	struct digest_sha256 hash;
	uint64_t hashed; /* bytes of the file hashed so far (== written extent) */
};

static int hash_zeros_to(struct sparse_out *o, uint64_t offset)
{
	while (o->hashed < offset) {
		uint64_t n = offset - o->hashed;
		if (n > BLOCK)
			n = BLOCK;
		digest_sha256_update(&o->hash, zero_block, (size_t)n);
		o->hashed += n;
	}
	return 0;
}

static int write_all_at(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Data for [offset, offset+len): zeros before it are holes; all-zero
 * aligned blocks inside it are skipped too. */
static int sparse_write(struct sparse_out *o, const void *data, size_t len, uint64_t offset,
			struct pyro_err *err)
{
	if (offset < o->hashed)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "%s: archive data goes backwards (offset %llu after %llu)",
				    o->name, (unsigned long long)offset,
				    (unsigned long long)o->hashed);
	hash_zeros_to(o, offset);
	const unsigned char *p = data;
	size_t done = 0;
	while (done < len) {
		size_t n = len - done < BLOCK ? len - done : BLOCK;
		bool zero = n == BLOCK && memcmp(p + done, zero_block, BLOCK) == 0;
		if (!zero && write_all_at(o->fd, p + done, n, offset + done) < 0)
			return pyro_err_sys(err, errno ? errno : EIO, "cannot write %s", o->name);
		done += n;
	}
	digest_sha256_update(&o->hash, data, len);
	o->hashed = offset + len;
	return 0;
}

static int sparse_finish(struct sparse_out *o, uint64_t size, struct env_unpacked *out,
			 struct pyro_err *err)
{
	hash_zeros_to(o, size);
	if (ftruncate(o->fd, (off_t)size) != 0 || fsync(o->fd) != 0)
		return pyro_err_sys(err, errno, "cannot finish %s", o->name);
	struct env_unpacked_file *f = &out->files[out->count++];
	snprintf(f->name, sizeof f->name, "%s", o->name);
	digest_sha256_hex(&o->hash, f->sha256);
	f->size = size;
	return 0;
}

const struct env_unpacked_file *env_unpacked_find(const struct env_unpacked *u,
						  const char *name)
{
	for (size_t i = 0; i < u->count; i++)
		if (strcmp(u->files[i].name, name) == 0)
			return &u->files[i];
	return NULL;
}

/* Open a new output file for name (checks: plain name, not seen before,
 * room left). */
static int open_output(int dirfd, const char *name, const char *what,
		       const struct env_unpacked *out, struct sparse_out *o, struct pyro_err *err)
{
	if (strcmp(name, "manifest.json") != 0 && !env_artifact_name_valid(name))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "%s: member '%.200s' is not a bundle file (expected "
				    "manifest.json or plain artifact names)", what, name);
	if (env_unpacked_find(out, name))
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "%s: '%s' appears twice", what, name);
	if (out->count >= ENV_UNPACK_MAX_FILES)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "%s: more than %d files; a bundle has a manifest and its "
				    "artifacts", what, ENV_UNPACK_MAX_FILES);
	memset(o, 0, sizeof *o);
	o->name = name;
	o->fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (o->fd < 0)
		return pyro_err_sys(err, errno, "%s: cannot create %s", what, name);
	digest_sha256_init(&o->hash);
	return 0;
}

struct reader_ctx {
	env_unpack_read_fn read;
	void *ctx;
	bool failed;
	struct pyro_err own_err; /* the input's own error, kept over libarchive's */
	unsigned char buf[1 << 16];
};

static la_ssize_t archive_read_cb(struct archive *a, void *opaque, const void **data)
{
	(void)a;
	struct reader_ctx *r = opaque;
	ssize_t n = r->read(r->ctx, r->buf, sizeof r->buf, &r->own_err);
	if (n < 0) {
		r->failed = true;
		return -1;
	}
	*data = r->buf;
	return n;
}

/* The member name with an optional single top-level directory removed;
 * *dir_only set for that directory's own entry. NULL when the path is
 * deeper or otherwise not acceptable. */
static const char *member_name(const char *path, char *top, size_t top_cap, bool *dir_only)
{
	*dir_only = false;
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	const char *slash = strchr(path, '/');
	if (!slash)
		return path;
	size_t n = (size_t)(slash - path);
	if (n == 0 || n >= top_cap || (n <= 2 && path[0] == '.' && (n == 1 || path[1] == '.')))
		return NULL;
	if (top[0] && (strlen(top) != n || strncmp(top, path, n) != 0))
		return NULL;
	memcpy(top, path, n);
	top[n] = '\0';
	const char *rest = slash + 1;
	if (*rest == '\0') {
		*dir_only = true;
		return rest;
	}
	return strchr(rest, '/') ? NULL : rest;
}

static int unpack_archive(struct archive *a, int dirfd, const char *what,
			  struct env_unpacked *out, struct pyro_err *err)
{
	char top[256] = "";
	for (;;) {
		struct archive_entry *e;
		int rc = archive_read_next_header(a, &e);
		if (rc == ARCHIVE_EOF)
			return 0;
		if (rc < ARCHIVE_WARN)
			return pyro_err_set(err, PYRO_EXIT_FAILURE, "%s: not a readable tar archive: %s",
					    what, archive_error_string(a) ? archive_error_string(a)
									  : "unknown error");
		const char *path = archive_entry_pathname(e);
		mode_t type = archive_entry_filetype(e);
		/* Some writers omit a directory entry's trailing slash ("bundle"):
		 * read it as "bundle/", so it is the top directory's own entry. */
		char dir_path[sizeof top + 2];
		const char *lookup = path;
		size_t plen = path ? strlen(path) : 0;
		if (type == AE_IFDIR && plen && plen + 2 <= sizeof dir_path && path[plen - 1] != '/') {
			snprintf(dir_path, sizeof dir_path, "%s/", path);
			lookup = dir_path;
		}
		bool dir_only;
		const char *name = lookup ? member_name(lookup, top, sizeof top, &dir_only) : NULL;
		if (name && type == AE_IFDIR && (dir_only || *name == '\0' || strcmp(path, ".") == 0 ||
						 strcmp(path, "./") == 0))
			continue;
		if (!name || !*name)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "%s: member '%.200s' is not at the top level of the "
					    "bundle (or under one directory)", what, path ? path : "");
		if (type != AE_IFREG || archive_entry_hardlink(e))
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "%s: member '%.200s' is not a regular file; bundles "
					    "hold regular files only", what, path);
		if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
			return pyro_err_set(err, PYRO_EXIT_FAILURE, "%s: member '%.200s' has no size",
					    what, path);
		char name_copy[ENV_ARTIFACT_NAME_MAX + 1];
		if (strlen(name) >= sizeof name_copy)
			return pyro_err_set(err, PYRO_EXIT_FAILURE, "%s: member name '%.200s' is too "
					    "long", what, name);
		strcpy(name_copy, name);
		struct sparse_out o;
		if (open_output(dirfd, name_copy, what, out, &o, err) < 0)
			return -1;
		int result = 0;
		for (;;) {
			const void *block;
			size_t len;
			la_int64_t offset;
			int r = archive_read_data_block(a, &block, &len, &offset);
			if (r == ARCHIVE_EOF)
				break;
			if (r < ARCHIVE_WARN) {
				result = pyro_err_set(err, PYRO_EXIT_FAILURE, "%s: reading '%s': %s",
						      what, name_copy,
						      archive_error_string(a) ? archive_error_string(a)
									      : "unknown error");
				break;
			}
			if (offset < 0 || (uint64_t)offset + len > (uint64_t)archive_entry_size(e)) {
				result = pyro_err_set(err, PYRO_EXIT_FAILURE,
						      "%s: '%s' has data past its size", what,
						      name_copy);
				break;
			}
			if ((result = sparse_write(&o, block, len, (uint64_t)offset, err)) < 0)
				break;
		}
		if (result == 0)
			result = sparse_finish(&o, (uint64_t)archive_entry_size(e), out, err);
		close(o.fd);
		if (result < 0)
			return -1;
	}
}

static struct archive *new_reader(struct pyro_err *err)
{
	struct archive *a = archive_read_new();
	if (!a || archive_read_support_filter_none(a) != ARCHIVE_OK ||
	    archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK) {
		if (a)
			archive_read_free(a);
		pyro_err_set(err, PYRO_EXIT_FAILURE, "cannot set up libarchive");
		return NULL;
	}
	return a;
}

int env_unpack(env_unpack_read_fn read, void *ctx, int dirfd, const char *what,
	       struct env_unpacked *out, struct pyro_err *err)
{
	struct archive *a = new_reader(err);
	if (!a)
		return -1;
	struct reader_ctx *r = malloc(sizeof *r); /* 64 KiB: not on small thread stacks */
	if (!r) {
		archive_read_free(a);
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory");
	}
	r->read = read;
	r->ctx = ctx;
	r->failed = false;
	pyro_err_clear(&r->own_err);
	int rc;
	if (archive_read_open(a, r, NULL, archive_read_cb, NULL) < ARCHIVE_WARN)
		rc = r->failed ? -1
			       : pyro_err_set(err, PYRO_EXIT_FAILURE, "%s: not a readable archive: %s",
					      what, archive_error_string(a) ? archive_error_string(a)
									    : "unknown error");
	else
		rc = unpack_archive(a, dirfd, what, out, err);
	/* An input error surfaces through libarchive as a generic failure:
	 * the reader's own message (timeout, truncated body, ...) is the one
	 * to keep. */
	if (rc < 0 && r->failed && err)
		*err = r->own_err;
	archive_read_free(a);
	free(r);
	return rc;
}

int env_unpack_file(const char *path, int dirfd, struct env_unpacked *out,
		    struct pyro_err *err)
{
	struct archive *a = new_reader(err);
	if (!a)
		return -1;
	int rc;
	if (archive_read_open_filename(a, path, 1 << 16) < ARCHIVE_WARN)
		rc = pyro_err_set(err, PYRO_EXIT_FAILURE,
				  "%s is not a bundle archive (a tar, tar.gz or tar.zst of "
				  "manifest.json and its artifacts): %s", path,
				  archive_error_string(a) ? archive_error_string(a) : "unknown error");
	else
		rc = unpack_archive(a, dirfd, path, out, err);
	archive_read_free(a);
	return rc;
}

int env_copy_file(int srcdir, int dstdir, const char *name, struct env_unpacked *out,
		  struct pyro_err *err)
{
	/* O_NONBLOCK: a FIFO in its place must not block the open. */
	int in = openat(srcdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (in < 0)
		return pyro_err_sys(err, errno, "cannot open %s", name);
	struct stat st;
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "%s is not a regular file", name);
	}
	struct sparse_out o;
	if (open_output(dstdir, name, name, out, &o, err) < 0) {
		close(in);
		return -1;
	}
	unsigned char *chunk = malloc(1 << 16);
	int rc = chunk ? 0 : pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory");
	uint64_t offset = 0;
	while (rc == 0) {
		ssize_t n = read(in, chunk, 1 << 16);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = pyro_err_sys(err, errno, "cannot read %s", name);
		else if (n == 0)
			break;
		else if ((rc = sparse_write(&o, chunk, (size_t)n, offset, err)) == 0)
			offset += (uint64_t)n;
	}
	if (rc == 0)
		rc = sparse_finish(&o, offset, out, err);
	free(chunk);
	close(o.fd);
	close(in);
	return rc;
}
