/* Tests for core/wsarchive_export.c (and wsarchive_extract_single): what an
 * export holds, its determinism, the host's checks, and round trips. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../core/exitcodes.h"
#include "../../core/fault.h"
#include "../../core/wsarchive.h"
#include "tarbuild.h"
#include "test.h"

static void path_in(const char *dir, const char *rel, char *out)
{
	if (snprintf(out, PATH_MAX, "%s/%s", dir, rel) >= PATH_MAX)
		abort();
}

static int put(const char *dir, const char *rel, const char *content, mode_t mode)
{
	char p[PATH_MAX];
	path_in(dir, rel, p);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, mode);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, content, strlen(content));
	close(fd);
	struct timespec t[2] = { { TB_MTIME - 5, 0 }, { TB_MTIME - 5, 0 } };
	if (utimensat(AT_FDCWD, p, t, 0) < 0 || chmod(p, mode) < 0)
		return -1;
	return n == (ssize_t)strlen(content) ? 0 : -1;
}

static int mk(const char *dir, const char *rel)
{
	char p[PATH_MAX];
	path_in(dir, rel, p);
	return mkdir(p, 0755);
}

static int ln(const char *dir, const char *rel, const char *target)
{
	char p[PATH_MAX];
	path_in(dir, rel, p);
	return symlink(target, p);
}

/* Export rel below the directory `root` into out. */
static int export_to(const char *root, const char *rel, const char *shown, unsigned flags,
		     struct buf *out, struct wsarchive_export_info *info, struct pyro_err *err)
{
	char p[PATH_MAX];
	path_in(test_tmpdir(), "export.tar", p);
	int ofd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0600);
	int rfd = tb_open_dir(root);
	if (ofd < 0 || rfd < 0)
		return -2;
	pyro_err_clear(err);
	int rc = wsarchive_export(rfd, rel, shown, ofd, flags, info, err);
	close(rfd);
	close(ofd);
	buf_reset(out);
	if (buf_read_file(out, p) < 0)
		return -2;
	return rc;
}

/* "name type [-> link]" lines of the archive in b, from libarchive. */
static void listing(const struct buf *b, struct buf *out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	archive_read_support_format_tar(a);
	buf_reset(out);
	if (archive_read_open_memory(a, b->data, b->len) != ARCHIVE_OK) {
		buf_append_str(out, "(unreadable)");
		archive_read_free(a);
		return;
	}
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		char t = archive_entry_filetype(e) == AE_IFDIR ? 'd' :
			 archive_entry_filetype(e) == AE_IFLNK ? 'l' :
			 archive_entry_filetype(e) == AE_IFREG ? 'f' : '?';
		buf_printf(out, "%s %c", archive_entry_pathname(e), t);
		if (t == 'l')
			buf_printf(out, " -> %s", archive_entry_symlink(e));
		if (t == 'f')
			buf_printf(out, " %lld", (long long)archive_entry_size(e));
		if ((archive_entry_uname(e) && *archive_entry_uname(e)) ||
		    (archive_entry_gname(e) && *archive_entry_gname(e)))
			buf_append_str(out, " NAMES");
		buf_append_char(out, '\n');
	}
	archive_read_free(a);
}

static int build_tree(const char *root)
{
	return mk(root, "src") | put(root, "src/main.c", "int main;\n", 0644) |
	       put(root, "src/b.txt", "bee", 0600) | mk(root, "src/empty") |
	       ln(root, "src/link", "main.c") | put(root, "run.sh", "#!/bin/sh\n", 0755) |
	       put(root, "Zeta", "z", 0644) | put(root, "caf\xc3\xa9", "utf8", 0644) |
	       ln(root, "dangling", "nowhere");
}

