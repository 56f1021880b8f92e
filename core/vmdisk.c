/* Per-VM root image copies (vmdisk.h). */
#include "vmdisk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcodes.h"

/* Copy the data extents of in to out (same offsets); holes stay holes. */
static int sparse_copy(int in, int out, off_t size)
{
	off_t pos = 0;
	while (pos < size) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break; /* only a hole is left */
			return -1;
		}
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -1;
		off_t from = data, to = data;
		while (from < hole) {
			ssize_t n = copy_file_range(in, &from, out, &to, (size_t)(hole - from), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
		}
		pos = hole;
	}
	/* The size, with a trailing hole if there is one. */
	return ftruncate(out, size);
}

int vmdisk_clone(const char *src, const char *dst, const char **how, struct pyro_err *err)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.partial", dst) >= sizeof tmp)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the path %s is too long", dst);
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return pyro_err_sys(err, errno, "opening the root image %s", src);
	struct stat st;
	if (fstat(in, &st) < 0) {
		int e = errno;
		close(in);
		return pyro_err_sys(err, e, "reading %s", src);
	}
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		int e = errno;
		close(in);
		return pyro_err_sys(err, e, "creating %s", tmp);
	}
	const char *mode = "reflink";
	int rc = ioctl(out, FICLONE, in);
	if (rc < 0) {
		mode = "sparse_copy";
		rc = sparse_copy(in, out, st.st_size);
	}
	int e = errno;
	if (rc == 0 && fsync(out) < 0)
		rc = -1, e = errno;
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = -1, e = errno;
	if (rc == 0 && rename(tmp, dst) < 0)
		rc = -1, e = errno;
	if (rc < 0) {
		unlink(tmp);
		return pyro_err_sys(err, e, "copying the root image %s to %s", src, dst);
	}
	if (how)
		*how = mode;
	return 0;
}
