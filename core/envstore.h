/* The environment cache: where installed environments live, whether an
 * install is valid, and how one is installed, listed and pruned.
 *
 * Layout (docs/environments.md, "The cache"):
 *   $PYRO_ENVIRONMENT_CACHE_DIR, else <cache dir>/environments (paths.h)
 *     linux-x86_64/
 *       debian_12-1.0.0/         one install: manifest.json, the artifacts,
 *                                environment.json (how and when it came)
 *       .partial-XXXXXX/         an install in progress (flock held on it)
 *       .debian_12-1.0.0.lock    serialises installs of that environment
 *
 * An install is valid only when environment.json and manifest.json parse,
 * name and version agree with the directory, manifest.json still has the
 * sha256 recorded at install time, and every artifact is present with the
 * manifest's size and sha256. Hashing a rootfs on every `env list` would
 * take seconds, so environment.json also records each artifact's inode,
 * size and mtime when it was verified; a file whose stat still matches is
 * trusted, any other is hashed again.
 *
 * Installs are atomic: files are written into a .partial- directory in the
 * same file system, verified there, then renamed into place; a crash
 * leaves only a .partial- directory, which the next install or prune
 * removes. A broken install counts as not installed and is replaced by the
 * next install. */
#ifndef PYRO_ENVSTORE_H
#define PYRO_ENVSTORE_H

#include <limits.h>
#include <stdbool.h>

#include "envcatalog.h"
#include "envmanifest.h"
#include "envunpack.h"
#include "err.h"

#define ENV_PLATFORM "linux-x86_64"

struct envstore {
	char dir[PATH_MAX];          /* the environments cache dir */
	char platform_dir[PATH_MAX]; /* dir/linux-x86_64 */
};

/* Resolve the directories (nothing is created). */
int envstore_open(struct envstore *st, struct pyro_err *err);

struct env_install {
	bool installed;              /* valid install */
	bool present;                /* the install directory exists */
	char install_dir[PATH_MAX];
	char problem[512];           /* why a present install is not valid */
	char source[16];             /* "oci", "import" */
	char source_ref[512];        /* image reference or imported path */
	char source_digest[DIGEST_OCI_LEN + 1]; /* OCI manifest digest, or "" */
	char installed_at[32];       /* UTC, ISO 8601 */
	struct env_manifest manifest; /* when installed; release with envstore_install_release */
};

/* Describe the install of name/version (not an error when missing). */
int envstore_check(const struct envstore *st, const char *name, const char *version,
		   struct env_install *out, struct pyro_err *err);
void envstore_install_release(struct env_install *in);

/* A staging directory for a new install: created under platform_dir (made
 * when missing) and flock'ed for as long as it exists. */
struct env_staging {
	char path[PATH_MAX];
	int dirfd;                   /* open, locked */
	struct env_unpacked files;   /* what has been written into it */
};
int envstore_staging_begin(const struct envstore *st, struct env_staging *sg,
			   struct pyro_err *err);
/* Remove the staging directory (when not committed) and unlock. */
void envstore_staging_abort(struct env_staging *sg);

struct env_source {
	const char *kind;            /* "oci", "import" */
	const char *ref;             /* what it came from */
	const char *digest;          /* OCI manifest digest or NULL */
};

/* Verify the staged bundle (manifest.json parses and names expect_name and
 * expect_version, every artifact present with its sha256 and size), write
 * environment.json, and move it into place, replacing a broken install of
 * the same name and version. The caller holds envstore_lock for that name
 * and version. Always ends the staging (committed or removed). On success
 * *out describes the new install. */
int envstore_commit(const struct envstore *st, struct env_staging *sg,
		    const char *expect_name, const char *expect_version,
		    const struct env_source *source, struct env_install *out,
		    struct pyro_err *err);

/* Take the per-environment install lock (waits for another pyro process
 * installing the same environment). */
int envstore_lock(const struct envstore *st, const char *name, const char *version,
		  int *lock_fd, struct pyro_err *err);
void envstore_unlock(int *lock_fd);

/* Remove installs that are not the catalog version of a catalog entry,
 * broken installs and abandoned .partial- directories. Names of removed
 * directories go into `deleted` (an array the caller owns in doc). */
struct json_doc;
struct json_value;
int envstore_prune(const struct envstore *st, struct json_doc *doc, struct json_value *deleted,
		   struct pyro_err *err);

#endif