TEST(wsarchive_export_directory)
{
	char root[PATH_MAX];
	struct buf b = BUF_INIT, l = BUF_INIT, again = BUF_INIT;
	struct wsarchive_export_info info;
	struct pyro_err err;
	CHECK(tb_mkdir("ws", root) == 0);
	CHECK(build_tree(root) == 0);
	CHECK(export_to(root, "", "/workspace", 0, &b, &info, &err) == 0);
	CHECK(info.artifact_type == WSARCHIVE_DIRECTORY);
	CHECK_STR(wsarchive_artifact_name(info.artifact_type), "directory");
	CHECK(info.entry_count == 9);
	CHECK(info.bytes_written == 10 + 3 + 10 + 1 + 4);
	CHECK(info.archive_size == b.len);
	CHECK(b.len % 10240 == 0);
	listing(&b, &l);
	/* Sorted bytewise, depth first; the directory itself not included. */
	CHECK_STR(l.data, "Zeta f 1\n"
			  "caf\xc3\xa9 f 4\n"
			  "dangling l -> nowhere\n"
			  "run.sh f 10\n"
			  "src/ d\n"
			  "src/b.txt f 3\n"
			  "src/empty/ d\n"
			  "src/link l -> main.c\n"
			  "src/main.c f 10\n");
	/* Deterministic. */
	CHECK(export_to(root, NULL, NULL, 0, &again, &info, &err) == 0);
	CHECK(again.len == b.len && memcmp(again.data, b.data, b.len) == 0);
	/* A subdirectory: its children, named below it. */
	CHECK(export_to(root, "src", "/workspace/src", 0, &b, &info, &err) == 0);
	listing(&b, &l);
	CHECK_STR(l.data, "b.txt f 3\nempty/ d\nlink l -> main.c\nmain.c f 10\n");
	CHECK(info.entry_count == 4);
	/* An empty directory: an empty archive. */
	CHECK(export_to(root, "src/empty", "/workspace/src/empty", 0, &b, &info, &err) == 0);
	CHECK(info.entry_count == 0 && info.bytes_written == 0 && b.len == 10240);
	buf_release(&b);
	buf_release(&l);
	buf_release(&again);
}

TEST(wsarchive_export_file_and_symlink)
{
	char root[PATH_MAX];
	struct buf b = BUF_INIT, l = BUF_INIT;
	struct wsarchive_export_info info;
	struct pyro_err err;
	CHECK(tb_mkdir("ws", root) == 0);
	CHECK(build_tree(root) == 0);
	CHECK(export_to(root, "src/main.c", "/workspace/src/main.c", 0, &b, &info, &err) == 0);
	CHECK(info.artifact_type == WSARCHIVE_FILE);
	CHECK(info.entry_count == 1 && info.bytes_written == 10);
	listing(&b, &l);
	CHECK_STR(l.data, "main.c f 10\n");
	/* A symlink is not followed, even to a directory or nowhere. */
	CHECK(ln(root, "srclink", "src") == 0);
	CHECK(export_to(root, "srclink", "/workspace/srclink", 0, &b, &info, &err) == 0);
	CHECK(info.artifact_type == WSARCHIVE_SYMLINK);
	CHECK_STR(wsarchive_artifact_name(info.artifact_type), "symlink");
	CHECK(info.entry_count == 1 && info.bytes_written == 0);
	listing(&b, &l);
	CHECK_STR(l.data, "srclink l -> src\n");
	CHECK(export_to(root, "./dangling", NULL, 0, &b, &info, &err) == 0);
	listing(&b, &l);
	CHECK_STR(l.data, "dangling l -> nowhere\n");
	buf_release(&b);
	buf_release(&l);
}

