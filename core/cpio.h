/* A writer for the cpio "newc" format (magic 070701), the format the Linux
 * kernel unpacks as an initramfs. Pure C, no external tools.
 *
 * Every header field is deterministic, so the same entries give the same
 * bytes: uid and gid 0, mtime 0 unless the entry gives one, inode numbers
 * 1, 2, 3, ... in the order entries are added, nlink 2 for directories and
 * 1 for everything else, devmajor/devminor 0, check 0. Names are written
 * as given, without a leading "/" (the kernel and cpio(1) both expect
 * "dev/console", not "/dev/console"). Header+name and data are each padded
 * with NULs to a multiple of 4 bytes; cpio_finish writes "TRAILER!!!".
 *
 * Output goes either to a caller-owned `struct buf` (appended) or to an fd
 * (written through pyro_write, so tests can inject failures). The writer
 * owns nothing: it borrows the buf or the fd, and cpio_finish does not
 * close the fd. After any failure the output is incomplete; the writer
 * refuses further calls (they fail again with the first error kept in
 * `failed`), so a caller can add all entries and check once at the end.
 *
 * Entries must be added parents first (the kernel creates files in order
 * and does not create missing directories). Sizes above 4 GiB - 1 do not
 * fit in newc's 8 hex digits and are refused.
 */
#ifndef PYRO_CPIO_H
#define PYRO_CPIO_H

#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

struct cpio_writer {
	struct buf *out; /* borrowed; NULL when writing to fd */
	int fd;          /* borrowed; -1 when writing to out */
	uint32_t next_ino;
	uint64_t offset; /* bytes written so far (for the 4-byte padding) */
	int failed;      /* set after the first error; later calls fail */
};

void cpio_writer_init_buf(struct cpio_writer *w, struct buf *out);
void cpio_writer_init_fd(struct cpio_writer *w, int fd);

/* Metadata every entry may set; the zero value means the defaults above.
 * `perm` is the permission bits only (07777); the file type comes from the
 * function called. */
struct cpio_meta {
	mode_t perm;
	uint32_t mtime;
};

int cpio_add_dir(struct cpio_writer *w, const char *name, const struct cpio_meta *m,
		 struct pyro_err *err);
int cpio_add_file_mem(struct cpio_writer *w, const char *name, const struct cpio_meta *m,
		      const void *data, size_t len, struct pyro_err *err);
/* Copy the regular file at `path` (opened without following a final
 * symlink; it must not change size while being read). */
int cpio_add_file_path(struct cpio_writer *w, const char *name, const struct cpio_meta *m,
		       const char *path, struct pyro_err *err);
int cpio_add_symlink(struct cpio_writer *w, const char *name, const struct cpio_meta *m,
		     const char *target, struct pyro_err *err);
int cpio_add_chardev(struct cpio_writer *w, const char *name, const struct cpio_meta *m,
		     unsigned major, unsigned minor, struct pyro_err *err);

/* Write the TRAILER!!! entry (and nothing after it). */
int cpio_finish(struct cpio_writer *w, struct pyro_err *err);

#endif
