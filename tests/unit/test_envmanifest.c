/* Tests for core/envmanifest.c: the bundle manifest parser
 * (docs/environments.md), names and install directory names. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/buf.h"
#include "../../core/envmanifest.h"
#include "../../core/exitcodes.h"
#include "tarbuild.h"
#include "test.h"

#define HEX_K "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX_R "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define HEX_C "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* The manifest from docs/environments.md, with made-up digests. */
static const char valid_manifest[] =
	"{\n"
	"  \"artifacts\": {\n"
	"    \"kernel\": {\"path\": \"vmlinux\", \"sha256\": \"" HEX_K "\", \"size\": 19822152},\n"
	"    \"rootfs\": {\"path\": \"rootfs.ext4\", \"sha256\": \"" HEX_R "\", \"size\": 24117248}\n"
	"  },\n"
	"  \"build_inputs\": {\"kernel\": {\"cache_key\": \"k1\"}, \"source_date_epoch\": 1778186025},\n"
	"  \"description\": \"Debian's busybox-static and nothing else.\",\n"
	"  \"distribution\": \"busybox\",\n"
	"  \"distribution_version\": \"1.35.0\",\n"
	"  \"kernel_config_sha256\": \"" HEX_C "\",\n"
	"  \"name\": \"test\",\n"
	"  \"packages\": [{\"name\": \"busybox-static\", \"version\": \"1:1.35.0-4+deb12u1+b1\"}],\n"
	"  \"platform\": \"linux-x86_64\",\n"
	"  \"schema_version\": 1,\n"
	"  \"version\": \"1.0.0\"\n"
	"}\n";

/* valid_manifest with the first occurrence of `find` replaced by `repl`
 * (into a static buffer); aborts when find is absent, so a table row that
 * no longer matches the template cannot silently test the valid case. */
static const char *edited(const char *find, const char *repl)
{
	static char out[8192];
	const char *at = strstr(valid_manifest, find);
	if (!at) {
		fprintf(stderr, "edited: '%s' not in the template\n", find);
		abort();
	}
	snprintf(out, sizeof out, "%.*s%s%s", (int)(at - valid_manifest), valid_manifest, repl,
		 at + strlen(find));
	return out;
}

TEST(envmanifest_valid_fields_copied)
{
	struct env_manifest m;
	struct pyro_err err = { 0 };
	CHECK(env_manifest_parse(valid_manifest, strlen(valid_manifest), &m, &err) == 0);
	CHECK_STR(m.name, "test");
	CHECK_STR(m.version, "1.0.0");
	CHECK_STR(m.platform, "linux-x86_64");
	CHECK_STR(m.description, "Debian's busybox-static and nothing else.");
	CHECK_STR(m.distribution, "busybox");
	CHECK_STR(m.distribution_version, "1.35.0");
	CHECK_STR(m.kernel_config_sha256, HEX_C);
	CHECK_STR(m.artifacts[ENV_ARTIFACT_KERNEL].path, "vmlinux");
	CHECK_STR(m.artifacts[ENV_ARTIFACT_KERNEL].sha256, HEX_K);
	CHECK(m.artifacts[ENV_ARTIFACT_KERNEL].size == 19822152);
	CHECK_STR(m.artifacts[ENV_ARTIFACT_ROOTFS].path, "rootfs.ext4");
	CHECK_STR(m.artifacts[ENV_ARTIFACT_ROOTFS].sha256, HEX_R);
	CHECK(m.artifacts[ENV_ARTIFACT_ROOTFS].size == 24117248);
	CHECK(m.doc && m.root && m.root->type == JSON_OBJECT);
	const struct json_value *pk = json_get(m.root, "packages");
	CHECK(pk && pk->type == JSON_ARRAY && pk->u.array.len == 1);
	CHECK_STR(json_get_str(pk->u.array.items[0], "version"), "1:1.35.0-4+deb12u1+b1");
	CHECK_STR(env_artifact_role_name(ENV_ARTIFACT_KERNEL), "kernel");
	CHECK_STR(env_artifact_role_name(ENV_ARTIFACT_ROOTFS), "rootfs");
	CHECK_STR(env_artifact_role_name(ENV_ARTIFACT_COUNT), "?");
	env_manifest_release(&m);
	CHECK(m.doc == NULL && m.root == NULL);
	env_manifest_release(&m); /* twice is harmless */
}

