/* `pyro env import DIR|ARCHIVE`: install a local bundle (envstore.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envimport.h"
#include "exitcodes.h"

/* A bundle directory: copy manifest.json and the artifacts it names. */
static int stage_dir(const char *path, struct env_staging *sg, struct pyro_err *err)
{
	int src = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0)
		return pyro_err_sys(err, errno, "cannot open the bundle directory %s", path);
	struct env_manifest m;
	int rc = env_manifest_load(src, &m, err);
	if (rc < 0)
		pyro_err_wrap(err, "%s", path);
	if (rc == 0)
		rc = env_copy_file(src, sg->dirfd, "manifest.json", &sg->files, err);
	for (int r = 0; rc == 0 && r < ENV_ARTIFACT_COUNT; r++) {
		rc = env_copy_file(src, sg->dirfd, m.artifacts[r].path, &sg->files, err);
		if (rc < 0)
			pyro_err_wrap(err, "bundle %s", path);
	}
	if (m.doc)
		env_manifest_release(&m);
	close(src);
	return rc;
}

int envstore_import(const struct envstore *st, const char *path, struct env_install *out,
		    struct pyro_err *err)
{
	memset(out, 0, sizeof *out);
	struct stat sb;
	if (stat(path, &sb) != 0)
		return pyro_err_sys(err, errno, "cannot import %s", path);
	if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "%s is neither a bundle directory nor an archive", path);
	struct env_staging sg;
	if (envstore_staging_begin(st, &sg, err) < 0)
		return -1;
	int rc = S_ISDIR(sb.st_mode) ? stage_dir(path, &sg, err)
				     : env_unpack_file(path, sg.dirfd, &sg.files, err);
	struct env_manifest m = { 0 };
	if (rc == 0)
		rc = env_manifest_load(sg.dirfd, &m, err);
	const struct env_catalog_entry *entry = NULL;
	if (rc == 0 && !(entry = env_catalog_find(m.name, err)))
		rc = pyro_err_wrap(err, "the bundle %s", path);
	if (rc == 0 && strcmp(entry->version, m.version) != 0)
		rc = pyro_err_set(err, PYRO_EXIT_FAILURE,
				  "the bundle %s holds %s %s, but this pyro's catalog wants version "
				  "%s: build it with this checkout (make env-...) or pull it",
				  path, m.name, m.version, entry->version);
	if (m.doc)
		env_manifest_release(&m);
	if (rc < 0) {
		envstore_staging_abort(&sg);
		return -1;
	}
	int lock_fd;
	if (envstore_lock(st, entry->name, entry->version, &lock_fd, err) < 0) {
		envstore_staging_abort(&sg);
		return -1;
	}
	char ref[PATH_MAX];
	if (!realpath(path, ref))
		snprintf(ref, sizeof ref, "%s", path);
	struct env_source source = { .kind = "import", .ref = ref, .digest = NULL };
	rc = envstore_commit(st, &sg, entry->name, entry->version, &source, out, err);
	envstore_unlock(&lock_fd);
	return rc;
}
