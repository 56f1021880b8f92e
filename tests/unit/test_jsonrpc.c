/* Tests for core/jsonrpc.c: line framing (every split position, CRLF, blank
 * lines, the size limit and oversize lines, EOF, misuse, allocation
 * failure), classification of every kind and every error with its exact
 * code and message, ids, progress tokens, and the builders' exact bytes. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/fault.h"
#include "../../core/jsonrpc.h"
#include "test.h"

/* ---- helpers --------------------------------------------------------- */

/* Feed in[0..len) to a fresh reader and write what it reported into out:
 * "L:<line>|" per line, "O|" per oversize event, "E|" at the end when eof.
 * Chunks are cut at cuts[] (increasing positions) or, without cuts, every
 * `chunk` bytes (0: all at once). Returns -1 when the reader broke one of
 * its promises (a line too long, blank, holding "\n", unconsumed input
 * before a feed, more than max_line + 1 bytes buffered). */
static int transcribe(size_t max_line, const char *in, size_t len, const size_t *cuts,
		      size_t ncuts, size_t chunk, bool eof, struct buf *out)
{
	struct jsonrpc_reader r;
	size_t pos = 0, cut = 0;
	int bad = 0;
	jsonrpc_reader_init(&r, max_line);
	buf_reset(out);
	for (;;) {
		bool last;
		size_t n;
		if (cuts) {
			n = (cut < ncuts ? cuts[cut++] : len) - pos;
			last = pos + n == len && cut >= ncuts;
		} else {
			n = chunk && chunk < len - pos ? chunk : len - pos;
			last = pos + n == len;
		}
		if (jsonrpc_reader_feed(&r, in + pos, n) < 0)
			bad = 1;
		pos += n;
		if (last && eof)
			jsonrpc_reader_eof(&r);
		for (;;) {
			const char *line;
			size_t l;
			int ev = jsonrpc_reader_next(&r, &line, &l);
			if (r.part.len > r.max_line + 1)
				bad = 1;
			if (ev == JSONRPC_READ_AGAIN || ev == JSONRPC_READ_EOF || ev < 0) {
				if (ev == JSONRPC_READ_EOF)
					buf_append_str(out, "E|");
				if (ev < 0)
					bad = 1;
				break;
			}
			if (ev == JSONRPC_READ_OVERSIZE) {
				buf_append_str(out, "O|");
				continue;
			}
			size_t k = 0;
			while (k < l && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
				k++;
			if (l == 0 || l > r.max_line || memchr(line, '\n', l) || k == l)
				bad = 1;
			buf_append_str(out, "L:");
			buf_append(out, line, l);
			buf_append_char(out, '|');
		}
		if (last || bad)
			break;
	}
	jsonrpc_reader_release(&r);
	return bad ? -1 : 0;
}

static char seen[4096];

/* The transcript of `in` fed whole. */
static const char *frames(size_t max_line, const char *in, bool eof)
{
	struct buf b = BUF_INIT;
	if (transcribe(max_line, in, strlen(in), NULL, 0, 0, eof, &b) < 0)
		snprintf(seen, sizeof seen, "BROKEN PROMISE: %s", b.data);
	else
		snprintf(seen, sizeof seen, "%s", b.data);
	buf_release(&b);
	return seen;
}

/* Feeding `in` split at every position (two pieces), at every pair of
 * positions (three pieces) and byte by byte gives the same transcript as
 * feeding it whole. */
static int split_invariant(size_t max_line, const char *in, bool eof)
{
	size_t len = strlen(in);
	struct buf whole = BUF_INIT, part = BUF_INIT;
	int ok = transcribe(max_line, in, len, NULL, 0, 0, eof, &whole) == 0;
	for (size_t i = 0; ok && i <= len; i++) {
		size_t cuts[1] = { i };
		ok = transcribe(max_line, in, len, cuts, 1, 0, eof, &part) == 0 &&
		     part.len == whole.len && memcmp(part.data, whole.data, whole.len) == 0;
		for (size_t j = i; ok && j <= len; j++) {
			size_t cuts2[2] = { i, j };
			ok = transcribe(max_line, in, len, cuts2, 2, 0, eof, &part) == 0 &&
			     part.len == whole.len &&
			     memcmp(part.data, whole.data, whole.len) == 0;
		}
	}
	if (ok)
		ok = transcribe(max_line, in, len, NULL, 0, 1, eof, &part) == 0 &&
		     part.len == whole.len && memcmp(part.data, whole.data, whole.len) == 0;
	buf_release(&whole);
	buf_release(&part);
	return ok;
}

static const char *kind_name(enum jsonrpc_kind k)
{
	switch (k) {
	case JSONRPC_REQUEST:
		return "REQUEST";
	case JSONRPC_NOTIFICATION:
		return "NOTIFICATION";
	case JSONRPC_RESPONSE:
		return "RESPONSE";
	case JSONRPC_BATCH:
		return "BATCH";
	default:
		return "INVALID";
	}
}

static char desc[2048];

/* "KIND id=.. method=.. params=<type> progress=.. result=.. error=.." and,
 * for INVALID and BATCH, " CODE: message". Checks the invariants every
 * classification keeps, and says so when one broke. */
static const char *classify_len(const char *text, size_t len)
{
	struct json_doc *doc = json_doc_new();
	struct jsonrpc_msg m;
	struct pyro_err err = { 0 };
	struct buf b = BUF_INIT;
	if (!doc)
		return "no doc";
	int rc = jsonrpc_parse(doc, text, len, &m, &err);
	if (rc)
		buf_printf(&b, "rc=%d ", rc);
	buf_append_str(&b, kind_name(m.kind));
	if (m.id) {
		buf_append_str(&b, " id=");
		json_emit(&b, m.id, 0);
	}
	if (m.method)
		buf_printf(&b, " method=%s", m.method);
	if (m.params)
		buf_printf(&b, " params=%s", json_type_name(m.params->type));
	if (m.progress_token) {
		buf_append_str(&b, " progress=");
		json_emit(&b, m.progress_token, 0);
	}
	if (m.result) {
		buf_append_str(&b, " result=");
		json_emit(&b, m.result, 0);
	}
	if (m.error) {
		buf_append_str(&b, " error=");
		json_emit(&b, m.error, 0);
	}
	if (m.kind == JSONRPC_INVALID || m.kind == JSONRPC_BATCH)
		buf_printf(&b, " %d: %s", m.code, m.message);
	bool broken = false;
	if (m.kind == JSONRPC_INVALID)
		broken = (m.code != JSONRPC_PARSE_ERROR && m.code != JSONRPC_INVALID_REQUEST) ||
			 (m.code == JSONRPC_PARSE_ERROR) != (m.root == NULL) || m.method ||
			 m.params || m.result || m.error || m.progress_token;
	else if (m.kind == JSONRPC_BATCH)
		broken = m.code != JSONRPC_INVALID_REQUEST || m.id || !m.root;
	else
		broken = m.code != 0 || m.message[0] || !m.root;
	if (m.kind == JSONRPC_REQUEST)
		broken |= !jsonrpc_id_valid(m.id);
	if (m.kind == JSONRPC_NOTIFICATION)
		broken |= m.id != NULL;
	if (m.id && !jsonrpc_id_valid(m.id))
		broken = true;
	snprintf(desc, sizeof desc, "%s%s", broken ? "BROKEN " : "", b.data);
	buf_release(&b);
	json_doc_free(doc);
	return desc;
}

static const char *classify(const char *text)
{
	return classify_len(text, strlen(text));
}

static struct json_value *jv(struct json_doc *doc, const char *text)
{
	struct json_value *v = NULL;
	struct pyro_err err;
	if (json_parse(doc, text, strlen(text), NULL, &v, &err) < 0)
		return NULL;
	return v;
}

/* ---- framing ---------------------------------------------------------- */

TEST(jsonrpc_reader_lines)
{
	CHECK_STR(frames(0, "{\"a\":1}\n[2]\n", false), "L:{\"a\":1}|L:[2]|");
	CHECK_STR(frames(0, "{}\n", true), "L:{}|E|");
	CHECK_STR(frames(0, "", false), "");
	CHECK_STR(frames(0, "", true), "E|");
	/* A partial line waits; at EOF it is delivered. */
	CHECK_STR(frames(0, "{}\n{\"x\"", false), "L:{}|");
	CHECK_STR(frames(0, "{}\n{\"x\"", true), "L:{}|L:{\"x\"|E|");
}

TEST(jsonrpc_reader_crlf_and_blank_lines)
{
	CHECK_STR(frames(0, "a\r\nb\r\n", false), "L:a|L:b|");
	/* Only the one "\r" before "\n" goes; others belong to the line. */
	CHECK_STR(frames(0, "a\r\r\n", false), "L:a\r|");
	CHECK_STR(frames(0, "\ra\n", false), "L:\ra|");
	CHECK_STR(frames(0, "a\rb\n", false), "L:a\rb|");
	/* Empty and whitespace-only lines are skipped. */
	CHECK_STR(frames(0, "\n\n\r\n \t \r\n{}\n\n", false), "L:{}|");
	CHECK_STR(frames(0, " {} \n", false), "L: {} |");
	/* At EOF: a last "\r" goes too, a blank rest is nothing. */
	CHECK_STR(frames(0, "{}\r", true), "L:{}|E|");
	CHECK_STR(frames(0, "{}\n \r", true), "L:{}|E|");
	CHECK_STR(frames(0, "\r", true), "E|");
}

TEST(jsonrpc_reader_split_everywhere)
{
	const char *in = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n\n  \r\n"
			 "[1]\n\r\n{\"x\":\"y\"}\nlast";
	CHECK(split_invariant(0, in, false));
	CHECK(split_invariant(0, in, true));
	CHECK_STR(frames(0, in, true),
		  "L:{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}|L:[1]|L:{\"x\":\"y\"}|L:last|E|");
	/* With a limit that some of the lines pass. */
	const char *lim = "12345678\n123456789\n1234567\r\n12345678\r\nabcdefghij\r\nok\nxxxxxxxxxxxxxxxxxxxxxxx";
	CHECK(split_invariant(8, lim, false));
	CHECK(split_invariant(8, lim, true));
	CHECK_STR(frames(8, lim, true), "L:12345678|O|L:1234567|L:12345678|O|L:ok|O|E|");
}

TEST(jsonrpc_reader_line_at_limit)
{
	/* Exactly max_line bytes of content: LF or CRLF. */
	CHECK_STR(frames(8, "12345678\n", false), "L:12345678|");
	CHECK_STR(frames(8, "12345678\r\n", false), "L:12345678|");
	CHECK_STR(frames(8, "1234567\r\r\n", false), "L:1234567\r|");
	/* One more is too long, however it ends. */
	CHECK_STR(frames(8, "123456789\n", false), "O|");
	CHECK_STR(frames(8, "123456789\r\n", false), "O|");
	CHECK_STR(frames(8, "12345678\r\r\n", false), "O|");
	CHECK_STR(frames(8, "12345678\rx\n{}\n", false), "O|L:{}|");
	CHECK_STR(frames(1, "1\n2\r\n\r\n34\n5\n", false), "L:1|L:2|O|L:5|");
	/* At EOF too. */
	CHECK_STR(frames(8, "12345678", true), "L:12345678|E|");
	CHECK_STR(frames(8, "12345678\r", true), "L:12345678|E|");
	CHECK_STR(frames(8, "123456789", true), "O|E|");
}

TEST(jsonrpc_reader_oversize_then_good_line)
{
	struct jsonrpc_reader r;
	const char *line;
	size_t len;
	jsonrpc_reader_init(&r, 8);
	/* Reported as soon as the ninth byte is in, without waiting for "\n". */
	CHECK(jsonrpc_reader_feed(&r, "123456789", 9) == 0);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_OVERSIZE);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_AGAIN);
	/* The rest is dropped, unbuffered, however long, and reported once. */
	char junk[1000];
	memset(junk, 'x', sizeof junk);
	for (int i = 0; i < 100; i++) {
		CHECK(jsonrpc_reader_feed(&r, junk, sizeof junk) == 0);
		CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_AGAIN);
		CHECK(r.part.len == 0 && r.part.cap == 0);
	}
	const char *tail = "xx\r\n{\"id\":1}\n";
	CHECK(jsonrpc_reader_feed(&r, tail, strlen(tail)) == 0);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_LINE);
	CHECK(len == 8 && memcmp(line, "{\"id\":1}", 8) == 0);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_AGAIN);
	/* Two oversize lines in a row are two events. */
	CHECK(jsonrpc_reader_feed(&r, "123456789\nabcdefghi\nok\n", 23) == 0);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_OVERSIZE);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_OVERSIZE);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_LINE);
	CHECK(len == 2 && memcmp(line, "ok", 2) == 0);
	/* EOF in the middle of a dropped line: only EOF. */
	CHECK(jsonrpc_reader_feed(&r, "123456789012", 12) == 0);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_OVERSIZE);
	jsonrpc_reader_eof(&r);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_EOF);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_EOF);
	jsonrpc_reader_release(&r);
}

