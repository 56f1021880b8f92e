/* Strict JSON, parsing: UTF-8 validation and the parser behind json_parse,
 * duplicate-key detection included. See json.h for the contract (what is
 * accepted, limits, numbers, error positions).
 *
 *  - Duplicate keys are detected when the object is complete (linear scan up
 *    to 16 members, sorting above), so an object with a duplicate key and a
 *    later syntax error inside it reports the syntax error.
 *  - The parser is iterative (an explicit heap stack of open containers), so
 *    no nesting can overflow the C stack.
 *
 * strtod depends on the locale's decimal point; pyro never calls
 * setlocale(), so it runs in the "C" locale and uses '.'. */
#include "json_internal.h"

#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "fault.h"

/* ---- UTF-8 ------------------------------------------------------------ */

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
size_t json_utf8_decode_multi(const unsigned char *s, size_t n, enum utf8_err *why)
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
		size_t k = json_utf8_decode_multi(s + i, len - i, &why);
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
			plen = json_utf8_decode_multi(s + i, end - i, &why);
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
		v = json_new_value(p->doc, JSON_STRING);
		if (!v)
			return poom(p);
		if (parse_string(p, false, &v->u.string.ptr, &v->u.string.len) < 0)
			return -1;
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		v = json_new_value(p->doc, JSON_NUMBER);
		if (!v)
			return poom(p);
		if (parse_number(p, v) < 0)
			return -1;
		break;
	case 't':
	case 'f':
		if (parse_literal(p, c == 't' ? "true" : "false") < 0)
			return -1;
		v = json_new_value(p->doc, JSON_BOOL);
		if (!v)
			return poom(p);
		v->u.boolean = c == 't';
		break;
	case 'n':
		if (parse_literal(p, "null") < 0)
			return -1;
		v = json_new_value(p->doc, JSON_NULL);
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
	int r = json_key_cmp(a->key, a->len, b->key, b->len);
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
				if (json_key_eq(it[i].key, it[i].key_len, it[j].key,
						it[j].key_len)) {
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
			if (r[k].idx < dup &&
			    json_key_eq(r[k].key, r[k].len, r[k - 1].key, r[k - 1].len))
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
		v = json_new_value(p->doc, JSON_OBJECT);
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
		v = json_new_value(p->doc, JSON_ARRAY);
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
