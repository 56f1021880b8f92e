/* OCI manifest / index / reference parsing. */
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "json.h"
#include "ocimanifest.h"

static int copy_str(const struct json_value *obj, const char *key, const char *where,
		    bool required, char *dst, size_t cap, struct pyro_err *err)
{
	const struct json_value *v = json_get(obj, key);
	dst[0] = '\0';
	if (!v)
		return required ? pyro_err_set(err, PYRO_EXIT_FAILURE, "OCI manifest: %s%s is missing",
					       where, key)
				: 0;
	if (v->type != JSON_STRING)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "OCI manifest: %s%s must be a string",
				    where, key);
	if (v->u.string.len >= cap || strlen(v->u.string.ptr) != v->u.string.len)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "OCI manifest: %s%s is too long or contains NUL", where, key);
	memcpy(dst, v->u.string.ptr, v->u.string.len + 1);
	return 0;
}

static int parse_descriptor(const struct json_value *obj, const char *where,
			    struct oci_descriptor *d, struct pyro_err *err)
{
	memset(d, 0, sizeof *d);
	if (!obj || obj->type != JSON_OBJECT)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "OCI manifest: %s must be an object",
				    where);
	char at[80];
	snprintf(at, sizeof at, "%s.", where);
	if (copy_str(obj, "mediaType", at, true, d->media_type, sizeof d->media_type, err) < 0 ||
	    copy_str(obj, "digest", at, true, d->digest, sizeof d->digest, err) < 0)
		return -1;
	struct pyro_err derr;
	if (digest_oci_parse(d->digest, NULL, &derr) < 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "OCI manifest: %sdigest: %s", at, derr.msg);
	const struct json_value *size = json_get(obj, "size");
	if (!size || size->type != JSON_NUMBER || !size->u.number.is_int || size->u.number.i < 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "OCI manifest: %ssize must be a non-negative integer", at);
	d->size = (uint64_t)size->u.number.i;
	const struct json_value *ann = json_get(obj, "annotations");
	if (ann && ann->type == JSON_OBJECT &&
	    copy_str(ann, "org.opencontainers.image.title", at, false, d->title, sizeof d->title,
		     err) < 0)
		return -1;
	const struct json_value *platform = json_get(obj, "platform");
	if (platform && platform->type == JSON_OBJECT &&
	    (copy_str(platform, "os", at, false, d->os, sizeof d->os, err) < 0 ||
	     copy_str(platform, "architecture", at, false, d->arch, sizeof d->arch, err) < 0))
		return -1;
	return 0;
}

static int parse_list(const struct json_value *root, const char *key, size_t max,
		      struct oci_descriptor *out, size_t *count, struct pyro_err *err)
{
	const struct json_value *arr = json_get(root, key);
	if (!arr || arr->type != JSON_ARRAY)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "OCI manifest: %s must be an array", key);
	if (arr->u.array.len > max)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "OCI manifest: %zu %s is more than pyro reads (%zu)",
				    arr->u.array.len, key, max);
	for (size_t i = 0; i < arr->u.array.len; i++) {
		char where[48];
		snprintf(where, sizeof where, "%s[%zu]", key, i);
		if (parse_descriptor(arr->u.array.items[i], where, &out[i], err) < 0)
			return -1;
	}
	*count = arr->u.array.len;
	return 0;
}

static bool is_index_type(const char *mt)
{
	return strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, OCI_MT_DOCKER_LIST) == 0;
}

static bool is_manifest_type(const char *mt)
{
	return strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, OCI_MT_DOCKER_MANIFEST) == 0;
}

/* The media type from a Content-Type header: up to ';', trimmed. */
static void content_type_base(const char *ct, char *out, size_t cap)
{
	out[0] = '\0';
	if (!ct)
		return;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strcspn(ct, "; \t");
	if (n >= cap)
		return;
	memcpy(out, ct, n);
	out[n] = '\0';
}

static int check_root(const struct json_value *root, const char *content_type,
		      struct oci_manifest *m, struct pyro_err *err)
{
	if (root->type != JSON_OBJECT)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "OCI manifest: the top level must be "
				    "an object");
	int64_t schema = 0;
	if (!json_get_int(root, "schemaVersion", &schema) || schema != 2)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "OCI manifest: schemaVersion must be 2");
	if (copy_str(root, "mediaType", "", false, m->media_type, sizeof m->media_type, err) < 0 ||
	    copy_str(root, "artifactType", "", false, m->artifact_type, sizeof m->artifact_type,
		     err) < 0)
		return -1;
	if (!m->media_type[0])
		content_type_base(content_type, m->media_type, sizeof m->media_type);
	if (!m->media_type[0]) /* neither says: the shape decides */
		snprintf(m->media_type, sizeof m->media_type, "%s",
			 json_get(root, "manifests") ? OCI_MT_INDEX : OCI_MT_MANIFEST);
	if (is_index_type(m->media_type)) {
		m->is_index = true;
		return parse_list(root, "manifests", OCI_MAX_MANIFESTS, m->manifests,
				  &m->manifest_count, err);
	}
	if (!is_manifest_type(m->media_type))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "OCI manifest: media type '%s' is neither an image manifest "
				    "nor an index", m->media_type);
	if (parse_descriptor(json_get(root, "config"), "config", &m->config, err) < 0)
		return -1;
	return parse_list(root, "layers", OCI_MAX_LAYERS, m->layers, &m->layer_count, err);
}

