/* Tests for core/atomicfile.c. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/atomicfile.h"
#include "../../core/buf.h"
#include "../../core/exitcodes.h"
#include "../../core/fault.h"
#include "test.h"

static void join(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", test_tmpdir(), name);
}

/* Entries in dir other than . and .. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* 1 when the file at path holds exactly s. */
static int file_is(const char *path, const char *s)
{
	struct buf b = BUF_INIT;
	int ok = buf_read_file(&b, path) == 0 && b.len == strlen(s) &&
		 memcmp(b.data, s, b.len) == 0;
	buf_release(&b);
	return ok;
}

TEST(atomicfile_creates_and_replaces)
{
	char path[PATH_MAX];
	struct pyro_err err = { 0 };
	join(path, "state.json");
	CHECK(atomicfile_write(path, "first", 5, 0600, &err) == 0);
	CHECK(file_is(path, "first"));
	CHECK(atomicfile_write(path, "second, longer", 14, 0600, &err) == 0);
	CHECK(file_is(path, "second, longer"));
	CHECK(atomicfile_write(path, "3", 1, 0600, &err) == 0);
	CHECK(file_is(path, "3"));
	CHECK(atomicfile_write(path, NULL, 0, 0600, &err) == 0);
	CHECK(file_is(path, ""));
	CHECK(count_entries(test_tmpdir()) == 1);
}

TEST(atomicfile_relative_path_and_long_name)
{
	char cwd[PATH_MAX], name[256], path[PATH_MAX];
	struct pyro_err err = { 0 };
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	CHECK(chdir(test_tmpdir()) == 0);
	int rc = atomicfile_write("plain", "x", 1, 0644, &err);
	int ok = file_is("plain", "x");
	CHECK(chdir(cwd) == 0);
	CHECK(rc == 0);
	CHECK(ok);
	/* A 255-byte name: the temporary's name must still fit NAME_MAX. */
	memset(name, 'n', 255);
	name[255] = '\0';
	join(path, name);
	CHECK(atomicfile_write(path, "long", 4, 0644, &err) == 0);
	CHECK(file_is(path, "long"));
	CHECK(count_entries(test_tmpdir()) == 2);
}

TEST(atomicfile_mode_is_exact_not_umasked)
{
	char path[PATH_MAX];
	struct stat st;
	struct pyro_err err = { 0 };
	join(path, "f");
	mode_t old = umask(077);
	int rc1 = atomicfile_write(path, "a", 1, 0644, &err);
	int rc2 = stat(path, &st);
	umask(old);
	CHECK(rc1 == 0 && rc2 == 0);
	CHECK((st.st_mode & 07777) == 0644);
	CHECK(atomicfile_write(path, "b", 1, 0600, &err) == 0);
	CHECK(stat(path, &st) == 0);
	CHECK((st.st_mode & 07777) == 0600);
	CHECK(atomicfile_write(path, "c", 1, 0750, &err) == 0);
	CHECK(stat(path, &st) == 0);
	CHECK((st.st_mode & 07777) == 0750);
	CHECK(S_ISREG(st.st_mode));
}