TEST(jsonrpc_reader_default_limit)
{
	size_t max = JSONRPC_DEFAULT_MAX_LINE;
	char *big = malloc(max + 3);
	CHECK(big);
	memset(big, ' ', max + 2);
	big[0] = '"';
	big[max - 1] = '"';
	big[max] = '\n';
	struct jsonrpc_reader r;
	const char *line;
	size_t len;
	jsonrpc_reader_init(&r, 0);
	CHECK(r.max_line == max);
	/* In two pieces, so the reader assembles it: exactly at the limit. */
	CHECK(jsonrpc_reader_feed(&r, big, max / 2) == 0);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_AGAIN);
	CHECK(jsonrpc_reader_feed(&r, big + max / 2, max + 1 - max / 2) == 0);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_LINE);
	CHECK(len == max && line[0] == '"' && line[max - 1] == '"');
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_AGAIN);
	/* The large buffer is let go once the line is through. */
	CHECK(r.part.cap == 0);
	/* One byte more is oversize. */
	big[max] = ' ';
	big[max + 1] = '\n';
	CHECK(jsonrpc_reader_feed(&r, big, max + 2) == 0);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_OVERSIZE);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_AGAIN);
	jsonrpc_reader_release(&r);
	free(big);
}

TEST(jsonrpc_reader_zero_copy)
{
	struct jsonrpc_reader r;
	const char *line;
	size_t len;
	const char *in = "{}\n[1]\r\n";
	jsonrpc_reader_init(&r, 0);
	CHECK(jsonrpc_reader_feed(&r, in, strlen(in)) == 0);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_LINE);
	CHECK(line == in && len == 2);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_LINE);
	CHECK(line == in + 3 && len == 3);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_AGAIN);
	CHECK(r.part.cap == 0);
	jsonrpc_reader_release(&r);
}

