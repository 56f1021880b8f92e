/* Tests for core/wsarchive_extract.c and wsarchive_read.c: extraction and
 * inspection of hostile, broken, compressed and ordinary archives. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/exitcodes.h"
#include "../../core/fault.h"
#include "../../core/wsarchive.h"
#include "tarbuild.h"
#include "test.h"

/* A destination directory "dest" (and its path) plus an "outside" one that
 * nothing may ever touch. */
struct env {
	char dest[PATH_MAX];
	char outside[PATH_MAX];
	int fd;
};

static int env_init(struct env *e)
{
	if (tb_mkdir("dest", e->dest) < 0 || tb_mkdir("outside", e->outside) < 0)
		return -1;
	e->fd = tb_open_dir(e->dest);
	return e->fd < 0 ? -1 : 0;
}

static void env_path(const struct env *e, const char *rel, char *out)
{
	if (snprintf(out, PATH_MAX, "%s/%s", e->dest, rel) >= PATH_MAX)
		abort();
}

/* Extract b into e; 0 or -1 with err. */
static int run(struct env *e, struct buf *b, struct wsarchive_stats *st, struct pyro_err *err)
{
	return tb_extract(b, e->fd, NULL, st, err);
}

/* Extract a one-member raw archive and return the error message ("" when
 * it succeeded). */
static const char *run_raw(struct env *e, const char *name, char type, const char *link)
{
	static struct pyro_err err;
	struct buf b = BUF_INIT;
	tb_raw(&b, name, type, link, type == '0' ? "x" : NULL, type == '0' ? 1 : 0);
	tb_raw_end(&b);
	int rc = run(e, &b, NULL, &err);
	buf_release(&b);
	if (rc == 0)
		return "";
	if (rc != -1 || err.code != PYRO_EXIT_FAILURE)
		return "(bad error state)";
	return err.msg;
}

TEST(wsarchive_extracts_tree_and_counts)
{
	struct env e;
	struct tb t;
	struct buf b = BUF_INIT;
	struct wsarchive_stats st;
	struct pyro_err err = { 0 };
	char p[PATH_MAX];
	struct stat sb;
	CHECK(env_init(&e) == 0);
	CHECK(tb_open(&t, &b, TB_NONE, "pax") == 0);
	tb_dir(&t, "src", 0755);
	tb_file(&t, "src/main.c", "int main(void) { return 0; }\n", 0644);
	tb_file(&t, "run.sh", "#!/bin/sh\n", 04755); /* setuid dropped */
	tb_file(&t, "deep/er/still/empty.txt", "", 0600);
	tb_symlink(&t, "src/link", "main.c");
	tb_dir(&t, "private/", 0700);
	tb_file(&t, " spaced ", "s", 0644);
	CHECK(tb_close(&t) == 0);
	CHECK(run(&e, &b, &st, &err) == 0);
	buf_release(&b);
	CHECK(st.entry_count == 7);
	CHECK(st.bytes_written == 29 + 10 + 0 + 1);
	env_path(&e, "src/main.c", p);
	CHECK(tb_file_is(p, "int main(void) { return 0; }\n"));
	CHECK(stat(p, &sb) == 0 && sb.st_mtime == TB_MTIME);
	mode_t mask = umask(022);
	umask(mask);
	CHECK((sb.st_mode & 07777) == (0644 & ~mask));
	env_path(&e, "run.sh", p);
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 07777) == (0755 & ~mask));
	env_path(&e, "deep/er/still/empty.txt", p);
	CHECK(tb_file_is(p, ""));
	env_path(&e, "src/link", p);
	CHECK(tb_link_is(p, "main.c"));
	CHECK(lstat(p, &sb) == 0 && sb.st_mtime == TB_MTIME);
	env_path(&e, "private", p);
	CHECK(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == (0700 & ~mask));
	env_path(&e, "spaced", p); /* the name is stripped */
	CHECK(tb_file_is(p, "s"));
	/* No temporary left behind. */
	CHECK(tb_count(e.dest) == 5);
	close(e.fd);
}

