/* Tests for core/kvmprobe.c with stand-in QEMUs (shell scripts) instead of
 * the real one: the probe's command line and monitor input, the verdict
 * and QEMU's last words, and the per-boot cache in <cache dir>/host.
 *
 * PYRO_CACHE_DIR points into the test's own test_tmpdir() (restored
 * afterwards). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/buf.h"
#include "../../core/hostprobe.h"
#include "../../core/kvmprobe.h"
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

static void with_cache_env(void (*body)(void))
{
	const char *names[] = { "PYRO_CACHE_DIR", "XDG_CACHE_HOME" };
	char *saved[2];
	for (int i = 0; i < 2; i++) {
		const char *v = getenv(names[i]);
		saved[i] = v ? strdup(v) : NULL;
	}
	char cache[PATH_MAX];
	sfmt(cache, sizeof cache, "%s/cache", test_tmpdir());
	setenv("PYRO_CACHE_DIR", cache, 1);
	unsetenv("XDG_CACHE_HOME");
	body();
	for (int i = 0; i < 2; i++) {
		if (saved[i])
			setenv(names[i], saved[i], 1);
		else
			unsetenv(names[i]);
		free(saved[i]);
	}
}

#define KVM_TEST(name)                      \
	static void body_##name(void);      \
	TEST(name)                          \
	{                                   \
		with_cache_env(body_##name); \
	}                                   \
	static void body_##name(void)

/* An executable script <tmp>/<name> running `body` under /bin/sh. */
static int script(const char *name, const char *body, char *path, size_t cap)
{
	sfmt(path, cap, "%s/%s", test_tmpdir(), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	if (fd < 0)
		return -1;
	char text[4096];
	sfmt(text, sizeof text, "#!/bin/sh\n%s\n", body);
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A QEMU that records its arguments and stdin, then quits like a working
 * one. */
static int ok_qemu(char *path, size_t cap)
{
	char body[1024];
	sfmt(body, sizeof body,
	     "printf '%%s\\n' \"$@\" > '%s/args'\ncat > '%s/stdin'\nexit 0", test_tmpdir(),
	     test_tmpdir());
	return script("qemu-ok", body, path, cap);
}

/* A QEMU that fails under KVM as on a nested host whose KVM cannot take
 * the MSRs, and runs the same machine under TCG. */
static int broken_qemu(char *path, size_t cap)
{
	return script("qemu-broken",
		      "case \" $* \" in *' -accel kvm '*) ;; *) cat >/dev/null; exit 0 ;; esac\n"
		      "echo 'qemu-system-x86_64: warning: host doesn'\"'\"'t support feature' >&2\n"
		      "printf 'qemu: error: failed to set MSR 0x10a to 0x0\\033[0m\\n\\n' >&2\n"
		      "exit 1",
		      path, cap);
}

/* A QEMU that fails whatever the accelerator: says nothing about KVM. */
static int dead_qemu(char *path, size_t cap)
{
	return script("qemu-dead", "echo 'qemu: cannot load something' >&2\nexit 1", path, cap);
}

/* The cache key: boot id, QEMU path, its inode and mtime. */
static void cache_key(const char *id, const char *qemu, char *out, size_t cap)
{
	struct stat st;
	if (stat(qemu, &st) != 0)
		memset(&st, 0, sizeof st);
	sfmt(out, cap, "%s %s %llu %lld", id, qemu, (unsigned long long)st.st_ino,
	     (long long)st.st_mtim.tv_sec);
}

static bool boot_id(char *out, size_t cap)
{
	hostprobe_boot_id(out, cap);
	return out[0] != '\0';
}

static int read_text(const char *path, char *out, size_t cap)
{
	struct buf b = BUF_INIT;
	int rc = buf_read_file(&b, path);
	if (rc == 0)
		sfmt(out, cap, "%s", b.data ? b.data : "");
	buf_release(&b);
	return rc;
}

static const char *tp_cache(void)
{
	static char p[PATH_MAX];
	sfmt(p, sizeof p, "%s/cache", test_tmpdir());
	return p;
}

static void cache_file(char *out, size_t cap)
{
	sfmt(out, cap, "%s/cache/host/kvm-probe", test_tmpdir());
}

KVM_TEST(kvmprobe_working_qemu_and_its_command_line)
{
	char qemu[PATH_MAX], why[400] = "x", id[64], text[512], want[256], path[PATH_MAX + 16];
	bool cached = true;
	/* The verdict is kept only in a cache dir that exists already. */
	CHECK(mkdir(tp_cache(), 0700) == 0);
	CHECK(ok_qemu(qemu, sizeof qemu) == 0);
	CHECK(kvmprobe_qemu(qemu, why, sizeof why, &cached));
	CHECK(!cached);
	CHECK_STR(why, "");
	/* The machine pyro boots, paused, quit through the monitor. */
	sfmt(path, sizeof path, "%s/args", test_tmpdir());
	CHECK(read_text(path, text, sizeof text) == 0);
	CHECK_CONTAINS(text, "-M\nmicrovm\n");
	CHECK_CONTAINS(text, "-accel\nkvm\n");
	CHECK_CONTAINS(text, "-cpu\nhost\n");
	CHECK_CONTAINS(text, "\n-S\n");
	CHECK_CONTAINS(text, "-monitor\nstdio\n");
	sfmt(path, sizeof path, "%s/stdin", test_tmpdir());
	CHECK(read_text(path, text, sizeof text) == 0);
	CHECK_STR(text, "quit\n");

	if (!boot_id(id, sizeof id)) {
		fprintf(stderr, "    (no boot id: cache not checked)\n");
		return;
	}
	cache_file(path, sizeof path);
	CHECK(read_text(path, text, sizeof text) == 0);
	char key[PATH_MAX + 128];
	cache_key(id, qemu, key, sizeof key);
	sfmt(want, sizeof want, "%s\nok\n", key);
	CHECK_STR(text, want);
	/* Cached for this boot and this binary. */
	cached = false;
	CHECK(kvmprobe_qemu(qemu, why, sizeof why, &cached));
	CHECK(cached);
	/* Another QEMU binary is probed for itself. */
	char broken[PATH_MAX];
	CHECK(broken_qemu(broken, sizeof broken) == 0);
	cached = true;
	CHECK(!kvmprobe_qemu(broken, why, sizeof why, &cached));
	CHECK(!cached);
}

KVM_TEST(kvmprobe_broken_kvm_says_why)
{
	char qemu[PATH_MAX], why[400], id[64], text[600], path[PATH_MAX + 16];
	bool cached = true;
	CHECK(mkdir(tp_cache(), 0700) == 0);
	CHECK(broken_qemu(qemu, sizeof qemu) == 0);
	CHECK(kvmprobe_verdict(qemu, why, sizeof why, &cached) == KVMPROBE_BROKEN);
	CHECK(!cached);
	CHECK_CONTAINS(why, "/dev/kvm is present but QEMU cannot use it");
	CHECK_CONTAINS(why, "failed at start");
	/* QEMU's last non-empty line, control characters dropped. */
	CHECK_CONTAINS(why, "qemu: error: failed to set MSR 0x10a to 0x0[0m");
	CHECK(strchr(why, '\033') == NULL && strchr(why, '\n') == NULL);

	if (!boot_id(id, sizeof id))
		return;
	cache_file(path, sizeof path);
	CHECK(read_text(path, text, sizeof text) == 0);
	CHECK(strncmp(text, id, strlen(id)) == 0);
	CHECK_CONTAINS(text, "\nbroken /dev/kvm is present");
	/* The cached verdict comes back with the same reason. */
	char again[400];
	cached = false;
	CHECK(!kvmprobe_qemu(qemu, again, sizeof again, &cached));
	CHECK(cached);
	CHECK_STR(again, why);
	/* A small `why` is cut, never overrun. */
	char tiny[8];
	CHECK(!kvmprobe_qemu(qemu, tiny, sizeof tiny, NULL));
	CHECK(strlen(tiny) == 7);
}

/* A QEMU that fails under TCG too: no verdict about KVM, nothing cached. */
KVM_TEST(kvmprobe_dead_qemu_is_no_verdict)
{
	char qemu[PATH_MAX], why[400], path[PATH_MAX + 16];
	CHECK(mkdir(tp_cache(), 0700) == 0);
	bool cached = true;
	CHECK(dead_qemu(qemu, sizeof qemu) == 0);
	CHECK(!kvmprobe_qemu(qemu, why, sizeof why, &cached));
	CHECK(!cached);
	CHECK_CONTAINS(why, "cannot tell whether KVM works");
	CHECK_CONTAINS(why, "qemu: cannot load something");
	/* No verdict, so the backend choice still tries KVM. */
	CHECK(kvmprobe_verdict(qemu, why, sizeof why, NULL) == KVMPROBE_UNKNOWN);
	cache_file(path, sizeof path);
	struct stat st;
	CHECK(stat(path, &st) == -1 && errno == ENOENT);
}

KVM_TEST(kvmprobe_stale_or_bad_cache_is_probed_again)
{
	char qemu[PATH_MAX], why[400], id[64], text[600], path[PATH_MAX + 16], dir[PATH_MAX];
	if (!boot_id(id, sizeof id)) {
		fprintf(stderr, "    (no boot id: skipped)\n");
		return;
	}
	CHECK(broken_qemu(qemu, sizeof qemu) == 0);
	sfmt(dir, sizeof dir, "%s/cache", test_tmpdir());
	CHECK(mkdir(dir, 0700) == 0);
	sfmt(dir, sizeof dir, "%s/cache/host", test_tmpdir());
	CHECK(mkdir(dir, 0700) == 0);
	cache_file(path, sizeof path);
	char key[PATH_MAX + 128], other[PATH_MAX + 160];
	cache_key(id, qemu, key, sizeof key);
	sfmt(other, sizeof other, "%s 1\nok\n", key); /* another inode/mtime */
	const char *const stale[] = {
		"00000000-0000-0000-0000-000000000000 /usr/bin/qemu 1 1\nok\n", /* another boot */
		"",                                          /* empty */
		"garbage",                                   /* no key */
		other,
	};
	for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		CHECK(fd >= 0);
		CHECK(write(fd, stale[i], strlen(stale[i])) == (ssize_t)strlen(stale[i]));
		close(fd);
		bool cached = true;
		CHECK(!kvmprobe_qemu(qemu, why, sizeof why, &cached));
		CHECK(!cached);
		CHECK(read_text(path, text, sizeof text) == 0);
		CHECK(strncmp(text, id, strlen(id)) == 0);
	}
	/* This boot and binary, "broken" without a reason: probed again too. */
	char okq[PATH_MAX];
	CHECK(ok_qemu(okq, sizeof okq) == 0);
	cache_key(id, okq, key, sizeof key);
	sfmt(text, sizeof text, "%s\nbroken \n", key);
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	bool cached = true;
	CHECK(kvmprobe_qemu(okq, why, sizeof why, &cached));
	CHECK(!cached);
}

KVM_TEST(kvmprobe_without_a_usable_cache_dir)
{
	setenv("PYRO_CACHE_DIR", "relative/cache", 1);
	char qemu[PATH_MAX], why[400];
	bool cached = true;
	CHECK(ok_qemu(qemu, sizeof qemu) == 0);
	CHECK(kvmprobe_qemu(qemu, why, sizeof why, &cached));
	CHECK(!cached);
	CHECK(kvmprobe_qemu(qemu, why, sizeof why, &cached));
	CHECK(!cached);
	struct stat st;
	CHECK(stat("relative/cache", &st) == -1);
}

/* A QEMU that cannot even be started says nothing about KVM.
 *
 * Only a QEMU that runs under TCG but fails under KVM gives a cached
 * "broken" verdict; a spawn failure, a timeout or a QEMU that fails either
 * way is not cached, and the cache is keyed by the QEMU binary, so the
 * second, working QEMU is probed and says yes. */
KVM_TEST(kvmprobe_spawn_failure_is_not_a_kvm_verdict)
{
	char why[400];
	bool cached = true;
	CHECK(!kvmprobe_qemu("/nonexistent/qemu-system-x86_64", why, sizeof why, &cached));
	CHECK(!cached);
	CHECK(why[0] != '\0');
	char okq[PATH_MAX];
	CHECK(ok_qemu(okq, sizeof okq) == 0);
	bool ok = kvmprobe_qemu(okq, why, sizeof why, &cached);
	CHECK(ok);
	CHECK(!cached);
}
