/* Extracting workspace archives into a directory fd, without ever following
 * a symlink: the rules are in wsarchive.h and tarsafe.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atomicfile.h"
#include "exitcodes.h"
#include "fault.h"
#include "randid.h"
#include "tarsafe.h"
#include "wsarchive.h"
#include "wsarchive_internal.h"

#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define DATA_CHUNK (64 * 1024)
#define TMP_PREFIX ".pyro-extract-"
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* What walk() found. */
enum { WALK_OPEN = 0, WALK_MISSING = 1 };

struct extractor {
	int root_fd;
	struct wsa_reader r;
	struct wsarchive_stats *st;
	char shown[TARSAFE_SHOW_SIZE]; /* the current member's name, for messages */
	char *data;                    /* DATA_CHUNK bytes, owned */
};

static void close_dir(int fd, int root_fd)
{
	if (fd >= 0 && fd != root_fd)
		close(fd);
}

/* Open the directories named by the first `len` bytes of the normalised
 * path `rel` below root_fd, never following a symlink. With `create`,
 * missing ones are made (0777, umask applies). Returns WALK_OPEN with *out
 * (root_fd itself when len is 0, else a new fd), WALK_MISSING when (without
 * `create`) one is missing or is not a directory (then nothing below it
 * exists either, so no symlink can be in the way), or -1. A symlink on the
 * way is "SUBJECT would traverse through a symlinked path: SHOWN"; other
 * failures are "WHAT SHOWN: strerror". */
static int walk(int root_fd, const char *rel, size_t len, int create, int *out,
		const char *subject, const char *shown, const char *what,
		struct pyro_err *err)
{
	char comp[NAME_MAX + 2];
	int cur = root_fd;
	size_t i = 0;
	*out = -1;
	while (i < len) {
		size_t j = i;
		while (j < len && rel[j] != '/')
			j++;
		size_t n = j - i;
		if (n == 0 || (n == 1 && rel[i] == '.')) {
			i = j + 1;
			continue;
		}
		if (n > NAME_MAX) {
			close_dir(cur, root_fd);
			return pyro_err_sys(err, ENAMETOOLONG, "%s %s", what, shown);
		}
		memcpy(comp, rel + i, n);
		comp[n] = '\0';
		int fd = openat(cur, comp, DIR_FLAGS);
		if (fd < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, comp, 0777) < 0 && errno != EEXIST) {
				int e = errno;
				close_dir(cur, root_fd);
				return pyro_err_sys(err, e, "%s %s", what, shown);
			}
			fd = openat(cur, comp, DIR_FLAGS);
		}
		if (fd < 0) {
			int e = errno;
			struct stat sb;
			if (e == ENOTDIR || e == ELOOP) {
				int is_link = fstatat(cur, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
					      S_ISLNK(sb.st_mode);
				close_dir(cur, root_fd);
				if (is_link)
					return pyro_err_set(err, PYRO_EXIT_FAILURE,
							    "%s would traverse through a symlinked path: %s",
							    subject, shown);
				if (!create)
					return WALK_MISSING;
				return pyro_err_sys(err, ENOTDIR, "%s %s", what, shown);
			}
			close_dir(cur, root_fd);
			if (e == ENOENT && !create)
				return WALK_MISSING;
			return pyro_err_sys(err, e, "%s %s", what, shown);
		}
		close_dir(cur, root_fd);
		cur = fd;
		i = j + 1;
	}
	*out = cur;
	return WALK_OPEN;
}

/* The parent directory of the current member (the first parent_len bytes
 * of its normalised name). Without `create` this is the original's
 * _ensure_no_symlink_parents and may return WALK_MISSING; with it, a walk
 * from the root again that creates what is missing (and checks again). */
static int member_parent(struct extractor *x, const char *norm, size_t parent_len,
			 int create, int *out, struct pyro_err *err)
{
	return walk(x->root_fd, norm, parent_len, create, out, "archive member", x->shown,
		    create ? "creating the directories of archive member"
			   : "opening the directories of archive member",
		    err);
}