TEST(wsarchive_replaces_files_and_symlinks_keeps_dirs)
{
	struct env e;
	struct buf b = BUF_INIT;
	struct pyro_err err = { 0 };
	char p[PATH_MAX];
	struct stat sb;
	CHECK(env_init(&e) == 0);
	env_path(&e, "d", p);
	CHECK(mkdir(p, 0751) == 0);
	env_path(&e, "f", p);
	int fd = open(p, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0 && write(fd, "old content", 11) == 11);
	close(fd);
	env_path(&e, "l", p);
	CHECK(symlink("somewhere", p) == 0);
	env_path(&e, "dangling", p);
	CHECK(symlink("nothing-here", p) == 0);
	tb_raw(&b, "d", '5', NULL, NULL, 0);
	tb_raw(&b, "f", '0', NULL, "new", 3);
	tb_raw(&b, "l", '2', "d", NULL, 0);
	tb_raw(&b, "dangling", '2', "f", NULL, 0);
	tb_raw(&b, "f", '0', NULL, "newer", 5); /* a later duplicate wins */
	tb_raw_end(&b);
	CHECK(run(&e, &b, NULL, &err) == 0);
	buf_release(&b);
	env_path(&e, "d", p);
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0751);
	env_path(&e, "f", p);
	CHECK(tb_file_is(p, "newer"));
	env_path(&e, "l", p);
	CHECK(tb_link_is(p, "d"));
	env_path(&e, "dangling", p);
	CHECK(tb_link_is(p, "f"));
	close(e.fd);
}

TEST(wsarchive_rejects_unsafe_names)
{
	struct env e;
	CHECK(env_init(&e) == 0);
	CHECK_STR(run_raw(&e, "../escape", '0', NULL), "unsafe archive member path: ../escape");
	CHECK_STR(run_raw(&e, "a/../../escape", '0', NULL),
		  "unsafe archive member path: a/../../escape");
	CHECK_STR(run_raw(&e, "/etc/evil", '0', NULL),
		  "absolute archive member paths are not allowed: /etc/evil");
	CHECK_STR(run_raw(&e, "", '0', NULL), "archive member path is empty");
	CHECK_STR(run_raw(&e, " ", '5', NULL), "archive member path is empty");
	/* A directory member naming the root itself ("./", which `tar -C dir
	 * .` writes first) is the destination: accepted and counted, though
	 * the original refused it. A file of that name is still refused. */
	CHECK_STR(run_raw(&e, ".", '5', NULL), "");
	CHECK_STR(run_raw(&e, "./", '5', NULL), "");
	CHECK_STR(run_raw(&e, "././", '5', NULL), "");
	CHECK_STR(run_raw(&e, "/", '5', NULL), "archive member path is empty");
	CHECK_STR(run_raw(&e, ".", '0', NULL), "unsafe archive member path: .");
	CHECK_STR(run_raw(&e, "./..", '5', NULL), "unsafe archive member path: ./..");
	CHECK(tb_count(e.dest) == 0);
	CHECK(tb_count(e.outside) == 0);
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/escape", test_tmpdir());
	CHECK(!tb_exists(p));
	close(e.fd);
}

