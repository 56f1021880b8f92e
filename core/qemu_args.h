/* The command line of `qemu-system-x86_64 -M microvm` for one pyro guest,
 * built from a plan. Pure: no I/O, no allocation, the same plan always
 * gives the same argv (which is what the unit tests compare).
 *
 * The machine: microvm (virtio-mmio, no PCI, no firmware), the kernel
 * booted directly from the ELF vmlinux (PVH), the pyro initramfs, the root
 * image as virtio-blk (always the first device, so the guest sees it as
 * /dev/vda), the console on the first serial port into a log file, the
 * agent channel as a virtio-serial port named "pyro.agent" backed by a
 * UNIX socket QEMU listens on, optionally user-mode networking, and a QMP
 * socket. The agent chardev is either a UNIX socket QEMU listens on or,
 * better, an inherited socketpair end (fd=N): then there is no path to
 * race for, the supervisor holds the other end before QEMU even starts,
 * and QEMU's death shows up as EOF on it. `-nodefaults -no-user-config -nographic`: nothing the plan did
 * not ask for. `-no-reboot`: a guest reboot (how pyro-init ends the VM by
 * default, docs/guest-init.md) makes QEMU exit.
 *
 * Kernel command line, in this order: console=ttyS0, root=/dev/vda and
 * ro/rw when there is a root image, reboot=t (a triple fault, which works
 * on microvm with or without ACPI and needs no keyboard controller),
 * panic=-1 (a panic reboots at once, so QEMU exits instead of hanging),
 * tsc_early_khz=<kHz> under TCG, `quiet` when asked, then the caller's
 * keys (pyro.agent=..., pyro.halt=...) verbatim.
 *
 * Why tsc_early_khz under TCG: microvm has no PIT/HPET to calibrate the
 * TSC against, and under TCG about half of all boots hang in calibration
 * (FEASIBILITY.md: 27/27 with it). Under TCG QEMU's guest TSC is the
 * host's TSC (cpu_get_host_ticks), so the host's TSC frequency is the
 * right value; qemu_host_tsc_khz() finds it. KVM guests use kvm-clock.
 *
 * Paths that QEMU reads inside a `key=value,...` option (drive, chardev)
 * get every ',' doubled, QEMU's escape; -kernel/-initrd/-append take
 * plain strings.
 */
#ifndef PYRO_QEMU_ARGS_H
#define PYRO_QEMU_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum qemu_accel { QEMU_ACCEL_KVM, QEMU_ACCEL_TCG };

struct qemu_plan {
	const char *qemu;         /* binary; NULL means "qemu-system-x86_64" */
	const char *kernel;       /* vmlinux (required) */
	const char *initrd;       /* NULL: none */
	const char *rootfs;       /* raw image; NULL: no disk, no root= */
	bool rootfs_writable;     /* false: read-only drive and "ro" */
	bool rootfs_snapshot;     /* writable for the guest, but writes go to a
				   * temporary overlay QEMU deletes (snapshot=on,
				   * in $TMPDIR): the image stays pristine */
	unsigned vcpus;           /* 1-64 */
	unsigned mem_mib;         /* 64-65536 */
	enum qemu_accel accel;
	unsigned long tsc_khz;    /* required under TCG, ignored under KVM */
	bool acpi;                /* microvm acpi=on (power button, S5) or off */
	const char *console_log;  /* serial console file (required) */
	const char *agent_socket; /* virtio-serial chardev socket QEMU listens on; NULL: none */
	int agent_fd;             /* > 0: the chardev is this already-connected socket
				   * (one end of a socketpair the caller passes
				   * down), instead of agent_socket */
	const char *qmp_socket;   /* NULL: no QMP */
	bool user_net;            /* -netdev user + virtio-net-device */
	bool quiet;               /* "quiet" on the kernel command line */
	const char *const *cmdline_keys; /* NULL-terminated, appended verbatim */
};

#define QEMU_ARGV_MAX 64
#define QEMU_ARGS_TEXT_MAX 8192

/* Caller-owned storage for the result: argv[argc] is NULL and every
 * string points into `text`. Large (8 KB): not for small stacks. */
struct qemu_argv {
	char *argv[QEMU_ARGV_MAX + 1];
	int argc;
	char text[QEMU_ARGS_TEXT_MAX];
	size_t used;
};

/* Fill `out` from `plan`. Fails with PYRO_EXIT_USAGE naming the field for
 * a missing or out-of-range value (or a key with a space or newline, which
 * would split or end the kernel command line), and with PYRO_EXIT_FAILURE
 * when the result does not fit. */
int qemu_args_build(const struct qemu_plan *plan, struct qemu_argv *out, struct pyro_err *err);

/* The kernel command line alone (what -append gets), into buf. */
int qemu_args_cmdline(const struct qemu_plan *plan, char *buf, size_t cap, struct pyro_err *err);

/* The host's TSC frequency in kHz. Sources, best first:
 *  1. $PYRO_TSC_KHZ (an override, for hosts where the others mislead);
 *  2. /sys/devices/system/cpu/cpu0/tsc_freq_khz (exists on some kernels,
 *     exact);
 *  3. a measurement: RDTSC against CLOCK_MONOTONIC_RAW over 50 ms, which
 *     is what the TSC actually does, unprivileged, within ~0.01%.
 * Not /proc/cpuinfo "cpu MHz": that is the current core clock on CPUs
 * with APERF/MPERF, not the TSC. Not the kernel log's "tsc: Refined TSC
 * clocksource calibration": dmesg is often root-only. Fails on a host
 * without a usable TSC (not x86_64). */
int qemu_host_tsc_khz(unsigned long *khz, struct pyro_err *err);

#endif
