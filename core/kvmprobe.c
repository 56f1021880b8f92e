/* A real KVM probe through QEMU, cached per host boot (kvmprobe.h). */
#include "kvmprobe.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "atomicfile.h"
#include "buf.h"
#include "hostprobe.h"
#include "paths.h"
#include "spawn.h"


/* The last non-empty line of QEMU's stderr, printable characters only. */
static void last_line(const struct buf *b, char *out, size_t cap)
{
	out[0] = '\0';
	if (!b->len)
		return;
	size_t end = b->len;
	while (end && (b->data[end - 1] == '\n' || b->data[end - 1] == '\r'))
		end--;
	size_t start = end;
	while (start && b->data[start - 1] != '\n')
		start--;
	size_t o = 0;
	for (size_t i = start; i < end && o + 1 < cap; i++)
		if ((unsigned char)b->data[i] >= 0x20 && b->data[i] != 0x7f)
			out[o++] = b->data[i];
	out[o] = '\0';
}


/* Start the probe machine paused under `accel` and quit it. 0 when QEMU
 * exited 0; else -1 with its last words (or why it did not run) in why. */
static int try_accel(const char *qemu, const char *accel, const char *cpu, char *why, size_t cap,
		     bool *timed_out)
{
	const char *argv[] = { qemu, "-M", "microvm", "-accel", accel, "-cpu", cpu, "-m", "64",
			       "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-S",
			       "-monitor", "stdio", "-serial", "none", NULL };
	struct buf err;
	buf_init(&err, 16 << 10);
	struct spawn_opts o = {
		.argv = argv,
		.in = { SPAWN_PIPE, "quit\n", 5, 0 },
		.err = { SPAWN_PIPE, &err, 0 },
		.timeout_ms = 10000,
	};
	struct spawn_result r;
	struct pyro_err e = { 0 };
	int rc = -1;
	*timed_out = false;
	if (spawn_run(&o, &r, &e) < 0) {
		snprintf(why, cap, "%.*s", (int)(cap > 1 ? cap - 1 : 0), e.msg);
	} else if (r.exit_code == 0) {
		rc = 0;
	} else {
		char line[400];
		last_line(&err, line, sizeof line);
		*timed_out = r.timed_out;
		snprintf(why, cap, "qemu -accel %s %s%s%s", accel,
			 r.timed_out ? "did not quit within 10 s" : "failed at start",
			 *line ? ": " : "", line);
	}
	buf_release(&err);
	return rc;
}

/* KVM is broken only when the same QEMU runs the same machine under TCG:
 * a QEMU that cannot start at all, or a probe that timed out on a busy
 * host, says nothing about KVM (and is not cached). */
static enum kvm_verdict run_probe(const char *qemu, char *why, size_t cap)
{
	bool timed_out;
	char kvm_why[600], tcg_why[200];
	if (try_accel(qemu, "kvm", "host", kvm_why, sizeof kvm_why, &timed_out) == 0)
		return KVMPROBE_OK;
	if (timed_out || try_accel(qemu, "tcg", "max", tcg_why, sizeof tcg_why, &timed_out) != 0) {
		snprintf(why, cap, "cannot tell whether KVM works: %s", kvm_why);
		return KVMPROBE_UNKNOWN;
	}
	snprintf(why, cap, "/dev/kvm is present but QEMU cannot use it (%s)", kvm_why);
	return KVMPROBE_BROKEN;
}

enum kvm_verdict kvmprobe_verdict(const char *qemu, char *why, size_t cap, bool *cached)
{
	char id[64], cache[PATH_MAX], path[PATH_MAX + 32], key[PATH_MAX + 128];
	why[0] = '\0';
	if (cached)
		*cached = false;
	hostprobe_boot_id(id, sizeof id);
	/* The verdict holds for this host boot and this QEMU binary. */
	struct stat qst;
	bool can_cache = *id && stat(qemu, &qst) == 0 &&
			 paths_cache_dir(cache, sizeof cache, NULL) == 0 &&
			 (size_t)snprintf(path, sizeof path, "%s/host/kvm-probe", cache) < sizeof path &&
			 (size_t)snprintf(key, sizeof key, "%s %s %llu %lld", id, qemu,
					  (unsigned long long)qst.st_ino,
					  (long long)qst.st_mtim.tv_sec) < sizeof key;
	if (can_cache) {
		struct buf text = BUF_INIT;
		size_t kl = strlen(key);
		if (buf_read_file(&text, path) == 0 && text.len > kl + 1 &&
		    strncmp(text.data, key, kl) == 0 && text.data[kl] == '\n') {
			const char *v = text.data + kl + 1;
			bool ok = strncmp(v, "ok", 2) == 0;
			if (!ok && strncmp(v, "broken ", 7) == 0)
				snprintf(why, cap, "%.*s", (int)strcspn(v + 7, "\n"), v + 7);
			buf_release(&text);
			if (ok || *why) {
				if (cached)
					*cached = true;
				return ok ? KVMPROBE_OK : KVMPROBE_BROKEN;
			}
		}
		buf_release(&text);
	}
	enum kvm_verdict v = run_probe(qemu, why, cap);
	struct stat st;
	/* Only into a cache dir that exists: a probe (pyro doctor) must not
	 * be what creates pyro's directories. */
	if (v != KVMPROBE_UNKNOWN && can_cache && stat(cache, &st) == 0) {
		char dir[PATH_MAX + 8];
		snprintf(dir, sizeof dir, "%s/host", cache);
		mkdir(dir, 0700);
		struct buf line = BUF_INIT;
		if (buf_printf(&line, "%s\n%s%s\n", key, v == KVMPROBE_OK ? "ok" : "broken ",
			       v == KVMPROBE_OK ? "" : why) == 0)
			(void)atomicfile_write(path, line.data, line.len, 0644, NULL);
		buf_release(&line);
	}
	return v;
}

bool kvmprobe_qemu(const char *qemu, char *why, size_t cap, bool *cached)
{
	return kvmprobe_verdict(qemu, why, cap, cached) == KVMPROBE_OK;
}