/* lstat of the leaf: 1 and *sb when it exists, 0 when not, -1 on error. */
static int leaf_stat(int dir, const char *leaf, struct stat *sb, const char *shown,
		     struct pyro_err *err)
{
	if (fstatat(dir, leaf, sb, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return pyro_err_sys(err, errno, "checking archive member %s", shown);
}

static int extract_dir(struct extractor *x, const struct wsa_member *m, int parent,
		       const char *leaf, struct pyro_err *err)
{
	struct stat sb;
	int ex = leaf_stat(parent, leaf, &sb, x->shown, err);
	if (ex < 0)
		return -1;
	if (ex && !S_ISDIR(sb.st_mode))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "directory conflicts with existing path: %s", x->shown);
	if (ex)
		return 0;
	if (mkdirat(parent, leaf, (m->perm & 0777) | 0700) == 0)
		return 0;
	int e = errno;
	if (e == EEXIST && leaf_stat(parent, leaf, &sb, x->shown, err) == 1) {
		if (S_ISDIR(sb.st_mode))
			return 0;
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "directory conflicts with existing path: %s", x->shown);
	}
	return pyro_err_sys(err, e, "creating directory %s", x->shown);
}

/* Create a fresh temporary file in `dir`; its name goes to tmp. */
static int create_temp(int dir, mode_t mode, char tmp[sizeof TMP_PREFIX + RANDID_LEN],
		       const char *shown, struct pyro_err *err)
{
	for (int tries = 0; tries < 16; tries++) {
		char id[RANDID_SIZE];
		if (randid_generate(id, err) < 0)
			return -1;
		snprintf(tmp, sizeof TMP_PREFIX + RANDID_LEN, "%s%s", TMP_PREFIX, id);
		int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				mode);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return pyro_err_sys(err, errno, "creating a temporary file for archive member %s",
					    shown);
	}
	return pyro_err_sys(err, EEXIST, "creating a temporary file for archive member %s", shown);
}

/* Write the current member's data into a new temporary file in `dir` with
 * its mode and mtime. On success tmp names it; on failure it is gone. */
static int write_temp(struct extractor *x, const struct wsa_member *m, int dir,
		      char tmp[sizeof TMP_PREFIX + RANDID_LEN], struct pyro_err *err)
{
	int fd = create_temp(dir, m->perm & 0777, tmp, x->shown, err);
	if (fd < 0)
		return -1;
	uint64_t total = 0;
	for (;;) {
		ssize_t n = wsa_reader_data(&x->r, m, x->data, DATA_CHUNK, err);
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		if (atomicfile_write_all(fd, x->data, (size_t)n) < 0) {
			pyro_err_sys(err, errno, "writing archive member %s", x->shown);
			goto fail;
		}
		total += (uint64_t)n;
	}
	if (total != (uint64_t)m->size) {
		pyro_err_set(err, PYRO_EXIT_FAILURE,
			     "the archive is damaged: member %s holds %llu bytes, its header says %lld",
			     x->shown, (unsigned long long)total, (long long)m->size);
		goto fail;
	}
	struct timespec times[2] = { m->mtime, m->mtime };
	if (futimens(fd, times) < 0) {
		pyro_err_sys(err, errno, "setting the modification time of archive member %s",
			     x->shown);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		pyro_err_sys(err, errno, "writing archive member %s", x->shown);
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dir, tmp, 0);
	return -1;
}

