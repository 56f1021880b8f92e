/* The agent wire protocol: header checks, encoding, error answers and the
 * incremental frame reader. The contract is in agentproto.h; blocking I/O
 * with deadlines is in agentproto_io.c. */
#include "agentproto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"

/* Reader states. ST_END: the frame is through but FRAME_END not yet given. */
enum { ST_HEADER, ST_BODY, ST_END, ST_CLOSED, ST_FAILED };

/* A line buffer that grew past this is freed after its header, so an idle
 * connection does not keep a large header's memory. */
#define LINE_KEEP_CAP 65536

static const char *kind_word(enum agentproto_kind kind)
{
	return kind == AGENTPROTO_REQUEST ? "request" : "response";
}

static size_t limit_header(const struct agentproto_limits *lim)
{
	size_t n = lim && lim->max_header ? lim->max_header : AGENTPROTO_DEFAULT_MAX_HEADER;
	/* Leave room for "\n" and a NUL without overflow anywhere. */
	return n > SIZE_MAX / 4 ? SIZE_MAX / 4 : n;
}

static uint64_t limit_body(const struct agentproto_limits *lim)
{
	uint64_t n = lim && lim->max_body ? lim->max_body : AGENTPROTO_DEFAULT_MAX_BODY;
	return n > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : n;
}

/* ---- Headers ----------------------------------------------------------- */

static bool is_key(const struct json_member *m, const char *key)
{
	size_t n = strlen(key);
	return m->key_len == n && memcmp(m->key, key, n) == 0;
}

/* The members a kind requires, everything but "body_size". */
static int check_members(enum agentproto_kind kind, const struct json_value *header,
			 struct pyro_err *err)
{
	const char *w = kind_word(kind);
	if (!header || header->type != JSON_OBJECT)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "%s header must be a JSON object (got %s)",
				    w, header ? json_type_name(header->type) : "nothing");
	if (kind == AGENTPROTO_REQUEST) {
		const struct json_value *a = json_get(header, "action");
		if (!a)
			return pyro_err_set(err, PYRO_EXIT_USAGE, "%s header has no \"action\"", w);
		if (a->type != JSON_STRING)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "%s \"action\" must be a string (got %s)", w,
					    json_type_name(a->type));
		if (a->u.string.len == 0)
			return pyro_err_set(err, PYRO_EXIT_USAGE, "%s \"action\" must not be empty", w);
		if (memchr(a->u.string.ptr, '\0', a->u.string.len))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "%s \"action\" must not contain U+0000", w);
	} else {
		const struct json_value *e = json_get(header, "error");
		if (e && e->type != JSON_STRING)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "%s \"error\" must be a string (got %s)", w,
					    json_type_name(e->type));
	}
	return 0;
}

static int body_too_big(enum agentproto_kind kind, const char *size, uint64_t max,
			struct pyro_err *err)
{
	return pyro_err_set(err, PYRO_EXIT_USAGE,
			    "%s \"body_size\" %s exceeds the maximum of %" PRIu64 " bytes",
			    kind_word(kind), size, max);
}

int agentproto_check_header(enum agentproto_kind kind, const struct json_value *header,
			    const struct agentproto_limits *lim, uint64_t *body_size,
			    struct pyro_err *err)
{
	const char *w = kind_word(kind);
	uint64_t max = limit_body(lim);
	char num[64];
	if (body_size)
		*body_size = 0;
	if (check_members(kind, header, err) < 0)
		return -1;
	const struct json_value *bs = json_get(header, "body_size");
	if (!bs)
		return 0;
	if (bs->type != JSON_NUMBER)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "%s \"body_size\" must be an integer (got %s)",
				    w, json_type_name(bs->type));
	if (!bs->u.number.is_int) {
		double d = bs->u.number.d;
		snprintf(num, sizeof num, "%g", d);
		if (d < 0)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "%s \"body_size\" must not be negative (got %s)", w, num);
		if (d >= 9223372036854775808.0)
			return body_too_big(kind, num, max, err);
		return pyro_err_set(err, PYRO_EXIT_USAGE, "%s \"body_size\" must be an integer (got %s)",
				    w, num);
	}
	int64_t i = bs->u.number.i;
	if (i < 0)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "%s \"body_size\" must not be negative (got %" PRId64 ")", w, i);
	if ((uint64_t)i > max) {
		snprintf(num, sizeof num, "%" PRId64, i);
		return body_too_big(kind, num, max, err);
	}
	if (body_size)
		*body_size = (uint64_t)i;
	return 0;
}

