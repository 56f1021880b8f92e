/* Live workspace file actions: list_workspace, read_workspace_file,
 * write_workspace_file, delete_workspace_path. Behaviour and messages are
 * the original's file operations, run against /workspace (agent_path()). */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/atomicfile.h"
#include "../core/base64.h"
#include "../core/exitcodes.h"
#include "../core/fault.h"

#define FILE_MAX_BYTES (1 << 20)          /* write cap and read max_bytes cap */
#define FILE_DEFAULT_READ_BYTES 65536
#define LIST_MAX_ENTRIES 100000
#define LIST_MAX_DEPTH 256

static int oom(struct pyro_err *err)
{
	pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	return -1;
}

/* An entry as the original describes one: path, artifact_type, size_bytes,
 * link_target. *type is "file", "directory" or "symlink"; anything else
 * (fifo, socket, device) is NULL. */
static struct json_value *describe(struct agent_call *c, const char *guest, const char *host,
				   const struct stat *st, const char **type)
{
	struct json_value *e = json_object(c->doc);
	const char *target = NULL;
	int64_t size = 0;
	char link[PATH_MAX];
	if (S_ISLNK(st->st_mode)) {
		*type = "symlink";
		ssize_t n = readlink(host, link, sizeof link - 1);
		link[n < 0 ? 0 : n] = 0;
		target = link;
		size = st->st_size;
	} else if (S_ISDIR(st->st_mode)) {
		*type = "directory";
	} else if (S_ISREG(st->st_mode)) {
		*type = "file";
		size = st->st_size;
	} else {
		*type = NULL;
		return e;
	}
	if (!e || json_set_str(c->doc, e, "path", guest) < 0 ||
	    json_set_str(c->doc, e, "artifact_type", *type) < 0 ||
	    json_set_int(c->doc, e, "size_bytes", size) < 0 ||
	    json_object_set(c->doc, e, "link_target", json_string(c->doc, target)) < 0)
		return NULL;
	return e;
}

/* lstat a workspace path; "workspace path does not exist: P" when absent. */
static int lstat_entry(const char *guest, const char *host, struct stat *st,
		       struct pyro_err *err)
{
	if (lstat(host, st) == 0)
		return 0;
	if (errno == ENOENT || errno == ENOTDIR)
		pyro_err_set(err, PYRO_EXIT_FAILURE, "workspace path does not exist: %s", guest);
	else
		pyro_err_sys(err, errno, "inspecting %s", guest);
	return -1;
}

/* Every directory between /workspace and the target must be a real
 * directory: writing or deleting through a symlinked parent could touch a
 * file outside the workspace. */
static int check_no_symlink_parents(const char *host, const char *guest, struct pyro_err *err)
{
	char ws[PATH_MAX], p[PATH_MAX];
	if (agent_path(ws, AGENT_WORKSPACE_DIR, err) < 0)
		return -1;
	size_t wl = strlen(ws), n = strlen(host);
	memcpy(p, host, n + 1);
	for (size_t i = wl + 1; i < n; i++) {
		if (p[i] != '/')
			continue;
		p[i] = 0;
		struct stat st;
		int is_link = lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
		p[i] = '/';
		if (is_link) {
			pyro_err_set(err, PYRO_EXIT_USAGE,
				     "workspace path would traverse through a symlinked parent: %s",
				     guest);
			return -1;
		}
	}
	return 0;
}

struct child {
	char *name;
	struct stat st;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct child *)a)->name, ((const struct child *)b)->name);
}