TEST(wsarchive_export_errors)
{
	char root[PATH_MAX], outside[PATH_MAX];
	struct buf b = BUF_INIT;
	struct wsarchive_export_info info;
	struct pyro_err err;
	CHECK(tb_mkdir("ws", root) == 0);
	CHECK(tb_mkdir("outside", outside) == 0);
	CHECK(build_tree(root) == 0);
	CHECK(put(outside, "secret", "s", 0600) == 0);
	CHECK(export_to(root, "nope", "/workspace/nope", 0, &b, &info, &err) == -1);
	CHECK_STR(err.msg, "workspace path does not exist: /workspace/nope");
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK(export_to(root, "nope/deeper", "/workspace/nope/deeper", 0, &b, &info, &err) == -1);
	CHECK_STR(err.msg, "workspace path does not exist: /workspace/nope/deeper");
	CHECK(export_to(root, "run.sh/x", "/workspace/run.sh/x", 0, &b, &info, &err) == -1);
	CHECK_STR(err.msg, "workspace path does not exist: /workspace/run.sh/x");
	/* Parents are never followed. */
	CHECK(ln(root, "out", outside) == 0);
	CHECK(export_to(root, "out/secret", "/workspace/out/secret", 0, &b, &info, &err) == -1);
	CHECK_STR(err.msg, "workspace path would traverse through a symlinked parent: "
			   "/workspace/out/secret");
	/* Misuse. */
	CHECK(export_to(root, "../x", NULL, 0, &b, &info, &err) == -1);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	CHECK(export_to(root, "/etc", NULL, 0, &b, &info, &err) == -1);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	CHECK(export_to(root, "a..b", "/workspace/a..b", 0, &b, &info, &err) == -1);
	CHECK_STR(err.msg, "workspace path does not exist: /workspace/a..b");
	/* A top-level fifo. */
	char p[PATH_MAX];
	path_in(root, "fifo", p);
	CHECK(mkfifo(p, 0644) == 0);
	CHECK(export_to(root, "fifo", "/workspace/fifo", 0, &b, &info, &err) == -1);
	CHECK_STR(err.msg, "unsupported workspace path type: /workspace/fifo");
	/* A failing write. */
	fault_arm(FAULT_WRITE, 1, ENOSPC);
	CHECK(export_to(root, "src", "/workspace/src", 0, &b, &info, &err) == -1);
	CHECK_CONTAINS(err.msg, "writing the archive: ");
	CHECK(err.sys_errno == ENOSPC);
	for (long n = 1; n < 12; n++) {
		fault_arm(FAULT_ALLOC, n, ENOMEM);
		int rc = export_to(root, "src", "/workspace/src", 0, &b, &info, &err);
		fault_disarm_all();
		CHECK(rc == 0 || (rc == -1 && err.code == PYRO_EXIT_INTERNAL));
	}
	buf_release(&b);
}

TEST(wsarchive_export_special_files)
{
	char root[PATH_MAX], p[PATH_MAX];
	struct buf b = BUF_INIT, l = BUF_INIT;
	struct wsarchive_export_info info;
	struct pyro_err err;
	CHECK(tb_mkdir("ws", root) == 0);
	CHECK(mk(root, "d") == 0);
	CHECK(put(root, "d/a", "a", 0644) == 0);
	path_in(root, "d/fifo", p);
	CHECK(mkfifo(p, 0600) == 0);
	path_in(root, "d/sock", p);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	CHECK(strlen(p) < sizeof sa.sun_path);
	strcpy(sa.sun_path, p);
	CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
	close(s);
	/* The guest's behaviour: fifo stored, socket skipped (tarfile). */
	CHECK(export_to(root, "", "/workspace", 0, &b, &info, &err) == 0);
	listing(&b, &l);
	CHECK_STR(l.data, "d/ d\nd/a f 1\nd/fifo ?\n");
	CHECK(info.entry_count == 3);
	/* The host's checks refuse both, naming the path. */
	CHECK(export_to(root, "", "/workspace", WSARCHIVE_EXPORT_CHECK, &b, &info, &err) == -1);
	CHECK_STR(err.msg, "unsupported workspace path type: /workspace/d/fifo");
	path_in(root, "d/fifo", p);
	CHECK(unlink(p) == 0);
	CHECK(export_to(root, "d", "/srv/ws/d", WSARCHIVE_EXPORT_CHECK, &b, &info, &err) == -1);
	CHECK_STR(err.msg, "unsupported workspace path type: /srv/ws/d/sock");
	path_in(root, "d/sock", p);
	CHECK(unlink(p) == 0);
	/* ... and symlinks that leave the export root. */
	CHECK(ln(root, "d/up", "../d/a") == 0);
	CHECK(export_to(root, "", "/workspace", WSARCHIVE_EXPORT_CHECK, &b, &info, &err) == -1);
	CHECK_STR(err.msg, "symlink d/up escapes the workspace");
	CHECK(export_to(root, "d/up", "/workspace/d/up", WSARCHIVE_EXPORT_CHECK, &b, &info,
			&err) == -1);
	CHECK_STR(err.msg, "symlink up escapes the workspace");
	CHECK(export_to(root, "d/up", "/workspace/d/up", 0, &b, &info, &err) == 0);
	buf_release(&b);
	buf_release(&l);
}