TEST(atomicfile_write_failure_keeps_old_content)
{
	char path[PATH_MAX];
	struct pyro_err err = { 0 };
	join(path, "target");
	CHECK(atomicfile_write(path, "old", 3, 0600, &err) == 0);
	fault_arm(FAULT_WRITE, 1, ENOSPC);
	CHECK(atomicfile_write(path, "new content", 11, 0600, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK(err.sys_errno == ENOSPC);
	CHECK_CONTAINS(err.msg, path);
	CHECK_CONTAINS(err.msg, "left unchanged");
	CHECK_CONTAINS(err.msg, strerror(ENOSPC));
	CHECK(file_is(path, "old"));
	CHECK(count_entries(test_tmpdir()) == 1);
	/* EINTR from write is retried, not reported. */
	fault_arm(FAULT_WRITE, 1, EINTR);
	CHECK(atomicfile_write(path, "new", 3, 0600, &err) == 0);
	CHECK(file_is(path, "new"));
	CHECK(count_entries(test_tmpdir()) == 1);
}

TEST(atomicfile_fsync_failure_keeps_old_content)
{
	char path[PATH_MAX];
	struct pyro_err err = { 0 };
	join(path, "target");
	CHECK(atomicfile_write(path, "old", 3, 0600, &err) == 0);
	fault_arm(FAULT_FSYNC, 1, EIO);
	CHECK(atomicfile_write(path, "new", 3, 0600, &err) == -1);
	CHECK(err.sys_errno == EIO);
	CHECK_CONTAINS(err.msg, "syncing to disk the new content of");
	CHECK_CONTAINS(err.msg, "left unchanged");
	CHECK(file_is(path, "old"));
	CHECK(count_entries(test_tmpdir()) == 1);
}

TEST(atomicfile_dir_fsync_failure_is_reported_after_rename)
{
	char path[PATH_MAX];
	struct pyro_err err = { 0 };
	join(path, "target");
	CHECK(atomicfile_write(path, "old", 3, 0600, &err) == 0);
	/* The 2nd fsync is the directory's: the rename has happened. */
	fault_arm(FAULT_FSYNC, 2, EIO);
	CHECK(atomicfile_write(path, "new", 3, 0600, &err) == -1);
	CHECK(err.sys_errno == EIO);
	CHECK_CONTAINS(err.msg, "replaced \"");
	CHECK_CONTAINS(err.msg, "may not survive a crash");
	CHECK(file_is(path, "new"));
	CHECK(count_entries(test_tmpdir()) == 1);
	/* EINVAL (no directory fsync on this file system) is fine. */
	fault_arm(FAULT_FSYNC, 2, EINVAL);
	CHECK(atomicfile_write(path, "newer", 5, 0600, &err) == 0);
	CHECK(file_is(path, "newer"));
}

TEST(atomicfile_missing_directory)
{
	char path[PATH_MAX], dir[PATH_MAX];
	struct pyro_err err = { 0 };
	join(dir, "no/such");
	join(path, "no/such/file");
	CHECK(atomicfile_write(path, "x", 1, 0600, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK(err.sys_errno == ENOENT);
	CHECK_CONTAINS(err.msg, "cannot create a temporary file in \"");
	CHECK_CONTAINS(err.msg, dir);
	CHECK_CONTAINS(err.msg, path);
	CHECK_CONTAINS(err.msg, strerror(ENOENT));
	CHECK(count_entries(test_tmpdir()) == 0);
}

TEST(atomicfile_target_is_directory)
{
	char path[PATH_MAX], inner[PATH_MAX];
	struct pyro_err err = { 0 };
	join(path, "adir");
	join(inner, "adir/keep");
	CHECK(mkdir(path, 0700) == 0);
	CHECK(atomicfile_write(inner, "k", 1, 0600, &err) == 0);
	CHECK(atomicfile_write(path, "x", 1, 0600, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK(err.sys_errno == EISDIR);
	CHECK_CONTAINS(err.msg, "it is a directory");
	CHECK_CONTAINS(err.msg, path);
	CHECK(file_is(inner, "k"));
	CHECK(count_entries(test_tmpdir()) == 1);
	CHECK(count_entries(path) == 1);
}

TEST(atomicfile_bad_paths)
{
	char path[PATH_MAX];
	struct pyro_err err = { 0 };
	CHECK(atomicfile_write("", "x", 1, 0600, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK(atomicfile_write(NULL, "x", 1, 0600, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	snprintf(path, sizeof path, "%s/", test_tmpdir());
	CHECK(atomicfile_write(path, "x", 1, 0600, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "names a directory");
	CHECK(atomicfile_write("..", "x", 1, 0600, &err) == -1);
	CHECK_CONTAINS(err.msg, "names a directory");
	join(path, ".");
	CHECK(atomicfile_write(path, "x", 1, 0600, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	char *huge = malloc(PATH_MAX + 10);
	CHECK(huge != NULL);
	memset(huge, 'a', PATH_MAX + 9);
	huge[PATH_MAX + 9] = '\0';
	int rc = atomicfile_write(huge, "x", 1, 0600, &err);
	free(huge);
	CHECK(rc == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "longer than the limit");
	CHECK(count_entries(test_tmpdir()) == 0);
}

struct chunks {
	int n;
	int fail_at; /* -1: never */
};

static int fill_chunks(int fd, void *ctx, struct pyro_err *err)
{
	struct chunks *c = ctx;
	char line[32];
	for (int i = 0; i < c->n; i++) {
		if (i == c->fail_at)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "the source stopped after %d chunks", i);
		int len = snprintf(line, sizeof line, "chunk %d\n", i);
		if (atomicfile_write_all(fd, line, (size_t)len) < 0)
			return pyro_err_sys(err, errno, "writing chunk %d", i);
	}
	return 0;
}

TEST(atomicfile_streaming_variant)
{
	char path[PATH_MAX];
	struct pyro_err err = { 0 };
	join(path, "stream");
	struct chunks ok = { 3, -1 };
	CHECK(atomicfile_write_with(path, 0640, fill_chunks, &ok, &err) == 0);
	CHECK(file_is(path, "chunk 0\nchunk 1\nchunk 2\n"));
	struct chunks bad = { 1000, 500 };
	CHECK(atomicfile_write_with(path, 0640, fill_chunks, &bad, &err) == -1);
	CHECK_CONTAINS(err.msg, "cannot replace \"");
	CHECK_CONTAINS(err.msg, "left unchanged: the source stopped after 500 chunks");
	CHECK(file_is(path, "chunk 0\nchunk 1\nchunk 2\n"));
	CHECK(count_entries(test_tmpdir()) == 1);
	/* A write failure deep in the stream. */
	fault_arm(FAULT_WRITE, 7, EIO);
	CHECK(atomicfile_write_with(path, 0640, fill_chunks, &bad, &err) == -1);
	CHECK_CONTAINS(err.msg, "writing chunk 6: ");
	CHECK_CONTAINS(err.msg, strerror(EIO)); /* the libcs word it differently */
	CHECK(file_is(path, "chunk 0\nchunk 1\nchunk 2\n"));
	CHECK(count_entries(test_tmpdir()) == 1);
}

/* Writers in child processes replace the file over and over, each with its
 * own full content (its own byte, its own length); the parent keeps reading
 * and must only ever see one writer's complete content. The writers go on
 * until the parent has read READS times (it closes `stop`), so the overlap
 * does not depend on how fast the machine is. */
TEST(atomicfile_concurrent_writers_never_tear)
{
	enum { WRITERS = 4, READS = 200, MAX_ROUNDS = 200000 };
	int stop[2];
	CHECK(pipe(stop) == 0);
	char path[PATH_MAX];
	struct pyro_err err = { 0 };
	join(path, "shared");
	size_t sizes[WRITERS + 1];
	for (int w = 0; w <= WRITERS; w++)
		sizes[w] = 8192 * (size_t)(w + 1) + (size_t)w * 7;
	char *content = malloc(sizes[WRITERS]);
	CHECK(content != NULL);
	memset(content, 'A' + WRITERS, sizes[WRITERS]);
	int rc = atomicfile_write(path, content, sizes[WRITERS], 0600, &err);
	if (rc != 0)
		free(content);
	CHECK(rc == 0);

	pid_t pids[WRITERS];
	int forked = 0;
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		forked += pids[w] > 0;
		if (pids[w] == 0) {
			close(stop[1]);
			memset(content, 'A' + w, sizes[w]);
			for (int r = 0; r < MAX_ROUNDS; r++) {
				struct pollfd p = { .fd = stop[0], .events = POLLIN };
				if (poll(&p, 1, 0) > 0)
					_exit(0); /* the parent closed its end */
				if (atomicfile_write(path, content, sizes[w], 0600, NULL) < 0)
					_exit(1);
			}
			_exit(0);
		}
	}
	free(content);
	close(stop[0]);
	int reads = 0, torn = 0, running = 0, failed_children = 0;
	struct buf b = BUF_INIT;
	do {
		buf_reset(&b);
		if (buf_read_file(&b, path) < 0) {
			torn++;
			break;
		}
		if (++reads == READS) {
			close(stop[1]);
			stop[1] = -1;
		}
		int w = b.len ? b.data[0] - 'A' : -1;
		if (w < 0 || w > WRITERS || b.len != sizes[w]) {
			torn++;
		} else {
			for (size_t i = 0; i < b.len; i++)
				if (b.data[i] != 'A' + w) {
					torn++;
					break;
				}
		}
		running = 0;
		for (int c = 0; c < WRITERS; c++) {
			int status;
			if (pids[c] <= 0)
				continue;
			pid_t r = waitpid(pids[c], &status, WNOHANG);
			if (r == 0) {
				running++;
			} else {
				if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
					failed_children++;
				pids[c] = 0;
			}
		}
	} while (running && !torn);
	if (stop[1] >= 0)
		close(stop[1]);
	for (int c = 0; c < WRITERS; c++)
		if (pids[c] > 0)
			waitpid(pids[c], NULL, 0);
	buf_release(&b);
	if (getenv("PYRO_TEST_VERBOSE"))
		fprintf(stderr, "    %d reads while %d writers ran\n", reads, forked);
	CHECK(forked == WRITERS);
	CHECK(torn == 0);
	CHECK(failed_children == 0);
	CHECK(reads >= READS);
	CHECK(count_entries(test_tmpdir()) == 1);
}
