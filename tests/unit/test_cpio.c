/* core/cpio.h and core/initramfs.h: the archive is read back with
 * libarchive's cpio reader (an independent parser), and the raw newc
 * header fields the reader does not expose (ino, nlink, padding, trailer)
 * are checked on the bytes. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/cpio.h"
#include "../../core/fault.h"
#include "../../core/initramfs.h"
#include "test.h"

/* Field i (0 = ino ... 12 = check) of the newc header at p. */
static unsigned long field(const char *p, int i)
{
	char hex[9];
	memcpy(hex, p + 6 + 8 * i, 8);
	hex[8] = '\0';
	return strtoul(hex, NULL, 16);
}

static int build_sample(struct cpio_writer *w, struct pyro_err *err)
{
	const struct cpio_meta m644 = { .perm = 0644, .mtime = 1234 };
	return cpio_add_dir(w, "/etc", NULL, err) ||
	       cpio_add_file_mem(w, "etc/hello", &m644, "hello", 5, err) ||
	       cpio_add_file_mem(w, "etc/empty", NULL, "", 0, err) ||
	       cpio_add_symlink(w, "etc/link", NULL, "hello", err) ||
	       cpio_add_chardev(w, "etc/console", NULL, 5, 1, err) || cpio_finish(w, err);
}

TEST(cpio_reads_back_with_libarchive)
{
	struct buf b = BUF_INIT;
	struct cpio_writer w;
	struct pyro_err err = { 0 };
	cpio_writer_init_buf(&w, &b);
	CHECK(build_sample(&w, &err) == 0);
	CHECK(b.len % 4 == 0);

	struct archive *a = archive_read_new();
	CHECK(a);
	archive_read_support_format_cpio(a);
	int ok = archive_read_open_memory(a, b.data, b.len) == ARCHIVE_OK;
	struct archive_entry *e;
	const char *want[] = { "etc", "etc/hello", "etc/empty", "etc/link", "etc/console" };
	int n = 0;
	char data[16];
	while (ok && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (n >= 5 || strcmp(archive_entry_pathname(e), want[n]) ||
		    archive_entry_uid(e) != 0 || archive_entry_gid(e) != 0)
			ok = 0;
		switch (n) {
		case 0:
			ok = ok && archive_entry_mode(e) == (S_IFDIR | 0755) &&
			     archive_entry_mtime(e) == 0 && archive_entry_nlink(e) == 2;
			break;
		case 1:
			ok = ok && archive_entry_mode(e) == (S_IFREG | 0644) &&
			     archive_entry_mtime(e) == 1234 && archive_entry_size(e) == 5 &&
			     archive_read_data(a, data, sizeof data) == 5 && !memcmp(data, "hello", 5);
			break;
		case 2:
			ok = ok && archive_entry_size(e) == 0 && archive_entry_mode(e) == (S_IFREG | 0644);
			break;
		case 3:
			ok = ok && archive_entry_filetype(e) == AE_IFLNK &&
			     !strcmp(archive_entry_symlink(e), "hello");
			break;
		case 4:
			ok = ok && archive_entry_mode(e) == (S_IFCHR | 0600) &&
			     archive_entry_rdevmajor(e) == 5 && archive_entry_rdevminor(e) == 1;
			break;
		}
		n++;
	}
	archive_read_free(a);
	CHECK(ok);
	CHECK(n == 5);

	/* Raw fields: sequential inodes from 1, nlink, 4-byte alignment of
	 * every header, the trailer last with ino 0. */
	size_t off = 0;
	for (unsigned long ino = 1; ino <= 5; ino++) {
		const char *h = b.data + off;
		CHECK(off % 4 == 0 && !memcmp(h, "070701", 6));
		CHECK(field(h, 0) == ino);
		CHECK(field(h, 4) == (ino == 1 ? 2u : 1u));
		size_t namesize = field(h, 11), filesize = field(h, 6);
		off = (off + 110 + namesize + 3) / 4 * 4;
		off = (off + filesize + 3) / 4 * 4;
	}
	CHECK(!memcmp(b.data + off + 110, "TRAILER!!!", 11));
	CHECK(field(b.data + off, 0) == 0);
	CHECK(b.len == (off + 110 + 11 + 3) / 4 * 4);
	buf_release(&b);
}

TEST(cpio_fd_and_buf_give_the_same_bytes)
{
	struct buf b = BUF_INIT, f = BUF_INIT;
	struct cpio_writer w;
	struct pyro_err err = { 0 };
	char path[4096];
	snprintf(path, sizeof path, "%s/a.cpio", test_tmpdir());
	cpio_writer_init_buf(&w, &b);
	CHECK(build_sample(&w, &err) == 0);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	cpio_writer_init_fd(&w, fd);
	int rc = build_sample(&w, &err);
	close(fd);
	CHECK(rc == 0);
	CHECK(buf_read_file(&f, path) == 0);
	int same = f.len == b.len && !memcmp(f.data, b.data, b.len);
	buf_release(&b);
	buf_release(&f);
	CHECK(same);
}