TEST(jsonrpc_reader_misuse)
{
	struct jsonrpc_reader r;
	const char *line;
	size_t len;
	jsonrpc_reader_init(&r, 0);
	CHECK(jsonrpc_reader_feed(&r, "a\nb\n", 4) == 0);
	errno = 0;
	CHECK(jsonrpc_reader_feed(&r, "c\n", 2) == -1 && errno == EBUSY);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_LINE);
	CHECK(jsonrpc_reader_feed(&r, "c\n", 2) == -1 && errno == EBUSY);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_LINE);
	CHECK(len == 1 && line[0] == 'b');
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_AGAIN);
	CHECK(jsonrpc_reader_feed(&r, NULL, 0) == 0);
	CHECK(jsonrpc_reader_feed(&r, NULL, 1) == -1 && errno == EINVAL);
	jsonrpc_reader_eof(&r);
	CHECK(jsonrpc_reader_feed(&r, "c\n", 2) == -1 && errno == EINVAL);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_EOF);
	CHECK(line == NULL && len == 0);
	jsonrpc_reader_release(&r);
}

TEST(jsonrpc_reader_alloc_failure)
{
	struct jsonrpc_reader r;
	const char *line;
	size_t len;
	jsonrpc_reader_init(&r, 0);
	CHECK(jsonrpc_reader_feed(&r, "{\"a\"", 4) == 0);
	fault_arm(FAULT_ALLOC, 1, ENOMEM);
	errno = 0;
	int ev = jsonrpc_reader_next(&r, &line, &len);
	fault_disarm_all();
	CHECK(ev == -1 && errno == ENOMEM);
	/* Nothing was consumed: a retry goes on. */
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_AGAIN);
	CHECK(jsonrpc_reader_feed(&r, ":1}\n", 4) == 0);
	CHECK(jsonrpc_reader_next(&r, &line, &len) == JSONRPC_READ_LINE);
	CHECK(len == 7 && memcmp(line, "{\"a\":1}", 7) == 0);
	jsonrpc_reader_release(&r);
}

