/* Strict JSON, emission: string escaping, number formatting and the walk
 * behind json_emit. See json.h for the contract (output shape, escaping, how
 * doubles and invalid UTF-8 come out).
 *
 * The emitter is iterative (an explicit heap stack), so no tree depth can
 * overflow the C stack.
 *
 * snprintf("%g") and strtod depend on the locale's decimal point; pyro never
 * calls setlocale(), so they run in the "C" locale and use '.'. */
#include "json_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
			size_t k = json_utf8_decode_multi(s + i, len - i, &why);
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
		if (!json_is_nonempty_container(cur)) {
			if (emit_scalar(out, cur) < 0)
				goto fail;
		} else {
			if (n == cap) {
				struct emit_frame *g =
					json_stack_grow(st, &cap, inline_st, sizeof *st);
				if (!g)
					goto fail;
				st = g;
			}
			st[n] = (struct emit_frame){ .v = cur };
			n++;
			if (buf_append_char(out, cur->type == JSON_ARRAY ? '[' : '{') < 0)
				goto fail;
			if (cur->type == JSON_OBJECT && sort && cur->u.object.len > 1) {
				st[n - 1].order = json_sorted_members(cur);
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
			if (f->i < json_container_len(f->v)) {
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