TEST(wsarchive_export_hard_links_in_full)
{
	char root[PATH_MAX], a[PATH_MAX], c[PATH_MAX];
	struct buf b = BUF_INIT, l = BUF_INIT;
	struct wsarchive_export_info info;
	struct pyro_err err;
	CHECK(tb_mkdir("ws", root) == 0);
	CHECK(put(root, "a", "shared", 0644) == 0);
	path_in(root, "a", a);
	path_in(root, "c", c);
	CHECK(link(a, c) == 0);
	CHECK(export_to(root, "", "/workspace", WSARCHIVE_EXPORT_CHECK, &b, &info, &err) == 0);
	listing(&b, &l);
	CHECK_STR(l.data, "a f 6\nc f 6\n");
	CHECK(info.bytes_written == 12);
	/* And the result extracts (no hard link member). */
	char dest[PATH_MAX];
	CHECK(tb_mkdir("dest", dest) == 0);
	int fd = tb_open_dir(dest);
	CHECK(tb_extract(&b, fd, NULL, NULL, &err) == 0);
	close(fd);
	buf_release(&b);
	buf_release(&l);
}

TEST(wsarchive_round_trip)
{
	char root[PATH_MAX], dest[PATH_MAX], why[512] = "";
	struct buf b = BUF_INIT;
	struct wsarchive_export_info info;
	struct wsarchive_stats st;
	struct pyro_err err;
	CHECK(tb_mkdir("ws", root) == 0);
	CHECK(build_tree(root) == 0);
	CHECK(mk(root, "src/deep") == 0 && mk(root, "src/deep/er") == 0);
	CHECK(put(root, "src/deep/er/x", "x", 0640) == 0);
	char big[200000];
	for (size_t i = 0; i < sizeof big - 1; i++)
		big[i] = (char)('a' + i % 26);
	big[sizeof big - 1] = '\0';
	CHECK(put(root, "big", big, 0644) == 0);
	char longname[] = "a-name-well-over-one-hundred-bytes-long-to-need-a-pax-header-"
			  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	CHECK(put(root, longname, "long", 0644) == 0);
	CHECK(put(root, "bad\xff", "bytes", 0644) == 0);
	mode_t mask = umask(0);
	CHECK(export_to(root, "", "/workspace", WSARCHIVE_EXPORT_CHECK, &b, &info, &err) == 0);
	CHECK(tb_mkdir("dest", dest) == 0);
	int fd = tb_open_dir(dest);
	int rc = tb_extract(&b, fd, NULL, &st, &err);
	umask(mask);
	close(fd);
	CHECK(rc == 0);
	CHECK(st.entry_count == info.entry_count);
	CHECK(st.bytes_written == info.bytes_written);
	if (!tb_tree_equal(root, dest, why, sizeof why))
		fprintf(stderr, "    %s\n", why);
	CHECK(why[0] == '\0');
	buf_release(&b);
}

