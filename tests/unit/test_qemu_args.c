/* core/qemu_args.h: exact argv for a few plans, and the refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/qemu_args.h"
#include "test.h"

static struct qemu_argv out; /* 8 KB: not on the test's stack */

/* 1 when out.argv is exactly want[] (NULL-terminated); prints the first
 * difference otherwise. */
static int same_argv(const char *const *want)
{
	int i = 0;
	for (; want[i] && i < out.argc; i++) {
		if (strcmp(want[i], out.argv[i])) {
			fprintf(stderr, "  argv[%d]: got '%s', want '%s'\n", i, out.argv[i], want[i]);
			return 0;
		}
	}
	if (want[i] || i != out.argc || out.argv[i]) {
		fprintf(stderr, "  argc: got %d, want more or fewer (stopped at %d)\n", out.argc, i);
		return 0;
	}
	return 1;
}

TEST(qemu_args_tcg_full_plan)
{
	const char *keys[] = { "pyro.agent=--fd,3", "pyro.halt=poweroff", NULL };
	struct qemu_plan p = {
		.kernel = "/env/vmlinux", .initrd = "/c/init.cpio", .rootfs = "/env/rootfs.ext4",
		.vcpus = 2, .mem_mib = 512, .accel = QEMU_ACCEL_TCG, .tsc_khz = 2096010,
		.acpi = true, .console_log = "/vm/console.log", .agent_socket = "/vm/agent.sock",
		.qmp_socket = "/vm/qmp.sock", .user_net = true, .cmdline_keys = keys,
	};
	struct pyro_err err = { 0 };
	CHECK(qemu_args_build(&p, &out, &err) == 0);
	const char *want[] = {
		"qemu-system-x86_64", "-M", "microvm,acpi=on", "-accel", "tcg", "-cpu", "max",
		"-smp", "2", "-m", "512", "-nodefaults", "-no-user-config", "-nographic",
		"-no-reboot", "-kernel", "/env/vmlinux", "-initrd", "/c/init.cpio", "-append",
		"console=ttyS0 root=/dev/vda ro reboot=t panic=-1 tsc_early_khz=2096010 "
		"pyro.agent=--fd,3 pyro.halt=poweroff",
		"-chardev", "file,id=console,path=/vm/console.log", "-serial", "chardev:console",
		"-drive", "id=root,file=/env/rootfs.ext4,format=raw,if=none,read-only=on",
		"-device", "virtio-blk-device,drive=root",
		"-device", "virtio-serial-device",
		"-chardev", "socket,id=agent,path=/vm/agent.sock,server=on,wait=off",
		"-device", "virtserialport,chardev=agent,name=pyro.agent",
		"-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0",
		"-chardev", "socket,id=qmp,path=/vm/qmp.sock,server=on,wait=off",
		"-mon", "chardev=qmp,mode=control", NULL,
	};
	CHECK(same_argv(want));
}

TEST(qemu_args_kvm_minimal_writable)
{
	struct qemu_plan p = {
		.qemu = "/opt/qemu", .kernel = "k", .rootfs = "/a,b/root.img", .rootfs_writable = true,
		.vcpus = 1, .mem_mib = 64, .accel = QEMU_ACCEL_KVM, .tsc_khz = 999,
		.console_log = "/x,y/log", .quiet = true,
	};
	struct pyro_err err = { 0 };
	CHECK(qemu_args_build(&p, &out, &err) == 0);
	/* KVM: no tsc_early_khz (kvm-clock), -cpu host; commas in option
	 * paths doubled; no initrd, agent, net or QMP when not asked. */
	const char *want[] = {
		"/opt/qemu", "-M", "microvm,acpi=off", "-accel", "kvm", "-cpu", "host",
		"-smp", "1", "-m", "64", "-nodefaults", "-no-user-config", "-nographic",
		"-no-reboot", "-kernel", "k", "-append",
		"console=ttyS0 root=/dev/vda rw reboot=t panic=-1 quiet",
		"-chardev", "file,id=console,path=/x,,y/log", "-serial", "chardev:console",
		"-drive", "id=root,file=/a,,b/root.img,format=raw,if=none,read-only=off",
		"-device", "virtio-blk-device,drive=root", NULL,
	};
	CHECK(same_argv(want));
}

/* What the VM supervisor asks for: the agent on an inherited socketpair
 * end, the base image behind a throw-away overlay (so "rw" for the guest
 * while the file stays pristine). */