/* ---- classification ---------------------------------------------------- */

TEST(jsonrpc_requests)
{
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
			   "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
			   "\"clientInfo\":{\"name\":\"c\",\"version\":\"1\"}}}"),
		  "REQUEST id=1 method=initialize params=object");
	CHECK_STR(classify("{\"method\":\"tools/list\",\"jsonrpc\":\"2.0\",\"id\":\"a\"}"),
		  "REQUEST id=\"a\" method=tools/list");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"x\",\"params\":[1,2]}"),
		  "REQUEST id=2 method=x params=array");
	/* Unknown members are ignored. */
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"x\",\"extra\":null}"),
		  "REQUEST id=3 method=x");
	/* A "notification" with an id is a request: it gets an answer. */
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"notifications/initialized\"}"),
		  "REQUEST id=4 method=notifications/initialized");
	/* Whitespace around the object is JSON. */
	CHECK_STR(classify(" \t{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"} "),
		  "REQUEST id=5 method=ping");
}

TEST(jsonrpc_ids)
{
	const char *ok[][2] = {
		{ "0", "0" },
		{ "-1", "-1" },
		{ "\"0\"", "\"0\"" },
		{ "\"\"", "\"\"" },
		{ "\"1\"", "\"1\"" },
		{ "-0", "0" },
		{ "9223372036854775807", "9223372036854775807" },
		{ "-9223372036854775808", "-9223372036854775808" },
		{ "\"\\u00e9\\n\"", "\"\xc3\xa9\\n\"" },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char in[256], want[256];
		snprintf(in, sizeof in, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"m\"}", ok[i][0]);
		snprintf(want, sizeof want, "REQUEST id=%s method=m", ok[i][1]);
		CHECK_STR(classify(in), want);
	}
	const char *bad[][2] = {
		{ "1.5", "1.5" },
		{ "1.0", "1" },
		{ "1e3", "1000" },
		{ "-0.0", "-0" },
		{ "9223372036854775808", "9.2233720368547758e+18" },
		{ "null", "null" },
		{ "true", "boolean" },
		{ "false", "boolean" },
		{ "{}", "object" },
		{ "[1]", "array" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char in[256], want[256];
		snprintf(in, sizeof in, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"m\"}", bad[i][0]);
		snprintf(want, sizeof want,
			 "INVALID -32600: request \"id\" must be a string or an integer (got %s)",
			 bad[i][1]);
		CHECK_STR(classify(in), want);
	}
}

TEST(jsonrpc_id_echo_exact)
{
	const char *ids[] = { "0", "-1", "\"0\"", "\"\"", "\"1\"", "9223372036854775807",
			      "-9223372036854775808", "\"a\\\"b\\\\c\\u0001\"", "\"\xf0\x9f\x98\x80\"" };
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char in[256];
		snprintf(in, sizeof in, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"m\"}", ids[i]);
		struct json_doc *doc = json_doc_new();
		struct jsonrpc_msg m;
		CHECK(jsonrpc_parse(doc, in, strlen(in), &m, NULL) == 0);
		CHECK(m.kind == JSONRPC_REQUEST);
		struct buf out = BUF_INIT, want = BUF_INIT;
		CHECK(jsonrpc_result(&out, m.id, NULL) == 0);
		buf_printf(&want, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}\n", ids[i]);
		CHECK_STR(out.data, want.data);
		buf_reset(&out);
		buf_reset(&want);
		CHECK(jsonrpc_error(&out, m.id, -32601, NULL, NULL) == 0);
		buf_printf(&want, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32601,"
				  "\"message\":\"Method not found\"}}\n", ids[i]);
		CHECK_STR(out.data, want.data);
		buf_release(&out);
		buf_release(&want);
		json_doc_free(doc);
	}
}

TEST(jsonrpc_notifications)
{
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"),
		  "NOTIFICATION method=notifications/initialized");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
			   "\"params\":{\"requestId\":3,\"reason\":\"user\"}}"),
		  "NOTIFICATION method=notifications/cancelled params=object");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":[]}"),
		  "NOTIFICATION method=n params=array");
	/* A notification with a bad "params" is still malformed. */
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":null}"),
		  "INVALID -32600: \"params\" must be an object or an array (got null)");
}

