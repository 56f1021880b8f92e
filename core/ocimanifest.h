/* OCI (and Docker schema 2) image manifests, image indexes and image
 * references, as the environment pull reads them. Pure parsing, no I/O:
 * fuzzed by tests/fuzz/fuzz_ocimanifest.c.
 *
 * Errors are PYRO_EXIT_FAILURE and name the field ("OCI manifest:
 * layers[1].digest ..."). Unknown fields are ignored, as the OCI image spec
 * requires. */
#ifndef PYRO_OCIMANIFEST_H
#define PYRO_OCIMANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MT_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_TAR_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_TAR_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define OCI_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define PYRO_ARTIFACT_TYPE "application/vnd.pyro.environment.v1"
#define PYRO_MT_BUNDLE_MANIFEST "application/vnd.pyro.environment.manifest.v1+json"

/* The Accept header value for manifest requests: without the OCI types a
 * registry may answer 404 for an OCI manifest. */
#define OCI_MANIFEST_ACCEPT \
	OCI_MT_INDEX ", " OCI_MT_MANIFEST ", " OCI_MT_DOCKER_LIST ", " OCI_MT_DOCKER_MANIFEST

#define OCI_MAX_LAYERS 16
#define OCI_MAX_MANIFESTS 64
#define OCI_MANIFEST_MAX_BYTES (4u << 20)

struct oci_descriptor {
	char media_type[128];
	char digest[DIGEST_OCI_LEN + 1];
	uint64_t size;
	char title[129];          /* annotation org.opencontainers.image.title, or "" */
	char os[32], arch[32];    /* index entries: platform, or "" */
};

struct oci_manifest {
	bool is_index;
	char media_type[128];
	char artifact_type[128];  /* "" when absent */
	struct oci_descriptor config;               /* manifests only */
	size_t layer_count;
	struct oci_descriptor layers[OCI_MAX_LAYERS];
	size_t manifest_count;                      /* indexes only */
	struct oci_descriptor manifests[OCI_MAX_MANIFESTS];
};

/* Parse a manifest or index. content_type is the response's Content-Type
 * (may be NULL), used when the document has no mediaType of its own. */
int oci_manifest_parse(const char *text, size_t len, const char *content_type,
		       struct oci_manifest *m, struct pyro_err *err);

/* The index entry for os/arch (a manifest, not a nested index). */
int oci_index_pick(const struct oci_manifest *index, const char *os, const char *arch,
		   const struct oci_descriptor **out, struct pyro_err *err);

enum oci_compression { OCI_COMPRESSION_NONE, OCI_COMPRESSION_GZIP, OCI_COMPRESSION_ZSTD };

/* The compression of a layer media type, or -1 (with err) when pyro does
 * not read it. */
int oci_layer_compression(const char *media_type, enum oci_compression *out,
			  struct pyro_err *err);

/* An image reference: [https://|http://]HOST[:PORT]/REPO[:TAG|@sha256:HEX].
 * HOST must be present (pyro has no implicit default registry here; the
 * catalog supplies one). REPO is lowercase path components of
 * [a-z0-9._-]. plain_http is set only for an explicit http:// prefix. */
struct oci_ref {
	bool plain_http;
	char host[256];           /* host or host:port */
	char repository[256];
	char reference[136];      /* tag (at most 128) or digest */
	bool by_digest;
};
int oci_ref_parse(const char *text, struct oci_ref *out, struct pyro_err *err);

/* "HOST/REPO:TAG" or "HOST/REPO@sha256:..." into out. */
void oci_ref_format(const struct oci_ref *ref, char *out, size_t cap);

#endif
