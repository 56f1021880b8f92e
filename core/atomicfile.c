#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcodes.h"
#include "fault.h"
#include "randid.h"

/* At most this much of the target's name goes into the temporary's name,
 * so ".<name>.<id>.tmp" stays under NAME_MAX (255). */
#define TMP_BASE_MAX 200
#define TMP_TRIES 16

int atomicfile_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = pyro_write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Split path into its directory (dir[PATH_MAX]) and the offset of its last
 * component. */
static int split_target(const char *path, char *dir, size_t *base_off,
			struct pyro_err *err)
{
	if (!path || !*path)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "cannot replace a file with an empty path; "
				    "name the file to write");
	size_t len = strlen(path);
	if (len >= PATH_MAX)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "cannot replace \"%.80s...\": its path is %zu bytes, "
				    "longer than the limit of %d",
				    path, len, PATH_MAX - 1);
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "cannot replace \"%s\": it names a directory, not a "
				    "file; give the path of a file",
				    path);
	if (!slash) {
		strcpy(dir, ".");
	} else if (slash == path) {
		strcpy(dir, "/");
	} else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	*base_off = (size_t)(base - path);
	return 0;
}

static int open_temp(const char *path, const char *dir, size_t base_off,
		     char *tmp, struct pyro_err *err)
{
	const char *base = path + base_off;
	int blen = (int)strlen(base);
	if (blen > TMP_BASE_MAX)
		blen = TMP_BASE_MAX;
	for (int tries = 0;; tries++) {
		char id[RANDID_SIZE];
		if (randid_generate(id, err) < 0)
			return pyro_err_wrap(err, "replacing \"%s\"", path);
		int n = snprintf(tmp, PATH_MAX, "%.*s.%.*s.%s.tmp", (int)base_off,
				 path, blen, base, id);
		if (n < 0 || n >= PATH_MAX)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "cannot replace \"%s\": the temporary file's "
					    "path would be longer than %d bytes",
					    path, PATH_MAX - 1);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			      0600);
		if (fd >= 0)
			return fd;
		if ((errno == EEXIST || errno == EINTR) && tries < TMP_TRIES)
			continue;
		pyro_err_sys(err, errno,
			     "cannot create a temporary file in \"%s\" to replace \"%s\"",
			     dir, path);
		return -1;
	}
}

/* After the rename: make it durable. */
static int sync_dir(const char *path, const char *dir, struct pyro_err *err)
{
	int dfd;
	do
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (dfd < 0 && errno == EINTR);
	if (dfd < 0)
		return pyro_err_sys(err, errno,
				    "replaced \"%s\" but could not open its directory "
				    "\"%s\" to make the change durable",
				    path, dir);
	if (pyro_fsync(dfd) < 0 && errno != EINVAL) {
		int e = errno;
		close(dfd);
		return pyro_err_sys(err, e,
				    "replaced \"%s\" but syncing its directory \"%s\" "
				    "failed, so the change may not survive a crash",
				    path, dir);
	}
	close(dfd);
	return 0;
}

struct mem_src {
	const void *data;
	size_t len;
};

static int fill_mem(int fd, void *ctx, struct pyro_err *err)
{
	const struct mem_src *m = ctx;
	if (atomicfile_write_all(fd, m->data, m->len) < 0)
		return pyro_err_sys(err, errno,
				    "writing the new content (%zu bytes) failed", m->len);
	return 0;
}

int atomicfile_write_with(const char *path, mode_t mode, atomicfile_fill_fn fill,
			  void *ctx, struct pyro_err *err)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	size_t base_off = 0;
	if (split_target(path, dir, &base_off, err) < 0)
		return -1;
	int fd = open_temp(path, dir, base_off, tmp, err);
	if (fd < 0)
		return -1;

	if (fill(fd, ctx, err) < 0) {
		close(fd);
		unlink(tmp);
		return pyro_err_wrap(err, "cannot replace \"%s\", left unchanged", path);
	}
	const char *what = NULL;
	if (fchmod(fd, mode & 07777) < 0)
		what = "setting the mode of";
	else if (pyro_fsync(fd) < 0)
		what = "syncing to disk";
	if (what) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return pyro_err_sys(err, e,
				    "%s the new content of \"%s\" failed; it was left "
				    "unchanged",
				    what, path);
	}
	if (close(fd) < 0 && errno != EINTR) {
		int e = errno;
		unlink(tmp);
		return pyro_err_sys(err, e,
				    "closing the new content of \"%s\" failed; it was "
				    "left unchanged",
				    path);
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		if (e == EISDIR)
			return pyro_err_sys(err, e,
					    "cannot replace \"%s\": it is a directory", path);
		return pyro_err_sys(err, e,
				    "cannot rename the new content over \"%s\"; it was "
				    "left unchanged",
				    path);
	}
	return sync_dir(path, dir, err);
}

int atomicfile_write(const char *path, const void *data, size_t len,
		     mode_t mode, struct pyro_err *err)
{
	struct mem_src m = { data, len };
	return atomicfile_write_with(path, mode, fill_mem, &m, err);
}
