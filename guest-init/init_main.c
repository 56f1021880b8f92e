/* pyro-init's entry point: options, the boot sequence, and --dry-run.
 *
 *   pyro-init                      PID 1 of a guest (the kernel runs it)
 *   pyro-init --switched-root      the same, re-executed after the switch
 *   pyro-init --dry-run [--cmdline TEXT]
 *                                  print what a boot would do; changes nothing
 *   pyro-init --test-not-pid1 [--cmdline TEXT] [--test-agent PATH]
 *                                  tests only: supervise the agent without
 *                                  being PID 1 (no mounts, no network, no
 *                                  reboot; kills only the agent's group)
 *
 * Run as anything but PID 1 without a test option it refuses (exit 2):
 * mounting and rebooting are not for a host. */
#include "init.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "../core/exitcodes.h"

#ifndef PYRO_VERSION
#define PYRO_VERSION "0.0.0"
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

struct options {
	int dry_run, test_not_pid1, switched;
	const char *cmdline;      /* NULL: read /proc/cmdline */
	const char *test_agent;   /* NULL: this binary */
	const char *unknown;      /* the first argument not understood */
};

static const char usage_text[] =
	"usage: pyro-init                 (as PID 1 of a guest, started by the kernel)\n"
	"       pyro-init --dry-run [--cmdline TEXT]\n"
	"       pyro-init --test-not-pid1 [--cmdline TEXT] [--test-agent PATH]\n";

static int usage(const char *why)
{
	fprintf(stderr, "pyro-init: %s\n%s", why, usage_text);
	return PYRO_EXIT_USAGE;
}

/* Unknown arguments are counted, not fatal here: the kernel hands init
 * every boot word it does not know ("single", "nomodeset", ...), and PID 1
 * must not stop over them. */
static void parse_options(int argc, char **argv, struct options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--dry-run") == 0)
			o->dry_run = 1;
		else if (strcmp(a, "--test-not-pid1") == 0)
			o->test_not_pid1 = 1;
		else if (strcmp(a, INIT_SWITCHED_FLAG) == 0)
			o->switched = 1;
		else if (strcmp(a, "--cmdline") == 0 && i + 1 < argc)
			o->cmdline = argv[++i];
		else if (strcmp(a, "--test-agent") == 0 && i + 1 < argc)
			o->test_agent = argv[++i];
		else if (!o->unknown)
			o->unknown = a;
	}
}