TEST(wsarchive_rejects_links_devices_fifos)
{
	struct env e;
	CHECK(env_init(&e) == 0);
	CHECK_STR(run_raw(&e, "hard", '1', "target"),
		  "hard links are not allowed in workspace archives: hard");
	CHECK_STR(run_raw(&e, "tty", '3', NULL), "unsupported archive member type: tty");
	CHECK_STR(run_raw(&e, "disk", '4', NULL), "unsupported archive member type: disk");
	CHECK_STR(run_raw(&e, "pipe", '6', NULL), "unsupported archive member type: pipe");
	/* GNU multi-volume continuation: no file type. */
	CHECK_STR(run_raw(&e, "cont", 'M', NULL), "unsupported archive member type: cont");
	CHECK(tb_count(e.dest) == 0);

	/* The same through libarchive's writer (pax; a hard link with data). */
	struct tb t;
	struct buf b = BUF_INIT;
	struct pyro_err err;
	CHECK(tb_open(&t, &b, TB_NONE, "pax") == 0);
	tb_file(&t, "target", "data", 0644);
	tb_hardlink(&t, "hard", "target");
	CHECK(tb_close(&t) == 0);
	CHECK(run(&e, &b, NULL, &err) == -1);
	CHECK_STR(err.msg, "hard links are not allowed in workspace archives: hard");
	buf_reset(&b);
	CHECK(tb_open(&t, &b, TB_NONE, "pax") == 0);
	tb_special(&t, "dev/null", AE_IFCHR);
	CHECK(tb_close(&t) == 0);
	CHECK(run(&e, &b, NULL, &err) == -1);
	CHECK_STR(err.msg, "unsupported archive member type: dev/null");
	/* Nothing created for it, not even its parent. */
	char p[PATH_MAX];
	env_path(&e, "dev", p);
	CHECK(!tb_exists(p));
	buf_release(&b);
	close(e.fd);
}

TEST(wsarchive_rejects_escaping_symlinks)
{
	struct env e;
	CHECK(env_init(&e) == 0);
	CHECK_STR(run_raw(&e, "l", '2', "/etc/passwd"), "symlink l escapes the workspace");
	CHECK_STR(run_raw(&e, "d/l", '2', "../x"), "symlink d/l escapes the workspace");
	CHECK_STR(run_raw(&e, "./d//l", '2', "../../x"), "symlink d/l escapes the workspace");
	CHECK_STR(run_raw(&e, "l", '2', "a/../b"), "symlink l escapes the workspace");
	CHECK_STR(run_raw(&e, "l", '2', ""), "symlink l has an empty target");
	CHECK_STR(run_raw(&e, "l", '2', "  "), "symlink l has an empty target");
	CHECK(tb_count(e.dest) == 0);
	close(e.fd);
}

TEST(wsarchive_never_traverses_symlinks)
{
	struct env e;
	struct buf b = BUF_INIT;
	struct pyro_err err;
	struct wsarchive_stats st;
	char p[PATH_MAX], q[PATH_MAX];
	CHECK(env_init(&e) == 0);
	/* A link from the archive itself, pointing inside. */
	tb_raw(&b, "sub", '5', NULL, NULL, 0);
	tb_raw(&b, "link", '2', "sub", NULL, 0);
	tb_raw(&b, "link/x", '0', NULL, "x", 1);
	tb_raw_end(&b);
	CHECK(run(&e, &b, &st, &err) == -1);
	CHECK_STR(err.msg, "archive member would traverse through a symlinked path: link/x");
	CHECK(st.entry_count == 2);
	env_path(&e, "sub", p);
	CHECK(tb_count(p) == 0);

	/* A link already there, pointing outside: not even a directory member
	 * or a symlink member goes through it. */
	env_path(&e, "out", p);
	CHECK(symlink(e.outside, p) == 0);
	CHECK_STR(run_raw(&e, "out/x", '0', NULL),
		  "archive member would traverse through a symlinked path: out/x");
	CHECK_STR(run_raw(&e, "out/d/", '5', NULL),
		  "archive member would traverse through a symlinked path: out/d");
	CHECK_STR(run_raw(&e, "out/l", '2', "x"),
		  "archive member would traverse through a symlinked path: out/l");
	CHECK_STR(run_raw(&e, "./out/a/b/c", '1', "x"),
		  "archive member would traverse through a symlinked path: ./out/a/b/c");
	/* As the last component it is a conflict, never followed. */
	CHECK_STR(run_raw(&e, "out", '0', NULL), "file conflicts with existing path: out");
	CHECK_STR(run_raw(&e, "out", '5', NULL), "directory conflicts with existing path: out");
	CHECK_STR(run_raw(&e, "out", '2', "sub"), "");
	CHECK(tb_count(e.outside) == 0);

	/* A dangling link from the archive, then a file of the same name. */
	CHECK_STR(run_raw(&e, "dangling", '2', "nowhere"), "");
	CHECK_STR(run_raw(&e, "dangling", '0', NULL),
		  "file conflicts with existing path: dangling");
	env_path(&e, "nowhere", p);
	CHECK(!tb_exists(p));
	/* The same with /etc: nothing written there. */
	env_path(&e, "etc", q);
	CHECK(symlink("/etc", q) == 0);
	CHECK_STR(run_raw(&e, "etc/pyro-test-must-not-exist", '0', NULL),
		  "archive member would traverse through a symlinked path: "
		  "etc/pyro-test-must-not-exist");
	CHECK(!tb_exists("/etc/pyro-test-must-not-exist"));
	buf_release(&b);
	close(e.fd);
}

