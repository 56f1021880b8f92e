/* libFuzzer target for core/agentproto.c (the agent wire protocol framing).
 *
 * Input layout: byte 0 = flags (bit 0: response reader instead of request,
 * bit 1: end the stream with EOF), byte 1 = k (mod 16), then k chunk sizes
 * (each byte + 1, used in turn), then the stream bytes.
 *
 * For every input:
 *  - feeding the stream in the fuzzer's chunks and all at once gives the
 *    same transcript (headers, body bytes, frame ends, EOF or the error);
 *  - body pieces add up to body_size, never come from more input than fed,
 *    and bodies are never larger than max_body; headers pass
 *    agentproto_check_header;
 *  - an error always has a message and a known code, and stays final;
 *  - the error answer for that message parses back as a response frame
 *    whose "error" is the message;
 *  - every complete frame, re-encoded with agentproto_encode_header plus
 *    its body, parses again into an equal frame (header equal apart from
 *    "body_size", same body). Re-encoding may only fail for being longer
 *    than max_header (compact emission can lengthen numbers: 1e2 -> 100.0). */
#include "fuzz.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/agentproto.h"
#include "../../core/exitcodes.h"



static const struct agentproto_limits lim = { .max_header = 300, .max_body = 5000 };

#define MAX_KEPT 32

struct frame {
	struct json_value *header; /* cloned into the keep doc */
	struct buf body;
};

struct run {
	struct buf tx;           /* the transcript */
	struct frame kept[MAX_KEPT];
	size_t nkept;
	struct json_doc *keep;   /* NULL: do not keep frames */
	int failed;
	struct pyro_err err;
};

static void check_error(const struct pyro_err *err)
{
	FUZZ_ASSERT(err->msg[0] != '\0');
	FUZZ_ASSERT(err->code == PYRO_EXIT_USAGE || err->code == PYRO_EXIT_FAILURE ||
		    err->code == PYRO_EXIT_INTERNAL);
}

/* Feed stream[0..len) cut into chunks of the given sizes (cycled; none:
 * all at once) and record what happens in run. */
static void feed_all(struct run *run, enum agentproto_kind kind, const uint8_t *stream,
		     size_t len, const uint8_t *sizes, size_t nsizes, int eof)
{
	struct agentproto_reader r;
	struct agentproto_event ev;
	struct json_doc *doc = NULL;
	uint64_t body_size = 0, body_seen = 0;
	size_t pos = 0, turn = 0;
	struct frame *cur = NULL;
	agentproto_reader_init(&r, kind, &lim);
	while (!run->failed) {
		size_t n = len - pos;
		if (nsizes && n > (size_t)sizes[turn % nsizes] + 1)
			n = (size_t)sizes[turn % nsizes] + 1;
		turn++;
		const uint8_t *p = stream + pos;
		pos += n;
		for (;;) {
			if (!doc)
				FUZZ_ASSERT(doc = json_doc_new());
			if (agentproto_feed(&r, doc, p, n, &ev, &run->err) < 0) {
				check_error(&run->err);
				FUZZ_ASSERT(ev.used <= n);
				buf_printf(&run->tx, "ERR(%d): %s", run->err.code, run->err.msg);
				run->failed = 1;
				break;
			}
			FUZZ_ASSERT(ev.used <= n);
			p += ev.used;
			n -= ev.used;
			if (ev.type == AGENTPROTO_NEED_MORE) {
				FUZZ_ASSERT(n == 0);
				break;
			}
			switch (ev.type) {
			case AGENTPROTO_HEADER: {
				uint64_t checked;
				FUZZ_ASSERT(agentproto_check_header(kind, ev.header, &lim, &checked, NULL) == 0);
				FUZZ_ASSERT(checked == ev.body_size && ev.body_size <= lim.max_body);
				FUZZ_ASSERT((kind == AGENTPROTO_REQUEST) == (ev.action != NULL));
				buf_append_char(&run->tx, 'H');
				FUZZ_ASSERT(json_emit(&run->tx, ev.header, JSON_EMIT_COMPACT) == 0);
				buf_append_char(&run->tx, '\n');
				body_size = ev.body_size;
				body_seen = 0;
				cur = NULL;
				if (run->keep && run->nkept < MAX_KEPT) {
					cur = &run->kept[run->nkept++];
					FUZZ_ASSERT(cur->header = json_clone(run->keep, ev.header));
					buf_init(&cur->body, 0);
				}
				break;
			}
			case AGENTPROTO_BODY:
				FUZZ_ASSERT(ev.body_len > 0 && ev.used == ev.body_len);
				body_seen += ev.body_len;
				FUZZ_ASSERT(body_seen <= body_size);
				buf_append(&run->tx, ev.body, ev.body_len);
				if (cur)
					FUZZ_ASSERT(buf_append(&cur->body, ev.body, ev.body_len) == 0);
				break;
			case AGENTPROTO_FRAME_END:
				FUZZ_ASSERT(body_seen == body_size && ev.used == 0);
				buf_append_str(&run->tx, "\nE\n");
				json_doc_free(doc);
				doc = NULL;
				break;
			default:
				FUZZ_ASSERT(0);
			}
		}
		if (pos == len)
			break;
	}
	while (!run->failed && eof) {
		if (agentproto_feed_eof(&r, &ev, &run->err) < 0) {
			check_error(&run->err);
			buf_printf(&run->tx, "ERR(%d): %s", run->err.code, run->err.msg);
			run->failed = 1;
			break;
		}
		if (ev.type == AGENTPROTO_EOF) {
			buf_append_str(&run->tx, "EOF");
			break;
		}
		FUZZ_ASSERT(ev.type == AGENTPROTO_FRAME_END && body_seen == body_size);
		buf_append_str(&run->tx, "\nE\n");
	}
	if (run->failed) {
		/* Final: the same error again, whatever comes. */
		struct pyro_err again;
		FUZZ_ASSERT(agentproto_feed(&r, doc, "{}\n", 3, &ev, &again) < 0);
		FUZZ_ASSERT(!strcmp(again.msg, run->err.msg) && again.code == run->err.code);
		FUZZ_ASSERT(agentproto_feed_eof(&r, &ev, &again) < 0);
		FUZZ_ASSERT(!strcmp(again.msg, run->err.msg));
	}
	json_doc_free(doc);
	agentproto_reader_release(&r);
}