TEST(jsonrpc_progress_token)
{
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
			   "{\"name\":\"vm_run\",\"arguments\":{},\"_meta\":{\"progressToken\":\"tok\"}}}"),
		  "REQUEST id=7 method=tools/call params=object progress=\"tok\"");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"m\",\"params\":"
			   "{\"_meta\":{\"progressToken\":0}}}"),
		  "REQUEST id=7 method=m params=object progress=0");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"m\",\"params\":"
			   "{\"_meta\":{\"progressToken\":-12}}}"),
		  "REQUEST id=7 method=m params=object progress=-12");
	/* Absent, or not a string or an integer: none (the server decides). */
	const char *none[] = {
		"{\"_meta\":{}}", "{\"_meta\":{\"progressToken\":1.5}}",
		"{\"_meta\":{\"progressToken\":null}}", "{\"_meta\":{\"progressToken\":{}}}",
		"{\"_meta\":7}", "{\"progressToken\":1}", "[{\"_meta\":{\"progressToken\":1}}]",
	};
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
		char in[256];
		snprintf(in, sizeof in, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":%s}", none[i]);
		CHECK(strstr(classify(in), "progress=") == NULL);
		CHECK(strncmp(desc, "NOTIFICATION method=m params=", 29) == 0);
	}
	/* Notifications carry it too (the server may just ignore it). */
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":"
			   "{\"_meta\":{\"progressToken\":\"p\"}}}"),
		  "NOTIFICATION method=m params=object progress=\"p\"");
}

TEST(jsonrpc_method_matching)
{
	const char *in = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\\u0000x\"}";
	struct json_doc *doc = json_doc_new();
	struct jsonrpc_msg m;
	CHECK(jsonrpc_parse(doc, in, strlen(in), &m, NULL) == 0);
	CHECK(m.kind == JSONRPC_REQUEST);
	CHECK(m.method_len == 12);
	CHECK(strcmp(m.method, "tools/list") == 0); /* what a naive strcmp would see */
	CHECK(!jsonrpc_method_is(&m, "tools/list"));
	const char *in2 = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";
	CHECK(jsonrpc_parse(doc, in2, strlen(in2), &m, NULL) == 0);
	CHECK(jsonrpc_method_is(&m, "tools/list"));
	CHECK(!jsonrpc_method_is(&m, "tools/lis"));
	CHECK(!jsonrpc_method_is(&m, "tools/list2"));
	const char *in3 = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
	CHECK(jsonrpc_parse(doc, in3, strlen(in3), &m, NULL) == 0);
	CHECK(!jsonrpc_method_is(&m, ""));
	json_doc_free(doc);
}

TEST(jsonrpc_responses)
{
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"result\":{\"roots\":[]}}"),
		  "RESPONSE id=\"s1\" result={\"roots\":[]}");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":null}"),
		  "RESPONSE id=0 result=null");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{\"code\":-32601,\"message\":\"no\"}}"),
		  "RESPONSE id=9 error={\"code\":-32601,\"message\":\"no\"}");
	/* An error about an unreadable message: id absent or null. */
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"bad\"}}"),
		  "RESPONSE error={\"code\":-32700,\"message\":\"bad\"}");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":1,\"message\":\"\",\"data\":[]}}"),
		  "RESPONSE error={\"code\":1,\"message\":\"\",\"data\":[]}");
}

TEST(jsonrpc_bad_responses)
{
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{\"code\":1,\"message\":\"\"}}"),
		  "INVALID -32600: a response must not have both \"result\" and \"error\"");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"result\":{}}"),
		  "INVALID -32600: response \"id\" must be a string or an integer (got nothing)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}"),
		  "INVALID -32600: response \"id\" must be a string or an integer (got null)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"result\":{}}"),
		  "INVALID -32600: response \"id\" must be a string or an integer (got 1.5)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":true,\"error\":{\"code\":1,\"message\":\"\"}}"),
		  "INVALID -32600: error response \"id\" must be a string, an integer or null (got boolean)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"boom\"}"),
		  "INVALID -32600: \"error\" must be an object (got string)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"m\"}}"),
		  "INVALID -32600: \"error\" must have an integer \"code\"");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1.5,\"message\":\"m\"}}"),
		  "INVALID -32600: \"error\" must have an integer \"code\"");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"1\",\"message\":\"m\"}}"),
		  "INVALID -32600: \"error\" must have an integer \"code\"");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}"),
		  "INVALID -32600: \"error\" must have a string \"message\"");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":null}}"),
		  "INVALID -32600: \"error\" must have a string \"message\"");
	/* A response-shaped message with a method is neither. Its id is not
	 * echoed: the answer would pass for a response to the client. */
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"result\":{}}"),
		  "INVALID -32600: a message with \"method\" must not have \"result\" or \"error\"");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"error\":{\"code\":1,\"message\":\"\"}}"),
		  "INVALID -32600: a message with \"method\" must not have \"result\" or \"error\"");
}

