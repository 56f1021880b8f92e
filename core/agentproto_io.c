/* The agent wire protocol over file descriptors: writers with deadlines,
 * body sinks and the blocking frame reader. The contract is in
 * agentproto.h; the framing itself is agentproto.c. */
#include "agentproto.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exitcodes.h"
#include "fault.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t agentproto_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? AGENTPROTO_NO_DEADLINE : now_ms() + timeout_ms;
}

/* Milliseconds left for poll(): -1 forever, 0 when past. */
static int remaining_ms(int64_t deadline_ms)
{
	if (deadline_ms < 0)
		return -1;
	int64_t left = deadline_ms - now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Wait until fd is ready for events: 1 ready (or hung up / in error, which
 * the next read or write reports), 0 deadline passed, -1 poll failed. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int t = remaining_ms(deadline_ms);
		struct pollfd pfd = { .fd = fd, .events = events };
		int rc = poll(&pfd, 1, t);
		if (rc > 0)
			return 1;
		if (rc == 0) {
			if (remaining_ms(deadline_ms) == 0)
				return 0;
			continue; /* woke a little early */
		}
		if (errno != EINTR)
			return -1;
	}
}

int agentproto_write_all(int fd, const void *data, size_t len, int64_t deadline_ms,
			 struct pyro_err *err)
{
	const char *p = data;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pyro_write(fd, p + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = wait_fd(fd, POLLOUT, deadline_ms);
			if (w == 0)
				return pyro_err_set(err, PYRO_EXIT_TIMEOUT,
						    "timed out writing to the peer (%zu of %zu bytes written)",
						    done, len);
			if (w < 0)
				return pyro_err_sys(err, errno, "waiting to write to the peer");
			continue;
		}
		return pyro_err_sys(err, n < 0 ? errno : EIO,
				    "writing to the peer (%zu of %zu bytes written)", done, len);
	}
	return 0;
}

int agentproto_write_header(int fd, enum agentproto_kind kind, const struct json_value *header,
			    uint64_t body_size, const struct agentproto_limits *lim,
			    int64_t deadline_ms, struct pyro_err *err)
{
	struct buf line = BUF_INIT;
	int rc = agentproto_encode_header(&line, kind, header, body_size, lim, err);
	if (rc == 0)
		rc = agentproto_write_all(fd, line.data, line.len, deadline_ms, err);
	buf_release(&line);
	return rc;
}

int agentproto_write_frame(int fd, enum agentproto_kind kind, const struct json_value *header,
			   const void *body, size_t body_len, const struct agentproto_limits *lim,
			   int64_t deadline_ms, struct pyro_err *err)
{
	if (agentproto_write_header(fd, kind, header, body_len, lim, deadline_ms, err) < 0)
		return -1;
	return agentproto_write_all(fd, body, body_len, deadline_ms, err);
}

int agentproto_write_error(int fd, const char *msg, int64_t deadline_ms, struct pyro_err *err)
{
	char line[AGENTPROTO_ERROR_LINE_MAX];
	size_t n = agentproto_format_error(line, sizeof line, msg);
	return agentproto_write_all(fd, line, n, deadline_ms, err);
}

int agentproto_sink_buf(void *ctx, const void *data, size_t len, struct pyro_err *err)
{
	struct buf *b = ctx;
	if (buf_append(b, data, len) == 0)
		return 0;
	if (errno == EMSGSIZE)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "body longer than %zu bytes", b->max);
	return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory buffering a body");
}

int agentproto_sink_fd(void *ctx, const void *data, size_t len, struct pyro_err *err)
{
	int fd = *(const int *)ctx;
	const char *p = data;
	while (len) {
		ssize_t n = pyro_write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			return pyro_err_sys(err, n < 0 ? errno : EIO, "writing a body");
		}
	}
	return 0;
}

void agentproto_stream_init(struct agentproto_stream *s, int fd, enum agentproto_kind kind,
			    const struct agentproto_limits *lim)
{
	memset(s, 0, sizeof *s);
	s->fd = fd;
	agentproto_reader_init(&s->reader, kind, lim);
}

void agentproto_stream_release(struct agentproto_stream *s)
{
	agentproto_reader_release(&s->reader);
	free(s->in);
	s->in = NULL;
	s->in_off = s->in_len = 0;
}

/* Fail the stream's reader with an error built here. */
static int stream_fail(struct agentproto_stream *s, struct pyro_err *why, struct pyro_err *err)
{
	return agentproto_reader_fail(&s->reader, why, err);
}

/* The stream's next event other than NEED_MORE, feeding at most `cap`
 * buffered bytes per step (a body pull hands out no more than its caller's
 * room) and reading more input as needed. 0, or -1 with err (final). */