int agentproto_encode_header(struct buf *out, enum agentproto_kind kind,
			     const struct json_value *header, uint64_t body_size,
			     const struct agentproto_limits *lim, struct pyro_err *err)
{
	const char *w = kind_word(kind);
	size_t start = out->len, max_header = limit_header(lim);
	uint64_t max_body = limit_body(lim);
	if (check_members(kind, header, err) < 0)
		return -1;
	if (body_size > max_body) {
		char num[32];
		snprintf(num, sizeof num, "%" PRIu64, body_size);
		return body_too_big(kind, num, max_body, err);
	}
	bool first = true;
	int rc = buf_append_char(out, '{');
	for (size_t i = 0; rc == 0 && i < header->u.object.len; i++) {
		const struct json_member *m = &header->u.object.members[i];
		if (is_key(m, "body_size"))
			continue;
		if (!first)
			rc = buf_append_char(out, ',');
		first = false;
		if (rc == 0)
			rc = json_emit_string(out, m->key, m->key_len);
		if (rc == 0)
			rc = buf_append_char(out, ':');
		if (rc == 0)
			rc = json_emit(out, m->value, JSON_EMIT_COMPACT);
	}
	if (rc == 0 && body_size > 0)
		rc = buf_printf(out, "%s\"body_size\":%" PRIu64, first ? "" : ",", body_size);
	if (rc == 0)
		rc = buf_append_char(out, '}');
	if (rc == 0 && out->len - start > max_header) {
		buf_truncate(out, start);
		return pyro_err_set(err, PYRO_EXIT_USAGE, "%s header line longer than %zu bytes", w,
				    max_header);
	}
	if (rc == 0)
		rc = buf_append_char(out, '\n');
	if (rc < 0) {
		int e = errno;
		buf_truncate(out, start);
		if (e == ENOMEM)
			return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory encoding a %s header",
					    w);
		return pyro_err_sys(err, e, "encoding a %s header", w);
	}
	return 0;
}

struct json_value *agentproto_error_response(struct json_doc *doc, const char *msg)
{
	struct json_value *obj = json_object(doc);
	if (!obj || json_set_str(doc, obj, "error", msg ? msg : "") < 0)
		return NULL;
	return obj;
}

/* Length of the UTF-8 sequence a lead byte starts (0: not a lead byte). */
static size_t utf8_len(unsigned char c)
{
	if (c >= 0xC2 && c <= 0xDF)
		return 2;
	if (c >= 0xE0 && c <= 0xEF)
		return 3;
	if (c >= 0xF0 && c <= 0xF4)
		return 4;
	return 0;
}

size_t agentproto_format_error(char *dst, size_t cap, const char *msg)
{
	static const char head[] = "{\"error\":\"", tail[] = "\"}\n";
	const unsigned char *s = (const unsigned char *)(msg ? msg : "");
	size_t n = strlen((const char *)s), o = sizeof head - 1;
	if (!dst || cap < 16)
		return 0;
	/* The escaped text may end at limit, leaving room for tail and NUL. */
	size_t limit = cap - sizeof tail;
	memcpy(dst, head, o);
	for (size_t i = 0; i < n;) {
		char piece[8];
		size_t plen = 1, adv = 1;
		unsigned char c = s[i];
		const char *esc = NULL;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default: break;
		}
		if (esc) {
			plen = strlen(esc);
			memcpy(piece, esc, plen);
		} else if (c < 0x20) {
			plen = (size_t)snprintf(piece, sizeof piece, "\\u%04x", c);
		} else if (c < 0x80) {
			piece[0] = (char)c;
		} else {
			size_t len = utf8_len(c);
			if (len && i + len <= n && json_utf8_valid((const char *)s + i, len)) {
				memcpy(piece, s + i, len);
				plen = adv = len;
			} else {
				memcpy(piece, "\\ufffd", 6);
				plen = 6;
			}
		}
		if (o + plen > limit)
			break;
		memcpy(dst + o, piece, plen);
		o += plen;
		i += adv;
	}
	memcpy(dst + o, tail, sizeof tail); /* with its NUL */
	return o + sizeof tail - 1;
}

