/* File-system helpers (fsutil.h).
 *
 * fs_remove_tree is written with openat/unlinkat rather than nftw: musl's
 * nftw does not descend below its fd budget (a tree 16 levels deep could
 * not be removed), and nftw cannot remove a directory it cannot read. Here:
 *  - a directory is first simply rmdir'ed (an empty one, even mode 000,
 *    goes without being opened); one that cannot be opened is given
 *    u+rwx first, as `rm -rf` by its owner would manage;
 *  - at most MAX_OPEN_DEPTH directories are open at once: a subdirectory
 *    deeper than that is renamed up to the top of the tree (same file
 *    system, so a rename) and removed by a later pass, so any depth works
 *    with a bounded number of fds and no PATH_MAX limit;
 *  - nothing on another file system is entered (a mount point inside the
 *    tree is an error, EXDEV/EBUSY, its contents untouched), symlinks are
 *    removed, never followed;
 *  - entries that vanish meanwhile (another remover) are fine. */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_OPEN_DEPTH 32

struct rm {
	int rootfd;
	dev_t dev;
	unsigned flat;   /* names given to flattened subtrees */
	int error;       /* first errno that stopped something */
};

static void note(struct rm *rm, int e)
{
	if (!rm->error && e && e != ENOENT)
		rm->error = e;
}

static void empty_dir(struct rm *rm, int dfd, int depth);

/* Remove the directory `name` in dfd, contents first. */
static void remove_dir(struct rm *rm, int dfd, const char *name, int depth)
{
	if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return;
	if (errno != ENOTEMPTY && errno != EEXIST) {
		note(rm, errno);
		return;
	}
	if (depth >= MAX_OPEN_DEPTH) {
		char flat[32];
		snprintf(flat, sizeof flat, ".rm-flat-%u", rm->flat++);
		if (renameat(dfd, name, rm->rootfd, flat) < 0)
			note(rm, errno);
		return; /* the next pass at the top removes it */
	}
	int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
		cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0) {
		note(rm, errno);
		return;
	}
	struct stat st;
	if (fstat(cfd, &st) == 0 && st.st_dev != rm->dev) {
		close(cfd);
		note(rm, EXDEV); /* a mount point: never empty another file system */
		return;
	}
	empty_dir(rm, cfd, depth + 1);
	close(cfd);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
		note(rm, errno);
}

static void empty_dir(struct rm *rm, int dfd, int depth)
{
	int lfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		note(rm, errno);
		if (lfd >= 0)
			close(lfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])))
			continue;
		bool is_dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				note(rm, errno);
				continue;
			}
			is_dir = S_ISDIR(st.st_mode);
		}
		if (is_dir)
			remove_dir(rm, dfd, n, depth);
		else if (unlinkat(dfd, n, 0) < 0)
			note(rm, errno);
	}
	closedir(d);
}

int fs_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
	/* Another process (or thread) may be removing the same tree, or still
	 * dropping a last file into it: go over it again while that helps. */
	int e = 0;
	for (int attempt = 0; attempt < 5; attempt++) {
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == EACCES && chmod(path, 0700) == 0)
			fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				return 0;
			e = errno;
			break;
		}
		struct rm rm = { .rootfd = fd, .dev = st.st_dev };
		/* Each pass empties MAX_OPEN_DEPTH levels and moves what lies
		 * deeper to the top; keep going while it moves something. */
		do {
			rm.error = 0;
			unsigned before = rm.flat;
			empty_dir(&rm, fd, 0);
			if (rm.flat == before)
				break;
		} while (!rm.error);
		close(fd);
		e = rm.error;
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (!e)
			e = errno;
		if (e == EXDEV || e == EBUSY || e == EACCES || e == EPERM)
			break; /* another pass will not change that */
	}
	errno = e ? e : ENOTEMPTY;
	return -1;
}