TEST(jsonrpc_batches)
{
	CHECK_STR(classify("[]"),
		  "BATCH -32600: batches are not supported: send one message per line");
	CHECK_STR(classify("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]"),
		  "BATCH -32600: batches are not supported: send one message per line");
	CHECK_STR(classify(" [1, 2] "),
		  "BATCH -32600: batches are not supported: send one message per line");
}

/* A notification whose params nest `levels` arrays deep. */
static const char *deep_params(char *dst, size_t cap, int levels)
{
	size_t n = (size_t)snprintf(dst, cap, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":");
	for (int i = 0; i < levels && n + 3 < cap; i++)
		dst[n++] = '[';
	for (int i = 0; i < levels && n + 3 < cap; i++)
		dst[n++] = ']';
	dst[n++] = '}';
	dst[n] = '\0';
	return dst;
}

TEST(jsonrpc_parse_errors)
{
	const char *cases[] = {
		"{", "nope", "{\"jsonrpc\":\"2.0\",}", "{\"a\":1} {\"b\":2}",
		"{\"a\":1,\"a\":2}", "{\"a\":'x'}", "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}",
		"{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\\ud800\"}",
		"{\"a\":NaN}", "{\"a\":01}", "{\"a\":1]", "\"\xf4\x90\x80\x80\"", "",
	};
	const char *want = "INVALID -32700: invalid JSON at line 1, column ";
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = classify(cases[i]);
		if (strncmp(got, want, strlen(want)) != 0)
			CHECK_STR(got, want);
	}
	CHECK_CONTAINS(classify("{\"a\":\"\xff\"}"),
		       "INVALID -32700: invalid JSON at line 1, column 7: invalid UTF-8 in string");
	CHECK_CONTAINS(classify("{\"a\":1,\"a\":2}"),
		       "INVALID -32700: invalid JSON at line 1, column 8: duplicate key");
	/* A NUL byte in the line; no line at all. */
	CHECK(strncmp(classify_len("{\"a\":1}\0", 8), want, strlen(want)) == 0);
	CHECK(strncmp(classify_len("{\"a\":\0}", 7), want, strlen(want)) == 0);
	CHECK(strncmp(classify_len(NULL, 0), want, strlen(want)) == 0);
	/* Nesting: the object and 63 arrays (64 levels) parse, 65 do not. */
	char deep[300];
	CHECK_STR(classify(deep_params(deep, sizeof deep, 63)), "NOTIFICATION method=m params=array");
	CHECK(strstr(classify(deep_params(deep, sizeof deep, 64)), "nesting deeper than 64 levels"));
	CHECK(strncmp(desc, want, strlen(want)) == 0);
}

TEST(jsonrpc_invalid_requests)
{
	CHECK_STR(classify("42"), "INVALID -32600: a message must be a JSON object (got number)");
	CHECK_STR(classify("\"x\""), "INVALID -32600: a message must be a JSON object (got string)");
	CHECK_STR(classify("null"), "INVALID -32600: a message must be a JSON object (got null)");
	CHECK_STR(classify("true"), "INVALID -32600: a message must be a JSON object (got boolean)");
	CHECK_STR(classify("{}"),
		  "INVALID -32600: missing \"jsonrpc\": \"2.0\"");
	/* A readable id is kept, so the answer can carry it. */
	CHECK_STR(classify("{\"id\":1,\"method\":\"m\"}"),
		  "INVALID id=1 -32600: missing \"jsonrpc\": \"2.0\"");
	CHECK_STR(classify("{\"jsonrpc\":\"1.0\",\"id\":\"q\",\"method\":\"m\"}"),
		  "INVALID id=\"q\" -32600: \"jsonrpc\" must be \"2.0\"");
	CHECK_STR(classify("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"m\"}"),
		  "INVALID id=1 -32600: \"jsonrpc\" must be \"2.0\"");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0 \",\"id\":1,\"method\":\"m\"}"),
		  "INVALID id=1 -32600: \"jsonrpc\" must be \"2.0\"");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\\u0000\",\"id\":1,\"method\":\"m\"}"),
		  "INVALID id=1 -32600: \"jsonrpc\" must be \"2.0\"");
	CHECK_STR(classify("{\"jsonrpc\":null,\"method\":\"m\"}"),
		  "INVALID -32600: \"jsonrpc\" must be \"2.0\"");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}"),
		  "INVALID id=1 -32600: \"method\" must be a string (got number)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}"),
		  "INVALID id=1 -32600: \"method\" must be a string (got null)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"method\":[\"m\"]}"),
		  "INVALID -32600: \"method\" must be a string (got array)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":\"a\"}"),
		  "INVALID id=1 -32600: \"params\" must be an object or an array (got string)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":3}"),
		  "INVALID id=1 -32600: \"params\" must be an object or an array (got number)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":false}"),
		  "INVALID id=1 -32600: \"params\" must be an object or an array (got boolean)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":1}"),
		  "INVALID id=1 -32600: a message needs \"method\" (request, notification) or "
		  "\"result\"/\"error\" (response)");
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\"}"),
		  "INVALID -32600: a message needs \"method\" (request, notification) or "
		  "\"result\"/\"error\" (response)");
	/* A null id is unreadable for a request (MCP): no id in the answer. */
	CHECK_STR(classify("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\"}"),
		  "INVALID -32600: request \"id\" must be a string or an integer (got null)");
}

