/* Bundle manifest parsing and validation (docs/environments.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "envmanifest.h"
#include "exitcodes.h"

static const char *const role_names[ENV_ARTIFACT_COUNT] = { "kernel", "rootfs" };

const char *env_artifact_role_name(enum env_artifact_role role)
{
	return (unsigned)role < ENV_ARTIFACT_COUNT ? role_names[role] : "?";
}

bool env_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > ENV_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || !strchr("._:-", c)))
			return false;
	}
	return true;
}

bool env_artifact_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > ENV_ARTIFACT_NAME_MAX || name[0] == '.')
		return false;
	if (strcmp(name, "manifest.json") == 0 || strcmp(name, "environment.json") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._+-", c)))
			return false;
	}
	return true;
}

int env_install_dir_name(const char *name, const char *version, char *out, size_t cap,
			 struct pyro_err *err)
{
	int n = snprintf(out, cap, "%s-%s", name, version);
	if (n < 0 || (size_t)n >= cap)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "environment name and version are too long: %.64s %.64s", name,
				    version);
	for (char *p = out; *p; p++)
		if (*p == ':' || *p == '/')
			*p = '_';
	return 0;
}

/* A string member that must exist (or may be absent when optional), fit
 * cap and be free of control characters. */
static int take_string(const struct json_value *obj, const char *where, const char *key,
		       bool required, char *dst, size_t cap, struct pyro_err *err)
{
	const struct json_value *v = json_get(obj, key);
	if (!v) {
		dst[0] = '\0';
		return required ? pyro_err_set(err, PYRO_EXIT_FAILURE,
					       "bundle manifest: %s%s is missing", where, key)
				: 0;
	}
	if (v->type != JSON_STRING)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: %s%s must be a string (got %s)", where, key,
				    json_type_name(v->type));
	if (v->u.string.len >= cap)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: %s%s is longer than %zu bytes", where, key,
				    cap - 1);
	for (size_t i = 0; i < v->u.string.len; i++)
		if ((unsigned char)v->u.string.ptr[i] < 0x20 || v->u.string.ptr[i] == 0x7f)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "bundle manifest: %s%s contains a control character",
					    where, key);
	memcpy(dst, v->u.string.ptr, v->u.string.len + 1);
	if (required && dst[0] == '\0')
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "bundle manifest: %s%s is empty",
				    where, key);
	return 0;
}

static int take_artifact(const struct json_value *artifacts, enum env_artifact_role role,
			 struct env_artifact *a, struct pyro_err *err)
{
	const char *role_name = role_names[role];
	char where[64];
	snprintf(where, sizeof where, "artifacts.%s.", role_name);
	const struct json_value *obj = json_get(artifacts, role_name);
	if (!obj)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: artifacts.%s is missing", role_name);
	if (obj->type != JSON_OBJECT)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: artifacts.%s must be an object", role_name);
	if (take_string(obj, where, "path", true, a->path, sizeof a->path, err) < 0 ||
	    take_string(obj, where, "sha256", true, a->sha256, sizeof a->sha256, err) < 0)
		return -1;
	if (!env_artifact_name_valid(a->path))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: %spath '%s' is not a plain file name "
				    "(letters, digits, . _ + -; not starting with '.')",
				    where, a->path);
	if (!digest_hex_valid(a->sha256))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: %ssha256 must be 64 lowercase hex characters",
				    where);
	const struct json_value *size = json_get(obj, "size");
	if (!size || size->type != JSON_NUMBER || !size->u.number.is_int ||
	    size->u.number.i < 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: %ssize must be a non-negative integer", where);
	a->size = (uint64_t)size->u.number.i;
	return 0;
}

