/* Exporting a workspace path as a deterministic tar (wsarchive.h). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "atomicfile.h"
#include "buf.h"
#include "exitcodes.h"
#include "fault.h"
#include "tarsafe.h"
#include "wsarchive.h"

#define DATA_CHUNK (64 * 1024)

struct exporter {
	struct archive *a;
	struct archive_entry *entry;
	int out_fd;
	unsigned flags;
	struct wsarchive_export_info *info;
	struct pyro_err write_err;
	int write_failed;
	struct buf arcname; /* the current entry's name in the archive */
	struct buf shown;   /* the current entry as messages name it */
	char *data;
};

static la_ssize_t write_cb(struct archive *a, void *ud, const void *buf, size_t n)
{
	struct exporter *x = ud;
	if (atomicfile_write_all(x->out_fd, buf, n) < 0) {
		pyro_err_sys(&x->write_err, errno, "writing the archive");
		x->write_failed = 1;
		archive_set_error(a, EIO, "%s", x->write_err.msg);
		return -1;
	}
	x->info->archive_size += n;
	return (la_ssize_t)n;
}

/* A libarchive write error (or the output error behind it) into err. */
static int write_fail(struct exporter *x, struct pyro_err *err)
{
	if (x->write_failed) {
		if (err)
			*err = x->write_err;
		return -1;
	}
	const char *why = archive_error_string(x->a);
	char shown[TARSAFE_SHOW_SIZE];
	tarsafe_show(shown, sizeof shown, x->shown.data);
	return pyro_err_set(err, PYRO_EXIT_FAILURE, "archiving %s: %s", shown,
			    why ? why : "unknown error");
}

static int unsupported(struct exporter *x, struct pyro_err *err)
{
	char shown[TARSAFE_SHOW_SIZE];
	tarsafe_show(shown, sizeof shown, x->shown.data);
	return pyro_err_set(err, PYRO_EXIT_FAILURE, "unsupported workspace path type: %s",
			    shown);
}

static int sys_fail(struct exporter *x, int e, const char *what, struct pyro_err *err)
{
	char shown[TARSAFE_SHOW_SIZE];
	tarsafe_show(shown, sizeof shown, x->shown.data);
	return pyro_err_sys(err, e, "%s %s", what, shown);
}

/* Push "/name" (or "name" at the top) onto both paths; returns the old
 * lengths for pop(). */
static int push(struct exporter *x, const char *name, size_t old[2], struct pyro_err *err)
{
	old[0] = x->arcname.len;
	old[1] = x->shown.len;
	if ((x->arcname.len && buf_append_char(&x->arcname, '/') < 0) ||
	    buf_append_str(&x->arcname, name) < 0 ||
	    (x->shown.len && buf_append_char(&x->shown, '/') < 0) ||
	    buf_append_str(&x->shown, name) < 0)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory exporting a workspace path");
	return 0;
}

static void pop(struct exporter *x, const size_t old[2])
{
	buf_truncate(&x->arcname, old[0]);
	buf_truncate(&x->shown, old[1]);
}

/* Write the header for the current entry. */
static int write_header(struct exporter *x, const struct stat *sb, const char *link,
			struct pyro_err *err)
{
	struct archive_entry *e = x->entry;
	archive_entry_clear(e);
	archive_entry_copy_pathname(e, x->arcname.data);
	archive_entry_set_mode(e, sb->st_mode);
	archive_entry_set_uid(e, sb->st_uid);
	archive_entry_set_gid(e, sb->st_gid);
	archive_entry_set_mtime(e, sb->st_mtim.tv_sec, 0);
	archive_entry_set_size(e, S_ISREG(sb->st_mode) ? sb->st_size : 0);
	if (link)
		archive_entry_copy_symlink(e, link);
	if (S_ISCHR(sb->st_mode) || S_ISBLK(sb->st_mode))
		archive_entry_set_rdev(e, sb->st_rdev);
	/* WARN: a name that is not ASCII is stored raw with hdrcharset=BINARY. */
	int rc = archive_write_header(x->a, e);
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
		return write_fail(x, err);
	x->info->entry_count++;
	return 0;
}

static int add_file(struct exporter *x, int dir, const char *leaf, struct pyro_err *err)
{
	/* O_NONBLOCK: should a fifo be swapped in, do not hang on it. */
	int fd = openat(dir, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			return unsupported(x, err);
		return sys_fail(x, errno, "opening", err);
	}
	struct stat sb;
	int rc = -1;
	if (fstat(fd, &sb) < 0) {
		sys_fail(x, errno, "checking", err);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) { /* it changed under us */
		unsupported(x, err);
		goto out;
	}
	if (write_header(x, &sb, NULL, err) < 0)
		goto out;
	uint64_t left = (uint64_t)sb.st_size;
	while (left) {
		size_t want = left < DATA_CHUNK ? (size_t)left : DATA_CHUNK;
		ssize_t n = pyro_read(fd, x->data, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sys_fail(x, errno, "reading", err);
			goto out;
		}
		if (n == 0) {
			char shown[TARSAFE_SHOW_SIZE];
			tarsafe_show(shown, sizeof shown, x->shown.data);
			pyro_err_set(err, PYRO_EXIT_FAILURE,
				     "%s shrank while it was being exported; export it again", shown);
			goto out;
		}
		if (archive_write_data(x->a, x->data, (size_t)n) != n) {
			write_fail(x, err);
			goto out;
		}
		left -= (uint64_t)n;
	}
	x->info->bytes_written += (uint64_t)sb.st_size;
	rc = 0;
out:
	close(fd);
	return rc;
}

