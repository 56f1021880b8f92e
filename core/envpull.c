/* OCI pull of an environment bundle (envpull.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "digest.h"
#include "envpull.h"
#include "exitcodes.h"
#include "http.h"
#include "json.h"
#include "ocimanifest.h"

struct pull {
	struct http_client http;
	struct oci_ref ref;
	char ref_text[512];
	char base[300];              /* "https://host:port" */
	char auth[4096 + 32];        /* "Authorization: Bearer ..." or "" */
	const struct env_pull_progress *progress;
};

static void report(const struct pull *p, const char *phase, const char *what, uint64_t done,
		   uint64_t total)
{
	if (p->progress && p->progress->fn)
		p->progress->fn(p->progress->ctx, phase, what, done, total);
}

/* Percent-encode a query value (RFC 3986 unreserved kept). */
static int append_query_value(struct buf *b, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || strchr("-._~", c);
		int rc = keep ? buf_append_char(b, (char)c)
			      : buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* The registry's error body, condensed: "MANIFEST_UNKNOWN: manifest unknown". */
static void registry_error_text(struct http_response *resp, char *out, size_t cap)
{
	out[0] = '\0';
	struct buf body;
	buf_init(&body, 64 * 1024);
	struct pyro_err ignored;
	if (http_read_all(resp, &body, 64 * 1024, &ignored) == 0 && body.len) {
		struct json_doc *doc = json_doc_new();
		struct json_value *root = NULL;
		if (doc && json_parse(doc, body.data, body.len, NULL, &root, NULL) == 0) {
			const struct json_value *errors = json_get(root, "errors");
			if (errors && errors->type == JSON_ARRAY && errors->u.array.len) {
				const struct json_value *e0 = errors->u.array.items[0];
				const char *code = json_get_str(e0, "code");
				const char *msg = json_get_str(e0, "message");
				snprintf(out, cap, ": %.100s%s%.300s", code ? code : "",
					 code && msg ? ": " : "", msg ? msg : "");
			}
		}
		json_doc_free(doc);
	}
	buf_release(&body);
}

static int fetch_token(struct pull *p, const char *challenge_value, struct pyro_err *err)
{
	struct http_challenge ch;
	if (http_parse_bearer_challenge(challenge_value, &ch, err) < 0) {
		pyro_err_wrap(err, "the registry %s asks for authentication", p->ref.host);
		return -1;
	}
	struct buf url = BUF_INIT;
	int rc = buf_append_str(&url, ch.realm);
	char sep = strchr(ch.realm, '?') ? '&' : '?';
	if (rc == 0 && ch.service[0]) {
		if (buf_printf(&url, "%cservice=", sep) < 0 ||
		    append_query_value(&url, ch.service) < 0)
			rc = -1;
		sep = '&';
	}
	char scope[600];
	snprintf(scope, sizeof scope, "repository:%s:pull", p->ref.repository);
	if (rc == 0 && (buf_printf(&url, "%cscope=", sep) < 0 || append_query_value(&url, scope) < 0))
		rc = -1;
	if (rc < 0) {
		buf_release(&url);
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory");
	}
	struct http_request req = { .method = "GET", .url = url.data };
	struct http_response resp;
	rc = http_open(&p->http, &req, &resp, err);
	if (rc == 0 && resp.status != 200) {
		char detail[512];
		registry_error_text(&resp, detail, sizeof detail);
		rc = pyro_err_set(err, PYRO_EXIT_FAILURE,
				  "the token service %.300s answered %d%s", ch.realm, resp.status,
				  detail);
	}
	struct buf body;
	buf_init(&body, 1u << 20);
	if (rc == 0)
		rc = http_read_all(&resp, &body, 1u << 20, err);
	http_close(&resp);
	buf_release(&url);
	struct json_doc *doc = rc == 0 ? json_doc_new() : NULL;
	struct json_value *root = NULL;
	if (rc == 0 && (!doc || json_parse(doc, body.data ? body.data : "", body.len, NULL, &root,
					   err) < 0))
		rc = pyro_err_wrap(err, "the token service %.300s sent no JSON", ch.realm);
	const char *token = NULL;
	if (rc == 0) {
		token = json_get_str(root, "token");
		if (!token || !*token)
			token = json_get_str(root, "access_token");
		if (!token || !*token || strlen(token) > 4096 || strpbrk(token, "\r\n"))
			rc = pyro_err_set(err, PYRO_EXIT_FAILURE,
					  "the token service %.300s answered without a usable token",
					  ch.realm);
	}
	if (rc == 0)
		snprintf(p->auth, sizeof p->auth, "Authorization: Bearer %s", token);
	json_doc_free(doc);
	buf_release(&body);
	return rc;
}

/* GET base + path with the current token; on 401 with a Bearer challenge,
 * get a token and try once more. The response is open on success. */
static int registry_get(struct pull *p, const char *path, const char *accept,
			struct http_response *resp, struct pyro_err *err)
{
	char url[HTTP_TARGET_MAX];
	snprintf(url, sizeof url, "%s%s", p->base, path);
	char accept_header[512];
	snprintf(accept_header, sizeof accept_header, "Accept: %s", accept ? accept : "*/*");
	for (int attempt = 0;; attempt++) {
		const char *headers[3] = { accept_header, p->auth[0] ? p->auth : NULL, NULL };
		struct http_request req = { .method = "GET", .url = url, .headers = headers };
		if (http_open(&p->http, &req, resp, err) < 0)
			return pyro_err_wrap(err, "pulling %s", p->ref_text);
		if (resp->status != 401 || attempt > 0)
			break;
		const char *challenge = http_header(resp, "WWW-Authenticate");
		char saved[2048];
		snprintf(saved, sizeof saved, "%s", challenge ? challenge : "");
		http_close(resp);
		if (!saved[0])
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "the registry %s answered 401 without a "
					    "WWW-Authenticate challenge for %s", p->ref.host, path);
		if (fetch_token(p, saved, err) < 0)
			return -1;
	}
	if (resp->status == 200)
		return 0;
	char detail[512];
	registry_error_text(resp, detail, sizeof detail);
	int status = resp->status;
	http_close(resp);
	const char *hint = status == 404 ? " (is the environment published there? check "
					   "PYRO_ENVIRONMENT_REGISTRY)"
			   : status == 401 || status == 403 ? " (the registry refused anonymous access)"
							    : "";
	return pyro_err_set(err, PYRO_EXIT_FAILURE, "the registry %s answered %d for %s%s%s",
			    p->ref.host, status, path, detail, hint);
}

