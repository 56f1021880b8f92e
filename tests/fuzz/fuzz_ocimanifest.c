/* libFuzzer target for core/ocimanifest.c.
 *
 * The first byte selects:
 *  0: oci_manifest_parse(rest) without a Content-Type;
 *  1: rest is CONTENT-TYPE '\n' DOCUMENT: oci_manifest_parse with it;
 *  2: oci_ref_parse(rest as a string);
 *  3: oci_layer_compression(rest as a string).
 *
 * Properties:
 *  - a failed parse is PYRO_EXIT_FAILURE (manifests) or PYRO_EXIT_USAGE
 *    (references) with a message naming what failed;
 *  - an accepted manifest has a known media type that agrees with
 *    is_index, counts within the limits, and every descriptor a valid
 *    sha256 digest, a non-empty media type and NUL-terminated strings; an
 *    index pick returns an image manifest for exactly that platform;
 *  - an accepted reference has a host without '/', a valid repository and
 *    either a tag of at most 128 characters or a sha256 digest, and
 *    oci_ref_format gives text that parses back to the same fields. */
#include "fuzz.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/ocimanifest.h"

static struct oci_manifest m;

static void check_descriptor(const struct oci_descriptor *d)
{
	FUZZ_ASSERT(strnlen(d->media_type, sizeof d->media_type) < sizeof d->media_type);
	FUZZ_ASSERT(strnlen(d->title, sizeof d->title) < sizeof d->title);
	FUZZ_ASSERT(strnlen(d->os, sizeof d->os) < sizeof d->os);
	FUZZ_ASSERT(strnlen(d->arch, sizeof d->arch) < sizeof d->arch);
	char hex[DIGEST_HEX_LEN + 1];
	FUZZ_ASSERT(digest_oci_parse(d->digest, hex, NULL) == 0);
	FUZZ_ASSERT(strlen(d->digest) == DIGEST_OCI_LEN);
	FUZZ_ASSERT(d->size <= (uint64_t)INT64_MAX);
}

static bool is_index_type(const char *mt)
{
	return !strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, OCI_MT_DOCKER_LIST);
}

static bool is_manifest_type(const char *mt)
{
	return !strcmp(mt, OCI_MT_MANIFEST) || !strcmp(mt, OCI_MT_DOCKER_MANIFEST);
}

static void fuzz_manifest(const char *text, size_t len, const char *ct)
{
	struct pyro_err err;
	if (oci_manifest_parse(text, len, ct, &m, &err) != 0) {
		FUZZ_ASSERT(err.code == PYRO_EXIT_FAILURE);
		FUZZ_ASSERT(strncmp(err.msg, "OCI manifest", 12) == 0);
		return;
	}
	FUZZ_ASSERT(m.is_index ? is_index_type(m.media_type) : is_manifest_type(m.media_type));
	FUZZ_ASSERT(strnlen(m.artifact_type, sizeof m.artifact_type) < sizeof m.artifact_type);
	FUZZ_ASSERT(m.layer_count <= OCI_MAX_LAYERS && m.manifest_count <= OCI_MAX_MANIFESTS);
	if (m.is_index) {
		FUZZ_ASSERT(m.layer_count == 0);
		for (size_t i = 0; i < m.manifest_count; i++)
			check_descriptor(&m.manifests[i]);
		const struct oci_descriptor *d = NULL;
		if (oci_index_pick(&m, "linux", "amd64", &d, &err) == 0) {
			FUZZ_ASSERT(d >= m.manifests && d < m.manifests + m.manifest_count);
			FUZZ_ASSERT(!strcmp(d->os, "linux") && !strcmp(d->arch, "amd64"));
			FUZZ_ASSERT(is_manifest_type(d->media_type));
		} else {
			FUZZ_ASSERT(d == NULL && err.code == PYRO_EXIT_FAILURE);
		}
	} else {
		FUZZ_ASSERT(m.manifest_count == 0);
		check_descriptor(&m.config);
		for (size_t i = 0; i < m.layer_count; i++) {
			check_descriptor(&m.layers[i]);
			enum oci_compression c;
			if (oci_layer_compression(m.layers[i].media_type, &c, &err) == 0)
				FUZZ_ASSERT(c == OCI_COMPRESSION_NONE || c == OCI_COMPRESSION_GZIP ||
					    c == OCI_COMPRESSION_ZSTD);
		}
	}
}

