/* Strict JSON: see json.h for the contract. This file has five parts:
 * UTF-8, the document and builders, comparison and cloning, the emitter and
 * the parser.
 *
 * Decisions the header leaves open:
 *  - A json_limits field of 0 means that field's default (so callers can
 *    write `{ .max_depth = 8 }`).
 *  - "-0" parses as the integer 0 (like Python); "-0.0" and "-0e0" are the
 *    double -0.0, emitted back as "-0.0".
 *  - Doubles are emitted with ".0" appended when "%.{15,16,17}g" produced
 *    something that looks like an integer ("3" -> "3.0"), so a double stays
 *    a double through emit -> parse (Python's repr does the same).
 *  - Error positions: line and column are 1-based; the column counts
 *    characters (UTF-8 lead bytes), not bytes. Errors about a whole string
 *    ("unterminated string", "string longer than N bytes") point at its
 *    opening quote; a duplicate key error points at the second occurrence.
 *  - Duplicate keys are detected when the object is complete (linear scan up
 *    to 16 members, sorting above), so an object with a duplicate key and a
 *    later syntax error inside it reports the syntax error.
 *  - Emitting a string that is not valid UTF-8 (possible only through the
 *    builders) writes U+FFFD for each invalid byte, so the output is always
 *    JSON this parser accepts.
 *  - The string limit applies to keys too; the message then says "key
 *    longer than N bytes".
 *  - json_equal compares numbers by value (1 == 1.0 == 1e0, 0 == -0.0) and
 *    objects as sets of members (order does not matter).
 *  - json_get_int accepts a number with an exact int64 value even when it
 *    was written as a double ("3.0", "3e0").
 *  - json_object_set and json_get scan the members linearly: building an
 *    object of n members by repeated json_object_set costs O(n^2) key
 *    comparisons in total. Fine for the small objects pyro builds.
 *  - The parser, the emitter, json_clone and json_equal are iterative (an
 *    explicit heap stack), so no tree depth can overflow the C stack.
 *    json_equal cannot report an allocation failure: when its stack or its
 *    key sort cannot be allocated (only for nesting deeper than 32 or
 *    objects over 16 members whose keys are in different orders), it
 *    returns false.
 *
 * strtod and snprintf("%g") depend on the locale's decimal point; pyro never
 * calls setlocale(), so they run in the "C" locale and use '.'. */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "exitcodes.h"
#include "fault.h"

struct json_doc {
	struct arena arena;
};

/* Objects with more members than this check keys by sorting, not by a
 * linear scan. */
#define SMALL_OBJECT 16

/* ---- UTF-8 ------------------------------------------------------------ */

enum utf8_err {
	UTF8_STRAY,      /* continuation byte without a lead byte */
	UTF8_BAD_BYTE,   /* 0xF8..0xFF: never valid */
	UTF8_OVERLONG,   /* a shorter encoding exists */
	UTF8_SURROGATE,  /* U+D800..U+DFFF encoded directly */
	UTF8_TOO_BIG,    /* above U+10FFFF */
	UTF8_TRUNCATED,  /* a lead byte without enough continuation bytes */
};

static const char *utf8_err_text(enum utf8_err e)
{
	switch (e) {
	case UTF8_STRAY: return "unexpected continuation byte";
	case UTF8_BAD_BYTE: return "invalid byte";
	case UTF8_OVERLONG: return "overlong encoding";
	case UTF8_SURROGATE: return "UTF-16 surrogate encoded in UTF-8";
	case UTF8_TOO_BIG: return "code point above U+10FFFF";
	case UTF8_TRUNCATED: return "truncated sequence";
	}
	return "invalid sequence";
}

/* Decode the sequence at s[0..n), n >= 1, whose first byte is >= 0x80.
 * Returns its length (2..4), or 0 and *why. */
static size_t utf8_decode_multi(const unsigned char *s, size_t n, enum utf8_err *why)
{
	unsigned c = s[0];
	size_t need;
	unsigned lo = 0x80, hi = 0xBF;
	if (c < 0xC0) {
		*why = UTF8_STRAY;
		return 0;
	}
	if (c < 0xC2) {
		*why = UTF8_OVERLONG;
		return 0;
	}
	if (c < 0xE0) {
		need = 1;
	} else if (c < 0xF0) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		*why = c < 0xF8 ? UTF8_TOO_BIG : UTF8_BAD_BYTE;
		return 0;
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= n || (s[i] & 0xC0) != 0x80) {
			*why = UTF8_TRUNCATED;
			return 0;
		}
	}
	if (s[1] < lo || s[1] > hi) {
		*why = c == 0xED ? UTF8_SURROGATE : c == 0xF4 ? UTF8_TOO_BIG : UTF8_OVERLONG;
		return 0;
	}
	return need + 1;
}

bool json_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	if (!s)
		return len == 0;
	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		enum utf8_err why;
		size_t k = utf8_decode_multi(s + i, len - i, &why);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* ---- Document and builders ---------------------------------------------- */

struct json_doc *json_doc_new(void)
{
	struct json_doc *doc = pyro_malloc(sizeof *doc);
	if (!doc)
		return NULL;
	arena_init(&doc->arena);
	return doc;
}

void json_doc_free(struct json_doc *doc)
{
	if (!doc)
		return;
	arena_release(&doc->arena);
	free(doc);
}

static struct json_value *new_value(struct json_doc *doc, enum json_type t)
{
	if (!doc)
		return NULL;
	struct json_value *v = arena_alloc(&doc->arena, sizeof *v, alignof(struct json_value));
	if (!v)
		return NULL;
	memset(v, 0, sizeof *v);
	v->type = t;
	return v;
}

struct json_value *json_null(struct json_doc *doc)
{
	return new_value(doc, JSON_NULL);
}

struct json_value *json_bool(struct json_doc *doc, bool b)
{
	struct json_value *v = new_value(doc, JSON_BOOL);
	if (v)
		v->u.boolean = b;
	return v;
}