TEST(envmanifest_optional_fields_absent)
{
	static const char text[] =
		"{\"schema_version\": 1, \"name\": \"debian:12\", \"version\": \"2.0.0-rc.1\","
		" \"platform\": \"linux-x86_64\", \"artifacts\": {"
		"\"kernel\": {\"path\": \"vmlinux\", \"sha256\": \"" HEX_K "\", \"size\": 0},"
		"\"rootfs\": {\"path\": \"root+fs_1.img\", \"sha256\": \"" HEX_R "\", \"size\": 1}}}";
	struct env_manifest m;
	struct pyro_err err = { 0 };
	CHECK(env_manifest_parse(text, strlen(text), &m, &err) == 0);
	CHECK_STR(m.name, "debian:12");
	CHECK_STR(m.version, "2.0.0-rc.1");
	CHECK_STR(m.description, "");
	CHECK_STR(m.distribution, "");
	CHECK_STR(m.kernel_config_sha256, "");
	CHECK(json_get(m.root, "packages") == NULL);
	CHECK(m.artifacts[ENV_ARTIFACT_KERNEL].size == 0);
	CHECK_STR(m.artifacts[ENV_ARTIFACT_ROOTFS].path, "root+fs_1.img");
	env_manifest_release(&m);
}

TEST(envmanifest_unknown_keys_ignored)
{
	const char *t1 = edited("\"name\": \"test\",",
				"\"name\": \"test\", \"future\": {\"nested\": [1, 2.5, null]},"
				" \"zzz\": \"\\u0001 control chars in unknown keys are fine\",");
	char text[8192];
	snprintf(text, sizeof text, "%s", t1);
	struct env_manifest m;
	struct pyro_err err = { 0 };
	CHECK(env_manifest_parse(text, strlen(text), &m, &err) == 0);
	env_manifest_release(&m);
	/* Extra artifacts and extra artifact keys. */
	t1 = edited("\"rootfs\": {\"path\"",
		    "\"initrd\": {\"path\": \"x\"}, \"rootfs\": {\"compression\": \"none\", \"path\"");
	CHECK(env_manifest_parse(t1, strlen(t1), &m, &err) == 0);
	CHECK_STR(m.artifacts[ENV_ARTIFACT_ROOTFS].path, "rootfs.ext4");
	env_manifest_release(&m);
	/* Extra fields in packages entries, and an empty packages array. */
	t1 = edited("[{\"name\": \"busybox-static\"", "[], \"was\": [{\"name\": \"x\"");
	CHECK(env_manifest_parse(t1, strlen(t1), &m, &err) == 0);
	env_manifest_release(&m);
}

