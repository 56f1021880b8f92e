/* qemuargs: print the QEMU command line core/qemu_args.h builds, one
 * argument per line, for the guest tests (tests/guest/boot.sh), so the
 * builder is what boots the test guests. Not shipped.
 *
 *   qemuargs --kernel F --console F [--initrd F] [--rootfs F] [--rw]
 *            [--vcpus N] [--mem MIB] [--accel kvm|tcg] [--tsc-khz N]
 *            [--acpi] [--agent-socket P] [--qmp-socket P] [--net] [--quiet]
 *            [--qemu BIN] [KEY=VALUE ...]
 *   qemuargs --tsc-khz-only      print the host TSC kHz qemu_host_tsc_khz finds
 *
 * Under tcg without --tsc-khz the host's TSC kHz is measured. Trailing
 * words are kernel command line keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/qemu_args.h"

static int die(const struct pyro_err *err)
{
	fprintf(stderr, "qemuargs: %s\n", err->msg);
	return err->code ? err->code : PYRO_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	struct qemu_plan p = { .vcpus = 1, .mem_mib = 256, .accel = QEMU_ACCEL_TCG };
	static const char *keys[64];
	size_t nk = 0;
	struct pyro_err err = { 0 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;
		if (!strcmp(a, "--tsc-khz-only")) {
			unsigned long khz;
			if (qemu_host_tsc_khz(&khz, &err))
				return die(&err);
			printf("%lu\n", khz);
			return 0;
		} else if (!strcmp(a, "--rw")) {
			p.rootfs_writable = true, takes = 0;
		} else if (!strcmp(a, "--acpi")) {
			p.acpi = true, takes = 0;
		} else if (!strcmp(a, "--net")) {
			p.user_net = true, takes = 0;
		} else if (!strcmp(a, "--quiet")) {
			p.quiet = true, takes = 0;
		} else if (a[0] != '-') {
			if (nk + 1 >= sizeof keys / sizeof keys[0])
				return PYRO_EXIT_USAGE;
			keys[nk++] = a, takes = 0;
		} else if (!v) {
			fprintf(stderr, "qemuargs: %s needs a value\n", a);
			return PYRO_EXIT_USAGE;
		} else if (!strcmp(a, "--kernel")) {
			p.kernel = v;
		} else if (!strcmp(a, "--console")) {
			p.console_log = v;
		} else if (!strcmp(a, "--initrd")) {
			p.initrd = v;
		} else if (!strcmp(a, "--rootfs")) {
			p.rootfs = v;
		} else if (!strcmp(a, "--vcpus")) {
			p.vcpus = (unsigned)atoi(v);
		} else if (!strcmp(a, "--mem")) {
			p.mem_mib = (unsigned)atoi(v);
		} else if (!strcmp(a, "--accel")) {
			p.accel = !strcmp(v, "kvm") ? QEMU_ACCEL_KVM : QEMU_ACCEL_TCG;
		} else if (!strcmp(a, "--tsc-khz")) {
			p.tsc_khz = strtoul(v, NULL, 10);
		} else if (!strcmp(a, "--agent-socket")) {
			p.agent_socket = v;
		} else if (!strcmp(a, "--qmp-socket")) {
			p.qmp_socket = v;
		} else if (!strcmp(a, "--qemu")) {
			p.qemu = v;
		} else {
			fprintf(stderr, "qemuargs: unknown option %s\n", a);
			return PYRO_EXIT_USAGE;
		}
		i += takes;
	}
	p.cmdline_keys = keys;
	if (p.accel == QEMU_ACCEL_TCG && !p.tsc_khz && qemu_host_tsc_khz(&p.tsc_khz, &err))
		return die(&err);
	static struct qemu_argv out;
	if (qemu_args_build(&p, &out, &err))
		return die(&err);
	for (int i = 0; i < out.argc; i++)
		printf("%s\n", out.argv[i]);
	return 0;
}
