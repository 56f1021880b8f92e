/* Fuzz the MCP JSON-RPC layer: the line reader and the classifier, which
 * read whatever a client writes to our stdin, and the builders that answer.
 * The first input byte configures the run: bit 7 set means a small line
 * limit (1 + (bits 0-5) * 8 bytes, so oversize lines happen), else the
 * default 4 MiB; bit 6 ends the input with jsonrpc_reader_eof(). The rest
 * is the byte stream. Properties:
 *  - the reader's events (lines, oversize, EOF) are identical whether the
 *    stream is fed whole, byte by byte, or in random pieces; a line is
 *    never empty or blank, never holds "\n", never exceeds the limit, and
 *    the reader never buffers more than the limit plus one byte;
 *  - every line gets exactly one classification, consistent with its
 *    fields; every INVALID carries -32700 or -32600, a BATCH -32600, and a
 *    one-line message;
 *  - every builder output is exactly one line that parses back: a result
 *    or error for a REQUEST carries the same id (same type and value), an
 *    error for an INVALID carries its id or none, a notification stays a
 *    notification. */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

#include "../../core/buf.h"
#include "../../core/json.h"
#include "../../core/jsonrpc.h"

static uint32_t next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/* out is exactly one line: one "\n", at the end, after `start`. */
static void check_one_line(const struct buf *out, size_t start)
{
	FUZZ_ASSERT(out->len > start);
	FUZZ_ASSERT(out->data[out->len - 1] == '\n');
	FUZZ_ASSERT(memchr(out->data + start, '\n', out->len - start - 1) == NULL);
}

/* Parse the line the builder wrote back into a message. */
static void reparse(const struct buf *out, struct json_doc *doc, struct jsonrpc_msg *m)
{
	check_one_line(out, 0);
	FUZZ_ASSERT(jsonrpc_parse(doc, out->data, out->len - 1, m, NULL) == 0);
}

static void same_id(const struct json_value *a, const struct json_value *b)
{
	FUZZ_ASSERT(a && b);
	FUZZ_ASSERT(a->type == b->type);
	FUZZ_ASSERT(json_equal(a, b));
	if (a->type == JSON_NUMBER)
		FUZZ_ASSERT(a->u.number.is_int && b->u.number.is_int && a->u.number.i == b->u.number.i);
}

static void check_fields(const struct jsonrpc_msg *m)
{
	switch (m->kind) {
	case JSONRPC_REQUEST:
	case JSONRPC_NOTIFICATION:
		FUZZ_ASSERT(m->root && m->root->type == JSON_OBJECT);
		FUZZ_ASSERT(m->method && m->method[m->method_len] == '\0');
		FUZZ_ASSERT((m->kind == JSONRPC_REQUEST) == (m->id != NULL));
		FUZZ_ASSERT(!m->id || jsonrpc_id_valid(m->id));
		FUZZ_ASSERT(!m->params || m->params->type == JSON_OBJECT ||
			    m->params->type == JSON_ARRAY);
		FUZZ_ASSERT(!m->progress_token || (m->params && jsonrpc_id_valid(m->progress_token)));
		FUZZ_ASSERT(!m->result && !m->error && m->code == 0 && !m->message[0]);
		break;
	case JSONRPC_RESPONSE:
		FUZZ_ASSERT(m->root && m->root->type == JSON_OBJECT);
		FUZZ_ASSERT(!m->method && !m->params && !m->progress_token);
		FUZZ_ASSERT((m->result != NULL) != (m->error != NULL));
		FUZZ_ASSERT(!m->result || jsonrpc_id_valid(m->id));
		FUZZ_ASSERT(!m->error || m->error->type == JSON_OBJECT);
		FUZZ_ASSERT(!m->id || jsonrpc_id_valid(m->id));
		FUZZ_ASSERT(m->code == 0 && !m->message[0]);
		break;
	case JSONRPC_BATCH:
		FUZZ_ASSERT(m->root && m->root->type == JSON_ARRAY);
		FUZZ_ASSERT(m->code == JSONRPC_INVALID_REQUEST && !m->id);
		break;
	case JSONRPC_INVALID:
		FUZZ_ASSERT(m->code == JSONRPC_PARSE_ERROR || m->code == JSONRPC_INVALID_REQUEST);
		FUZZ_ASSERT((m->code == JSONRPC_PARSE_ERROR) == (m->root == NULL));
		FUZZ_ASSERT(!m->id || jsonrpc_id_valid(m->id));
		FUZZ_ASSERT(!m->method && !m->params && !m->progress_token && !m->result && !m->error);
		break;
	default:
		FUZZ_ASSERT(!"unknown kind");
	}
	if (m->kind == JSONRPC_INVALID || m->kind == JSONRPC_BATCH)
		FUZZ_ASSERT(m->message[0] && strchr(m->message, '\n') == NULL);
}