const char *agentproto_response_error(const struct json_value *header)
{
	return json_get_str(header, "error");
}

/* ---- Incremental reader ------------------------------------------------ */

void agentproto_reader_init(struct agentproto_reader *r, enum agentproto_kind kind,
			    const struct agentproto_limits *lim)
{
	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->state = ST_HEADER;
	r->max_header = limit_header(lim);
	r->max_body = limit_body(lim);
	buf_init(&r->line, r->max_header);
}

void agentproto_reader_release(struct agentproto_reader *r)
{
	buf_release(&r->line);
}

/* The final error: give a copy to the caller. */
static int give_err(const struct agentproto_reader *r, struct pyro_err *err)
{
	if (err)
		*err = r->err;
	return -1;
}

static int reader_failf(struct agentproto_reader *r, struct pyro_err *err, int code,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int reader_failf(struct agentproto_reader *r, struct pyro_err *err, int code,
			const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vsnprintf(r->err.msg, sizeof r->err.msg, fmt, ap) < 0)
		snprintf(r->err.msg, sizeof r->err.msg, "agent protocol error");
	va_end(ap);
	r->err.code = code;
	r->err.sys_errno = 0;
	r->state = ST_FAILED;
	buf_release(&r->line);
	return give_err(r, err);
}

int agentproto_reader_fail(struct agentproto_reader *r, const struct pyro_err *why,
			   struct pyro_err *err)
{
	if (r->state == ST_FAILED)
		return give_err(r, err);
	if (why && why->msg[0])
		r->err = *why;
	else
		return reader_failf(r, err, PYRO_EXIT_FAILURE, "%s stream failed",
				    kind_word(r->kind));
	r->state = ST_FAILED;
	buf_release(&r->line);
	return give_err(r, err);
}

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* The frame was cut short (`how`: "timed out", "connection closed"):
 * fail naming how far it got. Returns 1 when the reader was between frames
 * and nothing failed, so the caller decides what that means. */
static int fail_mid_frame(struct agentproto_reader *r, struct pyro_err *err, int code,
			  const char *how)
{
	const char *w = kind_word(r->kind);
	if (r->state == ST_BODY)
		return reader_failf(r, err, code,
				    "%s after %" PRIu64 " of %" PRIu64 " %s body bytes", how,
				    r->body_done, r->body_size, w);
	if (r->state == ST_HEADER && r->line.len)
		return reader_failf(r, err, code,
				    "%s in the middle of a %s header (%zu byte%s received)", how,
				    w, r->line.len, plural(r->line.len));
	return 1;
}

int agentproto_reader_timeout(struct agentproto_reader *r, struct pyro_err *err)
{
	if (r->state == ST_FAILED)
		return give_err(r, err);
	if (fail_mid_frame(r, err, PYRO_EXIT_TIMEOUT, "timed out") < 0)
		return -1;
	return reader_failf(r, err, PYRO_EXIT_TIMEOUT, "timed out waiting for a %s",
			    kind_word(r->kind));
}

bool agentproto_reader_idle(const struct agentproto_reader *r)
{
	return (r->state == ST_HEADER && r->line.len == 0) || r->state == ST_END ||
	       r->state == ST_CLOSED;
}

bool agentproto_reader_failed(const struct agentproto_reader *r)
{
	return r->state == ST_FAILED;
}

bool agentproto_reader_in_frame(const struct agentproto_reader *r)
{
	return r->state == ST_BODY || r->state == ST_END || r->state == ST_FAILED;
}

