/* Strict JSON, the tree: the document (an arena), builders and setters,
 * lookups, key order, json_equal, json_clone and type names. See json.h for
 * the contract; the helpers json_parse.c and json_emit.c use from here are
 * declared in json_internal.h.
 *
 *  - json_object_set and json_get scan the members linearly: building an
 *    object of n members by repeated json_object_set costs O(n^2) key
 *    comparisons in total. Fine for the small objects pyro builds.
 *  - json_clone and json_equal are iterative (an explicit heap stack), so
 *    no tree depth can overflow the C stack. json_equal cannot report an
 *    allocation failure: when its stack or its key sort cannot be allocated
 *    (only for nesting deeper than 32 or objects over 16 members whose keys
 *    are in different orders), it returns false. */
#include "json_internal.h"

#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

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

struct json_value *json_new_value(struct json_doc *doc, enum json_type t)
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
	return json_new_value(doc, JSON_NULL);
}

struct json_value *json_bool(struct json_doc *doc, bool b)
{
	struct json_value *v = json_new_value(doc, JSON_BOOL);
	if (v)
		v->u.boolean = b;
	return v;
}

struct json_value *json_int(struct json_doc *doc, int64_t i)
{
	struct json_value *v = json_new_value(doc, JSON_NUMBER);
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
	struct json_value *v = json_new_value(doc, JSON_NUMBER);
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
	struct json_value *v = json_new_value(doc, JSON_STRING);
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
	return json_new_value(doc, JSON_ARRAY);
}

struct json_value *json_object(struct json_doc *doc)
{
	return json_new_value(doc, JSON_OBJECT);
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

bool json_key_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static struct json_member *find_member(const struct json_value *obj, const char *key,
				       size_t klen)
{
	for (size_t i = 0; i < obj->u.object.len; i++) {
		struct json_member *m = &obj->u.object.members[i];
		if (json_key_eq(m->key, m->key_len, key, klen))
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
int json_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
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
	int r = json_key_cmp(a->key, a->key_len, b->key, b->key_len);
	if (r)
		return r;
	return a < b ? -1 : a > b;
}

/* Members of obj sorted by key, in a fresh heap array (NULL on failure). */
const struct json_member **json_sorted_members(const struct json_value *obj)
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

size_t json_container_len(const struct json_value *v)
{
	return v->type == JSON_ARRAY ? v->u.array.len : v->u.object.len;
}

bool json_is_nonempty_container(const struct json_value *v)
{
	return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) && json_container_len(v) > 0;
}

/* Double a stack that may still be in the caller's inline storage.
 * Returns the new stack, or NULL (the old one is untouched). */
void *json_stack_grow(void *st, size_t *cap, const void *inline_st, size_t size)
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
	while (i < n && json_key_eq(a->u.object.members[i].key, a->u.object.members[i].key_len,
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
	f->oa = json_sorted_members(a);
	f->ob = json_sorted_members(b);
	if (!f->oa || !f->ob)
		return false;
	for (i = 0; i < n; i++)
		if (!json_key_eq(f->oa[i]->key, f->oa[i]->key_len, f->ob[i]->key,
				 f->ob[i]->key_len))
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
				if (!json_key_eq(x->u.string.ptr, x->u.string.len, y->u.string.ptr,
						 y->u.string.len))
					goto out;
				break;
			case JSON_ARRAY:
			case JSON_OBJECT:
				if (json_container_len(x) != json_container_len(y))
					goto out;
				if (!json_container_len(x))
					break;
				if (n == cap) {
					struct eq_frame *g =
						json_stack_grow(st, &cap, inline_st, sizeof *st);
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
			if (f->i < json_container_len(f->a)) {
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
	struct json_value *c = json_new_value(doc, v->type);
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
	if (!root || !json_is_nonempty_container(v))
		return root;
	struct clone_frame inline_st[16];
	struct clone_frame *st = inline_st;
	size_t cap = 16, n = 0;
	st[n++] = (struct clone_frame){ v, root };
	while (n) {
		struct clone_frame *f = &st[n - 1];
		const struct json_value *src = f->src;
		struct json_value *dst = f->dst;
		size_t i = json_container_len(dst);
		if (i == json_container_len(src)) {
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
		if (json_is_nonempty_container(child)) {
			if (n == cap) {
				struct clone_frame *g =
					json_stack_grow(st, &cap, inline_st, sizeof *st);
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

void *json_doc_alloc(struct json_doc *doc, size_t n)
{
	return doc ? arena_alloc(&doc->arena, n ? n : 1, _Alignof(max_align_t)) : NULL;
}
