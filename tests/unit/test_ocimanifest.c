/* Tests for core/ocimanifest.c: OCI / Docker manifests and indexes, layer
 * media types, image references. */
#include <stdio.h>
#include <string.h>

#include "../../core/buf.h"
#include "../../core/exitcodes.h"
#include "../../core/ocimanifest.h"
#include "test.h"

#define D_CFG "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D_L0 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D_L1 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define D_M "sha256:4444444444444444444444444444444444444444444444444444444444444444"
#define D_N "sha256:5555555555555555555555555555555555555555555555555555555555555555"

static const char pyro_manifest[] =
	"{\"schemaVersion\": 2,"
	" \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\","
	" \"artifactType\": \"application/vnd.pyro.environment.v1\","
	" \"config\": {\"mediaType\": \"application/vnd.pyro.environment.manifest.v1+json\","
	"   \"digest\": \"" D_CFG "\", \"size\": 1234},"
	" \"layers\": ["
	"  {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\", \"digest\": \"" D_L0 "\","
	"   \"size\": 5000000, \"annotations\": {\"org.opencontainers.image.title\": \"vmlinux\"}},"
	"  {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\", \"digest\": \"" D_L1 "\","
	"   \"size\": 9007199254740993, \"annotations\": {\"org.opencontainers.image.title\":"
	"   \"rootfs.ext4\", \"other\": 1}}],"
	" \"annotations\": {\"org.opencontainers.image.version\": \"1.0.0\"},"
	" \"unknownField\": [1, 2, 3]}";

static const char *replaced(const char *text, const char *find, const char *repl)
{
	static char out[16384];
	const char *at = strstr(text, find);
	if (!at) {
		fprintf(stderr, "replaced: '%s' not found\n", find);
		return "";
	}
	snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, repl, at + strlen(find));
	return out;
}

/* Parse and return the error message, or "" on success. */
static const char *parse_err(const char *text, const char *ct, struct oci_manifest *m)
{
	static struct pyro_err err;
	memset(&err, 0, sizeof err);
	int rc = oci_manifest_parse(text, strlen(text), ct, m, &err);
	if (rc == 0)
		return "";
	if (rc != -1 || err.code != PYRO_EXIT_FAILURE)
		return "(bad error state)";
	return err.msg;
}

static struct oci_manifest m; /* 10 KiB: keep it off the stack */

TEST(oci_manifest_config_and_layers)
{
	CHECK_STR(parse_err(pyro_manifest, NULL, &m), "");
	CHECK(!m.is_index);
	CHECK_STR(m.media_type, OCI_MT_MANIFEST);
	CHECK_STR(m.artifact_type, PYRO_ARTIFACT_TYPE);
	CHECK_STR(m.config.media_type, PYRO_MT_BUNDLE_MANIFEST);
	CHECK_STR(m.config.digest, D_CFG);
	CHECK(m.config.size == 1234);
	CHECK_STR(m.config.title, "");
	CHECK(m.layer_count == 2);
	CHECK_STR(m.layers[0].media_type, OCI_MT_LAYER_TAR_ZSTD);
	CHECK_STR(m.layers[0].digest, D_L0);
	CHECK(m.layers[0].size == 5000000);
	CHECK_STR(m.layers[0].title, "vmlinux");
	CHECK_STR(m.layers[1].digest, D_L1);
	CHECK(m.layers[1].size == 9007199254740993ull);
	CHECK_STR(m.layers[1].title, "rootfs.ext4");
	CHECK(m.manifest_count == 0);
	/* The Content-Type does not override the document's own mediaType. */
	CHECK_STR(parse_err(pyro_manifest, OCI_MT_INDEX, &m), "");
	CHECK(!m.is_index && m.layer_count == 2);
	/* No layers at all is a valid (if useless) manifest. */
	const char *t = replaced(pyro_manifest, "\"layers\": [", "\"layers\": [], \"x\": [");
	CHECK_STR(parse_err(t, NULL, &m), "");
	CHECK(m.layer_count == 0);
}

