/* The agent wire protocol: how frames travel between the host and the guest
 * agent. Framing only: this layer knows headers and bodies, not actions.
 *
 * FRAMES
 *
 *   frame  = header-line [ body ]
 *   header-line = one JSON object (RFC 8259, UTF-8, parsed strictly by
 *            core/json.h) followed by "\n" (0x0A). JSON strings cannot hold
 *            a raw newline, so the first "\n" always ends the header. JSON
 *            whitespace around the object (" ", "\t", "\r") is allowed, so
 *            "\r\n" works; nothing else may share the line.
 *   body   = exactly `body_size` raw bytes right after the "\n", with no
 *            terminator, when the header's "body_size" is above 0.
 *
 * "body_size" is the header member that announces the body. When absent
 * the body is empty. When present it must be a JSON integer written as one
 * (no fraction, no exponent: 3.0, 1e3, "3" and null are rejected), from 0
 * to the reader's max_body. The original product named this "archive_size"
 * and used it only for archives; pyro uses one generic name for every
 * action (an action may still report archive_size as information, with no
 * framing meaning).
 *
 * Both directions use frames. A request header must have "action": a
 * non-empty string without U+0000. A response header needs no particular
 * member; when it has "error", that must be a string and the response
 * reports a failure. The agent's failure answer is exactly
 * {"error":"<message>"} (agentproto_format_error, agentproto_error_response),
 * as in the original.
 *
 * Frames follow each other back to back on a connection: a connection may
 * carry several requests, each answered (in order) by its response. A
 * client that sends one request and reads one response per connection, as
 * the original did, works unchanged. Normally one request gets one response
 * frame; an action may define a longer answer (for instance a body followed
 * by a status frame), which this layer sees as just more frames.
 *
 * A body's size is announced before its first byte, so a sender that cannot
 * finish a body (the file shrank, a read failed) cannot say so in-band: it
 * must close the connection, and the receiver reports "connection closed
 * after X of Y response body bytes". Senders should know the size first
 * (the original wrote export archives to a temporary file before sending).
 *
 * LIMITS (struct agentproto_limits; a field of 0 means its default)
 *
 *   max_header  default 1 MiB. The header line, not counting its "\n", may
 *               be at most this many bytes. The byte after that, when it is
 *               not "\n", is an error at once: the reader never buffers more
 *               than max_header bytes and never waits for a newline that may
 *               not come. The JSON inside is parsed with nesting depth 64 and
 *               any one string or key at most max_header bytes.
 *   max_body    default 64 GiB, at most INT64_MAX. Bodies are never
 *               buffered by the incremental reader: they are handed to the
 *               caller as they arrive (into a file, say), so the only bound
 *               that matters is this one.
 *
 * ERRORS
 *
 * Every malformed input is an error with a message, never a crash or a
 * hang. Messages, for a request reader ("response" instead of "request" for
 * a response reader; N, X, Y are numbers):
 *
 *   line too long     request header line longer than N bytes
 *   only whitespace   request header line is empty
 *   invalid JSON      request header line: invalid JSON at line 1, column C: ...
 *                     (json_parse's message, prefixed; this covers a bad
 *                     UTF-8 byte, a raw NUL, a duplicate key, anything
 *                     after the object on the line, nesting past 64)
 *   not an object     request header must be a JSON object (got array)
 *   no action         request header has no "action"
 *   action not string request "action" must be a string (got number)
 *   empty action      request "action" must not be empty
 *   NUL in action     request "action" must not contain U+0000
 *   bad error member  response "error" must be a string (got object)
 *   body_size type    request "body_size" must be an integer (got string)
 *   body_size number  request "body_size" must be an integer (got 1.5)
 *   body_size < 0     request "body_size" must not be negative (got -1)
 *   body_size > max   request "body_size" X exceeds the maximum of Y bytes
 *   EOF mid-header    connection closed in the middle of a request header (N bytes received)
 *   EOF mid-body      connection closed after X of Y request body bytes
 *   deadline, idle    timed out waiting for a request
 *   deadline, header  timed out in the middle of a request header (N bytes received)
 *   deadline, body    timed out after X of Y request body bytes
 *   out of memory     out of memory reading a request header
 *                     request header line: out of memory while parsing JSON
 *                     out of memory reading a request (stream read-ahead)
 *   read failed       reading a request: <strerror>
 *   misuse            agentproto_feed: no json_doc for the request header
 *                     agentproto_feed: request data after the end of the stream
 *
 * ("1 byte received" when N is 1.) Numbers that are not int64 integers
 * are shown with "%g" (1.5, 1e+20).
 *
 * Writers and sinks: "writing to the peer (X of Y bytes written): <strerror>",
 * "timed out writing to the peer (X of Y bytes written)", "out of memory
 * encoding a request header", "body longer than N bytes" (the buffer sink's
 * cap), "out of memory buffering a body", "writing a body: <strerror>".
 *
 * Codes (struct pyro_err.code): PYRO_EXIT_USAGE for malformed input,
 * PYRO_EXIT_FAILURE for a connection closed early or an I/O error,
 * PYRO_EXIT_TIMEOUT for a deadline, PYRO_EXIT_INTERNAL for out of memory
 * and API misuse.
 *
 * A framing error is final. The byte stream can no longer be trusted (the
 * next frame boundary is unknown), so the reader keeps returning the same
 * error, and the side that found it answers once if it can (the agent sends
 * {"error": message}, built without allocating by agentproto_format_error)
 * and then closes the connection. A peer that gets such an answer must
 * expect the close.
 *
 * Errors above the framing layer (unknown action, bad arguments, an action
 * that failed) are answered with {"error": ...} too, but the connection
 * stays usable: the frame is already delimited. The agent must still let
 * the request's body stream through the reader (discarding it) before it
 * reads the next request.
 *
 * "Extra bytes": anything on the header line after the object is invalid
 * JSON (above). Bytes after a complete frame are the start of the next
 * frame; at end of stream they are an unfinished header (EOF mid-header),
 * unless there are none (a clean end).
 *
 * OWNERSHIP
 *
 * The caller owns a reader (embed it) and releases it with
 * agentproto_reader_release(); the reader owns only its header-line buffer.
 * Parsed headers live in the json_doc the caller passes to the call that
 * completes them; the reader neither keeps nor frees them. Body bytes
 * reported by a BODY event point into the caller's input. A stream
 * (agentproto_stream) owns its reader and its read-ahead buffer, never its
 * fd. Writers borrow everything.
 *
 * Code: agentproto.c (headers, error answer, reader), agentproto_io.c
 * (writers, sinks, the blocking stream reader).
 *
 * Writing to a socket whose peer has gone raises SIGPIPE; processes that
 * use these writers ignore SIGPIPE (and then get EPIPE, an error here).
 */