static int extract_file(struct extractor *x, const struct wsa_member *m, int parent,
			const char *leaf, struct pyro_err *err)
{
	struct stat sb;
	int ex = leaf_stat(parent, leaf, &sb, x->shown, err);
	if (ex < 0)
		return -1;
	if (ex && (S_ISDIR(sb.st_mode) || S_ISLNK(sb.st_mode)))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "file conflicts with existing path: %s", x->shown);
	if (wsa_check_bytes(&x->r, x->st, m, err) < 0)
		return -1;
	char tmp[sizeof TMP_PREFIX + RANDID_LEN];
	if (write_temp(x, m, parent, tmp, err) < 0)
		return -1;
	/* rename never follows a symlink at the target; a directory that
	 * appeared there meanwhile makes it fail. */
	if (renameat(parent, tmp, parent, leaf) < 0) {
		int e = errno;
		unlinkat(parent, tmp, 0);
		if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "file conflicts with existing path: %s", x->shown);
		return pyro_err_sys(err, e, "writing archive member %s", x->shown);
	}
	x->st->bytes_written += (uint64_t)m->size;
	return 0;
}

static int extract_symlink(struct extractor *x, const struct wsa_member *m, int parent,
			   const char *leaf, struct pyro_err *err)
{
	struct stat sb;
	int ex = leaf_stat(parent, leaf, &sb, x->shown, err);
	if (ex < 0)
		return -1;
	if (ex && !S_ISLNK(sb.st_mode))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "symlink conflicts with existing path: %s", x->shown);
	if (ex && unlinkat(parent, leaf, 0) < 0 && errno != ENOENT)
		return pyro_err_sys(err, errno, "replacing symlink %s", x->shown);
	if (symlinkat(m->link, parent, leaf) < 0) {
		if (errno == EEXIST)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "symlink conflicts with existing path: %s", x->shown);
		return pyro_err_sys(err, errno, "creating symlink %s", x->shown);
	}
	struct timespec times[2] = { m->mtime, m->mtime };
	if (utimensat(parent, leaf, times, AT_SYMLINK_NOFOLLOW) < 0)
		return pyro_err_sys(err, errno, "setting the modification time of symlink %s",
				    x->shown);
	return 0;
}

/* One member, in the original's order of checks. */
static int extract_member(struct extractor *x, struct wsa_member *m, struct pyro_err *err)
{
	if (wsa_member_is_root(m))
		return 0; /* the destination itself ("./" from `tar -C dir .`) */
	if (wsa_member_normalize(&x->r, m, err) < 0)
		return -1;
	tarsafe_show(x->shown, sizeof x->shown, m->name);
	const char *norm = m->norm;
	const char *slash = strrchr(norm, '/');
	size_t parent_len = slash ? (size_t)(slash - norm) : 0;
	const char *leaf = slash ? slash + 1 : norm;
	if (strlen(leaf) > NAME_MAX)
		return pyro_err_sys(err, ENAMETOOLONG, "archive member %s", x->shown);

	int parent = -1;
	int rc = member_parent(x, norm, parent_len, 0, &parent, err);
	if (rc < 0)
		return -1;
	int missing = rc == WALK_MISSING;
	switch (m->kind) {
	case WSA_HARDLINK:
		close_dir(parent, x->root_fd);
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "hard links are not allowed in workspace archives: %s", x->shown);
	case WSA_OTHER:
		close_dir(parent, x->root_fd);
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "unsupported archive member type: %s", x->shown);
	case WSA_SYMLINK:
		if (tarsafe_symlink_target(norm, m->link, err) < 0) {
			close_dir(parent, x->root_fd);
			return -1;
		}
		break;
	case WSA_DIR:
	case WSA_FILE:
		break;
	}
	if (missing && member_parent(x, norm, parent_len, 1, &parent, err) < 0)
		return -1;
	switch (m->kind) {
	case WSA_DIR:
		rc = extract_dir(x, m, parent, leaf, err);
		break;
	case WSA_FILE:
		rc = extract_file(x, m, parent, leaf, err);
		break;
	default:
		rc = extract_symlink(x, m, parent, leaf, err);
		break;
	}
	close_dir(parent, x->root_fd);
	return rc;
}