static void free_children(struct child *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* Append the sorted entries of directory `host` (guest path `guest`) to
 * arr, descending into subdirectories when recursive. */
static int walk(struct agent_call *c, struct json_value *arr, const char *guest, const char *host,
		bool recursive, int depth, struct pyro_err *err)
{
	if (depth > LIST_MAX_DEPTH) {
		pyro_err_set(err, PYRO_EXIT_FAILURE, "workspace tree is deeper than %d levels at %s",
			     LIST_MAX_DEPTH, guest);
		return -1;
	}
	DIR *d = opendir(host);
	if (!d) {
		pyro_err_sys(err, errno, "listing %s", guest);
		return -1;
	}
	struct child *kids = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			struct child *k = pyro_realloc(kids, cap * sizeof *k);
			if (!k) {
				oom(err);
				goto out;
			}
			kids = k;
		}
		if (fstatat(dirfd(d), de->d_name, &kids[n].st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished meanwhile */
		kids[n].name = strdup(de->d_name);
		if (!kids[n].name) {
			oom(err);
			goto out;
		}
		n++;
	}
	if (n > 1)
		qsort(kids, n, sizeof *kids, by_name);
	for (size_t i = 0; i < n; i++) {
		if (arr->u.array.len >= LIST_MAX_ENTRIES) {
			pyro_err_set(err, PYRO_EXIT_FAILURE,
				     "workspace listing has more than %d entries; list a subdirectory",
				     LIST_MAX_ENTRIES);
			goto out;
		}
		struct buf g = BUF_INIT, h = BUF_INIT;
		int bad = buf_printf(&g, "%s/%s", guest, kids[i].name) < 0 ||
			  buf_printf(&h, "%s/%s", host, kids[i].name) < 0;
		const char *type = NULL;
		struct json_value *e = bad ? NULL : describe(c, g.data, h.data, &kids[i].st, &type);
		int sub = 0;
		if (e && type) {
			sub = json_array_push(c->doc, arr, e) < 0 ? -1 : 0;
			if (sub == 0 && recursive && S_ISDIR(kids[i].st.st_mode))
				sub = walk(c, arr, g.data, h.data, recursive, depth + 1, err) < 0 ? -2 : 0;
		}
		buf_release(&g);
		buf_release(&h);
		if (bad || !e || sub == -1) {
			oom(err);
			goto out;
		}
		if (sub < 0)
			goto out;
		/* Fifos, sockets and devices are not workspace content: the
		 * listing skips them rather than failing as a whole. */
	}
	rc = 0;
out:
	free_children(kids, n);
	closedir(d);
	return rc;
}

int agent_action_list_workspace(struct agent_call *c, struct pyro_err *err)
{
	const char *raw, *guest;
	bool recursive;
	char host[PATH_MAX];
	struct stat st;
	if (agent_req_str(c, "path", AGENT_WORKSPACE_DIR, &raw, err) < 0 ||
	    agent_req_bool(c, "recursive", false, &recursive, err) < 0 ||
	    agent_workspace_path(c, raw, &guest, host, err) < 0 ||
	    lstat_entry(guest, host, &st, err) < 0)
		return -1;
	const char *type;
	struct json_value *self = describe(c, guest, host, &st, &type);
	struct json_value *entries = json_array(c->doc);
	if (!self || !entries)
		return oom(err);
	if (!type) {
		pyro_err_set(err, PYRO_EXIT_FAILURE, "unsupported workspace path type: %s", guest);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		if (walk(c, entries, guest, host, recursive, 0, err) < 0)
			return -1;
	} else if (json_array_push(c->doc, entries, self) < 0) {
		return oom(err);
	}
	if (json_set_str(c->doc, c->resp, "path", guest) < 0 ||
	    json_set_str(c->doc, c->resp, "artifact_type", type) < 0 ||
	    json_object_set(c->doc, c->resp, "entries", entries) < 0)
		return oom(err);
	return 0;
}

int agent_action_read_workspace_file(struct agent_call *c, struct pyro_err *err)
{
	const char *raw, *guest;
	int64_t max_bytes;
	char host[PATH_MAX];
	struct stat st;
	if (agent_req_str(c, "path", "", &raw, err) < 0 ||
	    agent_req_int(c, "max_bytes", FILE_DEFAULT_READ_BYTES, INT64_MIN, INT64_MAX, &max_bytes,
			  err) < 0)
		return -1;
	if (max_bytes <= 0) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "max_bytes must be positive");
		return -1;
	}
	if (max_bytes > FILE_MAX_BYTES) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "max_bytes must be at most %d bytes",
			     FILE_MAX_BYTES);
		return -1;
	}
	if (agent_workspace_path(c, raw, &guest, host, err) < 0 ||
	    lstat_entry(guest, host, &st, err) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "workspace file read only supports regular files");
		return -1;
	}
	int fd = open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		pyro_err_sys(err, errno, "opening %s", guest);
		return -1;
	}
	/* Read one byte past the cap to tell "exactly max" from "more". */
	struct buf data, b64 = BUF_INIT;
	buf_init(&data, (size_t)max_bytes + 1);
	int rc = buf_read_fd(&data, fd);
	int saved = errno;
	close(fd);
	if (rc < 0 && saved != EMSGSIZE) {
		buf_release(&data);
		pyro_err_sys(err, saved, "reading %s", guest);
		return -1;
	}
	bool truncated = data.len > (size_t)max_bytes || st.st_size > max_bytes;
	if (data.len > (size_t)max_bytes)
		buf_truncate(&data, (size_t)max_bytes);
	rc = base64_encode(&b64, data.data, data.len);
	if (rc == 0 &&
	    (json_set_str(c->doc, c->resp, "path", guest) < 0 ||
	     json_set_int(c->doc, c->resp, "size_bytes", st.st_size) < 0 ||
	     json_set_int(c->doc, c->resp, "max_bytes", max_bytes) < 0 ||
	     json_set_bool(c->doc, c->resp, "truncated", truncated) < 0 ||
	     json_object_set(c->doc, c->resp, "content_b64",
			     json_string_len(c->doc, b64.data, b64.len)) < 0))
		rc = -1;
	buf_release(&data);
	buf_release(&b64);
	return rc < 0 ? oom(err) : 0;
}

