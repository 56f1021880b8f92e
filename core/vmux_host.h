/* The host end of a vmux line (docs/vmux.md): owns the line to the guest
 * (in production the UNIX socket QEMU's virtio-serial chardev listens on),
 * starts a session with a fresh nonce, and serves a UNIX socket where each
 * client does Firecracker's hybrid-vsock handshake, "CONNECT <port>\n"
 * answered by "OK <stream id>\n" once the guest accepted, and then has a
 * full-duplex stream to that guest port. core/agentclient.h works
 * unchanged against it (hybrid_connect).
 *
 * Clients that connect before the session is up wait for it (their CONNECT
 * line is held). A refused port, a reset from the guest, or the line's loss
 * closes the client's socket (EOF or ECONNRESET there). When the line is
 * lost (EOF, a write error, a framing error, keepalives unanswered) every
 * client is dropped and the call returns -1: the caller reconnects to the
 * chardev and calls again, which starts a new session with a new nonce.
 *
 * The socket is created mode 0600 (bound under a temporary name and renamed
 * into place, so a client that sees the path can connect) and removed on
 * return; put it in a 0700 per-VM directory. The line fd is borrowed. */
#ifndef PYRO_VMUX_HOST_H
#define PYRO_VMUX_HOST_H

#include "err.h"
#include "vmux_link.h"

struct vmux_host_opts {
	int stop_fd;                 /* readable (or hung up): return 0; -1: none */
	unsigned hello_retry_ms;     /* 0: 1000 */
	unsigned keepalive_ms;       /* 0: no keepalive */
	unsigned connect_timeout_ms; /* CONNECT line + waiting for the session; 0: 10000 */
	struct vmux_link_stats *stats; /* filled on return when not NULL */
	/* Called (on the serving thread) each time a session with the guest
	 * comes up, i.e. the guest end answered the HELLO: the agent is
	 * running. The VM supervisor reports readiness from here. */
	void (*session_up)(void *ctx);
	void *session_ctx;
};

/* opts may be NULL (no stop fd, defaults). 0 when stopped through stop_fd;
 * -1 with err when the line was lost or the socket could not be made. */
int vmux_host_serve(int line_fd, const char *unix_socket_path,
		    const struct vmux_host_opts *opts, struct pyro_err *err);

#endif
