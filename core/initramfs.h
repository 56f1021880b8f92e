/* The initramfs pyro hands every VMM: the running pyro binary as /init,
 * plus the few nodes pyro-init needs before it has mounted anything.
 *
 * Layout (cpio newc, uncompressed, every field deterministic, cpio.h):
 *
 *   dev/           0755
 *   dev/console    c 5 1, 0600  (the kernel opens it for init's fds 0-2
 *                                before devtmpfs exists; without it
 *                                pyro-init starts with no console)
 *   proc/ sys/     0755         (mount points)
 *   root/          0700
 *   init           0755, the bytes of the binary (argv[0] "/init" makes
 *                  the multicall binary run pyro-init, applets/main.c)
 *
 * Uncompressed on purpose: the kernel reads newc as is, gzip would save
 * ~0.6 MB of page cache but cost decompression time on every boot (slow
 * under TCG) and need zlib in this path.
 *
 * Cache: <cache dir>/initramfs/<sha256 of the binary>.cpio (paths.h),
 * written atomically (atomicfile.h, mode 0644). The binary is read once
 * and both hashed and archived from the same bytes, so a binary replaced
 * meanwhile cannot give a file whose name lies about its content. An
 * existing cache file is reused only when its bytes are exactly the
 * archive that would be written (one read of ~1 MB, a few ms): a corrupt,
 * truncated or hand-edited file never counts and is replaced. That check
 * costs ~6 ms, so <cache dir>/initramfs/stamp-<dev>-<inode> remembers, per
 * binary, the stat of the binary and of the archive it gave; while both
 * are unchanged the archive is reused without reading either. Writing a
 * new archive prunes: stamps unused for 30 days go, then archives no stamp
 * names and not written in the last hour (initramfs.c), so a pyro of
 * another version booting at the same moment keeps its archive.
 */
#ifndef PYRO_INITRAMFS_H
#define PYRO_INITRAMFS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Append the archive for the binary `bin` (len bytes) to `out`. */
int initramfs_write_cpio(struct buf *out, const void *bin, size_t len, struct pyro_err *err);

/* Build or reuse the initramfs for the binary at `exe_path` under
 * `cache_dir`/initramfs/; write the archive's path into out_path. When
 * reused is non-NULL it tells whether the cache file was already right. */
int initramfs_build(const char *exe_path, const char *cache_dir, char *out_path, size_t cap,
		    bool *reused, struct pyro_err *err);

/* initramfs_build for /proc/self/exe and paths_cache_dir(). */
int initramfs_for_self(char *out_path, size_t cap, struct pyro_err *err);

#endif
