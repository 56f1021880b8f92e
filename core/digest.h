/* sha256 digests as pyro writes them: 64 lowercase hex characters, and the
 * OCI form "sha256:<hex>". Host-side only (BearSSL's sha256); the guest
 * half never links this.
 *
 * digest_file_sha256 hashes a whole file; the streaming context is for
 * data hashed as it passes (downloads, archive extraction). */
#ifndef PYRO_DIGEST_H
#define PYRO_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DIGEST_HEX_LEN 64
#define DIGEST_OCI_LEN (7 + DIGEST_HEX_LEN) /* "sha256:" + hex */

struct digest_sha256 {
	uint64_t state[16]; /* holds a br_sha256_context (checked at compile time) */
	uint64_t bytes;     /* bytes hashed so far */
};

void digest_sha256_init(struct digest_sha256 *d);
void digest_sha256_update(struct digest_sha256 *d, const void *data, size_t len);
/* Write the 64 hex characters and a NUL into hex (65 bytes). */
void digest_sha256_hex(const struct digest_sha256 *d, char hex[DIGEST_HEX_LEN + 1]);

/* Hash the file `name` relative to dirfd (AT_FDCWD for a path), without
 * following a final symlink; a non-regular file is an error. size_out may
 * be NULL. */
int digest_file_sha256(int dirfd, const char *name, char hex[DIGEST_HEX_LEN + 1],
		       uint64_t *size_out, struct pyro_err *err);

/* 64 lowercase hex characters, nothing else. */
bool digest_hex_valid(const char *s);

/* "sha256:<64 lowercase hex>"; writes the hex part to hex_out when valid
 * (may be NULL). Other algorithms are refused by name. */
int digest_oci_parse(const char *s, char hex_out[DIGEST_HEX_LEN + 1], struct pyro_err *err);

#endif
