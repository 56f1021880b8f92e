/* UTF-8 decoding with replacement; see utf8.h. */
#include "utf8.h"

#include <string.h>

static const char REPLACEMENT[] = "\xef\xbf\xbd";

/* For lead byte b: the sequence length (2..4) and the allowed range of the
 * second byte (which is where overlongs, surrogates and values above
 * U+10FFFF are ruled out); 0 for a byte that cannot start one. */
static int lead_info(unsigned char b, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xbf;
	if (b >= 0xc2 && b <= 0xdf)
		return 2;
	if (b >= 0xe0 && b <= 0xef) {
		if (b == 0xe0)
			*lo = 0xa0;
		else if (b == 0xed)
			*hi = 0x9f;
		return 3;
	}
	if (b >= 0xf0 && b <= 0xf4) {
		if (b == 0xf0)
			*lo = 0x90;
		else if (b == 0xf4)
			*hi = 0x8f;
		return 4;
	}
	return 0;
}

/* How many bytes of p[0..n) (n >= 1, p[0] >= 0x80) form the maximal
 * subpart: the full length when valid, else the bytes up to the first one
 * that cannot continue (at least 1). *complete says whether it was a valid
 * sequence; *cut whether it ran out of input while still valid so far. */
static size_t scan(const unsigned char *p, size_t n, int *complete, int *cut)
{
	unsigned char lo, hi;
	int len = lead_info(p[0], &lo, &hi);
	*complete = 0;
	*cut = 0;
	if (len == 0)
		return 1;
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n) {
			*cut = 1;
			return (size_t)i;
		}
		unsigned char b = p[i];
		unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xbf;
		if (b < l || b > h)
			return (size_t)i;
	}
	*complete = 1;
	return (size_t)len;
}

/* Decode p[0..n) into out, assuming nothing is pending. Returns how many
 * bytes it used: all of them, except a valid-so-far sequence cut at the end
 * (left for the caller to keep) when keep_cut is set. */
static int decode(struct buf *out, const unsigned char *p, size_t n, int keep_cut, size_t *used)
{
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && p[run] < 0x80)
			run++;
		if (run > i && buf_append(out, p + i, run - i) < 0)
			return -1;
		i = run;
		if (i == n)
			break;
		int complete, cut;
		size_t len = scan(p + i, n - i, &complete, &cut);
		if (cut && keep_cut)
			break;
		if (complete ? buf_append(out, p + i, len) : buf_append(out, REPLACEMENT, 3))
			return -1;
		i += len;
	}
	*used = i;
	return 0;
}

int utf8_dec_feed(struct utf8_dec *d, struct buf *out, const void *s, size_t n)
{
	const unsigned char *p = s;
	size_t used;
	/* Finish a sequence cut by the previous feed, one byte at a time. */
	while (d->have && n) {
		d->part[d->have++] = *p++;
		n--;
		int complete, cut;
		size_t len = scan(d->part, d->have, &complete, &cut);
		if (cut)
			continue;
		/* Complete, or broken after `len` bytes: the rest of part[] is
		 * new input again. */
		if (complete ? buf_append(out, d->part, len) : buf_append(out, REPLACEMENT, 3))
			return -1;
		unsigned char rest[4];
		size_t nrest = d->have - len;
		memcpy(rest, d->part + len, nrest);
		d->have = 0;
		if (nrest) {
			if (decode(out, rest, nrest, 1, &used) < 0)
				return -1;
			memcpy(d->part, rest + used, nrest - used);
			d->have = (uint8_t)(nrest - used);
		}
	}
	if (!n)
		return 0;
	if (decode(out, p, n, 1, &used) < 0)
		return -1;
	memcpy(d->part, p + used, n - used);
	d->have = (uint8_t)(n - used);
	return 0;
}

int utf8_dec_finish(struct utf8_dec *d, struct buf *out)
{
	if (!d->have)
		return 0;
	d->have = 0;
	return buf_append(out, REPLACEMENT, 3);
}

int utf8_sanitize(struct buf *out, const void *s, size_t n)
{
	size_t used;
	return decode(out, s, n, 0, &used);
}

size_t utf8_count(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

size_t utf8_offset(const char *s, size_t n, size_t cp)
{
	size_t i = 0;
	for (; i < n; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (cp == 0)
				return i;
			cp--;
		}
	}
	return n;
}

size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t i = max;
	while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
		i--;
	return i;
}

/* utf8.h */
size_t utf8_decode_one(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t len;
	uint32_t v, min;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, v = c & 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, v = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}
