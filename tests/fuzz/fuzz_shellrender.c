/* Fuzz the plain renderer of PTY output (core/shellrender.h), which takes
 * whatever a guest program prints. Input: two bytes choosing a split point,
 * then the PTY bytes. Properties:
 *  - the output is valid UTF-8 with no ESC, CR, NUL or C0 control other than
 *    TAB and LF;
 *  - rendering is deterministic, and feeding the bytes as two chunks (split
 *    anywhere, even inside a UTF-8 character or an escape sequence) or one
 *    byte at a time gives the same output as one call;
 *  - the output equals a deliberately naive second implementation below that
 *    follows the original Python line by line (decode everything, then walk
 *    the text with look-ahead, list-style inserts and deletes). */
#include "fuzz.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/shellrender.h"

#define MAX_INPUT 4096

/* ---- the naive oracle ---- */

/* Python's decode("utf-8", "replace"): one U+FFFD per maximal subpart. */
static size_t naive_decode(const uint8_t *s, size_t n, uint32_t *cps)
{
	size_t count = 0, i = 0;
	while (i < n) {
		uint8_t b = s[i];
		size_t want;
		uint8_t lo = 0x80, hi = 0xbf;
		if (b < 0x80) {
			cps[count++] = b;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			want = 2;
		else if (b >= 0xe0 && b <= 0xef)
			want = 3;
		else if (b >= 0xf0 && b <= 0xf4)
			want = 4;
		else
			want = 0;
		if (b == 0xe0)
			lo = 0xa0;
		if (b == 0xed)
			hi = 0x9f;
		if (b == 0xf0)
			lo = 0x90;
		if (b == 0xf4)
			hi = 0x8f;
		size_t ok = want ? 1 : 0; /* bytes forming a valid prefix */
		while (ok && ok < want && i + ok < n) {
			uint8_t c = s[i + ok];
			uint8_t l = ok == 1 ? lo : 0x80, h = ok == 1 ? hi : 0xbf;
			if (c < l || c > h)
				break;
			ok++;
		}
		if (want && ok == want) {
			uint32_t cp = b & (want == 2 ? 0x1f : want == 3 ? 0x0f : 0x07);
			for (size_t k = 1; k < want; k++)
				cp = (cp << 6) | (s[i + k] & 0x3f);
			cps[count++] = cp;
			i += want;
		} else {
			cps[count++] = 0xfffd;
			i += ok ? ok : 1;
		}
	}
	return count;
}

struct naive {
	uint32_t *line;
	size_t len, cursor;
	struct buf *lines; /* "\n"-terminated completed lines */
};

static void naive_del(struct naive *s, size_t at)
{
	memmove(s->line + at, s->line + at + 1, (s->len - at - 1) * sizeof *s->line);
	s->len--;
}

static size_t naive_consume(struct naive *s, const uint32_t *t, size_t n, size_t i)
{
	if (i + 1 >= n)
		return n;
	uint32_t leader = t[i + 1];
	if (leader == '[') {
		for (size_t j = i + 2; j < n; j++) {
			if (t[j] >= 0x40 && t[j] <= 0x7e) {
				size_t plen = j - (i + 2);
				uint32_t mode = plen == 0 ? '0' : plen == 1 ? t[i + 2] : 0;
				if (t[j] == 'K' && mode == '0') {
					s->len = s->cursor;
				} else if (t[j] == 'K' && mode == '1') {
					for (size_t k = 0; k < s->cursor && k < s->len; k++)
						s->line[k] = ' ';
				} else if (t[j] == 'K' && mode == '2') {
					s->len = s->cursor = 0;
				} else if (t[j] == 'J' && (mode == '2' || mode == '3')) {
					buf_reset(s->lines);
					s->len = s->cursor = 0;
				}
				return j + 1;
			}
		}
		return n;
	}
	if (leader == ']' || leader == 'P' || leader == '_' || leader == '^') {
		for (size_t j = i + 2; j < n; j++) {
			if (t[j] == 0x07)
				return j + 1;
			if (t[j] == 0x1b && j + 1 < n && t[j + 1] == '\\')
				return j + 2;
		}
		return n;
	}
	if (leader == 'O')
		return i + 3 < n ? i + 3 : n;
	return i + 2 < n ? i + 2 : n;
}

static void naive_put_line(struct naive *s, struct buf *to)
{
	for (size_t k = 0; k < s->len; k++) {
		char u[4];
		uint32_t c = s->line[k];
		size_t m;
		if (c < 0x80) {
			u[0] = (char)c, m = 1;
		} else if (c < 0x800) {
			u[0] = (char)(0xc0 | (c >> 6)), u[1] = (char)(0x80 | (c & 0x3f)), m = 2;
		} else if (c < 0x10000) {
			u[0] = (char)(0xe0 | (c >> 12)), u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
			u[2] = (char)(0x80 | (c & 0x3f)), m = 3;
		} else {
			u[0] = (char)(0xf0 | (c >> 18)), u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
			u[2] = (char)(0x80 | ((c >> 6) & 0x3f)), u[3] = (char)(0x80 | (c & 0x3f));
			m = 4;
		}
		if (buf_append(to, u, m) < 0)
			abort();
	}
}

static void naive_render(const uint8_t *data, size_t n, struct buf *out)
{
	uint32_t *t = malloc((n + 1) * sizeof *t);
	uint32_t *line = malloc((n + 1) * sizeof *line);
	if (!t || !line)
		abort();
	size_t len = naive_decode(data, n, t);
	struct naive s = { line, 0, 0, out };
	int ended_with_newline = 0;
	size_t i = 0;
	while (i < len) {
		uint32_t c = t[i];
		if (c == 0x1b) {
			i = naive_consume(&s, t, len, i);
			ended_with_newline = 0;
			continue;
		}
		if (c == '\r') {
			s.cursor = 0;
			ended_with_newline = 0;
		} else if (c == '\n') {
			naive_put_line(&s, out);
			if (buf_append_char(out, '\n') < 0)
				abort();
			s.len = s.cursor = 0;
			ended_with_newline = 1;
		} else if (c == '\b') {
			if (s.cursor > 0) {
				s.cursor--;
				if (s.cursor < s.len)
					naive_del(&s, s.cursor);
			}
			ended_with_newline = 0;
		} else if (c == '\t' || (c >= 32 && c != 127)) {
			if (s.cursor < s.len)
				s.line[s.cursor] = c;
			else
				s.line[s.len++] = c;
			s.cursor++;
			ended_with_newline = 0;
		}
		i++;
	}
	if (s.len || ended_with_newline)
		naive_put_line(&s, out);
	else if (out->len)
		buf_truncate(out, out->len - 1);
	free(t);
	free(line);
}

/* ---- properties ---- */

static void check_clean_utf8(const struct buf *b)
{
	const uint8_t *s = (const uint8_t *)b->data;
	size_t i = 0;
	while (i < b->len) {
		uint8_t c = s[i];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				abort();
			i++;
			continue;
		}
		size_t need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2
			    : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
		if (!need || i + need >= b->len)
			abort();
		uint8_t lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
		uint8_t hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
		if (s[i + 1] < lo || s[i + 1] > hi)
			abort();
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				abort();
		i += need + 1;
	}
	if (memchr(b->data, 0x1b, b->len) || memchr(b->data, '\r', b->len))
		abort();
}