static int stream_next(struct agentproto_stream *s, struct json_doc *doc, size_t cap,
		       struct agentproto_event *ev, int64_t deadline_ms, struct pyro_err *err)
{
	const char *w = s->reader.kind == AGENTPROTO_REQUEST ? "request" : "response";
	struct pyro_err why;
	for (;;) {
		size_t avail = s->in_len - s->in_off;
		const unsigned char *p = s->in ? s->in + s->in_off : NULL;
		if (agentproto_feed(&s->reader, doc, p, avail < cap ? avail : cap, ev, err) < 0)
			return -1;
		s->in_off += ev->used;
		if (ev->type != AGENTPROTO_NEED_MORE)
			return 0;
		if (s->in_off < s->in_len)
			continue; /* only the cap stopped it */
		if (s->at_eof)
			return agentproto_feed_eof(&s->reader, ev, err);
		s->in_off = s->in_len = 0;
		if (!s->in) {
			s->in = pyro_malloc(AGENTPROTO_STREAM_CHUNK);
			if (!s->in) {
				pyro_err_set(&why, PYRO_EXIT_INTERNAL, "out of memory reading a %s", w);
				return stream_fail(s, &why, err);
			}
		}
		int ready = wait_fd(s->fd, POLLIN, deadline_ms);
		if (ready == 0)
			return agentproto_reader_timeout(&s->reader, err);
		if (ready < 0) {
			pyro_err_sys(&why, errno, "waiting for a %s", w);
			return stream_fail(s, &why, err);
		}
		ssize_t n = pyro_read(s->fd, s->in, AGENTPROTO_STREAM_CHUNK);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			pyro_err_sys(&why, errno, "reading a %s", w);
			return stream_fail(s, &why, err);
		}
		if (n == 0) {
			s->at_eof = true;
			return agentproto_feed_eof(&s->reader, ev, err);
		}
		s->in_len = (size_t)n;
	}
}

int agentproto_stream_header(struct agentproto_stream *s, struct json_doc *doc,
			     struct json_value **header, uint64_t *body_size, int64_t deadline_ms,
			     struct pyro_err *err)
{
	struct agentproto_event ev;
	*header = NULL;
	*body_size = 0;
	for (;;) {
		if (stream_next(s, doc, SIZE_MAX, &ev, deadline_ms, err) < 0)
			return -1;
		switch (ev.type) {
		case AGENTPROTO_HEADER:
			*header = ev.header;
			*body_size = ev.body_size;
			return 1;
		case AGENTPROTO_EOF:
			return 0;
		default: /* BODY, FRAME_END: the unread rest of the previous frame */
			continue;
		}
	}
}

ssize_t agentproto_stream_body(struct agentproto_stream *s, void *dst, size_t cap,
			       int64_t deadline_ms, struct pyro_err *err)
{
	struct agentproto_event ev;
	if (cap == 0) {
		pyro_err_set(err, PYRO_EXIT_INTERNAL, "agentproto_stream_body: no room to read into");
		return -1;
	}
	if (cap > SSIZE_MAX)
		cap = SSIZE_MAX;
	/* Between frames there is no body: feeding on would start parsing the
	 * next header, and fail the stream for a caller's slip. */
	if (!agentproto_reader_in_frame(&s->reader)) {
		pyro_err_set(err, PYRO_EXIT_INTERNAL,
			     "agentproto_stream_body: called with no frame body pending");
		return -1;
	}
	if (stream_next(s, NULL, cap, &ev, deadline_ms, err) < 0)
		return -1;
	switch (ev.type) {
	case AGENTPROTO_BODY:
		memcpy(dst, ev.body, ev.body_len);
		return (ssize_t)ev.body_len;
	case AGENTPROTO_FRAME_END:
		return 0;
	default:
		pyro_err_set(err, PYRO_EXIT_INTERNAL,
			     "agentproto_stream_body: called with no frame body pending");
		return -1;
	}
}

int agentproto_stream_read(struct agentproto_stream *s, struct json_doc *doc,
			   struct json_value **header, uint64_t *body_size, agentproto_sink_fn sink,
			   void *sink_ctx, int64_t deadline_ms, struct pyro_err *err)
{
	struct json_value *h;
	uint64_t size;
	struct agentproto_event ev;
	struct pyro_err why;
	if (header)
		*header = NULL;
	if (body_size)
		*body_size = 0;
	int got = agentproto_stream_header(s, doc, &h, &size, deadline_ms, err);
	if (got <= 0)
		return got;
	if (header)
		*header = h;
	if (body_size)
		*body_size = size;
	for (;;) {
		if (stream_next(s, NULL, SIZE_MAX, &ev, deadline_ms, err) < 0)
			return -1;
		if (ev.type == AGENTPROTO_FRAME_END)
			return 1;
		if (ev.type == AGENTPROTO_BODY && sink &&
		    sink(sink_ctx, ev.body, ev.body_len, &why) < 0)
			return stream_fail(s, &why, err);
	}
}