struct bad_case {
	const char *find;    /* NULL: `repl` is the whole document */
	const char *repl;
	const char *message; /* the whole expected message */
};

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct bad_case bad_cases[] = {
	{ "\"name\": \"test\",", "", "bundle manifest: name is missing" },
	{ "\"name\": \"test\"", "\"name\": \"Test\"",
	  "bundle manifest: name 'Test' is not a valid environment name ([a-z0-9][a-z0-9._:-]*, "
	  "at most 64 characters)" },
	{ "\"name\": \"test\"", "\"name\": \"te st\"",
	  "bundle manifest: name 'te st' is not a valid environment name ([a-z0-9][a-z0-9._:-]*, "
	  "at most 64 characters)" },
	{ "\"name\": \"test\"", "\"name\": \"-test\"",
	  "bundle manifest: name '-test' is not a valid environment name ([a-z0-9][a-z0-9._:-]*, "
	  "at most 64 characters)" },
	{ "\"name\": \"test\"", "\"name\": \"debian/12\"",
	  "bundle manifest: name 'debian/12' is not a valid environment name "
	  "([a-z0-9][a-z0-9._:-]*, at most 64 characters)" },
	{ "\"name\": \"test\"", "\"name\": \"" A64 "b\"",
	  "bundle manifest: name is longer than 64 bytes" },
	{ "\"name\": \"test\"", "\"name\": \"\"", "bundle manifest: name is empty" },
	{ "\"name\": \"test\"", "\"name\": 5", "bundle manifest: name must be a string (got number)" },
	{ "\"name\": \"test\"", "\"name\": \"te\\nst\"",
	  "bundle manifest: name contains a control character" },
	{ "\"name\": \"test\"", "\"name\": \"te\\u0000st\"",
	  "bundle manifest: name contains a control character" },
	{ "\"schema_version\": 1", "\"schema_version\": 2",
	  "bundle manifest: schema_version must be 1 (this pyro reads version 1 bundles; a newer "
	  "bundle needs a newer pyro)" },
	{ "\"schema_version\": 1", "\"schema_version\": \"1\"",
	  "bundle manifest: schema_version must be 1 (this pyro reads version 1 bundles; a newer "
	  "bundle needs a newer pyro)" },
	{ "\"schema_version\": 1,", "", "bundle manifest: schema_version is missing" },
	{ "\"version\": \"1.0.0\"", "\"version\": \"\"", "bundle manifest: version is empty" },
	{ "\"version\": \"1.0.0\"", "\"version\": \"1/0\"",
	  "bundle manifest: version '1/0' must not contain '/' or spaces" },
	{ "\"version\": \"1.0.0\"", "\"version\": \"1.0 \"",
	  "bundle manifest: version '1.0 ' must not contain '/' or spaces" },
	{ "\"version\": \"1.0.0\"", "\"version\": \"1.0\\t\"",
	  "bundle manifest: version contains a control character" },
	{ "\"platform\": \"linux-x86_64\"", "\"platform\": \"linux-aarch64\"",
	  "bundle manifest: platform is 'linux-aarch64', but this pyro runs linux-x86_64 guests" },
	{ "\"platform\": \"linux-x86_64\",", "", "bundle manifest: platform is missing" },
	{ "\"description\": \"Debian's", "\"description\": \"\\u007f Debian's",
	  "bundle manifest: description contains a control character" },
	{ "\"distribution\": \"busybox\"", "\"distribution\": \"busy\\u001bbox\"",
	  "bundle manifest: distribution contains a control character" },
	{ "\"distribution\": \"busybox\"", "\"distribution\": [\"busybox\"]",
	  "bundle manifest: distribution must be a string (got array)" },
	{ "\"kernel_config_sha256\": \"" HEX_C "\"", "\"kernel_config_sha256\": \"abc\"",
	  "bundle manifest: kernel_config_sha256 must be 64 lowercase hex characters" },
	{ "\"artifacts\"", "\"artefacts\"",
	  "bundle manifest: artifacts must be an object with kernel and rootfs" },
	{ "\"artifacts\": {", "\"artifacts\": [], \"x\": {",
	  "bundle manifest: artifacts must be an object with kernel and rootfs" },
	{ "\"kernel\": {\"path\"", "\"kernal\": {\"path\"",
	  "bundle manifest: artifacts.kernel is missing" },
	{ "\"rootfs\": {\"path\"", "\"rootfs2\": {\"path\"",
	  "bundle manifest: artifacts.rootfs is missing" },
	{ "\"kernel\": {\"path\"", "\"kernel\": \"vmlinux\", \"k\": {\"path\"",
	  "bundle manifest: artifacts.kernel must be an object" },
	{ "\"path\": \"vmlinux\", ", "", "bundle manifest: artifacts.kernel.path is missing" },
	{ "\"path\": \"vmlinux\"", "\"path\": \"boot/vmlinux\"",
	  "bundle manifest: artifacts.kernel.path 'boot/vmlinux' is not a plain file name "
	  "(letters, digits, . _ + -; not starting with '.')" },
	{ "\"path\": \"vmlinux\"", "\"path\": \".vmlinux\"",
	  "bundle manifest: artifacts.kernel.path '.vmlinux' is not a plain file name "
	  "(letters, digits, . _ + -; not starting with '.')" },
	{ "\"path\": \"vmlinux\"", "\"path\": \"..\"",
	  "bundle manifest: artifacts.kernel.path '..' is not a plain file name "
	  "(letters, digits, . _ + -; not starting with '.')" },
	{ "\"path\": \"vmlinux\"", "\"path\": \"\"", "bundle manifest: artifacts.kernel.path is empty" },
	{ "\"path\": \"rootfs.ext4\"", "\"path\": \"manifest.json\"",
	  "bundle manifest: artifacts.rootfs.path 'manifest.json' is not a plain file name "
	  "(letters, digits, . _ + -; not starting with '.')" },
	{ "\"path\": \"rootfs.ext4\"", "\"path\": \"environment.json\"",
	  "bundle manifest: artifacts.rootfs.path 'environment.json' is not a plain file name "
	  "(letters, digits, . _ + -; not starting with '.')" },
	{ "\"path\": \"rootfs.ext4\"", "\"path\": \"rootfs\\u0001\"",
	  "bundle manifest: artifacts.rootfs.path contains a control character" },
	{ "\"path\": \"rootfs.ext4\"", "\"path\": \"vmlinux\"",
	  "bundle manifest: kernel and rootfs name the same file 'vmlinux'" },
	{ HEX_R, "FEDCBA9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
	  "bundle manifest: artifacts.rootfs.sha256 must be 64 lowercase hex characters" },
	{ HEX_R, "fedcba9876543210fedcba9876543210fedcba9876543210fedcba987654321",
	  "bundle manifest: artifacts.rootfs.sha256 must be 64 lowercase hex characters" },
	{ HEX_R, "", "bundle manifest: artifacts.rootfs.sha256 is empty" },
	{ HEX_R, HEX_R "0", "bundle manifest: artifacts.rootfs.sha256 is longer than 64 bytes" },
	{ HEX_K, "0123456789abcdeg0123456789abcdef0123456789abcdef0123456789abcdef",
	  "bundle manifest: artifacts.kernel.sha256 must be 64 lowercase hex characters" },
	{ "\"size\": 19822152", "\"size\": -1",
	  "bundle manifest: artifacts.kernel.size must be a non-negative integer" },
	{ "\"size\": 19822152", "\"size\": 1.5",
	  "bundle manifest: artifacts.kernel.size must be a non-negative integer" },
	{ "\"size\": 24117248", "\"size\": \"24117248\"",
	  "bundle manifest: artifacts.rootfs.size must be a non-negative integer" },
	{ ", \"size\": 24117248", "",
	  "bundle manifest: artifacts.rootfs.size must be a non-negative integer" },
	{ "\"size\": 24117248", "\"size\": 1e300",
	  "bundle manifest: artifacts.rootfs.size must be a non-negative integer" },
	{ "\"packages\": [", "\"packages\": \"busybox\", \"p\": [",
	  "bundle manifest: packages must be an array" },
	{ NULL, "[{\"name\": \"test\"}]",
	  "bundle manifest: the top level must be an object (got array)" },
	{ NULL, "\"test\"", "bundle manifest: the top level must be an object (got string)" },
	{ NULL, "null", "bundle manifest: the top level must be an object (got null)" },
};

