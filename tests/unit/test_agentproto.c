/* Tests for core/agentproto*.c: round trips, every framing error with its
 * message, chunking invariance, streamed bodies, back-to-back frames, the
 * header length limit, EOF mid-frame, allocation and I/O failure injection,
 * the error answer, the writers and the blocking reader's deadline. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/agentproto.h"
#include "../../core/exitcodes.h"
#include "../../core/fault.h"
#include "test.h"

/* ---- helpers --------------------------------------------------------- */

/* Feed data[0..len) to a fresh reader and describe everything it reported:
 * "H<compact header>\n" per header, the body bytes, "\nE\n" per frame end,
 * then "EOF" (when eof) or "ERR(code): message". Chunks are cut at cuts[]
 * (increasing positions inside the input) or, without cuts, every `chunk`
 * bytes (0: all at once). Each frame's header goes into a fresh doc. */
struct feed_stats {
	size_t body_events;
	size_t max_body_event;
};

static void transcribe(enum agentproto_kind kind, const struct agentproto_limits *lim,
		       const char *data, size_t len, const size_t *cuts, size_t ncuts,
		       size_t chunk, int eof, struct buf *out, struct feed_stats *st)
{
	struct agentproto_reader r;
	struct agentproto_event ev;
	struct pyro_err err;
	struct json_doc *doc = NULL;
	uint64_t body_seen = 0, body_size = 0;
	size_t pos = 0, cut = 0;
	int failed = 0;
	agentproto_reader_init(&r, kind, lim);
	buf_reset(out);
	if (st)
		memset(st, 0, sizeof *st);
	while (!failed) {
		size_t n;
		if (cuts)
			n = (cut < ncuts ? cuts[cut++] : len) - pos;
		else
			n = chunk && chunk < len - pos ? chunk : len - pos;
		const char *p = data + pos;
		pos += n;
		for (;;) {
			if (!doc && !(doc = json_doc_new())) {
				buf_printf(out, "ERR: no doc");
				failed = 1;
				break;
			}
			if (agentproto_feed(&r, doc, p, n, &ev, &err) < 0) {
				buf_printf(out, "ERR(%d): %s", err.code, err.msg);
				failed = 1;
				break;
			}
			p += ev.used;
			n -= ev.used;
			if (ev.type == AGENTPROTO_NEED_MORE) {
				if (n)
					buf_printf(out, "NEED_MORE with %zu left", n);
				break;
			}
			if (ev.type == AGENTPROTO_HEADER) {
				buf_append_char(out, 'H');
				json_emit(out, ev.header, JSON_EMIT_COMPACT);
				buf_append_char(out, '\n');
				if (kind == AGENTPROTO_REQUEST &&
				    (!ev.action || strcmp(ev.action, json_get_str(ev.header, "action"))))
					buf_append_str(out, "BAD ACTION");
				body_size = ev.body_size;
				body_seen = 0;
			} else if (ev.type == AGENTPROTO_BODY) {
				buf_append(out, ev.body, ev.body_len);
				body_seen += ev.body_len;
				if (st) {
					st->body_events++;
					if (ev.body_len > st->max_body_event)
						st->max_body_event = ev.body_len;
				}
			} else if (ev.type == AGENTPROTO_FRAME_END) {
				if (body_seen != body_size)
					buf_append_str(out, "BAD BODY SIZE");
				buf_append_str(out, "\nE\n");
				json_doc_free(doc);
				doc = NULL;
			}
		}
		if (pos == len || failed)
			break;
	}
	while (!failed && eof) {
		if (agentproto_feed_eof(&r, &ev, &err) < 0) {
			buf_printf(out, "ERR(%d): %s", err.code, err.msg);
			break;
		}
		if (ev.type == AGENTPROTO_EOF) {
			buf_append_str(out, "EOF");
			break;
		}
		if (ev.type == AGENTPROTO_FRAME_END) {
			buf_append_str(out, "\nE\n");
			json_doc_free(doc);
			doc = NULL;
		}
	}
	json_doc_free(doc);
	agentproto_reader_release(&r);
}

static char result[8192];

/* One-shot transcript of a C string as a request (kind) stream, with EOF. */
static const char *run_kind(enum agentproto_kind kind, const struct agentproto_limits *lim,
			    const char *text)
{
	struct buf out = BUF_INIT;
	transcribe(kind, lim, text, strlen(text), NULL, 0, 0, 1, &out, NULL);
	snprintf(result, sizeof result, "%s", out.data);
	buf_release(&out);
	return result;
}

static const char *run_req(const char *text)
{
	return run_kind(AGENTPROTO_REQUEST, NULL, text);
}

static const char *run_resp(const char *text)
{
	return run_kind(AGENTPROTO_RESPONSE, NULL, text);
}

/* Parse a JSON text into doc (the test's own input, must be valid). */
static struct json_value *J(struct json_doc *doc, const char *text)
{
	struct json_value *v = NULL;
	if (json_parse(doc, text, strlen(text), NULL, &v, NULL) < 0)
		return NULL;
	return v;
}

/* ---- round trips ------------------------------------------------------ */

TEST(agentproto_request_without_body_round_trips)
{
	struct json_doc *doc = json_doc_new();
	struct buf line = BUF_INIT;
	struct json_value *h = J(doc, "{\"action\":\"exec\",\"command\":\"ls -l\",\"timeout_seconds\":30}");
	CHECK(h);
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST, h, 0, NULL, NULL) == 0);
	CHECK_STR(line.data, "{\"action\":\"exec\",\"command\":\"ls -l\",\"timeout_seconds\":30}\n");
	CHECK_STR(run_req(line.data),
		  "H{\"action\":\"exec\",\"command\":\"ls -l\",\"timeout_seconds\":30}\n\nE\nEOF");
	buf_release(&line);
	json_doc_free(doc);
}

TEST(agentproto_request_with_binary_body_round_trips)
{
	struct json_doc *doc = json_doc_new();
	struct buf line = BUF_INIT, out = BUF_INIT;
	const char body[] = "a\nb\0c\n{\"x\":1}\n"; /* newlines, NUL, JSON-looking */
	size_t body_len = sizeof body - 1;
	struct json_value *h = J(doc, "{\"action\":\"extract_archive\",\"destination\":\"/workspace\"}");
	CHECK(h);
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST, h, body_len, NULL, NULL) == 0);
	CHECK_STR(line.data, "{\"action\":\"extract_archive\",\"destination\":\"/workspace\","
			     "\"body_size\":14}\n");
	CHECK(buf_append(&line, body, body_len) == 0);
	transcribe(AGENTPROTO_REQUEST, NULL, line.data, line.len, NULL, 0, 0, 1, &out, NULL);
	const char want_head[] = "H{\"action\":\"extract_archive\",\"destination\":\"/workspace\","
				 "\"body_size\":14}\n";
	CHECK(out.len == strlen(want_head) + body_len + strlen("\nE\nEOF"));
	CHECK(memcmp(out.data, want_head, strlen(want_head)) == 0);
	CHECK(memcmp(out.data + strlen(want_head), body, body_len) == 0);
	CHECK_STR(out.data + strlen(want_head) + body_len, "\nE\nEOF");
	buf_release(&out);
	buf_release(&line);
	json_doc_free(doc);
}

