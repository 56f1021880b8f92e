/* Tests for core/json_*.c: parser errors (each with its message), UTF-8 and
 * surrogate rules, limits, duplicate keys, numbers, the emitter, builders,
 * clone/equal and allocation-failure injection. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/exitcodes.h"
#include "../../core/fault.h"
#include "../../core/json.h"
#include "test.h"

/* ---- helpers --------------------------------------------------------- */

static char last_msg[PYRO_ERR_MSG_MAX];
static int last_code;

/* Parse text[0..len) with lim; "OK" or the error message. */
static const char *parse_msg_len(const char *text, size_t len, const struct json_limits *lim)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v = (struct json_value *)1;
	struct pyro_err err = { 0 };
	if (!doc)
		return "no doc";
	int rc = json_parse(doc, text, len, lim, &v, &err);
	if (rc == 0) {
		snprintf(last_msg, sizeof last_msg, "%s", v ? "OK" : "OK but NULL root");
		last_code = 0;
	} else {
		snprintf(last_msg, sizeof last_msg, "%s", v ? "error but root set" : err.msg);
		last_code = err.code;
	}
	json_doc_free(doc);
	return last_msg;
}

static const char *parse_msg(const char *text)
{
	return parse_msg_len(text, strlen(text), NULL);
}

static const char *parse_msg_lim(const char *text, const struct json_limits *lim)
{
	return parse_msg_len(text, strlen(text), lim);
}

static char emitted[8192];

/* Parse, emit with flags; the output or "ERR: message". */
static const char *reemit(const char *text, unsigned flags)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v;
	struct pyro_err err = { 0 };
	if (json_parse(doc, text, strlen(text), NULL, &v, &err) < 0) {
		snprintf(emitted, sizeof emitted, "ERR: %s", err.msg);
	} else {
		struct buf b = BUF_INIT;
		if (json_emit(&b, v, flags) < 0)
			snprintf(emitted, sizeof emitted, "ERR: emit failed");
		else
			snprintf(emitted, sizeof emitted, "%s", b.data);
		buf_release(&b);
	}
	json_doc_free(doc);
	return emitted;
}

static const char *emit_value(const struct json_value *v, unsigned flags)
{
	struct buf b = BUF_INIT;
	if (json_emit(&b, v, flags) < 0)
		snprintf(emitted, sizeof emitted, "ERR: emit failed");
	else
		snprintf(emitted, sizeof emitted, "%s", b.data);
	buf_release(&b);
	return emitted;
}

static const char *emit_str(const char *s, size_t len)
{
	struct buf b = BUF_INIT;
	if (json_emit_string(&b, s, len) < 0)
		snprintf(emitted, sizeof emitted, "ERR: emit failed");
	else
		snprintf(emitted, sizeof emitted, "%s", b.data);
	buf_release(&b);
	return emitted;
}

/* ---- parsing valid documents ---------------------------------------- */

TEST(json_parse_scalars)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v;
	struct pyro_err err = { 0 };
	CHECK(doc);
	CHECK(json_parse(doc, " null ", 6, NULL, &v, &err) == 0);
	CHECK(v->type == JSON_NULL);
	CHECK(json_parse(doc, "true", 4, NULL, &v, &err) == 0);
	CHECK(v->type == JSON_BOOL && v->u.boolean);
	CHECK(json_parse(doc, "\t\r\nfalse\n", 9, NULL, &v, &err) == 0);
	CHECK(v->type == JSON_BOOL && !v->u.boolean);
	CHECK(json_parse(doc, "42", 2, NULL, &v, &err) == 0);
	CHECK(v->type == JSON_NUMBER && v->u.number.is_int && v->u.number.i == 42 &&
	      v->u.number.d == 42.0);
	CHECK(json_parse(doc, "-1.5e2", 6, NULL, &v, &err) == 0);
	CHECK(v->type == JSON_NUMBER && !v->u.number.is_int && v->u.number.d == -150.0);
	CHECK(json_parse(doc, "\"hi\\n\"", 6, NULL, &v, &err) == 0);
	CHECK(v->type == JSON_STRING && v->u.string.len == 3);
	CHECK_STR(v->u.string.ptr, "hi\n");
	/* The text need not be NUL-terminated: only len bytes are read. */
	char nonterm[3] = { '1', '2', '3' };
	CHECK(json_parse(doc, nonterm, 2, NULL, &v, &err) == 0);
	CHECK(v->u.number.i == 12);
	char nonterm_f[3] = { '1', '.', '5' };
	CHECK(json_parse(doc, nonterm_f, 3, NULL, &v, &err) == 0);
	CHECK(v->u.number.d == 1.5);
	json_doc_free(doc);
}

TEST(json_parse_containers)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v;
	struct pyro_err err = { 0 };
	const char *text = "{\"a\": [1, 2, {\"b\": null}], \"c\": {}, \"d\": [], \"e\": \"x\"}";
	CHECK(json_parse(doc, text, strlen(text), NULL, &v, &err) == 0);
	CHECK(v->type == JSON_OBJECT && v->u.object.len == 4);
	CHECK_STR(v->u.object.members[0].key, "a");
	struct json_value *a = json_get(v, "a");
	CHECK(a && a->type == JSON_ARRAY && a->u.array.len == 3);
	CHECK(a->u.array.items[1]->u.number.i == 2);
	CHECK(json_get(a->u.array.items[2], "b")->type == JSON_NULL);
	CHECK(json_get(v, "c")->type == JSON_OBJECT && json_get(v, "c")->u.object.len == 0);
	CHECK(json_get(v, "d")->type == JSON_ARRAY && json_get(v, "d")->u.array.len == 0);
	CHECK_STR(json_get_str(v, "e"), "x");
	CHECK(json_get(v, "zz") == NULL);
	CHECK(json_get(a, "a") == NULL); /* not an object */
	json_doc_free(doc);
}

TEST(json_parse_strings_with_nul)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v;
	struct pyro_err err = { 0 };
	const char *text = "{\"a\\u0000b\": \"x\\u0000y\", \"a\": 1}";
	CHECK(json_parse(doc, text, strlen(text), NULL, &v, &err) == 0);
	const struct json_member *m = &v->u.object.members[0];
	CHECK(m->key_len == 3 && memcmp(m->key, "a\0b", 4) == 0);
	CHECK(m->value->u.string.len == 3 && memcmp(m->value->u.string.ptr, "x\0y", 4) == 0);
	/* "a" matches the second member, never the "a\0b" one. */
	struct json_value *a = json_get(v, "a");
	CHECK(a && a->type == JSON_NUMBER && a->u.number.i == 1);
	/* A key with a NUL and nothing matching the prefix. */
	const char *t2 = "{\"k\\u0000\": 1}";
	CHECK(json_parse(doc, t2, strlen(t2), NULL, &v, &err) == 0);
	CHECK(json_get(v, "k") == NULL);
	/* Strings always carry a NUL after the last byte. */
	CHECK(json_parse(doc, "\"\"", 2, NULL, &v, &err) == 0);
	CHECK(v->u.string.len == 0 && v->u.string.ptr[0] == '\0');
	json_doc_free(doc);
}

TEST(json_parse_escapes)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v;
	struct pyro_err err = { 0 };
	const char *text = "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041\\u00e9\\u20AC\"";
	CHECK(json_parse(doc, text, strlen(text), NULL, &v, &err) == 0);
	CHECK_STR(v->u.string.ptr, "\" \\ / \b \f \n \r \t A\xc3\xa9\xe2\x82\xac");
	json_doc_free(doc);
}

TEST(json_parse_surrogate_pairs)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v;
	struct pyro_err err = { 0 };
	const char *text = "\"\\ud83d\\ude00 \\uD800\\uDC00 \\udbff\\udfff\"";
	CHECK(json_parse(doc, text, strlen(text), NULL, &v, &err) == 0);
	CHECK_STR(v->u.string.ptr, "\xf0\x9f\x98\x80 \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf");
	CHECK(v->u.string.len == 14);
	/* Raw UTF-8 of the same characters is accepted as is. */
	const char *raw = "\"\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xc2\x80\xef\xbf\xbf\"";
	CHECK(json_parse(doc, raw, strlen(raw), NULL, &v, &err) == 0);
	CHECK(v->u.string.len == 13);
	json_doc_free(doc);
}

