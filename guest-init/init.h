/* pyro-init: PID 1 of every pyro guest.
 *
 * The kernel starts the pyro binary as /init from the initramfs the host
 * writes (it holds nothing else). pyro-init then:
 *
 *   1. mounts /proc, /sys and /dev (devtmpfs) and makes sure fds 0-2 are the
 *      console (an initramfs without /dev/console starts init with them
 *      closed);
 *   2. reads /proc/cmdline (init_cmdline_parse);
 *   3. when it is running from the initramfs and root= names a disk: waits
 *      for the device, mounts it on /newroot, mounts a tmpfs on
 *      /newroot/run, copies itself to /newroot/run/pyro/bin/pyro, moves
 *      /dev, /proc and /sys over, deletes the initramfs files, switches root
 *      and re-executes itself from the copy as "pyro-init --switched-root"
 *      (init_plan_build + init_plan_run);
 *   4. in the final root: mounts what is missing (devpts, /dev/shm, /run,
 *      /tmp), sets the hostname, brings up lo and, with pyro.guest_ip, eth0
 *      with its address and default route over rtnetlink, writes
 *      /etc/resolv.conf from pyro.dns;
 *   5. starts the agent (the same binary as "pyro-guest-agent"), restarts it
 *      with back-off when it dies, reaps every zombie, and on SIGTERM,
 *      SIGINT (ctrl-alt-del), SIGPWR or SIGUSR2 stops the agent, kills what
 *      is left, syncs and ends the VM.
 *
 * From the moment it is PID 1 it must not exit (the kernel panics): every
 * failure is a "pyro-init: ..." line on the console and the work goes on.
 * The exception is a root file system that cannot be mounted: then the VM is
 * useless, so it says why and ends the VM at once instead of letting the host
 * wait for an agent that will never answer.
 *
 * The deciding logic is pure and unit-tested without privileges (command
 * line parsing, the mount plan, netlink message bytes, resolv.conf text, the
 * restart back-off); the side-effecting parts (init_plan_run, init_net_up,
 * the supervision loop) are thin.
 *
 * Kernel command line keys (everything else is ignored; parsing stops at
 * "--", as the kernel's does):
 *
 *   root=/dev/vda          root device (a /dev path); absent: stay in the
 *                          initramfs (or in whatever root we were started in)
 *   rootfstype=ext4[,xfs]  file system type(s) to try; absent: every
 *                          block file system in /proc/filesystems
 *   rootflags=OPTS         mount data for the root (e.g. "errors=remount-ro")
 *   ro / rw                root read-only (the kernel's default) or writable
 *   pyro.root_wait=SECS    how long to wait for the root device (default 10)
 *   pyro.hostname=NAME     host name (default "pyro")
 *   pyro.guest_ip=A.B.C.D[/N]  eth0 address; absent: only lo comes up
 *   pyro.netmask=N|A.B.C.D prefix length or contiguous dotted mask; absent
 *                          (and no /N on guest_ip): /32, the gateway is then
 *                          reached on-link
 *   pyro.gateway_ip=A.B.C.D default route via this gateway on eth0
 *   pyro.dns=A,B,C         name servers (IPv4 or IPv6, at most 3)
 *   pyro.agent=ARG,ARG     extra arguments of the agent, comma-separated
 *   pyro.stop_grace=SECS   how long the agent gets to exit at shutdown
 *                          (default 10, then everything is SIGKILLed)
 *   pyro.halt=reboot|poweroff  how the VM is ended (default reboot: see
 *                          init_supervise.c for why)
 */
#ifndef PYRO_GUEST_INIT_H
#define PYRO_GUEST_INIT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

/* The applet entry point (row "pyro-init" in applets/applets.def). */
int pyro_init_main(int argc, char **argv);

/* ---- kernel command line -------------------------------------------- */

#define INIT_CMDLINE_MAX 4096     /* x86 allows 2048; /proc/cmdline is read whole */
#define INIT_MAX_DNS 3            /* the resolver (musl, glibc) reads no more */
#define INIT_MAX_AGENT_ARGS 16
#define INIT_HOSTNAME_MAX 64
#define INIT_DEFAULT_HOSTNAME "pyro"
#define INIT_DEFAULT_ROOT_WAIT_S 10
#define INIT_DEFAULT_STOP_GRACE_S 10

enum init_halt { INIT_HALT_REBOOT, INIT_HALT_POWEROFF };

/* Everything pyro-init takes from the command line. Plain data (no
 * pointers), so it can be copied freely. Empty strings mean "not given". */
