/* A VM's own copy of an environment's root image, for VMMs that write to
 * the image they boot (Firecracker; QEMU uses a throw-away overlay
 * instead). The original product copies with `cp --reflink=auto`; this is
 * the same in C: a reflink (FICLONE) where the file system shares blocks
 * (btrfs, XFS), else a sparse copy that copies only the data extents
 * (SEEK_DATA/SEEK_HOLE + copy_file_range), so a 300 MiB image with 60 MiB
 * of data costs 60 MiB and a fraction of a second. Written to a temporary
 * name and renamed into place: a crash never leaves a half image under the
 * final name. */
#ifndef PYRO_VMDISK_H
#define PYRO_VMDISK_H

#include <stddef.h>

#include "err.h"

/* Clone src to dst (mode 0600). *how (when not NULL) gets "reflink" or
 * "sparse_copy". */
int vmdisk_clone(const char *src, const char *dst, const char **how, struct pyro_err *err);

#endif