struct json_value *json_int(struct json_doc *doc, int64_t i)
{
	struct json_value *v = new_value(doc, JSON_NUMBER);
	if (v) {
		v->u.number.is_int = true;
		v->u.number.i = i;
		v->u.number.d = (double)i;
	}
	return v;
}

struct json_value *json_double(struct json_doc *doc, double d)
{
	if (!isfinite(d))
		return json_null(doc);
	struct json_value *v = new_value(doc, JSON_NUMBER);
	if (v) {
		v->u.number.is_int = false;
		v->u.number.d = d;
	}
	return v;
}

static char *doc_strndup(struct json_doc *doc, const char *s, size_t len)
{
	return arena_strndup(&doc->arena, s, len);
}

struct json_value *json_string_len(struct json_doc *doc, const char *s, size_t len)
{
	if (!s)
		return json_null(doc);
	struct json_value *v = new_value(doc, JSON_STRING);
	if (!v)
		return NULL;
	char *copy = doc_strndup(doc, s, len);
	if (!copy)
		return NULL;
	v->u.string.ptr = copy;
	v->u.string.len = len;
	return v;
}

struct json_value *json_string(struct json_doc *doc, const char *s)
{
	return json_string_len(doc, s, s ? strlen(s) : 0);
}

struct json_value *json_array(struct json_doc *doc)
{
	return new_value(doc, JSON_ARRAY);
}

struct json_value *json_object(struct json_doc *doc)
{
	return new_value(doc, JSON_OBJECT);
}

/* Make room for one more element in a vector of `size`-byte elements. */
static int vec_reserve_one(struct json_doc *doc, void **items, size_t len, size_t *cap,
			   size_t size, size_t align)
{
	if (len < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 4;
	if (ncap < *cap || ncap > SIZE_MAX / size) {
		errno = ENOMEM;
		return -1;
	}
	void *p = arena_grow(&doc->arena, *items, *cap * size, ncap * size, align);
	if (!p)
		return -1;
	*items = p;
	*cap = ncap;
	return 0;
}

int json_array_push(struct json_doc *doc, struct json_value *arr, struct json_value *v)
{
	if (!doc || !arr || arr->type != JSON_ARRAY || !v)
		return -1;
	void *items = arr->u.array.items;
	if (vec_reserve_one(doc, &items, arr->u.array.len, &arr->u.array.cap,
			    sizeof(struct json_value *), alignof(struct json_value *)) < 0)
		return -1;
	arr->u.array.items = items;
	arr->u.array.items[arr->u.array.len++] = v;
	return 0;
}

static bool key_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static struct json_member *find_member(const struct json_value *obj, const char *key,
				       size_t klen)
{
	for (size_t i = 0; i < obj->u.object.len; i++) {
		struct json_member *m = &obj->u.object.members[i];
		if (key_eq(m->key, m->key_len, key, klen))
			return m;
	}
	return NULL;
}

int json_object_set(struct json_doc *doc, struct json_value *obj, const char *key,
		    struct json_value *v)
{
	if (!doc || !obj || obj->type != JSON_OBJECT || !key || !v)
		return -1;
	size_t klen = strlen(key);
	struct json_member *m = find_member(obj, key, klen);
	if (m) {
		m->value = v;
		return 0;
	}
	char *copy = doc_strndup(doc, key, klen);
	if (!copy)
		return -1;
	void *members = obj->u.object.members;
	if (vec_reserve_one(doc, &members, obj->u.object.len, &obj->u.object.cap,
			    sizeof(struct json_member), alignof(struct json_member)) < 0)
		return -1;
	obj->u.object.members = members;
	obj->u.object.members[obj->u.object.len++] =
		(struct json_member){ .key = copy, .key_len = klen, .value = v };
	return 0;
}

int json_set_str(struct json_doc *doc, struct json_value *obj, const char *key, const char *s)
{
	return json_object_set(doc, obj, key, json_string(doc, s));
}

int json_set_int(struct json_doc *doc, struct json_value *obj, const char *key, int64_t i)
{
	return json_object_set(doc, obj, key, json_int(doc, i));
}

int json_set_bool(struct json_doc *doc, struct json_value *obj, const char *key, bool b)
{
	return json_object_set(doc, obj, key, json_bool(doc, b));
}

int json_set_null(struct json_doc *doc, struct json_value *obj, const char *key)
{
	return json_object_set(doc, obj, key, json_null(doc));
}

/* ---- Lookups -------------------------------------------------------- */

struct json_value *json_get(const struct json_value *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT || !key)
		return NULL;
	struct json_member *m = find_member(obj, key, strlen(key));
	return m ? m->value : NULL;
}

const char *json_get_str(const struct json_value *obj, const char *key)
{
	const struct json_value *v = json_get(obj, key);
	return v && v->type == JSON_STRING ? v->u.string.ptr : NULL;
}

/* The exact int64 value of a number, when it has one. */
static bool number_as_int(const struct json_value *v, int64_t *out)
{
	if (v->u.number.is_int) {
		*out = v->u.number.i;
		return true;
	}
	double d = v->u.number.d;
	if (!(d >= -0x1p63 && d < 0x1p63))
		return false;
	int64_t i = (int64_t)d;
	if ((double)i != d)
		return false;
	*out = i;
	return true;
}

bool json_get_int(const struct json_value *obj, const char *key, int64_t *out)
{
	const struct json_value *v = json_get(obj, key);
	int64_t i;
	if (!v || v->type != JSON_NUMBER || !number_as_int(v, &i))
		return false;
	if (out)
		*out = i;
	return true;
}

bool json_get_bool(const struct json_value *obj, const char *key, bool *out)
{
	const struct json_value *v = json_get(obj, key);
	if (!v || v->type != JSON_BOOL)
		return false;
	if (out)
		*out = v->u.boolean;
	return true;
}

const char *json_type_name(enum json_type t)
{
	switch (t) {
	case JSON_NULL: return "null";
	case JSON_BOOL: return "boolean";
	case JSON_NUMBER: return "number";
	case JSON_STRING: return "string";
	case JSON_ARRAY: return "array";
	case JSON_OBJECT: return "object";
	}
	return "unknown";
}