/* Fetch a manifest (by tag or digest), verify a digest reference, parse.
 * digest_out gets the manifest's sha256 digest. */
static int get_manifest(struct pull *p, const char *reference, struct oci_manifest *m,
			char digest_out[DIGEST_OCI_LEN + 1], struct pyro_err *err)
{
	char path[600];
	snprintf(path, sizeof path, "/v2/%s/manifests/%s", p->ref.repository, reference);
	struct http_response resp;
	if (registry_get(p, path, OCI_MANIFEST_ACCEPT, &resp, err) < 0)
		return -1;
	struct buf body;
	buf_init(&body, OCI_MANIFEST_MAX_BYTES);
	char content_type[160];
	const char *ct = http_header(&resp, "Content-Type");
	snprintf(content_type, sizeof content_type, "%s", ct ? ct : "");
	int rc = http_read_all(&resp, &body, OCI_MANIFEST_MAX_BYTES, err);
	http_close(&resp);
	if (rc == 0) {
		struct digest_sha256 d;
		digest_sha256_init(&d);
		digest_sha256_update(&d, body.data, body.len);
		char hex[DIGEST_HEX_LEN + 1];
		digest_sha256_hex(&d, hex);
		snprintf(digest_out, DIGEST_OCI_LEN + 1, "sha256:%s", hex);
		if (strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, digest_out) != 0)
			rc = pyro_err_set(err, PYRO_EXIT_FAILURE,
					  "the manifest %s from %s does not match its digest (got "
					  "%s); nothing was installed", reference, p->ref.host,
					  digest_out);
	}
	if (rc == 0)
		rc = oci_manifest_parse(body.data ? body.data : "", body.len,
					content_type[0] ? content_type : NULL, m, err);
	buf_release(&body);
	return rc;
}

/* A blob being read: hashes and counts, refuses more than its size. */
struct blob_reader {
	struct pull *p;
	struct http_response resp;
	const struct oci_descriptor *desc;
	const char *what;
	bool quiet;                  /* no progress reports (small blobs) */
	struct digest_sha256 hash;
};

