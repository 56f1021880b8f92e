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

static bool run_probe(const char *qemu, char *why, size_t cap)
{
	const char *argv[] = { qemu, "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", "64",
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
	bool ok = false;
	if (spawn_run(&o, &r, &e) < 0) {
		snprintf(why, cap, "%s", e.msg);
	} else if (r.exit_code == 0) {
		ok = true;
	} else {
		char line[400];
		last_line(&err, line, sizeof line);
		snprintf(why, cap, "/dev/kvm is present but QEMU cannot use it (qemu -accel kvm %s%s%s)",
			 r.timed_out ? "did not quit within 10 s" : "failed at start",
			 *line ? ": " : "", line);
	}
	buf_release(&err);
	return ok;
}

bool kvmprobe_qemu(const char *qemu, char *why, size_t cap, bool *cached)
{
	char id[64], cache[PATH_MAX], path[PATH_MAX + 32];
	why[0] = '\0';
	if (cached)
		*cached = false;
	hostprobe_boot_id(id, sizeof id);
	bool can_cache = *id && paths_cache_dir(cache, sizeof cache, NULL) == 0 &&
			 (size_t)snprintf(path, sizeof path, "%s/host/kvm-probe", cache) < sizeof path;
	if (can_cache) {
		struct buf text = BUF_INIT;
		if (buf_read_file(&text, path) == 0 && text.len > strlen(id) + 1 &&
		    strncmp(text.data, id, strlen(id)) == 0 && text.data[strlen(id)] == ' ') {
			const char *v = text.data + strlen(id) + 1;
			bool ok = strncmp(v, "ok", 2) == 0;
			if (!ok && strncmp(v, "broken ", 7) == 0)
				snprintf(why, cap, "%.*s", (int)strcspn(v + 7, "\n"), v + 7);
			buf_release(&text);
			if (ok || *why) {
				if (cached)
					*cached = true;
				return ok;
			}
		}
		buf_release(&text);
	}
	bool ok = run_probe(qemu, why, cap);
	struct stat st;
	/* Only into a cache dir that exists: a probe (pyro doctor) must not
	 * be what creates pyro's directories. */
	if (can_cache && stat(cache, &st) == 0) {
		char dir[PATH_MAX + 8];
		snprintf(dir, sizeof dir, "%s/host", cache);
		mkdir(dir, 0700);
		struct buf line = BUF_INIT;
		if (buf_printf(&line, "%s %s%s\n", id, ok ? "ok" : "broken ", ok ? "" : why) == 0)
			(void)atomicfile_write(path, line.data, line.len, 0644, NULL);
		buf_release(&line);
	}
	return ok;
}