/* ---- syntax errors ---------------------------------------------------- */

struct err_case {
	const char *in;
	const char *msg;
};

static const struct err_case syntax_errors[] = {
	{ "", "invalid JSON at line 1, column 1: unexpected end of input, expected a value" },
	{ "  \n ", "invalid JSON at line 2, column 2: unexpected end of input, expected a value" },
	{ "x", "invalid JSON at line 1, column 1: unexpected character 'x'" },
	{ "[1 2]", "invalid JSON at line 1, column 4: expected ',' or ']' after array element" },
	{ "[1,2", "invalid JSON at line 1, column 5: unexpected end of input, expected ',' or ']' after array element" },
	{ "{\"a\":1]", "invalid JSON at line 1, column 7: expected ',' or '}' after object member" },
	{ "{\"a\":1", "invalid JSON at line 1, column 7: unexpected end of input, expected ',' or '}' after object member" },
	{ "{\"a\" 1}", "invalid JSON at line 1, column 6: expected ':' after object key" },
	{ "{\"a\"", "invalid JSON at line 1, column 5: unexpected end of input, expected ':' after object key" },
	{ "{a:1}", "invalid JSON at line 1, column 2: expected '\"' to begin an object key" },
	{ "{'a':1}", "invalid JSON at line 1, column 2: expected '\"' to begin an object key" },
	{ "{", "invalid JSON at line 1, column 2: unexpected end of input, expected '\"' to begin an object key" },
	{ "{\"a\":}", "invalid JSON at line 1, column 6: unexpected character '}', expected a value" },
	{ "[,1]", "invalid JSON at line 1, column 2: unexpected character ',', expected a value" },
	{ "[1,]", "invalid JSON at line 1, column 4: trailing comma before ']'" },
	{ "{\"a\":1,}", "invalid JSON at line 1, column 8: trailing comma before '}'" },
	{ "{\"a\":1,2}", "invalid JSON at line 1, column 8: expected '\"' to begin an object key" },
	{ "]", "invalid JSON at line 1, column 1: unexpected character ']', expected a value" },
	{ "1 2", "invalid JSON at line 1, column 3: trailing characters after the value" },
	{ "{} x", "invalid JSON at line 1, column 4: trailing characters after the value" },
	{ "truex", "invalid JSON at line 1, column 5: trailing characters after the value" },
	{ "tru", "invalid JSON at line 1, column 4: unexpected end of input in literal 'true'" },
	{ "trUe", "invalid JSON at line 1, column 3: unexpected character 'U' in literal 'true'" },
	{ "nul", "invalid JSON at line 1, column 4: unexpected end of input in literal 'null'" },
	{ "fals e", "invalid JSON at line 1, column 5: unexpected byte 0x20 in literal 'false'" },
	{ "True", "invalid JSON at line 1, column 1: unexpected character 'T'" },
	{ "NaN", "invalid JSON at line 1, column 1: unexpected character 'N'" },
	{ "Infinity", "invalid JSON at line 1, column 1: unexpected character 'I'" },
	{ "'a'", "invalid JSON at line 1, column 1: unexpected character '''" },
	{ "/* c */ 1", "invalid JSON at line 1, column 1: unexpected character '/'" },
	{ "[1] // c", "invalid JSON at line 1, column 5: trailing characters after the value" },
	{ "\x01", "invalid JSON at line 1, column 1: unexpected byte 0x01" },
	{ "\xc3\xa9", "invalid JSON at line 1, column 1: unexpected byte 0xc3" },
	{ "\xef\xbb\xbf{}", "invalid JSON at line 1, column 1: a byte order mark (U+FEFF) is not allowed" },
	{ "\f1", "invalid JSON at line 1, column 1: unexpected byte 0x0c" },
	/* numbers */
	{ "01", "invalid JSON at line 1, column 1: leading zeros are not allowed" },
	{ "-01", "invalid JSON at line 1, column 2: leading zeros are not allowed" },
	{ "[00]", "invalid JSON at line 1, column 2: leading zeros are not allowed" },
	{ "-", "invalid JSON at line 1, column 2: unexpected end of input, expected a digit after '-'" },
	{ "-a", "invalid JSON at line 1, column 2: expected a digit after '-'" },
	{ "- 1", "invalid JSON at line 1, column 2: expected a digit after '-'" },
	{ "+1", "invalid JSON at line 1, column 1: unexpected character '+'" },
	{ ".5", "invalid JSON at line 1, column 1: unexpected character '.'" },
	{ "1.", "invalid JSON at line 1, column 3: unexpected end of input, expected a digit after the decimal point" },
	{ "1.e5", "invalid JSON at line 1, column 3: expected a digit after the decimal point" },
	{ "1e", "invalid JSON at line 1, column 3: unexpected end of input, expected a digit in the exponent" },
	{ "1e+", "invalid JSON at line 1, column 4: unexpected end of input, expected a digit in the exponent" },
	{ "[1E-x]", "invalid JSON at line 1, column 5: expected a digit in the exponent" },
	{ "0x10", "invalid JSON at line 1, column 2: trailing characters after the value" },
	{ "1e400", "invalid JSON at line 1, column 1: number out of range" },
	{ "[0, -1e999]", "invalid JSON at line 1, column 5: number out of range" },
	/* strings */
	{ "\"abc", "invalid JSON at line 1, column 1: unterminated string" },
	{ "[\"a\\\"]", "invalid JSON at line 1, column 2: unterminated string" },
	{ "\"abc\\", "invalid JSON at line 1, column 1: unterminated string" },
	{ "\"a\nb\"", "invalid JSON at line 1, column 3: unescaped control character U+000A in string" },
	{ "\"a\tb\"", "invalid JSON at line 1, column 3: unescaped control character U+0009 in string" },
	{ "\"\x1f\"", "invalid JSON at line 1, column 2: unescaped control character U+001F in string" },
	{ "\"a\nb", "invalid JSON at line 1, column 3: unescaped control character U+000A in string" },
	{ "\"\\x\"", "invalid JSON at line 1, column 2: invalid escape '\\x' in string" },
	{ "\"\\'\"", "invalid JSON at line 1, column 2: invalid escape '\\'' in string" },
	{ "\"\\\x01\"", "invalid JSON at line 1, column 2: invalid escape: byte 0x01 after '\\' in string" },
	{ "\"\\u12\"", "invalid JSON at line 1, column 2: invalid \\u escape: expected 4 hex digits" },
	{ "\"\\u12G4\"", "invalid JSON at line 1, column 2: invalid \\u escape: expected 4 hex digits" },
	{ "\"\\U0041\"", "invalid JSON at line 1, column 2: invalid escape '\\U' in string" },
	{ "\"\\ud800\"", "invalid JSON at line 1, column 2: lone surrogate \\ud800" },
	{ "\"\\udbff\"", "invalid JSON at line 1, column 2: lone surrogate \\udbff" },
	{ "\"ab\\uDC00\"", "invalid JSON at line 1, column 4: lone surrogate \\udc00" },
	{ "\"\\udfff\"", "invalid JSON at line 1, column 2: lone surrogate \\udfff" },
	{ "\"\\ud800x\"", "invalid JSON at line 1, column 2: lone surrogate \\ud800" },
	{ "\"\\ud800\\n\"", "invalid JSON at line 1, column 2: lone surrogate \\ud800" },
	{ "\"\\ud800\\u0041\"", "invalid JSON at line 1, column 2: lone surrogate \\ud800" },
	{ "\"\\ud800\\ud800\"", "invalid JSON at line 1, column 2: lone surrogate \\ud800" },
	{ "\"\\ud800\\uzzzz\"", "invalid JSON at line 1, column 8: invalid \\u escape: expected 4 hex digits" },
	{ "\"\\udc00\\ud800\"", "invalid JSON at line 1, column 2: lone surrogate \\udc00" },
	/* positions: lines count '\n', columns count characters */
	{ "{\n  \"a\": 1,\n  \"b\": tru\n}", "invalid JSON at line 3, column 11: unexpected byte 0x0a in literal 'true'" },
	{ "[\"\xc3\xa9\xc3\xa9\", x]", "invalid JSON at line 1, column 8: unexpected character 'x'" },
};

