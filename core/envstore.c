/* The environment cache: validity checks, staging, commit, prune. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "fsutil.h"
#include "envstore.h"
#include "exitcodes.h"
#include "json.h"
#include "paths.h"

int envstore_open(struct envstore *st, struct pyro_err *err)
{
	const char *over = getenv("PYRO_ENVIRONMENT_CACHE_DIR");
	if (over && *over) {
		if (over[0] != '/')
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "PYRO_ENVIRONMENT_CACHE_DIR='%.200s' must be an absolute "
					    "path", over);
		if (strlen(over) >= sizeof st->dir - 64)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "PYRO_ENVIRONMENT_CACHE_DIR is too long");
		snprintf(st->dir, sizeof st->dir, "%s", over);
	} else if (paths_environments_dir(st->dir, sizeof st->dir - 64, err) < 0) {
		return -1;
	}
	size_t n = strlen(st->dir);
	while (n > 1 && st->dir[n - 1] == '/')
		st->dir[--n] = '\0';
	snprintf(st->platform_dir, sizeof st->platform_dir, "%s/%s", st->dir, ENV_PLATFORM);
	return 0;
}

/* mkdir -p, mode 0755 for what it creates. */
static int make_dirs(const char *path, struct pyro_err *err)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
				return pyro_err_sys(err, errno, "cannot create the environment cache "
						    "directory %s (set PYRO_ENVIRONMENT_CACHE_DIR or "
						    "PYRO_CACHE_DIR to a writable place)", tmp);
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}


/* ---- validity -------------------------------------------------------- */

