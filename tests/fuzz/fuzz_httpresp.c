/* Fuzz the HTTP/1.1 response parser, which reads bytes straight from
 * servers. The first input byte picks the method (bit 0: HEAD) and whether
 * the connection closes after the input (bit 1); the rest is the response.
 * Properties:
 *  - the result (state, status, framing, headers, de-framed body, error)
 *    is identical whether the response is fed whole, byte by byte, or in
 *    random pieces; so a chunked body decodes identically however split;
 *  - httpresp_feed keeps its contract: it consumes at least one byte while
 *    the response is unfinished, never more than offered, and its body
 *    span lies inside the consumed bytes;
 *  - body_bytes counts the body delivered; a finished Content-Length body
 *    has exactly Content-Length bytes; HEAD/204/304 deliver none;
 *  - ERROR comes with a one-line message and nothing else does;
 *  - header names are tokens and values carry no CR, LF or NUL. */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

#include "../../core/buf.h"
#include "../../core/httpresp.h"

struct result {
	enum httpresp_state state;
	int status;
	enum httpresp_framing framing;
	int64_t content_length;
	size_t header_count;
	struct buf heads; /* "name=value\n" for every header */
	struct buf body;
	char error[256];
};

static uint32_t next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/* step 0: whole; step 1: byte by byte; step 2: random pieces. */
static void run(const char *method, const uint8_t *in, size_t len, int step, uint32_t seed,
		bool eof, struct result *r)
{
	struct httpresp p;
	httpresp_init(&p, method);
	memset(r, 0, sizeof *r);
	buf_init(&r->heads, 0);
	buf_init(&r->body, 0);
	size_t off = 0;
	while (off < len && (p.state == HTTPRESP_HEAD || p.state == HTTPRESP_BODY)) {
		size_t n = len - off;
		if (step == 1)
			n = 1;
		else if (step == 2 && n > 1)
			n = 1 + next_rand(&seed) % (n < 300 ? n : 300);
		const char *body;
		size_t body_len;
		uint64_t before = p.body_bytes;
		long used = httpresp_feed(&p, (const char *)in + off, n, &body, &body_len);
		if (used < 0) {
			FUZZ_ASSERT(p.state == HTTPRESP_ERROR);
			break;
		}
		FUZZ_ASSERT((size_t)used <= n);
		FUZZ_ASSERT(used > 0 || p.state == HTTPRESP_DONE);
		if (body_len) {
			FUZZ_ASSERT(body >= (const char *)in + off);
			FUZZ_ASSERT(body + body_len <= (const char *)in + off + used);
		}
		FUZZ_ASSERT(p.body_bytes == before + body_len);
		buf_append(&r->body, body, body_len);
		off += (size_t)used;
	}
	if (eof)
		httpresp_eof(&p);
	r->state = p.state;
	const char *e = httpresp_error(&p);
	FUZZ_ASSERT((p.state == HTTPRESP_ERROR) == (e[0] != '\0'));
	FUZZ_ASSERT(strchr(e, '\n') == NULL);
	snprintf(r->error, sizeof r->error, "%s", e);
	if (p.state == HTTPRESP_BODY || p.state == HTTPRESP_DONE) {
		r->status = p.status;
		r->framing = p.framing;
		r->content_length = p.content_length;
		r->header_count = p.header_count;
		FUZZ_ASSERT(p.status >= 200 && p.status <= 599);
		FUZZ_ASSERT(p.header_count <= HTTP_MAX_HEADERS);
		for (size_t i = 0; i < p.header_count; i++) {
			const char *v = p.headers[i].value;
			FUZZ_ASSERT(p.headers[i].name[0] != '\0');
			FUZZ_ASSERT(strpbrk(p.headers[i].name, " \t:\r\n") == NULL);
			FUZZ_ASSERT(strpbrk(v, "\r\n") == NULL);
			FUZZ_ASSERT(v[0] != ' ' && v[0] != '\t');
			buf_printf(&r->heads, "%s=%s\n", p.headers[i].name, v);
		}
		FUZZ_ASSERT(p.body_bytes == r->body.len);
		if (p.framing == HTTPRESP_NO_BODY)
			FUZZ_ASSERT(r->body.len == 0 && p.state == HTTPRESP_DONE);
		if (p.framing == HTTPRESP_LENGTH)
			FUZZ_ASSERT(r->body.len <= (uint64_t)p.content_length);
		if (p.framing == HTTPRESP_LENGTH && p.state == HTTPRESP_DONE)
			FUZZ_ASSERT(r->body.len == (uint64_t)p.content_length);
		if (eof)
			FUZZ_ASSERT(p.state == HTTPRESP_DONE);
	}
	httpresp_release(&p);
}

static bool same(const struct result *a, const struct result *b)
{
	return a->state == b->state && a->status == b->status && a->framing == b->framing &&
	       a->content_length == b->content_length && a->header_count == b->header_count &&
	       a->heads.len == b->heads.len && memcmp(a->heads.data, b->heads.data, a->heads.len) == 0 &&
	       a->body.len == b->body.len && memcmp(a->body.data, b->body.data, a->body.len) == 0 &&
	       strcmp(a->error, b->error) == 0;
}

static void release(struct result *r)
{
	buf_release(&r->heads);
	buf_release(&r->body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 256 * 1024)
		return 0;
	const char *method = (data[0] & 1) ? "HEAD" : "GET";
	bool eof = (data[0] & 2) != 0;
	uint32_t seed = size * 2654435761u;
	data++, size--;
	struct result whole, bytes, pieces;
	run(method, data, size, 0, 0, eof, &whole);
	run(method, data, size, 1, 0, eof, &bytes);
	run(method, data, size, 2, seed, eof, &pieces);
	FUZZ_ASSERT(same(&whole, &bytes));
	FUZZ_ASSERT(same(&whole, &pieces));
	release(&whole);
	release(&bytes);
	release(&pieces);
	return 0;
}
