/* Archive actions: extract_archive (a tar body into /workspace),
 * export_archive (a workspace path as a tar answer body) and
 * install_secrets (a tar of secret files into /run/pyro-secrets, whose
 * contents are then redacted from everything the agent answers). The
 * member rules are core/tarsafe.h's, the tar work core/wsarchive.h's. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/wsarchive.h"
#include "../core/wspath.h"

static int oom(struct pyro_err *err)
{
	pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	return -1;
}

/* The archive comes straight from the request body. */
static ssize_t pull_body(void *ctx, void *buf, size_t cap, struct pyro_err *err)
{
	return agent_body_read(ctx, buf, cap, err);
}

/* Open a directory of the (test) root for *at() work, never through a
 * symlink at its last component. */
static int open_root_dir(const char *guest_abs, struct pyro_err *err)
{
	char p[PATH_MAX];
	if (agent_path(p, guest_abs, err) < 0)
		return -1;
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		pyro_err_sys(err, errno, "opening %s", guest_abs);
	return fd;
}

/* Resolve a workspace path to (workspace dir fd, relative suffix). */
static int workspace_target(struct agent_call *c, const char *raw, const char **guest,
			    const char **rel, struct pyro_err *err)
{
	char host[PATH_MAX];
	if (agent_workspace_path(c, raw, guest, host, err) < 0)
		return -1;
	*rel = wspath_suffix(*guest);
	return open_root_dir(AGENT_WORKSPACE_DIR, err);
}

int agent_action_extract_archive(struct agent_call *c, struct pyro_err *err)
{
	const char *raw, *guest, *rel;
	if (agent_req_str(c, "destination", AGENT_WORKSPACE_DIR, &raw, err) < 0)
		return -1;
	int ws = workspace_target(c, raw, &guest, &rel, err);
	if (ws < 0)
		return -1;
	int dest;
	int rc = wsarchive_open_dir(ws, rel, 1, &dest, err);
	close(ws);
	if (rc < 0)
		return -1;
	struct wsarchive_stats st;
	rc = wsarchive_extract(dest, pull_body, c, NULL, &st, err);
	close(dest);
	if (rc < 0)
		return -1;
	if (json_set_str(c->doc, c->resp, "destination", guest) < 0 ||
	    json_set_int(c->doc, c->resp, "entry_count", (int64_t)st.entry_count) < 0 ||
	    json_set_int(c->doc, c->resp, "bytes_written", (int64_t)st.bytes_written) < 0)
		return oom(err);
	return 0;
}

/* An anonymous file for the export: the size must be known before the
 * first body byte, so the tar is built first (as the original did). Disk
 * beats memory: /var/tmp before /tmp (a tmpfs in guests). */