static void set_problem(struct env_install *in, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_problem(struct env_install *in, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(in->problem, sizeof in->problem, fmt, ap);
	va_end(ap);
}

/* snprintf into a path buffer; a path that does not fit is an error. */
static int path_fmt(char *out, size_t cap, struct pyro_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int path_fmt(char *out, size_t cap, struct pyro_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "path too long under %.200s", out);
	return 0;
}

/* Check one artifact against the manifest, trusting the stamp recorded in
 * environment.json when stat still matches it. */
static bool artifact_ok(int dirfd, const struct env_artifact *a, const struct json_value *stamps,
			struct env_install *in)
{
	struct stat st;
	if (fstatat(dirfd, a->path, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
		set_problem(in, "%s is missing", a->path);
		return false;
	}
	if ((uint64_t)st.st_size != a->size) {
		set_problem(in, "%s has the wrong size", a->path);
		return false;
	}
	const struct json_value *stamp = stamps ? json_get(stamps, a->path) : NULL;
	int64_t ino = -1, mtime_ns = -1, size = -1;
	const char *sha = stamp ? json_get_str(stamp, "sha256") : NULL;
	if (stamp && json_get_int(stamp, "ino", &ino) && json_get_int(stamp, "mtime_ns", &mtime_ns) &&
	    json_get_int(stamp, "size", &size) && sha && strcmp(sha, a->sha256) == 0 &&
	    (uint64_t)ino == (uint64_t)st.st_ino && size == (int64_t)st.st_size &&
	    mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec)
		return true;
	char hex[DIGEST_HEX_LEN + 1];
	struct pyro_err derr;
	if (digest_file_sha256(dirfd, a->path, hex, NULL, &derr) < 0) {
		set_problem(in, "%s cannot be read: %s", a->path, derr.msg);
		return false;
	}
	if (strcmp(hex, a->sha256) != 0) {
		set_problem(in, "%s does not match its sha256 in manifest.json", a->path);
		return false;
	}
	return true;
}

static int read_small_json(int dirfd, const char *name, struct json_doc *doc,
			   struct json_value **out, struct pyro_err *err)
{
	/* O_NONBLOCK: a FIFO in its place must not block the open. */
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return pyro_err_sys(err, errno, "cannot open %s", name);
	struct buf text;
	buf_init(&text, 1u << 20);
	int rc = buf_read_fd(&text, fd);
	close(fd);
	if (rc < 0) {
		buf_release(&text);
		return pyro_err_sys(err, errno, "cannot read %s", name);
	}
	rc = json_parse(doc, text.data ? text.data : "", text.len, NULL, out, err);
	buf_release(&text);
	if (rc == 0 && (*out)->type != JSON_OBJECT)
		rc = pyro_err_set(err, PYRO_EXIT_FAILURE, "%s is not a JSON object", name);
	return rc;
}

static void copy_field(const struct json_value *obj, const char *key, char *dst, size_t cap)
{
	const char *v = json_get_str(obj, key);
	snprintf(dst, cap, "%s", v ? v : "");
}

/* Validate the open install dir; fills in->installed/problem/manifest. */
static void check_install_dir(int dirfd, const char *name, const char *version,
			      struct env_install *in)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *meta = NULL;
	struct pyro_err e;
	if (!doc || read_small_json(dirfd, "environment.json", doc, &meta, &e) < 0) {
		set_problem(in, "environment.json is missing or unreadable (%s)",
			    doc ? e.msg : "out of memory");
		json_doc_free(doc);
		return;
	}
	copy_field(meta, "source", in->source, sizeof in->source);
	copy_field(meta, "source_ref", in->source_ref, sizeof in->source_ref);
	copy_field(meta, "source_digest", in->source_digest, sizeof in->source_digest);
	copy_field(meta, "installed_at", in->installed_at, sizeof in->installed_at);
	const char *manifest_sha = json_get_str(meta, "manifest_sha256");
	char hex[DIGEST_HEX_LEN + 1];
	if (env_manifest_load(dirfd, &in->manifest, &e) < 0) {
		set_problem(in, "manifest.json is missing or invalid (%s)", e.msg);
	} else if (!manifest_sha || digest_file_sha256(dirfd, "manifest.json", hex, NULL, &e) < 0 ||
		   strcmp(hex, manifest_sha) != 0) {
		set_problem(in, "manifest.json changed since it was installed");
	} else if (strcmp(in->manifest.name, name) != 0 ||
		   strcmp(in->manifest.version, version) != 0) {
		set_problem(in, "it holds %s %s instead", in->manifest.name,
			    in->manifest.version);
	} else {
		const struct json_value *stamps = json_get(meta, "artifacts");
		bool ok = true;
		for (int r = 0; ok && r < ENV_ARTIFACT_COUNT; r++)
			ok = artifact_ok(dirfd, &in->manifest.artifacts[r], stamps, in);
		in->installed = ok;
	}
	if (!in->installed)
		env_manifest_release(&in->manifest);
	json_doc_free(doc);
}

int envstore_check(const struct envstore *st, const char *name, const char *version,
		   struct env_install *out, struct pyro_err *err)
{
	memset(out, 0, sizeof *out);
	char dirname[ENV_NAME_MAX + ENV_VERSION_MAX + 2];
	if (env_install_dir_name(name, version, dirname, sizeof dirname, err) < 0)
		return -1;
	if (path_fmt(out->install_dir, sizeof out->install_dir, err, "%s/%s", st->platform_dir,
		     dirname) < 0)
		return -1;
	int dirfd = open(out->install_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dirfd < 0) {
		if (errno != ENOENT)
			snprintf(out->problem, sizeof out->problem, "cannot open it: %s",
				 strerror(errno));
		out->present = errno != ENOENT;
		return 0;
	}
	out->present = true;
	check_install_dir(dirfd, name, version, out);
	close(dirfd);
	return 0;
}

void envstore_install_release(struct env_install *in)
{
	if (in)
		env_manifest_release(&in->manifest);
}

/* ---- staging and commit ---------------------------------------------- */

int envstore_staging_begin(const struct envstore *st, struct env_staging *sg,
			   struct pyro_err *err)
{
	memset(sg, 0, sizeof *sg);
	sg->dirfd = -1;
	if (make_dirs(st->platform_dir, err) < 0)
		return -1;
	if (path_fmt(sg->path, sizeof sg->path, err, "%s/.partial-XXXXXX", st->platform_dir) < 0) {
		sg->path[0] = '\0';
		return -1;
	}
	if (!mkdtemp(sg->path))
		return pyro_err_sys(err, errno, "cannot create a staging directory in %s",
				    st->platform_dir);
	sg->dirfd = open(sg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sg->dirfd < 0 || flock(sg->dirfd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		envstore_staging_abort(sg);
		return pyro_err_sys(err, e, "cannot lock the staging directory");
	}
	return 0;
}

void envstore_staging_abort(struct env_staging *sg)
{
	if (sg->path[0])
		fs_remove_tree(sg->path);
	sg->path[0] = '\0';
	if (sg->dirfd >= 0)
		close(sg->dirfd);
	sg->dirfd = -1;
}

int envstore_lock(const struct envstore *st, const char *name, const char *version,
		  int *lock_fd, struct pyro_err *err)
{
	*lock_fd = -1;
	char dirname[ENV_NAME_MAX + ENV_VERSION_MAX + 2], path[PATH_MAX];
	if (env_install_dir_name(name, version, dirname, sizeof dirname, err) < 0 ||
	    make_dirs(st->platform_dir, err) < 0)
		return -1;
	if (path_fmt(path, sizeof path, err, "%s/.%s.lock", st->platform_dir, dirname) < 0)
		return -1;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return pyro_err_sys(err, errno, "cannot open the install lock %s", path);
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return pyro_err_sys(err, e, "cannot lock %s", path);
		}
	}
	*lock_fd = fd;
	return 0;
}

