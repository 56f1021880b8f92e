/* Atomic file replacement: readers see the old content or the new content,
 * never a mix, and a crash leaves one of the two on disk.
 *
 * How: create a temporary file in the target's directory (named
 * ".<name>.<random id>.tmp", O_CREAT|O_EXCL|O_CLOEXEC|O_NOFOLLOW, so it is
 * never an existing file or a symlink planted there), write every byte
 * (short writes and EINTR are continued), set the mode, fsync the file,
 * close it, rename(2) it over the target, then fsync the directory so the
 * rename itself is durable.
 *
 * Mode: the new file gets EXACTLY `mode` (permission bits 07777), set with
 * fchmod, so the process umask does NOT apply. State files must be 0600
 * whatever umask the user runs pyro with, and files placed in a workspace
 * keep the mode they were given. The file belongs to the calling process's
 * user and group, not to the old file's owner.
 *
 * Failure before the rename (cannot create the temporary, write, fchmod,
 * fsync, close or rename fails): the temporary file is removed and the old
 * target is left exactly as it was; the message ends in "... was left
 * unchanged" or names the reason. Failure AFTER the rename (the directory
 * cannot be opened or fsynced) also returns -1, but then the new content is
 * already in place and only its durability is in doubt; the message says so.
 * A directory fsync that fails with EINVAL (file system without support) is
 * not an error. All errors are PYRO_EXIT_FAILURE with sys_errno set, except
 * a malformed target path (empty, too long, ending in "/", "." or "..")
 * which is PYRO_EXIT_USAGE.
 *
 * A target that is a symlink is replaced by the new file (the link is not
 * followed); a target that is a directory is an error (EISDIR).
 *
 * Writes go through pyro_write and fsyncs through pyro_fsync, so tests can
 * inject failures with fault_arm(). Nothing is allocated.
 */
#ifndef PYRO_ATOMICFILE_H
#define PYRO_ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* Replace `path` with the `len` bytes at `data` (data may be NULL when
 * len is 0), mode exactly `mode`. */
int atomicfile_write(const char *path, const void *data, size_t len,
		     mode_t mode, struct pyro_err *err);

/* Streaming variant: `fill` writes the new content into `fd` (the open
 * temporary file, positioned at 0; it may use atomicfile_write_all) and
 * returns 0, or returns -1 after filling `err` with what went wrong. It must
 * not close fd. On -1 the temporary is removed, the target is untouched and
 * the message is prefixed with the target path. */
typedef int (*atomicfile_fill_fn)(int fd, void *ctx, struct pyro_err *err);
int atomicfile_write_with(const char *path, mode_t mode, atomicfile_fill_fn fill,
			  void *ctx, struct pyro_err *err);

/* Write all `len` bytes to fd through pyro_write, continuing after short
 * writes and EINTR. Returns 0, or -1 with errno set (a write that returns 0
 * is reported as EIO). */
int atomicfile_write_all(int fd, const void *data, size_t len);

#endif