int oci_manifest_parse(const char *text, size_t len, const char *content_type,
		       struct oci_manifest *m, struct pyro_err *err)
{
	memset(m, 0, sizeof *m);
	if (len > OCI_MANIFEST_MAX_BYTES)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "OCI manifest is larger than %u bytes",
				    OCI_MANIFEST_MAX_BYTES);
	struct json_doc *doc = json_doc_new();
	if (!doc)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory parsing an OCI manifest");
	struct json_value *root = NULL;
	struct json_limits limits = { .max_input_bytes = OCI_MANIFEST_MAX_BYTES, .max_depth = 16 };
	int rc = json_parse(doc, text, len, &limits, &root, err);
	if (rc < 0) {
		pyro_err_wrap(err, "OCI manifest");
		if (err)
			err->code = PYRO_EXIT_FAILURE;
	} else {
		rc = check_root(root, content_type, m, err);
	}
	json_doc_free(doc);
	return rc;
}

int oci_index_pick(const struct oci_manifest *index, const char *os, const char *arch,
		   const struct oci_descriptor **out, struct pyro_err *err)
{
	for (size_t i = 0; i < index->manifest_count; i++) {
		const struct oci_descriptor *d = &index->manifests[i];
		if (strcmp(d->os, os) == 0 && strcmp(d->arch, arch) == 0 &&
		    is_manifest_type(d->media_type)) {
			*out = d;
			return 0;
		}
	}
	return pyro_err_set(err, PYRO_EXIT_FAILURE,
			    "the OCI index has no image manifest for %s/%s (%zu entries)", os, arch,
			    index->manifest_count);
}

int oci_layer_compression(const char *media_type, enum oci_compression *out,
			  struct pyro_err *err)
{
	if (strcmp(media_type, OCI_MT_LAYER_TAR) == 0)
		*out = OCI_COMPRESSION_NONE;
	else if (strcmp(media_type, OCI_MT_LAYER_TAR_GZIP) == 0 ||
		 strcmp(media_type, OCI_MT_DOCKER_LAYER) == 0)
		*out = OCI_COMPRESSION_GZIP;
	else if (strcmp(media_type, OCI_MT_LAYER_TAR_ZSTD) == 0)
		*out = OCI_COMPRESSION_ZSTD;
	else
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "layer media type '%s' is not one pyro reads (tar, tar+gzip, "
				    "tar+zstd)", media_type);
	return 0;
}

static bool repo_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
}

static bool tag_valid(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_';
		if (!word && (i == 0 || (c != '.' && c != '-')))
			return false;
	}
	return true;
}

/* Path components of [a-z0-9._-], none empty, none starting with a
 * separator character. */
static bool repository_valid(const char *r)
{
	if (!*r)
		return false;
	const char *p = r;
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 0 || p[0] == '.' || p[0] == '_' || p[0] == '-')
			return false;
		for (size_t i = 0; i < n; i++)
			if (!repo_char(p[i]))
				return false;
		p += n;
		if (*p == '/' && *++p == '\0')
			return false;
	}
	return true;
}

int oci_ref_parse(const char *text, struct oci_ref *out, struct pyro_err *err)
{
	memset(out, 0, sizeof *out);
	const char *s = text;
	if (strncmp(s, "https://", 8) == 0) {
		s += 8;
	} else if (strncmp(s, "http://", 7) == 0) {
		s += 7;
		out->plain_http = true;
	}
	const char *slash = strchr(s, '/');
	if (!slash || slash == s)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "image reference '%.200s' has no registry host (expected "
				    "HOST[:PORT]/REPOSITORY[:TAG])", text);
	size_t host_len = (size_t)(slash - s);
	if (host_len >= sizeof out->host)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "image reference '%.200s': the registry "
				    "host is too long", text);
	for (size_t i = 0; i < host_len; i++)
		if (!host_char(s[i]))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "image reference '%.200s': the registry host '%.*s' "
					    "contains '%c'", text, (int)host_len, s, s[i]);
	memcpy(out->host, s, host_len);
	const char *rest = slash + 1;
	const char *at = strchr(rest, '@');
	size_t repo_len;
	if (at) {
		repo_len = (size_t)(at - rest);
		if (digest_oci_parse(at + 1, NULL, err) < 0) {
			pyro_err_wrap(err, "image reference '%.200s'", text);
			if (err)
				err->code = PYRO_EXIT_USAGE;
			return -1;
		}
		snprintf(out->reference, sizeof out->reference, "%s", at + 1);
		out->by_digest = true;
	} else {
		/* A ':' after the last '/' starts the tag. */
		const char *last_slash = strrchr(rest, '/');
		const char *colon = strchr(last_slash ? last_slash : rest, ':');
		repo_len = colon ? (size_t)(colon - rest) : strlen(rest);
		const char *tag = colon ? colon + 1 : "latest";
		if (!tag_valid(tag))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "image reference '%.200s': tag '%.130s' is not valid "
					    "([A-Za-z0-9_][A-Za-z0-9._-]*, at most 128)", text, tag);
		snprintf(out->reference, sizeof out->reference, "%s", tag);
	}
	if (repo_len >= sizeof out->repository)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "image reference '%.200s': the repository is too long", text);
	memcpy(out->repository, rest, repo_len);
	out->repository[repo_len] = '\0';
	if (!repository_valid(out->repository))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "image reference '%.200s': repository '%s' is not valid "
				    "(lowercase path components of a-z 0-9 . _ -)",
				    text, out->repository);
	return 0;
}

void oci_ref_format(const struct oci_ref *ref, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s/%s%s%s", ref->plain_http ? "http://" : "", ref->host,
		 ref->repository, ref->by_digest ? "@" : ":", ref->reference);
}
