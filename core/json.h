/* Strict JSON (RFC 8259): parse into a tree, build trees, emit them.
 *
 * Ownership: a `struct json_doc` owns every node, string and array of the
 * tree built in it (an arena): nothing inside is freed on its own, and
 * json_doc_free() releases all of it at once. Values from one doc must not
 * be linked into another (use json_clone).
 *
 * Parsing is strict: one value with optional surrounding whitespace; no
 * comments, trailing commas, NaN/Infinity, leading zeros, single quotes,
 * unescaped control characters; strings must be valid UTF-8 (no overlongs,
 * no surrogates encoded in UTF-8, nothing above U+10FFFF) and \u escapes
 * must pair surrogates correctly; an object with a repeated key is an error.
 * Limits (json_limits) cap total input size, nesting depth and the decoded
 * length of any one string; exceeding one is an error naming the limit. A
 * json_limits field of 0 means that field's default (so callers can write
 * `{ .max_depth = 8 }`). The string limit applies to keys too; the message
 * then says "key longer than N bytes".
 * Strings may contain U+0000 (\u0000): `len` is the truth, and a NUL is
 * always stored after the last byte.
 * Error positions: line and column are 1-based; the column counts
 * characters (UTF-8 lead bytes), not bytes. Errors about a whole string
 * ("unterminated string", "string longer than N bytes") point at its
 * opening quote; a duplicate key error points at the second occurrence.
 *
 * Numbers: integers in int64 range are kept exactly (is_int = 1); anything
 * else (fraction, exponent, out of range) becomes a double (is_int = 0).
 * "-0" parses as the integer 0 (like Python); "-0.0" and "-0e0" are the
 * double -0.0, emitted back as "-0.0".
 *
 * Emission is deterministic: members in insertion order (or sorted by key
 * bytes with JSON_EMIT_SORT_KEYS), integers in decimal, doubles with the
 * shortest "%.17g" form that round-trips, non-ASCII emitted as UTF-8, control
 * characters and '"' '\\' escaped (\n \r \t \b \f, others as \u00XX). "/" is
 * not escaped. Compact by default; JSON_EMIT_PRETTY indents by 2 spaces with
 * ": " and one member per line (Python's json.dumps(indent=2) shape).
 * Doubles are emitted with ".0" appended when "%.{15,16,17}g" produced
 * something that looks like an integer ("3" -> "3.0"), so a double stays a
 * double through emit -> parse (Python's repr does the same). Emitting a
 * string that is not valid UTF-8 (possible only through the builders) writes
 * U+FFFD for each invalid byte, so the output is always JSON this parser
 * accepts.
 *
 * json_equal compares numbers by value (1 == 1.0 == 1e0, 0 == -0.0) and
 * objects as sets of members (order does not matter). json_get_int accepts a
 * number with an exact int64 value even when it was written as a double
 * ("3.0", "3e0").
 *
 * The parser, the emitter, json_clone and json_equal are iterative, so no
 * tree depth can overflow the C stack. json_equal cannot report an
 * allocation failure: when it cannot allocate its working memory (only for
 * very deep or large, differently ordered trees) it returns false.
 */
#ifndef PYRO_JSON_H
#define PYRO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value;

struct json_member {
	const char *key; /* NUL-terminated, may contain NUL: key_len is the truth */
	size_t key_len;
	struct json_value *value;
};

struct json_value {
	enum json_type type;
	union {
		bool boolean;
		struct {
			bool is_int;
			int64_t i;  /* valid when is_int */
			double d;   /* always valid (== i when is_int) */
		} number;
		struct {
			const char *ptr;
			size_t len;
		} string;
		struct {
			struct json_value **items;
			size_t len, cap;
		} array;
		struct {
			struct json_member *members;
			size_t len, cap;
		} object;
	} u;
};

struct json_limits {
	size_t max_input_bytes;  /* default 16 MiB */
	size_t max_depth;        /* default 64 (arrays + objects nested) */
	size_t max_string_bytes; /* default 4 MiB, decoded length of one string or key */
};

