/* Tests for the environment cache (core/envstore.c, envimport.c,
 * envcatalog.c): import of bundle directories and archives, validity
 * checks with stat stamps, hostile archives, catalog checks, prune.
 *
 * Every test runs with PYRO_ENVIRONMENT_CACHE_DIR set to a directory under
 * its own test_tmpdir() (unset again afterwards). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../core/digest.h"
#include "../../core/envcatalog.h"
#include "../../core/envimport.h"
#include "../../core/envstore.h"
#include "../../core/exitcodes.h"
#include "../../core/json.h"
#include "tarbuild.h"
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

#define KERNEL_SIZE 5000
#define ROOTFS_SIZE (1u << 20)

/* A bundle in memory: the two artifacts and the manifest naming them. */
struct bundle {
	unsigned char kernel[KERNEL_SIZE];
	unsigned char *rootfs; /* ROOTFS_SIZE bytes, mostly zeros */
	char kernel_sha[DIGEST_HEX_LEN + 1];
	char rootfs_sha[DIGEST_HEX_LEN + 1];
	char manifest[2048];
};

static void sha_of(const void *p, size_t n, char hex[DIGEST_HEX_LEN + 1])
{
	struct digest_sha256 d;
	digest_sha256_init(&d);
	digest_sha256_update(&d, p, n);
	digest_sha256_hex(&d, hex);
}

/* The manifest for b's artifacts, with this name and version and the
 * rootfs sha256 given (so a test can lie about it). */
static void bundle_manifest(struct bundle *b, const char *name, const char *version,
			    const char *rootfs_sha)
{
	sfmt(b->manifest, sizeof b->manifest,
		 "{\n"
		 "  \"artifacts\": {\n"
		 "    \"kernel\": {\"path\": \"vmlinux\", \"sha256\": \"%s\", \"size\": %u},\n"
		 "    \"rootfs\": {\"path\": \"rootfs.ext4\", \"sha256\": \"%s\", \"size\": %u}\n"
		 "  },\n"
		 "  \"description\": \"unit test bundle\",\n"
		 "  \"name\": \"%s\",\n"
		 "  \"packages\": [{\"name\": \"busybox-static\", \"version\": \"1\"}],\n"
		 "  \"platform\": \"linux-x86_64\",\n"
		 "  \"schema_version\": 1,\n"
		 "  \"version\": \"%s\"\n"
		 "}\n",
		 b->kernel_sha, KERNEL_SIZE, rootfs_sha, ROOTFS_SIZE, name, version);
}

static const char *test_version(void)
{
	const struct env_catalog_entry *e = env_catalog_find("test", NULL);
	return e ? e->version : "?";
}

static int bundle_init(struct bundle *b)
{
	memset(b, 0, sizeof *b);
	for (size_t i = 0; i < KERNEL_SIZE; i++)
		b->kernel[i] = (unsigned char)(i * 7 + 1);
	b->rootfs = calloc(1, ROOTFS_SIZE);
	if (!b->rootfs)
		return -1;
	/* Data in the first block, a little in the middle, nothing else. */
	for (size_t i = 0; i < 4096; i++)
		b->rootfs[i] = (unsigned char)(i % 251 + 1);
	memcpy(b->rootfs + 512 * 1024 + 100, "superblock copy", 15);
	sha_of(b->kernel, KERNEL_SIZE, b->kernel_sha);
	sha_of(b->rootfs, ROOTFS_SIZE, b->rootfs_sha);
	bundle_manifest(b, "test", test_version(), b->rootfs_sha);
	return 0;
}