TEST(agentproto_response_round_trips_and_error_is_reported)
{
	struct json_doc *doc = json_doc_new();
	struct buf line = BUF_INIT;
	struct json_value *h = J(doc, "{\"workspace_path\":\"/workspace/a\",\"archive_size\":4}");
	CHECK(h);
	CHECK(agentproto_encode_header(&line, AGENTPROTO_RESPONSE, h, 4, NULL, NULL) == 0);
	CHECK(buf_append_str(&line, "TARS") == 0);
	CHECK_STR(run_resp(line.data),
		  "H{\"workspace_path\":\"/workspace/a\",\"archive_size\":4,\"body_size\":4}\nTARS\nE\nEOF");
	/* A response needs no action; "error" marks a failure. */
	CHECK_STR(run_resp("{\"error\":\"no such file\"}\n"), "H{\"error\":\"no such file\"}\n\nE\nEOF");
	struct json_value *e = J(doc, "{\"error\":\"no such file\"}");
	CHECK_STR(agentproto_response_error(e), "no such file");
	CHECK(agentproto_response_error(h) == NULL);
	CHECK(agentproto_response_error(NULL) == NULL);
	buf_release(&line);
	json_doc_free(doc);
}

TEST(agentproto_encode_replaces_body_size_and_drops_zero)
{
	struct json_doc *doc = json_doc_new();
	struct buf line = BUF_INIT;
	struct json_value *h = J(doc, "{\"body_size\":99,\"action\":\"x\",\"a\":[1,{\"b\":null}]}");
	CHECK(h);
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST, h, 5, NULL, NULL) == 0);
	CHECK_STR(line.data, "{\"action\":\"x\",\"a\":[1,{\"b\":null}],\"body_size\":5}\n");
	buf_reset(&line);
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST, h, 0, NULL, NULL) == 0);
	CHECK_STR(line.data, "{\"action\":\"x\",\"a\":[1,{\"b\":null}]}\n");
	buf_reset(&line);
	struct json_value *only = J(doc, "{\"body_size\":1}");
	CHECK(agentproto_encode_header(&line, AGENTPROTO_RESPONSE, only, 0, NULL, NULL) == 0);
	CHECK_STR(line.data, "{}\n");
	buf_reset(&line);
	CHECK(agentproto_encode_header(&line, AGENTPROTO_RESPONSE, only, 7, NULL, NULL) == 0);
	CHECK_STR(line.data, "{\"body_size\":7}\n");
	/* Strings with newlines and control characters stay on one line. */
	buf_reset(&line);
	struct json_value *nl = J(doc, "{\"action\":\"w\",\"input\":\"a\\nb\\r\\u0000\"}");
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST, nl, 0, NULL, NULL) == 0);
	CHECK_STR(line.data, "{\"action\":\"w\",\"input\":\"a\\nb\\r\\u0000\"}\n");
	buf_release(&line);
	json_doc_free(doc);
}

TEST(agentproto_encode_refuses_what_a_reader_would_reject)
{
	struct json_doc *doc = json_doc_new();
	struct buf line = BUF_INIT;
	struct pyro_err err;
	CHECK(buf_append_str(&line, "keep") == 0);
	struct agentproto_limits lim = { .max_header = 20, .max_body = 10 };
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST, J(doc, "[]"), 0, NULL, &err) < 0);
	CHECK_STR(err.msg, "request header must be a JSON object (got array)");
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST, NULL, 0, NULL, &err) < 0);
	CHECK_STR(err.msg, "request header must be a JSON object (got nothing)");
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST, J(doc, "{}"), 0, NULL, &err) < 0);
	CHECK_STR(err.msg, "request header has no \"action\"");
	CHECK(agentproto_encode_header(&line, AGENTPROTO_RESPONSE, J(doc, "{\"error\":1}"), 0, NULL,
				       &err) < 0);
	CHECK_STR(err.msg, "response \"error\" must be a string (got number)");
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST, J(doc, "{\"action\":\"a\"}"), 11,
				       &lim, &err) < 0);
	CHECK_STR(err.msg, "request \"body_size\" 11 exceeds the maximum of 10 bytes");
	CHECK(err.code == PYRO_EXIT_USAGE);
	/* 20 bytes fit, 21 do not ("\n" not counted). */
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST,
				       J(doc, "{\"action\":\"abcdefg\"}"), 0, &lim, &err) == 0);
	CHECK_STR(line.data, "keep{\"action\":\"abcdefg\"}\n");
	CHECK(agentproto_encode_header(&line, AGENTPROTO_REQUEST,
				       J(doc, "{\"action\":\"abcdefgh\"}"), 0, &lim, &err) < 0);
	CHECK_STR(err.msg, "request header line longer than 20 bytes");
	CHECK_STR(line.data, "keep{\"action\":\"abcdefg\"}\n"); /* unchanged on failure */
	buf_release(&line);
	json_doc_free(doc);
}

/* ---- errors, each with its message ----------------------------------- */

struct error_case {
	enum agentproto_kind kind;
	const char *input;
	int code;
	const char *msg;
};

#define REQ AGENTPROTO_REQUEST
#define RESP AGENTPROTO_RESPONSE
#define USAGE PYRO_EXIT_USAGE
#define FAILURE PYRO_EXIT_FAILURE