TEST(wsarchive_conflict_rules)
{
	struct env e;
	char p[PATH_MAX];
	CHECK(env_init(&e) == 0);
	env_path(&e, "file", p);
	CHECK(close(open(p, O_CREAT | O_WRONLY, 0644)) == 0);
	env_path(&e, "dir", p);
	CHECK(mkdir(p, 0755) == 0);
	env_path(&e, "linkdir", p);
	CHECK(symlink("dir", p) == 0);
	env_path(&e, "linkfile", p);
	CHECK(symlink("file", p) == 0);

	CHECK_STR(run_raw(&e, "file", '5', NULL), "directory conflicts with existing path: file");
	CHECK_STR(run_raw(&e, "file/", '5', NULL), "directory conflicts with existing path: file");
	CHECK_STR(run_raw(&e, "linkdir", '5', NULL),
		  "directory conflicts with existing path: linkdir");
	CHECK_STR(run_raw(&e, "dir", '5', NULL), "");
	CHECK_STR(run_raw(&e, "dir", '0', NULL), "file conflicts with existing path: dir");
	CHECK_STR(run_raw(&e, "linkfile", '0', NULL),
		  "file conflicts with existing path: linkfile");
	CHECK_STR(run_raw(&e, "linkdir", '0', NULL),
		  "file conflicts with existing path: linkdir");
	CHECK_STR(run_raw(&e, "file", '2', "dir"), "symlink conflicts with existing path: file");
	CHECK_STR(run_raw(&e, "dir", '2', "file"), "symlink conflicts with existing path: dir");
	CHECK_STR(run_raw(&e, "linkfile", '2', "dir"), "");
	env_path(&e, "linkfile", p);
	CHECK(tb_link_is(p, "dir"));
	/* Below a regular file: not a symlink, so the original's mkdir failed. */
	const char *msg = run_raw(&e, "file/sub/x", '0', NULL);
	CHECK_CONTAINS(msg, "creating the directories of archive member file/sub/x");
	CHECK_CONTAINS(msg, "Not a directory");
	env_path(&e, "file", p);
	CHECK(tb_file_is(p, ""));
	close(e.fd);
}

