/* Tests for core/httpresp.c: every framing, every error class, and the
 * promise that results never depend on how the input is split. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/buf.h"
#include "../../core/httpresp.h"
#include "test.h"

struct result {
	enum httpresp_state state;
	int status;
	enum httpresp_framing framing;
	size_t header_count;
	char first_header[128];
	struct buf body;
	char error[256];
};

/* Feed `in` in pieces of `step` bytes (0: all at once), then signal EOF if
 * asked and the response is not finished. */
static void run(const char *method, const char *in, size_t len, size_t step, bool eof,
		struct result *r)
{
	struct httpresp p;
	httpresp_init(&p, method);
	memset(r, 0, sizeof *r);
	buf_init(&r->body, 0);
	size_t off = 0;
	while (off < len && (p.state == HTTPRESP_HEAD || p.state == HTTPRESP_BODY)) {
		size_t n = len - off;
		if (step && n > step)
			n = step;
		const char *body;
		size_t body_len;
		long used = httpresp_feed(&p, in + off, n, &body, &body_len);
		if (used < 0)
			break;
		/* The rules: progress unless DONE, body within what was consumed. */
		if (used == 0 && p.state != HTTPRESP_DONE)
			abort();
		if (body_len && (body < in + off || body + body_len > in + off + (size_t)used))
			abort();
		buf_append(&r->body, body, body_len);
		off += (size_t)used;
	}
	if (eof)
		httpresp_eof(&p);
	r->state = p.state;
	r->status = p.status;
	r->framing = p.framing;
	r->header_count = p.header_count;
	if (p.header_count && p.state != HTTPRESP_ERROR)
		snprintf(r->first_header, sizeof r->first_header, "%s=%s", p.headers[0].name,
			 p.headers[0].value);
	snprintf(r->error, sizeof r->error, "%s", httpresp_error(&p));
	httpresp_release(&p);
}