TEST(oci_manifest_media_type_from_content_type)
{
	const char *t = replaced(pyro_manifest,
				 "\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",",
				 "");
	char text[16384];
	snprintf(text, sizeof text, "%s", t);
	CHECK_STR(parse_err(text, OCI_MT_MANIFEST "; charset=utf-8", &m), "");
	CHECK_STR(m.media_type, OCI_MT_MANIFEST);
	CHECK(m.layer_count == 2);
	CHECK_STR(parse_err(text, "  " OCI_MT_DOCKER_MANIFEST " ;charset=\"utf-8\"", &m), "");
	CHECK_STR(m.media_type, OCI_MT_DOCKER_MANIFEST);
	/* Neither says: the shape decides (no "manifests": an image manifest). */
	CHECK_STR(parse_err(text, NULL, &m), "");
	CHECK_STR(m.media_type, OCI_MT_MANIFEST);
	CHECK_STR(parse_err(text, "", &m), "");
	CHECK_STR(m.media_type, OCI_MT_MANIFEST);
	/* A Content-Type that is neither. */
	CHECK_STR(parse_err(text, "application/json; charset=utf-8", &m),
		  "OCI manifest: media type 'application/json' is neither an image manifest nor "
		  "an index");
	/* An index as Content-Type makes it an index, which needs manifests. */
	CHECK_STR(parse_err(text, OCI_MT_INDEX, &m), "OCI manifest: manifests must be an array");
}

TEST(oci_manifest_docker_schema2)
{
	static const char text[] =
		"{\"schemaVersion\": 2,"
		" \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\","
		" \"config\": {\"mediaType\": \"application/vnd.docker.container.image.v1+json\","
		"  \"size\": 7023, \"digest\": \"" D_CFG "\"},"
		" \"layers\": [{\"mediaType\": \"application/vnd.docker.image.rootfs.diff.tar.gzip\","
		"  \"size\": 32654, \"digest\": \"" D_L0 "\"}]}";
	CHECK_STR(parse_err(text, NULL, &m), "");
	CHECK(!m.is_index);
	CHECK_STR(m.media_type, OCI_MT_DOCKER_MANIFEST);
	CHECK_STR(m.artifact_type, "");
	CHECK(m.layer_count == 1);
	CHECK_STR(m.layers[0].title, "");
	enum oci_compression c = OCI_COMPRESSION_NONE;
	struct pyro_err err = { 0 };
	CHECK(oci_layer_compression(m.layers[0].media_type, &c, &err) == 0);
	CHECK(c == OCI_COMPRESSION_GZIP);
}

static const char index_doc[] =
	"{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.oci.image.index.v1+json\","
	" \"manifests\": ["
	"  {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" D_L0 "\","
	"   \"size\": 100, \"platform\": {\"os\": \"linux\", \"architecture\": \"arm64\","
	"   \"variant\": \"v8\"}},"
	"  {\"mediaType\": \"application/vnd.oci.image.index.v1+json\", \"digest\": \"" D_N "\","
	"   \"size\": 300, \"platform\": {\"os\": \"linux\", \"architecture\": \"amd64\"}},"
	"  {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" D_L1 "\","
	"   \"size\": 200},"
	"  {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" D_M "\","
	"   \"size\": 400, \"platform\": {\"architecture\": \"amd64\", \"os\": \"linux\"}}"
	" ]}";

