/* Starting one VMM for the supervisor (vmsup.h): everything that differs
 * between QEMU and Firecracker, behind three calls.
 *
 * QEMU: `qemu-system-x86_64 -M microvm` (qemu_args.h) with the agent line
 * on a socketpair (the supervisor keeps the other end and multiplexes it
 * with vmux), the root image behind a throw-away overlay (snapshot=on, the
 * environment's image is never written), KVM or, when the record says so,
 * TCG with the host's TSC frequency. Console to console.log, QEMU's own
 * messages to qemu.log.
 *
 * Firecracker: a config file (fcconfig.h) and `--no-api`; the guest's
 * vsock is Firecracker's hybrid UNIX socket at agent.sock, which already
 * speaks "CONNECT <port>", so there is no line to hold; readiness is the
 * agent answering hello through it.
 */
#ifndef PYRO_VMLAUNCH_H
#define PYRO_VMLAUNCH_H

#include <sys/types.h>

#include "err.h"
#include "vmrecord.h"

struct vm_launch {
	pid_t vmm_pid;
	int line_fd;   /* the supervisor's end of the agent line; -1 (Firecracker) */
};

/* Start the VMM for r as a child of the calling process. */
int vmlaunch_start(const struct vm_record *r, const char *initrd, struct vm_launch *out,
		   struct pyro_err *err);

/* For backends without a line (Firecracker): wait until the agent answers
 * hello on agent.sock. Gives up when the VMM dies, when one of the
 * `watch` fds (the supervisor's signalfd, its owner's pidfd) becomes
 * readable, so the caller can act on it, or after timeout_ms. */
int vmlaunch_wait_ready(const struct vm_record *r, pid_t vmm_pid, const int *watch, int nwatch,
			int timeout_ms, struct pyro_err *err);

/* Undo what start set up besides the process (the line, sockets, TAP). */
void vmlaunch_cleanup(const struct vm_record *r, struct vm_launch *l);

/* The host's TSC kHz for TCG guests, measured once per host boot and kept
 * in the cache dir (qemu_host_tsc_khz takes 50 ms to measure). */
int vmlaunch_tsc_khz(unsigned long *khz, struct pyro_err *err);

/* The kernel command line keys pyro adds for r (agent, halt, network). */
int vmlaunch_cmdline_keys(const struct vm_record *r, const char *agent_arg, char *store,
			  size_t cap, const char **keys, size_t max_keys, struct pyro_err *err);

#endif