static void bundle_release(struct bundle *b)
{
	free(b->rootfs);
	b->rootfs = NULL;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char p[PATH_MAX + 64];
	sfmt(p, sizeof p, "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, data, len);
	close(fd);
	return w == (ssize_t)len ? 0 : -1;
}

/* The bundle as a directory below the test's tmpdir. */
static int bundle_write_dir(const struct bundle *b, const char *name, char *out)
{
	if (tb_mkdir(name, out) < 0 || write_file(out, "vmlinux", b->kernel, KERNEL_SIZE) < 0 ||
	    write_file(out, "rootfs.ext4", b->rootfs, ROOTFS_SIZE) < 0 ||
	    write_file(out, "manifest.json", b->manifest, strlen(b->manifest)) < 0)
		return -1;
	return 0;
}

/* One binary regular file through tarbuild's libarchive writer. */
static void tb_bin(struct tb *t, const char *name, const void *data, size_t size)
{
	archive_entry_clear(t->e);
	archive_entry_copy_pathname(t->e, name);
	archive_entry_set_filetype(t->e, AE_IFREG);
	archive_entry_set_perm(t->e, 0644);
	archive_entry_set_mtime(t->e, TB_MTIME, 0);
	archive_entry_set_size(t->e, (la_int64_t)size);
	if (archive_write_header(t->a, t->e) != ARCHIVE_OK ||
	    (size && archive_write_data(t->a, data, size) != (la_ssize_t)size))
		t->failed = 1;
}

/* The bundle as an archive file `file` below the tmpdir; prefix ("" or
 * "bundle/") goes before every member name, with a directory entry. */
static int bundle_write_archive(const struct bundle *b, const char *file, enum tb_filter filter,
				const char *format, const char *prefix, char *out)
{
	struct buf data = BUF_INIT;
	struct tb t;
	char n[256];
	if (tb_open(&t, &data, filter, format) < 0)
		return -1;
	if (prefix[0]) {
		sfmt(n, sizeof n, "%s", prefix);
		tb_dir(&t, n, 0755);
	}
	sfmt(n, sizeof n, "%smanifest.json", prefix);
	tb_bin(&t, n, b->manifest, strlen(b->manifest));
	sfmt(n, sizeof n, "%svmlinux", prefix);
	tb_bin(&t, n, b->kernel, KERNEL_SIZE);
	sfmt(n, sizeof n, "%srootfs.ext4", prefix);
	tb_bin(&t, n, b->rootfs, ROOTFS_SIZE);
	int rc = tb_close(&t);
	sfmt(out, PATH_MAX, "%s/%s", test_tmpdir(), file);
	if (rc == 0)
		rc = write_file(test_tmpdir(), file, data.data, data.len);
	buf_release(&data);
	return rc;
}

/* The cache for this test, with the env var pointing at it. */
static struct envstore store;
static char cache_dir[PATH_MAX];

static int cache_setup(void)
{
	sfmt(cache_dir, sizeof cache_dir, "%s/cache", test_tmpdir());
	if (setenv("PYRO_ENVIRONMENT_CACHE_DIR", cache_dir, 1) != 0)
		return -1;
	struct pyro_err err;
	return envstore_open(&store, &err);
}

/* Run body with the cache set up, and unset the variable after it. */
static void with_cache(void (*body)(void))
{
	if (cache_setup() < 0) {
		test_fail(__FILE__, __LINE__, "cache_setup");
	} else {
		body();
	}
	unsetenv("PYRO_ENVIRONMENT_CACHE_DIR");
}

/* Entries in the platform dir: installs (names not starting with '.') and
 * .partial-/.trash- directories. */
static void count_entries(int *installs, int *partials)
{
	*installs = *partials = 0;
	DIR *d = opendir(store.platform_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] != '.')
			(*installs)++;
		else if (!strncmp(e->d_name, ".partial-", 9) || !strncmp(e->d_name, ".trash-", 7))
			(*partials)++;
	}
	closedir(d);
}

static int file_equals(const char *path, const void *data, size_t len)
{
	struct buf b = BUF_INIT;
	int ok = buf_read_file(&b, path) == 0 && b.len == len && memcmp(b.data, data, len) == 0;
	buf_release(&b);
	return ok;
}

/* The install is there, valid, with b's content, and its rootfs sparse. */
static int installed_ok(const struct bundle *b, char *why, size_t cap)
{
	struct env_install in;
	struct pyro_err err = { 0 };
	if (envstore_check(&store, "test", test_version(), &in, &err) < 0) {
		sfmt(why, cap, "check failed: %s", err.msg);
		return 0;
	}
	int ok = 0;
	char p[PATH_MAX + 64];
	struct stat sb;
	if (!in.installed || !in.present) {
		sfmt(why, cap, "not installed: %s", in.problem);
	} else if (sfmt(p, sizeof p, "%s/vmlinux", in.install_dir),
		   !file_equals(p, b->kernel, KERNEL_SIZE)) {
		sfmt(why, cap, "vmlinux differs");
	} else if (sfmt(p, sizeof p, "%s/rootfs.ext4", in.install_dir),
		   !file_equals(p, b->rootfs, ROOTFS_SIZE)) {
		sfmt(why, cap, "rootfs.ext4 differs");
	} else if (stat(p, &sb) != 0 || sb.st_size != ROOTFS_SIZE ||
		   (uint64_t)sb.st_blocks * 512 > 64 * 1024) {
		sfmt(why, cap, "rootfs.ext4 is not sparse: %lld blocks",
			 (long long)sb.st_blocks);
	} else {
		ok = 1;
	}
	envstore_install_release(&in);
	return ok;
}

static void body_import_dir(void)
{
	struct bundle b;
	char src[PATH_MAX], why[600], p[PATH_MAX + 64];
	struct env_install in;
	struct pyro_err err = { 0 };
	CHECK(bundle_init(&b) == 0);
	CHECK(bundle_write_dir(&b, "src", src) == 0);
	/* Nothing there yet. */
	CHECK(envstore_check(&store, "test", test_version(), &in, &err) == 0);
	CHECK(!in.installed && !in.present && in.problem[0] == '\0');
	envstore_install_release(&in);
	if (envstore_import(&store, src, &in, &err) != 0) {
		fprintf(stderr, "    import: %s\n", err.msg);
		bundle_release(&b);
		CHECK(0);
	}
	CHECK(in.installed && in.present);
	CHECK_STR(in.source, "import");
	CHECK_STR(in.source_ref, src);
	CHECK_STR(in.source_digest, "");
	CHECK(strlen(in.installed_at) == 20 && in.installed_at[19] == 'Z');
	CHECK_STR(in.manifest.name, "test");
	CHECK_STR(in.manifest.artifacts[ENV_ARTIFACT_ROOTFS].sha256, b.rootfs_sha);
	sfmt(p, sizeof p, "%s/test-%s", store.platform_dir, test_version());
	CHECK_STR(in.install_dir, p);
	envstore_install_release(&in);
	int ok = installed_ok(&b, why, sizeof why);
	if (!ok)
		fprintf(stderr, "    %s\n", why);
	CHECK(ok);
	/* The manifest is copied byte for byte; environment.json is there. */
	sfmt(p, sizeof p, "%s/test-%s/manifest.json", store.platform_dir, test_version());
	CHECK(file_equals(p, b.manifest, strlen(b.manifest)));
	int installs, partials;
	count_entries(&installs, &partials);
	CHECK(installs == 1 && partials == 0);
	/* Importing again replaces it and leaves nothing behind. */
	CHECK(envstore_import(&store, src, &in, &err) == 0);
	CHECK(in.installed);
	envstore_install_release(&in);
	count_entries(&installs, &partials);
	CHECK(installs == 1 && partials == 0);
	bundle_release(&b);
}