TEST(oci_index_pick_linux_amd64)
{
	struct pyro_err err = { 0 };
	CHECK_STR(parse_err(index_doc, NULL, &m), "");
	CHECK(m.is_index);
	CHECK_STR(m.media_type, OCI_MT_INDEX);
	CHECK(m.manifest_count == 4);
	CHECK_STR(m.manifests[0].os, "linux");
	CHECK_STR(m.manifests[0].arch, "arm64");
	CHECK_STR(m.manifests[2].os, "");
	const struct oci_descriptor *d = NULL;
	/* The nested index for linux/amd64 comes first and is skipped. */
	CHECK(oci_index_pick(&m, "linux", "amd64", &d, &err) == 0);
	CHECK(d == &m.manifests[3]);
	CHECK_STR(d->digest, D_M);
	CHECK(d->size == 400);
	CHECK(oci_index_pick(&m, "linux", "arm64", &d, &err) == 0);
	CHECK_STR(d->digest, D_L0);
	d = NULL;
	CHECK(oci_index_pick(&m, "linux", "riscv64", &d, &err) == -1);
	CHECK(d == NULL);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_STR(err.msg, "the OCI index has no image manifest for linux/riscv64 (4 entries)");
	/* Only the nested index matches: not picked. */
	const char *t = replaced(index_doc, "\"architecture\": \"amd64\", \"os\"",
				 "\"architecture\": \"s390x\", \"os\"");
	CHECK_STR(parse_err(t, NULL, &m), "");
	CHECK(oci_index_pick(&m, "linux", "amd64", &d, &err) == -1);
	CHECK_STR(err.msg, "the OCI index has no image manifest for linux/amd64 (4 entries)");
	/* An index without a mediaType: from the Content-Type, or from its shape. */
	t = replaced(index_doc, "\"mediaType\": \"application/vnd.oci.image.index.v1+json\",", "");
	char text[16384];
	snprintf(text, sizeof text, "%s", t);
	CHECK_STR(parse_err(text, OCI_MT_DOCKER_LIST "; charset=utf-8", &m), "");
	CHECK(m.is_index);
	CHECK_STR(m.media_type, OCI_MT_DOCKER_LIST);
	CHECK_STR(parse_err(text, NULL, &m), "");
	CHECK(m.is_index && m.manifest_count == 4);
	/* An empty index parses and has nothing to pick. */
	CHECK_STR(parse_err("{\"schemaVersion\": 2, \"manifests\": []}", NULL, &m), "");
	CHECK(m.is_index && m.manifest_count == 0);
	CHECK(oci_index_pick(&m, "linux", "amd64", &d, &err) == -1);
	CHECK_STR(err.msg, "the OCI index has no image manifest for linux/amd64 (0 entries)");
}

