/* The vmux engine: session handshake, stream relay, credit flow control.
 * See vmux_link.h and docs/vmux.md. */
#include "vmux_link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exitcodes.h"
#include "randid.h"

struct vmux_stream {
	uint32_t id;
	int fd;
	bool relaying;    /* host: false until OPEN_OK */
	bool rd_eof;      /* local EOF seen, SHUT sent */
	bool peer_shut;   /* SHUT received */
	bool wr_shut;     /* shutdown(SHUT_WR) done */
	uint32_t credit;  /* DATA bytes we may still send */
	uint32_t unacked; /* bytes delivered locally, not yet credited back */
	struct buf out;   /* from the line, for the local socket */
	size_t out_off;
	struct vmux_stream *next;
};

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- the line's send queue -------------------------------------------- */

static size_t queued(const struct vmux_link *l)
{
	return l->q.len - l->q_off;
}

static void queue(struct vmux_link *l, uint8_t type, uint32_t id, const void *p, uint32_t n)
{
	/* Out of memory loses a frame; the peer then sees a broken stream,
	 * which is the best available. */
	vmux_append(&l->q, type, id, p, n);
}

static void line_events(struct vmux_link *l)
{
	if (l->line_paused)
		return;
	evloop_modify(l->loop, l->line, POLLIN | (queued(l) ? POLLOUT : 0));
}

static void stream_events(struct vmux_link *l, struct vmux_stream *s);
static void line_lost(struct vmux_link *l, bool eof, const char *why);

/* Write what the line takes now; the rest waits for POLLOUT. */
static void flush(struct vmux_link *l)
{
	bool was_high = queued(l) > VMUX_LINE_HIGH;
	while (queued(l) && !l->line_paused) {
		ssize_t n = send(l->line, l->q.data + l->q_off, queued(l), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = write(l->line, l->q.data + l->q_off, queued(l));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			line_lost(l, false, strerror(n < 0 ? errno : EPIPE));
			return;
		}
		l->q_off += (size_t)n;
		l->stats.bytes_out += (uint64_t)n;
	}
	if (l->q_off == l->q.len) {
		buf_reset(&l->q);
		l->q_off = 0;
	} else if (l->q_off > VMUX_LINE_HIGH) {
		buf_consume(&l->q, l->q_off);
		l->q_off = 0;
	}
	line_events(l);
	if (was_high && queued(l) <= VMUX_LINE_HIGH)
		for (struct vmux_stream *s = l->streams; s; s = s->next)
			stream_events(l, s);
}

/* ---- streams ------------------------------------------------------------ */

