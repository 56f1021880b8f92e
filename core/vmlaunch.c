/* Starting the VMM of one VM (vmlaunch.h). */
#include "vmlaunch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentclient.h"
#include "atomicfile.h"
#include "buf.h"
#include "exitcodes.h"
#include "hostprobe.h"
#include "paths.h"
#include "qemu_args.h"
#include "fcconfig.h"
#include "netplan.h"
#include "vmdisk.h"
#include "vmsup.h"

/* The agent as pyro-init starts it in a QEMU guest: on the virtio-serial
 * port named by qemu_args.h, multiplexed with vmux. */
#define QEMU_AGENT_ARG "--serial,/dev/virtio-ports/pyro.agent"
/* The fd number QEMU gets its end of the agent line on. */
#define QEMU_LINE_FD 3

int vmlaunch_cmdline_keys(const struct vm_record *r, const char *agent_arg, char *store,
			  size_t cap, const char **keys, size_t max_keys, struct pyro_err *err)
{
	size_t used = 0, n = 0;
	char dns[3 * 47];
	dns[0] = '\0';
	for (int i = 0; i < r->net.dns_count; i++)
		snprintf(dns + strlen(dns), sizeof dns - strlen(dns), "%s%s", i ? "," : "",
			 r->net.dns[i]);
	const char *prefix_len = strchr(r->net.subnet_cidr, '/');
	char want[8][200];
	size_t w = 0;
	snprintf(want[w++], sizeof want[0], "pyro.agent=%s", agent_arg);
	/* The VM ends by reboot, which -no-reboot turns into QEMU's exit. */
	snprintf(want[w++], sizeof want[0], "pyro.stop_grace=5");
	if (r->net.enabled) {
		snprintf(want[w++], sizeof want[0], "pyro.guest_ip=%s", r->net.guest_ip);
		if (prefix_len)
			snprintf(want[w++], sizeof want[0], "pyro.netmask=%s", prefix_len + 1);
		snprintf(want[w++], sizeof want[0], "pyro.gateway_ip=%s", r->net.gateway_ip);
		if (*dns)
			snprintf(want[w++], sizeof want[0], "pyro.dns=%s", dns);
	}
	for (size_t i = 0; i < w; i++) {
		size_t len = strlen(want[i]) + 1;
		if (n + 1 >= max_keys || used + len > cap)
			return pyro_err_set(err, PYRO_EXIT_FAILURE, "the kernel command line keys do not fit");
		memcpy(store + used, want[i], len);
		keys[n++] = store + used;
		used += len;
	}
	keys[n] = NULL;
	return 0;
}


int vmlaunch_tsc_khz(unsigned long *khz, struct pyro_err *err)
{
	if (getenv("PYRO_TSC_KHZ"))
		return qemu_host_tsc_khz(khz, err);
	char cache[PATH_MAX], path[PATH_MAX + 64], id[64];
	hostprobe_boot_id(id, sizeof id);
	bool can_cache = *id && paths_cache_dir(cache, sizeof cache, NULL) == 0 &&
			 (size_t)snprintf(path, sizeof path, "%s/host/tsc-khz", cache) < sizeof path;
	if (can_cache) {
		FILE *f = fopen(path, "re");
		char line[128];
		if (f) {
			char fid[64];
			unsigned long v;
			if (fgets(line, sizeof line, f) && sscanf(line, "%63s %lu", fid, &v) == 2 &&
			    strcmp(fid, id) == 0 && v >= 1000) {
				fclose(f);
				*khz = v;
				return 0;
			}
			fclose(f);
		}
	}
	if (qemu_host_tsc_khz(khz, err) < 0)
		return -1;
	if (can_cache) {
		char dir[PATH_MAX + 8], line[128];
		snprintf(dir, sizeof dir, "%s/host", cache);
		mkdir(cache, 0700);
		mkdir(dir, 0700);
		int n = snprintf(line, sizeof line, "%s %lu\n", id, *khz);
		(void)atomicfile_write(path, line, (size_t)n, 0644, NULL);
	}
	return 0;
}

/* fork + exec argv with the VM dir's log as stdout/stderr, keep_fd moved
 * to QEMU_LINE_FD (when >= 0), and a parent-death signal, so the VMM never
 * outlives its supervisor. */
