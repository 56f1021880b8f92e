/* Internal to core/json_*.c: what the pieces of the JSON module share.
 * Nothing else includes this; the public API and its contract are json.h.
 *
 * The pieces:
 *   json_build.c  the document (an arena), builders, setters, lookups,
 *                 json_clone, json_equal, json_type_name
 *   json_parse.c  json_parse, UTF-8 validation, duplicate-key detection
 *   json_emit.c   json_emit: number formatting and string escaping
 *
 * Each function below is defined in the file named in its section. */
#ifndef PYRO_JSON_INTERNAL_H
#define PYRO_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "json.h"

struct json_doc {
	struct arena arena;
};

/* Objects with more members than this check keys by sorting, not by a
 * linear scan (json_equal, and the parser's duplicate-key check). */
#define SMALL_OBJECT 16

/* ---- UTF-8 (json_parse.c) ------------------------------------------------ */

enum utf8_err {
	UTF8_STRAY,      /* continuation byte without a lead byte */
	UTF8_BAD_BYTE,   /* 0xF8..0xFF: never valid */
	UTF8_OVERLONG,   /* a shorter encoding exists */
	UTF8_SURROGATE,  /* U+D800..U+DFFF encoded directly */
	UTF8_TOO_BIG,    /* above U+10FFFF */
	UTF8_TRUNCATED,  /* a lead byte without enough continuation bytes */
};

/* Decode the sequence at s[0..n), n >= 1, whose first byte is >= 0x80.
 * Returns its length (2..4), or 0 and *why. */
size_t json_utf8_decode_multi(const unsigned char *s, size_t n, enum utf8_err *why);

/* ---- Nodes, keys, containers (json_build.c) ------------------------------ */

/* A zeroed node of type t in doc; NULL when doc is NULL or on allocation
 * failure. */
struct json_value *json_new_value(struct json_doc *doc, enum json_type t);

/* Key equality by bytes (keys may contain NUL). */
bool json_key_eq(const char *a, size_t alen, const char *b, size_t blen);
/* Byte order; a proper prefix sorts first. */
int json_key_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* Members of obj sorted by key, in a fresh heap array (NULL on failure). */
const struct json_member **json_sorted_members(const struct json_value *obj);

/* Number of items or members of an array or object. */
size_t json_container_len(const struct json_value *v);
/* True for an array or object with at least one item or member. */
bool json_is_nonempty_container(const struct json_value *v);

/* Double a stack that may still be in the caller's inline storage.
 * Returns the new stack, or NULL (the old one is untouched). */
void *json_stack_grow(void *st, size_t *cap, const void *inline_st, size_t size);

#endif
