/* The environment bundle manifest (manifest.json; format in
 * docs/environments.md): parse it strictly, and check a directory's files
 * against it.
 *
 * Parsing copies what pyro needs into fixed fields and keeps the parsed
 * tree (`doc`/`root`) for the parts that are only displayed (packages,
 * build inputs). Unknown keys are ignored, so later bundles can add fields.
 * Errors are PYRO_EXIT_FAILURE and name the field: "bundle manifest:
 * artifacts.rootfs.sha256 must be 64 lowercase hex characters". */
#ifndef PYRO_ENVMANIFEST_H
#define PYRO_ENVMANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"
#include "json.h"

#define ENV_NAME_MAX 64
#define ENV_VERSION_MAX 64
#define ENV_ARTIFACT_NAME_MAX 128
#define ENV_MANIFEST_MAX_BYTES (4u << 20)

enum env_artifact_role { ENV_ARTIFACT_KERNEL, ENV_ARTIFACT_ROOTFS, ENV_ARTIFACT_COUNT };

struct env_artifact {
	char path[ENV_ARTIFACT_NAME_MAX + 1]; /* plain file name in the bundle */
	char sha256[DIGEST_HEX_LEN + 1];
	uint64_t size;
};

struct env_manifest {
	char name[ENV_NAME_MAX + 1];
	char version[ENV_VERSION_MAX + 1];
	char platform[32];
	char description[512];
	char distribution[64];
	char distribution_version[64];
	char kernel_config_sha256[DIGEST_HEX_LEN + 1]; /* "" when absent */
	struct env_artifact artifacts[ENV_ARTIFACT_COUNT];
	struct json_doc *doc;    /* owns root */
	struct json_value *root; /* the whole parsed manifest */
};

/* "kernel", "rootfs". */
const char *env_artifact_role_name(enum env_artifact_role role);

/* Parse text[0..len). On success m owns a doc: env_manifest_release(). */
int env_manifest_parse(const char *text, size_t len, struct env_manifest *m,
		       struct pyro_err *err);
void env_manifest_release(struct env_manifest *m);

/* Read and parse dirfd/manifest.json. */
int env_manifest_load(int dirfd, struct env_manifest *m, struct pyro_err *err);

/* A catalog-style environment name: [a-z0-9][a-z0-9._:-]*, at most 64. */
bool env_name_valid(const char *name);

/* A plain artifact file name: [A-Za-z0-9._+-], not starting with '.', not
 * manifest.json or environment.json, at most 128 characters. */
bool env_artifact_name_valid(const char *name);

/* The install directory name of an environment: ':' and '/' become '_',
 * then "-VERSION" ("debian:12" 1.0.0 -> "debian_12-1.0.0"). */
int env_install_dir_name(const char *name, const char *version, char *out, size_t cap,
			 struct pyro_err *err);

#endif
