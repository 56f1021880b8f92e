/* The vmux engine: one end of a multiplexed line (core/vmux.h), on an event
 * loop. Host and guest share it; `host` picks the role:
 *
 *   host   vmux_link_hello() starts a session (fresh random nonce, VMUX_PAD
 *          zeros + HELLO, then everything is ignored until HELLO_ACK with
 *          that nonce; resent with a new nonce every hello_retry_ms until
 *          answered). vmux_link_open() opens a stream to a guest port for a
 *          local socket; ops.opened says whether the guest took it.
 *   guest  hunts for HELLO; on it, resets every stream and answers VMUX_PAD
 *          zeros + HELLO_ACK. A framing error resets every stream and hunts
 *          again. OPEN asks ops.accept for a local socket.
 *
 * Each stream relays between the line and its local socket with credit flow
 * control (VMUX_WINDOW per direction), so a stream whose reader is slow
 * stalls alone; the line's own send queue is bounded by not reading local
 * sockets while it is above VMUX_LINE_HIGH (control frames always go).
 *
 * Ownership: the caller owns the link struct (allocate it: the decoder is
 * 64 KiB), the loop and the line fd (set non-blocking here, never closed
 * here). The link owns each stream's local fd from the moment it is handed
 * over (ops.accept's result, vmux_link_open's fd) and closes it when the
 * stream ends. Single-threaded, like the loop. */
#ifndef PYRO_VMUX_LINK_H
#define PYRO_VMUX_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "evloop.h"
#include "vmux.h"

#define VMUX_LINE_HIGH (256u * 1024)

struct vmux_link_stats {
	uint64_t sessions;      /* handshakes completed */
	uint64_t discarded;     /* line bytes dropped while hunting */
	uint64_t resets;        /* streams reset (either side) */
	uint64_t bytes_in, bytes_out; /* line bytes */
};

struct vmux_link_ops {
	bool host;
	void *ctx;
	/* guest: a non-blocking local socket for a stream to port, or -1 to
	 * refuse it. */
	int (*accept)(void *ctx, uint32_t port);
	/* host: the guest accepted (ok) or refused the stream. Return -1 to
	 * drop it. On !ok the link closes fd after the call. */
	int (*opened)(void *ctx, uint32_t id, int fd, bool ok);
	/* host: the session came up (why NULL) or was lost (streams already
	 * reset). guest: only losses (framing errors). */
	void (*session)(void *ctx, bool up, const char *why);
	/* The line hit EOF (eof) or an error. Every stream is reset and the
	 * line's watch paused; call vmux_link_resume_line() to read again. */
	void (*line_down)(void *ctx, bool eof, const char *why);
};

struct vmux_stream;

struct vmux_link {
	struct evloop *loop;
	int line;
	struct vmux_link_ops ops;
	struct vmux_decoder dec;
	bool up;
	uint8_t nonce[VMUX_NONCE];
	struct buf q;               /* line send queue: q.data[q_off..q.len) */
	size_t q_off;
	struct vmux_stream *streams;
	uint32_t next_id;
	unsigned hello_retry_ms;    /* host: 0 means 1000 */
	uint64_t hello_timer;
	unsigned keepalive_ms;      /* host: 0 means none */
	uint64_t keepalive_timer;
	bool ping_out;              /* a PING is unanswered */
	bool line_paused;
	struct vmux_link_stats stats;
};

int vmux_link_init(struct vmux_link *l, struct evloop *loop, int line_fd,
		   const struct vmux_link_ops *ops, struct pyro_err *err);
/* Reset every stream, cancel timers, stop watching the line. */
void vmux_link_close(struct vmux_link *l);

/* Host: start (or restart) a session with a new nonce. */
int vmux_link_hello(struct vmux_link *l, struct pyro_err *err);
/* Host: open a stream to port for fd (taken, even on failure). Its relay
 * starts once the guest accepts (ops.opened). The stream id, or 0. */
uint32_t vmux_link_open(struct vmux_link *l, int fd, uint32_t port);

/* Close every stream: their local sockets see EOF/ECONNRESET. */
void vmux_link_reset_all(struct vmux_link *l);
void vmux_link_resume_line(struct vmux_link *l);
size_t vmux_link_nstreams(const struct vmux_link *l);

#endif
