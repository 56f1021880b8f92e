/* UTF-8 for text that came from programs: decode with replacement, the way
 * Python's bytes.decode("utf-8", "replace") and its incremental decoder do
 * (one U+FFFD per maximal ill-formed subpart), and count code points, since
 * the original's cursors and caps are in Python str characters.
 *
 * The incremental decoder keeps a sequence cut at the end of one feed and
 * completes it with the next; utf8_dec_finish turns a still-cut sequence
 * into one U+FFFD. Output is always valid UTF-8.
 *
 * Ownership: the decoder holds no memory; `out` is the caller's. */
#ifndef PYRO_UTF8_H
#define PYRO_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct utf8_dec {
	unsigned char part[4]; /* the bytes of a cut sequence */
	uint8_t have;          /* how many of them */
};

#define UTF8_DEC_INIT { { 0 }, 0 }

/* Append the decoded form of s[0..n) to out. 0, or -1 when out is full or
 * memory ran out (out then holds a prefix, cut at a character boundary). */
int utf8_dec_feed(struct utf8_dec *d, struct buf *out, const void *s, size_t n);
int utf8_dec_finish(struct utf8_dec *d, struct buf *out);

/* Decode all of s at once (feed + finish). */
int utf8_sanitize(struct buf *out, const void *s, size_t n);

/* Code points in valid UTF-8 s[0..n) (continuation bytes are not counted). */
size_t utf8_count(const char *s, size_t n);
/* Byte offset of code point number `cp` in valid UTF-8 s[0..n), or n when
 * there are fewer. */
size_t utf8_offset(const char *s, size_t n, size_t cp);
/* The longest prefix of valid UTF-8 s[0..n) that is at most max bytes and
 * ends on a character boundary. */
size_t utf8_cut(const char *s, size_t n, size_t max);

/* Strict UTF-8 (RFC 3629): the length of the sequence at s[0..n) (n >= 1)
 * and its code point in *cp, or 0 when s[0] does not start a valid one
 * (no overlongs, surrogates or values above U+10FFFF). */
size_t utf8_decode_one(const unsigned char *s, size_t n, uint32_t *cp);

#endif