int wsarchive_extract(int root_fd, wsarchive_pull_fn pull, void *pull_ctx,
		      const struct wsarchive_limits *lim, struct wsarchive_stats *st,
		      struct pyro_err *err)
{
	struct wsarchive_stats dummy;
	struct extractor x;
	struct wsa_member m;
	int rc;
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof *st);
	memset(&x, 0, sizeof x);
	x.root_fd = root_fd;
	x.st = st;
	if (root_fd < 0)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "extracting an archive needs an open destination directory");
	x.data = pyro_malloc(DATA_CHUNK);
	if (!x.data)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory extracting an archive");
	if (wsa_reader_open(&x.r, pull, pull_ctx, lim, err) < 0) {
		free(x.data);
		return -1;
	}
	while ((rc = wsa_reader_next(&x.r, &m, err)) == 1) {
		if (extract_member(&x, &m, err) < 0) {
			rc = -1;
			break;
		}
		st->entry_count++;
	}
	if (rc == 0)
		rc = wsa_reader_drain(&x.r, err);
	wsa_reader_close(&x.r);
	free(x.data);
	return rc;
}

int wsarchive_open_dir(int root_fd, const char *rel, int create, int *out_fd,
		       struct pyro_err *err)
{
	char shown[TARSAFE_SHOW_SIZE];
	if (!out_fd)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "wsarchive_open_dir needs out_fd");
	*out_fd = -1;
	if (!rel)
		rel = "";
	tarsafe_show(shown, sizeof shown, rel);
	if (rel[0] == '/')
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "destination %s must be relative to its directory", shown);
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return pyro_err_set(err, PYRO_EXIT_INTERNAL,
					    "destination %s must not contain \"..\"", shown);
		p += n;
		p += *p == '/';
	}
	int fd;
	int rc = walk(root_fd, rel, strlen(rel), create, &fd,
		      "destination", shown,
		      create ? "creating destination" : "opening destination", err);
	if (rc == WALK_MISSING)
		return pyro_err_sys(err, ENOENT, "opening destination %s", shown);
	if (rc < 0)
		return -1;
	if (fd == root_fd) {
		/* Always a new descriptor, so the caller can always close it. */
		fd = openat(root_fd, ".", DIR_FLAGS);
		if (fd < 0)
			return pyro_err_sys(err, errno, "opening destination %s", shown);
	}
	*out_fd = fd;
	return 0;
}