TEST(wsarchive_limits)
{
	struct env e;
	struct buf b = BUF_INIT;
	struct pyro_err err;
	struct wsarchive_stats st;
	CHECK(env_init(&e) == 0);
	for (int i = 0; i < 6; i++) {
		char name[16];
		snprintf(name, sizeof name, "d%d", i);
		tb_raw(&b, name, '5', NULL, NULL, 0);
	}
	tb_raw_end(&b);
	struct wsarchive_limits lim = { .max_entries = 5 };
	CHECK(tb_extract(&b, e.fd, &lim, &st, &err) == -1);
	CHECK_STR(err.msg, "the archive has more than 5 members; split it or raise the limit");
	CHECK(st.entry_count == 5);
	lim.max_entries = 6;
	CHECK(tb_extract(&b, e.fd, &lim, &st, &err) == 0);
	CHECK(st.entry_count == 6);

	buf_reset(&b);
	tb_raw(&b, "small", '0', NULL, "12345", 5);
	tb_raw(&b, "big", '0', NULL, "123456", 6);
	tb_raw_end(&b);
	lim = (struct wsarchive_limits){ .max_bytes = 10 };
	CHECK(tb_extract(&b, e.fd, &lim, &st, &err) == -1);
	CHECK_STR(err.msg, "the archive holds more than 10 bytes of file data; "
			   "make it smaller or raise the limit");
	CHECK(st.bytes_written == 5);
	char p[PATH_MAX];
	env_path(&e, "big", p);
	CHECK(!tb_exists(p));
	CHECK(tb_count(e.dest) == 7);

	lim = (struct wsarchive_limits){ .max_path = 8 };
	buf_reset(&b);
	tb_raw(&b, "./12345678/", '5', NULL, NULL, 0);
	tb_raw_end(&b);
	CHECK(tb_extract(&b, e.fd, &lim, &st, &err) == 0);
	buf_reset(&b);
	tb_raw(&b, "123456789", '0', NULL, NULL, 0);
	tb_raw_end(&b);
	CHECK(tb_extract(&b, e.fd, &lim, &st, &err) == -1);
	CHECK_STR(err.msg, "archive member path is longer than 8 bytes: 123456789");
	buf_release(&b);

	/* The default path limit (4095) with a long pax name. */
	struct tb t;
	char *name = malloc(5000);
	CHECK(name != NULL);
	memset(name, 'n', 4999);
	name[4999] = '\0';
	for (int i = 200; i < 4999; i += 200)
		name[i] = '/';
	CHECK(tb_open(&t, &b, TB_NONE, "pax") == 0);
	tb_file(&t, name, "x", 0644);
	CHECK(tb_close(&t) == 0);
	CHECK(tb_extract(&b, e.fd, NULL, &st, &err) == -1);
	free(name);
	CHECK_CONTAINS(err.msg, "archive member path is longer than 4095 bytes: nnnn");
	CHECK(err.sys_errno == ENAMETOOLONG);
	buf_release(&b);
	close(e.fd);
}

/* A pull that makes up a tar of `count` empty files on the fly. */
struct synth {
	unsigned long count, next;
	unsigned char block[512];
	size_t pos, len;
	int ended;
};

static ssize_t synth_pull(void *ctx, void *out, size_t cap, struct pyro_err *err)
{
	(void)err;
	struct synth *s = ctx;
	size_t done = 0;
	while (done < cap) {
		if (s->pos == s->len) {
			if (s->next < s->count) {
				struct buf b = BUF_INIT;
				char name[32];
				snprintf(name, sizeof name, "f%lu", s->next++);
				tb_raw(&b, name, '0', NULL, NULL, 0);
				memcpy(s->block, b.data, 512);
				buf_release(&b);
			} else if (s->ended < 2) {
				memset(s->block, 0, 512);
				s->ended++;
			} else {
				break;
			}
			s->pos = 0;
			s->len = 512;
		}
		size_t n = s->len - s->pos < cap - done ? s->len - s->pos : cap - done;
		memcpy((char *)out + done, s->block + s->pos, n);
		s->pos += n;
		done += n;
	}
	return (ssize_t)done;
}

TEST(wsarchive_default_member_limit)
{
	struct synth s = { .count = WSARCHIVE_DEFAULT_MAX_ENTRIES };
	struct wsarchive_stats st;
	struct pyro_err err;
	CHECK(wsarchive_inspect(synth_pull, &s, NULL, &st, &err) == 0);
	CHECK(st.entry_count == WSARCHIVE_DEFAULT_MAX_ENTRIES);
	s = (struct synth){ .count = WSARCHIVE_DEFAULT_MAX_ENTRIES + 1 };
	CHECK(wsarchive_inspect(synth_pull, &s, NULL, &st, &err) == -1);
	CHECK_STR(err.msg, "the archive has more than 200000 members; split it or raise the limit");
}