static int only_space(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* Parse a whole header line (without "\n") into doc and set up its body. */
static int parse_header(struct agentproto_reader *r, struct json_doc *doc, const char *text,
			size_t len, struct agentproto_event *ev, struct pyro_err *err)
{
	const char *w = kind_word(r->kind);
	struct pyro_err perr;
	struct json_value *root;
	uint64_t size;
	if (only_space(text, len))
		return reader_failf(r, err, PYRO_EXIT_USAGE, "%s header line is empty", w);
	if (!doc)
		return reader_failf(r, err, PYRO_EXIT_INTERNAL,
				    "agentproto_feed: no json_doc for the %s header", w);
	struct json_limits jl = {
		.max_input_bytes = r->max_header,
		.max_depth = AGENTPROTO_HEADER_DEPTH,
		.max_string_bytes = r->max_header,
	};
	if (json_parse(doc, text, len, &jl, &root, &perr) < 0) {
		pyro_err_wrap(&perr, "%s header line", w);
		return agentproto_reader_fail(r, &perr, err);
	}
	struct agentproto_limits lim = { r->max_header, r->max_body };
	if (agentproto_check_header(r->kind, root, &lim, &size, &perr) < 0)
		return agentproto_reader_fail(r, &perr, err);
	ev->type = AGENTPROTO_HEADER;
	ev->header = root;
	ev->action = r->kind == AGENTPROTO_REQUEST ? json_get_str(root, "action") : NULL;
	ev->body_size = size;
	r->body_size = size;
	r->body_done = 0;
	r->state = size ? ST_BODY : ST_END;
	return 0;
}

static int feed_header(struct agentproto_reader *r, struct json_doc *doc,
		       const unsigned char *p, size_t len, struct agentproto_event *ev,
		       struct pyro_err *err)
{
	const char *w = kind_word(r->kind);
	const unsigned char *nl = memchr(p, '\n', len);
	size_t k = nl ? (size_t)(nl - p) : len; /* line bytes in this input */
	size_t room = r->max_header - r->line.len;
	if (k > room) {
		ev->used = room + 1; /* up to the first byte too many */
		return reader_failf(r, err, PYRO_EXIT_USAGE, "%s header line longer than %zu bytes",
				    w, r->max_header);
	}
	if (!nl) {
		if (buf_append(&r->line, p, len) < 0)
			return reader_failf(r, err, PYRO_EXIT_INTERNAL,
					    "out of memory reading a %s header", w);
		ev->used = len;
		ev->type = AGENTPROTO_NEED_MORE;
		return 0;
	}
	ev->used = k + 1;
	if (r->line.len == 0) /* the whole line is in this input: no copy */
		return parse_header(r, doc, (const char *)p, k, ev, err);
	if (buf_append(&r->line, p, k) < 0)
		return reader_failf(r, err, PYRO_EXIT_INTERNAL, "out of memory reading a %s header",
				    w);
	int rc = parse_header(r, doc, r->line.data, r->line.len, ev, err);
	if (rc == 0) {
		if (r->line.cap > LINE_KEEP_CAP)
			buf_release(&r->line);
		else
			buf_reset(&r->line);
	}
	return rc;
}

int agentproto_feed(struct agentproto_reader *r, struct json_doc *doc, const void *data,
		    size_t len, struct agentproto_event *ev, struct pyro_err *err)
{
	const unsigned char *p = data;
	memset(ev, 0, sizeof *ev);
	ev->type = AGENTPROTO_NEED_MORE;
	switch (r->state) {
	case ST_FAILED:
		return give_err(r, err);
	case ST_END:
		ev->type = AGENTPROTO_FRAME_END;
		r->state = ST_HEADER;
		return 0;
	case ST_CLOSED:
		if (len == 0)
			return 0;
		return reader_failf(r, err, PYRO_EXIT_INTERNAL,
				    "agentproto_feed: %s data after the end of the stream",
				    kind_word(r->kind));
	case ST_BODY: {
		if (len == 0)
			return 0;
		uint64_t left = r->body_size - r->body_done;
		size_t n = (uint64_t)len < left ? len : (size_t)left;
		ev->type = AGENTPROTO_BODY;
		ev->body = p;
		ev->body_len = n;
		ev->used = n;
		r->body_done += n;
		if (r->body_done == r->body_size)
			r->state = ST_END;
		return 0;
	}
	default:
		if (len == 0)
			return 0;
		return feed_header(r, doc, p, len, ev, err);
	}
}

int agentproto_feed_eof(struct agentproto_reader *r, struct agentproto_event *ev,
			struct pyro_err *err)
{
	memset(ev, 0, sizeof *ev);
	if (r->state == ST_FAILED)
		return give_err(r, err);
	if (r->state == ST_END) {
		ev->type = AGENTPROTO_FRAME_END;
		r->state = ST_HEADER;
		return 0;
	}
	if (fail_mid_frame(r, err, PYRO_EXIT_FAILURE, "connection closed") < 0)
		return -1;
	ev->type = AGENTPROTO_EOF;
	r->state = ST_CLOSED;
	return 0;
}