static ssize_t blob_read(void *ctx, void *buf, size_t cap, struct pyro_err *err)
{
	struct blob_reader *b = ctx;
	long n = http_read(&b->resp, buf, cap, err);
	if (n < 0)
		return pyro_err_wrap(err, "downloading %s", b->what);
	digest_sha256_update(&b->hash, buf, (size_t)n);
	if (b->hash.bytes > b->desc->size)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "%s (%s) is larger than its manifest says (%llu bytes); "
				    "nothing was installed", b->what, b->desc->digest,
				    (unsigned long long)b->desc->size);
	if (n > 0 && !b->quiet)
		report(b->p, "download", b->what, b->hash.bytes, b->desc->size);
	return n;
}

static int blob_open(struct pull *p, const struct oci_descriptor *desc, const char *what,
		     struct blob_reader *b, struct pyro_err *err)
{
	memset(b, 0, sizeof *b);
	b->p = p;
	b->desc = desc;
	b->what = what;
	digest_sha256_init(&b->hash);
	char path[600];
	snprintf(path, sizeof path, "/v2/%s/blobs/%s", p->ref.repository, desc->digest);
	return registry_get(p, path, NULL, &b->resp, err);
}

/* After the consumer is done: read what is left, then compare. */
static int blob_finish(struct blob_reader *b, struct pyro_err *err)
{
	char sink[16384];
	ssize_t n;
	while ((n = blob_read(b, sink, sizeof sink, err)) > 0)
		;
	http_close(&b->resp);
	if (n < 0)
		return -1;
	char hex[DIGEST_HEX_LEN + 1], got[DIGEST_OCI_LEN + 1];
	digest_sha256_hex(&b->hash, hex);
	snprintf(got, sizeof got, "sha256:%s", hex);
	if (strcmp(got, b->desc->digest) != 0 || b->hash.bytes != b->desc->size)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "%s from %s does not match its digest: expected %s (%llu bytes), "
				    "got %s (%llu bytes); the registry or something between served "
				    "corrupt data, and nothing was installed",
				    b->what, b->p->ref.host, b->desc->digest,
				    (unsigned long long)b->desc->size, got,
				    (unsigned long long)b->hash.bytes);
	return 0;
}

/* The config blob is the bundle manifest: store it as manifest.json. */
static int fetch_config(struct pull *p, const struct oci_manifest *m, struct env_staging *sg,
			struct pyro_err *err)
{
	if (strcmp(m->config.media_type, PYRO_MT_BUNDLE_MANIFEST) != 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "%s is not a pyro environment: its config media type is '%s', "
				    "expected '%s'", p->ref_text, m->config.media_type,
				    PYRO_MT_BUNDLE_MANIFEST);
	if (m->config.size > ENV_MANIFEST_MAX_BYTES)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the bundle manifest of %s is too large",
				    p->ref_text);
	struct blob_reader b;
	if (blob_open(p, &m->config, "the bundle manifest", &b, err) < 0)
		return -1;
	b.quiet = true;
	struct buf body;
	buf_init(&body, ENV_MANIFEST_MAX_BYTES);
	char chunk[16384];
	ssize_t n;
	int rc = 0;
	while (rc == 0 && (n = blob_read(&b, chunk, sizeof chunk, err)) != 0)
		rc = n < 0 ? -1 : buf_append(&body, chunk, (size_t)n);
	if (rc == 0)
		rc = blob_finish(&b, err);
	else
		http_close(&b.resp);
	if (rc == 0) {
		int fd = openat(sg->dirfd, "manifest.json",
				O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 || atomicfile_write_all(fd, body.data, body.len) < 0 || fsync(fd) != 0)
			rc = pyro_err_sys(err, errno, "cannot write manifest.json in %s", sg->path);
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0) {
		struct env_unpacked_file *f = &sg->files.files[sg->files.count++];
		snprintf(f->name, sizeof f->name, "manifest.json");
		digest_sha256_hex(&b.hash, f->sha256);
		f->size = body.len;
	}
	buf_release(&body);
	return rc;
}

static int fetch_layer(struct pull *p, const struct oci_descriptor *layer, size_t index,
		       struct env_staging *sg, struct pyro_err *err)
{
	enum oci_compression comp;
	if (oci_layer_compression(layer->media_type, &comp, err) < 0)
		return -1;
	char what[200];
	snprintf(what, sizeof what, "%s", layer->title[0] ? layer->title : "");
	if (!what[0])
		snprintf(what, sizeof what, "layer %zu", index + 1);
	struct blob_reader b;
	if (blob_open(p, layer, what, &b, err) < 0)
		return -1;
	char label[300];
	snprintf(label, sizeof label, "layer %.80s (%.19s...)", what, layer->digest);
	int rc = env_unpack(blob_read, &b, sg->dirfd, label, &sg->files, err);
	/* The digest decides even when unpacking failed: corrupt data is the
	 * likelier story than a bad archive, and the message should say so. */
	struct pyro_err derr;
	if (blob_finish(&b, &derr) < 0) {
		if (err)
			*err = derr;
		return -1;
	}
	return rc;
}

