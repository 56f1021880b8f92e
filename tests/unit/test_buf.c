#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../core/buf.h"
#include "../../core/fault.h"
#include "test.h"

TEST(buf_starts_empty_and_nul_terminated)
{
	struct buf b = BUF_INIT;
	CHECK(b.len == 0 && b.data[0] == '\0' && b.cap == 0);
	buf_release(&b); /* releasing an empty buffer is fine */
	CHECK(b.data[0] == '\0');
}

TEST(buf_appends_and_formats)
{
	struct buf b = BUF_INIT;
	CHECK(buf_append_str(&b, "hello") == 0);
	CHECK(buf_append_char(&b, ' ') == 0);
	CHECK(buf_printf(&b, "%d-%s", 42, "x") == 0);
	CHECK_STR(b.data, "hello 42-x");
	CHECK(b.len == 10);
	for (int i = 0; i < 1000; i++)
		CHECK(buf_append(&b, "0123456789", 10) == 0);
	CHECK(b.len == 10010 && b.data[b.len] == '\0');
	buf_release(&b);
}

TEST(buf_keeps_binary_data)
{
	struct buf b = BUF_INIT;
	CHECK(buf_append(&b, "a\0b", 3) == 0);
	CHECK(b.len == 3 && b.data[1] == '\0' && b.data[2] == 'b' && b.data[3] == '\0');
	buf_release(&b);
}

TEST(buf_truncate_consume_detach)
{
	struct buf b = BUF_INIT;
	buf_append_str(&b, "abcdef");
	buf_consume(&b, 2);
	CHECK_STR(b.data, "cdef");
	buf_truncate(&b, 2);
	CHECK_STR(b.data, "cd");
	buf_truncate(&b, 10); /* longer than len: no-op */
	CHECK(b.len == 2);
	size_t n;
	char *owned = buf_detach(&b, &n);
	CHECK(owned && n == 2);
	CHECK_STR(owned, "cd");
	free(owned);
	CHECK(b.len == 0 && b.cap == 0);
	char *empty = buf_detach(&b, &n);
	CHECK(empty && n == 0 && empty[0] == '\0');
	free(empty);
}

TEST(buf_cap_is_enforced_without_changing_contents)
{
	struct buf b;
	buf_init(&b, 8);
	CHECK(buf_append_str(&b, "12345678") == 0);
	errno = 0;
	CHECK(buf_append_str(&b, "9") == -1 && errno == EMSGSIZE);
	CHECK_STR(b.data, "12345678");
	CHECK(buf_printf(&b, "%s", "more") == -1);
	CHECK(b.len == 8);
	buf_release(&b);
}

TEST(buf_allocation_failure_leaves_buffer_intact)
{
	struct buf b = BUF_INIT;
	CHECK(buf_append_str(&b, "keep") == 0);
	fault_arm(FAULT_ALLOC, 1, ENOMEM);
	char big[200] = { 0 };
	memset(big, 'x', sizeof big - 1);
	CHECK(buf_append_str(&b, big) == -1 && errno == ENOMEM);
	CHECK_STR(b.data, "keep");
	buf_release(&b);
}

TEST(buf_reads_files_and_fds)
{
	char path[512];
	snprintf(path, sizeof path, "%s/data", test_tmpdir());
	FILE *f = fopen(path, "w");
	CHECK(f);
	for (int i = 0; i < 10000; i++)
		fputs("line\n", f);
	fclose(f);
	struct buf b = BUF_INIT;
	CHECK(buf_read_file(&b, path) == 0);
	CHECK(b.len == 50000);
	buf_release(&b);

	buf_init(&b, 100);
	errno = 0;
	CHECK(buf_read_file(&b, path) == -1 && errno == EMSGSIZE);
	buf_release(&b);

	/* Slightly over a cap that is not a power of two: capacity doubling
	 * must not let the read exceed it. */
	buf_init(&b, 49999);
	errno = 0;
	CHECK(buf_read_file(&b, path) == -1 && errno == EMSGSIZE);
	CHECK(b.len == 49999);
	buf_release(&b);
	buf_init(&b, 64);
	CHECK(buf_read_file(&b, path) == -1 && errno == EMSGSIZE && b.len == 64);
	buf_release(&b);

	/* Exactly at the cap is fine. */
	buf_init(&b, 50000);
	CHECK(buf_read_file(&b, path) == 0 && b.len == 50000);
	buf_release(&b);

	CHECK(buf_read_file(&b, "/nonexistent/pyro/file") == -1 && errno == ENOENT);

	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	fault_arm(FAULT_READ, 2, EIO);
	errno = 0;
	CHECK(buf_read_fd(&b, fd) == -1 && errno == EIO);
	close(fd);
	buf_release(&b);
}