TEST(envstore_import_dir_installs_sparse)
{
	with_cache(body_import_dir);
}

/* The problem envstore_check reports (or "" when installed). */
static const char *problem(void)
{
	static struct env_install in;
	struct pyro_err err = { 0 };
	if (envstore_check(&store, "test", test_version(), &in, &err) < 0)
		return "(check failed)";
	envstore_install_release(&in);
	if (in.installed)
		return in.problem[0] ? "(installed with a problem)" : "";
	return in.present ? in.problem : "(not present)";
}

static int reimport(const char *src)
{
	struct env_install in;
	struct pyro_err err = { 0 };
	int rc = envstore_import(&store, src, &in, &err);
	if (rc != 0)
		fprintf(stderr, "    reimport: %s\n", err.msg);
	envstore_install_release(&in);
	return rc;
}

static void body_check_damage(void)
{
	struct bundle b;
	char src[PATH_MAX], dir[PATH_MAX], p[PATH_MAX + 64];
	CHECK(bundle_init(&b) == 0);
	CHECK(bundle_write_dir(&b, "src", src) == 0);
	CHECK(reimport(src) == 0);
	CHECK_STR(problem(), "");
	sfmt(dir, sizeof dir, "%s/test-%s", store.platform_dir, test_version());

	/* One byte flipped in a hole right after the install: same size, but
	 * the install back-dated the stamped mtime, so the write moves it and
	 * the file is hashed again (file times come from a coarse clock; a
	 * stamp taken "now" could survive a write in the same tick). */
	sfmt(p, sizeof p, "%s/rootfs.ext4", dir);
	int fd = open(p, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "\x01", 1, 700000) == 1);
	CHECK_STR(problem(), "rootfs.ext4 does not match its sha256 in manifest.json");
	/* Put it back: hashed again, valid again. */
	CHECK(pwrite(fd, "\0", 1, 700000) == 1);
	CHECK_STR(problem(), "");
	/* Truncated. */
	CHECK(ftruncate(fd, ROOTFS_SIZE - 4096) == 0);
	close(fd);
	CHECK_STR(problem(), "rootfs.ext4 has the wrong size");
	CHECK(reimport(src) == 0);
	CHECK_STR(problem(), "");

	/* The kernel gone. */
	sfmt(p, sizeof p, "%s/vmlinux", dir);
	CHECK(unlink(p) == 0);
	CHECK_STR(problem(), "vmlinux is missing");
	CHECK(reimport(src) == 0);
	/* ... or replaced by a symlink to a good copy. */
	char good[PATH_MAX + 64];
	sfmt(good, sizeof good, "%s/vmlinux", src);
	CHECK(unlink(p) == 0 && symlink(good, p) == 0);
	CHECK_STR(problem(), "vmlinux is missing");
	CHECK(reimport(src) == 0);

	/* environment.json deleted: broken. */
	sfmt(p, sizeof p, "%s/environment.json", dir);
	CHECK(unlink(p) == 0);
	CHECK_CONTAINS(problem(), "environment.json is missing or unreadable (cannot open "
		       "environment.json: ");
	CHECK(reimport(src) == 0);
	CHECK_STR(problem(), "");
	/* ... or not JSON. */
	CHECK(write_file(dir, "environment.json", "{", 1) == 0);
	CHECK_CONTAINS(problem(), "environment.json is missing or unreadable (invalid JSON");
	CHECK(reimport(src) == 0);

	/* manifest.json edited (still valid, same artifacts). */
	struct buf m = BUF_INIT;
	buf_append_str(&m, b.manifest);
	buf_append_str(&m, "\n");
	int w = write_file(dir, "manifest.json", m.data, m.len);
	buf_release(&m);
	CHECK(w == 0);
	CHECK_STR(problem(), "manifest.json changed since it was installed");
	CHECK(reimport(src) == 0);
	CHECK_STR(problem(), "");
	/* manifest.json made invalid. */
	CHECK(write_file(dir, "manifest.json", "[]", 2) == 0);
	CHECK_STR(problem(), "manifest.json is missing or invalid (bundle manifest: the top "
		  "level must be an object (got array))");
	CHECK(reimport(src) == 0);

	/* An install directory holding another version. */
	char other[PATH_MAX + 64];
	sfmt(other, sizeof other, "%s/test-0.0.1", store.platform_dir);
	CHECK(rename(dir, other) == 0);
	struct env_install in;
	struct pyro_err err = { 0 };
	CHECK(envstore_check(&store, "test", "0.0.1", &in, &err) == 0);
	CHECK(!in.installed && in.present);
	char want[200];
	sfmt(want, sizeof want, "it holds test %s instead", test_version());
	CHECK_STR(in.problem, want);
	envstore_install_release(&in);
	CHECK_STR(problem(), "(not present)");
	CHECK(reimport(src) == 0);
	CHECK_STR(problem(), "");
	bundle_release(&b);
}

TEST(envstore_check_detects_damage_and_reimport_repairs)
{
	with_cache(body_check_damage);
}