/* Classify one line and answer it with every builder that applies. */
static void classify(const char *line, size_t len)
{
	struct json_doc *doc = json_doc_new();
	struct json_doc *back = json_doc_new();
	FUZZ_ASSERT(doc && back);
	struct jsonrpc_msg m, r;
	struct buf out = BUF_INIT;
	FUZZ_ASSERT(jsonrpc_parse(doc, line, len, &m, NULL) == 0);
	check_fields(&m);
	switch (m.kind) {
	case JSONRPC_REQUEST:
		FUZZ_ASSERT(jsonrpc_result(&out, m.id, m.params) == 0);
		reparse(&out, back, &r);
		FUZZ_ASSERT(r.kind == JSONRPC_RESPONSE && r.result);
		same_id(m.id, r.id);
		if (m.params)
			FUZZ_ASSERT(json_equal(m.params, r.result));
		buf_reset(&out);
		/* No data: params nested to the depth limit would pass it
		 * one level deeper inside "error". */
		FUZZ_ASSERT(jsonrpc_error(&out, m.id, JSONRPC_METHOD_NOT_FOUND, m.method,
					  NULL) == 0);
		reparse(&out, back, &r);
		FUZZ_ASSERT(r.kind == JSONRPC_RESPONSE && r.error);
		same_id(m.id, r.id);
		break;
	case JSONRPC_NOTIFICATION:
		FUZZ_ASSERT(jsonrpc_notification(&out, m.method, m.params) == 0);
		reparse(&out, back, &r);
		FUZZ_ASSERT(r.kind == JSONRPC_NOTIFICATION);
		FUZZ_ASSERT(r.method_len == strlen(m.method) && strcmp(r.method, m.method) == 0);
		FUZZ_ASSERT(!m.params == !r.params);
		if (m.params)
			FUZZ_ASSERT(json_equal(m.params, r.params));
		break;
	case JSONRPC_INVALID:
	case JSONRPC_BATCH:
		FUZZ_ASSERT(jsonrpc_error(&out, m.id, m.code, m.message, NULL) == 0);
		reparse(&out, back, &r);
		FUZZ_ASSERT(r.kind == JSONRPC_RESPONSE && r.error);
		FUZZ_ASSERT(!m.id == !r.id);
		if (m.id)
			same_id(m.id, r.id);
		else
			FUZZ_ASSERT(json_get(r.root, "id") == NULL);
		FUZZ_ASSERT(json_get_int(r.error, "code", &(int64_t){ 0 }));
		break;
	case JSONRPC_RESPONSE:
		/* Never answered; the classification was checked above. */
		break;
	}
	buf_release(&out);
	json_doc_free(back);
	json_doc_free(doc);
}

/* step 0: whole; 1: byte by byte; 2: random pieces. Writes the events into
 * t and classifies each line when `check` is set. */
static void run(size_t max_line, bool eof, const uint8_t *in, size_t len, int step, uint32_t seed,
		bool check, struct buf *t)
{
	struct jsonrpc_reader rd;
	jsonrpc_reader_init(&rd, max_line);
	size_t off = 0;
	bool ended = false;
	while (!ended) {
		size_t n = len - off;
		if (step == 1 && n > 1)
			n = 1;
		else if (step == 2 && n > 1)
			n = 1 + next_rand(&seed) % (n < 200 ? n : 200);
		FUZZ_ASSERT(jsonrpc_reader_feed(&rd, (const char *)in + off, n) == 0);
		off += n;
		if (off == len) {
			if (eof)
				jsonrpc_reader_eof(&rd);
			ended = true;
		}
		for (;;) {
			const char *line;
			size_t l;
			int ev = jsonrpc_reader_next(&rd, &line, &l);
			FUZZ_ASSERT(ev >= 0);
			FUZZ_ASSERT(rd.part.len <= rd.max_line + 1);
			if (ev == JSONRPC_READ_AGAIN) {
				FUZZ_ASSERT(!ended || !eof);
				break;
			}
			if (ev == JSONRPC_READ_EOF) {
				FUZZ_ASSERT(ended && eof);
				buf_append_str(t, "E");
				FUZZ_ASSERT(jsonrpc_reader_next(&rd, &line, &l) == JSONRPC_READ_EOF);
				break;
			}
			if (ev == JSONRPC_READ_OVERSIZE) {
				buf_append_str(t, "O");
				continue;
			}
			FUZZ_ASSERT(ev == JSONRPC_READ_LINE);
			FUZZ_ASSERT(l > 0 && l <= rd.max_line);
			FUZZ_ASSERT(memchr(line, '\n', l) == NULL);
			size_t k = 0;
			while (k < l && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
				k++;
			FUZZ_ASSERT(k < l);
			buf_printf(t, "L%zu:", l);
			buf_append(t, line, l);
			if (check)
				classify(line, l);
		}
	}
	jsonrpc_reader_release(&rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 256 * 1024)
		return 0;
	size_t max_line = (data[0] & 0x80) ? 1 + (size_t)(data[0] & 0x3f) * 8 : 0;
	bool eof = (data[0] & 0x40) != 0;
	uint32_t seed = (uint32_t)size * 2654435761u;
	data++, size--;
	struct buf whole = BUF_INIT, bytes = BUF_INIT, pieces = BUF_INIT;
	run(max_line, eof, data, size, 0, 0, true, &whole);
	run(max_line, eof, data, size, 1, 0, false, &bytes);
	run(max_line, eof, data, size, 2, seed, false, &pieces);
	FUZZ_ASSERT(whole.len == bytes.len && memcmp(whole.data, bytes.data, whole.len) == 0);
	FUZZ_ASSERT(whole.len == pieces.len && memcmp(whole.data, pieces.data, whole.len) == 0);
	buf_release(&whole);
	buf_release(&bytes);
	buf_release(&pieces);
	return 0;
}