#define JSON_DEFAULT_MAX_INPUT (16u << 20)
#define JSON_DEFAULT_MAX_DEPTH 64
#define JSON_DEFAULT_MAX_STRING (4u << 20)

struct json_doc; /* opaque arena */

struct json_doc *json_doc_new(void);
void json_doc_free(struct json_doc *doc);
/* n bytes (maximally aligned) that live as long as the doc: for side data
 * a tree's user builds next to it (argv arrays, say). NULL when out of
 * memory. */
void *json_doc_alloc(struct json_doc *doc, size_t n);

/* Parse text[0..len) into doc. On success *out is the root. On failure
 * returns -1 and err (code PYRO_EXIT_USAGE) says what and where, e.g.
 * "invalid JSON at line 1, column 7: expected ',' or '}' after object member".
 * limits == NULL means the defaults. */
int json_parse(struct json_doc *doc, const char *text, size_t len,
	       const struct json_limits *limits, struct json_value **out,
	       struct pyro_err *err);

/* Builders. They return NULL only on allocation failure. Strings are copied
 * into the doc. */
struct json_value *json_null(struct json_doc *doc);
struct json_value *json_bool(struct json_doc *doc, bool b);
struct json_value *json_int(struct json_doc *doc, int64_t i);
struct json_value *json_double(struct json_doc *doc, double d); /* non-finite -> null */
struct json_value *json_string(struct json_doc *doc, const char *s); /* NULL s -> null */
struct json_value *json_string_len(struct json_doc *doc, const char *s, size_t len);
struct json_value *json_array(struct json_doc *doc);
struct json_value *json_object(struct json_doc *doc);

/* Append to an array; set a member of an object (replacing an existing
 * member of the same key in place, keeping its position). Return 0, or -1
 * on allocation failure or when `v` is NULL (so chained builder calls
 * propagate a failed allocation). */
int json_array_push(struct json_doc *doc, struct json_value *arr, struct json_value *v);
int json_object_set(struct json_doc *doc, struct json_value *obj, const char *key,
		    struct json_value *v);

/* Convenience setters: json_object_set of a fresh scalar. */
int json_set_str(struct json_doc *doc, struct json_value *obj, const char *key, const char *s);
int json_set_int(struct json_doc *doc, struct json_value *obj, const char *key, int64_t i);
int json_set_bool(struct json_doc *doc, struct json_value *obj, const char *key, bool b);
int json_set_null(struct json_doc *doc, struct json_value *obj, const char *key);

/* Deep copy of v (from any doc) into doc. */
struct json_value *json_clone(struct json_doc *doc, const struct json_value *v);

/* Lookups. json_get returns NULL when obj is not an object or has no such
 * key. The typed getters return NULL/false when absent or of another type. */
struct json_value *json_get(const struct json_value *obj, const char *key);
const char *json_get_str(const struct json_value *obj, const char *key);
bool json_get_int(const struct json_value *obj, const char *key, int64_t *out);
bool json_get_bool(const struct json_value *obj, const char *key, bool *out);

bool json_equal(const struct json_value *a, const struct json_value *b);
const char *json_type_name(enum json_type t); /* "null", "boolean", "number", ... */

enum json_emit_flags {
	JSON_EMIT_COMPACT = 0,
	JSON_EMIT_PRETTY = 1 << 0,
	JSON_EMIT_SORT_KEYS = 1 << 1,
};

/* Append the serialisation of v to out. -1 only when out cannot grow. */
int json_emit(struct buf *out, const struct json_value *v, unsigned flags);
/* Append one JSON string literal (with quotes) for s[0..len). */
int json_emit_string(struct buf *out, const char *s, size_t len);

/* Validate UTF-8 (same rules as the parser). Returns true when valid. */
bool json_utf8_valid(const char *s, size_t len);

#endif