static const struct error_case error_cases[] = {
	{ REQ, "\n", USAGE, "request header line is empty" },
	{ REQ, " \t\r\n", USAGE, "request header line is empty" },
	{ RESP, "\r\n", USAGE, "response header line is empty" },
	{ REQ, "{\"action\":\"a\"} x\n", USAGE,
	  "request header line: invalid JSON at line 1, column 16: trailing characters after the value" },
	{ REQ, "{\"action\":\"a\"}{}\n", USAGE,
	  "request header line: invalid JSON at line 1, column 15: trailing characters after the value" },
	{ REQ, "{\"action\":\"a\",}\n", USAGE,
	  "request header line: invalid JSON at line 1, column 15: trailing comma before '}'" },
	{ REQ, "{\"action\":\"a\",\"action\":\"b\"}\n", USAGE,
	  "request header line: invalid JSON at line 1, column 15: duplicate key \"action\"" },
	{ REQ, "{\"action\":\"\xff\"}\n", USAGE,
	  "request header line: invalid JSON at line 1, column 12: invalid UTF-8 in string: invalid byte (byte 0xff)" },
	{ REQ, "{\"action\":\"a\0\"}\n", USAGE, "" /* filled below: NUL raw byte */ },
	{ REQ, "[1]\n", USAGE, "request header must be a JSON object (got array)" },
	{ REQ, "\"exec\"\n", USAGE, "request header must be a JSON object (got string)" },
	{ REQ, "null\n", USAGE, "request header must be a JSON object (got null)" },
	{ RESP, "42\n", USAGE, "response header must be a JSON object (got number)" },
	{ REQ, "{}\n", USAGE, "request header has no \"action\"" },
	{ REQ, "{\"command\":\"ls\"}\n", USAGE, "request header has no \"action\"" },
	{ REQ, "{\"action\":1}\n", USAGE, "request \"action\" must be a string (got number)" },
	{ REQ, "{\"action\":null}\n", USAGE, "request \"action\" must be a string (got null)" },
	{ REQ, "{\"action\":[\"exec\"]}\n", USAGE, "request \"action\" must be a string (got array)" },
	{ REQ, "{\"action\":\"\"}\n", USAGE, "request \"action\" must not be empty" },
	{ REQ, "{\"action\":\"exec\\u0000x\"}\n", USAGE, "request \"action\" must not contain U+0000" },
	{ RESP, "{\"error\":{\"m\":1}}\n", USAGE, "response \"error\" must be a string (got object)" },
	{ RESP, "{\"error\":null}\n", USAGE, "response \"error\" must be a string (got null)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":\"3\"}\n", USAGE,
	  "request \"body_size\" must be an integer (got string)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":null}\n", USAGE,
	  "request \"body_size\" must be an integer (got null)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":true}\n", USAGE,
	  "request \"body_size\" must be an integer (got boolean)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":1.5}\n", USAGE,
	  "request \"body_size\" must be an integer (got 1.5)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":3.0}\n", USAGE,
	  "request \"body_size\" must be an integer (got 3)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":1e3}\n", USAGE,
	  "request \"body_size\" must be an integer (got 1000)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":-0.0}\n", USAGE,
	  "request \"body_size\" must be an integer (got -0)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":-1}\n", USAGE,
	  "request \"body_size\" must not be negative (got -1)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":-2.5}\n", USAGE,
	  "request \"body_size\" must not be negative (got -2.5)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":-99999999999999999999}\n", USAGE,
	  "request \"body_size\" must not be negative (got -1e+20)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":68719476737}\n", USAGE,
	  "request \"body_size\" 68719476737 exceeds the maximum of 68719476736 bytes" },
	{ REQ, "{\"action\":\"a\",\"body_size\":9223372036854775807}\n", USAGE,
	  "request \"body_size\" 9223372036854775807 exceeds the maximum of 68719476736 bytes" },
	{ RESP, "{\"body_size\":99999999999999999999}\n", USAGE,
	  "response \"body_size\" 1e+20 exceeds the maximum of 68719476736 bytes" },
	{ REQ, "{\"act", FAILURE,
	  "connection closed in the middle of a request header (5 bytes received)" },
	{ REQ, "{", FAILURE, "connection closed in the middle of a request header (1 byte received)" },
	{ REQ, " ", FAILURE, "connection closed in the middle of a request header (1 byte received)" },
	{ REQ, "{\"action\":\"a\"}\n{\"action\":\"b\"}", FAILURE,
	  "connection closed in the middle of a request header (14 bytes received)" },
	{ REQ, "{\"action\":\"a\",\"body_size\":10}\nabc", FAILURE,
	  "connection closed after 3 of 10 request body bytes" },
	{ RESP, "{\"body_size\":1}\n", FAILURE, "connection closed after 0 of 1 response body bytes" },
};

TEST(agentproto_every_error_has_its_message)
{
	for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
		const struct error_case *c = &error_cases[i];
		size_t len = strlen(c->input);
		const char *want = c->msg;
		if (!*want) { /* the raw NUL case: the input goes past the NUL */
			len = 16;
			want = "request header line: invalid JSON at line 1, column 13: unescaped "
			       "control character U+0000 in string";
		}
		struct buf out = BUF_INIT;
		transcribe(c->kind, NULL, c->input, len, NULL, 0, 0, 1, &out, NULL);
		char *e = strstr(out.data, "ERR(");
		char expect[1200];
		snprintf(expect, sizeof expect, "ERR(%d): %s", c->code, want);
		if (!e || strcmp(e, expect))
			test_fail_str(__FILE__, __LINE__, c->input, e ? e : out.data, expect);
		buf_release(&out);
	}
}

TEST(agentproto_body_limit_is_a_parameter)
{
	struct agentproto_limits lim = { .max_body = 3 };
	CHECK_STR(run_kind(REQ, &lim, "{\"action\":\"a\",\"body_size\":3}\nabc"),
		  "H{\"action\":\"a\",\"body_size\":3}\nabc\nE\nEOF");
	CHECK_STR(run_kind(REQ, &lim, "{\"action\":\"a\",\"body_size\":4}\nabcd"),
		  "ERR(2): request \"body_size\" 4 exceeds the maximum of 3 bytes");
	/* Capped at INT64_MAX. */
	struct agentproto_limits huge = { .max_body = UINT64_MAX };
	CHECK_STR(run_kind(RESP, &huge, "{\"body_size\":9223372036854775807}\n"),
		  "H{\"body_size\":9223372036854775807}\nERR(1): connection closed after 0 of "
		  "9223372036854775807 response body bytes");
	CHECK_STR(run_kind(RESP, &huge, "{\"body_size\":9223372036854775808}\n"),
		  "ERR(2): response \"body_size\" 9.22337e+18 exceeds the maximum of "
		  "9223372036854775807 bytes");
	/* Zero and absent are the same: no body. */
	CHECK_STR(run_req("{\"action\":\"a\",\"body_size\":0}\n{\"action\":\"b\",\"body_size\":-0}\n"),
		  "H{\"action\":\"a\",\"body_size\":0}\n\nE\nH{\"action\":\"b\",\"body_size\":0}\n\nE\nEOF");
}

TEST(agentproto_crlf_and_surrounding_whitespace_are_accepted)
{
	CHECK_STR(run_req("  {\"action\":\"a\"}\t\r\n"), "H{\"action\":\"a\"}\n\nE\nEOF");
}

TEST(agentproto_errors_are_final)
{
	struct agentproto_reader r;
	struct agentproto_event ev;
	struct pyro_err err;
	struct json_doc *doc = json_doc_new();
	agentproto_reader_init(&r, REQ, NULL);
	const char *in = "[]\n{\"action\":\"a\"}\n";
	CHECK(agentproto_feed(&r, doc, in, strlen(in), &ev, &err) < 0);
	CHECK_STR(err.msg, "request header must be a JSON object (got array)");
	CHECK(ev.used == 3);
	memset(&err, 0, sizeof err);
	CHECK(agentproto_feed(&r, doc, in + 3, strlen(in + 3), &ev, &err) < 0);
	CHECK_STR(err.msg, "request header must be a JSON object (got array)");
	CHECK(agentproto_feed(&r, doc, "", 0, &ev, &err) < 0);
	CHECK(agentproto_feed_eof(&r, &ev, &err) < 0);
	CHECK_STR(err.msg, "request header must be a JSON object (got array)");
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK(agentproto_reader_timeout(&r, &err) < 0);
	CHECK_STR(err.msg, "request header must be a JSON object (got array)");
	CHECK(!agentproto_reader_idle(&r));
	CHECK(agentproto_feed(&r, doc, in, 1, &ev, NULL) < 0); /* err may be NULL */
	agentproto_reader_release(&r);
	json_doc_free(doc);
}