TEST(wsarchive_extract_single_export)
{
	char root[PATH_MAX], out[PATH_MAX], p[PATH_MAX];
	struct buf b = BUF_INIT;
	struct wsarchive_export_info info;
	struct wsarchive_stats st;
	struct pyro_err err;
	CHECK(tb_mkdir("ws", root) == 0);
	CHECK(tb_mkdir("out", out) == 0);
	CHECK(build_tree(root) == 0);
	int ofd = tb_open_dir(out);
	CHECK(ofd >= 0);

	CHECK(export_to(root, "run.sh", NULL, 0, &b, &info, &err) == 0);
	struct wsarchive_mem_source src = { b.data, b.len, 0 };
	CHECK(wsarchive_extract_single(ofd, "copy.sh", "/host/copy.sh", WSARCHIVE_FILE,
				       wsarchive_pull_mem, &src, NULL, &st, &err) == 0);
	CHECK(st.entry_count == 1 && st.bytes_written == 10);
	path_in(out, "copy.sh", p);
	CHECK(tb_file_is(p, "#!/bin/sh\n"));
	CHECK(tb_count(out) == 1);
	/* It must not exist yet. */
	src.pos = 0;
	CHECK(wsarchive_extract_single(ofd, "copy.sh", "/host/copy.sh", WSARCHIVE_FILE,
				       wsarchive_pull_mem, &src, NULL, &st, &err) == -1);
	CHECK_STR(err.msg, "output_path already exists: /host/copy.sh");
	/* The wrong kind. */
	src.pos = 0;
	CHECK(wsarchive_extract_single(ofd, "l", NULL, WSARCHIVE_SYMLINK, wsarchive_pull_mem,
				       &src, NULL, &st, &err) == -1);
	CHECK_STR(err.msg, "exported archive did not contain a symlink");
	CHECK(tb_count(out) == 1);

	CHECK(export_to(root, "src/link", NULL, 0, &b, &info, &err) == 0);
	src = (struct wsarchive_mem_source){ b.data, b.len, 0 };
	CHECK(wsarchive_extract_single(ofd, "l", NULL, WSARCHIVE_SYMLINK, wsarchive_pull_mem,
				       &src, NULL, &st, &err) == 0);
	path_in(out, "l", p);
	CHECK(tb_link_is(p, "main.c"));
	src.pos = 0;
	CHECK(wsarchive_extract_single(ofd, "f", NULL, WSARCHIVE_FILE, wsarchive_pull_mem, &src,
				       NULL, &st, &err) == -1);
	CHECK_STR(err.msg, "exported archive did not contain a regular file");

	/* Member counts. */
	CHECK(export_to(root, "src", NULL, 0, &b, &info, &err) == 0);
	src = (struct wsarchive_mem_source){ b.data, b.len, 0 };
	CHECK(wsarchive_extract_single(ofd, "f", NULL, WSARCHIVE_FILE, wsarchive_pull_mem, &src,
				       NULL, &st, &err) == -1);
	CHECK_STR(err.msg, "expected exactly one archive member for file export, got 4");
	CHECK(export_to(root, "src/empty", NULL, 0, &b, &info, &err) == 0);
	src = (struct wsarchive_mem_source){ b.data, b.len, 0 };
	CHECK(wsarchive_extract_single(ofd, "f", NULL, WSARCHIVE_SYMLINK, wsarchive_pull_mem,
				       &src, NULL, &st, &err) == -1);
	CHECK_STR(err.msg, "expected exactly one archive member for symlink export, got 0");
	/* A hostile single member. */
	buf_reset(&b);
	tb_raw(&b, "l", '2', "/etc/shadow", NULL, 0);
	tb_raw_end(&b);
	src = (struct wsarchive_mem_source){ b.data, b.len, 0 };
	CHECK(wsarchive_extract_single(ofd, "x", NULL, WSARCHIVE_SYMLINK, wsarchive_pull_mem,
				       &src, NULL, &st, &err) == -1);
	CHECK_STR(err.msg, "symlink l escapes the workspace");
	buf_reset(&b);
	tb_raw(&b, "../f", '0', NULL, "x", 1);
	tb_raw_end(&b);
	src = (struct wsarchive_mem_source){ b.data, b.len, 0 };
	CHECK(wsarchive_extract_single(ofd, "x", NULL, WSARCHIVE_FILE, wsarchive_pull_mem, &src,
				       NULL, &st, &err) == -1);
	CHECK_STR(err.msg, "unsafe archive member path: ../f");
	CHECK(tb_count(out) == 2); /* copy.sh and l; no temporaries */
	CHECK(wsarchive_extract_single(ofd, "a/b", NULL, WSARCHIVE_FILE, wsarchive_pull_mem, &src,
				       NULL, &st, &err) == -1);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	CHECK(wsarchive_extract_single(ofd, "d", NULL, WSARCHIVE_DIRECTORY, wsarchive_pull_mem,
				       &src, NULL, &st, &err) == -1);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	close(ofd);
	buf_release(&b);
}