/* ---- Key order, comparison, cloning ---------------------------------- */

/* Byte order; a proper prefix sorts first. */
static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int r = n ? memcmp(a, b, n) : 0;
	if (r)
		return r;
	return alen < blen ? -1 : alen > blen;
}

/* qsort comparator for `const struct json_member *`: by key, then by
 * position (members of one object are one array), so it is deterministic
 * even for a hand-built object with a repeated key. */
static int member_ptr_cmp(const void *x, const void *y)
{
	const struct json_member *a = *(const struct json_member *const *)x;
	const struct json_member *b = *(const struct json_member *const *)y;
	int r = key_cmp(a->key, a->key_len, b->key, b->key_len);
	if (r)
		return r;
	return a < b ? -1 : a > b;
}

/* Members of obj sorted by key, in a fresh heap array (NULL on failure). */
static const struct json_member **sorted_members(const struct json_value *obj)
{
	size_t n = obj->u.object.len;
	if (n > SIZE_MAX / sizeof(struct json_member *))
		return NULL;
	const struct json_member **order = pyro_malloc(n * sizeof *order);
	if (!order)
		return NULL;
	for (size_t i = 0; i < n; i++)
		order[i] = &obj->u.object.members[i];
	qsort(order, n, sizeof *order, member_ptr_cmp);
	return order;
}

static size_t container_len(const struct json_value *v)
{
	return v->type == JSON_ARRAY ? v->u.array.len : v->u.object.len;
}

static bool is_nonempty_container(const struct json_value *v)
{
	return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) && container_len(v) > 0;
}

/* Double a stack that may still be in the caller's inline storage.
 * Returns the new stack, or NULL (the old one is untouched). */
static void *stack_grow(void *st, size_t *cap, const void *inline_st, size_t size)
{
	if (*cap > SIZE_MAX / 2 / size) {
		errno = ENOMEM;
		return NULL;
	}
	size_t ncap = *cap * 2;
	void *p;
	if (st == inline_st) {
		p = pyro_malloc(ncap * size);
		if (p)
			memcpy(p, st, *cap * size);
	} else {
		p = pyro_realloc(st, ncap * size);
	}
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	*cap = ncap;
	return p;
}

static bool number_eq(const struct json_value *a, const struct json_value *b)
{
	if (a->u.number.is_int && b->u.number.is_int)
		return a->u.number.i == b->u.number.i;
	if (!a->u.number.is_int && !b->u.number.is_int)
		return a->u.number.d == b->u.number.d;
	const struct json_value *i = a->u.number.is_int ? a : b;
	const struct json_value *d = a->u.number.is_int ? b : a;
	int64_t as_int;
	return number_as_int(d, &as_int) && as_int == i->u.number.i;
}

enum eq_mode { EQ_POSITIONAL, EQ_LOOKUP, EQ_SORTED };

struct eq_frame {
	const struct json_value *a, *b;
	size_t i;
	enum eq_mode mode;
	const struct json_member **oa, **ob; /* EQ_SORTED */
};

/* Decide how to pair the members of two objects of equal length > 0.
 * Returns false when the key sets visibly differ (or sorting failed). */
static bool eq_object_plan(struct eq_frame *f)
{
	const struct json_value *a = f->a, *b = f->b;
	size_t n = a->u.object.len;
	size_t i = 0;
	while (i < n && key_eq(a->u.object.members[i].key, a->u.object.members[i].key_len,
			       b->u.object.members[i].key, b->u.object.members[i].key_len))
		i++;
	if (i == n) {
		f->mode = EQ_POSITIONAL;
		return true;
	}
	if (n <= SMALL_OBJECT) {
		f->mode = EQ_LOOKUP;
		return true;
	}
	f->mode = EQ_SORTED;
	f->oa = sorted_members(a);
	f->ob = sorted_members(b);
	if (!f->oa || !f->ob)
		return false;
	for (i = 0; i < n; i++)
		if (!key_eq(f->oa[i]->key, f->oa[i]->key_len, f->ob[i]->key, f->ob[i]->key_len))
			return false;
	return true;
}

bool json_equal(const struct json_value *a, const struct json_value *b)
{
	struct eq_frame inline_st[32];
	struct eq_frame *st = inline_st;
	size_t cap = 32, n = 0;
	bool result = false;
	const struct json_value *x = a, *y = b;
	for (;;) {
		if (!x || !y) {
			if (x != y)
				goto out;
		} else if (x->type != y->type) {
			goto out;
		} else {
			switch (x->type) {
			case JSON_NULL:
				break;
			case JSON_BOOL:
				if (x->u.boolean != y->u.boolean)
					goto out;
				break;
			case JSON_NUMBER:
				if (!number_eq(x, y))
					goto out;
				break;
			case JSON_STRING:
				if (!key_eq(x->u.string.ptr, x->u.string.len, y->u.string.ptr,
					    y->u.string.len))
					goto out;
				break;
			case JSON_ARRAY:
			case JSON_OBJECT:
				if (container_len(x) != container_len(y))
					goto out;
				if (!container_len(x))
					break;
				if (n == cap) {
					struct eq_frame *g = stack_grow(st, &cap, inline_st, sizeof *st);
					if (!g)
						goto out;
					st = g;
				}
				st[n] = (struct eq_frame){ .a = x, .b = y };
				n++;
				if (x->type == JSON_OBJECT && !eq_object_plan(&st[n - 1]))
					goto out;
				break;
			default:
				goto out;
			}
		}
		/* The next pair to compare. */
		for (;;) {
			if (n == 0) {
				result = true;
				goto out;
			}
			struct eq_frame *f = &st[n - 1];
			if (f->i < container_len(f->a)) {
				size_t i = f->i++;
				if (f->a->type == JSON_ARRAY) {
					x = f->a->u.array.items[i];
					y = f->b->u.array.items[i];
				} else if (f->mode == EQ_POSITIONAL) {
					x = f->a->u.object.members[i].value;
					y = f->b->u.object.members[i].value;
				} else if (f->mode == EQ_LOOKUP) {
					const struct json_member *ma = &f->a->u.object.members[i];
					const struct json_member *mb =
						find_member(f->b, ma->key, ma->key_len);
					if (!mb)
						goto out;
					x = ma->value;
					y = mb->value;
				} else {
					x = f->oa[i]->value;
					y = f->ob[i]->value;
				}
				break;
			}
			free(f->oa);
			free(f->ob);
			n--;
		}
	}
out:
	while (n) {
		n--;
		free(st[n].oa);
		free(st[n].ob);
	}
	if (st != inline_st)
		free(st);
	return result;
}