void envstore_unlock(int *lock_fd)
{
	if (*lock_fd >= 0)
		close(*lock_fd);
	*lock_fd = -1;
}

static int add_stamp(struct json_doc *doc, struct json_value *stamps, int dirfd,
		     const struct env_artifact *a, struct pyro_err *err)
{
	/* Back-date the mtime before recording it: file times come from a
	 * coarse clock (a jiffy on older kernels), so a same-size write right
	 * after the install could otherwise keep the recorded mtime and go
	 * unnoticed. Any later write now moves it forward. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = now.tv_sec - 2 } };
	if (utimensat(dirfd, a->path, times, AT_SYMLINK_NOFOLLOW) != 0)
		return pyro_err_sys(err, errno, "cannot set the time of %s", a->path);
	struct stat st;
	if (fstatat(dirfd, a->path, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return pyro_err_sys(err, errno, "cannot stat %s", a->path);
	struct json_value *o = json_object(doc);
	if (!o || json_set_str(doc, o, "sha256", a->sha256) < 0 ||
	    json_set_int(doc, o, "size", (int64_t)st.st_size) < 0 ||
	    json_set_int(doc, o, "ino", (int64_t)st.st_ino) < 0 ||
	    json_set_int(doc, o, "mtime_ns",
			 (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec) < 0 ||
	    json_object_set(doc, stamps, a->path, o) < 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory");
	return 0;
}

static int write_environment_json(const struct env_staging *sg, const struct env_manifest *m,
				  const struct env_source *source, const char *manifest_sha,
				  struct pyro_err *err)
{
	struct json_doc *doc = json_doc_new();
	if (!doc)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory");
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	struct json_value *o = json_object(doc), *stamps = json_object(doc);
	int rc = (!o || !stamps ||
		  json_set_str(doc, o, "name", m->name) < 0 ||
		  json_set_str(doc, o, "version", m->version) < 0 ||
		  json_set_str(doc, o, "platform", m->platform) < 0 ||
		  json_set_str(doc, o, "source", source->kind) < 0 ||
		  json_set_str(doc, o, "source_ref", source->ref) < 0 ||
		  (source->digest ? json_set_str(doc, o, "source_digest", source->digest)
				  : json_set_null(doc, o, "source_digest")) < 0 ||
		  json_set_str(doc, o, "installed_at", when) < 0 ||
		  json_set_str(doc, o, "manifest_sha256", manifest_sha) < 0)
			 ? pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory")
			 : 0;
	for (int r = 0; rc == 0 && r < ENV_ARTIFACT_COUNT; r++)
		rc = add_stamp(doc, stamps, sg->dirfd, &m->artifacts[r], err);
	if (rc == 0 && json_object_set(doc, o, "artifacts", stamps) < 0)
		rc = pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory");
	struct buf text = BUF_INIT;
	if (rc == 0 && (json_emit(&text, o, JSON_EMIT_PRETTY | JSON_EMIT_SORT_KEYS) < 0 ||
			buf_append_char(&text, '\n') < 0))
		rc = pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory");
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/environment.json", sg->path);
	if (rc == 0)
		rc = atomicfile_write(path, text.data, text.len, 0644, err);
	buf_release(&text);
	json_doc_free(doc);
	return rc;
}

/* Every artifact staged with the manifest's size and sha256; stray files
 * removed. */
static int verify_staged(struct env_staging *sg, const struct env_manifest *m,
			 struct pyro_err *err)
{
	for (int r = 0; r < ENV_ARTIFACT_COUNT; r++) {
		const struct env_artifact *a = &m->artifacts[r];
		const struct env_unpacked_file *f = env_unpacked_find(&sg->files, a->path);
		if (!f)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "the bundle has no %s, which manifest.json names as its "
					    "%s", a->path,
					    env_artifact_role_name((enum env_artifact_role)r));
		if (f->size != a->size)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "%s is %llu bytes but manifest.json says %llu: the "
					    "bundle is corrupt or incomplete", a->path,
					    (unsigned long long)f->size, (unsigned long long)a->size);
		if (strcmp(f->sha256, a->sha256) != 0)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "%s has sha256 %s but manifest.json says %s: the bundle "
					    "is corrupt", a->path, f->sha256, a->sha256);
	}
	for (size_t i = 0; i < sg->files.count; i++) {
		const char *n = sg->files.files[i].name;
		bool known = strcmp(n, "manifest.json") == 0;
		for (int r = 0; r < ENV_ARTIFACT_COUNT; r++)
			known |= strcmp(n, m->artifacts[r].path) == 0;
		if (!known)
			unlinkat(sg->dirfd, n, 0);
	}
	return 0;
}