static void body_import_archives(void)
{
	static const struct {
		const char *file;
		enum tb_filter filter;
		const char *format, *prefix;
	} cases[] = {
		{ "b.tar.zst", TB_ZSTD, "pax", "" },
		{ "b2.tar.zst", TB_ZSTD, "pax", "bundle/" },
		{ "b3.tar.gz", TB_GZIP, "gnutar", "test-1.0.0/" },
		{ "b4.tar", TB_NONE, "ustar", "./" },
		{ "b5.tar", TB_NONE, "ustar", "./env/" },
	};
	struct bundle b;
	char path[PATH_MAX], why[600];
	CHECK(bundle_init(&b) == 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct env_install in;
		struct pyro_err err = { 0 };
		CHECK(bundle_write_archive(&b, cases[i].file, cases[i].filter, cases[i].format,
					   cases[i].prefix, path) == 0);
		if (envstore_import(&store, path, &in, &err) != 0) {
			fprintf(stderr, "    %s: %s\n", cases[i].file, err.msg);
			bundle_release(&b);
			CHECK(0);
		}
		CHECK(in.installed);
		CHECK_STR(in.source_ref, path);
		envstore_install_release(&in);
		int ok = installed_ok(&b, why, sizeof why);
		if (!ok)
			fprintf(stderr, "    %s: %s\n", cases[i].file, why);
		CHECK(ok);
		int installs, partials;
		count_entries(&installs, &partials);
		CHECK(installs == 1 && partials == 0);
	}
	bundle_release(&b);
}

TEST(envstore_import_archives)
{
	with_cache(body_import_archives);
}

/* Import path; it must fail with a message containing want, and leave no
 * install and no staging directory. */
static int import_fails(const char *path, const char *want)
{
	struct env_install in;
	struct pyro_err err = { 0 };
	int rc = envstore_import(&store, path, &in, &err);
	envstore_install_release(&in);
	int installs, partials;
	count_entries(&installs, &partials);
	if (rc != -1 || !strstr(err.msg, want) || installs || partials || in.installed) {
		fprintf(stderr, "    import %s: rc %d, %d installs, %d partials\n      got:  %s\n"
			"      want: ...%s...\n", path, rc, installs, partials, err.msg, want);
		return 0;
	}
	if (err.code != PYRO_EXIT_FAILURE && err.code != PYRO_EXIT_USAGE)
		return 0;
	return 1;
}

/* A raw ustar archive: manifest.json and vmlinux, then `extra`. */
static int hostile_archive(const struct bundle *b, const char *file,
			   void (*extra)(struct buf *, const struct bundle *), char *out)
{
	struct buf data = BUF_INIT;
	tb_raw(&data, "manifest.json", '0', NULL, b->manifest, strlen(b->manifest));
	tb_raw(&data, "vmlinux", '0', NULL, b->kernel, KERNEL_SIZE);
	extra(&data, b);
	tb_raw_end(&data);
	sfmt(out, PATH_MAX, "%s/%s", test_tmpdir(), file);
	int rc = write_file(test_tmpdir(), file, data.data, data.len);
	buf_release(&data);
	return rc;
}

static void x_symlink(struct buf *d, const struct bundle *b)
{
	(void)b;
	tb_raw(d, "rootfs.ext4", '2', "/etc/passwd", NULL, 0);
}
static void x_hardlink(struct buf *d, const struct bundle *b)
{
	(void)b;
	tb_raw(d, "rootfs.ext4", '1', "vmlinux", NULL, 0);
}
static void x_dotdot(struct buf *d, const struct bundle *b)
{
	tb_raw(d, "../rootfs.ext4", '0', NULL, b->rootfs, ROOTFS_SIZE);
}
static void x_nested(struct buf *d, const struct bundle *b)
{
	tb_raw(d, "a/b/c", '0', NULL, "x", 1);
}
static void x_abs(struct buf *d, const struct bundle *b)
{
	tb_raw(d, "/tmp/rootfs.ext4", '0', NULL, "x", 1);
}
static void x_duplicate(struct buf *d, const struct bundle *b)
{
	tb_raw(d, "rootfs.ext4", '0', NULL, b->rootfs, ROOTFS_SIZE);
	tb_raw(d, "vmlinux", '0', NULL, b->kernel, KERNEL_SIZE);
}
static void x_corrupt(struct buf *d, const struct bundle *b)
{
	unsigned char *copy = malloc(ROOTFS_SIZE);
	if (!copy)
		return;
	memcpy(copy, b->rootfs, ROOTFS_SIZE);
	copy[123456] ^= 0x40;
	tb_raw(d, "rootfs.ext4", '0', NULL, copy, ROOTFS_SIZE);
	free(copy);
}
static void x_short(struct buf *d, const struct bundle *b)
{
	tb_raw(d, "rootfs.ext4", '0', NULL, b->rootfs, ROOTFS_SIZE - 512);
}
static void x_missing(struct buf *d, const struct bundle *b)
{
	tb_raw(d, "README", '0', NULL, "hi", 2);
}
static void x_device(struct buf *d, const struct bundle *b)
{
	tb_raw(d, "rootfs.ext4", '3', NULL, NULL, 0);
}
static void x_fifo(struct buf *d, const struct bundle *b)
{
	tb_raw(d, "rootfs.ext4", '6', NULL, NULL, 0);
}
static void x_bad_name(struct buf *d, const struct bundle *b)
{
	tb_raw(d, ".rootfs.ext4", '0', NULL, "x", 1);
}
static void x_two_tops(struct buf *d, const struct bundle *b)
{
	tb_raw(d, "one/x", '0', NULL, "x", 1);
	tb_raw(d, "two/rootfs.ext4", '0', NULL, b->rootfs, ROOTFS_SIZE);
}
static void x_too_many(struct buf *d, const struct bundle *b)
{
	char n[32];
	for (int i = 0; i < ENV_UNPACK_MAX_FILES; i++) {
		sfmt(n, sizeof n, "extra%d", i);
		tb_raw(d, n, '0', NULL, "x", 1);
	}
}

