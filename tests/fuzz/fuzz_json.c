/* libFuzzer target for core/json_*.c.
 *
 * For every input:
 *  - parse it with small limits; a failure must be a usage error whose
 *    message starts with "invalid JSON at line ";
 *  - when it parses: every string and key is valid UTF-8 (json_utf8_valid
 *    agrees with the parser); compact emission reparses to an equal tree and
 *    re-emits byte for byte; pretty+sorted emission does the same;
 *  - the raw bytes as a string body: when they need no escaping, the parser
 *    accepts "<bytes>" exactly when json_utf8_valid() does;
 *  - json_emit_string of the raw bytes always yields a JSON string that
 *    parses, and gives the bytes back when they are valid UTF-8. */
#include "fuzz.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/json.h"



static const struct json_limits small_limits = {
	.max_input_bytes = 1 << 16,
	.max_depth = 24,
	.max_string_bytes = 512,
};

/* Emitted text can be longer than its source ("1e2" -> "100.0"), so the
 * reparse allows more input; depth and string lengths are unchanged. */
static const struct json_limits reparse_limits = {
	.max_input_bytes = 1 << 24,
	.max_depth = 24,
	.max_string_bytes = 512,
};

/* Depth is bounded by small_limits.max_depth, so recursion is fine here. */
static void check_strings(const struct json_value *v)
{
	switch (v->type) {
	case JSON_STRING:
		FUZZ_ASSERT(json_utf8_valid(v->u.string.ptr, v->u.string.len));
		FUZZ_ASSERT(v->u.string.ptr[v->u.string.len] == '\0');
		FUZZ_ASSERT(v->u.string.len <= small_limits.max_string_bytes);
		break;
	case JSON_ARRAY:
		for (size_t i = 0; i < v->u.array.len; i++)
			check_strings(v->u.array.items[i]);
		break;
	case JSON_OBJECT:
		for (size_t i = 0; i < v->u.object.len; i++) {
			const struct json_member *m = &v->u.object.members[i];
			FUZZ_ASSERT(json_utf8_valid(m->key, m->key_len));
			FUZZ_ASSERT(m->key[m->key_len] == '\0');
			FUZZ_ASSERT(m->key_len <= small_limits.max_string_bytes);
			for (size_t j = 0; j < i; j++)
				FUZZ_ASSERT(m->key_len != v->u.object.members[j].key_len ||
					    memcmp(m->key, v->u.object.members[j].key, m->key_len));
			check_strings(m->value);
		}
		break;
	case JSON_NUMBER:
		if (v->u.number.is_int)
			FUZZ_ASSERT(v->u.number.d == (double)v->u.number.i);
		break;
	default:
		break;
	}
}

/* Emit v with flags, reparse, check equality and identical re-emission. */
static void check_roundtrip(const struct json_value *v, unsigned flags)
{
	struct buf e1 = BUF_INIT, e2 = BUF_INIT;
	struct json_doc *doc = json_doc_new();
	struct json_value *back;
	struct pyro_err err;
	FUZZ_ASSERT(doc);
	FUZZ_ASSERT(json_emit(&e1, v, flags) == 0);
	if (json_parse(doc, e1.data, e1.len, &reparse_limits, &back, &err) != 0) {
		fprintf(stderr, "reparse failed: %s\n%s\n", err.msg, e1.data);
		abort();
	}
	FUZZ_ASSERT(json_equal(v, back));
	FUZZ_ASSERT(json_equal(back, v));
	FUZZ_ASSERT(json_emit(&e2, back, flags) == 0);
	FUZZ_ASSERT(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0);
	buf_release(&e1);
	buf_release(&e2);
	json_doc_free(doc);
}

static void check_raw_string(const uint8_t *data, size_t size)
{
	bool valid = json_utf8_valid((const char *)data, size);
	struct json_limits lim = { .max_string_bytes = size + 1, .max_input_bytes = 1 << 24 };
	struct json_doc *doc = json_doc_new();
	struct json_value *v;
	struct pyro_err err;
	FUZZ_ASSERT(doc);

	/* Bytes that need no escaping, between quotes. */
	bool plain = true;
	for (size_t i = 0; i < size && plain; i++)
		plain = data[i] >= 0x20 && data[i] != '"' && data[i] != '\\';
	if (plain) {
		char *q = malloc(size + 2);
		FUZZ_ASSERT(q);
		q[0] = '"';
		memcpy(q + 1, data, size);
		q[size + 1] = '"';
		int rc = json_parse(doc, q, size + 2, &lim, &v, &err);
		FUZZ_ASSERT((rc == 0) == valid);
		if (rc == 0)
			FUZZ_ASSERT(v->u.string.len == size && !memcmp(v->u.string.ptr, data, size));
		else
			FUZZ_ASSERT(strstr(err.msg, "invalid UTF-8 in string"));
		free(q);
	}

	/* The emitter always produces a parseable string literal. */
	struct buf b = BUF_INIT;
	FUZZ_ASSERT(json_emit_string(&b, (const char *)data, size) == 0);
	lim.max_string_bytes = 3 * size + 1; /* U+FFFD replacements grow it */
	if (json_parse(doc, b.data, b.len, &lim, &v, &err) != 0) {
		fprintf(stderr, "emitted string does not parse: %s\n", err.msg);
		abort();
	}
	FUZZ_ASSERT(v->type == JSON_STRING);
	FUZZ_ASSERT(json_utf8_valid(v->u.string.ptr, v->u.string.len));
	if (valid)
		FUZZ_ASSERT(v->u.string.len == size && !memcmp(v->u.string.ptr, data, size));
	buf_release(&b);
	json_doc_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v = NULL;
	struct pyro_err err;
	FUZZ_ASSERT(doc);
	if (json_parse(doc, (const char *)data, size, &small_limits, &v, &err) == 0) {
		FUZZ_ASSERT(v);
		check_strings(v);
		check_roundtrip(v, JSON_EMIT_COMPACT);
		check_roundtrip(v, JSON_EMIT_PRETTY | JSON_EMIT_SORT_KEYS);
		check_roundtrip(v, JSON_EMIT_SORT_KEYS);
		/* A clone into another doc is equal and emits the same. */
		struct json_doc *d2 = json_doc_new();
		FUZZ_ASSERT(d2);
		struct json_value *c = json_clone(d2, v);
		FUZZ_ASSERT(c && json_equal(c, v));
		json_doc_free(d2);
	} else {
		FUZZ_ASSERT(v == NULL);
		FUZZ_ASSERT(err.code == PYRO_EXIT_USAGE);
		FUZZ_ASSERT(strncmp(err.msg, "invalid JSON at line ", 21) == 0);
	}
	json_doc_free(doc);
	check_raw_string(data, size);
	return 0;
}