TEST(json_syntax_errors)
{
	for (size_t i = 0; i < sizeof syntax_errors / sizeof syntax_errors[0]; i++) {
		const struct err_case *c = &syntax_errors[i];
		const char *got = parse_msg(c->in);
		const char *want = c->msg;
		if (strcmp(got, want) != 0)
			fprintf(stderr, "    input #%zu: %s\n", i, c->in);
		CHECK_STR(got, want);
		CHECK(last_code == PYRO_EXIT_USAGE);
	}
}

TEST(json_parse_error_leaves_root_null)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v = json_null(doc);
	struct pyro_err err = { 0 };
	CHECK(json_parse(doc, "[1,", 3, NULL, &v, &err) == -1);
	CHECK(v == NULL);
	CHECK(err.code == PYRO_EXIT_USAGE);
	/* NULL text with len 0 is an empty input; NULL err is allowed. */
	CHECK(json_parse(doc, NULL, 0, NULL, &v, NULL) == -1);
	CHECK(json_parse(doc, NULL, 0, NULL, &v, &err) == -1);
	CHECK_CONTAINS(err.msg, "unexpected end of input");
	CHECK(json_parse(NULL, "1", 1, NULL, &v, &err) == -1);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	json_doc_free(doc);
}

TEST(json_nul_byte_in_input)
{
	CHECK_STR(parse_msg_len("[1,\0]", 5, NULL),
		  "invalid JSON at line 1, column 4: unexpected byte 0x00");
	CHECK_STR(parse_msg_len("1\0", 2, NULL),
		  "invalid JSON at line 1, column 2: trailing characters after the value");
	CHECK_STR(parse_msg_len("\"a\0\"", 4, NULL),
		  "invalid JSON at line 1, column 3: unescaped control character U+0000 in string");
}

/* ---- UTF-8 ------------------------------------------------------------- */

struct utf8_case {
	const char *bytes; /* the string body, between quotes */
	const char *what;  /* NULL: valid */
};

static const struct utf8_case utf8_cases[] = {
	{ "plain ascii", NULL },
	{ "\xc2\x80", NULL },                 /* U+0080, smallest 2-byte */
	{ "\xdf\xbf", NULL },                 /* U+07FF */
	{ "\xe0\xa0\x80", NULL },             /* U+0800, smallest 3-byte */
	{ "\xed\x9f\xbf", NULL },             /* U+D7FF, just below surrogates */
	{ "\xee\x80\x80", NULL },             /* U+E000, just above */
	{ "\xef\xbf\xbf", NULL },             /* U+FFFF */
	{ "\xf0\x90\x80\x80", NULL },         /* U+10000 */
	{ "\xf4\x8f\xbf\xbf", NULL },         /* U+10FFFF */
	{ "\x7f", NULL },                     /* DEL is not a control character for JSON */
	{ "\xc0\x80", "overlong encoding (byte 0xc0)" },   /* overlong NUL */
	{ "\xc1\xbf", "overlong encoding (byte 0xc1)" },
	{ "\xe0\x9f\xbf", "overlong encoding (byte 0xe0)" },
	{ "\xf0\x8f\xbf\xbf", "overlong encoding (byte 0xf0)" },
	{ "\xed\xa0\x80", "UTF-16 surrogate encoded in UTF-8 (byte 0xed)" },
	{ "\xed\xbf\xbf", "UTF-16 surrogate encoded in UTF-8 (byte 0xed)" },
	{ "\xf4\x90\x80\x80", "code point above U+10FFFF (byte 0xf4)" },
	{ "\xf5\x80\x80\x80", "code point above U+10FFFF (byte 0xf5)" },
	{ "\xf8\x88\x80\x80\x80", "invalid byte (byte 0xf8)" },
	{ "\xff", "invalid byte (byte 0xff)" },
	{ "\xfe", "invalid byte (byte 0xfe)" },
	{ "\xc3", "truncated sequence (byte 0xc3)" },
	{ "\xe2\x82", "truncated sequence (byte 0xe2)" },
	{ "\xf0\x9f\x98", "truncated sequence (byte 0xf0)" },
	{ "\xe2\x82" "a", "truncated sequence (byte 0xe2)" },
	{ "\x80", "unexpected continuation byte (byte 0x80)" },
	{ "ab\xbf", "unexpected continuation byte (byte 0xbf)" },
	{ "\xc3\xa9\xa9", "unexpected continuation byte (byte 0xa9)" },
};

TEST(json_utf8_rules)
{
	char text[64], want[256];
	for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
		const struct utf8_case *c = &utf8_cases[i];
		snprintf(text, sizeof text, "\"%s\"", c->bytes);
		const char *got = parse_msg(text);
		if (!c->what) {
			snprintf(want, sizeof want, "OK");
		} else {
			/* The column of the first bad byte: 1 for '"' plus one
			 * per character before it. */
			size_t col = 2;
			const char *bad = c->bytes;
			if (!strncmp(bad, "ab", 2))
				col = 4, bad += 2;
			else if (!strncmp(bad, "\xc3\xa9", 2))
				col = 3;
			snprintf(want, sizeof want,
				 "invalid JSON at line 1, column %zu: invalid UTF-8 in string: %s", col,
				 c->what);
		}
		if (strcmp(got, want))
			fprintf(stderr, "    utf8 case #%zu\n", i);
		CHECK_STR(got, want);
		/* json_utf8_valid agrees with the parser. */
		CHECK(json_utf8_valid(c->bytes, strlen(c->bytes)) == (c->what == NULL));
	}
}

TEST(json_utf8_valid_direct)
{
	CHECK(json_utf8_valid("", 0));
	CHECK(json_utf8_valid(NULL, 0));
	CHECK(!json_utf8_valid(NULL, 1));
	CHECK(json_utf8_valid("a\0b", 3)); /* NUL is valid UTF-8 */
	CHECK(json_utf8_valid("\n\t\x01", 3));
	CHECK(json_utf8_valid("\xe2\x82\xac", 3));
	CHECK(!json_utf8_valid("\xe2\x82\xac", 2)); /* truncated by len */
	CHECK(!json_utf8_valid("\xc0\xaf", 2));
	CHECK(!json_utf8_valid("\xed\xb0\x80", 3));
	CHECK(!json_utf8_valid("\xf4\x90\x80\x80", 4));
	CHECK(!json_utf8_valid("a\x80", 2));
}

TEST(json_utf8_in_keys)
{
	CHECK_STR(parse_msg("{\"\xc3\xa9\": 1}"), "OK");
	CHECK_STR(parse_msg("{\"\xc3\": 1}"),
		  "invalid JSON at line 1, column 3: invalid UTF-8 in string: truncated sequence (byte 0xc3)");
	CHECK_STR(parse_msg("{\"\\ud800\": 1}"),
		  "invalid JSON at line 1, column 3: lone surrogate \\ud800");
}

/* ---- limits ------------------------------------------------------------- */

static char *repeat_wrap(size_t n, const char *open, const char *mid, const char *close)
{
	size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
	char *s = malloc(n * (lo + lc) + lm + 1);
	if (!s)
		return NULL;
	char *p = s;
	for (size_t i = 0; i < n; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, mid, lm);
	p += lm;
	for (size_t i = 0; i < n; i++, p += lc)
		memcpy(p, close, lc);
	*p = '\0';
	return s;
}

TEST(json_depth_limit_default)
{
	char *ok = repeat_wrap(64, "[", "1", "]");
	char *bad = repeat_wrap(65, "[", "1", "]");
	char *obj_ok = repeat_wrap(64, "{\"k\":", "{}", "}");
	char *mixed_ok = repeat_wrap(32, "[{\"a\":", "0", "}]");
	char *mixed_bad = repeat_wrap(32, "[{\"a\":", "[]", "}]");
	CHECK(ok && bad && obj_ok && mixed_ok && mixed_bad);
	CHECK_STR(parse_msg(ok), "OK");
	CHECK_STR(parse_msg(bad), "invalid JSON at line 1, column 65: nesting deeper than 64 levels");
	/* 64 objects plus an empty object inside: 65 levels */
	CHECK_STR(parse_msg(obj_ok),
		  "invalid JSON at line 1, column 321: nesting deeper than 64 levels");
	CHECK_STR(parse_msg(mixed_ok), "OK");
	CHECK_CONTAINS(parse_msg(mixed_bad), "nesting deeper than 64 levels");
	free(ok);
	free(bad);
	free(obj_ok);
	free(mixed_ok);
	free(mixed_bad);
}