struct init_config {
	char root[128];
	char rootfstype[64];
	char rootflags[256];
	int root_rw;                    /* 0: ro (default), 1: rw */
	unsigned root_wait_s;
	char hostname[INIT_HOSTNAME_MAX + 1];
	int has_ip;                     /* pyro.guest_ip given and valid */
	struct in_addr guest_ip;
	unsigned prefixlen;             /* 1..32; 32 when no mask was given */
	int has_gateway;
	struct in_addr gateway;
	size_t ndns;
	char dns[INIT_MAX_DNS][46];     /* INET6_ADDRSTRLEN, validated text */
	char agent[512];                /* raw pyro.agent value, validated */
	unsigned stop_grace_s;
	enum init_halt halt;
};

void init_config_defaults(struct init_config *cfg);

/* Parse `len` bytes of kernel command line (a trailing newline is fine)
 * into cfg, which is first reset to defaults. Tokens are split as the
 * kernel splits them: whitespace outside double quotes separates, a value
 * that starts with a quote loses it and its closing quote
 * (key="a b" -> "a b"). Unknown keys are ignored.
 *
 * A bad value leaves its field at the default (or unset) and parsing goes
 * on, so one mistake costs one setting, not the boot; the function then
 * returns -1 with PYRO_EXIT_USAGE and a message naming every bad key
 * ("pyro.netmask: '33' is not a prefix length (0-32) or a dotted mask;
 * ..."). cfg is valid either way. */
int init_cmdline_parse(const char *text, size_t len, struct init_config *cfg,
		       struct pyro_err *err);

/* The agent's argv: "pyro-guest-agent" followed by the comma-separated
 * pyro.agent arguments, NULL-terminated. Points into `a`, which the caller
 * owns. */
struct init_agent_argv {
	char buf[512];
	char *argv[INIT_MAX_AGENT_ARGS + 2];
	size_t argc;
};
void init_agent_argv(const struct init_config *cfg, struct init_agent_argv *a);

/* "10.0.0.2/30" style text of the configured eth0 address ("" if none). */
void init_format_addr(struct in_addr ip, unsigned prefixlen, char *out, size_t cap);

/* ---- the mount / root-switch plan ----------------------------------- */

#define INIT_NEWROOT "/newroot"
#define INIT_SELF_DIR "/run/pyro/bin"
#define INIT_SELF_PATH "/run/pyro/bin/pyro"
#define INIT_SWITCHED_FLAG "--switched-root"

enum init_step_kind {
	INIT_STEP_MKDIR,          /* target, mode; parents too; EEXIST/EROFS fine */
	INIT_STEP_MOUNT,          /* source, target, fstype, flags, data */
	INIT_STEP_SYMLINK,        /* source (link text) at target; EEXIST fine */
	INIT_STEP_WAIT_DEVICE,    /* source appears as a block device, timeout_ms */
	INIT_STEP_MOUNT_ROOT,     /* like MOUNT; fstype is a comma list or "" (try all) */
	INIT_STEP_COPY_SELF,      /* /proc/self/exe -> target, mode */
	INIT_STEP_MOVE_MOUNT,     /* MS_MOVE source -> target (detach source if target missing) */
	INIT_STEP_DELETE_INITRAMFS, /* remove the initramfs files, not crossing mounts */
	INIT_STEP_SWITCH_ROOT,    /* chdir target; MS_MOVE target -> /; chroot .; chdir / */
	INIT_STEP_EXEC_SELF,      /* execve target as "pyro-init --switched-root" */
};

struct init_step {
	enum init_step_kind kind;
	const char *source;       /* borrowed: static text or the config's fields */
	const char *target;
	const char *fstype;
	const char *data;
	unsigned long flags;      /* MS_* */
	unsigned mode;
	unsigned timeout_ms;
	int skip_if_mounted;      /* MOUNT: leave an existing mount point alone */
	int fatal;                /* failure ends the plan (and, in a guest, the VM) */
};

#define INIT_PLAN_MAX 40

struct init_plan {
	struct init_step steps[INIT_PLAN_MAX];
	size_t n;
};

/* The few mounts needed before anything else (/proc for the command line
 * and /proc/self/exe, /sys, /dev for the console and the root device). */
void init_plan_early(struct init_plan *plan);

/* The whole plan. in_initramfs: we are PID 1 on the initramfs (rootfs or
 * tmpfs root, or /init is this binary) and have not switched yet. With
 * in_initramfs and cfg->root set it ends in SWITCH_ROOT + EXEC_SELF;
 * otherwise it is the mounts of the final root. The plan borrows strings
 * from cfg, which must outlive it. */
void init_plan_build(const struct init_config *cfg, int in_initramfs, struct init_plan *plan);