TEST(agentproto_eof_between_frames_is_clean_and_repeatable)
{
	struct agentproto_reader r;
	struct agentproto_event ev;
	struct pyro_err err;
	struct json_doc *doc = json_doc_new();
	agentproto_reader_init(&r, REQ, NULL);
	CHECK(agentproto_reader_idle(&r));
	CHECK(agentproto_feed(&r, doc, "{\"action\":\"a\"}\n", 15, &ev, &err) == 0);
	CHECK(ev.type == AGENTPROTO_HEADER && ev.used == 15 && ev.body_size == 0);
	CHECK_STR(ev.action, "a");
	CHECK(agentproto_reader_idle(&r));
	/* The FRAME_END still due comes first, then EOF, then EOF again. */
	CHECK(agentproto_feed_eof(&r, &ev, &err) == 0 && ev.type == AGENTPROTO_FRAME_END);
	CHECK(agentproto_feed_eof(&r, &ev, &err) == 0 && ev.type == AGENTPROTO_EOF);
	CHECK(agentproto_feed_eof(&r, &ev, &err) == 0 && ev.type == AGENTPROTO_EOF);
	CHECK(agentproto_feed(&r, doc, "", 0, &ev, &err) == 0 && ev.type == AGENTPROTO_NEED_MORE);
	CHECK(agentproto_feed(&r, doc, "x", 1, &ev, &err) < 0);
	CHECK_STR(err.msg, "agentproto_feed: request data after the end of the stream");
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	agentproto_reader_release(&r);
	json_doc_free(doc);
}

TEST(agentproto_feed_without_doc_is_an_internal_error)
{
	struct agentproto_reader r;
	struct agentproto_event ev;
	struct pyro_err err;
	agentproto_reader_init(&r, REQ, NULL);
	CHECK(agentproto_feed(&r, NULL, "{\"act", 5, &ev, &err) == 0); /* no header yet: fine */
	CHECK(agentproto_feed(&r, NULL, "ion\":\"a\"}\n", 10, &ev, &err) < 0);
	CHECK_STR(err.msg, "agentproto_feed: no json_doc for the request header");
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	agentproto_reader_release(&r);
}

TEST(agentproto_timeout_messages_say_where)
{
	struct agentproto_reader r;
	struct agentproto_event ev;
	struct pyro_err err;
	struct json_doc *doc = json_doc_new();

	agentproto_reader_init(&r, RESP, NULL);
	CHECK(agentproto_reader_timeout(&r, &err) < 0);
	CHECK_STR(err.msg, "timed out waiting for a response");
	CHECK(err.code == PYRO_EXIT_TIMEOUT);
	agentproto_reader_release(&r);

	agentproto_reader_init(&r, REQ, NULL);
	CHECK(agentproto_feed(&r, doc, "{\"a", 3, &ev, &err) == 0);
	CHECK(!agentproto_reader_idle(&r));
	CHECK(agentproto_reader_timeout(&r, &err) < 0);
	CHECK_STR(err.msg, "timed out in the middle of a request header (3 bytes received)");
	agentproto_reader_release(&r);

	agentproto_reader_init(&r, RESP, NULL);
	CHECK(agentproto_feed(&r, doc, "{\"body_size\":5}\nab", 18, &ev, &err) == 0);
	CHECK(ev.type == AGENTPROTO_HEADER && ev.used == 16);
	CHECK(agentproto_feed(&r, doc, "ab", 2, &ev, &err) == 0 && ev.type == AGENTPROTO_BODY);
	CHECK(agentproto_reader_timeout(&r, &err) < 0);
	CHECK_STR(err.msg, "timed out after 2 of 5 response body bytes");
	agentproto_reader_release(&r);

	/* A caller's own error makes the reader fail for good. */
	struct pyro_err why;
	agentproto_reader_init(&r, REQ, NULL);
	pyro_err_set(&why, PYRO_EXIT_FAILURE, "disk full");
	CHECK(agentproto_reader_fail(&r, &why, &err) < 0);
	CHECK_STR(err.msg, "disk full");
	CHECK(agentproto_feed(&r, doc, "{", 1, &ev, &err) < 0);
	CHECK_STR(err.msg, "disk full");
	agentproto_reader_release(&r);
	agentproto_reader_init(&r, REQ, NULL);
	CHECK(agentproto_reader_fail(&r, NULL, &err) < 0);
	CHECK_STR(err.msg, "request stream failed");
	agentproto_reader_release(&r);
	json_doc_free(doc);
}

/* ---- chunking --------------------------------------------------------- */

static const char *const chunk_inputs[] = {
	"{\"action\":\"a\",\"body_size\":3}\nx\ny{\"action\":\"b\"}\n \r\n",
	"{\"action\":\"exec\"}\n{\"action\":\"w\",\"body_size\":1}\n\n{\"action\":\"é\"}\n",
	"{\"action\":\"a\",\"body_size\":2}\nab{\"act",
	"{\"action\":\"a\",\"body_size\":9}\nab",
	"{\"action\":\"a\"}\n[1,2]\n{\"action\":\"b\"}\n",
	"{\"action\":\"a\",\"s\":\"\\n\\u000a\"}\n",
	"{\"action\":\"a\"}\n{\"action\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}\n",
	"\n{\"action\":\"a\"}\n",
};

TEST(agentproto_chunking_never_changes_the_frames)
{
	struct agentproto_limits lim = { .max_header = 40 };
	struct buf whole = BUF_INIT, part = BUF_INIT;
	for (size_t k = 0; k < sizeof chunk_inputs / sizeof chunk_inputs[0]; k++) {
		const char *in = chunk_inputs[k];
		size_t len = strlen(in);
		for (int eof = 0; eof <= 1; eof++) {
			transcribe(REQ, &lim, in, len, NULL, 0, 0, eof, &whole, NULL);
			/* Every way of cutting the input in up to three pieces. */
			for (size_t i = 0; i <= len; i++)
				for (size_t j = i; j <= len; j++) {
					size_t cuts[2] = { i, j };
					transcribe(REQ, &lim, in, len, cuts, 2, 0, eof, &part, NULL);
					if (strcmp(part.data, whole.data))
						test_fail_str(__FILE__, __LINE__, in, part.data, whole.data);
					CHECK(part.len == whole.len && !memcmp(part.data, whole.data, part.len));
				}
			/* And one byte at a time, and every fixed chunk size. */
			for (size_t c = 1; c <= len; c++) {
				transcribe(REQ, &lim, in, len, NULL, 0, c, eof, &part, NULL);
				CHECK(part.len == whole.len && !memcmp(part.data, whole.data, part.len));
			}
		}
	}
	/* The first input gives two frames then an error at the blank line. */
	transcribe(REQ, &lim, chunk_inputs[0], strlen(chunk_inputs[0]), NULL, 0, 0, 1, &whole, NULL);
	CHECK_STR(whole.data, "H{\"action\":\"a\",\"body_size\":3}\nx\ny\nE\nH{\"action\":\"b\"}\n\nE\n"
			      "ERR(2): request header line is empty");
	transcribe(REQ, &lim, chunk_inputs[6], strlen(chunk_inputs[6]), NULL, 0, 0, 1, &whole, NULL);
	CHECK_STR(whole.data, "H{\"action\":\"a\"}\n\nE\nERR(2): request header line longer than 40 bytes");
	buf_release(&whole);
	buf_release(&part);
}