static const struct {
	const char *name;
	const char *method;
	const char *in;
	bool eof;
	enum httpresp_state state;
	int status;
	const char *body;  /* for DONE */
	const char *error; /* substring, for ERROR */
} cases[] = {
	/* Framing. */
	{ "content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false,
	  HTTPRESP_DONE, 200, "hello", NULL },
	{ "content-length ignores what follows", "GET",
	  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", false, HTTPRESP_DONE, 200, "hello", NULL },
	{ "content-length zero", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false,
	  HTTPRESP_DONE, 200, "", NULL },
	{ "chunked with extensions and trailers", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6 ; x=\"y\"\r\n world\r\n"
	  "0\r\nX-T: 1\r\nY: 2\r\n\r\n", false, HTTPRESP_DONE, 200, "hello world", NULL },
	{ "chunked with LF line ends and upper-case hex", "GET",
	  "HTTP/1.1 200 OK\nTransfer-Encoding: Chunked\n\nA\n0123456789\n00\n\n", false,
	  HTTPRESP_DONE, 200, "0123456789", NULL },
	{ "chunked with leading zeros", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0003\r\nabc\r\n0\r\n\r\n", false,
	  HTTPRESP_DONE, 200, "abc", NULL },
	{ "close-delimited", "GET", "HTTP/1.0 200 OK\r\n\r\nuntil close", true, HTTPRESP_DONE, 200,
	  "until close", NULL },
	{ "close-delimited empty", "GET", "HTTP/1.1 200 OK\r\n\r\n", true, HTTPRESP_DONE, 200, "", NULL },
	{ "HEAD has no body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", false,
	  HTTPRESP_DONE, 200, "", NULL },
	{ "204 has no body", "GET", "HTTP/1.1 204 No Content\r\n\r\n", false, HTTPRESP_DONE, 204, "", NULL },
	{ "304 has no body", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false,
	  HTTPRESP_DONE, 304, "", NULL },
	{ "100 Continue is skipped", "PUT",
	  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", false,
	  HTTPRESP_DONE, 201, "ok", NULL },
	{ "103 with headers is skipped", "GET",
	  "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
	  false, HTTPRESP_DONE, 200, "z", NULL },
	{ "no reason phrase", "GET", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", false,
	  HTTPRESP_DONE, 404, "", NULL },
	{ "header value trimmed", "GET", "HTTP/1.1 200 OK\r\nX-A: \t a b \t\r\nContent-Length: 0\r\n\r\n",
	  false, HTTPRESP_DONE, 200, "", NULL },
	{ "empty header value", "GET", "HTTP/1.1 200 OK\r\nX-A:\r\nContent-Length: 0\r\n\r\n",
	  false, HTTPRESP_DONE, 200, "", NULL },
	/* Head errors. */
	{ "not HTTP/1", "GET", "HTTP/2 200 OK\r\n\r\n", false, HTTPRESP_ERROR, 0, NULL, "not HTTP/1.x" },
	{ "not HTTP at all", "GET", "ICY 200 OK\r\n\r\n", false, HTTPRESP_ERROR, 0, NULL, "not HTTP/1.x" },
	{ "two-digit status", "GET", "HTTP/1.1 20 OK\r\n\r\n", false, HTTPRESP_ERROR, 0, NULL,
	  "3-digit status" },
	{ "status out of range", "GET", "HTTP/1.1 999 Odd\r\n\r\n", false, HTTPRESP_ERROR, 0, NULL,
	  "no valid status code" },
	{ "status glued to reason", "GET", "HTTP/1.1 200OK\r\n\r\n", false, HTTPRESP_ERROR, 0, NULL,
	  "no valid status code" },
	{ "101 refused", "GET", "HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\n", false, HTTPRESP_ERROR,
	  0, NULL, "switched protocols" },
	{ "empty first line", "GET", "\r\nHTTP/1.1 200 OK\r\n\r\n", false, HTTPRESP_ERROR, 0, NULL,
	  "empty line" },
	{ "obs-fold", "GET", "HTTP/1.1 200 OK\r\nX-A: a\r\n  b\r\n\r\n", false, HTTPRESP_ERROR, 0, NULL,
	  "obsolete line folding" },
	{ "no colon", "GET", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", false, HTTPRESP_ERROR, 0, NULL,
	  "is not \"Name: value\"" },
	{ "space before colon", "GET", "HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n", false, HTTPRESP_ERROR, 0,
	  NULL, "is not \"Name: value\"" },
	{ "control character in value", "GET", "HTTP/1.1 200 OK\r\nX-A: a\x01" "b\r\n\r\n", false,
	  HTTPRESP_ERROR, 0, NULL, "control character" },
	{ "bare CR in head", "GET", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", false, HTTPRESP_ERROR, 0,
	  NULL, "bare CR" },
	/* Framing errors. */
	{ "duplicate content-length", "GET",
	  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", false,
	  HTTPRESP_ERROR, 0, NULL, "more than one Content-Length" },
	{ "content-length list", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", false,
	  HTTPRESP_ERROR, 0, NULL, "is not a number" },
	{ "negative content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false,
	  HTTPRESP_ERROR, 0, NULL, "is not a number" },
	{ "empty content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", false,
	  HTTPRESP_ERROR, 0, NULL, "is empty" },
	{ "huge content-length", "GET",
	  "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", false, HTTPRESP_ERROR, 0,
	  NULL, "too large" },
	{ "content-length and chunked", "GET",
	  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", false,
	  HTTPRESP_ERROR, 0, NULL, "both Content-Length and Transfer-Encoding" },
	{ "gzip transfer-encoding", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, HTTPRESP_ERROR, 0, NULL,
	  "unsupported Transfer-Encoding \"gzip\"" },
	{ "empty transfer-encoding", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\nabc", true,
	  HTTPRESP_ERROR, 0, NULL, "Transfer-Encoding header is empty" },
	{ "chunked twice", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", false,
	  HTTPRESP_ERROR, 0, NULL, "more than once" },
	/* Chunk errors. */
	{ "chunk size not hex", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	  false, HTTPRESP_ERROR, 0, NULL, "does not start with a hex number" },
	{ "chunk size overflow", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", false,
	  HTTPRESP_ERROR, 0, NULL, "chunk size is too large" },
	{ "chunk size junk", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n", false, HTTPRESP_ERROR,
	  0, NULL, "unexpected byte 0x78" },
	{ "chunk longer than its size", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", false,
	  HTTPRESP_ERROR, 0, NULL, "longer than its chunk size" },
	{ "chunk size CR without LF", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello", false, HTTPRESP_ERROR, 0,
	  NULL, "CR without LF" },
	/* Truncation. */
	{ "nothing at all", "GET", "", true, HTTPRESP_ERROR, 0, NULL, "without sending a response" },
	{ "head cut short", "GET", "HTTP/1.1 200 OK\r\nContent-Le", true, HTTPRESP_ERROR, 0, NULL,
	  "in the middle of the response head" },
	{ "content-length cut short", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true,
	  HTTPRESP_ERROR, 0, NULL, "got 3 of 5 bytes" },
	{ "chunked cut short in data", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", true, HTTPRESP_ERROR, 0,
	  NULL, "cut short after 3 bytes" },
	{ "chunked without last chunk", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", true, HTTPRESP_ERROR,
	  0, NULL, "no last chunk" },
	{ "chunked cut in trailers", "GET",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n", true, HTTPRESP_ERROR, 0,
	  NULL, "no last chunk" },
};

static bool same(const struct result *a, const struct result *b)
{
	return a->state == b->state && a->status == b->status && a->framing == b->framing &&
	       a->header_count == b->header_count && strcmp(a->first_header, b->first_header) == 0 &&
	       a->body.len == b->body.len && memcmp(a->body.data, b->body.data, a->body.len) == 0 &&
	       strcmp(a->error, b->error) == 0;
}

TEST(httpresp_table_in_every_split)
{
	static const size_t steps[] = { 0, 1, 2, 3, 7, 64 };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct result whole;
		run(cases[i].method, cases[i].in, strlen(cases[i].in), 0, cases[i].eof, &whole);
		bool ok = whole.state == cases[i].state;
		if (ok && cases[i].state == HTTPRESP_DONE)
			ok = whole.status == cases[i].status && strcmp(whole.body.data, cases[i].body) == 0;
		if (ok && cases[i].state == HTTPRESP_ERROR)
			ok = strstr(whole.error, cases[i].error) != NULL;
		if (!ok)
			fprintf(stderr, "    case \"%s\": state %d status %d body \"%s\" error \"%s\"\n",
				cases[i].name, whole.state, whole.status, whole.body.data, whole.error);
		for (size_t s = 1; ok && s < sizeof steps / sizeof steps[0]; s++) {
			struct result split;
			run(cases[i].method, cases[i].in, strlen(cases[i].in), steps[s], cases[i].eof, &split);
			if (!same(&whole, &split)) {
				fprintf(stderr, "    case \"%s\" differs when fed %zu bytes at a time\n",
					cases[i].name, steps[s]);
				ok = false;
			}
			buf_release(&split.body);
		}
		buf_release(&whole.body);
		CHECK(ok);
	}
}