static int pull_into(struct pull *p, const struct envstore *st,
		     const struct env_catalog_entry *entry, struct env_install *out,
		     struct pyro_err *err)
{
	struct oci_manifest *m = calloc(1, sizeof *m);
	if (!m)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory");
	char digest[DIGEST_OCI_LEN + 1];
	report(p, "manifest", p->ref_text, 0, 0);
	int rc = get_manifest(p, p->ref.reference, m, digest, err);
	if (rc == 0 && m->is_index) {
		const struct oci_descriptor *pick;
		char ref[DIGEST_OCI_LEN + 1];
		rc = oci_index_pick(m, "linux", "amd64", &pick, err);
		if (rc == 0) {
			snprintf(ref, sizeof ref, "%s", pick->digest);
			rc = get_manifest(p, ref, m, digest, err);
		}
		if (rc == 0 && m->is_index)
			rc = pyro_err_set(err, PYRO_EXIT_FAILURE, "%s: an index inside an index is "
					  "not a pyro environment", p->ref_text);
	}
	struct env_staging sg;
	bool staged = false;
	if (rc == 0 && (rc = envstore_staging_begin(st, &sg, err)) == 0)
		staged = true;
	if (rc == 0)
		rc = fetch_config(p, m, &sg, err);
	for (size_t i = 0; rc == 0 && i < m->layer_count; i++)
		rc = fetch_layer(p, &m->layers[i], i, &sg, err);
	free(m);
	if (rc < 0) {
		if (staged)
			envstore_staging_abort(&sg);
		return -1;
	}
	report(p, "verify", entry->name, 0, 0);
	struct env_source source = { .kind = "oci", .ref = p->ref_text, .digest = digest };
	return envstore_commit(st, &sg, entry->name, entry->version, &source, out, err);
}

/* $PYRO_OCI_REQUEST_TIMEOUT_SECONDS: how long a registry may stay silent
 * (default: the HTTP client's). */
static int request_timeout(int *io_timeout_ms, struct pyro_err *err)
{
	const char *v = getenv("PYRO_OCI_REQUEST_TIMEOUT_SECONDS");
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	long secs = strtol(v, &end, 10);
	if (errno || *end || secs < 1 || secs > 3600)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "PYRO_OCI_REQUEST_TIMEOUT_SECONDS='%.40s' must be a whole number "
				    "of seconds from 1 to 3600", v);
	*io_timeout_ms = (int)secs * 1000;
	return 0;
}

int env_pull(const struct envstore *st, const struct env_catalog_entry *entry,
	     const struct env_pull_progress *progress, struct env_install *out,
	     bool *downloaded, struct pyro_err *err)
{
	*downloaded = false;
	int lock_fd;
	if (envstore_lock(st, entry->name, entry->version, &lock_fd, err) < 0)
		return -1;
	/* Checked under the lock: a concurrent pull may just have finished. */
	int rc = envstore_check(st, entry->name, entry->version, out, err);
	if (rc < 0 || out->installed) {
		envstore_unlock(&lock_fd);
		return rc;
	}
	envstore_install_release(out);
	struct pull *p = calloc(1, sizeof *p);
	if (!p) {
		envstore_unlock(&lock_fd);
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory");
	}
	p->progress = progress;
	http_client_init(&p->http);
	char reference[512];
	rc = request_timeout(&p->http.io_timeout_ms, err);
	if (rc == 0)
		rc = env_catalog_reference(entry, reference, sizeof reference, err);
	if (rc == 0)
		rc = oci_ref_parse(reference, &p->ref, err);
	if (rc == 0) {
		oci_ref_format(&p->ref, p->ref_text, sizeof p->ref_text);
		snprintf(p->base, sizeof p->base, "%s://%s", p->ref.plain_http ? "http" : "https",
			 p->ref.host);
		*downloaded = true;
		rc = pull_into(p, st, entry, out, err);
	}
	http_client_release(&p->http);
	free(p);
	envstore_unlock(&lock_fd);
	return rc;
}