static int move_into_place(const struct envstore *st, struct env_staging *sg,
			   const char *target, struct pyro_err *err)
{
	char trash[PATH_MAX];
	bool have_trash = false;
	if (access(target, F_OK) == 0) {
		if (path_fmt(trash, sizeof trash, err, "%s/.trash-XXXXXX", st->platform_dir) < 0)
			return -1;
		if (!mkdtemp(trash) || rename(target, trash) != 0)
			return pyro_err_sys(err, errno, "cannot move the old install %s aside",
					    target);
		have_trash = true;
	}
	if (rename(sg->path, target) != 0)
		return pyro_err_sys(err, errno, "cannot move the new install into %s", target);
	sg->path[0] = '\0'; /* committed: nothing to remove */
	int pfd = open(st->platform_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd >= 0) {
		fsync(pfd);
		close(pfd);
	}
	if (have_trash)
		fs_remove_tree(trash);
	return 0;
}

int envstore_commit(const struct envstore *st, struct env_staging *sg,
		    const char *expect_name, const char *expect_version,
		    const struct env_source *source, struct env_install *out,
		    struct pyro_err *err)
{
	memset(out, 0, sizeof *out);
	struct env_manifest m;
	int rc = env_manifest_load(sg->dirfd, &m, err);
	if (rc < 0) {
		envstore_staging_abort(sg);
		return -1;
	}
	if ((strcmp(m.name, expect_name) != 0 ||
			    strcmp(m.version, expect_version) != 0))
		rc = pyro_err_set(err, PYRO_EXIT_FAILURE,
				  "the bundle is %s %s, not the expected %s %s", m.name, m.version,
				  expect_name, expect_version);
	if (rc == 0)
		rc = verify_staged(sg, &m, err);
	const struct env_unpacked_file *mf = env_unpacked_find(&sg->files, "manifest.json");
	char manifest_sha[DIGEST_HEX_LEN + 1];
	if (rc == 0 && mf)
		snprintf(manifest_sha, sizeof manifest_sha, "%s", mf->sha256);
	else if (rc == 0)
		rc = digest_file_sha256(sg->dirfd, "manifest.json", manifest_sha, NULL, err);
	if (rc == 0 && fsync(sg->dirfd) != 0)
		rc = pyro_err_sys(err, errno, "cannot sync %s", sg->path);
	if (rc == 0)
		rc = write_environment_json(sg, &m, source, manifest_sha, err);
	char target[PATH_MAX], dirname[ENV_NAME_MAX + ENV_VERSION_MAX + 2];
	if (rc == 0)
		rc = env_install_dir_name(m.name, m.version, dirname, sizeof dirname, err);
	if (rc == 0) {
		rc = path_fmt(target, sizeof target, err, "%s/%s", st->platform_dir, dirname);
		if (rc == 0)
			rc = move_into_place(st, sg, target, err);
	}
	char name[ENV_NAME_MAX + 1], version[ENV_VERSION_MAX + 1];
	snprintf(name, sizeof name, "%s", m.name);
	snprintf(version, sizeof version, "%s", m.version);
	env_manifest_release(&m);
	envstore_staging_abort(sg);
	if (rc == 0)
		rc = envstore_check(st, name, version, out, err);
	if (rc == 0 && !out->installed)
		rc = pyro_err_set(err, PYRO_EXIT_FAILURE, "the new install of %s is not valid: %s",
				  name, out->problem);
	return rc;
}

