/* The per-VM supervisor: one small pyro process (the `pyro-vmm` applet)
 * for each running VM.
 *
 * Why a process of its own: a VM outlives the command that started it (an
 * MCP server creates it in one tool call and uses it in the next; the CLI
 * may look at it from another process), and with QEMU the guest channel is
 * a single virtio-serial byte stream that someone must hold and multiplex
 * for as long as the VM lives (docs/vmux.md). The supervisor:
 *
 *   - starts the VMM as its child (QEMU dies with it: PR_SET_PDEATHSIG);
 *   - holds the agent line (a socketpair whose other end QEMU got as its
 *     chardev) and serves <vm dir>/agent.sock with Firecracker's
 *     "CONNECT <port>" handshake, so every client speaks one protocol to
 *     every backend (vmux_host.h);
 *   - reports readiness the moment the guest end of the line answers (the
 *     agent is up): event-driven, no sleeps;
 *   - notices the VMM's death at once (SIGCHLD on a signalfd) and records
 *     why in vmm-exit.json, with the tail of the console;
 *   - enforces the TTL: at expires_at the VMM is stopped;
 *   - with an owner (pyro run), deletes the whole VM when the owner dies
 *     however it dies (even SIGKILL), so nothing is left behind.
 *
 * Start-up protocol, on the status fd the starter passed (a pipe), one line
 * each:
 *   "pids SUP_PID SUP_START VMM_PID VMM_START"  once the VMM is running
 *   "ready"                                     the guest agent is up
 *   "error MESSAGE"                              boot failed (then exit)
 * and EOF. The supervisor stops the VM when the starter goes away before
 * "ready" (the pipe's reader closed): nobody would ever use it.
 *
 * Stopping: SIGTERM (or SIGINT/SIGHUP) stops the VMM (SIGTERM, then SIGKILL
 * after a grace) and exits 0 after writing vmm-exit.json. */
#ifndef PYRO_VMSUP_H
#define PYRO_VMSUP_H

#include "err.h"
#include "vmrecord.h"

/* The `pyro-vmm` applet: pyro-vmm --dir DIR --status-fd N --initrd PATH. */
int vmsup_main(int argc, char **argv);

struct vmsup_spawn_opts {
	const char *self_exe;   /* the pyro binary to run as pyro-vmm */
	const char *initrd;     /* the initramfs (initramfs.h) */
	int boot_timeout_ms;    /* spawn to "ready" */
};

/* Start the supervisor for the VM whose record is saved in r->dir and wait
 * until its guest is ready. Fills r->supervisor and r->vmm. On failure the
 * supervisor is gone and err says why: the VMM's own words and the tail of
 * the console when it died during boot; PYRO_EXIT_TIMEOUT when the guest
 * did not come up in time. */
int vmsup_spawn(struct vm_record *r, const struct vmsup_spawn_opts *o, struct pyro_err *err);

/* Stop the VM's supervisor (and so its VMM) and wait up to timeout_ms for
 * it to exit. 0 also when it was already gone. */
int vmsup_stop(const struct vm_record *r, int timeout_ms, struct pyro_err *err);

/* Why the VMM ended, from vm-exit.json ("" when it has not). */
void vmsup_exit_reason(const struct vm_record *r, char *out, size_t cap);

/* The last `max_lines` lines of a log in the VM dir, for error messages,
 * each line trimmed of control characters, joined with " | ". */
void vmsup_log_tail(const struct vm_record *r, const char *name, int max_lines, char *out,
		    size_t cap);

#endif