TEST(json_depth_limit_custom)
{
	struct json_limits lim = { .max_depth = 3 };
	CHECK_STR(parse_msg_lim("[[[1]]]", &lim), "OK");
	CHECK_STR(parse_msg_lim("[[[[1]]]]", &lim),
		  "invalid JSON at line 1, column 4: nesting deeper than 3 levels");
	CHECK_STR(parse_msg_lim("[[[[]]]]", &lim),
		  "invalid JSON at line 1, column 4: nesting deeper than 3 levels");
	CHECK_STR(parse_msg_lim("[{\"a\":[]}]", &lim), "OK");
	CHECK_STR(parse_msg_lim("[{\"a\":[{}]}]", &lim),
		  "invalid JSON at line 1, column 8: nesting deeper than 3 levels");
	/* Scalars are not nesting. */
	struct json_limits one = { .max_depth = 1 };
	CHECK_STR(parse_msg_lim("[1,2,\"x\"]", &one), "OK");
	CHECK_STR(parse_msg_lim("[[1]]", &one), "invalid JSON at line 1, column 2: nesting deeper than 1 levels");
}

TEST(json_deep_nesting_no_stack_overflow)
{
	/* 200k nested arrays with a huge depth limit: the parser is iterative. */
	size_t n = 200000;
	char *s = malloc(2 * n + 1);
	CHECK(s);
	memset(s, '[', n);
	memset(s + n, ']', n);
	s[2 * n] = '\0';
	CHECK_STR(parse_msg(s), "invalid JSON at line 1, column 65: nesting deeper than 64 levels");
	struct json_limits lim = { .max_depth = 2 * n };
	CHECK_STR(parse_msg_lim(s, &lim), "OK");
	/* Unclosed: the error is at the end, not a crash. */
	CHECK_STR(parse_msg_len(s, n, &lim),
		  "invalid JSON at line 1, column 200001: unexpected end of input, expected a value");
	/* Emitting, cloning and comparing such a tree do not recurse either. */
	struct json_doc *doc = json_doc_new();
	struct json_doc *doc2 = json_doc_new();
	struct json_value *v;
	struct pyro_err err;
	CHECK(json_parse(doc, s, 2 * n, &lim, &v, &err) == 0);
	struct buf b = BUF_INIT;
	CHECK(json_emit(&b, v, 0) == 0);
	CHECK(b.len == 2 * n && memcmp(b.data, s, 2 * n) == 0);
	struct json_value *c = json_clone(doc2, v);
	CHECK(c);
	CHECK(json_equal(v, c));
	buf_release(&b);
	json_doc_free(doc);
	json_doc_free(doc2);
	free(s);
}

TEST(json_string_limit)
{
	struct json_limits lim = { .max_string_bytes = 8 };
	CHECK_STR(parse_msg_lim("\"12345678\"", &lim), "OK");
	CHECK_STR(parse_msg_lim("\"123456789\"", &lim),
		  "invalid JSON at line 1, column 1: string longer than 8 bytes");
	/* Decoded length counts: 4 x U+00E9 is 8 bytes, a 5th is 10. */
	CHECK_STR(parse_msg_lim("\"\\u00e9\\u00e9\\u00e9\\u00e9\"", &lim), "OK");
	CHECK_STR(parse_msg_lim("[\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"]", &lim),
		  "invalid JSON at line 1, column 2: string longer than 8 bytes");
	CHECK_STR(parse_msg_lim("\"\\n\\n\\n\\n\\n\\n\\n\\n\"", &lim), "OK");
	CHECK_STR(parse_msg_lim("{\"123456789\": 1}", &lim),
		  "invalid JSON at line 1, column 2: key longer than 8 bytes");
	CHECK_STR(parse_msg_lim("{\"12345678\": \"12345678\"}", &lim), "OK");
	/* An unterminated over-long string reports the limit first. */
	CHECK_STR(parse_msg_lim("\"1234567890", &lim),
		  "invalid JSON at line 1, column 1: string longer than 8 bytes");
	/* Default limit: 4 MiB. */
	size_t n = JSON_DEFAULT_MAX_STRING;
	char *s = malloc(n + 4);
	CHECK(s);
	s[0] = '"';
	memset(s + 1, 'a', n);
	s[n + 1] = '"';
	CHECK_STR(parse_msg_len(s, n + 2, NULL), "OK");
	s[n + 1] = 'a';
	s[n + 2] = '"';
	CHECK_STR(parse_msg_len(s, n + 3, NULL),
		  "invalid JSON at line 1, column 1: string longer than 4194304 bytes");
	free(s);
}

TEST(json_input_limit)
{
	struct json_limits lim = { .max_input_bytes = 10 };
	CHECK_STR(parse_msg_lim("[1,2,3,45]", &lim), "OK");
	CHECK_STR(parse_msg_lim("[1,2,3,456]", &lim),
		  "invalid JSON at line 1, column 11: input larger than 10 bytes");
	CHECK(last_code == PYRO_EXIT_USAGE);
	CHECK_STR(parse_msg_lim("\n\n\n\n1      ", &lim),
		  "invalid JSON at line 5, column 7: input larger than 10 bytes");
	/* The default is 16 MiB. */
	size_t n = JSON_DEFAULT_MAX_INPUT + 1;
	char *s = malloc(n);
	CHECK(s);
	memset(s, ' ', n);
	s[0] = '1';
	CHECK_STR(parse_msg_len(s, n - 1, NULL), "OK");
	CHECK_STR(parse_msg_len(s, n, NULL),
		  "invalid JSON at line 1, column 16777217: input larger than 16777216 bytes");
	free(s);
}

/* ---- duplicate keys ------------------------------------------------------ */

TEST(json_duplicate_keys_small)
{
	CHECK_STR(parse_msg("{\"a\":1,\"a\":2}"),
		  "invalid JSON at line 1, column 8: duplicate key \"a\"");
	CHECK_STR(parse_msg("{\"a\":1,\"b\":2,\"b\":3,\"a\":4}"),
		  "invalid JSON at line 1, column 14: duplicate key \"b\"");
	/* Escapes are decoded before comparing. */
	CHECK_STR(parse_msg("{\"A\":1,\"\\u0041\":2}"),
		  "invalid JSON at line 1, column 8: duplicate key \"A\"");
	/* Keys differing only after a NUL are different; equal ones are not. */
	CHECK_STR(parse_msg("{\"a\\u0000b\":1,\"a\\u0000c\":2,\"a\":3}"), "OK");
	CHECK_STR(parse_msg("{\"a\\u0000b\":1,\"a\\u0000b\":2}"),
		  "invalid JSON at line 1, column 15: duplicate key \"a\\u0000b\"");
	/* Same key in different objects is fine. */
	CHECK_STR(parse_msg("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}"), "OK");
	CHECK_STR(parse_msg("[{\"a\":1},{\"a\":1}]"), "OK");
	CHECK_STR(parse_msg("{\"\":1,\"\":2}"), "invalid JSON at line 1, column 7: duplicate key \"\"");
	/* A nested duplicate is reported from the inner object. */
	CHECK_STR(parse_msg("{\"o\":{\"x\":1,\"x\":2},\"o2\":1}"),
		  "invalid JSON at line 1, column 13: duplicate key \"x\"");
	/* Quotes and long keys are escaped and cut in the message. */
	CHECK_STR(parse_msg("{\"q\\\"\":1,\"q\\\"\":2}"),
		  "invalid JSON at line 1, column 10: duplicate key \"q\\\"\"");
	char big[400];
	char key[101];
	memset(key, 'k', 100);
	key[100] = '\0';
	snprintf(big, sizeof big, "{\"%s\":1,\"%s\":2}", key, key);
	CHECK_CONTAINS(parse_msg(big), "duplicate key \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"...");
}

/* {"k0":0,"k1":1,...} with n members, and `extra` appended raw. */
static char *big_object(size_t n, const char *extra)
{
	struct buf b = BUF_INIT;
	buf_append_char(&b, '{');
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s\"k%zu\":%zu", i ? "," : "", i, i);
	buf_append_str(&b, extra);
	buf_append_char(&b, '}');
	return buf_detach(&b, NULL);
}