static void body_hostile_archives(void)
{
	static const struct {
		const char *file;
		void (*extra)(struct buf *, const struct bundle *);
		const char *want;
	} cases[] = {
		{ "symlink.tar", x_symlink,
		  "symlink.tar: member 'rootfs.ext4' is not a regular file; bundles hold regular "
		  "files only" },
		{ "hardlink.tar", x_hardlink,
		  "hardlink.tar: member 'rootfs.ext4' is not a regular file; bundles hold regular "
		  "files only" },
		{ "dotdot.tar", x_dotdot,
		  "dotdot.tar: member '../rootfs.ext4' is not at the top level of the bundle (or "
		  "under one directory)" },
		{ "nested.tar", x_nested,
		  "nested.tar: member 'a/b/c' is not at the top level of the bundle (or under one "
		  "directory)" },
		{ "abs.tar", x_abs, "abs.tar: member '/tmp/rootfs.ext4' is not at the top level" },
		{ "dup.tar", x_duplicate, "dup.tar: 'vmlinux' appears twice" },
		{ "corrupt.tar", x_corrupt, "rootfs.ext4 has sha256 " },
		{ "short.tar", x_short,
		  "rootfs.ext4 is 1048064 bytes but manifest.json says 1048576: the bundle is "
		  "corrupt or incomplete" },
		{ "missing.tar", x_missing,
		  "the bundle has no rootfs.ext4, which manifest.json names as its rootfs" },
		{ "device.tar", x_device, "device.tar: member 'rootfs.ext4' is not a regular file" },
		{ "fifo.tar", x_fifo, "fifo.tar: member 'rootfs.ext4' is not a regular file" },
		{ "badname.tar", x_bad_name,
		  "badname.tar: member '.rootfs.ext4' is not a bundle file (expected manifest.json "
		  "or plain artifact names)" },
		{ "twotops.tar", x_two_tops,
		  "twotops.tar: member 'two/rootfs.ext4' is not at the top level" },
		{ "toomany.tar", x_too_many,
		  "toomany.tar: more than 8 files; a bundle has a manifest and its artifacts" },
	};
	struct bundle b;
	char path[PATH_MAX];
	CHECK(bundle_init(&b) == 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (hostile_archive(&b, cases[i].file, cases[i].extra, path) != 0 ||
		    !import_fails(path, cases[i].want)) {
			bundle_release(&b);
			CHECK(0);
		}
	}
	/* The corrupt case names both digests. */
	struct env_install in;
	struct pyro_err err = { 0 };
	CHECK(hostile_archive(&b, "corrupt2.tar", x_corrupt, path) == 0);
	CHECK(envstore_import(&store, path, &in, &err) == -1);
	char want[300];
	sfmt(want, sizeof want, "but manifest.json says %s: the bundle is corrupt",
		 b.rootfs_sha);
	CHECK_CONTAINS(err.msg, want);
	/* Not an archive at all; an empty file; a truncated archive. */
	CHECK(write_file(test_tmpdir(), "junk.tar.zst", "this is not an archive\n", 23) == 0);
	sfmt(path, sizeof path, "%s/junk.tar.zst", test_tmpdir());
	CHECK(import_fails(path, "junk.tar.zst is not a bundle archive (a tar, tar.gz or tar.zst of "
			       "manifest.json and its artifacts): Unrecognized archive format"));
	CHECK(write_file(test_tmpdir(), "empty.tar", "", 0) == 0);
	sfmt(path, sizeof path, "%s/empty.tar", test_tmpdir());
	CHECK(import_fails(path, "empty.tar is not a bundle archive"));
	struct buf data = BUF_INIT;
	tb_raw(&data, "manifest.json", '0', NULL, b.manifest, strlen(b.manifest));
	tb_raw(&data, "rootfs.ext4", '0', NULL, b.rootfs, ROOTFS_SIZE);
	int w = write_file(test_tmpdir(), "trunc.tar", data.data, data.len - 70000);
	buf_release(&data);
	CHECK(w == 0);
	sfmt(path, sizeof path, "%s/trunc.tar", test_tmpdir());
	CHECK(import_fails(path, "trunc.tar: reading 'rootfs.ext4': "));
	/* A path that does not exist, a device. */
	sfmt(path, sizeof path, "%s/nonexistent", test_tmpdir());
	CHECK(import_fails(path, "cannot import "));
	CHECK(import_fails("/dev/null", "/dev/null is neither a bundle directory nor an archive"));
	/* Nothing escaped into the tmpdir's parent or the cache dir. */
	sfmt(path, sizeof path, "%s/rootfs.ext4", cache_dir);
	CHECK(!tb_exists(path));
	sfmt(path, sizeof path, "%s/../rootfs.ext4", store.platform_dir);
	CHECK(!tb_exists(path));
	bundle_release(&b);
}