TEST(jsonrpc_parse_alloc_failure)
{
	const char *in = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
			 "{\"name\":\"x\",\"arguments\":{\"a\":[1,2,3]},\"_meta\":{\"progressToken\":5}}}";
	int failures = 0, succeeded = 0;
	for (long n = 1; n < 1000 && !succeeded; n++) {
		struct json_doc *doc = json_doc_new();
		CHECK(doc);
		struct jsonrpc_msg m;
		struct pyro_err err = { 0 };
		fault_arm(FAULT_ALLOC, n, ENOMEM);
		int rc = jsonrpc_parse(doc, in, strlen(in), &m, &err);
		fault_disarm_all();
		if (rc == 0) {
			CHECK(m.kind == JSONRPC_REQUEST && m.progress_token);
			succeeded = 1;
		} else {
			CHECK(rc == -1);
			CHECK(m.kind == JSONRPC_INVALID && m.code == JSONRPC_INTERNAL_ERROR);
			CHECK(err.code == PYRO_EXIT_INTERNAL);
			CHECK_STR(err.msg, "out of memory while parsing JSON");
			failures++;
		}
		json_doc_free(doc);
	}
	CHECK(succeeded && failures > 0);
	struct jsonrpc_msg m;
	struct pyro_err err = { 0 };
	CHECK(jsonrpc_parse(NULL, "{}", 2, &m, &err) == -1);
	CHECK(m.kind == JSONRPC_INVALID && m.code == JSONRPC_INTERNAL_ERROR);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	CHECK(jsonrpc_parse(NULL, "{}", 2, NULL, NULL) == -1);
}

/* ---- builders ------------------------------------------------------------ */

TEST(jsonrpc_build_result)
{
	struct json_doc *doc = json_doc_new();
	struct buf out = BUF_INIT;
	CHECK(jsonrpc_result(&out, jv(doc, "1"), jv(doc, "{\"tools\":[{\"name\":\"a\"}]}")) == 0);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\"}]}}\n");
	/* Appends; NULL result is {}. */
	CHECK(jsonrpc_result(&out, jv(doc, "\"x\""), NULL) == 0);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\"}]}}\n"
			    "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{}}\n");
	/* Newlines inside values are escaped: still one line. */
	buf_reset(&out);
	CHECK(jsonrpc_result(&out, jv(doc, "\"a\\nb\""), jv(doc, "{\"t\":\"l1\\nl2\\r\\u2028\"}")) == 0);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\nb\",\"result\":{\"t\":\"l1\\nl2\\r\xe2\x80\xa8\"}}\n");
	/* Bad ids leave the buffer alone. */
	const char *bad[] = { "null", "true", "1.5", "{}", "[]" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		CHECK(jsonrpc_result(&out, jv(doc, bad[i]), NULL) == -1 && errno == EINVAL);
	}
	CHECK(jsonrpc_result(&out, NULL, NULL) == -1 && errno == EINVAL);
	CHECK(jsonrpc_result(NULL, jv(doc, "1"), NULL) == -1 && errno == EINVAL);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\nb\",\"result\":{\"t\":\"l1\\nl2\\r\xe2\x80\xa8\"}}\n");
	buf_release(&out);
	json_doc_free(doc);
}

TEST(jsonrpc_build_error)
{
	struct json_doc *doc = json_doc_new();
	struct buf out = BUF_INIT;
	/* No id: "id" is omitted (MCP 2025-11-25 `id?: RequestId`). */
	CHECK(jsonrpc_error(&out, NULL, JSONRPC_PARSE_ERROR, "Parse error", NULL) == 0);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}\n");
	buf_reset(&out);
	CHECK(jsonrpc_error(&out, jv(doc, "null"), JSONRPC_INVALID_REQUEST, NULL, NULL) == 0);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"}}\n");
	buf_reset(&out);
	CHECK(jsonrpc_error(&out, jv(doc, "\"7\""), JSONRPC_INVALID_PARAMS, "bad \"x\"\nat 1",
			    jv(doc, "{\"field\":\"x\",\"n\":[1,2.5]}")) == 0);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"error\":{\"code\":-32602,"
			    "\"message\":\"bad \\\"x\\\"\\nat 1\",\"data\":{\"field\":\"x\",\"n\":[1,2.5]}}}\n");
	buf_reset(&out);
	CHECK(jsonrpc_error(&out, jv(doc, "-3"), JSONRPC_RESOURCE_NOT_FOUND, NULL,
			    jv(doc, "{\"uri\":\"file:///x\"}")) == 0);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"id\":-3,\"error\":{\"code\":-32002,"
			    "\"message\":\"Resource not found\",\"data\":{\"uri\":\"file:///x\"}}}\n");
	/* Bad ids fail and leave the buffer alone. */
	errno = 0;
	CHECK(jsonrpc_error(&out, jv(doc, "false"), -1, "m", NULL) == -1 && errno == EINVAL);
	CHECK(jsonrpc_error(&out, jv(doc, "2.5"), -1, "m", NULL) == -1 && errno == EINVAL);
	CHECK(jsonrpc_error(NULL, NULL, -1, "m", NULL) == -1 && errno == EINVAL);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"id\":-3,\"error\":{\"code\":-32002,"
			    "\"message\":\"Resource not found\",\"data\":{\"uri\":\"file:///x\"}}}\n");
	buf_release(&out);
	json_doc_free(doc);
}

