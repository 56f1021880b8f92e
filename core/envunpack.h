/* Unpack an environment bundle archive (or one OCI layer of it) into a
 * directory: plain regular files only, written sparse (all-zero 4 KiB
 * blocks become holes: root filesystem images are mostly empty), each
 * hashed with sha256 as it is written.
 *
 * Accepted members: regular files named by a plain file name
 * (env_artifact_name_valid, or "manifest.json"), optionally all under one
 * top-level directory ("bundle/vmlinux"), and directory entries for that
 * directory. Anything else — links, devices, deeper paths, "..", a name
 * seen twice, more than ENV_UNPACK_MAX_FILES files — is an error naming
 * the member; nothing outside dirfd is ever written (files are created
 * with O_EXCL|O_NOFOLLOW relative to dirfd).
 *
 * Formats: tar (ustar, pax, GNU incl. sparse members), plain or compressed
 * with gzip or zstd, detected from the data. */
#ifndef PYRO_ENVUNPACK_H
#define PYRO_ENVUNPACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"
#include "envmanifest.h"
#include "err.h"

#define ENV_UNPACK_MAX_FILES 8

struct env_unpacked_file {
	char name[ENV_ARTIFACT_NAME_MAX + 1];
	char sha256[DIGEST_HEX_LEN + 1];
	uint64_t size;
};

struct env_unpacked {
	size_t count;
	struct env_unpacked_file files[ENV_UNPACK_MAX_FILES];
};

/* Pull-style input: fill buf with up to cap bytes, return the count, 0 at
 * the end, or -1 after setting err. */
typedef ssize_t (*env_unpack_read_fn)(void *ctx, void *buf, size_t cap, struct pyro_err *err);

/* Unpack the archive read through `read` into dirfd, appending what was
 * written to `out` (which may already hold files from earlier layers: a
 * name already there is an error). `what` names the source in messages
 * ("layer sha256:ab12..", "bundle.tar.zst"). */
int env_unpack(env_unpack_read_fn read, void *ctx, int dirfd, const char *what,
	       struct env_unpacked *out, struct pyro_err *err);

/* The same for an archive file. */
int env_unpack_file(const char *path, int dirfd, struct env_unpacked *out,
		    struct pyro_err *err);

/* Copy the regular file `name` from srcdir to dstdir (same name), sparse
 * and hashed, appending it to out. */
int env_copy_file(int srcdir, int dstdir, const char *name, struct env_unpacked *out,
		  struct pyro_err *err);

/* The entry for name in u, or NULL. */
const struct env_unpacked_file *env_unpacked_find(const struct env_unpacked *u,
						  const char *name);

#endif