TEST(wsarchive_damaged_input)
{
	struct env e;
	struct buf b = BUF_INIT, good = BUF_INIT;
	struct pyro_err err;
	struct wsarchive_stats st;
	char p[PATH_MAX];
	CHECK(env_init(&e) == 0);
	char data[3000];
	memset(data, 'd', sizeof data);
	tb_raw(&good, "first", '0', NULL, "1", 1);
	tb_raw(&good, "second", '0', NULL, data, sizeof data);
	tb_raw_end(&good);

	/* Cut in the middle of the second member's data. */
	CHECK(buf_append(&b, good.data, 512 * 2 + 512 + 1000) == 0);
	CHECK(run(&e, &b, &st, &err) == -1);
	CHECK_CONTAINS(err.msg, "reading archive member second: the archive is damaged: ");
	CHECK(st.entry_count == 1);
	env_path(&e, "first", p);
	CHECK(tb_file_is(p, "1"));
	env_path(&e, "second", p);
	CHECK(!tb_exists(p));
	CHECK(tb_count(e.dest) == 1); /* no temporary left */

	/* Cut inside a header. */
	buf_reset(&b);
	CHECK(buf_append(&b, good.data, 512 * 2 + 100) == 0);
	CHECK(run(&e, &b, &st, &err) == -1);
	CHECK_CONTAINS(err.msg, "the archive is damaged: ");

	/* A bad checksum in the second header. */
	buf_reset(&b);
	tb_raw(&b, "first", '0', NULL, "1", 1);
	tb_raw_mode(&b, "second", '0', NULL, "2", 1, 0644, 1);
	tb_raw_end(&b);
	CHECK(run(&e, &b, &st, &err) == -1);
	CHECK_CONTAINS(err.msg, "the archive is damaged: ");
	CHECK(st.entry_count == 1);

	/* Not an archive at all, and nothing at all. */
	buf_reset(&b);
	buf_append_str(&b, "this is not a tar archive, just some text\n");
	CHECK(run(&e, &b, &st, &err) == -1);
	CHECK_CONTAINS(err.msg, "cannot read the archive (a tar, optionally gzip- or "
				"zstd-compressed): ");
	buf_reset(&b);
	CHECK(run(&e, &b, &st, &err) == -1);
	CHECK_STR(err.msg, "the archive is empty (0 bytes)");
	/* A bzip2 stream is not accepted (only gzip and zstd). */
	buf_reset(&b);
	buf_append(&b, "BZh91AY&SY", 10);
	CHECK(run(&e, &b, &st, &err) == -1);
	CHECK_CONTAINS(err.msg, "cannot read the archive");

	/* Just the end marker: an empty archive is fine, and trailing bytes
	 * after the marker are consumed too. */
	buf_reset(&b);
	tb_raw_end(&b);
	buf_append_str(&b, "trailing junk");
	CHECK(run(&e, &b, &st, &err) == 0);
	CHECK(st.entry_count == 0);
	buf_release(&b);
	buf_release(&good);
	close(e.fd);
}

