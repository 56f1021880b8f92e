/* The pyro initramfs: build, cache, reuse (initramfs.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

int initramfs_build(const char *exe_path, const char *cache_dir, char *out_path, size_t cap,
		    bool *reused, struct pyro_err *err)
{
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
		rc = 0;
		goto out;
	}
	if (mkdir_p(dir, err) != 0 ||
	    atomicfile_write(out_path, cpio.data, cpio.len, 0644, err) != 0) {
		pyro_err_wrap(err, "writing the initramfs");
		goto out;
	}
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
