/* Test helpers for archives (tarbuild.h). */
#include "tarbuild.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

void tb_raw_mode(struct buf *b, const char *name, char type, const char *link,
		 const void *data, size_t size, unsigned mode, int bad_sum)
{
	unsigned char h[512];
	memset(h, 0, sizeof h);
	strncpy((char *)h, name, 100);
	snprintf((char *)h + 100, 8, "%07o", mode);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", TB_MTIME);
	h[156] = (unsigned char)type;
	if (link)
		strncpy((char *)h + 157, link, 100);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < sizeof h; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum + (bad_sum ? 1 : 0));
	h[155] = ' ';
	buf_append(b, h, sizeof h);
	if (data && size) {
		buf_append(b, data, size);
		static const char zero[512];
		if (size % 512)
			buf_append(b, zero, 512 - size % 512);
	}
}

void tb_raw(struct buf *b, const char *name, char type, const char *link,
	    const void *data, size_t size)
{
	tb_raw_mode(b, name, type, link, data, size, 0644, 0);
}

void tb_raw_end(struct buf *b)
{
	static const char zero[1024];
	buf_append(b, zero, sizeof zero);
}

static la_ssize_t tb_write_cb(struct archive *a, void *ud, const void *p, size_t n)
{
	(void)a;
	struct tb *t = ud;
	if (buf_append(t->out, p, n) < 0)
		return -1;
	return (la_ssize_t)n;
}

int tb_open(struct tb *t, struct buf *out, enum tb_filter filter, const char *format)
{
	memset(t, 0, sizeof *t);
	t->out = out;
	t->a = archive_write_new();
	t->e = archive_entry_new();
	int rc = archive_write_set_format_by_name(t->a, format);
	if (filter == TB_GZIP)
		rc |= archive_write_add_filter_gzip(t->a);
	else if (filter == TB_ZSTD)
		rc |= archive_write_add_filter_zstd(t->a);
	/* No zero padding after a compressed stream (zstd refuses it). */
	rc |= archive_write_set_bytes_in_last_block(t->a, 1);
	rc |= archive_write_open(t->a, t, NULL, tb_write_cb, NULL);
	t->failed = rc != ARCHIVE_OK;
	return t->failed ? -1 : 0;
}

static void tb_add(struct tb *t, const char *name, unsigned type, unsigned mode,
		   const char *link, const char *data)
{
	struct archive_entry *e = t->e;
	archive_entry_clear(e);
	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, mode);
	archive_entry_set_mtime(e, TB_MTIME, 0);
	archive_entry_set_size(e, data ? (la_int64_t)strlen(data) : 0);
	if (type == AE_IFLNK)
		archive_entry_copy_symlink(e, link);
	else if (link)
		archive_entry_copy_hardlink(e, link);
	if (type == AE_IFCHR || type == AE_IFBLK)
		archive_entry_set_rdev(e, 0x0103);
	int rc = archive_write_header(t->a, e);
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
		fprintf(stderr, "    tb: writing %s: %s\n", name, archive_error_string(t->a));
		t->failed = 1;
		return;
	}
	if (data && archive_write_data(t->a, data, strlen(data)) != (la_ssize_t)strlen(data))
		t->failed = 1;
}

void tb_dir(struct tb *t, const char *name, unsigned mode)
{
	tb_add(t, name, AE_IFDIR, mode, NULL, NULL);
}

void tb_file(struct tb *t, const char *name, const char *data, unsigned mode)
{
	tb_add(t, name, AE_IFREG, mode, NULL, data);
}

void tb_symlink(struct tb *t, const char *name, const char *target)
{
	tb_add(t, name, AE_IFLNK, 0777, target, NULL);
}

void tb_hardlink(struct tb *t, const char *name, const char *target)
{
	tb_add(t, name, AE_IFREG, 0644, target, NULL);
}

void tb_special(struct tb *t, const char *name, unsigned type)
{
	tb_add(t, name, type, 0644, NULL, NULL);
}

int tb_close(struct tb *t)
{
	if (archive_write_close(t->a) != ARCHIVE_OK)
		t->failed = 1;
	archive_write_free(t->a);
	archive_entry_free(t->e);
	t->a = NULL;
	t->e = NULL;
	return t->failed ? -1 : 0;
}

