/* Tests for core/fsutil.c: fs_remove_tree removes a tree without following
 * symlinks out of it or crossing into another mount. Trees are built below
 * the test's own test_tmpdir(). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/fsutil.h"
#include "test.h"

/* snprintf without gcc's truncation analysis: test paths are short. */
static void sfmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

/* <tmp>/<rel> */
static const char *tp(const char *rel)
{
	static char bufs[8][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 8];
	sfmt(b, PATH_MAX, "%s/%s", test_tmpdir(), rel);
	return b;
}

static int mk(const char *rel)
{
	return mkdir(tp(rel), 0700);
}

static int put(const char *rel, const char *text)
{
	int fd = open(tp(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static bool exists(const char *rel)
{
	struct stat st;
	return lstat(tp(rel), &st) == 0;
}

TEST(fsutil_remove_tree_nested_with_symlinks)
{
	/* Outside the tree: a directory and a file that links point at. */
	CHECK(mk("outside") == 0);
	CHECK(put("outside/precious", "keep me") == 0);
	CHECK(put("outside-file", "keep me too") == 0);

	CHECK(mk("tree") == 0);
	CHECK(mk("tree/a") == 0);
	CHECK(mk("tree/a/b") == 0);
	CHECK(mk("tree/a/b/c") == 0);
	CHECK(put("tree/top", "1") == 0);
	CHECK(put("tree/a/b/c/deep", "2") == 0);
	CHECK(put("tree/a/.hidden", "3") == 0);
	CHECK(symlink(tp("outside"), tp("tree/a/to-dir")) == 0);
	CHECK(symlink("../../outside", tp("tree/a/b/rel-to-dir")) == 0);
	CHECK(symlink(tp("outside-file"), tp("tree/to-file")) == 0);
	CHECK(symlink("/nonexistent/dangling", tp("tree/dangling")) == 0);
	CHECK(symlink(".", tp("tree/a/self")) == 0);
	CHECK(mkfifo(tp("tree/a/fifo"), 0600) == 0);
	/* A read-only directory and file: rm -rf removes them as the owner. */
	CHECK(mk("tree/ro") == 0);
	CHECK(put("tree/ro/f", "4") == 0);
	CHECK(chmod(tp("tree/ro/f"), 0400) == 0);

	CHECK(fs_remove_tree(tp("tree")) == 0);
	CHECK(!exists("tree"));
	CHECK(exists("outside"));
	CHECK(exists("outside/precious"));
	CHECK(exists("outside-file"));
}

TEST(fsutil_remove_tree_missing_path_is_success)
{
	CHECK(fs_remove_tree(tp("never-was")) == 0);
	CHECK(fs_remove_tree(tp("never/was/either")) == 0);
}

TEST(fsutil_remove_tree_single_file_and_empty_dir)
{
	CHECK(put("file", "x") == 0);
	CHECK(fs_remove_tree(tp("file")) == 0);
	CHECK(!exists("file"));
	CHECK(mk("empty") == 0);
	CHECK(fs_remove_tree(tp("empty")) == 0);
	CHECK(!exists("empty"));
}

/* The path itself a symlink to a directory: the link goes, the directory
 * it names stays. */
TEST(fsutil_remove_tree_root_symlink_is_not_followed)
{
	CHECK(mk("target") == 0);
	CHECK(put("target/f", "keep") == 0);
	CHECK(symlink(tp("target"), tp("link")) == 0);
	CHECK(fs_remove_tree(tp("link")) == 0);
	CHECK(!exists("link"));
	CHECK(exists("target/f"));
}

/* rm -rf for the test's own clean-up, independent of fs_remove_tree. */
static int rm_rf_at(int at, const char *name)
{
	struct stat st;
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		if (!d) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		struct dirent *de;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				rm_rf_at(dirfd(d), de->d_name);
		closedir(d);
		return unlinkat(at, name, AT_REMOVEDIR);
	}
	return unlinkat(at, name, 0);
}

/* A chain of `depth` directories below <tmp>/<top>, a file in each. */
static int make_chain(const char *top, int depth)
{
	char rel[PATH_MAX];
	sfmt(rel, sizeof rel, "%s", top);
	if (mk(rel) < 0)
		return -1;
	for (int i = 0; i < depth; i++) {
		size_t n = strlen(rel);
		sfmt(rel + n, sizeof rel - n, "/d%d", i);
		char f[PATH_MAX + 8];
		sfmt(f, sizeof f, "%s/f", rel);
		if (mk(rel) < 0 || put(f, "x") < 0)
			return -1;
	}
	return 0;
}

/* Deep trees: a command's work dir (`mkdir -p` of a deep path, a
 * node_modules tree) lives inside the VM directory this removes.
 *
 * musl's nftw does not descend below its fd budget (16 here once), so
 * fs_remove_tree walks with openat itself and moves subtrees deeper than
 * its own fd bound up to the top: 15 and 40 levels both go, under musl
 * (unit) and glibc (unit-san). */
TEST(fsutil_remove_tree_deep)
{
	CHECK(make_chain("deep15", 15) == 0);
	CHECK(fs_remove_tree(tp("deep15")) == 0);
	CHECK(!exists("deep15"));

	CHECK(make_chain("deep40", 40) == 0);
	int rc = fs_remove_tree(tp("deep40"));
	bool gone = !exists("deep40");
	/* Clean up whatever is left (the harness walks with nftw too). */
	rm_rf_at(AT_FDCWD, tp("deep40"));
	CHECK(!exists("deep40"));
	CHECK(rc == 0);
	CHECK(gone);
}

/* A mount inside the tree is not entered: its contents survive and the
 * removal reports that something is left. Needs CAP_SYS_ADMIN; skipped
 * without it. */
TEST(fsutil_remove_tree_does_not_cross_mounts)
{
	CHECK(mk("mtree") == 0);
	CHECK(mk("mtree/mnt") == 0);
	CHECK(put("mtree/plain", "x") == 0);
	if (mount("pyro-unit", tp("mtree/mnt"), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") < 0) {
		fprintf(stderr, "    (cannot mount tmpfs: %s; skipped)\n", strerror(errno));
		return;
	}
	int made = put("mtree/mnt/precious", "keep");
	errno = 0;
	int rc = fs_remove_tree(tp("mtree"));
	int e = errno;
	bool precious = exists("mtree/mnt/precious");
	bool plain_gone = !exists("mtree/plain");
	int um = umount2(tp("mtree/mnt"), MNT_DETACH);
	int rc2 = fs_remove_tree(tp("mtree"));
	CHECK(made == 0);
	CHECK(rc == -1 && e != 0);
	CHECK(precious);
	CHECK(plain_gone);
	CHECK(um == 0);
	CHECK(rc2 == 0);
	CHECK(!exists("mtree"));
}

/* An empty directory its owner cannot read (mode 000), as a command run in
 * host-compat mode can leave in its work dir: `rm -rf` removes it (rmdir
 * needs only the parent's permissions). Root reads anything, so the walk
 * runs as "nobody" in a child.
 *
 * An empty directory is rmdir'ed without being opened, so its mode does
 * not matter. Asserted as "nobody" in a child when running as root. */
TEST(fsutil_remove_tree_unreadable_empty_dir)
{
	if (geteuid() != 0) {
		CHECK(mk("urtree") == 0);
		CHECK(mk("urtree/locked") == 0);
		CHECK(chmod(tp("urtree/locked"), 0) == 0);
		int rc = fs_remove_tree(tp("urtree"));
		chmod(tp("urtree/locked"), 0700);
		CHECK(rc == 0);
		return;
	}
	/* As root: a tree owned by nobody, reachable by nobody. */
	CHECK(chmod(test_tmpdir(), 0711) == 0);
	CHECK(mk("urtree") == 0);
	CHECK(chown(tp("urtree"), 65534, 65534) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		if (mkdir(tp("urtree/t"), 0700) < 0 || mkdir(tp("urtree/t/locked"), 0700) < 0 ||
		    chmod(tp("urtree/t/locked"), 0) < 0)
			_exit(11);
		int rc = fs_remove_tree(tp("urtree/t"));
		int e = errno;
		chmod(tp("urtree/t/locked"), 0700); /* let the harness clean up */
		_exit(rc == 0 ? 0 : e == EISDIR ? 20 : 21);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	int code = WEXITSTATUS(st);
	CHECK(code != 10 && code != 11); /* the child could set up */
	CHECK(code == 0);
	CHECK(!exists("urtree/t"));
}