static bool is_body_size(const struct json_member *m)
{
	return m->key_len == 9 && !memcmp(m->key, "body_size", 9);
}

/* Objects equal apart from their "body_size" members. */
static bool equal_but_body_size(const struct json_value *a, const struct json_value *b)
{
	size_t na = 0, nb = 0;
	for (size_t i = 0; i < a->u.object.len; i++) {
		const struct json_member *m = &a->u.object.members[i];
		if (is_body_size(m))
			continue;
		na++;
		const struct json_value *other = json_get(b, m->key);
		if (memchr(m->key, '\0', m->key_len)) {
			/* json_get stops at NUL: find the member by bytes. */
			other = NULL;
			for (size_t j = 0; j < b->u.object.len; j++)
				if (b->u.object.members[j].key_len == m->key_len &&
				    !memcmp(b->u.object.members[j].key, m->key, m->key_len))
					other = b->u.object.members[j].value;
		}
		if (!other || !json_equal(m->value, other))
			return false;
	}
	for (size_t i = 0; i < b->u.object.len; i++)
		nb += !is_body_size(&b->u.object.members[i]);
	return na == nb;
}

static void check_roundtrip(enum agentproto_kind kind, const struct frame *f)
{
	struct buf enc = BUF_INIT;
	struct pyro_err err;
	if (agentproto_encode_header(&enc, kind, f->header, f->body.len, &lim, &err) < 0) {
		FUZZ_ASSERT(strstr(err.msg, "header line longer than"));
		FUZZ_ASSERT(enc.len == 0);
		return;
	}
	FUZZ_ASSERT(enc.len > 0 && enc.data[enc.len - 1] == '\n');
	FUZZ_ASSERT(!memchr(enc.data, '\n', enc.len - 1));
	FUZZ_ASSERT(buf_append(&enc, f->body.data, f->body.len) == 0);

	struct run again = { .tx = BUF_INIT };
	FUZZ_ASSERT(again.keep = json_doc_new());
	feed_all(&again, kind, (const uint8_t *)enc.data, enc.len, NULL, 0, 1);
	if (again.failed)
		fprintf(stderr, "re-encoded frame fails: %s\n%s\n", again.err.msg, enc.data);
	FUZZ_ASSERT(!again.failed && again.nkept == 1);
	const struct frame *g = &again.kept[0];
	FUZZ_ASSERT(equal_but_body_size(f->header, g->header));
	FUZZ_ASSERT(g->body.len == f->body.len && !memcmp(g->body.data, f->body.data, f->body.len));
	buf_release(&again.kept[0].body);
	json_doc_free(again.keep);
	buf_release(&again.tx);
	buf_release(&enc);
}

/* The error answer for msg is one response frame whose "error" is msg. */
static void check_error_answer(const char *msg)
{
	char line[AGENTPROTO_ERROR_LINE_MAX];
	size_t n = agentproto_format_error(line, sizeof line, msg);
	FUZZ_ASSERT(n > 0 && line[n - 1] == '\n');
	struct run ans = { .tx = BUF_INIT };
	FUZZ_ASSERT(ans.keep = json_doc_new());
	feed_all(&ans, AGENTPROTO_RESPONSE, (const uint8_t *)line, n, NULL, 0, 1);
	FUZZ_ASSERT(!ans.failed && ans.nkept == 1);
	const char *e = agentproto_response_error(ans.kept[0].header);
	FUZZ_ASSERT(e);
	if (json_utf8_valid(msg, strlen(msg)))
		FUZZ_ASSERT(!strcmp(e, msg));
	buf_release(&ans.kept[0].body);
	json_doc_free(ans.keep);
	buf_release(&ans.tx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	enum agentproto_kind kind = (data[0] & 1) ? AGENTPROTO_RESPONSE : AGENTPROTO_REQUEST;
	int eof = (data[0] & 2) != 0;
	size_t k = data[1] % 16;
	if (size < 2 + k)
		return 0;
	const uint8_t *sizes = data + 2, *stream = data + 2 + k;
	size_t len = size - 2 - k;

	struct run whole = { .tx = BUF_INIT }, chunked = { .tx = BUF_INIT };
	FUZZ_ASSERT(whole.keep = json_doc_new());
	feed_all(&whole, kind, stream, len, NULL, 0, eof);
	feed_all(&chunked, kind, stream, len, sizes, k, eof);
	if (whole.tx.len != chunked.tx.len || memcmp(whole.tx.data, chunked.tx.data, whole.tx.len)) {
		fprintf(stderr, "one-shot:\n%s\nchunked:\n%s\n", whole.tx.data, chunked.tx.data);
		abort();
	}

	for (size_t i = 0; i < whole.nkept; i++) {
		/* The last kept frame may be unfinished (error or no EOF). */
		check_roundtrip(kind, &whole.kept[i]);
	}
	if (whole.failed)
		check_error_answer(whole.err.msg);

	for (size_t i = 0; i < whole.nkept; i++)
		buf_release(&whole.kept[i].body);
	json_doc_free(whole.keep);
	buf_release(&whole.tx);
	buf_release(&chunked.tx);
	return 0;
}
