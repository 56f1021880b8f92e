/* The pyro initramfs: build, cache, reuse (initramfs.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cpio.h"
#include "digest.h"
#include "exitcodes.h"
#include "initramfs.h"
#include "paths.h"

/* A binary bigger than this is not pyro (it is ~1-3 MB). */
#define INITRAMFS_MAX_BINARY (256u << 20)

int initramfs_write_cpio(struct buf *out, const void *bin, size_t len, struct pyro_err *err)
{
	struct cpio_writer w;
	cpio_writer_init_buf(&w, out);
	const struct cpio_meta dir = { .perm = 0755 }, priv = { .perm = 0700 };
	const struct cpio_meta console = { .perm = 0600 }, exe = { .perm = 0755 };
	if (cpio_add_dir(&w, "dev", &dir, err) ||
	    cpio_add_chardev(&w, "dev/console", &console, 5, 1, err) ||
	    cpio_add_dir(&w, "proc", &dir, err) || cpio_add_dir(&w, "sys", &dir, err) ||
	    cpio_add_dir(&w, "root", &priv, err) ||
	    cpio_add_file_mem(&w, "init", &exe, bin, len, err) || cpio_finish(&w, err))
		return pyro_err_wrap(err, "building the initramfs");
	return 0;
}

/* mkdir -p; only the missing tail is created (0755). */
static int mkdir_p(const char *dir, struct pyro_err *err)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "path too long: %.80s...", dir);
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return pyro_err_sys(err, errno, "creating %s", tmp);
		*p = c;
		if (c == '\0')
			return 0;
	}
}

/* True when the file at path holds exactly `want` (never on any error). */
static bool same_content(const char *path, const struct buf *want)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != want->len)
		return false;
	struct buf have;
	buf_init(&have, want->len + 1);
	bool same = buf_read_file(&have, path) == 0 && have.len == want->len &&
		    memcmp(have.data, want->data, want->len) == 0;
	buf_release(&have);
	return same;
}

/* The fast path: <dir>/stamp remembers which binary (by device, inode,
 * size, mtime and ctime) gave which archive (by path, size and mtime), so
 * a run with the same binary and an untouched archive needs two stats
 * instead of reading, hashing and comparing 2 MB (~6 ms a boot). Anything
 * that changes either file changes its stat, and then the full check runs,
 * as envstore.h trusts an artifact whose stat still matches. */
struct stamp {
	unsigned long long dev, ino, size, mtime_ns, ctime_ns, cpio_size, cpio_mtime_ns;
};

static void stamp_of(const struct stat *bin, const struct stat *cpio, struct stamp *s)
{
	s->dev = (unsigned long long)bin->st_dev;
	s->ino = (unsigned long long)bin->st_ino;
	s->size = (unsigned long long)bin->st_size;
	s->mtime_ns = (unsigned long long)bin->st_mtim.tv_sec * 1000000000ULL +
		      (unsigned long long)bin->st_mtim.tv_nsec;
	s->ctime_ns = (unsigned long long)bin->st_ctim.tv_sec * 1000000000ULL +
		      (unsigned long long)bin->st_ctim.tv_nsec;
	s->cpio_size = (unsigned long long)cpio->st_size;
	s->cpio_mtime_ns = (unsigned long long)cpio->st_mtim.tv_sec * 1000000000ULL +
			   (unsigned long long)cpio->st_mtim.tv_nsec;
}

/* One stamp per binary (by device and inode), so two pyro builds sharing
 * a cache do not keep replacing each other's. */
static bool stamp_path(const char *dir, const char *exe_path, char *out, size_t cap)
{
	struct stat bin;
	return stat(exe_path, &bin) == 0 &&
	       (size_t)snprintf(out, cap, "%s/stamp-%llx-%llx", dir,
				(unsigned long long)bin.st_dev, (unsigned long long)bin.st_ino) < cap;
}

static bool stamp_hit(const char *dir, const char *exe_path, char *out_path, size_t cap)
{
	char path[PATH_MAX + 64], line[PATH_MAX + 256], cpio_path[PATH_MAX];
	if (!stamp_path(dir, exe_path, path, sizeof path))
		return false;
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	struct stamp want, got;
	bool ok = fgets(line, sizeof line, f) &&
		  sscanf(line, "%llu %llu %llu %llu %llu %llu %llu %4095s", &want.dev, &want.ino,
			 &want.size, &want.mtime_ns, &want.ctime_ns, &want.cpio_size,
			 &want.cpio_mtime_ns, cpio_path) == 8;
	fclose(f);
	struct stat bin, cpio;
	if (!ok || stat(exe_path, &bin) != 0 || stat(cpio_path, &cpio) != 0)
		return false;
	stamp_of(&bin, &cpio, &got);
	if (memcmp(&want, &got, sizeof want) != 0 || strlen(cpio_path) >= cap)
		return false;
	snprintf(out_path, cap, "%s", cpio_path);
	/* The stamp's own mtime says when its binary last booted (pruning). */
	utimensat(AT_FDCWD, path, NULL, 0);
	return true;
}