TEST(wsarchive_compressed_and_formats)
{
	static const char *const formats[] = { "pax", "gnutar", "ustar", "v7" };
	static const enum tb_filter filters[] = { TB_NONE, TB_GZIP, TB_ZSTD };
	char longname[300];
	memset(longname, 'L', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	longname[120] = '/';
	for (size_t f = 0; f < sizeof filters / sizeof *filters; f++) {
		for (size_t k = 0; k < sizeof formats / sizeof *formats; k++) {
			struct env e;
			struct tb t;
			struct buf b = BUF_INIT;
			struct wsarchive_stats st;
			struct pyro_err err;
			char name[64], p[PATH_MAX];
			snprintf(name, sizeof name, "dest-%zu-%zu", f, k);
			CHECK(tb_mkdir(name, e.dest) == 0);
			e.fd = tb_open_dir(e.dest);
			CHECK(tb_open(&t, &b, filters[f], formats[k]) == 0);
			tb_dir(&t, "d", 0755);
			tb_file(&t, "d/a.txt", "alpha", 0644);
			tb_symlink(&t, "d/l", "a.txt");
			if (strcmp(formats[k], "ustar") && strcmp(formats[k], "v7"))
				tb_file(&t, longname, "long", 0644);
			CHECK(tb_close(&t) == 0);
			if (filters[f] == TB_GZIP)
				CHECK(b.len > 2 && (unsigned char)b.data[0] == 0x1f);
			if (run(&e, &b, &st, &err) != 0)
				fprintf(stderr, "    %s %d: %s\n", formats[k], (int)f, err.msg);
			CHECK(err.msg[0] == '\0');
			env_path(&e, "d/a.txt", p);
			CHECK(tb_file_is(p, "alpha"));
			env_path(&e, "d/l", p);
			CHECK(tb_link_is(p, "a.txt"));
			buf_release(&b);
			close(e.fd);
		}
	}
}

TEST(wsarchive_libarchive_type_quirks)
{
	/* Pinned behaviour that differs from Python's tarfile (wsarchive.h):
	 * unknown type flags are regular files (POSIX), a '0' member whose
	 * name ends in '/' is a directory. */
	struct env e;
	char p[PATH_MAX];
	CHECK(env_init(&e) == 0);
	CHECK_STR(run_raw(&e, "odd", 'Z', NULL), "");
	env_path(&e, "odd", p);
	CHECK(tb_file_is(p, ""));
	struct buf b = BUF_INIT;
	struct pyro_err err;
	tb_raw(&b, "olddir/", '0', NULL, NULL, 0);
	tb_raw_end(&b);
	CHECK(run(&e, &b, NULL, &err) == 0);
	buf_release(&b);
	env_path(&e, "olddir", p);
	struct stat sb;
	CHECK(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode));
	close(e.fd);
}

static ssize_t failing_pull(void *ctx, void *buf, size_t cap, struct pyro_err *err)
{
	int *calls = ctx;
	(void)buf, (void)cap;
	if ((*calls)++ == 0) {
		struct buf b = BUF_INIT;
		tb_raw(&b, "x", '0', NULL, "y", 1);
		memcpy(buf, b.data, 512);
		buf_release(&b);
		return 512;
	}
	return pyro_err_set(err, PYRO_EXIT_TIMEOUT, "the agent connection timed out");
}

TEST(wsarchive_pull_errors_and_faults)
{
	struct env e;
	struct pyro_err err;
	struct wsarchive_stats st;
	CHECK(env_init(&e) == 0);
	int calls = 0;
	CHECK(wsarchive_extract(e.fd, failing_pull, &calls, NULL, &st, &err) == -1);
	CHECK_STR(err.msg, "reading archive member x: the agent connection timed out");
	CHECK(err.code == PYRO_EXIT_TIMEOUT);

	/* From a file descriptor, with a failing read. */
	struct buf b = BUF_INIT;
	char p[PATH_MAX];
	tb_raw(&b, "fromfd", '0', NULL, "via fd", 6);
	tb_raw_end(&b);
	snprintf(p, sizeof p, "%s/a.tar", test_tmpdir());
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len);
	struct wsarchive_fd_source src = { fd };
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	fault_arm(FAULT_READ, 1, EIO);
	CHECK(wsarchive_extract(e.fd, wsarchive_pull_fd, &src, NULL, &st, &err) == -1);
	CHECK_CONTAINS(err.msg, "reading the archive: ");
	CHECK(err.sys_errno == EIO);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	fault_arm(FAULT_READ, 1, EINTR);
	CHECK(wsarchive_extract(e.fd, wsarchive_pull_fd, &src, NULL, &st, &err) == 0);
	env_path(&e, "fromfd", p);
	CHECK(tb_file_is(p, "via fd"));
	close(fd);

	/* A failing write leaves neither the file nor a temporary. */
	buf_reset(&b);
	tb_raw(&b, "nospace", '0', NULL, "data", 4);
	tb_raw_end(&b);
	fault_arm(FAULT_WRITE, 1, ENOSPC);
	CHECK(run(&e, &b, &st, &err) == -1);
	CHECK_STR(err.msg, "writing archive member nospace: No space left on device");
	env_path(&e, "nospace", p);
	CHECK(!tb_exists(p));
	CHECK(tb_count(e.dest) == 1);
	/* Allocation failures, each in turn, fail cleanly (LSan checks leaks). */
	for (long n = 1; n < 12; n++) {
		fault_arm(FAULT_ALLOC, n, ENOMEM);
		int rc = run(&e, &b, &st, &err);
		fault_disarm_all();
		CHECK(rc == 0 || err.code == PYRO_EXIT_INTERNAL);
	}
	buf_release(&b);
	close(e.fd);
}