TEST(envmanifest_invalid_table)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *c = &bad_cases[i];
		const char *text = c->find ? edited(c->find, c->repl) : c->repl;
		struct env_manifest m;
		struct pyro_err err = { 0 };
		int rc = env_manifest_parse(text, strlen(text), &m, &err);
		if (rc != -1 || err.code != PYRO_EXIT_FAILURE || strcmp(err.msg, c->message) != 0 ||
		    m.doc != NULL || m.root != NULL) {
			fprintf(stderr, "    case %zu (%s -> %s): rc %d code %d\n", i,
				c->find ? c->find : "(whole)", c->repl, rc, err.code);
			CHECK_STR(err.msg, c->message);
			CHECK(rc == -1 && err.code == PYRO_EXIT_FAILURE && m.doc == NULL);
		}
	}
}

TEST(envmanifest_invalid_json)
{
	static const char *const texts[] = { "", "{", "{\"name\": \"test\",}", "{} {}",
					     "{\"a\": tru}", "\xef\xbb\xbf{}" };
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct env_manifest m;
		struct pyro_err err = { 0 };
		CHECK(env_manifest_parse(texts[i], strlen(texts[i]), &m, &err) == -1);
		CHECK(err.code == PYRO_EXIT_FAILURE);
		CHECK(strncmp(err.msg, "bundle manifest: invalid JSON at line ", 38) == 0);
		CHECK(m.doc == NULL);
	}
	/* A NUL inside the document is not JSON either. */
	struct env_manifest m;
	struct pyro_err err = { 0 };
	CHECK(env_manifest_parse("{}\0", 3, &m, &err) == -1);
	CHECK_CONTAINS(err.msg, "bundle manifest: invalid JSON");
	/* NULL err is allowed. */
	CHECK(env_manifest_parse("[]", 2, &m, NULL) == -1);
	CHECK(m.doc == NULL);
}