TEST(agentproto_every_split_of_a_small_frame_agrees)
{
	/* All 2^16 ways to cut these 17 bytes into chunks. */
	const char *in = "{\"body_size\":1}\nx";
	size_t len = strlen(in);
	struct buf whole = BUF_INIT, part = BUF_INIT;
	size_t cuts[17];
	transcribe(RESP, NULL, in, len, NULL, 0, 0, 1, &whole, NULL);
	CHECK_STR(whole.data, "H{\"body_size\":1}\nx\nE\nEOF");
	for (unsigned mask = 0; mask < (1u << (len - 1)); mask++) {
		size_t n = 0;
		for (size_t b = 0; b < len - 1; b++)
			if (mask & (1u << b))
				cuts[n++] = b + 1;
		transcribe(RESP, NULL, in, len, cuts, n, 0, 1, &part, NULL);
		CHECK(part.len == whole.len && !memcmp(part.data, whole.data, part.len));
	}
	buf_release(&whole);
	buf_release(&part);
}

TEST(agentproto_large_body_streams_in_input_sized_pieces)
{
	size_t body_len = (1u << 20) + 3, chunk = 4096;
	struct json_doc *doc = json_doc_new();
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct feed_stats st;
	CHECK(agentproto_encode_header(&in, REQ, J(doc, "{\"action\":\"extract_archive\"}"),
				       body_len, NULL, NULL) == 0);
	size_t head = in.len;
	CHECK(buf_reserve(&in, body_len + 32) == 0);
	for (size_t i = 0; i < body_len; i++)
		in.data[head + i] = (char)(i * 7 + (i >> 9));
	in.len = head + body_len;
	CHECK(buf_append_str(&in, "{\"action\":\"after\"}\n") == 0);
	transcribe(REQ, NULL, in.data, in.len, NULL, 0, chunk, 1, &out, &st);
	/* Pieces never exceed the input chunk: the body was not buffered. */
	CHECK(st.max_body_event <= chunk);
	CHECK(st.body_events >= body_len / chunk);
	const char *want = "H{\"action\":\"extract_archive\",\"body_size\":1048579}\n";
	CHECK(out.len == strlen(want) + body_len + strlen("\nE\nH{\"action\":\"after\"}\n\nE\nEOF"));
	CHECK(memcmp(out.data, want, strlen(want)) == 0);
	CHECK(memcmp(out.data + strlen(want), in.data + head, body_len) == 0);
	CHECK_STR(out.data + strlen(want) + body_len, "\nE\nH{\"action\":\"after\"}\n\nE\nEOF");
	buf_release(&in);
	buf_release(&out);
	json_doc_free(doc);
}

TEST(agentproto_back_to_back_frames_in_one_chunk)
{
	struct agentproto_reader r;
	struct agentproto_event ev;
	struct pyro_err err;
	struct json_doc *doc = json_doc_new();
	const char *in = "{\"action\":\"a\",\"body_size\":2}\nAB{\"action\":\"b\"}\n{\"action\":\"c\","
			 "\"body_size\":1}\nC{\"act";
	size_t len = strlen(in), off = 0;
	char seen[64] = "";
	agentproto_reader_init(&r, REQ, NULL);
	for (;;) {
		CHECK(agentproto_feed(&r, doc, in + off, len - off, &ev, &err) == 0);
		off += ev.used;
		if (ev.type == AGENTPROTO_NEED_MORE)
			break;
		if (ev.type == AGENTPROTO_HEADER)
			strcat(seen, ev.action);
		else if (ev.type == AGENTPROTO_BODY)
			strncat(seen, (const char *)ev.body, ev.body_len);
		else if (ev.type == AGENTPROTO_FRAME_END)
			strcat(seen, ";");
	}
	CHECK_STR(seen, "aAB;b;cC;");
	CHECK(off == len);
	CHECK(!agentproto_reader_idle(&r)); /* "{\"act" is buffered */
	agentproto_reader_release(&r);
	json_doc_free(doc);
}

/* ---- header length limit ---------------------------------------------- */

/* {"action":"a","pad":"xxx..."} of exactly n bytes (n >= 23). */
static void padded_header(struct buf *b, size_t n)
{
	buf_reset(b);
	buf_append_str(b, "{\"action\":\"a\",\"pad\":\"");
	while (b->len < n - 2)
		buf_append_char(b, 'x');
	buf_append_str(b, "\"}");
}

TEST(agentproto_header_of_exactly_the_maximum_passes_and_one_more_fails)
{
	struct buf line = BUF_INIT, out = BUF_INIT;
	struct agentproto_limits small = { .max_header = 64 };
	for (size_t c = 0; c <= 1; c++) {
		padded_header(&line, 64);
		CHECK(buf_append_char(&line, '\n') == 0);
		transcribe(REQ, &small, line.data, line.len, NULL, 0, c, 1, &out, NULL);
		CHECK(strncmp(out.data, "H{\"action\":\"a\"", 14) == 0);
		CHECK_CONTAINS(out.data, "\nE\nEOF");
		padded_header(&line, 65);
		CHECK(buf_append_char(&line, '\n') == 0);
		transcribe(REQ, &small, line.data, line.len, NULL, 0, c, 1, &out, NULL);
		CHECK_STR(out.data, "ERR(2): request header line longer than 64 bytes");
	}

	/* The default, 1 MiB, exactly and one past. */
	padded_header(&line, AGENTPROTO_DEFAULT_MAX_HEADER);
	CHECK(buf_append_char(&line, '\n') == 0);
	transcribe(REQ, NULL, line.data, line.len, NULL, 0, 4096, 1, &out, NULL);
	CHECK(strncmp(out.data, "H{\"action\":\"a\"", 14) == 0);
	CHECK_CONTAINS(out.data, "\nE\nEOF");
	padded_header(&line, AGENTPROTO_DEFAULT_MAX_HEADER + 1);
	CHECK(buf_append_char(&line, '\n') == 0);
	transcribe(REQ, NULL, line.data, line.len, NULL, 0, 4096, 1, &out, NULL);
	CHECK_STR(out.data, "ERR(2): request header line longer than 1048576 bytes");
	buf_release(&line);
	buf_release(&out);
}

TEST(agentproto_overlong_line_fails_without_waiting_for_a_newline)
{
	struct agentproto_limits small = { .max_header = 8 };
	struct agentproto_reader r;
	struct agentproto_event ev;
	struct pyro_err err;
	struct json_doc *doc = json_doc_new();
	agentproto_reader_init(&r, REQ, &small);
	CHECK(agentproto_feed(&r, doc, "12345678", 8, &ev, &err) == 0);
	CHECK(ev.type == AGENTPROTO_NEED_MORE && ev.used == 8);
	CHECK(agentproto_feed(&r, doc, "9abc", 4, &ev, &err) < 0);
	CHECK(ev.used == 1);
	CHECK_STR(err.msg, "request header line longer than 8 bytes");
	agentproto_reader_release(&r);
	/* And in one piece. */
	agentproto_reader_init(&r, REQ, &small);
	CHECK(agentproto_feed(&r, doc, "123456789abc", 12, &ev, &err) < 0);
	CHECK(ev.used == 9);
	agentproto_reader_release(&r);
	json_doc_free(doc);
}

