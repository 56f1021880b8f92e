/* File-system helpers (fsutil.h). */
#include "fsutil.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	int rc = type == FTW_DP ? rmdir(path) : unlink(path);
	return rc != 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path)
{
	/* Another process (or thread) may be removing the same tree, or still
	 * dropping a last file into it: an entry that vanishes under the walk
	 * or a directory that is not empty yet just means "walk again". */
	int e = 0;
	for (int attempt = 0; attempt < 5; attempt++) {
		if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0)
			e = 0;
		else
			e = errno;
		struct stat st;
		if (lstat(path, &st) < 0 && errno == ENOENT)
			return 0;
	}
	errno = e ? e : ENOTEMPTY;
	return -1;
}