TEST(json_duplicate_keys_large)
{
	char *s = big_object(100000, "");
	CHECK(s);
	struct json_doc *doc = json_doc_new();
	struct json_value *v;
	struct pyro_err err;
	clock_t t0 = clock();
	CHECK(json_parse(doc, s, strlen(s), NULL, &v, &err) == 0);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	CHECK(secs < 1.0);
	CHECK(v->u.object.len == 100000);
	int64_t i;
	CHECK(json_get_int(v, "k99999", &i) && i == 99999);
	json_doc_free(doc);
	free(s);

	/* Duplicate at the end of a big object. */
	s = big_object(100000, ",\"k5\":0");
	CHECK(s);
	t0 = clock();
	const char *m = parse_msg(s);
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	CHECK(secs < 1.0);
	CHECK_CONTAINS(m, "duplicate key \"k5\"");
	char want[128];
	snprintf(want, sizeof want, "invalid JSON at line 1, column %zu: duplicate key \"k5\"",
		 strlen(s) - strlen(",\"k5\":0}") + 2);
	CHECK_STR(m, want);
	free(s);

	/* Several duplicates: the first repeat in document order wins. */
	s = big_object(20, ",\"k7\":0,\"k3\":0,\"k7\":1");
	CHECK(s);
	CHECK_CONTAINS(parse_msg(s), "duplicate key \"k7\"");
	free(s);
	s = big_object(20, ",\"k9\":0,\"k1\":0");
	CHECK(s);
	CHECK_CONTAINS(parse_msg(s), "duplicate key \"k9\"");
	free(s);
	/* 17 members, the smallest object checked by sorting. */
	s = big_object(16, ",\"k0\":0");
	CHECK(s);
	CHECK_CONTAINS(parse_msg(s), "duplicate key \"k0\"");
	free(s);
}

/* ---- numbers ----------------------------------------------------------- */

static struct json_value *parse1(struct json_doc *doc, const char *text)
{
	struct json_value *v = NULL;
	struct pyro_err err;
	if (json_parse(doc, text, strlen(text), NULL, &v, &err) < 0)
		return NULL;
	return v;
}

TEST(json_int64_boundaries)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v;
	v = parse1(doc, "9223372036854775807");
	CHECK(v && v->u.number.is_int && v->u.number.i == INT64_MAX);
	v = parse1(doc, "-9223372036854775808");
	CHECK(v && v->u.number.is_int && v->u.number.i == INT64_MIN);
	CHECK(v->u.number.d == -9223372036854775808.0);
	v = parse1(doc, "9223372036854775808");
	CHECK(v && !v->u.number.is_int && v->u.number.d == 9223372036854775808.0);
	v = parse1(doc, "-9223372036854775809");
	CHECK(v && !v->u.number.is_int && v->u.number.d == -9223372036854775808.0);
	v = parse1(doc, "18446744073709551616");
	CHECK(v && !v->u.number.is_int && v->u.number.d == 18446744073709551616.0);
	v = parse1(doc, "123456789012345678901234567890");
	CHECK(v && !v->u.number.is_int && v->u.number.d == 1.2345678901234568e29);
	v = parse1(doc, "0");
	CHECK(v && v->u.number.is_int && v->u.number.i == 0);
	CHECK_STR(reemit("[9223372036854775807,-9223372036854775808]", 0),
		  "[9223372036854775807,-9223372036854775808]");
	CHECK_STR(reemit("[9223372036854775808,-9223372036854775809]", 0),
		  "[9.223372036854776e+18,-9.223372036854776e+18]");
	json_doc_free(doc);
}

TEST(json_numbers_misc)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v;
	/* "-0" is the integer 0 (like Python); "-0.0" is the double -0.0. */
	v = parse1(doc, "-0");
	CHECK(v && v->u.number.is_int && v->u.number.i == 0 && !signbit(v->u.number.d));
	v = parse1(doc, "-0.0");
	CHECK(v && !v->u.number.is_int && v->u.number.d == 0 && signbit(v->u.number.d));
	v = parse1(doc, "0e5");
	CHECK(v && !v->u.number.is_int && v->u.number.d == 0);
	v = parse1(doc, "1E2");
	CHECK(v && !v->u.number.is_int && v->u.number.d == 100);
	v = parse1(doc, "1e-400"); /* underflow rounds to zero; not an error */
	CHECK(v && !v->u.number.is_int && v->u.number.d == 0);
	v = parse1(doc, "4.9406564584124654e-324");
	CHECK(v && v->u.number.d == 4.9406564584124654e-324);
	v = parse1(doc, "1.7976931348623157e308");
	CHECK(v && v->u.number.d == DBL_MAX);
	CHECK_STR(parse_msg("1.8e308"), "invalid JSON at line 1, column 1: number out of range");
	CHECK_STR(parse_msg("-1.8e308"), "invalid JSON at line 1, column 1: number out of range");
	/* A 400-digit integer is out of double range too; 300 digits fit. */
	char digits[402];
	memset(digits, '9', 400);
	digits[400] = '\0';
	CHECK_STR(parse_msg(digits), "invalid JSON at line 1, column 1: number out of range");
	digits[300] = '\0';
	v = parse1(doc, digits);
	CHECK(v && !v->u.number.is_int && v->u.number.d == 1e300);
	v = parse1(doc, "0.1");
	CHECK(v && v->u.number.d == 0.1);
	json_doc_free(doc);
}