static struct vmux_stream *find(struct vmux_link *l, uint32_t id)
{
	for (struct vmux_stream *s = l->streams; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void stream_free(struct vmux_link *l, struct vmux_stream *s)
{
	for (struct vmux_stream **p = &l->streams; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	evloop_unwatch(l->loop, s->fd);
	close(s->fd);
	buf_release(&s->out);
	free(s);
}

/* Drop the stream; tell the peer unless it told us. */
static void stream_reset(struct vmux_link *l, struct vmux_stream *s, bool tell, const char *why)
{
	if (tell)
		queue(l, VMUX_RESET, s->id, why, (uint32_t)strnlen(why, VMUX_MAX_REASON));
	l->stats.resets++;
	stream_free(l, s);
}

static void stream_io(struct evloop *loop, int fd, short rev, void *ctx);

static void stream_events(struct vmux_link *l, struct vmux_stream *s)
{
	if (!s->relaying)
		return;
	short ev = 0;
	if (!s->rd_eof && s->credit > 0 && queued(l) <= VMUX_LINE_HIGH)
		ev |= POLLIN;
	if (s->out.len > s->out_off)
		ev |= POLLOUT;
	evloop_modify(l->loop, s->fd, ev);
}

static struct vmux_stream *stream_new(struct vmux_link *l, uint32_t id, int fd, bool relaying)
{
	struct vmux_stream *s = calloc(1, sizeof *s);
	if (!s || evloop_watch(l->loop, fd, 0, stream_io, l, NULL) < 0) {
		free(s);
		close(fd);
		return NULL;
	}
	set_nonblock(fd);
	s->id = id;
	s->fd = fd;
	s->relaying = relaying;
	s->credit = VMUX_WINDOW;
	buf_init(&s->out, 0);
	s->next = l->streams;
	l->streams = s;
	stream_events(l, s);
	return s;
}

/* Both directions are over and everything was delivered: forget it. */
static bool maybe_finish(struct vmux_link *l, struct vmux_stream *s)
{
	if (s->peer_shut && s->out.len == s->out_off && !s->wr_shut) {
		shutdown(s->fd, SHUT_WR);
		s->wr_shut = true;
	}
	if (s->rd_eof && s->wr_shut) {
		stream_free(l, s);
		return true;
	}
	return false;
}

/* Deliver buffered line data to the local socket. -1: the stream is gone. */
static int stream_write(struct vmux_link *l, struct vmux_stream *s)
{
	while (s->out.len > s->out_off) {
		ssize_t n = send(s->fd, s->out.data + s->out_off, s->out.len - s->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			stream_reset(l, s, true, "the local end is gone");
			return -1;
		}
		s->out_off += (size_t)n;
		s->unacked += (uint32_t)n;
	}
	if (s->out_off == s->out.len) {
		buf_reset(&s->out);
		s->out_off = 0;
	}
	/* Credit back in quarters of the window: few frames, and the
	 * sender never waits while a quarter is free. */
	if (s->unacked >= VMUX_WINDOW / 4) {
		uint8_t p[4];
		vmux_put32(p, s->unacked);
		queue(l, VMUX_WINDOW_UPD, s->id, p, 4);
		s->unacked = 0;
	}
	return maybe_finish(l, s) ? -1 : 0;
}

static void stream_read(struct vmux_link *l, struct vmux_stream *s)
{
	uint8_t chunk[VMUX_MAX_PAYLOAD];
	size_t want = s->credit < sizeof chunk ? s->credit : sizeof chunk;
	ssize_t n = read(s->fd, chunk, want);
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n < 0) {
		stream_reset(l, s, true, "the local end failed");
		return;
	}
	if (n == 0) {
		s->rd_eof = true;
		queue(l, VMUX_SHUT, s->id, NULL, 0);
		if (maybe_finish(l, s))
			return;
	} else {
		queue(l, VMUX_DATA, s->id, chunk, (uint32_t)n);
		s->credit -= (uint32_t)n;
	}
	stream_events(l, s);
}

static void stream_io(struct evloop *loop, int fd, short rev, void *ctx)
{
	struct vmux_link *l = ctx;
	struct vmux_stream *s = l->streams;
	while (s && s->fd != fd)
		s = s->next;
	if (!s)
		return;
	if ((rev & POLLOUT) || ((rev & (POLLHUP | POLLERR)) && s->out.len > s->out_off)) {
		if (stream_write(l, s) < 0)
			goto out;
		stream_events(l, s);
	}
	/* POLLHUP without POLLIN: read() tells EOF or the error. */
	if ((rev & (POLLIN | POLLHUP | POLLERR)) && !s->rd_eof && s->credit > 0)
		stream_read(l, s);
out:
	flush(l);
}

void vmux_link_reset_all(struct vmux_link *l)
{
	while (l->streams) {
		l->stats.resets++;
		stream_free(l, l->streams);
	}
}

size_t vmux_link_nstreams(const struct vmux_link *l)
{
	size_t n = 0;
	for (struct vmux_stream *s = l->streams; s; s = s->next)
		n++;
	return n;
}

/* ---- sessions ------------------------------------------------------------ */

/* A new session: whatever was queued for the old one is dropped, even a
 * half-sent frame (the pad before the handshake frame covers that). */
static void drop_queue(struct vmux_link *l)
{
	buf_reset(&l->q);
	l->q_off = 0;
}

static void hello_timer(struct evloop *loop, void *ctx);
static void keepalive_timer(struct evloop *loop, void *ctx);

static void session_lost(struct vmux_link *l, const char *why)
{
	l->up = false;
	vmux_link_reset_all(l);
	evloop_cancel(l->loop, l->keepalive_timer);
	l->keepalive_timer = 0;
	if (l->ops.session)
		l->ops.session(l->ops.ctx, false, why);
}

static void line_lost(struct vmux_link *l, bool eof, const char *why)
{
	l->up = false;
	vmux_link_reset_all(l);
	drop_queue(l);
	evloop_cancel(l->loop, l->hello_timer);
	evloop_cancel(l->loop, l->keepalive_timer);
	l->hello_timer = l->keepalive_timer = 0;
	l->line_paused = true;
	evloop_modify(l->loop, l->line, 0);
	if (!l->ops.host)
		vmux_decoder_init(&l->dec, VMUX_HELLO, NULL);
	if (l->ops.line_down)
		l->ops.line_down(l->ops.ctx, eof, why);
}

int vmux_link_hello(struct vmux_link *l, struct pyro_err *err)
{
	if (randid_bytes(l->nonce, sizeof l->nonce, err) < 0)
		return -1;
	if (l->up)
		session_lost(l, "a new session was started");
	l->up = false;
	drop_queue(l);
	if (vmux_append_handshake(&l->q, VMUX_HELLO, l->nonce) < 0)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	vmux_decoder_hunt(&l->dec, VMUX_HELLO_ACK, l->nonce);
	evloop_cancel(l->loop, l->hello_timer);
	l->hello_timer = evloop_after(l->loop, l->hello_retry_ms ? l->hello_retry_ms : 1000,
				      hello_timer, l, err);
	flush(l);
	return l->hello_timer ? 0 : -1;
}

/* No answer yet (the guest is still booting, or the HELLO was lost while
 * nobody read the port): try again with a fresh nonce. */
static void hello_timer(struct evloop *loop, void *ctx)
{
	struct vmux_link *l = ctx;
	l->hello_timer = 0;
	if (!l->up && !l->line_paused)
		vmux_link_hello(l, NULL);
}

static void keepalive_timer(struct evloop *loop, void *ctx)
{
	struct vmux_link *l = ctx;
	l->keepalive_timer = 0;
	if (!l->up)
		return;
	if (l->ping_out) {
		session_lost(l, "the guest stopped answering keepalives");
		return;
	}
	uint8_t p[8] = { 0 };
	queue(l, VMUX_PING, 0, p, 8);
	l->ping_out = true;
	l->keepalive_timer = evloop_after(loop, l->keepalive_ms, keepalive_timer, l, NULL);
	flush(l);
}

/* Guest: a HELLO starts a new session, whatever state we were in. */
static void guest_hello(struct vmux_link *l, const struct vmux_frame *f)
{
	vmux_link_reset_all(l);
	drop_queue(l);
	memcpy(l->nonce, f->payload, VMUX_NONCE);
	vmux_append_handshake(&l->q, VMUX_HELLO_ACK, l->nonce);
	l->up = true;
	l->stats.sessions++;
}

static void on_open(struct vmux_link *l, const struct vmux_frame *f)
{
	if (find(l, f->stream)) {
		queue(l, VMUX_RESET, f->stream, "stream id in use", 16);
		return;
	}
	int fd = l->ops.accept ? l->ops.accept(l->ops.ctx, vmux_get32(f->payload)) : -1;
	if (fd < 0) {
		queue(l, VMUX_RESET, f->stream, "connection refused", 18);
		return;
	}
	if (stream_new(l, f->stream, fd, true))
		queue(l, VMUX_OPEN_OK, f->stream, NULL, 0);
	else
		queue(l, VMUX_RESET, f->stream, "out of memory", 13);
}

static void on_stream_frame(struct vmux_link *l, const struct vmux_frame *f)
{
	struct vmux_stream *s = find(l, f->stream);
	if (!s)
		return; /* already reset here: late frames are harmless */
	switch (f->type) {
	case VMUX_OPEN_OK:
		if (!l->ops.host || s->relaying)
			break;
		s->relaying = true;
		if (l->ops.opened(l->ops.ctx, s->id, s->fd, true) < 0)
			stream_reset(l, s, true, "the client is gone");
		else
			stream_events(l, s);
		break;
	case VMUX_DATA:
		if (s->peer_shut || !s->relaying ||
		    s->out.len - s->out_off + s->unacked + f->len > VMUX_WINDOW) {
			stream_reset(l, s, true, "data beyond the window");
			break;
		}
		if (buf_append(&s->out, f->payload, f->len) < 0) {
			stream_reset(l, s, true, "out of memory");
			break;
		}
		if (stream_write(l, s) == 0)
			stream_events(l, s);
		break;
	case VMUX_SHUT:
		s->peer_shut = true;
		if (!maybe_finish(l, s))
			stream_events(l, s);
		break;
	case VMUX_RESET:
		if (l->ops.host && !s->relaying)
			l->ops.opened(l->ops.ctx, s->id, s->fd, false);
		stream_reset(l, s, false, "");
		break;
	case VMUX_WINDOW_UPD: {
		uint32_t n = vmux_get32(f->payload);
		if (n > VMUX_WINDOW - s->credit) {
			stream_reset(l, s, true, "credit beyond the window");
			break;
		}
		s->credit += n;
		stream_events(l, s);
		break;
	}
	}
}

static void on_frame(struct vmux_link *l, const struct vmux_frame *f)
{
	switch (f->type) {
	case VMUX_HELLO:
		if (!l->ops.host)
			guest_hello(l, f);
		return;
	case VMUX_HELLO_ACK:
		/* The decoder only syncs on the ACK with our nonce; a repeat
		 * of it later changes nothing. */
		if (l->ops.host && !l->up) {
			l->up = true;
			l->stats.sessions++;
			evloop_cancel(l->loop, l->hello_timer);
			l->hello_timer = 0;
			l->ping_out = false;
			if (l->keepalive_ms)
				l->keepalive_timer = evloop_after(l->loop, l->keepalive_ms,
								  keepalive_timer, l, NULL);
			if (l->ops.session)
				l->ops.session(l->ops.ctx, true, NULL);
		}
		return;
	case VMUX_PING:
		if (!l->ops.host)
			queue(l, VMUX_PONG, 0, f->payload, f->len);
		return;
	case VMUX_PONG:
		l->ping_out = false;
		return;
	case VMUX_OPEN:
		if (!l->ops.host)
			on_open(l, f);
		return;
	default:
		on_stream_frame(l, f);
	}
}

static void line_io(struct evloop *loop, int fd, short rev, void *ctx)
{
	struct vmux_link *l = ctx;
	if (rev & POLLOUT) {
		flush(l);
		if (l->line_paused)
			return;
	}
	if (!(rev & (POLLIN | POLLHUP | POLLERR)))
		return;
	size_t room;
	uint8_t *p = vmux_decoder_space(&l->dec, &room);
	ssize_t n = read(fd, p, room);
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		line_lost(l, n == 0, n == 0 ? "end of stream" : strerror(errno));
		return;
	}
	vmux_decoder_commit(&l->dec, (size_t)n);
	l->stats.bytes_in += (uint64_t)n;
	struct vmux_frame f;
	uint64_t before = l->dec.discarded;
	for (;;) {
		int rc;
		while ((rc = vmux_decoder_next(&l->dec, &f)) > 0) {
			on_frame(l, &f);
			if (l->line_paused)
				return;
		}
		if (rc == 0)
			break;
		/* A broken frame in sync mode: the stream boundaries are lost.
		 * The guest hunts for the next HELLO, starting with the bytes
		 * already buffered (it may be among them). The host's session
		 * is over: its owner decides whether to start another. */
		const char *why = l->dec.why;
		if (l->ops.host) {
			/* Nothing can match: the nonce is spent. */
			vmux_decoder_hunt(&l->dec, 0, NULL);
		} else {
			vmux_decoder_hunt(&l->dec, VMUX_HELLO, NULL);
		}
		session_lost(l, why);
		if (l->ops.host || l->line_paused)
			break;
	}
	l->stats.discarded += l->dec.discarded - before;
	flush(l);
}

void vmux_link_resume_line(struct vmux_link *l)
{
	l->line_paused = false;
	line_events(l);
}

int vmux_link_init(struct vmux_link *l, struct evloop *loop, int line_fd,
		   const struct vmux_link_ops *ops, struct pyro_err *err)
{
	memset(l, 0, sizeof *l);
	l->loop = loop;
	l->line = line_fd;
	l->ops = *ops;
	l->next_id = 1;
	buf_init(&l->q, 0);
	vmux_decoder_init(&l->dec, ops->host ? 0 : VMUX_HELLO, NULL);
	set_nonblock(line_fd);
	return evloop_watch(loop, line_fd, POLLIN, line_io, l, err);
}

void vmux_link_close(struct vmux_link *l)
{
	vmux_link_reset_all(l);
	evloop_cancel(l->loop, l->hello_timer);
	evloop_cancel(l->loop, l->keepalive_timer);
	evloop_unwatch(l->loop, l->line);
	buf_release(&l->q);
}

uint32_t vmux_link_open(struct vmux_link *l, int fd, uint32_t port)
{
	if (!l->up) {
		close(fd);
		return 0;
	}
	uint32_t id = l->next_id++;
	if (l->next_id == 0)
		l->next_id = 1;
	if (!stream_new(l, id, fd, false))
		return 0;
	uint8_t p[4];
	vmux_put32(p, port);
	queue(l, VMUX_OPEN, id, p, 4);
	flush(l);
	return id;
}