/* /proc/cmdline, or "" when it cannot be read (then the defaults apply). */
static void read_cmdline(char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		init_say_errno(errno, "cannot read /proc/cmdline; using the defaults");
		return;
	}
	while (used + 1 < cap) {
		ssize_t n = read(fd, out + used, cap - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	out[used] = '\0';
	close(fd);
}

/* Running from the initramfs: the kernel's rootfs (ramfs, or tmpfs) is
 * "/", or /init is this very binary. */
static int in_initramfs(void)
{
	struct statfs sfs;
	if (statfs("/", &sfs) == 0 &&
	    ((unsigned long)sfs.f_type == RAMFS_MAGIC || (unsigned long)sfs.f_type == TMPFS_MAGIC))
		return 1;
	struct stat init_st, self_st;
	return stat("/init", &init_st) == 0 && stat("/proc/self/exe", &self_st) == 0 &&
	       init_st.st_dev == self_st.st_dev && init_st.st_ino == self_st.st_ino;
}

static void load_config(const struct options *o, struct init_config *cfg, struct pyro_err *err,
			int *bad)
{
	char text[INIT_CMDLINE_MAX + 1];
	if (o->cmdline)
		snprintf(text, sizeof text, "%s", o->cmdline);
	else
		read_cmdline(text, sizeof text);
	*bad = init_cmdline_parse(text, strlen(text), cfg, err) < 0;
}

static void print_plan(const char *title, const struct init_plan *plan)
{
	char line[512];
	printf("%s:\n", title);
	for (size_t i = 0; i < plan->n; i++) {
		init_step_describe(&plan->steps[i], line, sizeof line);
		printf("  %2zu. %s\n", i + 1, line);
	}
}

static int dry_run(const struct options *o)
{
	struct init_config cfg;
	struct pyro_err err;
	int bad;
	load_config(o, &cfg, &err, &bad);
	if (bad)
		fprintf(stderr, "pyro-init: kernel command line: %s\n", err.msg);

	if (cfg.root[0])
		printf("root: %s (type %s, %s, data %s, wait up to %u s)\n", cfg.root,
		       cfg.rootfstype[0] ? cfg.rootfstype : "any", cfg.root_rw ? "rw" : "ro",
		       cfg.rootflags[0] ? cfg.rootflags : "-", cfg.root_wait_s);
	else
		printf("root: none given (stay in the root pyro-init starts in)\n");
	printf("hostname: %s\n", cfg.hostname);
	if (cfg.has_ip) {
		char addr[40], gw[INET_ADDRSTRLEN] = "";
		init_format_addr(cfg.guest_ip, cfg.prefixlen, addr, sizeof addr);
		if (cfg.has_gateway)
			inet_ntop(AF_INET, &cfg.gateway, gw, sizeof gw);
		printf("network: lo, eth0 %s%s%s%s\n", addr, gw[0] ? " via " : ", no default route",
		       gw, cfg.has_gateway && init_gateway_needs_onlink(cfg.guest_ip, cfg.prefixlen, cfg.gateway)
			       ? " (on-link)" : "");
	} else {
		printf("network: lo only\n");
	}
	if (cfg.ndns) {
		char text[512];
		if (init_resolv_conf_text(&cfg, text, sizeof text, &err) == 0)
			printf("resolv.conf:\n%s", text);
	} else {
		printf("resolv.conf: not written\n");
	}
	struct init_agent_argv a;
	init_agent_argv(&cfg, &a);
	printf("agent:");
	for (size_t i = 0; i < a.argc; i++)
		printf(" %s", a.argv[i]);
	printf("\nstop grace: %u s\nend of the VM: %s\n", cfg.stop_grace_s,
	       cfg.halt == INIT_HALT_POWEROFF ? "poweroff" : "reboot");

	struct init_plan plan;
	if (cfg.root[0]) {
		init_plan_build(&cfg, 1, &plan);
		print_plan("plan in the initramfs", &plan);
	}
	init_plan_build(&cfg, 0, &plan);
	print_plan("plan in the final root", &plan);
	return bad ? PYRO_EXIT_USAGE : PYRO_EXIT_OK;
}

/* Supervision only, for tests on a host: an orphaned grandchild comes to
 * us as subreaper, as it would to PID 1. */
static int test_run(const struct options *o)
{
	struct init_config cfg;
	struct pyro_err err;
	int bad;
	load_config(o, &cfg, &err, &bad);
	if (bad)
		init_say("kernel command line: %s", err.msg);
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	return init_supervise(&cfg, o->test_agent ? o->test_agent : "/proc/self/exe", 1);
}

/* The guest boot. From here on nothing may exit. */
static int boot(const struct options *o)
{
	struct init_config cfg;
	struct init_plan plan;
	struct pyro_err err;
	int bad;

	umask(022);
	/* /proc, /sys and /dev first: the console, the command line and the
	 * root device all live there. Run twice: when the kernel found no
	 * /dev/console, fds 0-2 are closed and the first run's complaints are
	 * lost; the second run skips what got mounted and repeats the rest
	 * with the console in place. */
	init_plan_early(&plan);
	init_plan_run(&plan, &err);
	init_console_setup();
	init_plan_run(&plan, &err);
	if (o->switched)
		init_say("running in the new root");
	else
		init_say("pyro %s starting", PYRO_VERSION);
	if (o->unknown)
		init_say("ignoring the argument '%s' (and any other unknown ones)", o->unknown);

	load_config(o, &cfg, &err, &bad);
	if (bad)
		init_say("kernel command line: %s", err.msg);

	int switching = !o->switched && in_initramfs() && cfg.root[0];
	if (!o->switched && !cfg.root[0] && in_initramfs())
		init_say("no root= on the kernel command line: staying in the initramfs");
	init_plan_build(&cfg, switching, &plan);
	if (init_plan_run(&plan, &err) < 0) {
		init_say("%s", err.msg);
		init_say("cannot go on without the root file system");
		init_end_vm(&cfg);
	}
	if (switching) {
		/* The re-exec failed (the plan said so); we are in the new root
		 * already, so do its mounts in this process. */
		init_plan_build(&cfg, 0, &plan);
		init_plan_run(&plan, &err);
	}

	/* ctrl-alt-del becomes SIGINT to us (a clean stop) instead of an
	 * immediate reboot. */
	if (reboot(RB_DISABLE_CAD) < 0)
		init_say_errno(errno, "cannot take over ctrl-alt-del");
	if (sethostname(cfg.hostname, strlen(cfg.hostname)) < 0)
		init_say_errno(errno, "cannot set the host name to %s", cfg.hostname);
	init_net_up(&cfg);
	return init_supervise(&cfg, "/proc/self/exe", 0);
}

static int run(int argc, char **argv)
{
	struct options o = { 0 };
	parse_options(argc, argv, &o);
	if (o.dry_run || o.test_not_pid1) {
		if (o.unknown)
			return usage("unknown or incomplete option");
		return o.dry_run ? dry_run(&o) : test_run(&o);
	}
	if (getpid() != 1) {
		if (o.unknown && (!strcmp(o.unknown, "--help") || !strcmp(o.unknown, "-h"))) {
			fputs("pyro-init: PID 1 of every pyro guest (see docs/guest-init.md)\n", stdout);
			fputs(usage_text, stdout);
			return 0;
		}
		if (o.unknown)
			return usage("unknown or incomplete option");
		fprintf(stderr, "pyro-init: refusing to run as process %d: pyro-init is PID 1 of a pyro "
			"guest and is started by the guest kernel. To see what it would do, run "
			"'pyro-init --dry-run --cmdline \"...\"'.\n", (int)getpid());
		return PYRO_EXIT_USAGE;
	}
	/* The real boot reads only /proc/cmdline, before and after the
	 * switch alike. */
	o.cmdline = NULL;
	return boot(&o);
}

int pyro_init_main(int argc, char **argv)
{
	int rc = run(argc, argv);
	/* The last line of defence: an exiting PID 1 panics the kernel (a
	 * --dry-run placed after "--" on the kernel command line would do
	 * it), so end the VM in order instead. */
	if (getpid() == 1) {
		struct init_config cfg;
		fflush(NULL);
		init_config_defaults(&cfg);
		init_say("pyro-init must not exit as PID 1 (status %d)", rc);
		init_end_vm(&cfg);
	}
	return rc;
}