TEST(httpresp_headers_and_lookup)
{
	const char *in = "HTTP/1.1 301 Moved Permanently\r\nLocation:  /new \r\n"
			 "X-Empty:\r\ncontent-length: 0\r\n\r\n";
	struct httpresp p;
	const char *body;
	size_t body_len;
	httpresp_init(&p, "GET");
	CHECK(httpresp_feed(&p, in, strlen(in), &body, &body_len) == (long)strlen(in));
	CHECK(p.state == HTTPRESP_DONE);
	CHECK(p.status == 301);
	CHECK_STR(p.reason, "Moved Permanently");
	CHECK(p.header_count == 3);
	CHECK_STR(httpresp_header(&p, "LOCATION"), "/new");
	CHECK_STR(httpresp_header(&p, "x-empty"), "");
	CHECK(httpresp_header(&p, "Missing") == NULL);
	CHECK(p.content_length == 0);
	/* DONE consumes nothing more. */
	CHECK(httpresp_feed(&p, "junk", 4, &body, &body_len) == 0 && body_len == 0);
	CHECK_STR(httpresp_error(&p), "");
	httpresp_release(&p);
}

TEST(httpresp_head_stops_before_body)
{
	const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
	struct httpresp p;
	const char *body;
	size_t body_len;
	httpresp_init(&p, "GET");
	long used = httpresp_feed(&p, in, strlen(in), &body, &body_len);
	CHECK(used == (long)strlen(in) - 3 && body_len == 0);
	CHECK(p.state == HTTPRESP_BODY && p.framing == HTTPRESP_LENGTH && p.content_length == 3);
	/* A caller that wants at most 2 body bytes passes 2. */
	CHECK(httpresp_feed(&p, in + used, 2, &body, &body_len) == 2);
	CHECK(body_len == 2 && memcmp(body, "ab", 2) == 0);
	CHECK(httpresp_feed(&p, in + used + 2, 1, &body, &body_len) == 1 && body_len == 1);
	CHECK(p.state == HTTPRESP_DONE && p.body_bytes == 3);
	CHECK(httpresp_eof(&p) == 0);
	httpresp_release(&p);
}