static bool repo_rule(const char *r)
{
	if (!*r || r[strlen(r) - 1] == '/')
		return false;
	for (const char *p = r; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || p[0] == '.' || p[0] == '_' || p[0] == '-')
			return false;
		for (size_t i = 0; i < n; i++)
			if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
			      p[i] == '.' || p[i] == '_' || p[i] == '-'))
				return false;
		p += n;
		p += *p == '/';
	}
	return true;
}

static void fuzz_ref(const char *text)
{
	struct oci_ref r, back;
	struct pyro_err err;
	if (oci_ref_parse(text, &r, &err) != 0) {
		FUZZ_ASSERT(err.code == PYRO_EXIT_USAGE);
		FUZZ_ASSERT(strncmp(err.msg, "image reference '", 17) == 0);
		return;
	}
	FUZZ_ASSERT(r.host[0] && !strchr(r.host, '/'));
	FUZZ_ASSERT(repo_rule(r.repository));
	if (r.by_digest) {
		FUZZ_ASSERT(digest_oci_parse(r.reference, NULL, NULL) == 0);
	} else {
		size_t n = strlen(r.reference);
		FUZZ_ASSERT(n >= 1 && n <= 128 && !strchr(r.reference, ':') &&
			    !strchr(r.reference, '/') && !strchr(r.reference, '@'));
	}
	char out[1024];
	oci_ref_format(&r, out, sizeof out);
	if (oci_ref_parse(out, &back, &err) != 0) {
		fprintf(stderr, "'%s' formatted as '%s' does not parse: %s\n", text, out, err.msg);
		abort();
	}
	FUZZ_ASSERT(back.plain_http == r.plain_http && back.by_digest == r.by_digest);
	FUZZ_ASSERT(!strcmp(back.host, r.host));
	FUZZ_ASSERT(!strcmp(back.repository, r.repository));
	FUZZ_ASSERT(!strcmp(back.reference, r.reference));
	/* Formatting is idempotent. */
	char out2[1024];
	oci_ref_format(&back, out2, sizeof out2);
	FUZZ_ASSERT(!strcmp(out, out2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *rest = (const char *)data + 1;
	size_t len = size - 1;
	switch (data[0] % 4) {
	case 0:
		fuzz_manifest(rest, len, NULL);
		break;
	case 1: {
		const char *nl = memchr(rest, '\n', len);
		size_t ct_len = nl ? (size_t)(nl - rest) : len;
		char *ct = malloc(ct_len + 1);
		FUZZ_ASSERT(ct);
		memcpy(ct, rest, ct_len);
		ct[ct_len] = '\0';
		if (nl)
			fuzz_manifest(nl + 1, len - ct_len - 1, ct);
		else
			fuzz_manifest("", 0, ct);
		free(ct);
		break;
	}
	default: {
		char *s = malloc(len + 1);
		FUZZ_ASSERT(s);
		memcpy(s, rest, len);
		s[len] = '\0';
		if (data[0] % 4 == 2) {
			fuzz_ref(s);
		} else {
			enum oci_compression c;
			struct pyro_err err;
			if (oci_layer_compression(s, &c, &err) != 0)
				FUZZ_ASSERT(err.code == PYRO_EXIT_FAILURE &&
					    strncmp(err.msg, "layer media type '", 18) == 0);
		}
		free(s);
		break;
	}
	}
	return 0;
}
