/* libFuzzer target for archive extraction (core/wsarchive_extract.c and
 * wsarchive_read.c, with libarchive behind them): arbitrary bytes as a tar
 * (plain, gzip or zstd) extracted into a scratch directory.
 *
 * Layout, rebuilt for every input:
 *   BASE/dest/                 the destination (root fd)
 *   BASE/dest/escape -> ../outside, BASE/dest/pre/ (an existing directory),
 *   BASE/dest/pre/file         (an existing file)
 *   BASE/outside/sentinel      must never change, nothing may appear there
 * Properties, whether extraction succeeds or fails:
 *  - BASE/outside holds exactly the sentinel, unchanged;
 *  - BASE holds only dest and outside;
 *  - below dest there are only directories, regular files and symlinks; no
 *    temporary (".pyro-extract-" + 12 hex digits) is left, unless the
 *    input itself names such a file (a member may legitimately be called
 *    that; the fuzzer found one); every symlink other than
 *    "escape" has a target that passes tarsafe_symlink_target, so none
 *    can point outside;
 *  - a failure has a message and a known code; on success the whole input
 *    was consumed and the counts are bounded by the limits. */
#include "fuzz.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/exitcodes.h"
#include "../../core/tarsafe.h"
#include "../../core/wsarchive.h"

static char base[PATH_MAX];
static char dest[PATH_MAX + 8];
static char outside[PATH_MAX + 8];

static const struct wsarchive_limits lim = {
	.max_entries = 2000,
	.max_bytes = 4 << 20,
	.max_path = 1024,
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag;
	if (ftw->level == 0)
		return 0;
	/* Directories may have been made read-only by the archive. */
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path);
}

static void cleanup(void)
{
	if (base[0]) {
		nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		rmdir(base);
	}
}

static void setup(void)
{
	if (!base[0]) {
		atexit(cleanup);
		const char *tmp = getenv("TMPDIR");
		snprintf(base, sizeof base, "%s/pyro-fuzz-extract-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		FUZZ_ASSERT(mkdtemp(base) != NULL);
		snprintf(dest, sizeof dest, "%s/dest", base);
		snprintf(outside, sizeof outside, "%s/outside", base);
	}
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	char p[PATH_MAX * 2];
	FUZZ_ASSERT(mkdir(dest, 0755) == 0 && mkdir(outside, 0755) == 0);
	snprintf(p, sizeof p, "%s/escape", dest);
	FUZZ_ASSERT(symlink("../outside", p) == 0);
	snprintf(p, sizeof p, "%s/pre", dest);
	FUZZ_ASSERT(mkdir(p, 0755) == 0);
	snprintf(p, sizeof p, "%s/pre/file", dest);
	int fd = open(p, O_CREAT | O_WRONLY, 0644);
	FUZZ_ASSERT(fd >= 0);
	close(fd);
	snprintf(p, sizeof p, "%s/sentinel", outside);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	FUZZ_ASSERT(fd >= 0 && write(fd, "sentinel", 8) == 8);
	close(fd);
}

static void check_outside(void)
{
	DIR *d = opendir(outside);
	FUZZ_ASSERT(d != NULL);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		FUZZ_ASSERT(strcmp(e->d_name, "sentinel") == 0);
		n++;
	}
	closedir(d);
	FUZZ_ASSERT(n == 1);
	char p[PATH_MAX * 2], buf[16];
	snprintf(p, sizeof p, "%s/sentinel", outside);
	int fd = open(p, O_RDONLY | O_NOFOLLOW);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(read(fd, buf, sizeof buf) == 8 && memcmp(buf, "sentinel", 8) == 0);
	close(fd);
	d = opendir(base);
	FUZZ_ASSERT(d != NULL);
	n = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	FUZZ_ASSERT(n == 2);
}

/* Set per input: whether its bytes mention the temporaries' prefix. */
static int input_names_temp;

/* ".pyro-extract-" followed by exactly 12 lowercase hex digits. */
static int is_temp_name(const char *name)
{
	if (strncmp(name, ".pyro-extract-", 14) != 0)
		return 0;
	size_t n = 0;
	for (const char *p = name + 14; *p; p++, n++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return n == 12;
}

static int check_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)flag;
	const char *name = path + ftw->base;
	FUZZ_ASSERT(input_names_temp || !is_temp_name(name));
	FUZZ_ASSERT(S_ISDIR(sb->st_mode) || S_ISREG(sb->st_mode) || S_ISLNK(sb->st_mode));
	if (S_ISLNK(sb->st_mode) && !(ftw->level == 1 && !strcmp(name, "escape"))) {
		char t[PATH_MAX];
		ssize_t n = readlink(path, t, sizeof t - 1);
		FUZZ_ASSERT(n >= 0);
		t[n] = '\0';
		FUZZ_ASSERT(tarsafe_symlink_target("x", t, NULL) == 0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 20)
		return 0;
	setup();
	int root = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
	FUZZ_ASSERT(root >= 0);
	struct wsarchive_mem_source src = { data, size, 0 };
	struct wsarchive_stats st;
	struct pyro_err err = { 0 };
	int rc = wsarchive_extract(root, wsarchive_pull_mem, &src, &lim, &st, &err);
	close(root);
	if (rc == 0) {
		FUZZ_ASSERT(src.pos == src.len);
	} else {
		FUZZ_ASSERT(rc == -1 && err.msg[0]);
		FUZZ_ASSERT(err.code == PYRO_EXIT_FAILURE || err.code == PYRO_EXIT_INTERNAL);
	}
	FUZZ_ASSERT(st.entry_count <= lim.max_entries && st.bytes_written <= lim.max_bytes);
	check_outside();
	input_names_temp = memmem(data, size, ".pyro-extract-", 14) != NULL;
	FUZZ_ASSERT(nftw(dest, check_entry, 16, FTW_PHYS) == 0);
	return 0;
}