TEST(httpresp_head_keeps_content_length)
{
	const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
	struct httpresp p;
	const char *body;
	size_t body_len;
	httpresp_init(&p, "head");
	CHECK(httpresp_feed(&p, in, strlen(in), &body, &body_len) == (long)strlen(in));
	CHECK(p.state == HTTPRESP_DONE && p.framing == HTTPRESP_NO_BODY);
	CHECK(p.content_length == 1234);
	httpresp_release(&p);
	httpresp_init(&p, "GET");
	in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	CHECK(httpresp_feed(&p, in, strlen(in), &body, &body_len) == (long)strlen(in));
	CHECK(p.state == HTTPRESP_BODY && p.content_length == -1);
	httpresp_release(&p);
}

TEST(httpresp_errors_stick)
{
	struct httpresp p;
	const char *body;
	size_t body_len;
	httpresp_init(&p, "GET");
	CHECK(httpresp_feed(&p, "HTTP/9.9 x\r\n\r\n", 14, &body, &body_len) == -1);
	CHECK(p.state == HTTPRESP_ERROR);
	CHECK(httpresp_feed(&p, "HTTP/1.1 200 OK\r\n\r\n", 19, &body, &body_len) == -1);
	CHECK(httpresp_eof(&p) == -1);
	CHECK_CONTAINS(httpresp_error(&p), "not HTTP/1.x");
	httpresp_release(&p);
}

TEST(httpresp_limits)
{
	struct buf in = BUF_INIT;
	struct result r;
	/* 64 header fields are fine, 65 are not. */
	for (int n = 64; n <= 65; n++) {
		buf_reset(&in);
		buf_append_str(&in, "HTTP/1.1 200 OK\r\n");
		for (int i = 0; i < n - 1; i++)
			buf_printf(&in, "X-%d: v\r\n", i);
		buf_append_str(&in, "Content-Length: 0\r\n\r\n");
		run("GET", in.data, in.len, 0, false, &r);
		buf_release(&r.body);
		CHECK(r.state == (n == 64 ? HTTPRESP_DONE : HTTPRESP_ERROR));
		if (n == 65)
			CHECK_CONTAINS(r.error, "more than 64 header fields");
	}
	/* A head over 64 KiB, in one header or byte by byte. */
	buf_reset(&in);
	buf_append_str(&in, "HTTP/1.1 200 OK\r\nX-Big: ");
	while (in.len < HTTPRESP_HEAD_MAX)
		buf_append_str(&in, "aaaaaaaaaaaaaaaa");
	buf_append_str(&in, "\r\n\r\n");
	run("GET", in.data, in.len, 0, false, &r);
	buf_release(&r.body);
	CHECK(r.state == HTTPRESP_ERROR);
	CHECK_CONTAINS(r.error, "larger than 64 KiB");
	run("GET", in.data, in.len, 1, false, &r);
	buf_release(&r.body);
	CHECK_CONTAINS(r.error, "larger than 64 KiB");
	/* Trailers are skipped but bounded. */
	buf_reset(&in);
	buf_append_str(&in, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
	for (int i = 0; i < 5000; i++)
		buf_append_str(&in, "X-Trailer: 0123456789\r\n");
	buf_append_str(&in, "\r\n");
	run("GET", in.data, in.len, 0, false, &r);
	buf_release(&r.body);
	CHECK_CONTAINS(r.error, "trailers exceed");
	buf_release(&in);
}

TEST(httpresp_large_chunked_body)
{
	/* Many chunks of many sizes decode to the same bytes, whole or split. */
	struct buf in = BUF_INIT, want = BUF_INIT;
	buf_append_str(&in, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 1; i < 300; i += 7) {
		buf_printf(&in, "%x\r\n", i);
		for (int j = 0; j < i; j++) {
			char c = (char)('a' + (i + j) % 26);
			buf_append_char(&in, c);
			buf_append_char(&want, c);
		}
		buf_append_str(&in, "\r\n");
	}
	buf_append_str(&in, "0\r\n\r\n");
	struct result a, b;
	run("GET", in.data, in.len, 0, false, &a);
	run("GET", in.data, in.len, 5, false, &b);
	bool ok = a.state == HTTPRESP_DONE && a.body.len == want.len &&
		  memcmp(a.body.data, want.data, want.len) == 0 && same(&a, &b);
	buf_release(&a.body);
	buf_release(&b.body);
	buf_release(&in);
	buf_release(&want);
	CHECK(ok);
}