/* A copy of v without its children: containers get an items/members array
 * of the right capacity and len 0. */
static struct json_value *clone_shallow(struct json_doc *doc, const struct json_value *v)
{
	if (!v)
		return json_null(doc);
	struct json_value *c = new_value(doc, v->type);
	if (!c)
		return NULL;
	size_t n;
	switch (v->type) {
	case JSON_NULL:
		break;
	case JSON_BOOL:
		c->u.boolean = v->u.boolean;
		break;
	case JSON_NUMBER:
		c->u.number = v->u.number;
		break;
	case JSON_STRING: {
		char *s = doc_strndup(doc, v->u.string.ptr, v->u.string.len);
		if (!s)
			return NULL;
		c->u.string.ptr = s;
		c->u.string.len = v->u.string.len;
		break;
	}
	case JSON_ARRAY:
		n = v->u.array.len;
		if (!n)
			break;
		if (n > SIZE_MAX / sizeof(struct json_value *))
			return NULL;
		c->u.array.items = arena_alloc(&doc->arena, n * sizeof(struct json_value *),
					       alignof(struct json_value *));
		if (!c->u.array.items)
			return NULL;
		c->u.array.cap = n;
		break;
	case JSON_OBJECT:
		n = v->u.object.len;
		if (!n)
			break;
		if (n > SIZE_MAX / sizeof(struct json_member))
			return NULL;
		c->u.object.members = arena_alloc(&doc->arena, n * sizeof(struct json_member),
						  alignof(struct json_member));
		if (!c->u.object.members)
			return NULL;
		c->u.object.cap = n;
		break;
	default:
		c->type = JSON_NULL;
		break;
	}
	return c;
}

struct clone_frame {
	const struct json_value *src;
	struct json_value *dst;
};

struct json_value *json_clone(struct json_doc *doc, const struct json_value *v)
{
	if (!doc || !v)
		return NULL;
	struct json_value *root = clone_shallow(doc, v);
	if (!root || !is_nonempty_container(v))
		return root;
	struct clone_frame inline_st[16];
	struct clone_frame *st = inline_st;
	size_t cap = 16, n = 0;
	st[n++] = (struct clone_frame){ v, root };
	while (n) {
		struct clone_frame *f = &st[n - 1];
		const struct json_value *src = f->src;
		struct json_value *dst = f->dst;
		size_t i = container_len(dst);
		if (i == container_len(src)) {
			n--;
			continue;
		}
		const struct json_value *child = src->type == JSON_ARRAY
			? src->u.array.items[i] : src->u.object.members[i].value;
		struct json_value *copy = clone_shallow(doc, child);
		if (!copy)
			goto fail;
		if (src->type == JSON_ARRAY) {
			dst->u.array.items[i] = copy;
			dst->u.array.len++;
		} else {
			const struct json_member *m = &src->u.object.members[i];
			char *key = doc_strndup(doc, m->key, m->key_len);
			if (!key)
				goto fail;
			dst->u.object.members[i] =
				(struct json_member){ .key = key, .key_len = m->key_len, .value = copy };
			dst->u.object.len++;
		}
		if (is_nonempty_container(child)) {
			if (n == cap) {
				struct clone_frame *g = stack_grow(st, &cap, inline_st, sizeof *st);
				if (!g)
					goto fail;
				st = g;
			}
			st[n++] = (struct clone_frame){ child, copy };
		}
	}
	if (st != inline_st)
		free(st);
	return root;
fail:
	if (st != inline_st)
		free(st);
	return NULL;
}

/* ---- Emitter ------------------------------------------------------------ */

static const char hex_digits[] = "0123456789abcdef";

int json_emit_string(struct buf *out, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t start = out->len;
	size_t i = 0;
	if (!s)
		len = 0;
	if (buf_append_char(out, '"') < 0)
		return -1;
	while (i < len) {
		/* A run of bytes that go out as they are. */
		size_t run = i;
		while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
		       s[run] != '\\')
			run++;
		if (run > i && buf_append(out, s + i, run - i) < 0)
			goto fail;
		i = run;
		if (i == len)
			break;
		unsigned char c = s[i];
		char esc[8];
		const char *piece = esc;
		size_t plen = 2;
		esc[0] = '\\';
		if (c >= 0x80) {
			enum utf8_err why;
			size_t k = utf8_decode_multi(s + i, len - i, &why);
			if (k) {
				piece = (const char *)s + i;
				plen = k;
			} else {
				piece = "\xEF\xBF\xBD"; /* U+FFFD for one invalid byte */
				plen = 3;
				k = 1;
			}
			i += k;
		} else {
			switch (c) {
			case '"': esc[1] = '"'; break;
			case '\\': esc[1] = '\\'; break;
			case '\n': esc[1] = 'n'; break;
			case '\r': esc[1] = 'r'; break;
			case '\t': esc[1] = 't'; break;
			case '\b': esc[1] = 'b'; break;
			case '\f': esc[1] = 'f'; break;
			default:
				memcpy(esc + 1, "u00", 3);
				esc[4] = hex_digits[c >> 4];
				esc[5] = hex_digits[c & 15];
				plen = 6;
				break;
			}
			i++;
		}
		if (buf_append(out, piece, plen) < 0)
			goto fail;
	}
	if (buf_append_char(out, '"') < 0)
		goto fail;
	return 0;
fail:
	buf_truncate(out, start);
	return -1;
}