/* Move tmp to name in dir unless name exists (then EEXIST). */
static int rename_noreplace(int dir, const char *tmp, const char *name)
{
#ifdef SYS_renameat2
	if (syscall(SYS_renameat2, dir, tmp, dir, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
#endif
	/* No RENAME_NOREPLACE here: a hard link never replaces either. */
	if (linkat(dir, tmp, dir, name, 0) < 0)
		return -1;
	unlinkat(dir, tmp, 0);
	return 0;
}

/* Copies of the single member's header, kept past the next header. */
struct single {
	uint64_t count;
	struct wsa_member m;
	struct buf name;
	struct buf link;
	int have_tmp;
	char tmp[sizeof TMP_PREFIX + RANDID_LEN];
};

static int single_first(struct extractor *x, struct single *s, const struct wsa_member *m,
			int dir_fd, enum wsarchive_artifact type, struct pyro_err *err)
{
	s->m = *m;
	if (buf_append_str(&s->name, m->name) < 0 || buf_append_str(&s->link, m->link) < 0)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory reading an archive");
	s->m.name = s->name.data;
	s->m.link = s->link.data;
	if (type != WSARCHIVE_FILE || m->kind != WSA_FILE)
		return 0;
	/* The data can only be read now: keep it in a temporary until the
	 * whole archive has been checked. */
	tarsafe_show(x->shown, sizeof x->shown, m->name);
	if (wsa_check_bytes(&x->r, x->st, m, err) < 0 ||
	    write_temp(x, m, dir_fd, s->tmp, err) < 0)
		return -1;
	s->have_tmp = 1;
	return 0;
}

static int single_finish(struct extractor *x, struct single *s, int dir_fd,
			 const char *name, const char *shown, enum wsarchive_artifact type,
			 struct pyro_err *err)
{
	if (s->count != 1)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "expected exactly one archive member for %s export, got %llu",
				    wsarchive_artifact_name(type), (unsigned long long)s->count);
	if (wsa_member_normalize(&x->r, &s->m, err) < 0)
		return -1;
	if (type == WSARCHIVE_FILE) {
		if (s->m.kind != WSA_FILE)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "exported archive did not contain a regular file");
		if (rename_noreplace(dir_fd, s->tmp, name) < 0) {
			if (errno == EEXIST)
				return pyro_err_set(err, PYRO_EXIT_FAILURE,
						    "output_path already exists: %s", shown);
			return pyro_err_sys(err, errno, "creating %s", shown);
		}
		s->have_tmp = 0;
		x->st->bytes_written = (uint64_t)s->m.size;
	} else {
		if (s->m.kind != WSA_SYMLINK)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "exported archive did not contain a symlink");
		if (tarsafe_symlink_target(s->m.norm, s->m.link, err) < 0)
			return -1;
		if (symlinkat(s->m.link, dir_fd, name) < 0) {
			if (errno == EEXIST)
				return pyro_err_set(err, PYRO_EXIT_FAILURE,
						    "output_path already exists: %s", shown);
			return pyro_err_sys(err, errno, "creating symlink %s", shown);
		}
		struct timespec times[2] = { s->m.mtime, s->m.mtime };
		if (utimensat(dir_fd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
			return pyro_err_sys(err, errno, "setting the modification time of symlink %s",
					    shown);
	}
	x->st->entry_count = 1;
	return 0;
}

int wsarchive_extract_single(int dir_fd, const char *name, const char *shown,
			     enum wsarchive_artifact type, wsarchive_pull_fn pull,
			     void *pull_ctx, const struct wsarchive_limits *lim,
			     struct wsarchive_stats *st, struct pyro_err *err)
{
	struct wsarchive_stats dummy;
	struct extractor x;
	struct single s;
	struct wsa_member m;
	char shown_buf[TARSAFE_SHOW_SIZE];
	struct stat sb;
	int rc;
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof *st);
	if (type != WSARCHIVE_FILE && type != WSARCHIVE_SYMLINK)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "unsupported artifact type: %s", wsarchive_artifact_name(type));
	if (dir_fd < 0 || !name || !*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "extracting an export needs a directory and a plain file name");
	tarsafe_show(shown_buf, sizeof shown_buf, shown ? shown : name);
	if (fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "output_path already exists: %s",
				    shown_buf);
	if (errno != ENOENT)
		return pyro_err_sys(err, errno, "checking %s", shown_buf);

	memset(&x, 0, sizeof x);
	memset(&s, 0, sizeof s);
	buf_init(&s.name, 0);
	buf_init(&s.link, 0);
	x.root_fd = dir_fd;
	x.st = st;
	x.data = pyro_malloc(DATA_CHUNK);
	if (!x.data)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory extracting an archive");
	if (wsa_reader_open(&x.r, pull, pull_ctx, lim, err) < 0) {
		free(x.data);
		return -1;
	}
	while ((rc = wsa_reader_next(&x.r, &m, err)) == 1) {
		if (++s.count == 1 && single_first(&x, &s, &m, dir_fd, type, err) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0)
		rc = wsa_reader_drain(&x.r, err);
	if (rc == 0)
		rc = single_finish(&x, &s, dir_fd, name, shown_buf, type, err);
	if (s.have_tmp)
		unlinkat(dir_fd, s.tmp, 0);
	if (rc < 0)
		memset(st, 0, sizeof *st);
	wsa_reader_close(&x.r);
	buf_release(&s.name);
	buf_release(&s.link);
	free(x.data);
	return rc;
}
