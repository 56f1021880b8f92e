/* argv for qemu-system-x86_64 -M microvm (qemu_args.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exitcodes.h"
#include "qemu_args.h"

/* Append one formatted argument; `overflow` sticks so callers check once. */
struct argv_builder {
	struct qemu_argv *out;
	int overflow;
};

__attribute__((format(printf, 2, 3)))
static void arg(struct argv_builder *b, const char *fmt, ...)
{
	struct qemu_argv *o = b->out;
	if (b->overflow)
		return;
	if (o->argc >= QEMU_ARGV_MAX) {
		b->overflow = 1;
		return;
	}
	size_t room = sizeof o->text - o->used;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->text + o->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		b->overflow = 1;
		return;
	}
	o->argv[o->argc++] = o->text + o->used;
	o->argv[o->argc] = NULL;
	o->used += (size_t)n + 1;
}

/* A path with QEMU's option escape (',' -> ",,") in the caller's scratch;
 * one that does not fit marks the build as overflowed (never cut). */
static const char *esc(struct argv_builder *b, const char *path, char *scratch, size_t cap)
{
	size_t j = 0;
	for (size_t i = 0; path[i]; i++) {
		if (j + 3 > cap) {
			b->overflow = 1;
			return "";
		}
		scratch[j++] = path[i];
		if (path[i] == ',')
			scratch[j++] = ',';
	}
	scratch[j] = '\0';
	return scratch;
}

static int check_plan(const struct qemu_plan *p, struct pyro_err *err)
{
	if (!p->kernel || !*p->kernel)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "qemu plan: no kernel");
	if (!p->console_log || !*p->console_log)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "qemu plan: no console log path");
	if (p->vcpus < 1 || p->vcpus > 64)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "qemu plan: vcpus must be 1-64 (got %u)",
				    p->vcpus);
	if (p->mem_mib < 64 || p->mem_mib > 65536)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "qemu plan: mem_mib must be 64-65536 (got %u)", p->mem_mib);
	if (p->agent_fd > 0 && p->agent_socket)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "qemu plan: give the agent channel as a socket path or an fd, not both");
	if (p->rootfs_snapshot && !p->rootfs)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "qemu plan: a snapshot drive needs a rootfs");
	if (p->accel == QEMU_ACCEL_TCG && p->tsc_khz == 0)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "qemu plan: TCG needs the host TSC kHz (tsc_early_khz), "
				    "or about half of all boots hang");
	for (size_t i = 0; p->cmdline_keys && p->cmdline_keys[i]; i++) {
		const char *k = p->cmdline_keys[i];
		if (!*k || strpbrk(k, " \t\n"))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "qemu plan: kernel command line key '%.80s' is empty "
					    "or has white space", k);
	}
	return 0;
}

int qemu_args_cmdline(const struct qemu_plan *p, char *buf, size_t cap, struct pyro_err *err)
{
	if (check_plan(p, err))
		return -1;
	size_t n = 0;
	int w = snprintf(buf, cap, "console=ttyS0");
	if (w >= 0)
		n = (size_t)w;
#define ADD(...)                                                                \
	do {                                                                    \
		if (n < cap) {                                                  \
			w = snprintf(buf + n, cap - n, __VA_ARGS__);            \
			n = w < 0 ? cap : n + (size_t)w;                         \
		}                                                               \
	} while (0)
	if (p->rootfs)
		ADD(" root=/dev/vda %s", p->rootfs_writable || p->rootfs_snapshot ? "rw" : "ro");
	ADD(" reboot=t panic=-1");
	if (p->accel == QEMU_ACCEL_TCG)
		ADD(" tsc_early_khz=%lu", p->tsc_khz);
	if (p->quiet)
		ADD(" quiet");
	for (size_t i = 0; p->cmdline_keys && p->cmdline_keys[i]; i++)
		ADD(" %s", p->cmdline_keys[i]);
#undef ADD
	if (w < 0 || n >= cap)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the kernel command line does not fit in %zu bytes", cap);
	return 0;
}