int tb_extract(const struct buf *b, int dirfd, const struct wsarchive_limits *lim,
	       struct wsarchive_stats *st, struct pyro_err *err)
{
	struct wsarchive_mem_source src = { b->data, b->len, 0 };
	pyro_err_clear(err);
	int rc = wsarchive_extract(dirfd, wsarchive_pull_mem, &src, lim, st, err);
	/* On success the whole input was consumed. */
	if (rc == 0 && src.pos != src.len)
		return -2;
	return rc;
}

int tb_mkdir(const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", test_tmpdir(), name);
	return mkdir(out, 0755);
}

int tb_open_dir(const char *path)
{
	return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int tb_slurp(const char *path, struct buf *b)
{
	struct stat sb;
	buf_reset(b);
	if (lstat(path, &sb) < 0)
		return -1;
	if (S_ISLNK(sb.st_mode)) {
		char t[PATH_MAX];
		ssize_t n = readlink(path, t, sizeof t);
		return n < 0 ? -1 : buf_append(b, t, (size_t)n);
	}
	return buf_read_file(b, path);
}

int tb_file_is(const char *path, const char *content)
{
	struct stat sb;
	struct buf b = BUF_INIT;
	int ok = lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && tb_slurp(path, &b) == 0 &&
		 b.len == strlen(content) && memcmp(b.data, content, b.len) == 0;
	buf_release(&b);
	return ok;
}

int tb_link_is(const char *path, const char *target)
{
	char t[PATH_MAX];
	ssize_t n = readlink(path, t, sizeof t - 1);
	if (n < 0)
		return 0;
	t[n] = '\0';
	return strcmp(t, target) == 0;
}

int tb_exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

int tb_count(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of dir into *names (malloc'd), count returned; -1 on error. */
static int sorted_names(const char *dir, char ***names)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0, cap = 0;
	char **v = NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = realloc(v, (size_t)cap * sizeof *v);
		}
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof *v, cmp_str);
	*names = v;
	return n;
}

static void free_names(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int tb_tree_equal(const char *a, const char *b, char *why, size_t cap)
{
	char **na = NULL, **nb = NULL;
	int ca = sorted_names(a, &na), cb = sorted_names(b, &nb);
	int ok = 1;
	if (ca != cb) {
		snprintf(why, cap, "%s has %d entries, %s has %d", a, ca, b, cb);
		ok = 0;
	}
	for (int i = 0; ok && i < ca; i++) {
		char pa[PATH_MAX], pb[PATH_MAX];
		struct stat sa, sb;
		if (strcmp(na[i], nb[i])) {
			snprintf(why, cap, "%s/%s vs %s/%s", a, na[i], b, nb[i]);
			ok = 0;
			break;
		}
		snprintf(pa, sizeof pa, "%s/%s", a, na[i]);
		snprintf(pb, sizeof pb, "%s/%s", b, nb[i]);
		if (lstat(pa, &sa) < 0 || lstat(pb, &sb) < 0 ||
		    (sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
			snprintf(why, cap, "%s: type differs", pb);
			ok = 0;
			break;
		}
		if (S_ISDIR(sa.st_mode)) {
			ok = tb_tree_equal(pa, pb, why, cap);
			continue;
		}
		struct buf x = BUF_INIT, y = BUF_INIT;
		int same = tb_slurp(pa, &x) == 0 && tb_slurp(pb, &y) == 0 && x.len == y.len &&
			   memcmp(x.data, y.data, x.len) == 0;
		buf_release(&x);
		buf_release(&y);
		if (!same) {
			snprintf(why, cap, "%s: content differs", pb);
			ok = 0;
		} else if (S_ISREG(sa.st_mode) && ((sa.st_mode & 07777) != (sb.st_mode & 07777) ||
						   sa.st_mtime != sb.st_mtime)) {
			snprintf(why, cap, "%s: mode %o/%o or mtime %ld/%ld differs", pb,
				 sa.st_mode & 07777, sb.st_mode & 07777, (long)sa.st_mtime,
				 (long)sb.st_mtime);
			ok = 0;
		}
	}
	free_names(na, ca > 0 ? ca : 0);
	free_names(nb, cb > 0 ? cb : 0);
	return ok;
}