static int emit_double(struct buf *out, double d)
{
	if (!isfinite(d))
		return buf_append_str(out, "null");
	char tmp[48];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* Keep it a double when read back: "3" -> "3.0", "-0" -> "-0.0". */
	if (!strpbrk(tmp, ".eE"))
		strcat(tmp, ".0");
	return buf_append_str(out, tmp);
}

static int emit_scalar(struct buf *out, const struct json_value *v)
{
	char tmp[32];
	if (!v)
		return buf_append_str(out, "null");
	switch (v->type) {
	case JSON_BOOL:
		return buf_append_str(out, v->u.boolean ? "true" : "false");
	case JSON_NUMBER:
		if (!v->u.number.is_int)
			return emit_double(out, v->u.number.d);
		snprintf(tmp, sizeof tmp, "%" PRId64, v->u.number.i);
		return buf_append_str(out, tmp);
	case JSON_STRING:
		return json_emit_string(out, v->u.string.ptr, v->u.string.len);
	case JSON_ARRAY:
		return buf_append_str(out, "[]");
	case JSON_OBJECT:
		return buf_append_str(out, "{}");
	case JSON_NULL:
	default:
		return buf_append_str(out, "null");
	}
}

static int emit_newline_indent(struct buf *out, size_t depth)
{
	static const char spaces[] = "\n                                ";
	size_t n = 2 * depth;
	if (buf_append(out, spaces, 1 + (n < 32 ? n : 32)) < 0)
		return -1;
	for (n = n < 32 ? 0 : n - 32; n; ) {
		size_t k = n < 32 ? n : 32;
		if (buf_append(out, spaces + 1, k) < 0)
			return -1;
		n -= k;
	}
	return 0;
}

struct emit_frame {
	const struct json_value *v;
	size_t i;
	const struct json_member **order; /* sorted members, or NULL */
};

int json_emit(struct buf *out, const struct json_value *v, unsigned flags)
{
	bool pretty = flags & JSON_EMIT_PRETTY;
	bool sort = flags & JSON_EMIT_SORT_KEYS;
	size_t start = out->len;
	struct emit_frame inline_st[16];
	struct emit_frame *st = inline_st;
	size_t cap = 16, n = 0;
	const struct json_value *cur = v;
	for (;;) {
		if (!is_nonempty_container(cur)) {
			if (emit_scalar(out, cur) < 0)
				goto fail;
		} else {
			if (n == cap) {
				struct emit_frame *g = stack_grow(st, &cap, inline_st, sizeof *st);
				if (!g)
					goto fail;
				st = g;
			}
			st[n] = (struct emit_frame){ .v = cur };
			n++;
			if (buf_append_char(out, cur->type == JSON_ARRAY ? '[' : '{') < 0)
				goto fail;
			if (cur->type == JSON_OBJECT && sort && cur->u.object.len > 1) {
				st[n - 1].order = sorted_members(cur);
				if (!st[n - 1].order) {
					errno = ENOMEM;
					goto fail;
				}
			}
		}
		for (;;) {
			if (n == 0)
				goto done;
			struct emit_frame *f = &st[n - 1];
			if (f->i < container_len(f->v)) {
				size_t i = f->i++;
				if (i && buf_append_char(out, ',') < 0)
					goto fail;
				if (pretty && emit_newline_indent(out, n) < 0)
					goto fail;
				if (f->v->type == JSON_ARRAY) {
					cur = f->v->u.array.items[i];
				} else {
					const struct json_member *m =
						f->order ? f->order[i] : &f->v->u.object.members[i];
					if (json_emit_string(out, m->key, m->key_len) < 0 ||
					    buf_append(out, ": ", pretty ? 2 : 1) < 0)
						goto fail;
					cur = m->value;
				}
				break;
			}
			if (pretty && emit_newline_indent(out, n - 1) < 0)
				goto fail;
			if (buf_append_char(out, f->v->type == JSON_ARRAY ? ']' : '}') < 0)
				goto fail;
			free(f->order);
			n--;
		}
	}
done:
	if (st != inline_st)
		free(st);
	return 0;
fail:;
	int saved = errno;
	while (n)
		free(st[--n].order);
	if (st != inline_st)
		free(st);
	buf_truncate(out, start);
	errno = saved;
	return -1;
}

/* ---- Parser ------------------------------------------------------------- */

struct item {
	const char *key; /* NULL for array elements */
	size_t key_len;
	size_t key_pos; /* offset of the key's opening quote */
	struct json_value *value;
};

struct frame {
	bool is_object;
	size_t start; /* first item of this container in parser.items */
	const char *key; /* the key awaiting its value (objects) */
	size_t key_len, key_pos;
};

struct parser {
	struct json_doc *doc;
	const unsigned char *s;
	size_t len, pos;
	struct json_limits lim;
	struct pyro_err *err;
	struct item *items; /* elements of every open container, in order */
	size_t nitems, items_cap;
	struct frame *frames;
	size_t nframes, frames_cap;
};