/* ---- prune ------------------------------------------------------------ */

static int push_name(struct json_doc *doc, struct json_value *arr, const char *name,
		     struct pyro_err *err)
{
	if (json_array_push(doc, arr, json_string(doc, name)) < 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "out of memory");
	return 0;
}

/* Is this install directory the valid current install of a catalog entry? */
static bool install_is_current(const struct envstore *st, int dirfd, const char *dirname)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *meta = NULL;
	struct pyro_err e;
	bool keep = false;
	if (doc && read_small_json(dirfd, "environment.json", doc, &meta, &e) == 0) {
		const char *name = json_get_str(meta, "name");
		const char *version = json_get_str(meta, "version");
		const struct env_catalog_entry *ce = name ? env_catalog_find(name, NULL) : NULL;
		char expect[ENV_NAME_MAX + ENV_VERSION_MAX + 2];
		if (ce && version && strcmp(version, ce->version) == 0 &&
		    env_install_dir_name(name, version, expect, sizeof expect, NULL) == 0 &&
		    strcmp(expect, dirname) == 0) {
			struct env_install in;
			if (envstore_check(st, name, version, &in, NULL) == 0)
				keep = in.installed;
			envstore_install_release(&in);
		}
	}
	json_doc_free(doc);
	return keep;
}

/* Another pyro process is installing into this directory right now. */
static bool install_busy(const struct envstore *st, const char *dirname)
{
	char path[PATH_MAX];
	if (path_fmt(path, sizeof path, NULL, "%s/.%s.lock", st->platform_dir, dirname) < 0)
		return false;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	bool busy = flock(fd, LOCK_EX | LOCK_NB) != 0;
	close(fd);
	return busy;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int envstore_prune(const struct envstore *st, struct json_doc *doc, struct json_value *deleted,
		   struct pyro_err *err)
{
	DIR *d = opendir(st->platform_dir);
	if (!d)
		return errno == ENOENT ? 0
				       : pyro_err_sys(err, errno, "cannot open %s", st->platform_dir);
	char *names[512];
	size_t count = 0;
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		size_t nlen = strlen(n);
		/* ".", "..", and the ".NAME-VERSION.lock" install locks (not
		 * installs whose names merely contain ".lock"). */
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
		    (n[0] == '.' && nlen > 5 && strcmp(n + nlen - 5, ".lock") == 0))
			continue;
		char path[PATH_MAX];
		struct stat sb;
		if (path_fmt(path, sizeof path, NULL, "%s/%s", st->platform_dir, n) < 0 ||
		    lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
			continue;
		int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (dfd < 0)
			continue;
		bool remove = false;
		if (strncmp(n, ".partial-", 9) == 0)
			remove = flock(dfd, LOCK_EX | LOCK_NB) == 0; /* busy = in progress */
		else if (strncmp(n, ".trash-", 7) == 0)
			remove = true;
		else
			remove = !install_is_current(st, dfd, n) && !install_busy(st, n);
		close(dfd);
		if (!remove)
			continue;
		if (fs_remove_tree(path) != 0) {
			rc = pyro_err_sys(err, errno, "cannot remove %s", path);
			break;
		}
		if (n[0] != '.' && count < sizeof names / sizeof names[0])
			names[count++] = strdup(n);
	}
	closedir(d);
	qsort(names, count, sizeof names[0], cmp_str);
	for (size_t i = 0; i < count; i++) {
		if (rc == 0 && names[i])
			rc = push_name(doc, deleted, names[i], err);
		free(names[i]);
	}
	return rc;
}