static int spawn_vmm(const struct vm_record *r, char *const *argv, const char *log_name,
		     int keep_fd, pid_t *pid, struct pyro_err *err)
{
	char logpath[PATH_MAX], tmpdir[PATH_MAX + 16];
	if (vm_path(r, log_name, logpath, sizeof logpath, err) < 0)
		return -1;
	snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", r->dir);
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (logfd < 0 || nullfd < 0) {
		int e = errno;
		if (logfd >= 0)
			close(logfd);
		if (nullfd >= 0)
			close(nullfd);
		return pyro_err_sys(err, e, "opening %s", logpath);
	}
	pid_t parent = getpid();
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(nullfd, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		if (keep_fd >= 0) {
			if (keep_fd == QEMU_LINE_FD)
				fcntl(keep_fd, F_SETFD, 0);
			else
				dup2(keep_fd, QEMU_LINE_FD);
		}
		/* Nothing else of the supervisor's (its signalfd, the status
		 * pipe, sockets) for the VMM. */
		for (int fd = keep_fd >= 0 ? QEMU_LINE_FD + 1 : 3; fd < 1024; fd++)
			close(fd);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* QEMU's snapshot=on overlay goes to $TMPDIR: keep it in the VM
		 * dir (same file system as the VM's other files, removed with it). */
		putenv(tmpdir);
		execvp(argv[0], argv);
		dprintf(2, "pyro-vmm: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int e = errno;
	close(logfd);
	close(nullfd);
	if (p < 0)
		return pyro_err_sys(err, e, "starting %s (fork)", argv[0]);
	*pid = p;
	return 0;
}

static int launch_qemu(const struct vm_record *r, const char *initrd, struct vm_launch *out,
		       struct pyro_err *err)
{
	char console[PATH_MAX], qemu[PATH_MAX];
	if (vm_path(r, "console.log", console, sizeof console, err) < 0)
		return -1;
	if (!hostprobe_find_exe("qemu-system-x86_64", "PYRO_QEMU", qemu, sizeof qemu))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "qemu-system-x86_64 is not installed (apt-get install "
				    "qemu-system-x86, or set PYRO_QEMU to its path)");
	char keystore[1024];
	const char *keys[12];
	if (vmlaunch_cmdline_keys(r, QEMU_AGENT_ARG, keystore, sizeof keystore, keys, 12, err) < 0)
		return -1;
	struct qemu_plan plan = {
		.qemu = qemu,
		.kernel = r->kernel_image,
		.initrd = initrd,
		.rootfs = r->rootfs_image,
		.rootfs_snapshot = true,
		.vcpus = (unsigned)r->vcpu_count,
		.mem_mib = (unsigned)r->mem_mib,
		.accel = strcmp(r->accel, "tcg") == 0 ? QEMU_ACCEL_TCG : QEMU_ACCEL_KVM,
		.acpi = true,
		.console_log = console,
		.agent_fd = QEMU_LINE_FD,
		.user_net = r->net.enabled,
		.quiet = true,
		.cmdline_keys = keys,
	};
	if (plan.accel == QEMU_ACCEL_TCG && vmlaunch_tsc_khz(&plan.tsc_khz, err) < 0)
		return -1;
	static struct qemu_argv av; /* 8 KB; the supervisor launches once */
	if (qemu_args_build(&plan, &av, err) < 0)
		return -1;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return pyro_err_sys(err, errno, "creating the agent line (socketpair)");
	int rc = spawn_vmm(r, av.argv, "qemu.log", sp[1], &out->vmm_pid, err);
	close(sp[1]);
	if (rc < 0) {
		close(sp[0]);
		return -1;
	}
	out->line_fd = sp[0];
	return 0;
}

/* ---- Firecracker ---- */

/* The agent as pyro-init starts it in a Firecracker guest: on AF_VSOCK,
 * which Firecracker bridges to the hybrid UNIX socket agent.sock. */
#define FC_AGENT_ARG "--vsock,5005"
#define FC_GUEST_CID 3

static void net_config_of(const struct vm_record *r, struct net_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->tap_name, sizeof c->tap_name, "%s", r->net.tap_name);
	snprintf(c->guest_ip, sizeof c->guest_ip, "%s", r->net.guest_ip);
	snprintf(c->gateway_ip, sizeof c->gateway_ip, "%s", r->net.gateway_ip);
	snprintf(c->subnet_cidr, sizeof c->subnet_cidr, "%s", r->net.subnet_cidr);
	snprintf(c->mac_address, sizeof c->mac_address, "%s", r->net.mac_address);
	for (int i = 0; i < r->net.dns_count && i < NETPLAN_MAX_DNS; i++)
		snprintf(c->dns_servers[i], sizeof c->dns_servers[i], "%s", r->net.dns[i]);
	c->dns_count = r->net.dns_count;
	c->slot = (unsigned)r->net.slot;
}

static int tap_commands(const struct vm_record *r, bool setup, struct netplan_cmds *cmds,
			struct pyro_err *err)
{
	struct net_config c;
	net_config_of(r, &c);
	struct netplan_opts o = { .vm_id = r->vm_id, .sudo = geteuid() != 0,
				  .set_tap_owner = geteuid() != 0, .tap_owner_uid = getuid() };
	if (netplan_find_firewall(NULL, &o.firewall, err) < 0)
		return -1;
	return setup ? netplan_setup_commands(&c, &o, cmds, err)
		     : netplan_teardown_commands(&c, &o, cmds, err);
}

static int launch_firecracker(const struct vm_record *r, const char *initrd,
			      struct vm_launch *out, struct pyro_err *err)
{
	char fc[PATH_MAX], rootfs[PATH_MAX], config[PATH_MAX], log[PATH_MAX], sock[PATH_MAX];
	if (!hostprobe_find_exe("firecracker", "PYRO_FIRECRACKER", fc, sizeof fc))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "firecracker is not installed (put it on PATH or set "
				    "PYRO_FIRECRACKER to its path)");
	if (vm_path(r, "rootfs.ext4", rootfs, sizeof rootfs, err) < 0 ||
	    vm_path(r, "firecracker.json", config, sizeof config, err) < 0 ||
	    vm_path(r, "firecracker.log", log, sizeof log, err) < 0 ||
	    vm_path(r, "agent.sock", sock, sizeof sock, err) < 0)
		return -1;
	/* Firecracker writes to the root image: each VM boots its own copy
	 * (a reflink where the file system can, else a sparse copy). */
	struct stat st;
	if (stat(rootfs, &st) < 0 && vmdisk_clone(r->rootfs_image, rootfs, NULL, err) < 0)
		return -1;
	char keystore[1024], boot_args[2048];
	const char *keys[12];
	if (vmlaunch_cmdline_keys(r, FC_AGENT_ARG, keystore, sizeof keystore, keys, 12, err) < 0)
		return -1;
	/* Firecracker's own recommended base line (no PCI, i8042 off, the
	 * console on ttyS0), then pyro's keys. */
	size_t used = (size_t)snprintf(boot_args, sizeof boot_args,
				       "console=ttyS0 reboot=k panic=1 pci=off i8042.noaux "
				       "i8042.nomux i8042.dumbkbd quiet root=/dev/vda rw");
	for (size_t i = 0; keys[i] && used < sizeof boot_args; i++)
		used += (size_t)snprintf(boot_args + used, sizeof boot_args - used, " %s", keys[i]);
	if (used >= sizeof boot_args)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the kernel command line does not fit");
	struct fc_plan plan = {
		.kernel = r->kernel_image,
		.initrd = initrd,
		.rootfs = rootfs,
		.vcpus = (unsigned)r->vcpu_count,
		.mem_mib = (unsigned)r->mem_mib,
		.boot_args = boot_args,
		.vsock_uds_path = sock,
		.guest_cid = FC_GUEST_CID,
		.tap_name = r->net.enabled ? r->net.tap_name : NULL,
		.guest_mac = r->net.enabled ? r->net.mac_address : NULL,
	};
	if (fcconfig_write(&plan, config, err) < 0)
		return -1;
	int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (lfd < 0)
		return pyro_err_sys(err, errno, "creating %s", log);
	close(lfd);
	unlink(sock); /* Firecracker refuses to start on a stale socket */
	if (r->net.enabled) {
		static struct netplan_cmds setup, teardown; /* ~6 KB each */
		if (tap_commands(r, true, &setup, err) < 0 || tap_commands(r, false, &teardown, err) < 0 ||
		    netplan_run(&setup, &teardown, NULL, err) < 0)
			return -1;
	}
	const char *argv[10];
	if (fcconfig_argv(fc, config, log, argv, 10) < 0)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "the firecracker argv does not fit");
	/* Firecracker prints the guest's serial console on its stdout. */
	return spawn_vmm(r, (char *const *)argv, "console.log", -1, &out->vmm_pid, err);
}