static int add_symlink(struct exporter *x, int dir, const char *leaf, const struct stat *sb,
		       struct pyro_err *err)
{
	char target[PATH_MAX + 1];
	ssize_t n = readlinkat(dir, leaf, target, sizeof target);
	if (n < 0)
		return sys_fail(x, errno, "reading symlink", err);
	if ((size_t)n >= sizeof target)
		return sys_fail(x, ENAMETOOLONG, "reading symlink", err);
	target[n] = '\0';
	if ((x->flags & WSARCHIVE_EXPORT_CHECK) &&
	    tarsafe_symlink_target(x->arcname.data, target, err) < 0)
		return -1;
	return write_header(x, sb, target, err);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in directory fd `dfd` other than . and .., sorted. */
static int list_dir(struct exporter *x, int dfd, char ***out, size_t *count,
		    struct pyro_err *err)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	int fd2 = dup(dfd);
	DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
	if (!d) {
		int e = errno;
		if (fd2 >= 0)
			close(fd2);
		return sys_fail(x, e, "listing", err);
	}
	rewinddir(d);
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno) {
				sys_fail(x, errno, "listing", err);
				goto fail;
			}
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **grown = pyro_realloc(names, ncap * sizeof *names);
			if (!grown)
				goto oom;
			names = grown;
			cap = ncap;
		}
		if (!(names[n] = pyro_strdup(de->d_name)))
			goto oom;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_names);
	*out = names;
	*count = n;
	return 0;
oom:
	pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory listing a directory to export");
fail:
	closedir(d);
	free_names(names, n);
	return -1;
}

static int add_entry(struct exporter *x, int dir, const char *leaf, struct pyro_err *err);

/* Every child of the directory `leaf` in `dir` (leaf NULL: dir itself). */
static int add_children(struct exporter *x, int dir, const char *leaf, struct pyro_err *err)
{
	int dfd = openat(dir, leaf ? leaf : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			return unsupported(x, err);
		return sys_fail(x, errno, "opening", err);
	}
	char **names = NULL;
	size_t n = 0;
	int rc = list_dir(x, dfd, &names, &n, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t old[2];
		rc = push(x, names[i], old, err);
		if (rc == 0)
			rc = add_entry(x, dfd, names[i], err);
		pop(x, old);
	}
	if (names)
		free_names(names, n);
	close(dfd);
	return rc;
}

