/* libFuzzer target for core/envmanifest.c: env_manifest_parse on arbitrary
 * bytes.
 *
 * Properties:
 *  - a failure is PYRO_EXIT_FAILURE, with a message that starts with
 *    "bundle manifest", and leaves no parsed tree behind;
 *  - an accepted manifest has a valid environment name, a non-empty
 *    version without '/' or ' ', platform linux-x86_64, two artifacts with
 *    plain, distinct file names (never manifest.json or environment.json)
 *    and 64 lowercase hex sha256, an empty or valid kernel_config_sha256,
 *    and no control characters in any copied string;
 *  - its install directory name is one path component that does not start
 *    with '.' and fits the buffer the cache uses;
 *  - env_name_valid / env_artifact_name_valid on the raw bytes agree with
 *    a direct reading of their rules. */
#include "fuzz.h"
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../../core/envmanifest.h"
#include "../../core/exitcodes.h"

static void check_clean(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	FUZZ_ASSERT(n < cap);
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static bool name_rule(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ENV_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool lower_digit = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!lower_digit && (i == 0 || (c != '.' && c != '_' && c != ':' && c != '-')))
			return false;
	}
	return true;
}

static bool artifact_rule(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ENV_ARTIFACT_NAME_MAX || s[0] == '.' || strchr(s, '/'))
		return false;
	if (!strcmp(s, "manifest.json") || !strcmp(s, "environment.json"))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '+' || c == '-'))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct env_manifest m;
	struct pyro_err err;
	if (env_manifest_parse((const char *)data, size, &m, &err) == 0) {
		FUZZ_ASSERT(m.doc && m.root && m.root->type == JSON_OBJECT);
		check_clean(m.name, sizeof m.name);
		check_clean(m.version, sizeof m.version);
		check_clean(m.platform, sizeof m.platform);
		check_clean(m.description, sizeof m.description);
		check_clean(m.distribution, sizeof m.distribution);
		check_clean(m.distribution_version, sizeof m.distribution_version);
		FUZZ_ASSERT(env_name_valid(m.name) && name_rule(m.name));
		FUZZ_ASSERT(m.version[0] && !strchr(m.version, '/') && !strchr(m.version, ' '));
		FUZZ_ASSERT(strcmp(m.platform, "linux-x86_64") == 0);
		FUZZ_ASSERT(!m.kernel_config_sha256[0] || digest_hex_valid(m.kernel_config_sha256));
		for (int r = 0; r < ENV_ARTIFACT_COUNT; r++) {
			const struct env_artifact *a = &m.artifacts[r];
			check_clean(a->path, sizeof a->path);
			FUZZ_ASSERT(env_artifact_name_valid(a->path) && artifact_rule(a->path));
			FUZZ_ASSERT(digest_hex_valid(a->sha256) && strlen(a->sha256) == DIGEST_HEX_LEN);
			FUZZ_ASSERT(a->size <= (uint64_t)INT64_MAX);
		}
		FUZZ_ASSERT(strcmp(m.artifacts[0].path, m.artifacts[1].path) != 0);
		const struct json_value *pk = json_get(m.root, "packages");
		FUZZ_ASSERT(!pk || pk->type == JSON_ARRAY);
		char dir[ENV_NAME_MAX + ENV_VERSION_MAX + 2];
		FUZZ_ASSERT(env_install_dir_name(m.name, m.version, dir, sizeof dir, &err) == 0);
		FUZZ_ASSERT(!strchr(dir, '/') && dir[0] != '.' && !strchr(dir, ':'));
		env_manifest_release(&m);
		FUZZ_ASSERT(m.doc == NULL && m.root == NULL);
	} else {
		FUZZ_ASSERT(m.doc == NULL && m.root == NULL);
		FUZZ_ASSERT(err.code == PYRO_EXIT_FAILURE);
		FUZZ_ASSERT(strncmp(err.msg, "bundle manifest", 15) == 0);
	}

	/* The name rules on the raw bytes (up to a NUL, at most 200). */
	char s[201];
	size_t n = size < 200 ? size : 200;
	memcpy(s, data, n);
	s[n] = '\0';
	FUZZ_ASSERT(env_name_valid(s) == name_rule(s));
	FUZZ_ASSERT(env_artifact_name_valid(s) == artifact_rule(s));
	return 0;
}