TEST(envstore_import_hostile_archives_leave_nothing)
{
	with_cache(body_hostile_archives);
}

static void body_dir_failures(void)
{
	struct bundle b;
	char src[PATH_MAX], p[PATH_MAX + 64];
	CHECK(bundle_init(&b) == 0);
	/* The rootfs on disk does not match the manifest. */
	b.rootfs[999999] = 7;
	CHECK(bundle_write_dir(&b, "bad", src) == 0);
	b.rootfs[999999] = 0;
	char want[300];
	sfmt(want, sizeof want, "but manifest.json says %s: the bundle is corrupt",
		 b.rootfs_sha);
	CHECK(import_fails(src, want));
	CHECK(import_fails(src, "rootfs.ext4 has sha256 "));
	/* An artifact that is a symlink is not followed. */
	CHECK(bundle_write_dir(&b, "link", src) == 0);
	sfmt(p, sizeof p, "%s/rootfs.ext4", src);
	char real[PATH_MAX + 64];
	sfmt(real, sizeof real, "%s/real.ext4", src);
	CHECK(rename(p, real) == 0 && symlink("real.ext4", p) == 0);
	CHECK(import_fails(src, "cannot open rootfs.ext4"));
	/* An artifact missing. */
	CHECK(unlink(p) == 0);
	CHECK(import_fails(src, "cannot open rootfs.ext4: No such file or directory"));
	/* No manifest, an invalid manifest. */
	sfmt(p, sizeof p, "%s/manifest.json", src);
	CHECK(unlink(p) == 0);
	CHECK(import_fails(src, ": cannot open manifest.json"));
	CHECK(write_file(src, "manifest.json", "{\"schema_version\": 2}", 21) == 0);
	CHECK(import_fails(src, ": bundle manifest: schema_version must be 1"));
	bundle_release(&b);
}

TEST(envstore_import_dir_failures_leave_nothing)
{
	with_cache(body_dir_failures);
}

static void body_catalog(void)
{
	struct bundle b;
	char src[PATH_MAX], path[PATH_MAX];
	CHECK(bundle_init(&b) == 0);
	bundle_manifest(&b, "nosuch", test_version(), b.rootfs_sha);
	CHECK(bundle_write_dir(&b, "nosuch", src) == 0);
	CHECK(import_fails(src, "unknown environment 'nosuch'; the catalog has: debian:12, "
			   "debian:12-base, debian:12-build, test"));
	CHECK(bundle_write_archive(&b, "nosuch.tar.zst", TB_ZSTD, "pax", "", path) == 0);
	CHECK(import_fails(path, "unknown environment 'nosuch'"));
	bundle_manifest(&b, "test", "0.0.1", b.rootfs_sha);
	CHECK(bundle_write_dir(&b, "old", src) == 0);
	char want[PATH_MAX + 200];
	sfmt(want, sizeof want, "the bundle %s holds test 0.0.1, but this pyro's catalog "
		 "wants version %s", src, test_version());
	CHECK(import_fails(src, want));
	CHECK(bundle_write_archive(&b, "old.tar.gz", TB_GZIP, "pax", "x/", path) == 0);
	CHECK(import_fails(path, "holds test 0.0.1, but this pyro's catalog wants version"));
	/* Neither version is there afterwards. */
	struct env_install in;
	struct pyro_err err = { 0 };
	CHECK(envstore_check(&store, "test", "0.0.1", &in, &err) == 0 && !in.present);
	CHECK(envstore_check(&store, "test", test_version(), &in, &err) == 0 && !in.present);
	bundle_release(&b);
}

TEST(envstore_import_checks_catalog)
{
	with_cache(body_catalog);
}

static void body_staging_commit(void)
{
	struct env_staging sg;
	struct pyro_err err = { 0 };
	struct env_install in;
	CHECK(envstore_staging_begin(&store, &sg, &err) == 0);
	CHECK(strncmp(sg.path, store.platform_dir, strlen(store.platform_dir)) == 0);
	CHECK(strstr(sg.path, "/.partial-") != NULL);
	CHECK(sg.dirfd >= 0);
	/* It is locked: another open file description cannot lock it. */
	int fd = open(sg.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK);
	close(fd);
	char path[PATH_MAX];
	sfmt(path, sizeof path, "%s", sg.path);
	envstore_staging_abort(&sg);
	CHECK(!tb_exists(path));
	CHECK(sg.dirfd == -1 && sg.path[0] == '\0');
	envstore_staging_abort(&sg); /* idempotent */

	/* A commit of a bundle that is not what the caller expects. */
	struct bundle b;
	CHECK(bundle_init(&b) == 0);
	CHECK(envstore_staging_begin(&store, &sg, &err) == 0);
	sfmt(path, sizeof path, "%s", sg.path);
	int ok = write_file(sg.path, "manifest.json", b.manifest, strlen(b.manifest)) == 0;
	struct env_source source = { .kind = "oci", .ref = "h/r:1", .digest = NULL };
	int rc = envstore_commit(&store, &sg, "debian:12", "1.0.0", &source, &in, &err);
	bundle_release(&b);
	CHECK(ok);
	CHECK(rc == -1);
	char want[200];
	sfmt(want, sizeof want, "the bundle is test %s, not the expected debian:12 1.0.0",
		 test_version());
	CHECK_STR(err.msg, want);
	CHECK(!tb_exists(path));
	/* Staged by hand, committed with an OCI source. */
	CHECK(bundle_init(&b) == 0);
	CHECK(envstore_staging_begin(&store, &sg, &err) == 0);
	sfmt(path, sizeof path, "%s", sg.path);
	char src[PATH_MAX];
	ok = bundle_write_dir(&b, "staged-src", src) == 0;
	int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ok = ok && sfd >= 0 &&
	     env_copy_file(sfd, sg.dirfd, "manifest.json", &sg.files, &err) == 0 &&
	     env_copy_file(sfd, sg.dirfd, "vmlinux", &sg.files, &err) == 0 &&
	     env_copy_file(sfd, sg.dirfd, "rootfs.ext4", &sg.files, &err) == 0 &&
	     env_copy_file(sfd, sg.dirfd, "manifest.json", &sg.files, &err) == -1;
	if (sfd >= 0)
		close(sfd);
	source.digest = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
	rc = ok ? envstore_commit(&store, &sg, "test", test_version(), &source, &in, &err) : -1;
	if (!ok)
		envstore_staging_abort(&sg);
	bundle_release(&b);
	CHECK(ok);
	CHECK(rc == 0);
	CHECK(in.installed);
	CHECK_STR(in.source, "oci");
	CHECK_STR(in.source_ref, "h/r:1");
	CHECK_STR(in.source_digest, source.digest);
	envstore_install_release(&in);
	CHECK(!tb_exists(path));
}