#ifndef PYRO_AGENTPROTO_H
#define PYRO_AGENTPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"
#include "json.h"

#define AGENTPROTO_DEFAULT_MAX_HEADER ((size_t)1 << 20)
#define AGENTPROTO_DEFAULT_MAX_BODY ((uint64_t)1 << 36)
#define AGENTPROTO_HEADER_DEPTH 64

enum agentproto_kind {
	AGENTPROTO_REQUEST,  /* headers need "action" */
	AGENTPROTO_RESPONSE, /* "error", when present, is a string */
};

struct agentproto_limits {
	size_t max_header; /* 0: AGENTPROTO_DEFAULT_MAX_HEADER */
	uint64_t max_body; /* 0: AGENTPROTO_DEFAULT_MAX_BODY; capped at INT64_MAX */
};

/* ---- Headers ----------------------------------------------------------- */

/* Check a header object as a reader of `kind` would, and give its body size
 * (0 when absent). lim NULL: the defaults. Messages as in the table above. */
int agentproto_check_header(enum agentproto_kind kind, const struct json_value *header,
			    const struct agentproto_limits *lim, uint64_t *body_size,
			    struct pyro_err *err);

/* Append the header line for `header` with body length `body_size` to out:
 * compact JSON, every member of header in order except "body_size", then
 * "body_size":N when body_size > 0, then "\n". Fails (out unchanged) when
 * the result would not pass agentproto_check_header or is longer than
 * lim->max_header, or on allocation failure. */
int agentproto_encode_header(struct buf *out, enum agentproto_kind kind,
			     const struct json_value *header, uint64_t body_size,
			     const struct agentproto_limits *lim, struct pyro_err *err);

/* The error answer {"error": msg} built in doc; NULL on allocation failure. */
struct json_value *agentproto_error_response(struct json_doc *doc, const char *msg);

/* Room for any error line agentproto_format_error can write for a message
 * of up to PYRO_ERR_MSG_MAX bytes: every byte escaped as \u00XX, plus the
 * frame, plus the NUL. */
#define AGENTPROTO_ERROR_LINE_MAX (6 * PYRO_ERR_MSG_MAX + 32)

/* Write the line {"error":"<msg>"}\n and a NUL into dst[0..cap) without
 * allocating (usable when memory ran out). The message is JSON-escaped;
 * bytes that are not valid UTF-8 become \ufffd. When it does not fit, it is
 * cut at a character boundary so the line is always valid. Returns the
 * line's length without the NUL, or 0 when cap < 16. */
