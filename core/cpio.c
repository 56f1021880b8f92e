/* cpio "newc" writer (cpio.h). The format: a 110-byte ASCII header (magic
 * "070701" then 13 fields of 8 hex digits), the NUL-terminated name, NULs to
 * a 4-byte boundary, the data, NULs to a 4-byte boundary. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cpio.h"
#include "exitcodes.h"
#include "fault.h"

#define NEWC_HEADER_LEN 110
#define NEWC_MAX_SIZE 0xffffffffu

void cpio_writer_init_buf(struct cpio_writer *w, struct buf *out)
{
	memset(w, 0, sizeof *w);
	w->out = out;
	w->fd = -1;
	w->next_ino = 1;
}

void cpio_writer_init_fd(struct cpio_writer *w, int fd)
{
	memset(w, 0, sizeof *w);
	w->fd = fd;
	w->next_ino = 1;
}

static int emit(struct cpio_writer *w, const void *data, size_t len, struct pyro_err *err)
{
	if (len == 0)
		return 0;
	int rc = w->out ? buf_append(w->out, data, len) : atomicfile_write_all(w->fd, data, len);
	if (rc < 0) {
		w->failed = 1;
		return pyro_err_sys(err, errno, "writing the cpio archive");
	}
	w->offset += len;
	return 0;
}

static int pad4(struct cpio_writer *w, struct pyro_err *err)
{
	static const char zeros[4];
	return emit(w, zeros, (4 - w->offset % 4) % 4, err);
}

/* Header and name (padded); the caller writes the data and pads it. */
static int header(struct cpio_writer *w, const char *name, mode_t mode, uint32_t mtime,
		  uint64_t size, unsigned rmajor, unsigned rminor, struct pyro_err *err)
{
	if (w->failed)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the cpio archive already failed; nothing more is written");
	while (name[0] == '/')
		name++;
	size_t namelen = strlen(name);
	if (namelen == 0 || namelen > 4095)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "cpio entry name '%.80s' is empty or too long",
				    name);
	if (size > NEWC_MAX_SIZE)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "cpio entry %s is %llu bytes; newc holds at most 4 GiB - 1", name,
				    (unsigned long long)size);
	char h[NEWC_HEADER_LEN + 1];
	int nlink = S_ISDIR(mode) ? 2 : 1;
	snprintf(h, sizeof h,
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 (unsigned)w->next_ino, (unsigned)mode, 0u, 0u, (unsigned)nlink, (unsigned)mtime,
		 (unsigned)size, 0u, 0u, rmajor, rminor, (unsigned)(namelen + 1), 0u);
	w->next_ino++;
	if (emit(w, h, NEWC_HEADER_LEN, err) || emit(w, name, namelen + 1, err))
		return -1;
	return pad4(w, err);
}

static mode_t perm_or(const struct cpio_meta *m, mode_t dflt)
{
	return m && m->perm ? (m->perm & 07777) : dflt;
}

static uint32_t mtime_of(const struct cpio_meta *m)
{
	return m ? m->mtime : 0;
}

int cpio_add_dir(struct cpio_writer *w, const char *name, const struct cpio_meta *m,
		 struct pyro_err *err)
{
	return header(w, name, S_IFDIR | perm_or(m, 0755), mtime_of(m), 0, 0, 0, err);
}

int cpio_add_file_mem(struct cpio_writer *w, const char *name, const struct cpio_meta *m,
		      const void *data, size_t len, struct pyro_err *err)
{
	if (header(w, name, S_IFREG | perm_or(m, 0644), mtime_of(m), len, 0, 0, err) ||
	    emit(w, data, len, err))
		return -1;
	return pad4(w, err);
}

/* Stream the file in chunks: the pyro binary is ~1 MB, but nothing stops a
 * caller from adding something large to an fd-backed archive. */
static int copy_exact(struct cpio_writer *w, int fd, uint64_t size, const char *path,
		      struct pyro_err *err)
{
	char chunk[65536];
	uint64_t left = size;
	while (left > 0) {
		size_t want = left < sizeof chunk ? (size_t)left : sizeof chunk;
		ssize_t n = pyro_read(fd, chunk, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			w->failed = 1;
			return pyro_err_sys(err, errno, "reading %s for the cpio archive", path);
		}
		if (n == 0) {
			/* The header already promised `size` bytes. */
			w->failed = 1;
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "%s shrank while being copied into the cpio archive", path);
		}
		if (emit(w, chunk, (size_t)n, err))
			return -1;
		left -= (uint64_t)n;
	}
	return 0;
}

int cpio_add_file_path(struct cpio_writer *w, const char *name, const struct cpio_meta *m,
		       const char *path, struct pyro_err *err)
{
	/* Symlinks are followed on purpose: /proc/self/exe is one. */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pyro_err_sys(err, errno, "opening %s for the cpio archive", path);
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) < 0) {
		pyro_err_sys(err, errno, "stat %s", path);
	} else if (!S_ISREG(st.st_mode)) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "%s is not a regular file", path);
	} else if (header(w, name, S_IFREG | perm_or(m, st.st_mode & 07777), mtime_of(m),
			  (uint64_t)st.st_size, 0, 0, err) == 0 &&
		   copy_exact(w, fd, (uint64_t)st.st_size, path, err) == 0) {
		rc = pad4(w, err);
	}
	close(fd);
	return rc;
}

int cpio_add_symlink(struct cpio_writer *w, const char *name, const struct cpio_meta *m,
		     const char *target, struct pyro_err *err)
{
	/* newc keeps the link target as the data, without a NUL. */
	size_t len = strlen(target);
	if (header(w, name, S_IFLNK | perm_or(m, 0777), mtime_of(m), len, 0, 0, err) ||
	    emit(w, target, len, err))
		return -1;
	return pad4(w, err);
}

int cpio_add_chardev(struct cpio_writer *w, const char *name, const struct cpio_meta *m,
		     unsigned major, unsigned minor, struct pyro_err *err)
{
	return header(w, name, S_IFCHR | perm_or(m, 0600), mtime_of(m), 0, major, minor, err);
}

int cpio_finish(struct cpio_writer *w, struct pyro_err *err)
{
	/* An ordinary entry with mode 0, nlink 1 and ino 0, as GNU cpio
	 * writes it. */
	w->next_ino = 0;
	return header(w, "TRAILER!!!", 0, 0, 0, 0, 0, err);
}