static int spool_file(struct pyro_err *err)
{
	static const char *const dirs[] = { "/var/tmp", "/tmp", "/run", NULL };
	int last = 0;
	for (const char *const *d = dirs; *d; d++) {
		char p[PATH_MAX];
		if (agent_path(p, *d, NULL) < 0)
			continue;
		int fd = open(p, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		last = errno;
	}
	pyro_err_sys(err, last, "creating a temporary file for the export");
	return -1;
}

int agent_action_export_archive(struct agent_call *c, struct pyro_err *err)
{
	const char *raw, *guest, *rel;
	if (agent_req_str(c, "path", AGENT_WORKSPACE_DIR, &raw, err) < 0)
		return -1;
	int ws = workspace_target(c, raw, &guest, &rel, err);
	if (ws < 0)
		return -1;
	int spool = spool_file(err);
	if (spool < 0) {
		close(ws);
		return -1;
	}
	struct wsarchive_export_info info;
	int rc = wsarchive_export(ws, rel, guest, spool, 0, &info, err);
	close(ws);
	if (rc == 0 && lseek(spool, 0, SEEK_SET) != 0) {
		pyro_err_sys(err, errno, "rewinding the export");
		rc = -1;
	}
	if (rc < 0) {
		close(spool);
		return -1;
	}
	agent_reply_body_fd(c, spool, info.archive_size);
	if (json_set_str(c->doc, c->resp, "workspace_path", guest) < 0 ||
	    json_set_str(c->doc, c->resp, "artifact_type",
			 wsarchive_artifact_name(info.artifact_type)) < 0 ||
	    json_set_int(c->doc, c->resp, "archive_size", (int64_t)info.archive_size) < 0 ||
	    json_set_int(c->doc, c->resp, "entry_count", (int64_t)info.entry_count) < 0 ||
	    json_set_int(c->doc, c->resp, "bytes_written", (int64_t)info.bytes_written) < 0)
		return oom(err);
	return 0;
}

/* ---- install_secrets ---------------------------------------------------- */

/* A secret file larger than this is installed but not used for redaction
 * (a key file of that size is not a value anyone prints). */
#define SECRET_REDACT_MAX (64 << 10)

/* nftw has no context argument; installs are serialised by this lock. */
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pyro_err *walk_err;

/* Tighten modes (dirs 0700, files 0600) and register each file's content,
 * with and without a trailing newline, as a value to redact. */
static int secure_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_D || type == FTW_DP)
		return chmod(path, 0700) < 0 ? (pyro_err_sys(walk_err, errno, "securing %s", path), 1)
					     : 0;
	if (type != FTW_F)
		return 0;
	if (chmod(path, 0600) < 0) {
		pyro_err_sys(walk_err, errno, "securing %s", path);
		return 1;
	}
	if (st->st_size == 0 || st->st_size > SECRET_REDACT_MAX)
		return 0;
	struct buf b;
	buf_init(&b, SECRET_REDACT_MAX);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int rc = fd < 0 ? -1 : buf_read_fd(&b, fd);
	if (fd >= 0)
		close(fd);
	if (rc == 0 && b.len) {
		const char *vals[2] = { b.data, NULL };
		size_t n = 1;
		if (agent_secrets_add(vals, n, walk_err) < 0)
			rc = -1;
		while (rc == 0 && b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
			buf_truncate(&b, b.len - 1);
		if (rc == 0 && b.len && agent_secrets_add(vals, n, walk_err) < 0)
			rc = -1;
	}
	buf_release(&b);
	if (rc < 0 && !walk_err->msg[0])
		pyro_err_sys(walk_err, errno, "reading %s", path);
	return rc < 0;
}

int agent_action_install_secrets(struct agent_call *c, struct pyro_err *err)
{
	char dir[PATH_MAX];
	if (agent_path(dir, AGENT_SECRET_DIR, err) < 0)
		return -1;
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || chmod(dir, 0700) < 0) {
		pyro_err_sys(err, errno, "creating %s", AGENT_SECRET_DIR);
		return -1;
	}
	int fd = open_root_dir(AGENT_SECRET_DIR, err);
	if (fd < 0)
		return -1;
	struct wsarchive_stats st;
	pthread_mutex_lock(&secrets_lock);
	int rc = wsarchive_extract(fd, pull_body, c, NULL, &st, err);
	close(fd);
	if (rc == 0) {
		memset(err, 0, sizeof *err);
		walk_err = err;
		if (nftw(dir, secure_entry, 16, FTW_PHYS) != 0) {
			if (!err->msg[0])
				pyro_err_sys(err, errno, "securing %s", AGENT_SECRET_DIR);
			rc = -1;
		}
		walk_err = NULL;
	}
	pthread_mutex_unlock(&secrets_lock);
	if (rc < 0)
		return -1;
	if (json_set_str(c->doc, c->resp, "destination", AGENT_SECRET_DIR) < 0 ||
	    json_set_int(c->doc, c->resp, "entry_count", (int64_t)st.entry_count) < 0 ||
	    json_set_int(c->doc, c->resp, "bytes_written", (int64_t)st.bytes_written) < 0)
		return oom(err);
	return 0;
}