size_t agentproto_format_error(char *dst, size_t cap, const char *msg);

/* The "error" string of a response header, or NULL when it reports none. */
const char *agentproto_response_error(const struct json_value *header);

/* ---- Incremental reader ------------------------------------------------ */

enum agentproto_event_type {
	AGENTPROTO_NEED_MORE,  /* all input consumed (used == len): feed more */
	AGENTPROTO_HEADER,     /* a header is complete: header, action, body_size */
	AGENTPROTO_BODY,       /* body bytes: body[0..body_len), body_len > 0 */
	AGENTPROTO_FRAME_END,  /* the frame's header and whole body are through */
	AGENTPROTO_EOF,        /* the stream ended cleanly between frames */
};

struct agentproto_event {
	enum agentproto_event_type type;
	size_t used;                /* input bytes this call consumed */
	struct json_value *header;  /* HEADER: the object, in the caller's doc */
	const char *action;         /* HEADER of a request: header's "action" */
	uint64_t body_size;         /* HEADER: the body length that follows */
	const unsigned char *body;  /* BODY: points into the caller's input */
	size_t body_len;            /* BODY */
};

/* Fields are private. */
struct agentproto_reader {
	enum agentproto_kind kind;
	int state;
	size_t max_header;
	uint64_t max_body;
	struct buf line;       /* the header line so far, without "\n" */
	uint64_t body_size;
	uint64_t body_done;
	struct pyro_err err;   /* the final error, once state is the error state */
};

void agentproto_reader_init(struct agentproto_reader *r, enum agentproto_kind kind,
			    const struct agentproto_limits *lim);
void agentproto_reader_release(struct agentproto_reader *r);

/* Use from an event loop (the fd non-blocking): on POLLIN, read() into a
 * buffer, then
 *
 *     for (size_t off = 0;;) {
 *         if (agentproto_feed(&r, doc, buf + off, n - off, &ev, &err) < 0)
 *             -> send the error answer, close;
 *         off += ev.used;
 *         if (ev.type == AGENTPROTO_NEED_MORE) break;
 *         HEADER: start the action; BODY: pass the bytes on (or drop them);
 *         FRAME_END: run / answer, new doc for the next frame;
 *     }
 *
 * and on read() == 0 call agentproto_feed_eof until EOF or an error; a
 * deadline timer calls agentproto_reader_timeout. To stop reading while a
 * body's consumer is busy, just leave the rest of the buffer unfed (pause
 * the watch) and feed it later: the reader keeps no input beyond the
 * header line.
 *
 * Consume input and report one event. Call in a loop, advancing data by
 * ev->used, until NEED_MORE (which always means all of the input was
 * used); call again even with no input left after HEADER and BODY, since
 * FRAME_END may be due. Each frame gives HEADER, then BODY events whose
 * lengths add up to body_size, then FRAME_END. A header is parsed into doc
 * (which must not be NULL when a header can complete), so the caller can
 * use a fresh doc per frame. The split of the input into calls never
 * changes the frames, only how the body is cut into BODY events.
 * Returns 0, or -1 with err (and the reader stays failed: every later call
 * fails with the same error; ev->used then tells how far it got). */
int agentproto_feed(struct agentproto_reader *r, struct json_doc *doc, const void *data,
		    size_t len, struct agentproto_event *ev, struct pyro_err *err);

/* The peer closed its side (read returned 0). Gives FRAME_END when one is
 * still due, then EOF; or -1 with "connection closed in the middle of ..."
 * when a frame is unfinished. */
int agentproto_feed_eof(struct agentproto_reader *r, struct agentproto_event *ev,
			struct pyro_err *err);

/* True between frames with no byte of the next one received: a close or a
 * timeout here loses nothing. */
bool agentproto_reader_idle(const struct agentproto_reader *r);

/* True after a header until its FRAME_END has been reported (and once
 * failed, so the caller sees the error): a body may be pending. */
bool agentproto_reader_in_frame(const struct agentproto_reader *r);
/* True once the reader has failed (every later call repeats the error). */
bool agentproto_reader_failed(const struct agentproto_reader *r);

/* A deadline passed (an event-loop timer, say): fail the reader with the
 * "timed out ..." message for where it is, and return -1. */
int agentproto_reader_timeout(struct agentproto_reader *r, struct pyro_err *err);

/* Fail the reader with a caller's error (a body sink failed, ...): the
 * stream position is lost, so this is final too. Returns -1. */
int agentproto_reader_fail(struct agentproto_reader *r, const struct pyro_err *why,
			   struct pyro_err *err);