TEST(wsarchive_inspect_rules)
{
	struct buf b = BUF_INIT;
	struct pyro_err err;
	struct wsarchive_stats st;
	tb_raw(&b, "d", '5', NULL, NULL, 0);
	tb_raw(&b, "d/f", '0', NULL, "abc", 3);
	tb_raw(&b, "d/l", '2', "f", NULL, 0);
	tb_raw_end(&b);
	struct wsarchive_mem_source src = { b.data, b.len, 0 };
	CHECK(wsarchive_inspect(wsarchive_pull_mem, &src, NULL, &st, &err) == 0);
	CHECK(st.entry_count == 3 && st.bytes_written == 3);
	CHECK(src.pos == src.len);
	static const struct {
		const char *name;
		char type;
		const char *link;
		const char *msg;
	} bad[] = {
		{ "../x", '0', NULL, "unsafe archive member path: ../x" },
		{ "l", '2', "/x", "symlink l escapes the workspace" },
		{ "h", '1', "d/f", "hard links are not allowed in workspace archives: h" },
		{ "p", '6', NULL, "unsupported archive member type: p" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		buf_reset(&b);
		tb_raw(&b, "ok", '0', NULL, NULL, 0);
		tb_raw(&b, bad[i].name, bad[i].type, bad[i].link, NULL, 0);
		tb_raw_end(&b);
		src = (struct wsarchive_mem_source){ b.data, b.len, 0 };
		CHECK(wsarchive_inspect(wsarchive_pull_mem, &src, NULL, &st, &err) == -1);
		CHECK_STR(err.msg, bad[i].msg);
		CHECK(st.entry_count == 1);
	}
	buf_release(&b);
}

TEST(wsarchive_open_dir_rules)
{
	struct env e;
	struct pyro_err err;
	char p[PATH_MAX];
	int fd;
	CHECK(env_init(&e) == 0);
	CHECK(wsarchive_open_dir(e.fd, "a/b/c", 0, &fd, &err) == -1);
	CHECK(err.sys_errno == ENOENT);
	CHECK(wsarchive_open_dir(e.fd, "a//b/./c/", 1, &fd, &err) == 0);
	close(fd);
	env_path(&e, "a/b/c", p);
	CHECK(tb_count(p) == 0);
	CHECK(wsarchive_open_dir(e.fd, "", 0, &fd, &err) == 0 && fd != e.fd);
	close(fd);
	env_path(&e, "a/link", p);
	CHECK(symlink(e.outside, p) == 0);
	CHECK(wsarchive_open_dir(e.fd, "a/link/x", 1, &fd, &err) == -1);
	CHECK_STR(err.msg, "destination would traverse through a symlinked path: a/link/x");
	CHECK(wsarchive_open_dir(e.fd, "a/link", 0, &fd, &err) == -1);
	CHECK(tb_count(e.outside) == 0);
	CHECK(wsarchive_open_dir(e.fd, "../x", 1, &fd, &err) == -1);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	CHECK(wsarchive_open_dir(e.fd, "/x", 1, &fd, &err) == -1);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	close(e.fd);
}