/* ---- allocation failure ---------------------------------------------- */

TEST(agentproto_allocation_failures_are_clean)
{
	const char *in = "{\"action\":\"a\",\"x\":[1,2,{\"y\":\"zzzzzzzzzzzzzz\"}],\"body_size\":3}\nabc"
			 "{\"action\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}\n";
	struct buf want = BUF_INIT, got = BUF_INIT;
	transcribe(REQ, NULL, in, strlen(in), NULL, 0, 0, 1, &want, NULL);
	CHECK_CONTAINS(want.data, "EOF");
	size_t chunks[] = { 0, 1, 7 };
	for (size_t c = 0; c < 3; c++) {
		int completed = 0;
		for (long n = 1; n < 400 && !completed; n++) {
			/* got's own buffer grows before arming, so only the
			 * reader's and the docs' allocations can fail. */
			buf_reset(&got);
			CHECK(buf_reserve(&got, 4096) == 0);
			fault_arm(FAULT_ALLOC, n, ENOMEM);
			transcribe(REQ, NULL, in, strlen(in), NULL, 0, chunks[c], 1, &got, NULL);
			fault_disarm_all();
			if (!strcmp(got.data, want.data)) {
				completed = 1;
				break;
			}
			char *e = strstr(got.data, "ERR");
			if (!e)
				test_fail_str(__FILE__, __LINE__, "fault run", got.data, "an error");
			CHECK(e);
			if (!strstr(e, "no doc"))
				CHECK(strstr(e, "ERR(125): ") == e && strstr(e, "out of memory"));
		}
		CHECK(completed);
	}
	/* Encoding under allocation failure leaves the buffer as it was. */
	struct json_doc *doc = json_doc_new();
	struct json_value *h = J(doc, "{\"action\":\"a\",\"long\":\"0123456789012345678901234567890123456789\"}");
	for (long n = 1; n < 50; n++) {
		struct buf line = BUF_INIT;
		struct pyro_err err;
		fault_arm(FAULT_ALLOC, n, ENOMEM);
		int rc = agentproto_encode_header(&line, REQ, h, 5, NULL, &err);
		fault_disarm_all();
		if (rc == 0) {
			CHECK_CONTAINS(line.data, "\"body_size\":5}\n");
			buf_release(&line);
			break;
		}
		CHECK(line.len == 0);
		CHECK_STR(err.msg, "out of memory encoding a request header");
		CHECK(err.code == PYRO_EXIT_INTERNAL);
		buf_release(&line);
	}
	/* The error answer never allocates. */
	char errline[AGENTPROTO_ERROR_LINE_MAX];
	fault_arm(FAULT_ALLOC, 1, ENOMEM);
	CHECK(agentproto_format_error(errline, sizeof errline, "out of memory") > 0);
	fault_disarm_all();
	CHECK_STR(errline, "{\"error\":\"out of memory\"}\n");
	json_doc_free(doc);
	buf_release(&want);
	buf_release(&got);
}

/* ---- the error answer ------------------------------------------------- */

TEST(agentproto_error_answer_is_valid_json)
{
	char line[AGENTPROTO_ERROR_LINE_MAX];
	CHECK(agentproto_format_error(line, sizeof line, "boom") == strlen("{\"error\":\"boom\"}\n"));
	CHECK_STR(line, "{\"error\":\"boom\"}\n");
	agentproto_format_error(line, sizeof line, "q\"b\\n\nr\rt\tb\bf\f\x01\x1f\x7f é €");
	CHECK_STR(line, "{\"error\":\"q\\\"b\\\\n\\nr\\rt\\tb\\bf\\f\\u0001\\u001f\x7f é €\"}\n");
	/* Invalid UTF-8 (stray, overlong, surrogate, truncated) becomes U+FFFD. */
	agentproto_format_error(line, sizeof line, "a\x80" "b\xc0\xaf" "c\xed\xa0\x80" "d\xe2\x82");
	CHECK_STR(line, "{\"error\":\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffd\"}\n");
	agentproto_format_error(line, sizeof line, NULL);
	CHECK_STR(line, "{\"error\":\"\"}\n");
	CHECK(agentproto_format_error(line, 15, "x") == 0);

	/* The same as building {"error": msg} and encoding it. */
	struct json_doc *doc = json_doc_new();
	struct buf enc = BUF_INIT;
	const char *msg = "request \"action\" must be a string (got number)";
	struct json_value *resp = agentproto_error_response(doc, msg);
	CHECK(resp);
	CHECK(agentproto_encode_header(&enc, RESP, resp, 0, NULL, NULL) == 0);
	agentproto_format_error(line, sizeof line, msg);
	CHECK_STR(line, enc.data);
	CHECK_STR(run_resp(line), "H{\"error\":\"request \\\"action\\\" must be a string (got number)\"}"
				  "\n\nE\nEOF");

	/* A message of the longest kind, all escapes, fits untruncated. */
	char worst[PYRO_ERR_MSG_MAX];
	memset(worst, 0x01, sizeof worst - 1);
	worst[sizeof worst - 1] = '\0';
	size_t n = agentproto_format_error(line, sizeof line, worst);
	CHECK(n == 10 + 6 * (PYRO_ERR_MSG_MAX - 1) + 3);

	/* Cut short anywhere, it stays valid JSON with a prefix of the text. */
	const char *text = "ab\"c\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n\xff z";
	for (size_t cap = 16; cap < 80; cap++) {
		char small[80];
		size_t len = agentproto_format_error(small, cap, text);
		CHECK(len > 0 && len < cap && small[len] == '\0' && small[len - 1] == '\n');
		struct json_value *v = NULL;
		CHECK(json_parse(doc, small, len, NULL, &v, NULL) == 0);
		const char *e = agentproto_response_error(v);
		CHECK(e);
		CHECK(strncmp(e, "ab\"c\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n", strlen(e) < 14 ? strlen(e) : 14) == 0);
	}
	buf_release(&enc);
	json_doc_free(doc);
}

/* ---- writers and the blocking reader ---------------------------------- */

static int sockpair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