/* Execute the plan, logging each failure on the console. Returns 0, or -1
 * when a fatal step failed (err says which). Does not return after a
 * successful EXEC_SELF; after a failed one it returns 0 (the caller then
 * goes on in-process, already in the new root). MOUNT and DELETE_INITRAMFS
 * refuse to act unless pyro-init runs as PID 1 in a guest (see
 * init_mount.c), so a stray call on a host cannot harm it. */
int init_plan_run(const struct init_plan *plan, struct pyro_err *err);

/* One line per step ("mount tmpfs on /run (mode=0755)"), for --dry-run. */
void init_step_describe(const struct init_step *s, char *out, size_t cap);

/* ---- network -------------------------------------------------------- */

/* Each builder writes one complete rtnetlink request (nlmsghdr + payload +
 * attributes, NLM_F_REQUEST|NLM_F_ACK) into buf and stores its length.
 * Fails with PYRO_EXIT_INTERNAL when cap is too small; nothing else. */
int init_nl_link_up(void *buf, size_t cap, uint32_t seq, int ifindex,
		    size_t *len, struct pyro_err *err);
/* RTM_NEWADDR, NLM_F_CREATE|NLM_F_EXCL: IFA_LOCAL and IFA_ADDRESS = ip,
 * IFA_BROADCAST for prefixes up to /30. */
int init_nl_add_addr(void *buf, size_t cap, uint32_t seq, int ifindex, struct in_addr ip,
		     unsigned prefixlen, size_t *len, struct pyro_err *err);
/* RTM_NEWROUTE 0.0.0.0/0 via gw on ifindex in the main table; onlink sets
 * RTNH_F_ONLINK (a gateway outside the interface's subnet). */
int init_nl_add_default_route(void *buf, size_t cap, uint32_t seq, int ifindex,
			      struct in_addr gw, int onlink, size_t *len,
			      struct pyro_err *err);
/* Look for the ack of `seq` in a received datagram. Returns 1 and sets
 * *nl_errno (0 = success, else the positive errno the kernel reported) when
 * found, 0 when the datagram holds no answer to seq, -1 when malformed. */
int init_nl_find_ack(const void *buf, size_t len, uint32_t seq, int *nl_errno,
		     struct pyro_err *err);

/* Whether the gateway lies outside ip/prefixlen (then the route needs
 * RTNH_F_ONLINK). */
int init_gateway_needs_onlink(struct in_addr ip, unsigned prefixlen, struct in_addr gw);

/* resolv.conf for cfg's name servers. Fails only when cap is too small. */
int init_resolv_conf_text(const struct init_config *cfg, char *out, size_t cap,
			  struct pyro_err *err);

/* The index of a network interface, 0 when there is none. */
int init_net_ifindex(const char *name);

/* Bring up lo, and eth0 when cfg->has_ip; write resolv.conf when
 * cfg->ndns. Logs each problem on the console and goes on. */
void init_net_up(const struct init_config *cfg);

/* ---- supervision ---------------------------------------------------- */

#define INIT_BACKOFF_MIN_MS 100u
#define INIT_BACKOFF_MAX_MS 5000u
#define INIT_BACKOFF_RESET_MS 10000 /* an agent up this long starts afresh */

struct init_backoff {
	unsigned next_ms;
};

void init_backoff_reset(struct init_backoff *b);
/* The delay before restarting an agent that stayed up `uptime_ms`:
 * 100 ms, doubling to 5 s; back to 100 ms after a run of 10 s or more. */
unsigned init_backoff_next(struct init_backoff *b, int64_t uptime_ms);

/* Run the agent under supervision until a stop is requested (see
 * init_supervise.c). agent_path is the binary to execute (normally
 * /proc/self/exe). PID 1 mode never returns: it ends the VM. test_mode
 * (not PID 1: --test-not-pid1) kills only the agent's process group at the
 * end and returns 0 instead of ending anything. */
int init_supervise(const struct init_config *cfg, const char *agent_path, int test_mode);

/* sync() and end the VM as cfg->halt says. Never returns. */
__attribute__((noreturn)) void init_end_vm(const struct init_config *cfg);

/* ---- console -------------------------------------------------------- */

/* "pyro-init: <message>\n" on fd 2 (the console) in one write. */
void init_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same with ": strerror(errnum)" appended. */
void init_say_errno(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Where init_say writes (default 2; -1 silences). Returns the old fd. For
 * the unit tests, which capture the messages in a file. */
int init_console_set_fd(int fd);
/* Make fds 0, 1 and 2 valid: any that is closed (the kernel found no
 * /dev/console in the initramfs) becomes /dev/console, else /dev/null. */
void init_console_setup(void);

#endif