TEST(oci_manifest_errors)
{
	static const struct {
		const char *find, *repl, *msg;
	} cases[] = {
		{ "\"schemaVersion\": 2", "\"schemaVersion\": 1", "OCI manifest: schemaVersion must be 2" },
		{ "\"schemaVersion\": 2,", "", "OCI manifest: schemaVersion must be 2" },
		{ "\"schemaVersion\": 2", "\"schemaVersion\": \"2\"",
		  "OCI manifest: schemaVersion must be 2" },
		{ "\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\"",
		  "\"mediaType\": \"application/vnd.oci.image.config.v1+json\"",
		  "OCI manifest: media type 'application/vnd.oci.image.config.v1+json' is neither an "
		  "image manifest nor an index" },
		{ "\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\"",
		  "\"mediaType\": 5", "OCI manifest: mediaType must be a string" },
		{ "\"artifactType\": \"application/vnd.pyro.environment.v1\"",
		  "\"artifactType\": \"a\\u0000b\"", "OCI manifest: artifactType is too long or contains NUL" },
		{ "\"config\": {", "\"config\": [], \"c\": {", "OCI manifest: config must be an object" },
		{ "\"config\": {", "\"c\": {", "OCI manifest: config must be an object" },
		{ "\"layers\": [", "\"layers\": {}, \"x\": [", "OCI manifest: layers must be an array" },
		{ "\"layers\": [", "\"l\": [", "OCI manifest: layers must be an array" },
		{ D_CFG, "sha512:1111111111111111111111111111111111111111111111111111111111111111",
		  "OCI manifest: config.digest: digest 'sha512:" "1111111111111111111111111111111111111111111111111111111111111111" "' uses an unsupported algorithm (pyro verifies sha256 "
		  "only)" },
		{ D_L1, "sha256:33333333333333333333333333333333333333333333333333333333333333ZZ",
		  "OCI manifest: layers[1].digest: digest 'sha256:3333333333333333333333333333333333"
		  "3333333333333333333333333333ZZ' is malformed (expected sha256:<64 lowercase hex>)" },
		{ D_L1, "sha256:3333", "OCI manifest: layers[1].digest: digest 'sha256:3333' is "
		  "malformed (expected sha256:<64 lowercase hex>)" },
		{ D_L0, "2222222222222222222222222222222222222222222222222222222222222222",
		  "OCI manifest: layers[0].digest: digest '22222222222222222222222222222222222222222222"
		  "22222222222222222222' has no algorithm (expected sha256:<64 hex>)" },
		{ "\"digest\": \"" D_L0 "\",", "", "OCI manifest: layers[0].digest is missing" },
		{ "{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\", \"digest\": \"" D_L0,
		  "{\"digest\": \"" D_L0, "OCI manifest: layers[0].mediaType is missing" },
		{ "\"size\": 5000000", "\"size\": -5", "OCI manifest: layers[0].size must be a "
		  "non-negative integer" },
		{ "\"size\": 5000000", "\"size\": 5.5", "OCI manifest: layers[0].size must be a "
		  "non-negative integer" },
		{ "\"size\": 1234", "\"size\": \"1234\"", "OCI manifest: config.size must be a "
		  "non-negative integer" },
		{ "\"org.opencontainers.image.title\": \"vmlinux\"",
		  "\"org.opencontainers.image.title\": 7",
		  "OCI manifest: layers[0].org.opencontainers.image.title must be a string" },
		{ "{\"schemaVersion\"", "[{\"schemaVersion\"", "OCI manifest: the top level must be an object" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[16384];
		snprintf(text, sizeof text, "%s", replaced(pyro_manifest, cases[i].find, cases[i].repl));
		if (cases[i].find[0] == '{' && cases[i].find[1] == '"' && cases[i].repl[0] == '[')
			strcat(text, "]");
		const char *got = parse_err(text, NULL, &m);
		if (strcmp(got, cases[i].msg) != 0)
			fprintf(stderr, "    case %zu\n", i);
		CHECK_STR(got, cases[i].msg);
	}
	CHECK_STR(parse_err("{", NULL, &m), "OCI manifest: invalid JSON at line 1, column 2: "
		  "unexpected end of input, expected '\"' to begin an object key");
	struct pyro_err err = { 0 };
	CHECK(oci_manifest_parse("", 0, NULL, &m, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK(strncmp(err.msg, "OCI manifest: invalid JSON at line ", 35) == 0);
	CHECK(oci_manifest_parse("{", 1, NULL, &m, NULL) == -1);
}

TEST(oci_manifest_too_many_layers)
{
	struct buf b = BUF_INIT;
	for (int n = OCI_MAX_LAYERS; n <= OCI_MAX_LAYERS + 1; n++) {
		buf_reset(&b);
		buf_printf(&b, "{\"schemaVersion\": 2, \"config\": {\"mediaType\": \"x\", "
			       "\"digest\": \"%s\", \"size\": 1}, \"layers\": [", D_CFG);
		for (int i = 0; i < n; i++)
			buf_printf(&b, "%s{\"mediaType\": \"%s\", \"digest\": \"%s\", \"size\": %d}",
				   i ? "," : "", OCI_MT_LAYER_TAR, D_L0, i);
		buf_append_str(&b, "]}");
		const char *got = parse_err(b.data, NULL, &m);
		if (n == OCI_MAX_LAYERS) {
			CHECK_STR(got, "");
			CHECK(m.layer_count == OCI_MAX_LAYERS);
			CHECK(m.layers[15].size == 15);
		} else {
			buf_release(&b);
			CHECK_STR(got, "OCI manifest: 17 layers is more than pyro reads (16)");
		}
	}
	/* And for indexes. */
	buf_reset(&b);
	buf_append_str(&b, "{\"schemaVersion\": 2, \"manifests\": [");
	for (int i = 0; i <= OCI_MAX_MANIFESTS; i++)
		buf_printf(&b, "%s{\"mediaType\": \"%s\", \"digest\": \"%s\", \"size\": 1}",
			   i ? "," : "", OCI_MT_MANIFEST, D_M);
	buf_append_str(&b, "]}");
	const char *got = parse_err(b.data, NULL, &m);
	buf_release(&b);
	CHECK_STR(got, "OCI manifest: 65 manifests is more than pyro reads (64)");
}

TEST(oci_layer_compression_mapping)
{
	static const struct {
		const char *mt;
		enum oci_compression c;
	} ok[] = {
		{ OCI_MT_LAYER_TAR, OCI_COMPRESSION_NONE },
		{ OCI_MT_LAYER_TAR_GZIP, OCI_COMPRESSION_GZIP },
		{ OCI_MT_DOCKER_LAYER, OCI_COMPRESSION_GZIP },
		{ OCI_MT_LAYER_TAR_ZSTD, OCI_COMPRESSION_ZSTD },
	};
	struct pyro_err err = { 0 };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		enum oci_compression c = (enum oci_compression)99;
		CHECK(oci_layer_compression(ok[i].mt, &c, &err) == 0);
		CHECK(c == ok[i].c);
	}
	static const char *const bad[] = {
		"application/vnd.oci.image.layer.v1.tar+bzip2",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+gzip; x=1",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum oci_compression c = OCI_COMPRESSION_ZSTD;
		CHECK(oci_layer_compression(bad[i], &c, &err) == -1);
		CHECK(c == OCI_COMPRESSION_ZSTD);
		CHECK(err.code == PYRO_EXIT_FAILURE);
	}
	CHECK(oci_layer_compression("application/vnd.oci.image.layer.v1.tar+bzip2", NULL, &err) ==
	      -1);
	CHECK_STR(err.msg, "layer media type 'application/vnd.oci.image.layer.v1.tar+bzip2' is not "
		  "one pyro reads (tar, tar+gzip, tar+zstd)");
}

/* ---- references ------------------------------------------------------- */

static const char *ref_err(const char *text)
{
	static struct pyro_err err;
	struct oci_ref r;
	memset(&err, 0, sizeof err);
	if (oci_ref_parse(text, &r, &err) == 0)
		return "";
	if (err.code != PYRO_EXIT_USAGE)
		return "(not a usage error)";
	return err.msg;
}

TEST(oci_ref_parse_forms)
{
	static const struct {
		const char *text;
		bool plain_http, by_digest;
		const char *host, *repo, *ref, *formatted;
	} cases[] = {
		{ "localhost:5000/pyro/environment-test:1.0.0", false, false, "localhost:5000",
		  "pyro/environment-test", "1.0.0", "localhost:5000/pyro/environment-test:1.0.0" },
		{ "registry.pyro-sandbox.dev/pyro/environment-debian-12", false, false,
		  "registry.pyro-sandbox.dev", "pyro/environment-debian-12", "latest",
		  "registry.pyro-sandbox.dev/pyro/environment-debian-12:latest" },
		{ "http://127.0.0.1:5000/a/b/c/d:v1_2-3.x", true, false, "127.0.0.1:5000", "a/b/c/d",
		  "v1_2-3.x", "http://127.0.0.1:5000/a/b/c/d:v1_2-3.x" },
		{ "https://ghcr.io/o.r_g/re-po:Tag", false, false, "ghcr.io", "o.r_g/re-po", "Tag",
		  "ghcr.io/o.r_g/re-po:Tag" },
		{ "host/repo@" D_M, false, true, "host", "repo", D_M, "host/repo@" D_M },
		{ "http://[::1]:5000/x@" D_N, true, true, "[::1]:5000", "x", D_N,
		  "http://[::1]:5000/x@" D_N },
		{ NULL, false, false, NULL, NULL, NULL, NULL },
	};
	for (size_t i = 0; cases[i].host; i++) {
		struct oci_ref r;
		struct pyro_err err = { 0 };
		if (oci_ref_parse(cases[i].text, &r, &err) != 0) {
			fprintf(stderr, "    %s: %s\n", cases[i].text, err.msg);
			CHECK(0);
		}
		CHECK(r.plain_http == cases[i].plain_http);
		CHECK(r.by_digest == cases[i].by_digest);
		CHECK_STR(r.host, cases[i].host);
		CHECK_STR(r.repository, cases[i].repo);
		CHECK_STR(r.reference, cases[i].ref);
		char out[1024];
		oci_ref_format(&r, out, sizeof out);
		CHECK_STR(out, cases[i].formatted);
		/* Round trip: the formatted reference parses to the same fields. */
		struct oci_ref back;
		CHECK(oci_ref_parse(out, &back, &err) == 0);
		CHECK(back.plain_http == r.plain_http && back.by_digest == r.by_digest);
		CHECK_STR(back.host, r.host);
		CHECK_STR(back.repository, r.repository);
		CHECK_STR(back.reference, r.reference);
	}
	/* A tag of exactly 128 characters is fine. */
	char text[300];
	char tag[130];
	memset(tag, 't', 128);
	tag[128] = '\0';
	snprintf(text, sizeof text, "h/r:%s", tag);
	CHECK_STR(ref_err(text), "");
}

TEST(oci_ref_parse_errors)
{
	CHECK_STR(ref_err("repo:tag"), "image reference 'repo:tag' has no registry host (expected "
		  "HOST[:PORT]/REPOSITORY[:TAG])");
	CHECK_STR(ref_err("/repo:tag"), "image reference '/repo:tag' has no registry host "
		  "(expected HOST[:PORT]/REPOSITORY[:TAG])");
	CHECK_STR(ref_err("https:///repo"), "image reference 'https:///repo' has no registry host "
		  "(expected HOST[:PORT]/REPOSITORY[:TAG])");
	CHECK_STR(ref_err(""), "image reference '' has no registry host (expected "
		  "HOST[:PORT]/REPOSITORY[:TAG])");
	CHECK_STR(ref_err("host/Repo:tag"), "image reference 'host/Repo:tag': repository 'Repo' is "
		  "not valid (lowercase path components of a-z 0-9 . _ -)");
	CHECK_STR(ref_err("host/a//b:tag"), "image reference 'host/a//b:tag': repository 'a//b' is "
		  "not valid (lowercase path components of a-z 0-9 . _ -)");
	CHECK_STR(ref_err("host/a/:tag"), "image reference 'host/a/:tag': repository 'a/' is "
		  "not valid (lowercase path components of a-z 0-9 . _ -)");
	CHECK_STR(ref_err("host/"), "image reference 'host/': repository '' is not valid "
		  "(lowercase path components of a-z 0-9 . _ -)");
	CHECK_STR(ref_err("host/-a"), "image reference 'host/-a': repository '-a' is not valid "
		  "(lowercase path components of a-z 0-9 . _ -)");
	CHECK_STR(ref_err("host/a/.b"), "image reference 'host/a/.b': repository 'a/.b' is not "
		  "valid (lowercase path components of a-z 0-9 . _ -)");
	CHECK_STR(ref_err("host/repo:"), "image reference 'host/repo:': tag '' is not valid "
		  "([A-Za-z0-9_][A-Za-z0-9._-]*, at most 128)");
	CHECK_STR(ref_err("host/repo:-x"), "image reference 'host/repo:-x': tag '-x' is not valid "
		  "([A-Za-z0-9_][A-Za-z0-9._-]*, at most 128)");
	CHECK_STR(ref_err("host/repo:a:b"), "image reference 'host/repo:a:b': tag 'a:b' is not "
		  "valid ([A-Za-z0-9_][A-Za-z0-9._-]*, at most 128)");
	CHECK_STR(ref_err("host/repo:a+b"), "image reference 'host/repo:a+b': tag 'a+b' is not "
		  "valid ([A-Za-z0-9_][A-Za-z0-9._-]*, at most 128)");
	char text[300], tag[130];
	memset(tag, 't', 129);
	tag[129] = '\0';
	snprintf(text, sizeof text, "h/r:%s", tag);
	char want[600];
	snprintf(want, sizeof want, "image reference '%s': tag '%s' is not valid "
		 "([A-Za-z0-9_][A-Za-z0-9._-]*, at most 128)", text, tag);
	CHECK_STR(ref_err(text), want);
	CHECK_STR(ref_err("ho st/repo"), "image reference 'ho st/repo': the registry host 'ho st' "
		  "contains ' '");
	CHECK_STR(ref_err("user@host/repo"), "image reference 'user@host/repo': the registry host "
		  "'user@host' contains '@'");
	CHECK_STR(ref_err("host/repo@sha512:00"), "image reference 'host/repo@sha512:00': digest "
		  "'sha512:00' uses an unsupported algorithm (pyro verifies sha256 only)");
	CHECK_STR(ref_err("host/repo@sha256:abc"), "image reference 'host/repo@sha256:abc': digest "
		  "'sha256:abc' is malformed (expected sha256:<64 lowercase hex>)");
	CHECK_STR(ref_err("host/repo:tag@" D_M), "image reference 'host/repo:tag@" D_M "': "
		  "repository 'repo:tag' is not valid (lowercase path components of a-z 0-9 . _ -)");
	char longhost[400];
	memset(longhost, 'h', 300);
	snprintf(longhost + 300, sizeof longhost - 300, "/r");
	char want2[600];
	snprintf(want2, sizeof want2, "image reference '%.200s': the registry host is too long",
		 longhost);
	CHECK_STR(ref_err(longhost), want2);
	struct oci_ref r;
	CHECK(oci_ref_parse("nohost", &r, NULL) == -1);
}