TEST(agentproto_stream_reads_frames_back_to_back_then_eof)
{
	int sv[2];
	CHECK(sockpair(sv) == 0);
	struct json_doc *doc = json_doc_new();
	struct pyro_err err;
	int64_t dl = agentproto_deadline(5000);
	CHECK(agentproto_write_frame(sv[1], REQ, J(doc, "{\"action\":\"write_workspace_file\"}"),
				     "hello", 5, NULL, dl, &err) == 0);
	CHECK(agentproto_write_frame(sv[1], REQ, J(doc, "{\"action\":\"hello\"}"), NULL, 0, NULL, dl,
				     &err) == 0);
	CHECK(agentproto_write_header(sv[1], REQ, J(doc, "{\"action\":\"x\"}"), 3, NULL, dl, &err) == 0);
	CHECK(agentproto_write_all(sv[1], "abc", 3, dl, &err) == 0);
	close(sv[1]);

	struct agentproto_stream s;
	struct json_value *h;
	uint64_t size;
	struct buf body = BUF_INIT;
	agentproto_stream_init(&s, sv[0], REQ, NULL);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, agentproto_sink_buf, &body, dl, &err) == 1);
	CHECK_STR(json_get_str(h, "action"), "write_workspace_file");
	CHECK(size == 5);
	CHECK_STR(body.data, "hello");
	CHECK(agentproto_stream_read(&s, doc, &h, &size, agentproto_sink_buf, &body, dl, &err) == 1);
	CHECK_STR(json_get_str(h, "action"), "hello");
	CHECK(size == 0);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, dl, &err) == 1);
	CHECK_STR(json_get_str(h, "action"), "x");
	CHECK_STR(body.data, "hello"); /* a NULL sink drops the body */
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, dl, &err) == 0);
	CHECK(h == NULL && size == 0);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, dl, &err) == 0);
	agentproto_stream_release(&s);
	buf_release(&body);
	json_doc_free(doc);
	close(sv[0]);
}

TEST(agentproto_stream_deadline_fires_on_half_a_frame)
{
	int sv[2];
	CHECK(sockpair(sv) == 0);
	struct json_doc *doc = json_doc_new();
	struct pyro_err err;
	struct agentproto_stream s;
	struct json_value *h;
	uint64_t size;

	/* Nothing at all. */
	agentproto_stream_init(&s, sv[0], RESP, NULL);
	int64_t t0 = agentproto_deadline(0);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, agentproto_deadline(50), &err) < 0);
	CHECK_STR(err.msg, "timed out waiting for a response");
	CHECK(err.code == PYRO_EXIT_TIMEOUT);
	agentproto_stream_release(&s);

	/* Half a header: the peer stops sending but keeps the socket open. */
	CHECK(write(sv[1], "{\"action\":\"ex", 13) == 13);
	agentproto_stream_init(&s, sv[0], REQ, NULL);
	t0 = agentproto_deadline(0);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, agentproto_deadline(150), &err) < 0);
	int64_t took = agentproto_deadline(0) - t0;
	CHECK(took >= 150 && took < 3000);
	CHECK_STR(err.msg, "timed out in the middle of a request header (13 bytes received)");
	CHECK(err.code == PYRO_EXIT_TIMEOUT);
	/* Final: no waiting the second time. */
	t0 = agentproto_deadline(0);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, agentproto_deadline(1000), &err) < 0);
	CHECK(agentproto_deadline(0) - t0 < 500);
	CHECK_STR(err.msg, "timed out in the middle of a request header (13 bytes received)");
	agentproto_stream_release(&s);

	/* Half a body. */
	int sv2[2];
	CHECK(sockpair(sv2) == 0);
	CHECK(write(sv2[1], "{\"body_size\":10}\nabcd", 21) == 21);
	agentproto_stream_init(&s, sv2[0], RESP, NULL);
	struct buf body = BUF_INIT;
	CHECK(agentproto_stream_read(&s, doc, &h, &size, agentproto_sink_buf, &body,
				     agentproto_deadline(100), &err) < 0);
	CHECK_STR(err.msg, "timed out after 4 of 10 response body bytes");
	CHECK(size == 10 && h != NULL);
	CHECK_STR(body.data, "abcd");
	agentproto_stream_release(&s);
	buf_release(&body);

	close(sv[0]);
	close(sv[1]);
	close(sv2[0]);
	close(sv2[1]);
	json_doc_free(doc);
}

TEST(agentproto_stream_peer_closing_mid_body_is_a_clean_error)
{
	int sv[2];
	CHECK(sockpair(sv) == 0);
	CHECK(write(sv[1], "{\"body_size\":10}\nabc", 20) == 20);
	close(sv[1]);
	struct json_doc *doc = json_doc_new();
	struct pyro_err err;
	struct agentproto_stream s;
	struct json_value *h;
	uint64_t size;
	struct buf body = BUF_INIT;
	agentproto_stream_init(&s, sv[0], RESP, NULL);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, agentproto_sink_buf, &body,
				     agentproto_deadline(2000), &err) < 0);
	CHECK_STR(err.msg, "connection closed after 3 of 10 response body bytes");
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_STR(body.data, "abc");
	agentproto_stream_release(&s);
	buf_release(&body);
	json_doc_free(doc);
	close(sv[0]);
}

TEST(agentproto_stream_streams_a_large_body_to_a_file)
{
	int sv[2];
	CHECK(sockpair(sv) == 0);
	size_t body_len = 3 * AGENTPROTO_STREAM_CHUNK + 1234;
	char *body = malloc(body_len);
	CHECK(body);
	for (size_t i = 0; i < body_len; i++)
		body[i] = (char)(i % 251);
	struct json_doc *doc = json_doc_new();
	struct json_value *hdr = J(doc, "{\"workspace_path\":\"/workspace\",\"artifact_type\":\"directory\"}");
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		int rc = agentproto_write_frame(sv[1], RESP, hdr, body, body_len, NULL,
						agentproto_deadline(10000), NULL);
		rc |= agentproto_write_error(sv[1], "after the body", agentproto_deadline(10000), NULL);
		_exit(rc ? 1 : 0);
	}
	close(sv[1]);
	char path[512];
	snprintf(path, sizeof path, "%s/archive.tar", test_tmpdir());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	struct agentproto_stream s;
	struct json_value *h;
	uint64_t size;
	struct pyro_err err;
	agentproto_stream_init(&s, sv[0], RESP, NULL);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, agentproto_sink_fd, &fd,
				     agentproto_deadline(10000), &err) == 1);
	CHECK(size == body_len);
	CHECK_STR(json_get_str(h, "artifact_type"), "directory");
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, agentproto_deadline(10000),
				     &err) == 1);
	CHECK_STR(agentproto_response_error(h), "after the body");
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, agentproto_deadline(10000),
				     &err) == 0);
	close(fd);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct buf back = BUF_INIT;
	CHECK(buf_read_file(&back, path) == 0);
	CHECK(back.len == body_len && memcmp(back.data, body, body_len) == 0);
	buf_release(&back);
	agentproto_stream_release(&s);
	json_doc_free(doc);
	free(body);
	close(sv[0]);
}