int vmlaunch_start(const struct vm_record *r, const char *initrd, struct vm_launch *out,
		   struct pyro_err *err)
{
	out->vmm_pid = 0;
	out->line_fd = -1;
	if (strcmp(r->backend, "qemu") == 0)
		return launch_qemu(r, initrd, out, err);
	if (strcmp(r->backend, "firecracker") == 0)
		return launch_firecracker(r, initrd, out, err);
	return pyro_err_set(err, PYRO_EXIT_USAGE, "backend '%s' has no VMM to launch", r->backend);
}

int vmlaunch_wait_ready(const struct vm_record *r, pid_t vmm_pid, const int *watch, int nwatch,
			int timeout_ms, struct pyro_err *err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char sock[PATH_MAX];
	if (vm_path(r, "agent.sock", sock, sizeof sock, err) < 0)
		return -1;
	struct agent_target t = { .uds_path = sock, .hybrid_connect = true,
				  .port = VM_AGENT_PORT, .timeout_ms = 2000 };
	/* Firecracker's vsock gives no event when the guest starts listening:
	 * a CONNECT is refused (the connection closed) until the agent is up.
	 * Ask again, a little less often each time, until it answers or the
	 * VMM dies; the starter's boot deadline bounds the whole wait. */
	unsigned pause_ms = 5;
	for (;;) {
		struct json_doc *doc = json_doc_new();
		struct json_value *resp;
		int rc = doc ? agentclient_hello(&t, doc, &resp, err) : -1;
		json_doc_free(doc);
		if (rc == 0)
			return 0;
		siginfo_t si = { 0 };
		/* Peek (WNOWAIT): the supervisor's main loop reaps it. */
		if (waitid(P_PID, (id_t)vmm_pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == vmm_pid) {
			char said[400], log[300];
			vmsup_log_tail(r, "console.log", 4, said, sizeof said);
			vmsup_log_tail(r, "firecracker.log", 3, log, sizeof log);
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "firecracker exited before the guest agent answered%s%s%s%s",
					    *said ? "; it said: " : "", said,
					    *log ? "; firecracker.log: " : "", log);
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long waited = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (waited >= timeout_ms)
			return pyro_err_set(err, PYRO_EXIT_TIMEOUT,
					    "the guest agent did not answer through the vsock socket "
					    "within %d s",
					    timeout_ms / 1000);
		/* Wait the pause, but wake for a signal or the owner's death. */
		struct pollfd p[4];
		int n = 0;
		for (int i = 0; i < nwatch && n < 4; i++)
			if (watch[i] >= 0)
				p[n++] = (struct pollfd){ watch[i], POLLIN, 0 };
		if (poll(p, (nfds_t)n, (int)pause_ms) > 0)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "stopped while waiting for the guest agent");
		if (pause_ms < 100)
			pause_ms *= 2;
	}
}

void vmlaunch_cleanup(const struct vm_record *r, struct vm_launch *l)
{
	if (l->line_fd >= 0)
		close(l->line_fd);
	l->line_fd = -1;
	char path[PATH_MAX];
	if (vm_path(r, "agent.sock", path, sizeof path, NULL) == 0)
		unlink(path);
	if (strcmp(r->backend, "firecracker") == 0 && r->net.enabled && r->net.tap_name[0]) {
		static struct netplan_cmds teardown;
		struct pyro_err e = { 0 };
		if (tap_commands(r, false, &teardown, &e) < 0 || netplan_run_teardown(&teardown, NULL, &e) < 0)
			fprintf(stderr, "pyro-vmm: vm %s: removing its network: %s\n", r->vm_id, e.msg);
	}
}