TEST(envstore_staging_and_commit)
{
	with_cache(body_staging_commit);
}

/* A directory in the platform dir with an environment.json saying name and
 * version (NULL: no environment.json). */
static int fake_install(const char *dirname, const char *name, const char *version)
{
	char p[PATH_MAX + 64];
	sfmt(p, sizeof p, "%s/%s", store.platform_dir, dirname);
	if (mkdir(p, 0755) != 0)
		return -1;
	if (!name)
		return write_file(p, "vmlinux", "k", 1);
	char text[300];
	sfmt(text, sizeof text, "{\"name\": \"%s\", \"version\": \"%s\"}\n", name, version);
	return write_file(p, "environment.json", text, strlen(text));
}

static void body_prune(void)
{
	struct bundle b;
	char src[PATH_MAX], p[PATH_MAX + 64];
	struct pyro_err err = { 0 };
	CHECK(bundle_init(&b) == 0);
	int ok = bundle_write_dir(&b, "src", src) == 0 && reimport(src) == 0;
	bundle_release(&b);
	CHECK(ok);
	/* Nothing to prune yet. */
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *deleted = json_array(doc);
	CHECK(envstore_prune(&store, doc, deleted, &err) == 0);
	CHECK(deleted->u.array.len == 0);
	CHECK_STR(problem(), "");

	/* A stale version, broken installs, non-catalog names, abandoned
	 * staging and trash, and things prune must leave alone. */
	ok = fake_install("test-0.9.0", "test", "0.9.0") == 0 &&
	     fake_install("debian_12-1.0.0", NULL, NULL) == 0 &&
	     fake_install("zzz-1.0.0", "zzz", "1.0.0") == 0 &&
	     fake_install("abc-2", NULL, NULL) == 0 &&
	     fake_install("x.locked-1", NULL, NULL) == 0 && /* not a lock file */
	     fake_install("debian_12-base-1.0.0", "debian:12-base", "1.0.0") == 0 &&
	     fake_install("mmm-0", "test", "1.0.0") == 0 && /* right content, wrong dir */
	     fake_install(".partial-abandoned", NULL, NULL) == 0 &&
	     fake_install(".partial-held", NULL, NULL) == 0 &&
	     fake_install(".trash-old", NULL, NULL) == 0 &&
	     fake_install("debian_12-build-1.0.0", NULL, NULL) == 0 && /* being installed */
	     write_file(store.platform_dir, "stray-file", "x", 1) == 0;
	if (!ok)
		json_doc_free(doc);
	CHECK(ok);
	sfmt(p, sizeof p, "%s/.partial-held", store.platform_dir);
	int held = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int lock_fd = -1;
	ok = held >= 0 && flock(held, LOCK_EX) == 0 &&
	     envstore_lock(&store, "debian:12-build", "1.0.0", &lock_fd, &err) == 0;
	int rc = ok ? envstore_prune(&store, doc, deleted, &err) : -1;
	if (held >= 0)
		close(held);
	envstore_unlock(&lock_fd);
	CHECK(lock_fd == -1);
	struct buf names = BUF_INIT;
	for (size_t i = 0; rc == 0 && i < deleted->u.array.len; i++)
		buf_printf(&names, "%s%s", i ? "," : "", deleted->u.array.items[i]->u.string.ptr);
	json_doc_free(doc);
	CHECK(ok && rc == 0);
	int same = names.data &&
		   strcmp(names.data, "abc-2,debian_12-1.0.0,debian_12-base-1.0.0,mmm-0,"
				      "test-0.9.0,x.locked-1,zzz-1.0.0") == 0;
	if (!same)
		fprintf(stderr, "    deleted: %s\n", names.data ? names.data : "(none)");
	buf_release(&names);
	CHECK(same);
	static const char *const gone[] = { "test-0.9.0", "debian_12-1.0.0", "zzz-1.0.0",
					    "abc-2", ".partial-abandoned", ".trash-old",
					    "mmm-0", "debian_12-base-1.0.0", "x.locked-1" };
	for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
		sfmt(p, sizeof p, "%s/%s", store.platform_dir, gone[i]);
		if (tb_exists(p))
			fprintf(stderr, "    %s still there\n", gone[i]);
		CHECK(!tb_exists(p));
	}
	static const char *const kept[] = { ".partial-held", "debian_12-build-1.0.0",
					    "stray-file", ".debian_12-build-1.0.0.lock",
					    ".test-1.0.0.lock" };
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
		sfmt(p, sizeof p, "%s/%s", store.platform_dir, kept[i]);
		if (!tb_exists(p))
			fprintf(stderr, "    %s was removed\n", kept[i]);
		CHECK(tb_exists(p));
	}
	CHECK_STR(problem(), "");
	/* With the locks released, the rest goes (and the valid install stays). */
	doc = json_doc_new();
	CHECK(doc);
	deleted = json_array(doc);
	rc = envstore_prune(&store, doc, deleted, &err);
	same = rc == 0 && deleted->u.array.len == 1 &&
	       strcmp(deleted->u.array.items[0]->u.string.ptr, "debian_12-build-1.0.0") == 0;
	json_doc_free(doc);
	CHECK(same);
	sfmt(p, sizeof p, "%s/.partial-held", store.platform_dir);
	CHECK(!tb_exists(p));
	CHECK_STR(problem(), "");
}