/* ---- Blocking I/O with deadlines --------------------------------------- */

/* Deadlines are absolute, on the CLOCK_MONOTONIC millisecond clock that
 * evloop_now_ms() also uses; AGENTPROTO_NO_DEADLINE waits forever. */
#define AGENTPROTO_NO_DEADLINE ((int64_t)-1)
/* now + timeout_ms, or AGENTPROTO_NO_DEADLINE when timeout_ms < 0. */
int64_t agentproto_deadline(int timeout_ms);

/* Write all of data to fd: retries short writes and EINTR; on EAGAIN waits
 * for POLLOUT until the deadline. A blocking fd can block in write() past
 * the deadline (the deadline is for non-blocking fds). */
int agentproto_write_all(int fd, const void *data, size_t len, int64_t deadline_ms,
			 struct pyro_err *err);

/* Encode and write one header line announcing body_size; the caller then
 * writes exactly body_size bytes (agentproto_write_all), for streaming. */
int agentproto_write_header(int fd, enum agentproto_kind kind, const struct json_value *header,
			    uint64_t body_size, const struct agentproto_limits *lim,
			    int64_t deadline_ms, struct pyro_err *err);

/* Header and body[0..body_len) together. */
int agentproto_write_frame(int fd, enum agentproto_kind kind, const struct json_value *header,
			   const void *body, size_t body_len, const struct agentproto_limits *lim,
			   int64_t deadline_ms, struct pyro_err *err);

/* Write the error answer {"error": msg} without allocating. */
int agentproto_write_error(int fd, const char *msg, int64_t deadline_ms, struct pyro_err *err);

/* Where a blocking read puts body bytes: 0, or -1 with err. */
typedef int (*agentproto_sink_fn)(void *ctx, const void *data, size_t len, struct pyro_err *err);

/* Sinks: append to a struct buf (ctx; its max caps the body: "body longer
 * than N bytes"), or write all of it to an fd (ctx: int *; a file, so no
 * deadline). */
int agentproto_sink_buf(void *ctx, const void *data, size_t len, struct pyro_err *err);
int agentproto_sink_fd(void *ctx, const void *data, size_t len, struct pyro_err *err);

#define AGENTPROTO_STREAM_CHUNK 65536

/* A blocking frame reader over an fd, for simple clients and tests. It reads
 * ahead up to AGENTPROTO_STREAM_CHUNK bytes, so it must be the fd's only
 * reader; bytes after a frame are kept for the next one. Fields private. */
struct agentproto_stream {
	int fd;
	struct agentproto_reader reader;
	unsigned char *in;  /* read-ahead, allocated on first read */
	size_t in_off, in_len;
	bool at_eof;        /* read() returned 0 */
};

void agentproto_stream_init(struct agentproto_stream *s, int fd, enum agentproto_kind kind,
			    const struct agentproto_limits *lim);
/* Frees the read-ahead; never closes the fd. */
void agentproto_stream_release(struct agentproto_stream *s);

/* Read one whole frame before the deadline: the header into doc (*header,
 * *body_size), the body to sink(sink_ctx, ...) in pieces (sink NULL: the
 * body is read and dropped). Works on blocking and non-blocking fds (it
 * polls before each read). Returns 1 for a frame, 0 when the stream ended
 * cleanly before one began, -1 with err; any error is final, like the
 * reader's (a timeout too). After an error mid-body, *header and
 * *body_size still describe the unfinished frame (in doc). */
int agentproto_stream_read(struct agentproto_stream *s, struct json_doc *doc,
			   struct json_value **header, uint64_t *body_size, agentproto_sink_fn sink,
			   void *sink_ctx, int64_t deadline_ms, struct pyro_err *err);

/* Pull-style reading, for a consumer that wants the body on its own terms
 * (an archive library's read callback, say).
 *
 * agentproto_stream_header: read up to the next frame's header: 1 with
 * *header (in doc) and *body_size, 0 when the stream ended cleanly first,
 * -1 with err (final). Whatever was left unread of the previous frame's body
 * is read and dropped first, so a handler that gave up on a body never
 * desynchronises the stream.
 *
 * agentproto_stream_body: copy up to cap bytes of the current frame's body
 * into dst: the count (> 0), 0 once the body is through (the frame has
 * ended), -1 with err (final). */
int agentproto_stream_header(struct agentproto_stream *s, struct json_doc *doc,
			     struct json_value **header, uint64_t *body_size, int64_t deadline_ms,
			     struct pyro_err *err);
ssize_t agentproto_stream_body(struct agentproto_stream *s, void *dst, size_t cap,
			       int64_t deadline_ms, struct pyro_err *err);

#endif
