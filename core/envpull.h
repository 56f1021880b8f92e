/* `pyro env pull`: fetch an environment bundle published as an OCI
 * artifact (docs/environments.md) and install it atomically.
 *
 * The registry protocol is the OCI distribution spec's pull side:
 *   GET /v2/REPO/manifests/REF  (Accept: OCI_MANIFEST_ACCEPT)
 *   on 401: the WWW-Authenticate Bearer challenge -> GET realm?service=&scope=
 *           -> {"token"|"access_token"} -> retry with Authorization: Bearer
 *   an image index -> the linux/amd64 manifest, by digest
 *   GET /v2/REPO/blobs/DIGEST for the config (the bundle manifest.json) and
 *   each layer, following redirects to blob storage (the token is not sent
 *   there)
 * Every manifest and blob is checked against its digest and size; a layer
 * is unpacked while it downloads (no second copy on disk), and the install
 * is committed only after every digest and every artifact sha256 matched.
 */
#ifndef PYRO_ENVPULL_H
#define PYRO_ENVPULL_H

#include <stdint.h>

#include "envstore.h"
#include "err.h"

/* Progress for humans: called as bytes arrive (often: throttle in the
 * callback). `what` names the artifact ("rootfs.ext4"); total is the
 * blob's size. phase is "manifest", "download" or "verify". */
struct env_pull_progress {
	void (*fn)(void *ctx, const char *phase, const char *what, uint64_t done,
		   uint64_t total);
	void *ctx;
};

/* Install the catalog entry's version from its registry (env_catalog_reference)
 * unless a valid install exists already. *out describes the install;
 * *downloaded says whether anything was fetched. */
int env_pull(const struct envstore *st, const struct env_catalog_entry *entry,
	     const struct env_pull_progress *progress, struct env_install *out,
	     bool *downloaded, struct pyro_err *err);

#endif