static void stamp_write(const char *dir, const char *exe_path, const char *cpio_path)
{
	struct stat bin, cpio;
	struct stamp s;
	char path[PATH_MAX + 64], line[PATH_MAX + 256];
	if (stat(exe_path, &bin) != 0 || stat(cpio_path, &cpio) != 0)
		return;
	stamp_of(&bin, &cpio, &s);
	int n = snprintf(line, sizeof line, "%llu %llu %llu %llu %llu %llu %llu %s\n", s.dev, s.ino,
			 s.size, s.mtime_ns, s.ctime_ns, s.cpio_size, s.cpio_mtime_ns, cpio_path);
	if (n > 0 && (size_t)n < sizeof line && stamp_path(dir, exe_path, path, sizeof path))
		(void)atomicfile_write(path, line, (size_t)n, 0644, NULL);
}

/* Old archives go, but never one another pyro may be booting right now:
 * a stamp not used for PRUNE_AFTER_S is dropped, then an archive no stamp
 * names and not written in the last hour is removed. (One archive per
 * binary ever run, ~1 MB each, would otherwise pile up.) */
#define PRUNE_AFTER_S (30L * 24 * 3600)

static void prune(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	time_t now = time(NULL);
	struct buf named = BUF_INIT; /* the archives live stamps name, one per line */
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (strncmp(de->d_name, "stamp-", 6) || fstatat(dirfd(d), de->d_name, &st, 0))
			continue;
		if (now - st.st_mtime > PRUNE_AFTER_S) {
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		char path[PATH_MAX + 300], line[PATH_MAX + 256];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "re");
		if (f && fgets(line, sizeof line, f)) {
			const char *last = strrchr(line, '/');
			if (last)
				buf_append_str(&named, last + 1);
		}
		if (f)
			fclose(f);
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct stat st;
		if (n != DIGEST_HEX_LEN + 5 || strcmp(de->d_name + DIGEST_HEX_LEN, ".cpio") != 0 ||
		    (named.data && strstr(named.data, de->d_name)) ||
		    fstatat(dirfd(d), de->d_name, &st, 0) || now - st.st_mtime < 3600)
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	buf_release(&named);
}

int initramfs_build(const char *exe_path, const char *cache_dir, char *out_path, size_t cap,
		    bool *reused, struct pyro_err *err)
{
	char sdir[PATH_MAX];
	if (snprintf(sdir, sizeof sdir, "%s/initramfs", cache_dir) < (int)sizeof sdir &&
	    stamp_hit(sdir, exe_path, out_path, cap)) {
		if (reused)
			*reused = true;
		return 0;
	}
	struct buf bin, cpio = BUF_INIT;
	buf_init(&bin, INITRAMFS_MAX_BINARY);
	int rc = -1;
	if (reused)
		*reused = false;
	if (buf_read_file(&bin, exe_path) != 0) {
		pyro_err_sys(err, errno, "reading the pyro binary %s for the initramfs", exe_path);
		goto out;
	}
	struct digest_sha256 d;
	char hex[DIGEST_HEX_LEN + 1], dir[PATH_MAX];
	digest_sha256_init(&d);
	digest_sha256_update(&d, bin.data, bin.len);
	digest_sha256_hex(&d, hex);
	if (snprintf(dir, sizeof dir, "%s/initramfs", cache_dir) >= (int)sizeof dir ||
	    snprintf(out_path, cap, "%s/%s.cpio", dir, hex) >= (int)cap) {
		pyro_err_set(err, PYRO_EXIT_FAILURE, "the initramfs path under %s does not fit",
			     cache_dir);
		goto out;
	}
	if (initramfs_write_cpio(&cpio, bin.data, bin.len, err) != 0)
		goto out;
	if (same_content(out_path, &cpio)) {
		if (reused)
			*reused = true;
		stamp_write(dir, exe_path, out_path);
		rc = 0;
		goto out;
	}
	if (mkdir_p(dir, err) != 0 ||
	    atomicfile_write(out_path, cpio.data, cpio.len, 0644, err) != 0) {
		pyro_err_wrap(err, "writing the initramfs");
		goto out;
	}
	stamp_write(dir, exe_path, out_path);
	prune(dir);
	rc = 0;
out:
	buf_release(&bin);
	buf_release(&cpio);
	return rc;
}

int initramfs_for_self(char *out_path, size_t cap, struct pyro_err *err)
{
	char cache[PATH_MAX];
	if (paths_cache_dir(cache, sizeof cache, err) != 0)
		return -1;
	return initramfs_build("/proc/self/exe", cache, out_path, cap, NULL, err);
}