static void same(const struct buf *a, const struct buf *b)
{
	if (a->len != b->len || memcmp(a->data, b->data, a->len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > MAX_INPUT + 2)
		return 0;
	size_t n = size - 2;
	size_t cut = ((size_t)data[0] | (size_t)data[1] << 8) % (n + 1);
	const uint8_t *in = data + 2;

	struct buf whole = BUF_INIT, again = BUF_INIT, split = BUF_INIT, bytes = BUF_INIT,
		   oracle = BUF_INIT;
	if (shell_render_plain(&whole, in, n, NULL) < 0)
		abort();
	check_clean_utf8(&whole);
	if (shell_render_plain(&again, in, n, NULL) < 0)
		abort();
	same(&whole, &again);

	struct shell_render r;
	shell_render_init(&r, &split);
	if (shell_render_feed(&r, in, cut, NULL) < 0 ||
	    shell_render_feed(&r, in + cut, n - cut, NULL) < 0 ||
	    shell_render_finish(&r, NULL) < 0)
		abort();
	same(&whole, &split);

	shell_render_init(&r, &bytes);
	for (size_t i = 0; i < n; i++)
		if (shell_render_feed(&r, in + i, 1, NULL) < 0)
			abort();
	if (shell_render_finish(&r, NULL) < 0)
		abort();
	same(&whole, &bytes);

	naive_render(in, n, &oracle);
	same(&whole, &oracle);

	buf_release(&whole);
	buf_release(&again);
	buf_release(&split);
	buf_release(&bytes);
	buf_release(&oracle);
	return 0;
}