static int check_manifest(const struct json_value *root, struct env_manifest *m,
			  struct pyro_err *err)
{
	if (root->type != JSON_OBJECT)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: the top level must be an object (got %s)",
				    json_type_name(root->type));
	int64_t schema = 0;
	if (!json_get(root, "schema_version"))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: schema_version is missing");
	if (!json_get_int(root, "schema_version", &schema) || schema != 1)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: schema_version must be 1 (this pyro reads "
				    "version 1 bundles; a newer bundle needs a newer pyro)");
	if (take_string(root, "", "name", true, m->name, sizeof m->name, err) < 0 ||
	    take_string(root, "", "version", true, m->version, sizeof m->version, err) < 0 ||
	    take_string(root, "", "platform", true, m->platform, sizeof m->platform, err) < 0 ||
	    take_string(root, "", "description", false, m->description, sizeof m->description,
			err) < 0 ||
	    take_string(root, "", "distribution", false, m->distribution,
			sizeof m->distribution, err) < 0 ||
	    take_string(root, "", "distribution_version", false, m->distribution_version,
			sizeof m->distribution_version, err) < 0 ||
	    take_string(root, "", "kernel_config_sha256", false, m->kernel_config_sha256,
			sizeof m->kernel_config_sha256, err) < 0)
		return -1;
	if (!env_name_valid(m->name))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: name '%s' is not a valid environment name "
				    "([a-z0-9][a-z0-9._:-]*, at most %d characters)",
				    m->name, ENV_NAME_MAX);
	for (const char *p = m->version; *p; p++)
		if (*p == '/' || *p == ' ')
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "bundle manifest: version '%s' must not contain '/' or "
					    "spaces", m->version);
	if (strcmp(m->platform, "linux-x86_64") != 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: platform is '%s', but this pyro runs "
				    "linux-x86_64 guests", m->platform);
	if (m->kernel_config_sha256[0] && !digest_hex_valid(m->kernel_config_sha256))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: kernel_config_sha256 must be 64 lowercase "
				    "hex characters");
	const struct json_value *artifacts = json_get(root, "artifacts");
	if (!artifacts || artifacts->type != JSON_OBJECT)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: artifacts must be an object with kernel and "
				    "rootfs");
	for (int r = 0; r < ENV_ARTIFACT_COUNT; r++)
		if (take_artifact(artifacts, (enum env_artifact_role)r, &m->artifacts[r], err) < 0)
			return -1;
	if (strcmp(m->artifacts[ENV_ARTIFACT_KERNEL].path,
		   m->artifacts[ENV_ARTIFACT_ROOTFS].path) == 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: kernel and rootfs name the same file '%s'",
				    m->artifacts[ENV_ARTIFACT_KERNEL].path);
	const struct json_value *packages = json_get(root, "packages");
	if (packages && packages->type != JSON_ARRAY)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest: packages must be an array");
	return 0;
}

int env_manifest_parse(const char *text, size_t len, struct env_manifest *m,
		       struct pyro_err *err)
{
	memset(m, 0, sizeof *m);
	if (len > ENV_MANIFEST_MAX_BYTES)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "bundle manifest is larger than %u bytes", ENV_MANIFEST_MAX_BYTES);
	m->doc = json_doc_new();
	if (!m->doc)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory parsing a bundle manifest");
	struct json_limits limits = { .max_input_bytes = ENV_MANIFEST_MAX_BYTES, .max_depth = 16 };
	if (json_parse(m->doc, text, len, &limits, &m->root, err) < 0) {
		pyro_err_wrap(err, "bundle manifest");
		if (err)
			err->code = PYRO_EXIT_FAILURE;
		env_manifest_release(m);
		return -1;
	}
	if (check_manifest(m->root, m, err) < 0) {
		env_manifest_release(m);
		return -1;
	}
	return 0;
}

void env_manifest_release(struct env_manifest *m)
{
	if (!m)
		return;
	json_doc_free(m->doc);
	m->doc = NULL;
	m->root = NULL;
}

int env_manifest_load(int dirfd, struct env_manifest *m, struct pyro_err *err)
{
	memset(m, 0, sizeof *m);
	/* O_NONBLOCK: a FIFO in its place must not block the open. */
	int fd = openat(dirfd, "manifest.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return pyro_err_sys(err, errno, "cannot open manifest.json");
	struct buf text;
	buf_init(&text, ENV_MANIFEST_MAX_BYTES + 1);
	int rc = buf_read_fd(&text, fd);
	int e = errno;
	close(fd);
	if (rc < 0) {
		buf_release(&text);
		return pyro_err_sys(err, e, "cannot read manifest.json");
	}
	rc = env_manifest_parse(text.data ? text.data : "", text.len, m, err);
	buf_release(&text);
	return rc;
}