/* The entry `leaf` in `dir`, already pushed onto the paths. */
static int add_entry(struct exporter *x, int dir, const char *leaf, struct pyro_err *err)
{
	struct stat sb;
	if (fstatat(dir, leaf, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return sys_fail(x, errno, "checking", err);
	switch (sb.st_mode & S_IFMT) {
	case S_IFREG:
		return add_file(x, dir, leaf, err);
	case S_IFLNK:
		return add_symlink(x, dir, leaf, &sb, err);
	case S_IFDIR:
		if (write_header(x, &sb, NULL, err) < 0)
			return -1;
		return add_children(x, dir, leaf, err);
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
		if (x->flags & WSARCHIVE_EXPORT_CHECK)
			return unsupported(x, err);
		return write_header(x, &sb, NULL, err);
	default:
		/* Sockets: Python's tarfile skips them silently. */
		if (x->flags & WSARCHIVE_EXPORT_CHECK)
			return unsupported(x, err);
		return 0;
	}
}

/* Find `rel` below root_fd: *dir (root_fd or a new fd) and *leaf (NULL
 * for root_fd itself). Parents are not followed when symlinks. */
static int resolve(int root_fd, const char *rel, const char *shown, int *dir,
		   const char **leaf, struct pyro_err *err)
{
	*dir = root_fd;
	*leaf = NULL;
	const char *p = rel;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			return 0;
		size_t n = strcspn(p, "/");
		const char *next = p + n;
		while (*next == '/')
			next++;
		if (n == 1 && p[0] == '.') {
			p = next;
			continue;
		}
		if (n > NAME_MAX)
			return pyro_err_sys(err, ENAMETOOLONG, "workspace path %s", shown);
		if (!*next) {
			*leaf = p;
			return 0;
		}
		char comp[NAME_MAX + 1];
		memcpy(comp, p, n);
		comp[n] = '\0';
		int fd = openat(*dir, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			struct stat sb;
			int is_link = (e == ENOTDIR || e == ELOOP) &&
				      fstatat(*dir, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
				      S_ISLNK(sb.st_mode);
			if (*dir != root_fd)
				close(*dir);
			*dir = -1;
			if (is_link)
				return pyro_err_set(err, PYRO_EXIT_FAILURE,
						    "workspace path would traverse through a symlinked parent: %s",
						    shown);
			if (e == ENOENT || e == ENOTDIR)
				return pyro_err_set(err, PYRO_EXIT_FAILURE,
						    "workspace path does not exist: %s", shown);
			return pyro_err_sys(err, e, "opening workspace path %s", shown);
		}
		if (*dir != root_fd)
			close(*dir);
		*dir = fd;
		p = next;
	}
}

static int export_top(struct exporter *x, int root_fd, const char *rel, const char *shown,
		      struct pyro_err *err)
{
	int dir;
	const char *leaf;
	if (resolve(root_fd, rel, shown, &dir, &leaf, err) < 0)
		return -1;
	int rc = -1;
	char name[NAME_MAX + 1];
	struct stat sb;
	if (leaf) {
		size_t n = strcspn(leaf, "/");
		memcpy(name, leaf, n);
		name[n] = '\0';
		leaf = name;
		if (fstatat(dir, leaf, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				pyro_err_set(err, PYRO_EXIT_FAILURE,
					     "workspace path does not exist: %s", shown);
			else
				pyro_err_sys(err, errno, "checking workspace path %s", shown);
			goto out;
		}
	} else if (fstat(dir, &sb) < 0) {
		pyro_err_sys(err, errno, "checking workspace path %s", shown);
		goto out;
	}
	switch (sb.st_mode & S_IFMT) {
	case S_IFDIR:
		x->info->artifact_type = WSARCHIVE_DIRECTORY;
		/* Messages name nested entries below the shown path. */
		if (buf_append_str(&x->shown, shown) < 0) {
			pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory exporting a workspace path");
			goto out;
		}
		rc = add_children(x, dir, leaf, err);
		break;
	case S_IFREG:
	case S_IFLNK:
		x->info->artifact_type = S_ISREG(sb.st_mode) ? WSARCHIVE_FILE : WSARCHIVE_SYMLINK;
		if (buf_append_str(&x->shown, shown) < 0 ||
		    buf_append_str(&x->arcname, leaf) < 0) {
			pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory exporting a workspace path");
			goto out;
		}
		rc = S_ISREG(sb.st_mode) ? add_file(x, dir, leaf, err)
					 : add_symlink(x, dir, leaf, &sb, err);
		break;
	default:
		pyro_err_set(err, PYRO_EXIT_FAILURE, "unsupported workspace path type: %s", shown);
		break;
	}
out:
	if (dir != root_fd)
		close(dir);
	return rc;
}

int wsarchive_export(int root_fd, const char *rel, const char *shown, int out_fd,
		     unsigned flags, struct wsarchive_export_info *info,
		     struct pyro_err *err)
{
	struct wsarchive_export_info dummy;
	struct exporter x;
	char shown_buf[TARSAFE_SHOW_SIZE];
	if (!info)
		info = &dummy;
	memset(info, 0, sizeof *info);
	if (!rel)
		rel = "";
	tarsafe_show(shown_buf, sizeof shown_buf, shown ? shown : rel);
	if (root_fd < 0 || out_fd < 0)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "exporting needs an open workspace directory and output");
	if (rel[0] == '/' || strstr(rel, "..")) {
		/* Only a ".." component is misuse; "a..b" is a fine name. */
		for (const char *p = rel; *p;) {
			size_t n = strcspn(p, "/");
			if ((n == 2 && p[0] == '.' && p[1] == '.') || (p == rel && rel[0] == '/'))
				return pyro_err_set(err, PYRO_EXIT_INTERNAL,
						    "workspace path %s must be relative, without \"..\"",
						    shown_buf);
			p += n;
			p += *p == '/';
		}
	}

	memset(&x, 0, sizeof x);
	x.out_fd = out_fd;
	x.flags = flags;
	x.info = info;
	buf_init(&x.arcname, 0);
	buf_init(&x.shown, 0);
	int rc = -1;
	x.data = pyro_malloc(DATA_CHUNK);
	x.a = x.data ? archive_write_new() : NULL;
	x.entry = x.a ? archive_entry_new() : NULL;
	if (!x.entry) {
		pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory starting an archive writer");
		goto out;
	}
	if (archive_write_set_format_pax_restricted(x.a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(x.a) != ARCHIVE_OK ||
	    archive_write_open(x.a, &x, NULL, write_cb, NULL) != ARCHIVE_OK) {
		write_fail(&x, err);
		goto out;
	}
	if (export_top(&x, root_fd, rel, shown_buf, err) < 0)
		goto out;
	if (archive_write_close(x.a) != ARCHIVE_OK) {
		write_fail(&x, err);
		goto out;
	}
	rc = 0;
out:
	if (x.entry)
		archive_entry_free(x.entry);
	if (x.a)
		archive_write_free(x.a);
	buf_release(&x.arcname);
	buf_release(&x.shown);
	free(x.data);
	return rc;
}
