/* Secret redaction; see redact.h. */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

#include "fault.h"

int redact_set_add(struct redact_set *s, const char *value, size_t len)
{
	if (len == 0)
		return 0;
	size_t at = s->n;
	for (size_t i = 0; i < s->n; i++) {
		if (s->lens[i] == len && memcmp(s->values[i], value, len) == 0)
			return 0;
		if (at == s->n && s->lens[i] < len)
			at = i;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		char **v = pyro_realloc(s->values, cap * sizeof *v);
		if (!v)
			return -1;
		s->values = v;
		size_t *l = pyro_realloc(s->lens, cap * sizeof *l);
		if (!l)
			return -1;
		s->lens = l;
		s->cap = cap;
	}
	char *copy = pyro_malloc(len + 1);
	if (!copy)
		return -1;
	memcpy(copy, value, len);
	copy[len] = 0;
	memmove(s->values + at + 1, s->values + at, (s->n - at) * sizeof *s->values);
	memmove(s->lens + at + 1, s->lens + at, (s->n - at) * sizeof *s->lens);
	s->values[at] = copy;
	s->lens[at] = len;
	s->n++;
	return 0;
}

void redact_set_release(struct redact_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->values[i]);
	free(s->values);
	free(s->lens);
	memset(s, 0, sizeof *s);
}

/* Replace every occurrence of v in src into dst (which is emptied first). */
static int replace_all(struct buf *dst, const char *src, size_t n, const char *v, size_t vlen)
{
	buf_reset(dst);
	const char *p = src, *end = src + n;
	while (p < end) {
		const char *hit = memmem(p, (size_t)(end - p), v, vlen);
		if (!hit)
			break;
		if (buf_append(dst, p, (size_t)(hit - p)) < 0 || buf_append_str(dst, REDACT_MARK) < 0)
			return -1;
		p = hit + vlen;
	}
	return buf_append(dst, p, (size_t)(end - p));
}

static int in_set(const struct redact_set *s, const char *v, size_t vlen)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->lens[i] == vlen && memcmp(s->values[i], v, vlen) == 0)
			return 1;
	return 0;
}

int redact_apply(const struct redact_set *a, const struct redact_set *b, struct buf *out,
		 const char *text, size_t len)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;
	if (na + nb == 0)
		return buf_append(out, text, len);
	/* Work in two scratch buffers, merging both sets longest first. */
	struct buf x = BUF_INIT, y = BUF_INIT;
	int rc = -1;
	if (buf_append(&x, text, len) < 0)
		goto done;
	size_t ia = 0, ib = 0;
	while (ia < na || ib < nb) {
		const char *v;
		size_t vlen;
		if (ib >= nb || (ia < na && a->lens[ia] >= b->lens[ib])) {
			v = a->values[ia];
			vlen = a->lens[ia++];
		} else {
			v = b->values[ib];
			vlen = b->lens[ib++];
			if (in_set(a, v, vlen))
				continue; /* in both sets: replaced once, with a's */
		}
		if (!x.len)
			break;
		if (replace_all(&y, x.data, x.len, v, vlen) < 0)
			goto done;
		struct buf t = x;
		x = y;
		y = t;
	}
	rc = buf_append(out, x.data ? x.data : "", x.len);
done:
	buf_release(&x);
	buf_release(&y);
	return rc;
}