TEST(json_emit_doubles)
{
	struct json_doc *doc = json_doc_new();
	struct { double d; const char *want; } cases[] = {
		{ 0.1, "0.1" },
		{ 1.0 / 3, "0.3333333333333333" },
		{ 2.0 / 3, "0.6666666666666666" },
		{ 3.0, "3.0" },
		{ -0.0, "-0.0" },
		{ 0.0, "0.0" },
		{ 1e300, "1e+300" },
		{ 1.5e-7, "1.5e-07" },
		{ 1e21, "1e+21" },
		{ 1e15, "1e+15" },
		{ 123456789.0, "123456789.0" },
		{ 5e-324, "4.94065645841247e-324" }, /* %.15g already round-trips */
		{ DBL_MAX, "1.7976931348623157e+308" },
		{ 0.1 + 0.2, "0.30000000000000004" },
		{ 9007199254740993.0, "9007199254740992.0" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct json_value *v = json_double(doc, cases[i].d);
		CHECK(v && v->type == JSON_NUMBER && !v->u.number.is_int);
		CHECK_STR(emit_value(v, 0), cases[i].want);
		/* It reads back as the same double. */
		struct json_value *back = parse1(doc, emitted);
		CHECK(back && !back->u.number.is_int);
		CHECK(memcmp(&back->u.number.d, &cases[i].d, sizeof(double)) == 0);
	}
	/* Non-finite doubles become null. */
	CHECK(json_double(doc, INFINITY)->type == JSON_NULL);
	CHECK(json_double(doc, -INFINITY)->type == JSON_NULL);
	CHECK(json_double(doc, NAN)->type == JSON_NULL);
	/* A hand-made non-finite number is still emitted as valid JSON. */
	struct json_value *h = json_double(doc, 1.0);
	h->u.number.d = INFINITY;
	CHECK_STR(emit_value(h, 0), "null");
	json_doc_free(doc);
}

/* ---- emitter ------------------------------------------------------------ */

TEST(json_emit_string_escapes)
{
	CHECK_STR(emit_str("plain", 5), "\"plain\"");
	CHECK_STR(emit_str("", 0), "\"\"");
	CHECK_STR(emit_str("\"\\/", 3), "\"\\\"\\\\/\"");
	CHECK_STR(emit_str("\n\r\t\b\f", 5), "\"\\n\\r\\t\\b\\f\"");
	CHECK_STR(emit_str("\x01\x1f\x7f", 3), "\"\\u0001\\u001f\x7f\"");
	CHECK_STR(emit_str("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9),
		  "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	CHECK_STR(emit_str("\xe2\x80\xa8", 3), "\"\xe2\x80\xa8\"");
	/* NUL inside a string. */
	struct buf b = BUF_INIT;
	CHECK(json_emit_string(&b, "a\0b", 3) == 0);
	CHECK_STR(b.data, "\"a\\u0000b\"");
	buf_release(&b);
	/* Invalid UTF-8 (only possible via builders) becomes U+FFFD per byte. */
	CHECK_STR(emit_str("a\xff" "b", 3), "\"a\xef\xbf\xbd" "b\"");
	CHECK_STR(emit_str("\xc0\x80", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	CHECK_STR(emit_str("\xe2\x82", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	CHECK_STR(emit_str("\xed\xa0\x80", 3), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	/* Every control character. */
	char all[32];
	for (int i = 0; i < 32; i++)
		all[i] = (char)i;
	CHECK_STR(emit_str(all, 32),
		  "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r"
		  "\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
		  "\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"");
	/* json_emit_string appends. */
	struct buf c = BUF_INIT;
	buf_append_str(&c, "x=");
	CHECK(json_emit_string(&c, "y", 1) == 0);
	CHECK_STR(c.data, "x=\"y\"");
	buf_release(&c);
}

static const char *sample =
	"{\"b\":[1,{\"z\":null,\"a\":true}],\"a\":{},\"c\":[],\"s\":\"x\\ny\\u00e9\","
	"\"n\":[[],{}],\"f\":1.5}";

TEST(json_emit_compact)
{
	CHECK_STR(reemit(sample, 0),
		  "{\"b\":[1,{\"z\":null,\"a\":true}],\"a\":{},\"c\":[],\"s\":\"x\\ny\xc3\xa9\","
		  "\"n\":[[],{}],\"f\":1.5}");
	CHECK_STR(reemit(" [ 1 , \"a\" , false , null ] ", 0), "[1,\"a\",false,null]");
	CHECK_STR(reemit("\"\\/\"", 0), "\"/\"");
	CHECK_STR(reemit("{}", JSON_EMIT_PRETTY), "{}");
	CHECK_STR(reemit("[]", JSON_EMIT_PRETTY), "[]");
	CHECK_STR(reemit("7", JSON_EMIT_PRETTY), "7");
}

TEST(json_emit_pretty)
{
	/* Python: json.dumps(json.loads(sample), indent=2, ensure_ascii=False) */
	CHECK_STR(reemit(sample, JSON_EMIT_PRETTY),
		  "{\n  \"b\": [\n    1,\n    {\n      \"z\": null,\n      \"a\": true\n    }\n  ],\n"
		  "  \"a\": {},\n  \"c\": [],\n  \"s\": \"x\\ny\xc3\xa9\",\n  \"n\": [\n    [],\n"
		  "    {}\n  ],\n  \"f\": 1.5\n}");
	/* ... and with sort_keys=True */
	CHECK_STR(reemit(sample, JSON_EMIT_PRETTY | JSON_EMIT_SORT_KEYS),
		  "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"a\": true,\n      \"z\": null\n"
		  "    }\n  ],\n  \"c\": [],\n  \"f\": 1.5,\n  \"n\": [\n    [],\n    {}\n  ],\n"
		  "  \"s\": \"x\\ny\xc3\xa9\"\n}");
	/* Indentation deeper than the emitter's 32-space block. */
	CHECK_STR(reemit("[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]", JSON_EMIT_PRETTY),
		  "[\n"
		  "  [\n"
		  "    [\n"
		  "      [\n"
		  "        [\n"
		  "          [\n"
		  "            [\n"
		  "              [\n"
		  "                [\n"
		  "                  [\n"
		  "                    [\n"
		  "                      [\n"
		  "                        [\n"
		  "                          [\n"
		  "                            [\n"
		  "                              [\n"
		  "                                [\n"
		  "                                  [\n"
		  "                                    [\n"
		  "                                      [\n"
		  "                                        1\n"
		  "                                      ]\n"
		  "                                    ]\n"
		  "                                  ]\n"
		  "                                ]\n"
		  "                              ]\n"
		  "                            ]\n"
		  "                          ]\n"
		  "                        ]\n"
		  "                      ]\n"
		  "                    ]\n"
		  "                  ]\n"
		  "                ]\n"
		  "              ]\n"
		  "            ]\n"
		  "          ]\n"
		  "        ]\n"
		  "      ]\n"
		  "    ]\n"
		  "  ]\n"
		  "]");
}

TEST(json_emit_sorted)
{
	CHECK_STR(reemit(sample, JSON_EMIT_SORT_KEYS),
		  "{\"a\":{},\"b\":[1,{\"a\":true,\"z\":null}],\"c\":[],\"f\":1.5,\"n\":[[],{}],"
		  "\"s\":\"x\\ny\xc3\xa9\"}");
	/* Bytes order: shorter prefix first, uppercase before lowercase, UTF-8
	 * after ASCII, NUL first. */
	CHECK_STR(reemit("{\"ab\":1,\"a\":2,\"b\":3,\"B\":4,\"\xc3\xa9\":5,\"\":6,\"a\\u0000\":7}",
			 JSON_EMIT_SORT_KEYS),
		  "{\"\":6,\"B\":4,\"a\":2,\"a\\u0000\":7,\"ab\":1,\"b\":3,\"\xc3\xa9\":5}");
	/* Sorting does not change the tree. */
	struct json_doc *doc = json_doc_new();
	struct json_value *v = parse1(doc, "{\"b\":1,\"a\":2}");
	CHECK_STR(emit_value(v, JSON_EMIT_SORT_KEYS), "{\"a\":2,\"b\":1}");
	CHECK_STR(emit_value(v, 0), "{\"b\":1,\"a\":2}");
	json_doc_free(doc);
}

TEST(json_emit_cannot_grow)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v = parse1(doc, sample);
	CHECK(v);
	struct buf b;
	buf_init(&b, 20);
	CHECK(buf_append_str(&b, "keep") == 0);
	CHECK(json_emit(&b, v, JSON_EMIT_PRETTY) == -1);
	CHECK(errno == EMSGSIZE);
	CHECK_STR(b.data, "keep"); /* left as it was */
	CHECK(b.len == 4);
	CHECK(json_emit_string(&b, "0123456789abcdef", 16) == -1);
	CHECK_STR(b.data, "keep");
	buf_release(&b);
	json_doc_free(doc);
}

static const char *roundtrip_docs[] = {
	"null", "true", "false", "0", "-0", "-0.0", "1.5", "-2.5e-10", "1e308", "\"\"",
	"\"\\u0000\\u001f\\\"\\\\\\/\\ud83d\\ude00\xe2\x82\xac\"", "[]", "{}", "[[]]", "[{}]",
	"{\"a\":{\"b\":{\"c\":[1,2,3,{\"d\":null}]}}}",
	("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"run\","
	 "\"arguments\":{\"cmd\":[\"ls\",\"-l\"],\"timeout\":30.5}}}"),
	"[9223372036854775807,-9223372036854775808,9223372036854775808,0.1,100,1e2]",
	"{\"\\u0000\":1,\"\\u0000\\u0000\":2,\"\":3}",
};

TEST(json_roundtrip)
{
	unsigned flag_sets[] = { 0, JSON_EMIT_PRETTY, JSON_EMIT_SORT_KEYS,
				 JSON_EMIT_PRETTY | JSON_EMIT_SORT_KEYS };
	for (size_t i = 0; i < sizeof roundtrip_docs / sizeof roundtrip_docs[0]; i++) {
		for (size_t f = 0; f < 4; f++) {
			struct json_doc *d1 = json_doc_new(), *d2 = json_doc_new();
			struct json_value *a, *b;
			struct pyro_err err;
			struct buf e1 = BUF_INIT, e2 = BUF_INIT;
			const char *t = roundtrip_docs[i];
			CHECK(json_parse(d1, t, strlen(t), NULL, &a, &err) == 0);
			CHECK(json_emit(&e1, a, flag_sets[f]) == 0);
			CHECK(json_parse(d2, e1.data, e1.len, NULL, &b, &err) == 0);
			CHECK(json_equal(a, b));
			CHECK(json_emit(&e2, b, flag_sets[f]) == 0);
			CHECK(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0);
			buf_release(&e1);
			buf_release(&e2);
			json_doc_free(d1);
			json_doc_free(d2);
		}
	}
}

/* ---- builders ------------------------------------------------------------ */

TEST(json_builders)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *o = json_object(doc);
	CHECK(o && o->type == JSON_OBJECT && o->u.object.len == 0);
	CHECK(json_set_str(doc, o, "name", "pyro") == 0);
	CHECK(json_set_int(doc, o, "n", -7) == 0);
	CHECK(json_set_bool(doc, o, "ok", true) == 0);
	CHECK(json_set_null(doc, o, "nothing") == 0);
	CHECK(json_set_str(doc, o, "nullstr", NULL) == 0);
	struct json_value *arr = json_array(doc);
	CHECK(json_array_push(doc, arr, json_int(doc, 1)) == 0);
	CHECK(json_array_push(doc, arr, json_double(doc, 2.5)) == 0);
	CHECK(json_array_push(doc, arr, json_string_len(doc, "a\0b", 3)) == 0);
	CHECK(json_array_push(doc, arr, json_string(doc, NULL)) == 0);
	CHECK(json_array_push(doc, arr, json_bool(doc, false)) == 0);
	CHECK(json_array_push(doc, arr, json_null(doc)) == 0);
	CHECK(json_object_set(doc, o, "list", arr) == 0);
	CHECK_STR(emit_value(o, 0),
		  "{\"name\":\"pyro\",\"n\":-7,\"ok\":true,\"nothing\":null,\"nullstr\":null,"
		  "\"list\":[1,2.5,\"a\\u0000b\",null,false,null]}");
	/* Replacing keeps the position. */
	CHECK(json_set_int(doc, o, "name", 1) == 0);
	CHECK(json_set_str(doc, o, "list", "gone") == 0);
	CHECK_STR(emit_value(o, 0),
		  "{\"name\":1,\"n\":-7,\"ok\":true,\"nothing\":null,\"nullstr\":null,\"list\":\"gone\"}");
	CHECK(o->u.object.len == 6);
	/* Getters. */
	int64_t i = 0;
	bool b = false;
	CHECK(json_get_int(o, "name", &i) && i == 1);
	CHECK(json_get_int(o, "n", &i) && i == -7);
	CHECK(!json_get_int(o, "ok", &i));
	CHECK(!json_get_int(o, "missing", &i));
	CHECK(json_get_bool(o, "ok", &b) && b);
	CHECK(!json_get_bool(o, "n", &b));
	CHECK(json_get_str(o, "n") == NULL);
	CHECK_STR(json_get_str(o, "list"), "gone");
	CHECK(json_get(o, NULL) == NULL);
	CHECK(json_get(NULL, "x") == NULL);
	CHECK(json_get_str(NULL, "x") == NULL);
	/* Failure propagation: NULL values and wrong container types. */
	CHECK(json_array_push(doc, arr, NULL) == -1);
	CHECK(json_object_set(doc, o, "k", NULL) == -1);
	CHECK(json_object_set(doc, arr, "k", json_null(doc)) == -1);
	CHECK(json_array_push(doc, o, json_null(doc)) == -1);
	CHECK(json_object_set(doc, o, NULL, json_null(doc)) == -1);
	CHECK(o->u.object.len == 6);
	json_doc_free(doc);
}

TEST(json_get_int_from_double)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *v = parse1(doc, "{\"a\":3.0,\"b\":3.5,\"c\":1e3,\"d\":1e19,\"e\":-0.0,"
				       "\"f\":-9223372036854775808.0,\"g\":9223372036854775807.0}");
	CHECK(v);
	int64_t i;
	CHECK(json_get_int(v, "a", &i) && i == 3);
	CHECK(!json_get_int(v, "b", &i));
	CHECK(json_get_int(v, "c", &i) && i == 1000);
	CHECK(!json_get_int(v, "d", &i));
	CHECK(json_get_int(v, "e", &i) && i == 0);
	CHECK(json_get_int(v, "f", &i) && i == INT64_MIN);
	CHECK(!json_get_int(v, "g", &i)); /* rounds to 2^63: out of range */
	json_doc_free(doc);
}

TEST(json_big_builders)
{
	/* Many members and elements; arrays grow inside the arena. */
	struct json_doc *doc = json_doc_new();
	struct json_value *arr = json_array(doc);
	struct json_value *obj = json_object(doc);
	char key[32];
	for (int i = 0; i < 20000; i++)
		CHECK(json_array_push(doc, arr, json_int(doc, i)) == 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof key, "key%d", i);
		CHECK(json_set_int(doc, obj, key, i) == 0);
	}
	CHECK(arr->u.array.len == 20000 && arr->u.array.items[19999]->u.number.i == 19999);
	CHECK(obj->u.object.len == 2000);
	int64_t v;
	CHECK(json_get_int(obj, "key1999", &v) && v == 1999);
	/* Mixed with other allocations in between. */
	struct json_value *a2 = json_array(doc);
	for (int i = 0; i < 1000; i++) {
		CHECK(json_array_push(doc, a2, json_string(doc, "filler string value")) == 0);
		CHECK(json_array_push(doc, arr, json_int(doc, -i)) == 0);
	}
	CHECK(arr->u.array.len == 21000 && arr->u.array.items[20999]->u.number.i == -999);
	CHECK(arr->u.array.items[5]->u.number.i == 5);
	/* Big strings. */
	char *big = malloc(100000);
	CHECK(big);
	memset(big, 'z', 100000);
	struct json_value *s = json_string_len(doc, big, 100000);
	CHECK(s && s->u.string.len == 100000 && s->u.string.ptr[100000] == '\0');
	CHECK(memcmp(s->u.string.ptr, big, 100000) == 0);
	free(big);
	json_doc_free(doc);
}

TEST(json_type_names)
{
	CHECK_STR(json_type_name(JSON_NULL), "null");
	CHECK_STR(json_type_name(JSON_BOOL), "boolean");
	CHECK_STR(json_type_name(JSON_NUMBER), "number");
	CHECK_STR(json_type_name(JSON_STRING), "string");
	CHECK_STR(json_type_name(JSON_ARRAY), "array");
	CHECK_STR(json_type_name(JSON_OBJECT), "object");
	CHECK_STR(json_type_name((enum json_type)99), "unknown");
}

/* ---- clone and equal ---------------------------------------------------- */

TEST(json_clone_deep)
{
	struct json_doc *d1 = json_doc_new(), *d2 = json_doc_new();
	struct json_value *a = parse1(d1, roundtrip_docs[16]);
	CHECK(a);
	struct json_value *c = json_clone(d2, a);
	CHECK(c && c != a);
	CHECK(json_equal(a, c));
	char before[1024];
	snprintf(before, sizeof before, "%s", emit_value(a, 0));
	json_doc_free(d1); /* the clone owns nothing of d1 */
	CHECK_STR(emit_value(c, 0), before);
	/* Clone scalars, strings with NUL, empty containers. */
	struct json_value *s = json_string_len(d2, "x\0y", 3);
	struct json_value *sc = json_clone(d2, s);
	CHECK(sc && sc->u.string.ptr != s->u.string.ptr && sc->u.string.len == 3 &&
	      memcmp(sc->u.string.ptr, "x\0y", 4) == 0);
	CHECK(json_equal(json_clone(d2, json_array(d2)), json_array(d2)));
	CHECK(json_clone(d2, NULL) == NULL);
	/* The clone is a separate tree: changing it leaves the source. */
	struct json_value *o = json_object(d2);
	CHECK(json_set_int(d2, o, "k", 1) == 0);
	struct json_value *oc = json_clone(d2, o);
	CHECK(json_set_int(d2, oc, "k", 2) == 0);
	CHECK(json_set_int(d2, oc, "new", 3) == 0);
	CHECK_STR(emit_value(o, 0), "{\"k\":1}");
	CHECK_STR(emit_value(oc, 0), "{\"k\":2,\"new\":3}");
	json_doc_free(d2);
}

TEST(json_equal_semantics)
{
	struct json_doc *doc = json_doc_new();
#define EQ(x, y) json_equal(parse1(doc, x), parse1(doc, y))
	CHECK(EQ("null", "null"));
	CHECK(!EQ("null", "false"));
	CHECK(EQ("true", "true"));
	CHECK(!EQ("true", "false"));
	CHECK(EQ("1", "1.0"));   /* same number */
	CHECK(EQ("100", "1e2"));
	CHECK(!EQ("1", "1.5"));
	CHECK(EQ("0", "-0.0"));
	CHECK(EQ("0.1", "0.10"));
	CHECK(!EQ("9007199254740993", "9007199254740992.0"));
	CHECK(!EQ("9223372036854775807", "9223372036854775808"));
	CHECK(EQ("\"a\"", "\"\\u0061\""));
	CHECK(!EQ("\"a\\u0000b\"", "\"a\\u0000c\""));
	CHECK(!EQ("\"a\"", "\"a\\u0000\""));
	CHECK(EQ("[1,[2,{}]]", "[1,[2,{}]]"));
	CHECK(!EQ("[1,2]", "[2,1]"));
	CHECK(!EQ("[1,2]", "[1,2,3]"));
	CHECK(!EQ("[]", "{}"));
	/* Objects compare as sets of members. */
	CHECK(EQ("{\"a\":1,\"b\":[2]}", "{\"b\":[2],\"a\":1}"));
	CHECK(!EQ("{\"a\":1,\"b\":2}", "{\"a\":1,\"c\":2}"));
	CHECK(!EQ("{\"a\":1,\"b\":2}", "{\"b\":1,\"a\":2}"));
	CHECK(!EQ("{\"a\":1}", "{\"a\":1,\"b\":2}"));
	CHECK(json_equal(NULL, NULL));
	CHECK(!json_equal(NULL, json_null(doc)));
#undef EQ
	/* Big objects in different orders (sorted comparison). */
	struct json_value *x = json_object(doc), *y = json_object(doc);
	char key[32];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "k%d", i);
		CHECK(json_set_int(doc, x, key, i) == 0);
		snprintf(key, sizeof key, "k%d", 99 - i);
		CHECK(json_set_int(doc, y, key, 99 - i) == 0);
	}
	CHECK(json_equal(x, y));
	CHECK(json_set_int(doc, y, "k50", -1) == 0);
	CHECK(!json_equal(x, y));
	CHECK(json_set_int(doc, y, "k50", 50) == 0);
	CHECK(json_equal(x, y));
	struct json_value *z = json_clone(doc, y);
	CHECK(json_object_set(doc, z, "k7", json_string(doc, "7")) == 0);
	CHECK(!json_equal(x, z));
	/* Deeply nested but equal: beyond json_equal's inline stack. */
	char *deep = repeat_wrap(200, "[{\"k\":", "1", "}]");
	struct json_limits lim = { .max_depth = 1000 };
	struct json_value *p1, *p2;
	struct pyro_err err;
	CHECK(json_parse(doc, deep, strlen(deep), &lim, &p1, &err) == 0);
	CHECK(json_parse(doc, deep, strlen(deep), &lim, &p2, &err) == 0);
	CHECK(json_equal(p1, p2));
	free(deep);
	json_doc_free(doc);
}

/* ---- allocation failures ------------------------------------------------ */

/* A document that reaches every allocation site of the parser: > 64 items
 * (items stack growth), > 16 depth (frame growth), a > 16-member object
 * (duplicate check by sorting), a number longer than 64 characters
 * (heap copy for strtod) and strings big enough for their own arena chunk. */
static char *fault_document(void)
{
	struct buf b = BUF_INIT;
	buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{");
	for (int i = 0; i < 20; i++)
		buf_printf(&b, "\"p%d\":[%d,\"v\\u00e9%d\",true,null],", i, i, i);
	buf_append_str(&b, "\"long\":\"");
	for (int i = 0; i < 3000; i++)
		buf_append_char(&b, 'a' + i % 26);
	buf_append_str(&b, "\",\"num\":1.");
	for (int i = 0; i < 80; i++)
		buf_append_char(&b, '1' + i % 9);
	buf_append_str(&b, ",\"list\":[");
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "%s{\"i\":%d}", i ? "," : "", i);
	buf_append_str(&b, "],\"deep\":");
	for (int i = 0; i < 20; i++)
		buf_append_char(&b, '[');
	buf_append_str(&b, "\"bottom\"");
	for (int i = 0; i < 20; i++)
		buf_append_char(&b, ']');
	buf_append_str(&b, "}}");
	return buf_detach(&b, NULL);
}

TEST(json_fault_injection_parse)
{
	char *text = fault_document();
	CHECK(text);
	size_t len = strlen(text);
	struct json_doc *ref_doc = json_doc_new();
	struct json_value *ref;
	struct pyro_err err;
	CHECK(json_parse(ref_doc, text, len, NULL, &ref, &err) == 0);
	int failures = 0, first_success = 0;
	for (long n = 1; n < 5000; n++) {
		struct json_doc *doc = json_doc_new();
		CHECK(doc);
		struct json_value *v = (struct json_value *)1;
		memset(&err, 0, sizeof err);
		fault_arm(FAULT_ALLOC, n, ENOMEM);
		int rc = json_parse(doc, text, len, NULL, &v, &err);
		fault_disarm_all();
		if (rc == 0) {
			CHECK(json_equal(v, ref));
			if (!first_success)
				first_success = (int)n;
		} else {
			CHECK(v == NULL);
			CHECK_STR(err.msg, "out of memory while parsing JSON");
			CHECK(err.code == PYRO_EXIT_INTERNAL);
			CHECK(err.sys_errno == ENOMEM);
			CHECK(!first_success); /* failures only before the count runs out */
			failures++;
		}
		json_doc_free(doc);
		if (first_success && n > first_success + 3)
			break;
	}
	CHECK(first_success > 10); /* the document does need many allocations */
	CHECK(failures == first_success - 1);
	json_doc_free(ref_doc);
	free(text);
}

TEST(json_fault_injection_build_emit_clone)
{
	char *text = fault_document();
	CHECK(text);
	struct json_doc *ref_doc = json_doc_new();
	struct json_value *ref;
	struct pyro_err err;
	CHECK(json_parse(ref_doc, text, strlen(text), NULL, &ref, &err) == 0);
	struct buf want = BUF_INIT;
	CHECK(json_emit(&want, ref, JSON_EMIT_PRETTY | JSON_EMIT_SORT_KEYS) == 0);
	int done = 0;
	for (long n = 1; n < 5000 && done < 4; n++) {
		/* emit */
		struct buf out = BUF_INIT;
		buf_append_str(&out, "x");
		fault_arm(FAULT_ALLOC, n, ENOMEM);
		int rc = json_emit(&out, ref, JSON_EMIT_PRETTY | JSON_EMIT_SORT_KEYS);
		fault_disarm_all();
		if (rc == 0) {
			CHECK(out.len == want.len + 1 && !memcmp(out.data + 1, want.data, want.len));
		} else {
			CHECK_STR(out.data, "x");
		}
		buf_release(&out);
		/* clone */
		struct json_doc *doc = json_doc_new();
		fault_arm(FAULT_ALLOC, n, ENOMEM);
		struct json_value *c = json_clone(doc, ref);
		fault_disarm_all();
		if (c)
			CHECK(json_equal(c, ref));
		json_doc_free(doc);
		/* builders, chained */
		doc = json_doc_new();
		fault_arm(FAULT_ALLOC, n, ENOMEM);
		struct json_value *o = json_object(doc);
		int brc = 0;
		for (int i = 0; i < 50 && brc == 0; i++) {
			char key[16];
			snprintf(key, sizeof key, "k%d", i);
			struct json_value *arr = json_array(doc);
			brc = json_array_push(doc, arr, json_string(doc, "some text")) |
			      json_array_push(doc, arr, json_int(doc, i)) |
			      json_object_set(doc, o, key, arr);
		}
		fault_disarm_all();
		if (o && brc == 0)
			CHECK(o->u.object.len == 50);
		json_doc_free(doc);
		/* json_doc_new itself */
		fault_arm(FAULT_ALLOC, n, ENOMEM);
		doc = json_doc_new();
		fault_disarm_all();
		json_doc_free(doc);
		if (rc == 0 && c && o && brc == 0)
			done++;
	}
	CHECK(done == 4);
	buf_release(&want);
	json_doc_free(ref_doc);
	free(text);
}