TEST(envmanifest_too_large)
{
	size_t n = ENV_MANIFEST_MAX_BYTES + 1;
	char *big = malloc(n);
	CHECK(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	struct env_manifest m;
	struct pyro_err err = { 0 };
	int rc = env_manifest_parse(big, n, &m, &err);
	free(big);
	CHECK(rc == -1);
	CHECK_STR(err.msg, "bundle manifest is larger than 4194304 bytes");
	CHECK(m.doc == NULL);
}

TEST(envmanifest_load_from_dir)
{
	char dir[PATH_MAX], p[PATH_MAX + 32];
	CHECK(tb_mkdir("mf", dir) == 0);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	struct env_manifest m;
	struct pyro_err err = { 0 };
	CHECK(env_manifest_load(dfd, &m, &err) == -1);
	CHECK_CONTAINS(err.msg, "cannot open manifest.json");
	snprintf(p, sizeof p, "%s/manifest.json", dir);
	FILE *f = fopen(p, "w");
	CHECK(f);
	fputs(valid_manifest, f);
	fclose(f);
	CHECK(env_manifest_load(dfd, &m, &err) == 0);
	CHECK_STR(m.name, "test");
	env_manifest_release(&m);
	/* A symlink named manifest.json is not followed. */
	char real[PATH_MAX + 32];
	snprintf(real, sizeof real, "%s/real.json", dir);
	CHECK(rename(p, real) == 0);
	CHECK(symlink("real.json", p) == 0);
	CHECK(env_manifest_load(dfd, &m, &err) == -1);
	CHECK_CONTAINS(err.msg, "cannot open manifest.json");
	CHECK(m.doc == NULL);
	close(dfd);
}

TEST(envmanifest_install_dir_name)
{
	char out[ENV_NAME_MAX + ENV_VERSION_MAX + 2];
	struct pyro_err err = { 0 };
	CHECK(env_install_dir_name("debian:12", "1.0.0", out, sizeof out, &err) == 0);
	CHECK_STR(out, "debian_12-1.0.0");
	CHECK(env_install_dir_name("debian:12-build", "1.0.0", out, sizeof out, &err) == 0);
	CHECK_STR(out, "debian_12-build-1.0.0");
	CHECK(env_install_dir_name("test", "1:2", out, sizeof out, &err) == 0);
	CHECK_STR(out, "test-1_2");
	/* The longest name and version fit the buffer callers use. */
	char name[ENV_NAME_MAX + 1], version[ENV_VERSION_MAX + 1];
	memset(name, 'n', ENV_NAME_MAX);
	name[ENV_NAME_MAX] = '\0';
	memset(version, 'v', ENV_VERSION_MAX);
	version[ENV_VERSION_MAX] = '\0';
	CHECK(env_install_dir_name(name, version, out, sizeof out, &err) == 0);
	CHECK(strlen(out) == ENV_NAME_MAX + 1 + ENV_VERSION_MAX);
	char small[8];
	CHECK(env_install_dir_name("debian:12", "1.0.0", small, sizeof small, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_STR(err.msg, "environment name and version are too long: debian:12 1.0.0");
}

TEST(envmanifest_name_valid_table)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "test", true },      { "debian:12", true },   { "debian:12-base", true },
		{ "a", true },         { "0", true },           { "a.b_c:d-e", true },
		{ "9lives", true },    { "", false },           { "Test", false },
		{ "-a", false },       { ".a", false },         { ":a", false },
		{ "_a", false },       { "a b", false },        { "a/b", false },
		{ "a@b", false },      { "caf\xc3\xa9", false }, { "a\n", false },
		{ "tEst", false },     { "a+b", false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (env_name_valid(cases[i].s) != cases[i].ok) {
			fprintf(stderr, "    env_name_valid(\"%s\") should be %d\n", cases[i].s,
				cases[i].ok);
			CHECK(0);
		}
	}
	char s[ENV_NAME_MAX + 2];
	memset(s, 'a', sizeof s - 1);
	s[ENV_NAME_MAX] = '\0';
	CHECK(env_name_valid(s));
	s[ENV_NAME_MAX] = 'a';
	s[ENV_NAME_MAX + 1] = '\0';
	CHECK(!env_name_valid(s));
}

TEST(envmanifest_artifact_name_valid_table)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "vmlinux", true },           { "rootfs.ext4", true },    { "Image-6.1+x_y", true },
		{ "a..b", true },              { "manifest.json.bak", true },
		{ "", false },                 { ".", false },             { "..", false },
		{ ".hidden", false },          { "a/b", false },           { "/abs", false },
		{ "manifest.json", false },    { "environment.json", false },
		{ "a b", false },              { "a:b", false },           { "a\\b", false },
		{ "caf\xc3\xa9", false },      { "a\tb", false },          { "~x", false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (env_artifact_name_valid(cases[i].s) != cases[i].ok) {
			fprintf(stderr, "    env_artifact_name_valid(\"%s\") should be %d\n",
				cases[i].s, cases[i].ok);
			CHECK(0);
		}
	}
	char s[ENV_ARTIFACT_NAME_MAX + 2];
	memset(s, 'x', sizeof s - 1);
	s[ENV_ARTIFACT_NAME_MAX] = '\0';
	CHECK(env_artifact_name_valid(s));
	s[ENV_ARTIFACT_NAME_MAX] = 'x';
	s[ENV_ARTIFACT_NAME_MAX + 1] = '\0';
	CHECK(!env_artifact_name_valid(s));
}