TEST(cpio_file_from_path_keeps_mode_and_bytes)
{
	struct buf b = BUF_INIT;
	struct cpio_writer w;
	struct pyro_err err = { 0 };
	char path[4096];
	snprintf(path, sizeof path, "%s/x", test_tmpdir());
	FILE *fp = fopen(path, "w");
	CHECK(fp);
	fputs("abcdefg", fp);
	fclose(fp);
	chmod(path, 0751);
	cpio_writer_init_buf(&w, &b);
	int rc = cpio_add_file_path(&w, "x", NULL, path, &err);
	int bad = cpio_add_file_path(&w, "d", NULL, test_tmpdir(), &err);
	const char *h = b.data;
	int ok = rc == 0 && bad == -1 && field(h, 1) == (S_IFREG | 0751) && field(h, 6) == 7 &&
		 !memcmp(h + 112, "abcdefg", 7) && h[119] == '\0';
	buf_release(&b);
	CHECK(ok);
}

TEST(cpio_write_failure_sticks)
{
	struct cpio_writer w;
	struct pyro_err err = { 0 };
	char path[4096];
	snprintf(path, sizeof path, "%s/f.cpio", test_tmpdir());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	cpio_writer_init_fd(&w, fd);
	fault_arm(FAULT_WRITE, 1, ENOSPC);
	int first = cpio_add_dir(&w, "a", NULL, &err);
	fault_disarm_all();
	int errno_kept = err.sys_errno == ENOSPC;
	int second = cpio_add_dir(&w, "b", NULL, &err);
	int third = cpio_finish(&w, &err);
	close(fd);
	CHECK(first == -1 && errno_kept);
	CHECK(second == -1 && third == -1);
}

TEST(cpio_refuses_empty_names)
{
	struct buf b = BUF_INIT;
	struct cpio_writer w;
	struct pyro_err err = { 0 };
	cpio_writer_init_buf(&w, &b);
	CHECK(cpio_add_dir(&w, "/", NULL, &err) == -1);
	CHECK(b.len == 0);
	buf_release(&b);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

TEST(initramfs_is_cached_and_corruption_is_replaced)
{
	char exe[4096], cache[4096], p1[4096], p2[4096];
	struct pyro_err err = { 0 };
	bool reused = true;
	snprintf(exe, sizeof exe, "%s/pyro", test_tmpdir());
	snprintf(cache, sizeof cache, "%s/cache/deeper", test_tmpdir());
	CHECK(write_file(exe, "not really an ELF") == 0);
	CHECK(initramfs_build(exe, cache, p1, sizeof p1, &reused, &err) == 0);
	CHECK(!reused);
	/* sha256("not really an ELF") names the file. */
	CHECK_CONTAINS(p1, "/cache/deeper/initramfs/");
	CHECK(strlen(strrchr(p1, '/')) == 1 + 64 + 5);
	CHECK(initramfs_build(exe, cache, p2, sizeof p2, &reused, &err) == 0);
	CHECK(reused);
	CHECK_STR(p1, p2);
	/* A truncated file with the right name is not a hit. */
	CHECK(truncate(p1, 100) == 0);
	CHECK(initramfs_build(exe, cache, p2, sizeof p2, &reused, &err) == 0);
	CHECK(!reused);
	struct stat st;
	CHECK(stat(p1, &st) == 0 && st.st_size > 100 && (st.st_mode & 0777) == 0644);
	/* Same size, one byte changed: not a hit either. */
	int fd = open(p1, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "X", 1, 200) == 1);
	close(fd);
	CHECK(initramfs_build(exe, cache, p2, sizeof p2, &reused, &err) == 0);
	CHECK(!reused);
	CHECK(initramfs_build(exe, cache, p2, sizeof p2, &reused, &err) == 0);
	CHECK(reused);
}

TEST(initramfs_layout)
{
	struct buf b = BUF_INIT;
	struct pyro_err err = { 0 };
	CHECK(initramfs_write_cpio(&b, "BIN", 3, &err) == 0);
	struct archive *a = archive_read_new();
	archive_read_support_format_cpio(a);
	int ok = archive_read_open_memory(a, b.data, b.len) == ARCHIVE_OK;
	struct archive_entry *e;
	char got[256] = "";
	while (ok && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		char one[64];
		snprintf(one, sizeof one, "%s:%o:%u,%u ", archive_entry_pathname(e),
			 (unsigned)archive_entry_mode(e), (unsigned)archive_entry_rdevmajor(e),
			 (unsigned)archive_entry_rdevminor(e));
		strncat(got, one, sizeof got - strlen(got) - 1);
	}
	archive_read_free(a);
	buf_release(&b);
	CHECK(ok);
	CHECK_STR(got, "dev:40755:0,0 dev/console:20600:5,1 proc:40755:0,0 sys:40755:0,0 "
		       "root:40700:0,0 init:100755:0,0 ");
}

TEST(initramfs_reports_a_missing_binary)
{
	char path[4096];
	struct pyro_err err = { 0 };
	CHECK(initramfs_build("/nonexistent/pyro", test_tmpdir(), path, sizeof path, NULL, &err) ==
	      -1);
	CHECK_CONTAINS(err.msg, "/nonexistent/pyro");
}