int qemu_args_build(const struct qemu_plan *p, struct qemu_argv *out, struct pyro_err *err)
{
	char cmdline[2048], e[1024];
	memset(out, 0, sizeof *out);
	if (qemu_args_cmdline(p, cmdline, sizeof cmdline, err))
		return -1;
	struct argv_builder b = { out, 0 };
	int kvm = p->accel == QEMU_ACCEL_KVM;
	arg(&b, "%s", p->qemu ? p->qemu : "qemu-system-x86_64");
	arg(&b, "-M"), arg(&b, "microvm,acpi=%s", p->acpi ? "on" : "off");
	arg(&b, "-accel"), arg(&b, "%s", kvm ? "kvm" : "tcg");
	/* KVM: the host CPU as is. TCG: "max", every feature TCG emulates,
	 * so guest binaries built for newer x86-64 levels still run. */
	arg(&b, "-cpu"), arg(&b, "%s", kvm ? "host" : "max");
	arg(&b, "-smp"), arg(&b, "%u", p->vcpus);
	arg(&b, "-m"), arg(&b, "%u", p->mem_mib);
	arg(&b, "-nodefaults"), arg(&b, "-no-user-config"), arg(&b, "-nographic");
	arg(&b, "-no-reboot");
	arg(&b, "-kernel"), arg(&b, "%s", p->kernel);
	if (p->initrd)
		arg(&b, "-initrd"), arg(&b, "%s", p->initrd);
	arg(&b, "-append"), arg(&b, "%s", cmdline);
	arg(&b, "-chardev"), arg(&b, "file,id=console,path=%s", esc(&b, p->console_log, e, sizeof e));
	arg(&b, "-serial"), arg(&b, "chardev:console");
	if (p->rootfs) {
		arg(&b, "-drive");
		if (p->rootfs_snapshot)
			arg(&b, "id=root,file=%s,format=raw,if=none,snapshot=on",
			    esc(&b, p->rootfs, e, sizeof e));
		else
			arg(&b, "id=root,file=%s,format=raw,if=none,read-only=%s",
			    esc(&b, p->rootfs, e, sizeof e), p->rootfs_writable ? "off" : "on");
		arg(&b, "-device"), arg(&b, "virtio-blk-device,drive=root");
	}
	if (p->agent_socket || p->agent_fd > 0) {
		arg(&b, "-device"), arg(&b, "virtio-serial-device");
		arg(&b, "-chardev");
		if (p->agent_fd > 0)
			arg(&b, "socket,id=agent,fd=%d,server=off", p->agent_fd);
		else
			arg(&b, "socket,id=agent,path=%s,server=on,wait=off",
			    esc(&b, p->agent_socket, e, sizeof e));
		arg(&b, "-device"), arg(&b, "virtserialport,chardev=agent,name=pyro.agent");
	}
	if (p->user_net) {
		arg(&b, "-netdev"), arg(&b, "user,id=net0");
		arg(&b, "-device"), arg(&b, "virtio-net-device,netdev=net0");
	}
	if (p->qmp_socket) {
		arg(&b, "-chardev");
		arg(&b, "socket,id=qmp,path=%s,server=on,wait=off", esc(&b, p->qmp_socket, e, sizeof e));
		arg(&b, "-mon"), arg(&b, "chardev=qmp,mode=control");
	}
	if (b.overflow)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the qemu command line does not fit (%d arguments, %zu bytes)",
				    QEMU_ARGV_MAX, sizeof out->text);
	return 0;
}

/* --- the host TSC frequency --- */

static unsigned long long rdtsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((unsigned long long)hi << 32) | lo;
#else
	return 0;
#endif
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Read a positive decimal from a one-line file; 0 when absent or bad. */
static unsigned long read_khz_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char line[64] = "";
	unsigned long v = 0;
	if (fgets(line, sizeof line, f)) {
		char *end;
		v = strtoul(line, &end, 10);
		if (end == line || (*end && *end != '\n'))
			v = 0;
	}
	fclose(f);
	return v;
}

int qemu_host_tsc_khz(unsigned long *khz, struct pyro_err *err)
{
	const char *env = getenv("PYRO_TSC_KHZ");
	if (env && *env) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(env, &end, 10);
		if (errno || *end || v < 1000 || v > 100000000)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "PYRO_TSC_KHZ must be the TSC frequency in kHz, "
					    "1000-100000000 (got '%.40s')", env);
		*khz = v;
		return 0;
	}
	unsigned long v = read_khz_file("/sys/devices/system/cpu/cpu0/tsc_freq_khz");
	if (v >= 1000) {
		*khz = v;
		return 0;
	}
	/* Bracket each clock read with TSC reads and keep the tightest pair,
	 * so a preemption between the two reads does not skew the result. */
	long long t0 = 0, t1 = 0;
	unsigned long long c0 = 0, c1 = 0;
	for (int end = 0; end < 2; end++) {
		unsigned long long best = ~0ULL;
		for (int i = 0; i < 5; i++) {
			unsigned long long a = rdtsc();
			long long t = now_ns();
			unsigned long long z = rdtsc();
			if (z - a < best) {
				best = z - a;
				if (end)
					t1 = t, c1 = a + (z - a) / 2;
				else
					t0 = t, c0 = a + (z - a) / 2;
			}
		}
		if (!end) {
			struct timespec nap = { 0, 50 * 1000 * 1000 };
			while (nanosleep(&nap, &nap) != 0 && errno == EINTR)
				;
		}
	}
	if (c1 <= c0 || t1 <= t0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "cannot measure the host TSC frequency (no usable TSC); "
				    "set PYRO_TSC_KHZ");
	/* Hz = cycles / seconds; kHz rounded to the nearest. */
	double k = (double)(c1 - c0) / ((double)(t1 - t0) / 1e9) / 1000.0;
	*khz = (unsigned long)(k + 0.5);
	return 0;
}