static void line_col(const unsigned char *s, size_t at, size_t *line, size_t *col)
{
	size_t l = 1, c = 1;
	for (size_t i = 0; i < at; i++) {
		if (s[i] == '\n') {
			l++;
			c = 1;
		} else if ((s[i] & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

__attribute__((format(printf, 3, 4)))
static int perr(struct parser *p, size_t at, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	size_t line, col;
	line_col(p->s, at, &line, &col);
	return pyro_err_set(p->err, PYRO_EXIT_USAGE, "invalid JSON at line %zu, column %zu: %s",
			    line, col, what);
}

static int poom(struct parser *p)
{
	pyro_err_set(p->err, PYRO_EXIT_INTERNAL, "out of memory while parsing JSON");
	if (p->err)
		p->err->sys_errno = ENOMEM;
	errno = ENOMEM;
	return -1;
}

/* "character 'x'" for a printable ASCII character, else "byte 0xNN". */
static const char *describe_byte(unsigned char c, char *buf, size_t cap)
{
	if (c > 0x20 && c < 0x7F)
		snprintf(buf, cap, "character '%c'", c);
	else
		snprintf(buf, cap, "byte 0x%02x", c);
	return buf;
}

/* An error "expected X" at the current position, or "unexpected end of
 * input, expected X" at the end. */
static int expected(struct parser *p, const char *what)
{
	if (p->pos >= p->len)
		return perr(p, p->pos, "unexpected end of input, expected %s", what);
	return perr(p, p->pos, "expected %s", what);
}

/* Quote a key or string for an error message: JSON escapes, cut at about
 * 60 bytes on a character boundary. */
static void quote_for_msg(char *dst, size_t cap, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t o = 0, limit = 60;
	dst[o++] = '"';
	size_t i;
	for (i = 0; i < len && o + 12 < cap; i++) {
		unsigned char c = s[i];
		if (i >= limit && (c & 0xC0) != 0x80)
			break;
		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o++] = '"';
	if (i < len) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		unsigned char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int hex4(const unsigned char *s, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Decode the string body s[i..end) into dst (capacity cap, NULL to only
 * validate). `open` is the offset of the opening quote. Stops early, without
 * error, at a backslash that ends the input (the caller reports the
 * unterminated string). */
static int decode_string(struct parser *p, size_t i, size_t end, char *dst, size_t cap,
			 size_t *out_len, size_t open, bool is_key)
{
	const unsigned char *s = p->s;
	size_t o = 0;
	size_t max = p->lim.max_string_bytes;
	char enc[4];
	while (i < end) {
		unsigned char c = s[i];
		const char *piece;
		size_t plen, at = i;
		if (c >= 0x20 && c < 0x80 && c != '\\') {
			size_t run = i + 1;
			while (run < end && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '\\')
				run++;
			piece = (const char *)s + i;
			plen = run - i;
			i = run;
		} else if (c >= 0x80) {
			enum utf8_err why;
			plen = utf8_decode_multi(s + i, end - i, &why);
			if (!plen)
				return perr(p, i, "invalid UTF-8 in string: %s (byte 0x%02x)",
					    utf8_err_text(why), (unsigned)c);
			piece = (const char *)s + i;
			i += plen;
		} else if (c < 0x20) {
			return perr(p, i, "unescaped control character U+%04X in string", (unsigned)c);
		} else {
			/* A backslash escape. */
			if (i + 1 >= end)
				break;
			unsigned char e = s[i + 1];
			piece = enc;
			plen = 1;
			i += 2;
			switch (e) {
			case '"': enc[0] = '"'; break;
			case '\\': enc[0] = '\\'; break;
			case '/': enc[0] = '/'; break;
			case 'b': enc[0] = '\b'; break;
			case 'f': enc[0] = '\f'; break;
			case 'n': enc[0] = '\n'; break;
			case 'r': enc[0] = '\r'; break;
			case 't': enc[0] = '\t'; break;
			case 'u': {
				uint32_t cp, lo;
				if (end - at < 6 || hex4(s + at + 2, &cp) < 0)
					return perr(p, at, "invalid \\u escape: expected 4 hex digits");
				i = at + 6;
				if (cp >= 0xDC00 && cp <= 0xDFFF)
					return perr(p, at, "lone surrogate \\u%04x", cp);
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					if (end - i >= 2 && s[i] == '\\' && s[i + 1] == 'u') {
						if (end - i < 6 || hex4(s + i + 2, &lo) < 0)
							return perr(p, i, "invalid \\u escape: expected 4 hex digits");
						if (lo < 0xDC00 || lo > 0xDFFF)
							return perr(p, at, "lone surrogate \\u%04x", cp);
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
						i += 6;
					} else {
						return perr(p, at, "lone surrogate \\u%04x", cp);
					}
				}
				plen = utf8_encode(cp, enc);
				break;
			}
			default:
				if (e > 0x20 && e < 0x7F)
					return perr(p, at, "invalid escape '\\%c' in string", e);
				return perr(p, at, "invalid escape: byte 0x%02x after '\\' in string",
					    (unsigned)e);
			}
		}
		if (plen > max - o)
			return perr(p, open, "%s longer than %zu bytes", is_key ? "key" : "string",
				    max);
		if (dst) {
			if (plen > cap - o) /* cannot happen: decoded <= raw */
				return perr(p, open, "string decoding overflow");
			memcpy(dst + o, piece, plen);
		}
		o += plen;
	}
	*out_len = o;
	return 0;
}

/* At an opening quote: parse the string into the doc. */
static int parse_string(struct parser *p, bool is_key, const char **out, size_t *out_len)
{
	const unsigned char *s = p->s;
	size_t open = p->pos, body = open + 1, i = body;
	while (i < p->len && s[i] != '"') {
		if (s[i] == '\\' && i + 1 < p->len)
			i += 2;
		else
			i++;
	}
	bool closed = i < p->len;
	size_t end = closed ? i : p->len;
	size_t len;
	if (!closed) {
		/* Report the first problem inside, else the missing quote. */
		if (decode_string(p, body, end, NULL, 0, &len, open, is_key) < 0)
			return -1;
		return perr(p, open, "unterminated string");
	}
	size_t cap = end - body;
	if (cap > p->lim.max_string_bytes)
		cap = p->lim.max_string_bytes;
	char *dst = arena_alloc(&p->doc->arena, cap + 1, 1);
	if (!dst)
		return poom(p);
	if (decode_string(p, body, end, dst, cap, &len, open, is_key) < 0)
		return -1;
	dst[len] = '\0';
	arena_shrink(&p->doc->arena, dst, len + 1);
	*out = dst;
	*out_len = len;
	p->pos = end + 1;
	return 0;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct parser *p, struct json_value *v)
{
	const unsigned char *s = p->s;
	size_t start = p->pos, i = start;
	bool neg = false, is_int = true;
	if (s[i] == '-') {
		neg = true;
		i++;
	}
	if (i >= p->len || !is_digit(s[i])) {
		p->pos = i;
		return expected(p, "a digit after '-'");
	}
	size_t int_start = i;
	if (s[i] == '0') {
		i++;
		if (i < p->len && is_digit(s[i]))
			return perr(p, i - 1, "leading zeros are not allowed");
	} else {
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	size_t int_end = i;
	if (i < p->len && s[i] == '.') {
		is_int = false;
		i++;
		if (i >= p->len || !is_digit(s[i])) {
			p->pos = i;
			return expected(p, "a digit after the decimal point");
		}
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
		is_int = false;
		i++;
		if (i < p->len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->len || !is_digit(s[i])) {
			p->pos = i;
			return expected(p, "a digit in the exponent");
		}
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	p->pos = i;
	if (is_int) {
		uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		uint64_t mag = 0;
		size_t k;
		for (k = int_start; k < int_end; k++) {
			unsigned d = s[k] - '0';
			if (mag > (limit - d) / 10)
				break;
			mag = mag * 10 + d;
		}
		if (k == int_end) {
			int64_t val;
			if (!neg)
				val = (int64_t)mag;
			else if (mag == (uint64_t)INT64_MAX + 1)
				val = INT64_MIN;
			else
				val = -(int64_t)mag;
			v->u.number.is_int = true;
			v->u.number.i = val;
			v->u.number.d = (double)val;
			return 0;
		}
	}
	/* strtod needs a NUL-terminated copy: text need not be terminated.
	 * The span is valid JSON grammar, which strtod reads the same way. */
	size_t n = i - start;
	char small[64];
	char *tmp = small;
	if (n >= sizeof small) {
		tmp = pyro_malloc(n + 1);
		if (!tmp)
			return poom(p);
	}
	memcpy(tmp, s + start, n);
	tmp[n] = '\0';
	double d = strtod(tmp, NULL);
	if (tmp != small)
		free(tmp);
	if (!isfinite(d))
		return perr(p, start, "number out of range");
	v->u.number.is_int = false;
	v->u.number.d = d;
	return 0;
}

static int parse_literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);
	for (size_t k = 0; k < n; k++) {
		size_t at = p->pos + k;
		if (at >= p->len)
			return perr(p, at, "unexpected end of input in literal '%s'", word);
		if (p->s[at] != (unsigned char)word[k]) {
			char b[24];
			return perr(p, at, "unexpected %s in literal '%s'",
				    describe_byte(p->s[at], b, sizeof b), word);
		}
	}
	p->pos += n;
	return 0;
}

static int parse_scalar(struct parser *p, struct json_value **out)
{
	unsigned char c = p->s[p->pos];
	struct json_value *v = NULL;
	char b[24];
	switch (c) {
	case '"':
		v = new_value(p->doc, JSON_STRING);
		if (!v)
			return poom(p);
		if (parse_string(p, false, &v->u.string.ptr, &v->u.string.len) < 0)
			return -1;
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		v = new_value(p->doc, JSON_NUMBER);
		if (!v)
			return poom(p);
		if (parse_number(p, v) < 0)
			return -1;
		break;
	case 't':
	case 'f':
		if (parse_literal(p, c == 't' ? "true" : "false") < 0)
			return -1;
		v = new_value(p->doc, JSON_BOOL);
		if (!v)
			return poom(p);
		v->u.boolean = c == 't';
		break;
	case 'n':
		if (parse_literal(p, "null") < 0)
			return -1;
		v = new_value(p->doc, JSON_NULL);
		if (!v)
			return poom(p);
		break;
	default:
		if (p->pos == 0 && p->len >= 3 && !memcmp(p->s, "\xEF\xBB\xBF", 3))
			return perr(p, 0, "a byte order mark (U+FEFF) is not allowed");
		if (c == ']' || c == '}' || c == ',' || c == ':')
			return perr(p, p->pos, "unexpected character '%c', expected a value", c);
		return perr(p, p->pos, "unexpected %s", describe_byte(c, b, sizeof b));
	}
	*out = v;
	return 0;
}

static int push_item(struct parser *p, const struct item *it)
{
	if (p->nitems == p->items_cap) {
		size_t ncap = p->items_cap ? p->items_cap * 2 : 64;
		if (ncap > SIZE_MAX / sizeof *p->items)
			return poom(p);
		struct item *n = pyro_realloc(p->items, ncap * sizeof *n);
		if (!n)
			return poom(p);
		p->items = n;
		p->items_cap = ncap;
	}
	p->items[p->nitems++] = *it;
	return 0;
}

/* At '[' or '{': check the depth and open a frame. */
static int push_frame(struct parser *p, bool is_object)
{
	if (p->nframes >= p->lim.max_depth)
		return perr(p, p->pos, "nesting deeper than %zu levels", p->lim.max_depth);
	if (p->nframes == p->frames_cap) {
		size_t ncap = p->frames_cap ? p->frames_cap * 2 : 16;
		if (ncap > SIZE_MAX / sizeof *p->frames)
			return poom(p);
		struct frame *n = pyro_realloc(p->frames, ncap * sizeof *n);
		if (!n)
			return poom(p);
		p->frames = n;
		p->frames_cap = ncap;
	}
	p->frames[p->nframes++] = (struct frame){ .is_object = is_object, .start = p->nitems };
	p->pos++;
	return 0;
}

struct keyref {
	const char *key;
	size_t len;
	size_t idx;
};

static int keyref_cmp(const void *x, const void *y)
{
	const struct keyref *a = x, *b = y;
	int r = key_cmp(a->key, a->len, b->key, b->len);
	if (r)
		return r;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Report the first (in document order) repeated key among it[0..n). */
static int check_duplicates(struct parser *p, const struct item *it, size_t n)
{
	size_t dup = SIZE_MAX;
	if (n <= SMALL_OBJECT) {
		for (size_t i = 1; i < n && dup == SIZE_MAX; i++)
			for (size_t j = 0; j < i; j++)
				if (key_eq(it[i].key, it[i].key_len, it[j].key, it[j].key_len)) {
					dup = i;
					break;
				}
	} else {
		if (n > SIZE_MAX / sizeof(struct keyref))
			return poom(p);
		struct keyref *r = pyro_malloc(n * sizeof *r);
		if (!r)
			return poom(p);
		for (size_t i = 0; i < n; i++)
			r[i] = (struct keyref){ it[i].key, it[i].key_len, i };
		qsort(r, n, sizeof *r, keyref_cmp);
		/* In a run of equal keys (sorted by position) every entry but
		 * the first is a repeat; the earliest repeat is the minimum. */
		for (size_t k = 1; k < n; k++)
			if (r[k].idx < dup && key_eq(r[k].key, r[k].len, r[k - 1].key, r[k - 1].len))
				dup = r[k].idx;
		free(r);
	}
	if (dup == SIZE_MAX)
		return 0;
	char q[256];
	quote_for_msg(q, sizeof q, it[dup].key, it[dup].key_len);
	return perr(p, it[dup].key_pos, "duplicate key %s", q);
}

/* Close the innermost container: build its node from its items. */
static struct json_value *close_container(struct parser *p)
{
	struct frame *f = &p->frames[p->nframes - 1];
	size_t n = p->nitems - f->start;
	struct item *it = n ? p->items + f->start : NULL;
	struct json_value *v;
	if (f->is_object) {
		if (check_duplicates(p, it, n) < 0)
			return NULL;
		v = new_value(p->doc, JSON_OBJECT);
		if (!v)
			goto oom;
		if (n) {
			struct json_member *m = arena_alloc(&p->doc->arena, n * sizeof *m,
							    alignof(struct json_member));
			if (!m)
				goto oom;
			for (size_t i = 0; i < n; i++)
				m[i] = (struct json_member){ it[i].key, it[i].key_len, it[i].value };
			v->u.object.members = m;
			v->u.object.len = v->u.object.cap = n;
		}
	} else {
		v = new_value(p->doc, JSON_ARRAY);
		if (!v)
			goto oom;
		if (n) {
			struct json_value **a = arena_alloc(&p->doc->arena, n * sizeof *a,
							    alignof(struct json_value *));
			if (!a)
				goto oom;
			for (size_t i = 0; i < n; i++)
				a[i] = it[i].value;
			v->u.array.items = a;
			v->u.array.len = v->u.array.cap = n;
		}
	}
	p->nitems = f->start;
	p->nframes--;
	return v;
oom:
	poom(p);
	return NULL;
}

/* At '"' (after skipping whitespace) in an object: the key and its ':'. */
static int parse_key(struct parser *p)
{
	struct frame *f = &p->frames[p->nframes - 1];
	if (p->pos >= p->len || p->s[p->pos] != '"')
		return expected(p, "'\"' to begin an object key");
	f->key_pos = p->pos;
	if (parse_string(p, true, &f->key, &f->key_len) < 0)
		return -1;
	skip_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != ':')
		return expected(p, "':' after object key");
	p->pos++;
	return 0;
}

/* Start a value at the current position. Scalars and empty containers come
 * back in *out; a non-empty container opens a frame and leaves *out NULL. */
static int parse_value_start(struct parser *p, struct json_value **out)
{
	*out = NULL;
	skip_ws(p);
	if (p->pos >= p->len)
		return perr(p, p->pos, "unexpected end of input, expected a value");
	unsigned char c = p->s[p->pos];
	if (c != '[' && c != '{')
		return parse_scalar(p, out);
	bool is_object = c == '{';
	if (push_frame(p, is_object) < 0)
		return -1;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == (is_object ? '}' : ']')) {
		p->pos++;
		*out = close_container(p);
		return *out ? 0 : -1;
	}
	return is_object ? parse_key(p) : 0;
}

static int parse_document(struct parser *p, struct json_value **root)
{
	for (;;) {
		struct json_value *v;
		if (parse_value_start(p, &v) < 0)
			return -1;
		if (!v)
			continue; /* the first element of a new container */
		/* A complete value: attach it, then close containers. */
		for (;;) {
			if (p->nframes == 0) {
				skip_ws(p);
				if (p->pos < p->len)
					return perr(p, p->pos, "trailing characters after the value");
				*root = v;
				return 0;
			}
			struct frame *f = &p->frames[p->nframes - 1];
			struct item it = { f->key, f->key_len, f->key_pos, v };
			if (push_item(p, &it) < 0)
				return -1;
			skip_ws(p);
			char closer = f->is_object ? '}' : ']';
			if (p->pos < p->len && p->s[p->pos] == ',') {
				p->pos++;
				skip_ws(p);
				if (p->pos < p->len && p->s[p->pos] == closer)
					return perr(p, p->pos, "trailing comma before '%c'", closer);
				if (f->is_object && parse_key(p) < 0)
					return -1;
				break; /* parse the next element */
			}
			if (p->pos < p->len && p->s[p->pos] == closer) {
				p->pos++;
				v = close_container(p);
				if (!v)
					return -1;
				continue;
			}
			return expected(p, f->is_object ? "',' or '}' after object member"
						       : "',' or ']' after array element");
		}
	}
}

int json_parse(struct json_doc *doc, const char *text, size_t len,
	       const struct json_limits *limits, struct json_value **out,
	       struct pyro_err *err)
{
	if (out)
		*out = NULL;
	if (!doc || !out || (!text && len))
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "json_parse: invalid arguments");
	struct parser p = {
		.doc = doc,
		.s = (const unsigned char *)(text ? text : ""),
		.len = len,
		.err = err,
		.lim = { JSON_DEFAULT_MAX_INPUT, JSON_DEFAULT_MAX_DEPTH, JSON_DEFAULT_MAX_STRING },
	};
	if (limits) {
		if (limits->max_input_bytes)
			p.lim.max_input_bytes = limits->max_input_bytes;
		if (limits->max_depth)
			p.lim.max_depth = limits->max_depth;
		if (limits->max_string_bytes)
			p.lim.max_string_bytes = limits->max_string_bytes;
	}
	if (len > p.lim.max_input_bytes)
		return perr(&p, p.lim.max_input_bytes, "input larger than %zu bytes",
			    p.lim.max_input_bytes);
	struct json_value *root = NULL;
	int rc = parse_document(&p, &root);
	free(p.items);
	free(p.frames);
	if (rc == 0)
		*out = root;
	return rc;
}