/* mkdir -p of the parent directories of host below the workspace root. */
static int make_parents(const char *host, struct pyro_err *err)
{
	char p[PATH_MAX];
	size_t n = strlen(host);
	memcpy(p, host, n + 1);
	char *slash = strrchr(p, '/');
	if (!slash || slash == p)
		return 0;
	*slash = 0;
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = 0;
		int r = mkdir(p, 0755);
		*q = '/';
		if (r < 0 && errno != EEXIST)
			goto fail;
	}
	if (mkdir(p, 0755) == 0 || errno == EEXIST)
		return 0;
fail:
	pyro_err_sys(err, errno, "creating the parent directories of the file");
	return -1;
}

int agent_action_write_workspace_file(struct agent_call *c, struct pyro_err *err)
{
	const char *raw, *guest, *text;
	char host[PATH_MAX];
	if (agent_req_str(c, "path", "", &raw, err) < 0)
		return -1;
	const struct json_value *tv = json_get(c->req, "text");
	if (!tv || tv->type != JSON_STRING) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "text must be a string (got %s)",
			     tv ? json_type_name(tv->type) : "nothing");
		return -1;
	}
	text = tv->u.string.ptr;
	size_t len = tv->u.string.len;
	if (len > FILE_MAX_BYTES) {
		pyro_err_set(err, PYRO_EXIT_USAGE,
			     "text must be at most %d bytes when encoded as UTF-8", FILE_MAX_BYTES);
		return -1;
	}
	if (agent_workspace_path(c, raw, &guest, host, err) < 0 ||
	    check_no_symlink_parents(host, guest, err) < 0)
		return -1;
	struct stat st;
	mode_t mode = 0644;
	if (lstat(host, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			pyro_err_set(err, PYRO_EXIT_USAGE,
				     "workspace file write only supports regular file targets");
			return -1;
		}
		mode = st.st_mode & 0777; /* keep an executable script executable */
	}
	if (make_parents(host, err) < 0)
		return -1;
	/* Temp file, fsync, rename: a reader never sees half a file. */
	if (atomicfile_write(host, text, len, mode, err) < 0)
		return -1;
	if (json_set_str(c->doc, c->resp, "path", guest) < 0 ||
	    json_set_int(c->doc, c->resp, "size_bytes", (int64_t)len) < 0 ||
	    json_set_int(c->doc, c->resp, "bytes_written", (int64_t)len) < 0)
		return oom(err);
	return 0;
}

int agent_action_delete_workspace_path(struct agent_call *c, struct pyro_err *err)
{
	const char *raw, *guest;
	char host[PATH_MAX];
	struct stat st;
	if (agent_req_str(c, "path", "", &raw, err) < 0 ||
	    agent_workspace_path(c, raw, &guest, host, err) < 0 ||
	    check_no_symlink_parents(host, guest, err) < 0 ||
	    lstat_entry(guest, host, &st, err) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "workspace file delete does not support directories");
		return -1;
	}
	if (unlink(host) < 0) {
		pyro_err_sys(err, errno, "deleting %s", guest);
		return -1;
	}
	if (json_set_str(c->doc, c->resp, "path", guest) < 0 ||
	    json_set_bool(c->doc, c->resp, "deleted", true) < 0)
		return oom(err);
	return 0;
}