TEST(jsonrpc_build_notification)
{
	struct json_doc *doc = json_doc_new();
	struct buf out = BUF_INIT;
	CHECK(jsonrpc_notification(&out, "notifications/progress",
				   jv(doc, "{\"progressToken\":\"t\",\"progress\":1,\"total\":3}")) == 0);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
			    "{\"progressToken\":\"t\",\"progress\":1,\"total\":3}}\n");
	buf_reset(&out);
	CHECK(jsonrpc_notification(&out, "notifications/tools/list_changed", NULL) == 0);
	CHECK_STR(out.data, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n");
	CHECK(jsonrpc_notification(&out, NULL, NULL) == -1 && errno == EINVAL);
	buf_release(&out);
	json_doc_free(doc);
}

TEST(jsonrpc_build_limits)
{
	struct json_doc *doc = json_doc_new();
	struct buf out;
	buf_init(&out, 40);
	CHECK(buf_append_str(&out, "keep") == 0);
	errno = 0;
	CHECK(jsonrpc_result(&out, jv(doc, "1"), jv(doc, "{\"long\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}")) == -1);
	CHECK(errno == EMSGSIZE);
	CHECK_STR(out.data, "keep");
	CHECK(jsonrpc_error(&out, NULL, -32603, "a message far too long to fit the cap", NULL) == -1);
	CHECK(errno == EMSGSIZE);
	CHECK(jsonrpc_notification(&out, "a/very/long/method/name/indeed", NULL) == -1);
	CHECK_STR(out.data, "keep");
	buf_release(&out);
	/* Allocation failure at every step: all or nothing. */
	struct json_value *id = jv(doc, "1"), *data = jv(doc, "{\"a\":[1,2,3]}");
	CHECK(id && data);
	for (long n = 1; n < 50; n++) {
		struct buf b = BUF_INIT;
		fault_arm(FAULT_ALLOC, n, ENOMEM);
		int rc = jsonrpc_error(&b, id, -32602, "m", data);
		fault_disarm_all();
		CHECK(rc == 0 || (b.len == 0 && errno == ENOMEM));
		buf_release(&b);
	}
	json_doc_free(doc);
}

TEST(jsonrpc_build_round_trip)
{
	struct json_doc *doc = json_doc_new();
	struct buf out = BUF_INIT;
	struct jsonrpc_msg m;
	CHECK(jsonrpc_result(&out, jv(doc, "\"r\""), jv(doc, "{\"ok\":true}")) == 0);
	CHECK(jsonrpc_error(&out, NULL, JSONRPC_PARSE_ERROR, NULL, NULL) == 0);
	CHECK(jsonrpc_error(&out, jv(doc, "5"), JSONRPC_INTERNAL_ERROR, NULL, NULL) == 0);
	CHECK(jsonrpc_notification(&out, "notifications/message", jv(doc, "{\"level\":\"info\"}")) == 0);
	struct buf t = BUF_INIT;
	CHECK(transcribe(0, out.data, out.len, NULL, 0, 0, true, &t) == 0);
	CHECK(t.len > 0);
	/* Four lines, each a message of the expected kind. */
	const char *p = out.data;
	enum jsonrpc_kind want[] = { JSONRPC_RESPONSE, JSONRPC_RESPONSE, JSONRPC_RESPONSE,
				     JSONRPC_NOTIFICATION };
	for (int i = 0; i < 4; i++) {
		const char *nl = strchr(p, '\n');
		CHECK(nl);
		CHECK(jsonrpc_parse(doc, p, (size_t)(nl - p), &m, NULL) == 0);
		CHECK(m.kind == want[i]);
		p = nl + 1;
	}
	CHECK(*p == '\0');
	buf_release(&t);
	buf_release(&out);
	json_doc_free(doc);
}

TEST(jsonrpc_code_texts)
{
	CHECK_STR(jsonrpc_code_text(JSONRPC_PARSE_ERROR), "Parse error");
	CHECK_STR(jsonrpc_code_text(JSONRPC_INVALID_REQUEST), "Invalid Request");
	CHECK_STR(jsonrpc_code_text(JSONRPC_METHOD_NOT_FOUND), "Method not found");
	CHECK_STR(jsonrpc_code_text(JSONRPC_INVALID_PARAMS), "Invalid params");
	CHECK_STR(jsonrpc_code_text(JSONRPC_INTERNAL_ERROR), "Internal error");
	CHECK_STR(jsonrpc_code_text(JSONRPC_RESOURCE_NOT_FOUND), "Resource not found");
	CHECK_STR(jsonrpc_code_text(JSONRPC_URL_ELICITATION_REQUIRED), "URL elicitation required");
	CHECK_STR(jsonrpc_code_text(-32000), "Server error");
	CHECK(JSONRPC_PARSE_ERROR == -32700 && JSONRPC_INVALID_REQUEST == -32600 &&
	      JSONRPC_METHOD_NOT_FOUND == -32601 && JSONRPC_INVALID_PARAMS == -32602 &&
	      JSONRPC_INTERNAL_ERROR == -32603 && JSONRPC_RESOURCE_NOT_FOUND == -32002 &&
	      JSONRPC_URL_ELICITATION_REQUIRED == -32042);
}