TEST(envstore_prune_removes_stale_keeps_valid_and_busy)
{
	with_cache(body_prune);
}

static void body_prune_no_cache(void)
{
	struct pyro_err err = { 0 };
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *deleted = json_array(doc);
	int rc = envstore_prune(&store, doc, deleted, &err);
	size_t n = deleted->u.array.len;
	json_doc_free(doc);
	CHECK(rc == 0 && n == 0);
	CHECK(!tb_exists(cache_dir)); /* prune creates nothing */
}

TEST(envstore_prune_without_cache_dir)
{
	with_cache(body_prune_no_cache);
}

TEST(envstore_open_env_var)
{
	struct envstore st;
	struct pyro_err err = { 0 };
	CHECK(setenv("PYRO_ENVIRONMENT_CACHE_DIR", "relative/dir", 1) == 0);
	int rc = envstore_open(&st, &err);
	CHECK(setenv("PYRO_ENVIRONMENT_CACHE_DIR", "/some/where///", 1) == 0);
	int rc2 = envstore_open(&st, &err);
	unsetenv("PYRO_ENVIRONMENT_CACHE_DIR");
	CHECK(rc == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_STR(err.msg, "PYRO_ENVIRONMENT_CACHE_DIR='relative/dir' must be an absolute path");
	CHECK(rc2 == 0);
	CHECK_STR(st.dir, "/some/where");
	CHECK_STR(st.platform_dir, "/some/where/linux-x86_64");
}

/* Run fn in a child that is killed after 10 s: 1 when fn returned 1, 0
 * when it returned 0 or hung. */
static int in_child_with_alarm(int (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		alarm(10);
		_exit(fn() ? 0 : 1);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return 0;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		fprintf(stderr, "    hung (killed after 10 s)\n");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static char fifo_src[PATH_MAX];

static int import_fifo_fails(void)
{
	return import_fails(fifo_src, "rootfs.ext4 is not a regular file");
}

static int import_fifo_manifest_fails(void)
{
	return import_fails(fifo_src, "bundle manifest: invalid JSON");
}

static int check_fifo_env_json(void)
{
	const char *p = problem();
	if (!strstr(p, "environment.json is missing or unreadable")) {
		fprintf(stderr, "    problem: %s\n", p);
		return 0;
	}
	return 1;
}

/* A FIFO where a file should be is an error, not a hang (opening a FIFO
 * for reading blocks until a writer comes). */
static void body_fifos(void)
{
	struct bundle b;
	char p[PATH_MAX + 64];
	CHECK(bundle_init(&b) == 0);
	int ok = bundle_write_dir(&b, "fifo", fifo_src) == 0;
	sfmt(p, sizeof p, "%s/rootfs.ext4", fifo_src);
	ok = ok && unlink(p) == 0 && mkfifo(p, 0644) == 0;
	if (!ok)
		bundle_release(&b);
	CHECK(ok);
	CHECK(in_child_with_alarm(import_fifo_fails));
	sfmt(p, sizeof p, "%s/manifest.json", fifo_src);
	CHECK(unlink(p) == 0 && mkfifo(p, 0644) == 0);
	CHECK(in_child_with_alarm(import_fifo_manifest_fails));
	/* In an install: environment.json, manifest.json, an artifact. */
	char src[PATH_MAX];
	ok = bundle_write_dir(&b, "good", src) == 0 && reimport(src) == 0;
	bundle_release(&b);
	CHECK(ok);
	char dir[PATH_MAX];
	sfmt(dir, sizeof dir, "%s/test-%s", store.platform_dir, test_version());
	sfmt(p, sizeof p, "%s/environment.json", dir);
	CHECK(unlink(p) == 0 && mkfifo(p, 0644) == 0);
	CHECK(in_child_with_alarm(check_fifo_env_json));
	CHECK(reimport(src) == 0);
	sfmt(p, sizeof p, "%s/rootfs.ext4", dir);
	CHECK(unlink(p) == 0 && mkfifo(p, 0644) == 0);
	CHECK_STR(problem(), "rootfs.ext4 is missing");
}

TEST(envstore_fifos_are_errors_not_hangs)
{
	with_cache(body_fifos);
}
