/* Tests for core/envunpack.c: bundle archives and OCI layers into a
 * directory, sparse and hashed (GNU and pax sparse members, gzip, zstd,
 * chunked and failing inputs), and env_copy_file. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/digest.h"
#include "../../core/envunpack.h"
#include "../../core/exitcodes.h"
#include "tarbuild.h"
#include "test.h"

#define BIG (2u << 20)        /* logical size of the sparse file */
#define REGION2 (1u << 20)    /* where its second data region starts */
#define REGION2_LEN 5000u

/* The logical content of the sparse file: data at [0, 4096) and
 * [1 MiB, 1 MiB + 5000), zeros elsewhere. */
static unsigned char *sparse_content(void)
{
	unsigned char *p = calloc(1, BIG);
	if (!p)
		return NULL;
	for (size_t i = 0; i < 4096; i++)
		p[i] = (unsigned char)(i % 13 + 1);
	for (size_t i = 0; i < REGION2_LEN; i++)
		p[REGION2 + i] = (unsigned char)(i % 17 + 3);
	return p;
}

static void sha_of(const void *p, size_t n, char hex[DIGEST_HEX_LEN + 1])
{
	struct digest_sha256 d;
	digest_sha256_init(&d);
	digest_sha256_update(&d, p, n);
	digest_sha256_hex(&d, hex);
}

/* Pull input from memory in chunks, optionally failing at fail_at. */
struct memsrc {
	const unsigned char *p;
	size_t len, pos, chunk;
	size_t fail_at; /* 0: never */
	int calls;
};