TEST(qemu_args_supervisor_plan_fd_agent_snapshot_root)
{
	struct qemu_plan p = {
		.kernel = "/env/vmlinux", .rootfs = "/env/rootfs.ext4", .rootfs_snapshot = true,
		.vcpus = 1, .mem_mib = 1024, .accel = QEMU_ACCEL_KVM, .console_log = "/vm/c.log",
		.agent_fd = 3,
	};
	struct pyro_err err = { 0 };
	CHECK(qemu_args_build(&p, &out, &err) == 0);
	const char *want[] = {
		"qemu-system-x86_64", "-M", "microvm,acpi=off", "-accel", "kvm", "-cpu", "host",
		"-smp", "1", "-m", "1024", "-nodefaults", "-no-user-config", "-nographic",
		"-no-reboot", "-kernel", "/env/vmlinux", "-append",
		"console=ttyS0 root=/dev/vda rw reboot=t panic=-1",
		"-chardev", "file,id=console,path=/vm/c.log", "-serial", "chardev:console",
		"-drive", "id=root,file=/env/rootfs.ext4,format=raw,if=none,snapshot=on",
		"-device", "virtio-blk-device,drive=root",
		"-device", "virtio-serial-device",
		"-chardev", "socket,id=agent,fd=3,server=off",
		"-device", "virtserialport,chardev=agent,name=pyro.agent", NULL,
	};
	CHECK(same_argv(want));
	p.agent_socket = "/vm/agent.sock";
	CHECK(qemu_args_build(&p, &out, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE && strstr(err.msg, "not both"));
	p.agent_socket = NULL;
	p.rootfs = NULL;
	CHECK(qemu_args_build(&p, &out, &err) == -1);
	CHECK(strstr(err.msg, "snapshot drive needs a rootfs"));
}

TEST(qemu_args_no_rootfs_no_root_key)
{
	struct qemu_plan p = { .kernel = "k", .vcpus = 1, .mem_mib = 128,
			       .accel = QEMU_ACCEL_TCG, .tsc_khz = 3000000, .console_log = "c" };
	char line[256];
	struct pyro_err err = { 0 };
	CHECK(qemu_args_cmdline(&p, line, sizeof line, &err) == 0);
	CHECK_STR(line, "console=ttyS0 reboot=t panic=-1 tsc_early_khz=3000000");
	CHECK(qemu_args_cmdline(&p, line, 20, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
}

TEST(qemu_args_refusals)
{
	struct pyro_err err = { 0 };
	struct qemu_plan ok = { .kernel = "k", .vcpus = 1, .mem_mib = 128,
				.accel = QEMU_ACCEL_TCG, .tsc_khz = 1, .console_log = "c" };
	struct qemu_plan p = ok;
	p.tsc_khz = 0;
	CHECK(qemu_args_build(&p, &out, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "TSC");
	p = ok, p.kernel = NULL;
	CHECK(qemu_args_build(&p, &out, &err) == -1);
	CHECK_CONTAINS(err.msg, "kernel");
	p = ok, p.vcpus = 0;
	CHECK(qemu_args_build(&p, &out, &err) == -1);
	CHECK_CONTAINS(err.msg, "vcpus");
	p = ok, p.mem_mib = 65537;
	CHECK(qemu_args_build(&p, &out, &err) == -1);
	CHECK_CONTAINS(err.msg, "mem_mib");
	p = ok, p.console_log = "";
	CHECK(qemu_args_build(&p, &out, &err) == -1);
	const char *spaced[] = { "pyro.hostname=a b", NULL };
	p = ok, p.cmdline_keys = spaced;
	CHECK(qemu_args_build(&p, &out, &err) == -1);
	CHECK_CONTAINS(err.msg, "white space");
	/* A command line that cannot fit is an error, not a cut. */
	static char big[3000];
	memset(big, 'x', sizeof big - 1);
	const char *huge[] = { big, NULL };
	p = ok, p.cmdline_keys = huge;
	CHECK(qemu_args_build(&p, &out, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	/* Nor is a path too long for its option: never cut. */
	static char path[1500];
	memset(path, ',', sizeof path - 1);
	p = ok, p.console_log = path;
	CHECK(qemu_args_build(&p, &out, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
}

TEST(qemu_host_tsc_khz_override_and_measure)
{
	unsigned long khz = 0;
	struct pyro_err err = { 0 };
	char *old = getenv("PYRO_TSC_KHZ") ? strdup(getenv("PYRO_TSC_KHZ")) : NULL;
	setenv("PYRO_TSC_KHZ", "2500000", 1);
	int rc1 = qemu_host_tsc_khz(&khz, &err);
	unsigned long over = khz;
	setenv("PYRO_TSC_KHZ", "12abc", 1);
	int rc2 = qemu_host_tsc_khz(&khz, &err);
	unsetenv("PYRO_TSC_KHZ");
	int rc3 = qemu_host_tsc_khz(&khz, &err);
	if (old) {
		setenv("PYRO_TSC_KHZ", old, 1);
		free(old);
	}
	CHECK(rc1 == 0 && over == 2500000);
	CHECK(rc2 == -1 && err.code == PYRO_EXIT_USAGE);
	/* Any x86_64 TSC of this century: 100 MHz - 10 GHz. */
	CHECK(rc3 == 0);
	CHECK(khz > 100000 && khz < 10000000);
}