TEST(agentproto_stream_sink_failures_and_read_faults_are_final)
{
	int sv[2];
	CHECK(sockpair(sv) == 0);
	CHECK(write(sv[1], "{\"body_size\":10}\n0123456789{}\n", 30) == 30);
	struct json_doc *doc = json_doc_new();
	struct pyro_err err;
	struct agentproto_stream s;
	struct json_value *h;
	uint64_t size;
	struct buf small;
	buf_init(&small, 4);
	agentproto_stream_init(&s, sv[0], RESP, NULL);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, agentproto_sink_buf, &small,
				     agentproto_deadline(1000), &err) < 0);
	CHECK_STR(err.msg, "body longer than 4 bytes");
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, agentproto_deadline(1000), &err) < 0);
	CHECK_STR(err.msg, "body longer than 4 bytes");
	agentproto_stream_release(&s);
	buf_release(&small);

	/* A read error. */
	CHECK(write(sv[1], "{}\n", 3) == 3);
	agentproto_stream_init(&s, sv[0], RESP, NULL);
	fault_arm(FAULT_READ, 1, EIO);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, agentproto_deadline(1000), &err) < 0);
	fault_disarm_all();
	char want_eio[128];
	snprintf(want_eio, sizeof want_eio, "reading a response: %s", strerror(EIO));
	CHECK_STR(err.msg, want_eio);
	CHECK(err.sys_errno == EIO);
	agentproto_stream_release(&s);

	/* EINTR is retried; the read-ahead allocation can fail cleanly. */
	agentproto_stream_init(&s, sv[0], RESP, NULL);
	fault_arm(FAULT_ALLOC, 1, ENOMEM);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, agentproto_deadline(1000), &err) < 0);
	fault_disarm_all();
	CHECK_STR(err.msg, "out of memory reading a response");
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	agentproto_stream_release(&s);
	agentproto_stream_init(&s, sv[0], RESP, NULL);
	fault_arm(FAULT_READ, 1, EINTR);
	CHECK(agentproto_stream_read(&s, doc, &h, &size, NULL, NULL, agentproto_deadline(1000), &err) == 1);
	fault_disarm_all();
	agentproto_stream_release(&s);

	/* The file sink reports write errors. */
	int bad = -1;
	CHECK(agentproto_sink_fd(&bad, "x", 1, &err) < 0);
	snprintf(want_eio, sizeof want_eio, "writing a body: %s", strerror(EBADF));
	CHECK_STR(err.msg, want_eio);
	json_doc_free(doc);
	close(sv[0]);
	close(sv[1]);
}

TEST(agentproto_write_all_retries_and_honours_its_deadline)
{
	int sv[2];
	struct pyro_err err;
	CHECK(sockpair(sv) == 0);
	/* EINTR is retried. */
	fault_arm(FAULT_WRITE, 1, EINTR);
	CHECK(agentproto_write_all(sv[1], "abc", 3, agentproto_deadline(1000), &err) == 0);
	fault_disarm_all();
	char got[4] = "";
	CHECK(read(sv[0], got, 3) == 3);
	CHECK_STR(got, "abc");
	/* Other errors are reported with what was written. */
	fault_arm(FAULT_WRITE, 1, EPIPE);
	CHECK(agentproto_write_error(sv[1], "x", agentproto_deadline(1000), &err) < 0);
	fault_disarm_all();
	char want[128];
	snprintf(want, sizeof want, "writing to the peer (0 of 14 bytes written): %s", strerror(EPIPE));
	CHECK_STR(err.msg, want);
	CHECK(err.sys_errno == EPIPE);
	/* A non-blocking fd whose peer does not read: the deadline fires. */
	CHECK(fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK) == 0);
	size_t big = 8 << 20;
	char *data = calloc(1, big);
	CHECK(data);
	int64_t t0 = agentproto_deadline(0);
	CHECK(agentproto_write_all(sv[1], data, big, agentproto_deadline(100), &err) < 0);
	int64_t took = agentproto_deadline(0) - t0;
	CHECK(took >= 100 && took < 3000);
	CHECK(err.code == PYRO_EXIT_TIMEOUT);
	CHECK(strncmp(err.msg, "timed out writing to the peer (", 31) == 0);
	CHECK_CONTAINS(err.msg, " of 8388608 bytes written)");
	free(data);
	/* A peer that is gone: EPIPE, not a signal, when SIGPIPE is ignored. */
	close(sv[0]);
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	CHECK(agentproto_write_all(sv[1], "x", 1, agentproto_deadline(100), &err) < 0);
	signal(SIGPIPE, old);
	CHECK(err.sys_errno == EPIPE);
	close(sv[1]);
	CHECK(agentproto_deadline(-1) == AGENTPROTO_NO_DEADLINE);
}

TEST(agentproto_stream_pull_reads_bodies_in_caller_sized_pieces)
{
	int sv[2];
	CHECK(sockpair(sv) == 0);
	struct json_doc *doc = json_doc_new();
	struct pyro_err err;
	int64_t dl = agentproto_deadline(5000);
	CHECK(agentproto_write_frame(sv[1], REQ, J(doc, "{\"action\":\"a\"}"), "0123456789", 10, NULL,
				     dl, &err) == 0);
	CHECK(agentproto_write_frame(sv[1], REQ, J(doc, "{\"action\":\"b\"}"), "skipped", 7, NULL, dl,
				     &err) == 0);
	CHECK(agentproto_write_frame(sv[1], REQ, J(doc, "{\"action\":\"c\"}"), NULL, 0, NULL, dl,
				     &err) == 0);
	CHECK(agentproto_write_header(sv[1], REQ, J(doc, "{\"action\":\"d\"}"), 4, NULL, dl, &err) == 0);
	CHECK(write(sv[1], "xy", 2) == 2);
	close(sv[1]);

	struct agentproto_stream s;
	struct json_value *h;
	uint64_t size;
	char piece[4];
	char got[32] = "";
	agentproto_stream_init(&s, sv[0], REQ, NULL);
	CHECK(agentproto_stream_header(&s, doc, &h, &size, dl, &err) == 1);
	CHECK_STR(json_get_str(h, "action"), "a");
	CHECK(size == 10);
	for (;;) {
		ssize_t n = agentproto_stream_body(&s, piece, 3, dl, &err);
		CHECK(n >= 0 && n <= 3);
		if (n == 0)
			break;
		strncat(got, piece, (size_t)n);
	}
	CHECK_STR(got, "0123456789");
	/* b's body is never pulled: the next header read drops it. */
	CHECK(agentproto_stream_header(&s, doc, &h, &size, dl, &err) == 1);
	CHECK_STR(json_get_str(h, "action"), "b");
	CHECK(agentproto_stream_header(&s, doc, &h, &size, dl, &err) == 1);
	CHECK_STR(json_get_str(h, "action"), "c");
	CHECK(agentproto_stream_body(&s, piece, sizeof piece, dl, &err) == 0);
	CHECK(agentproto_stream_body(&s, piece, sizeof piece, dl, &err) < 0);
	CHECK_CONTAINS(err.msg, "no frame body pending");
	CHECK(agentproto_stream_header(&s, doc, &h, &size, dl, &err) == 1);
	CHECK_STR(json_get_str(h, "action"), "d");
	CHECK(agentproto_stream_body(&s, piece, sizeof piece, dl, &err) == 2);
	CHECK(agentproto_stream_body(&s, piece, sizeof piece, dl, &err) < 0);
	CHECK_STR(err.msg, "connection closed after 2 of 4 request body bytes");
	agentproto_stream_release(&s);
	json_doc_free(doc);
	close(sv[0]);
}