static ssize_t mem_read(void *ctx, void *buf, size_t cap, struct pyro_err *err)
{
	struct memsrc *s = ctx;
	s->calls++;
	if (s->fail_at && s->pos >= s->fail_at)
		return pyro_err_set(err, PYRO_EXIT_TIMEOUT,
				    "the registry stopped sending after %zu bytes", s->pos);
	size_t n = s->len - s->pos;
	if (n > cap)
		n = cap;
	if (s->chunk && n > s->chunk)
		n = s->chunk;
	if (s->fail_at && s->pos + n > s->fail_at)
		n = s->fail_at - s->pos;
	memcpy(buf, s->p + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

static int new_dir(const char *name, char *path)
{
	if (tb_mkdir(name, path) < 0)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int file_equals(const char *dir, const char *name, const void *data, size_t len)
{
	char p[PATH_MAX + 200];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	struct buf b = BUF_INIT;
	int ok = buf_read_file(&b, p) == 0 && b.len == len && (!len || memcmp(b.data, data, len) == 0);
	buf_release(&b);
	return ok;
}

static long long blocks_of(const char *dir, const char *name)
{
	char p[PATH_MAX + 200];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	struct stat sb;
	return stat(p, &sb) == 0 ? (long long)sb.st_blocks * 512 : -1;
}

/* A pax archive with one sparse member `name` (libarchive writes GNU.sparse
 * 1.0 entries), then a small plain file "manifest.json". */
static int pax_sparse(struct buf *out, enum tb_filter filter, const char *name,
		      const unsigned char *content)
{
	struct tb t;
	if (tb_open(&t, out, filter, "pax") < 0)
		return -1;
	archive_entry_clear(t.e);
	archive_entry_copy_pathname(t.e, name);
	archive_entry_set_filetype(t.e, AE_IFREG);
	archive_entry_set_perm(t.e, 0644);
	archive_entry_set_size(t.e, BIG);
	archive_entry_sparse_add_entry(t.e, 0, 4096);
	archive_entry_sparse_add_entry(t.e, REGION2, REGION2_LEN);
	if (archive_write_header(t.a, t.e) != ARCHIVE_OK ||
	    archive_write_data(t.a, content, BIG) != (la_ssize_t)BIG)
		t.failed = 1;
	tb_file(&t, "manifest.json", "{}\n", 0644);
	return tb_close(&t);
}

TEST(envunpack_pax_sparse_member)
{
	unsigned char *content = sparse_content();
	CHECK(content);
	char want[DIGEST_HEX_LEN + 1], dir[PATH_MAX];
	sha_of(content, BIG, want);
	static const enum tb_filter filters[] = { TB_NONE, TB_GZIP, TB_ZSTD };
	for (size_t f = 0; f < 3; f++) {
		struct buf a = BUF_INIT;
		int ok = pax_sparse(&a, filters[f], "rootfs.ext4", content) == 0;
		/* The holes are not in the archive. */
		ok = ok && a.len < 64 * 1024;
		char name[32];
		snprintf(name, sizeof name, "out%zu", f);
		int dfd = ok ? new_dir(name, dir) : -1;
		struct memsrc src = { (const unsigned char *)a.data, a.len, 0, 777, 0, 0 };
		struct env_unpacked u = { 0 };
		struct pyro_err err = { 0 };
		int rc = dfd >= 0 ? env_unpack(mem_read, &src, dfd, "layer sha256:ab12", &u, &err)
				  : -1;
		if (rc != 0)
			fprintf(stderr, "    filter %zu: %s\n", f, err.msg);
		buf_release(&a);
		if (dfd >= 0)
			close(dfd);
		if (!ok || rc != 0)
			free(content);
		CHECK(ok && rc == 0);
		int same = u.count == 2 && strcmp(u.files[0].name, "rootfs.ext4") == 0 &&
			   u.files[0].size == BIG && strcmp(u.files[0].sha256, want) == 0 &&
			   file_equals(dir, "rootfs.ext4", content, BIG);
		long long alloc = blocks_of(dir, "rootfs.ext4");
		if (!same || alloc > 64 * 1024)
			free(content);
		CHECK(same);
		CHECK(alloc >= 0 && alloc <= 64 * 1024);
		const struct env_unpacked_file *mf = env_unpacked_find(&u, "manifest.json");
		char mwant[DIGEST_HEX_LEN + 1];
		sha_of("{}\n", 3, mwant);
		if (!mf || mf->size != 3 || strcmp(mf->sha256, mwant) != 0)
			free(content);
		CHECK(mf && mf->size == 3);
		CHECK_STR(mf->sha256, mwant);
		CHECK(env_unpacked_find(&u, "vmlinux") == NULL);
		/* The hash is the hash of the file as written. */
		char disk[DIGEST_HEX_LEN + 1];
		uint64_t size = 0;
		int dfd2 = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = digest_file_sha256(dfd2, "rootfs.ext4", disk, &size, &err);
		close(dfd2);
		if (rc != 0 || strcmp(disk, want) != 0)
			free(content);
		CHECK(rc == 0 && size == BIG);
		CHECK_STR(disk, want);
	}
	free(content);
}

/* A hand-made old-GNU sparse member (type 'S'): the regions' data stored
 * back to back, the map in the header, realsize BIG. */
static void gnu_sparse_member(struct buf *b, const char *name, const unsigned char *content)
{
	unsigned char h[512];
	memset(h, 0, sizeof h);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011o", 4096 + REGION2_LEN);
	snprintf((char *)h + 136, 12, "%011o", TB_MTIME);
	h[156] = 'S';
	memcpy(h + 257, "ustar  ", 8); /* old GNU magic + version */
	/* sparse[0..1] at 386: offset[12] numbytes[12] each. */
	snprintf((char *)h + 386, 12, "%011o", 0);
	snprintf((char *)h + 398, 12, "%011o", 4096);
	snprintf((char *)h + 410, 12, "%011o", REGION2);
	snprintf((char *)h + 422, 12, "%011o", REGION2_LEN);
	h[482] = 0; /* isextended */
	snprintf((char *)h + 483, 12, "%011o", BIG);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < sizeof h; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	buf_append(b, h, sizeof h);
	buf_append(b, content, 4096);
	buf_append(b, content + REGION2, REGION2_LEN);
	static const char zero[512];
	size_t stored = 4096 + REGION2_LEN;
	if (stored % 512)
		buf_append(b, zero, 512 - stored % 512);
}

TEST(envunpack_gnu_sparse_member)
{
	unsigned char *content = sparse_content();
	CHECK(content);
	char want[DIGEST_HEX_LEN + 1], dir[PATH_MAX];
	sha_of(content, BIG, want);
	struct buf a = BUF_INIT;
	tb_raw(&a, "bundle/", '5', NULL, NULL, 0);
	gnu_sparse_member(&a, "bundle/rootfs.ext4", content);
	tb_raw(&a, "bundle/vmlinux", '0', NULL, "kernel", 6);
	tb_raw_end(&a);
	int dfd = new_dir("out", dir);
	struct memsrc src = { (const unsigned char *)a.data, a.len, 0, 100, 0, 0 };
	struct env_unpacked u = { 0 };
	struct pyro_err err = { 0 };
	int rc = dfd >= 0 ? env_unpack(mem_read, &src, dfd, "bundle.tar", &u, &err) : -1;
	if (rc != 0)
		fprintf(stderr, "    %s\n", err.msg);
	buf_release(&a);
	if (dfd >= 0)
		close(dfd);
	int same = rc == 0 && u.count == 2 && strcmp(u.files[0].sha256, want) == 0 &&
		   u.files[0].size == BIG && file_equals(dir, "rootfs.ext4", content, BIG);
	free(content);
	CHECK(same);
	CHECK(blocks_of(dir, "rootfs.ext4") <= 64 * 1024);
	CHECK(file_equals(dir, "vmlinux", "kernel", 6));
	CHECK(u.files[1].size == 6);
}

/* Plain members; zero blocks in ordinary (non-sparse) data become holes. */
TEST(envunpack_gzip_zstd_plain_are_sparse_and_hashed)
{
	unsigned char *content = sparse_content();
	CHECK(content);
	char want[DIGEST_HEX_LEN + 1], dir[PATH_MAX];
	sha_of(content, BIG, want);
	static const enum tb_filter filters[] = { TB_NONE, TB_GZIP, TB_ZSTD };
	static const char *const formats[] = { "ustar", "gnutar", "pax" };
	for (size_t f = 0; f < 3; f++) {
		struct buf a = BUF_INIT;
		struct tb t;
		int ok = tb_open(&t, &a, filters[f], formats[f]) == 0;
		if (ok) {
			archive_entry_clear(t.e);
			archive_entry_copy_pathname(t.e, "./rootfs.ext4");
			archive_entry_set_filetype(t.e, AE_IFREG);
			archive_entry_set_perm(t.e, 0644);
			archive_entry_set_size(t.e, BIG);
			ok = archive_write_header(t.a, t.e) == ARCHIVE_OK &&
			     archive_write_data(t.a, content, BIG) == (la_ssize_t)BIG;
			tb_file(&t, "./empty", "", 0644);
			ok = tb_close(&t) == 0 && ok;
		}
		char name[32];
		snprintf(name, sizeof name, "plain%zu", f);
		int dfd = ok ? new_dir(name, dir) : -1;
		struct memsrc src = { (const unsigned char *)a.data, a.len, 0, 0, 0, 0 };
		struct env_unpacked u = { 0 };
		struct pyro_err err = { 0 };
		int rc = dfd >= 0 ? env_unpack(mem_read, &src, dfd, "x", &u, &err) : -1;
		if (rc != 0)
			fprintf(stderr, "    %s: %s\n", formats[f], err.msg);
		buf_release(&a);
		if (dfd >= 0)
			close(dfd);
		int same = rc == 0 && u.count == 2 && strcmp(u.files[0].sha256, want) == 0 &&
			   file_equals(dir, "rootfs.ext4", content, BIG) &&
			   blocks_of(dir, "rootfs.ext4") <= 64 * 1024;
		if (!same)
			free(content);
		CHECK(same);
		/* An empty file: the sha256 of nothing. */
		CHECK_STR(u.files[1].name, "empty");
		CHECK(u.files[1].size == 0);
		CHECK_STR(u.files[1].sha256,
			  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
		CHECK(file_equals(dir, "empty", "", 0));
	}
	free(content);
}

/* The reader's own error is the one reported, wherever it fails. */
TEST(envunpack_reader_error_is_reported)
{
	unsigned char *content = sparse_content();
	CHECK(content);
	static const enum tb_filter filters[] = { TB_NONE, TB_GZIP, TB_ZSTD };
	for (size_t f = 0; f < 3; f++) {
		struct buf a = BUF_INIT;
		struct tb t;
		int ok = tb_open(&t, &a, filters[f], "pax") == 0;
		if (ok) {
			/* Incompressible-ish data so the failure point lands mid-member. */
			for (size_t i = 4096; i < 300000; i++)
				content[i] = (unsigned char)((i * 2654435761u) >> 13);
			archive_entry_clear(t.e);
			archive_entry_copy_pathname(t.e, "rootfs.ext4");
			archive_entry_set_filetype(t.e, AE_IFREG);
			archive_entry_set_perm(t.e, 0644);
			archive_entry_set_size(t.e, BIG);
			ok = archive_write_header(t.a, t.e) == ARCHIVE_OK &&
			     archive_write_data(t.a, content, BIG) == (la_ssize_t)BIG;
			ok = tb_close(&t) == 0 && ok;
		}
		size_t fails[] = { 1, 600, a.len / 3, a.len / 3 * 2 };
		for (size_t k = 0; ok && k < sizeof fails / sizeof fails[0]; k++) {
			char dir[PATH_MAX], name[32];
			snprintf(name, sizeof name, "fail%zu-%zu", f, k);
			int dfd = new_dir(name, dir);
			struct memsrc src = { (const unsigned char *)a.data, a.len, 0, 4000,
					      fails[k], 0 };
			struct env_unpacked u = { 0 };
			struct pyro_err err = { 0 };
			int rc = env_unpack(mem_read, &src, dfd, "layer sha256:ab12", &u, &err);
			close(dfd);
			char want[100];
			snprintf(want, sizeof want, "the registry stopped sending after %zu bytes",
				 fails[k]);
			if (rc != -1 || err.code != PYRO_EXIT_TIMEOUT || strcmp(err.msg, want) != 0) {
				fprintf(stderr, "    filter %zu, fail at %zu of %zu: rc %d code %d: %s\n",
					f, fails[k], a.len, rc, err.code, err.msg);
				ok = 0;
			}
			/* Failing before the member's data ends: nothing counted. */
			if (k < 2 && u.count != 0)
				ok = 0;
		}
		/* NULL err is fine. */
		if (ok) {
			char dir[PATH_MAX];
			int dfd = new_dir("nullerr", dir);
			struct memsrc src = { (const unsigned char *)a.data, a.len, 0, 0, 1000, 0 };
			struct env_unpacked u = { 0 };
			ok = env_unpack(mem_read, &src, dfd, "x", &u, NULL) == -1;
			close(dfd);
		}
		buf_release(&a);
		if (!ok)
			free(content);
		CHECK(ok);
	}
	free(content);
}

TEST(envunpack_layers_accumulate_and_refuse_repeats)
{
	char dir[PATH_MAX];
	int dfd = new_dir("layers", dir);
	CHECK(dfd >= 0);
	struct env_unpacked u = { 0 };
	struct pyro_err err = { 0 };
	struct buf a = BUF_INIT;
	tb_raw(&a, "vmlinux", '0', NULL, "kernel bytes", 12);
	tb_raw_end(&a);
	struct memsrc src = { (const unsigned char *)a.data, a.len, 0, 0, 0, 0 };
	int rc1 = env_unpack(mem_read, &src, dfd, "layer 1", &u, &err);
	buf_reset(&a);
	tb_raw(&a, "rootfs.ext4", '0', NULL, "rootfs bytes", 12);
	tb_raw_end(&a);
	struct memsrc src2 = { (const unsigned char *)a.data, a.len, 0, 0, 0, 0 };
	int rc2 = env_unpack(mem_read, &src2, dfd, "layer 2", &u, &err);
	buf_reset(&a);
	tb_raw(&a, "vmlinux", '0', NULL, "again", 5);
	tb_raw_end(&a);
	struct memsrc src3 = { (const unsigned char *)a.data, a.len, 0, 0, 0, 0 };
	int rc3 = env_unpack(mem_read, &src3, dfd, "layer 3", &u, &err);
	buf_release(&a);
	close(dfd);
	CHECK(rc1 == 0 && rc2 == 0);
	CHECK(rc3 == -1);
	CHECK_STR(err.msg, "layer 3: 'vmlinux' appears twice");
	CHECK(u.count == 2);
	CHECK(file_equals(dir, "vmlinux", "kernel bytes", 12));
	char want[DIGEST_HEX_LEN + 1];
	sha_of("rootfs bytes", 12, want);
	CHECK_STR(env_unpacked_find(&u, "rootfs.ext4")->sha256, want);
}

TEST(envunpack_member_errors_name_the_source)
{
	static const struct {
		const char *name;
		char type;
		const char *link;
		const char *msg;
	} cases[] = {
		{ "x/y/z", '0', NULL,
		  "layer sha256:ab12: member 'x/y/z' is not at the top level of the bundle (or under "
		  "one directory)" },
		{ "../vmlinux", '0', NULL,
		  "layer sha256:ab12: member '../vmlinux' is not at the top level of the bundle (or "
		  "under one directory)" },
		{ "./../vmlinux", '0', NULL,
		  "layer sha256:ab12: member './../vmlinux' is not at the top level of the bundle (or "
		  "under one directory)" },
		{ "d/..", '0', NULL,
		  "layer sha256:ab12: member '..' is not a bundle file (expected manifest.json or "
		  "plain artifact names)" },
		{ "vmlinux", '2', "/boot/vmlinuz",
		  "layer sha256:ab12: member 'vmlinux' is not a regular file; bundles hold regular "
		  "files only" },
		{ "d/e", '5', NULL,
		  "layer sha256:ab12: member 'd/e' is not at the top level of the bundle (or under "
		  "one directory)" },
		{ "vmlinux", '3', NULL,
		  "layer sha256:ab12: member 'vmlinux' is not a regular file; bundles hold regular "
		  "files only" },
		{ "d/e/", '5', NULL,
		  "layer sha256:ab12: member 'd/e/' is not at the top level of the bundle (or under "
		  "one directory)" },
		{ "environment.json", '0', NULL,
		  "layer sha256:ab12: member 'environment.json' is not a bundle file (expected "
		  "manifest.json or plain artifact names)" },
		{ "a b", '0', NULL,
		  "layer sha256:ab12: member 'a b' is not a bundle file (expected manifest.json or "
		  "plain artifact names)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char dir[PATH_MAX], name[32];
		snprintf(name, sizeof name, "m%zu", i);
		int dfd = new_dir(name, dir);
		CHECK(dfd >= 0);
		struct buf a = BUF_INIT;
		tb_raw(&a, cases[i].name, cases[i].type, cases[i].link,
		       cases[i].type == '0' ? "x" : NULL, cases[i].type == '0' ? 1 : 0);
		tb_raw_end(&a);
		struct memsrc src = { (const unsigned char *)a.data, a.len, 0, 0, 0, 0 };
		struct env_unpacked u = { 0 };
		struct pyro_err err = { 0 };
		int rc = env_unpack(mem_read, &src, dfd, "layer sha256:ab12", &u, &err);
		buf_release(&a);
		close(dfd);
		if (rc != -1 || strcmp(err.msg, cases[i].msg) != 0)
			fprintf(stderr, "    case %zu\n", i);
		CHECK(rc == -1);
		CHECK(err.code == PYRO_EXIT_FAILURE);
		CHECK_STR(err.msg, cases[i].msg);
		CHECK(u.count == 0);
		/* Nothing was written outside the directory. */
		char p[PATH_MAX + 32];
		snprintf(p, sizeof p, "%s/vmlinux", test_tmpdir());
		CHECK(!tb_exists(p));
	}
}

TEST(envunpack_file_and_copy)
{
	unsigned char *content = sparse_content();
	CHECK(content);
	char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX + 32];
	int sfd = new_dir("src", src);
	int dfd = new_dir("dst", dst);
	snprintf(p, sizeof p, "%s/rootfs.ext4", src);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int ok = sfd >= 0 && dfd >= 0 && fd >= 0 && write(fd, content, BIG) == (ssize_t)BIG;
	if (fd >= 0)
		close(fd);
	struct env_unpacked u = { 0 };
	struct pyro_err err = { 0 };
	int rc = ok ? env_copy_file(sfd, dfd, "rootfs.ext4", &u, &err) : -1;
	char want[DIGEST_HEX_LEN + 1];
	sha_of(content, BIG, want);
	int same = rc == 0 && u.count == 1 && strcmp(u.files[0].sha256, want) == 0 &&
		   u.files[0].size == BIG && file_equals(dst, "rootfs.ext4", content, BIG);
	free(content);
	CHECK(same);
	CHECK(blocks_of(dst, "rootfs.ext4") <= 64 * 1024);
	/* Again: the name is taken. */
	CHECK(env_copy_file(sfd, dfd, "rootfs.ext4", &u, &err) == -1);
	CHECK_STR(err.msg, "rootfs.ext4: 'rootfs.ext4' appears twice");
	/* Not a regular file, missing, a symlink. */
	CHECK(mkdirat(sfd, "sub", 0755) == 0);
	CHECK(env_copy_file(sfd, dfd, "sub", &u, &err) == -1);
	CHECK_STR(err.msg, "sub is not a regular file");
	CHECK(env_copy_file(sfd, dfd, "nothing", &u, &err) == -1);
	CHECK_STR(err.msg, "cannot open nothing: No such file or directory");
	CHECK(symlinkat("rootfs.ext4", sfd, "link") == 0);
	CHECK(env_copy_file(sfd, dfd, "link", &u, &err) == -1);
	CHECK_CONTAINS(err.msg, "cannot open link: ");
	CHECK(u.count == 1);

	/* env_unpack_file on a file, and on something that is not an archive. */
	struct buf a = BUF_INIT;
	tb_raw(&a, "manifest.json", '0', NULL, "{}", 2);
	tb_raw_end(&a);
	snprintf(p, sizeof p, "%s/b.tar", src);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	ok = fd >= 0 && write(fd, a.data, a.len) == (ssize_t)a.len;
	buf_release(&a);
	if (fd >= 0)
		close(fd);
	CHECK(ok);
	struct env_unpacked u2 = { 0 };
	CHECK(env_unpack_file(p, dfd, &u2, &err) == 0);
	CHECK(u2.count == 1 && u2.files[0].size == 2);
	CHECK(file_equals(dst, "manifest.json", "{}", 2));
	struct env_unpacked u3 = { 0 };
	snprintf(p, sizeof p, "%s/rootfs.ext4", dst);
	CHECK(env_unpack_file(p, dfd, &u3, &err) == -1);
	char msg[PATH_MAX + 200];
	snprintf(msg, sizeof msg, "%s is not a bundle archive (a tar, tar.gz or tar.zst of "
		 "manifest.json and its artifacts): Unrecognized archive format", p);
	CHECK_STR(err.msg, msg);
	close(sfd);
	close(dfd);
}

/* A directory entry for the top directory written without its trailing
 * slash (type '5' "bundle", as some tar writers do) is that directory. */
TEST(envunpack_top_dir_entry_without_slash)
{
	static const char *const tops[] = { "bundle", "./bundle", ".", "bundle/" };
	for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
		char dir[PATH_MAX], name[32];
		snprintf(name, sizeof name, "top%zu", i);
		int dfd = new_dir(name, dir);
		CHECK(dfd >= 0);
		struct buf a = BUF_INIT;
		tb_raw(&a, tops[i], '5', NULL, NULL, 0);
		tb_raw(&a, strcmp(tops[i], ".") ? "bundle/vmlinux" : "./vmlinux", '0', NULL, "k", 1);
		tb_raw_end(&a);
		struct memsrc src = { (const unsigned char *)a.data, a.len, 0, 0, 0, 0 };
		struct env_unpacked u = { 0 };
		struct pyro_err err = { 0 };
		int rc = env_unpack(mem_read, &src, dfd, "b.tar", &u, &err);
		buf_release(&a);
		close(dfd);
		if (rc != 0)
			fprintf(stderr, "    '%s': %s\n", tops[i], err.msg);
		CHECK(rc == 0);
		CHECK(u.count == 1);
		CHECK(file_equals(dir, "vmlinux", "k", 1));
	}
	/* A second, different top directory is still refused. */
	char dir[PATH_MAX];
	int dfd = new_dir("twotops", dir);
	CHECK(dfd >= 0);
	struct buf a = BUF_INIT;
	tb_raw(&a, "bundle", '5', NULL, NULL, 0);
	tb_raw(&a, "other", '5', NULL, NULL, 0);
	tb_raw_end(&a);
	struct memsrc src = { (const unsigned char *)a.data, a.len, 0, 0, 0, 0 };
	struct env_unpacked u = { 0 };
	struct pyro_err err = { 0 };
	int rc = env_unpack(mem_read, &src, dfd, "b.tar", &u, &err);
	buf_release(&a);
	close(dfd);
	CHECK(rc == -1);
	CHECK_CONTAINS(err.msg, "b.tar: member 'other");
	CHECK_CONTAINS(err.msg, "' is not at the top level of the bundle (or under one directory)");
}
