/* Plain rendering of PTY output and the idle-wait state machine; see
 * shellrender.h for the semantics, which follow the original exactly. */
#include "shellrender.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "fault.h"

#define ESC 0x1bu
#define BEL 0x07u
#define REPLACEMENT 0xfffdu

enum { ST_TEXT, ST_ESC, ST_CSI, ST_STR, ST_SS3 };

/* ---- the current line: a gap buffer whose gap sits at the cursor ---- */

static size_t line_len(const struct shell_render *r)
{
	return r->gap_start + (r->line_cap - r->gap_end);
}

static void line_clear(struct shell_render *r)
{
	r->gap_start = 0;
	r->gap_end = r->line_cap;
	r->blank = 0;
}

/* Make the gap non-empty, keeping the text after it at the end. */
static int line_grow(struct shell_render *r)
{
	size_t cap = r->line_cap ? r->line_cap : 64;
	if (r->line_cap) {
		if (cap > SIZE_MAX / 2 / sizeof *r->line) {
			errno = ENOMEM;
			return -1;
		}
		cap *= 2;
	}
	uint32_t *p = pyro_realloc(r->line, cap * sizeof *p);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	size_t tail = r->line_cap - r->gap_end;
	memmove(p + cap - tail, p + r->gap_end, tail * sizeof *p);
	r->line = p;
	r->gap_end = cap - tail;
	r->line_cap = cap;
	return 0;
}

/* A printable character at the cursor: overwrite or append, cursor right. */
static int line_put(struct shell_render *r, uint32_t cp)
{
	if (r->gap_end < r->line_cap) {
		r->gap_end++; /* the character under the cursor is replaced */
	} else if (r->gap_start == r->gap_end && line_grow(r) < 0) {
		return -1;
	}
	if (r->gap_start < r->blank && cp != ' ')
		r->blank = r->gap_start;
	r->line[r->gap_start++] = cp;
	return 0;
}

/* CR: move the gap to the front. Costs the cursor column, which only
 * printable characters (one each) ever increase: linear overall. */
static void line_home(struct shell_render *r)
{
	size_t n = r->gap_start;
	if (n == 0)
		return;
	memmove(r->line + r->gap_end - n, r->line, n * sizeof *r->line);
	r->gap_end -= n;
	r->gap_start = 0;
}

/* BS: cursor left, deleting the character there (Python: del line[cursor]). */
static void line_backspace(struct shell_render *r)
{
	if (r->gap_start == 0)
		return;
	r->gap_start--;
	if (r->gap_start < r->blank)
		r->blank--;
}

/* ESC[1K: blank columns 0..cursor-1. Columns below `blank` are spaces
 * already; the potential gap_start - blank grows by at most one per
 * printable character, so the total work is linear. */
static void line_blank_left(struct shell_render *r)
{
	for (size_t i = r->blank; i < r->gap_start; i++)
		r->line[i] = ' ';
	if (r->blank < r->gap_start)
		r->blank = r->gap_start;
}

/* ---- output ---- */

static size_t utf8_len(uint32_t cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static char *utf8_put(char *p, uint32_t cp)
{
	if (cp < 0x80) {
		*p++ = (char)cp;
	} else if (cp < 0x800) {
		*p++ = (char)(0xc0 | (cp >> 6));
		*p++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*p++ = (char)(0xe0 | (cp >> 12));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*p++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*p++ = (char)(0xf0 | (cp >> 18));
		*p++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*p++ = (char)(0x80 | (cp & 0x3f));
	}
	return p;
}

/* Append the current line as UTF-8, plus "\n" when `newline`. */
static int emit_line(struct shell_render *r, int newline)
{
	/* line is NULL until the first printable character. */
	const uint32_t *parts[2] = { r->line, r->line ? r->line + r->gap_end : NULL };
	size_t counts[2] = { r->gap_start, r->line_cap - r->gap_end };
	size_t bytes = newline ? 1 : 0;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < counts[k]; i++)
			bytes += utf8_len(parts[k][i]);
	if (bytes == 0)
		return 0;
	if (buf_reserve(r->out, bytes) < 0)
		return -1;
	char *p = r->out->data + r->out->len;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < counts[k]; i++)
			p = utf8_put(p, parts[k][i]);
	if (newline)
		*p++ = '\n';
	r->out->len += bytes;
	r->out->data[r->out->len] = '\0';
	return 0;
}

/* ---- the renderer proper, one code point at a time ---- */

static void apply_csi(struct shell_render *r, uint32_t final)
{
	/* The parameter string is "" (len 0), one code point, or longer (no
	 * mode of K or J matches then). */
	uint32_t mode = r->csi_len == 0 ? '0' : r->csi_len == 1 ? r->csi_first : 0;
	if (final == 'K') {
		if (mode == '0') {
			r->gap_end = r->line_cap; /* del line[cursor:] */
			if (r->blank > r->gap_start)
				r->blank = r->gap_start;
		} else if (mode == '1') {
			line_blank_left(r);
		} else if (mode == '2') {
			line_clear(r);
		}
	} else if (final == 'J' && (mode == '2' || mode == '3')) {
		buf_truncate(r->out, r->out_start);
		line_clear(r);
	}
}

static int render_cp(struct shell_render *r, uint32_t cp)
{
	switch (r->state) {
	case ST_ESC:
		if (cp == '[') {
			r->state = ST_CSI;
			r->csi_len = 0;
		} else if (cp == ']' || cp == 'P' || cp == '_' || cp == '^') {
			r->state = ST_STR;
			r->str_esc = 0;
		} else {
			r->state = cp == 'O' ? ST_SS3 : ST_TEXT;
		}
		return 0;
	case ST_CSI:
		if (cp >= 0x40 && cp <= 0x7e) {
			apply_csi(r, cp);
			r->state = ST_TEXT;
		} else if (r->csi_len < 2) {
			if (r->csi_len == 0)
				r->csi_first = cp;
			r->csi_len++;
		}
		return 0;
	case ST_STR:
		if (cp == BEL || (r->str_esc && cp == '\\'))
			r->state = ST_TEXT;
		else
			r->str_esc = cp == ESC;
		return 0;
	case ST_SS3:
		r->state = ST_TEXT;
		return 0;
	default:
		break;
	}
	switch (cp) {
	case ESC:
		r->state = ST_ESC;
		r->ended_with_newline = 0;
		return 0;
	case '\r':
		line_home(r);
		r->ended_with_newline = 0;
		return 0;
	case '\n':
		if (emit_line(r, 1) < 0)
			return -1;
		line_clear(r);
		r->ended_with_newline = 1;
		return 0;
	case '\b':
		line_backspace(r);
		r->ended_with_newline = 0;
		return 0;
	default:
		if (cp == '\t' || (cp >= 0x20 && cp != 0x7f)) {
			if (line_put(r, cp) < 0)
				return -1;
			r->ended_with_newline = 0;
		}
		return 0;
	}
}

/* ---- UTF-8 decoding, U+FFFD per maximal ill-formed subpart ---- */

static int decode_byte(struct shell_render *r, uint8_t b)
{
	if (r->utf8_need) {
		if (b >= r->utf8_lo && b <= r->utf8_hi) {
			r->utf8_cp = (r->utf8_cp << 6) | (b & 0x3fu);
			r->utf8_lo = 0x80;
			r->utf8_hi = 0xbf;
			if (--r->utf8_need)
				return 0;
			return render_cp(r, r->utf8_cp);
		}
		/* The sequence so far is one error; b starts afresh. */
		r->utf8_need = 0;
		if (render_cp(r, REPLACEMENT) < 0)
			return -1;
	}
	if (b < 0x80)
		return render_cp(r, b);
	r->utf8_lo = 0x80;
	r->utf8_hi = 0xbf;
	if (b >= 0xc2 && b <= 0xdf) {
		r->utf8_need = 1;
		r->utf8_cp = b & 0x1fu;
	} else if (b >= 0xe0 && b <= 0xef) {
		r->utf8_need = 2;
		r->utf8_cp = b & 0x0fu;
		if (b == 0xe0)
			r->utf8_lo = 0xa0; /* no overlongs */
		else if (b == 0xed)
			r->utf8_hi = 0x9f; /* no surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		r->utf8_need = 3;
		r->utf8_cp = b & 0x07u;
		if (b == 0xf0)
			r->utf8_lo = 0x90;
		else if (b == 0xf4)
			r->utf8_hi = 0x8f; /* nothing past U+10FFFF */
	} else {
		return render_cp(r, REPLACEMENT);
	}
	return 0;
}

/* ---- public API ---- */

void shell_render_init(struct shell_render *r, struct buf *out)
{
	memset(r, 0, sizeof *r);
	r->out = out;
	r->out_start = out->len;
	r->state = ST_TEXT;
}

void shell_render_release(struct shell_render *r)
{
	free(r->line);
	r->line = NULL;
	r->line_cap = r->gap_start = r->gap_end = r->blank = 0;
}

static int fail(struct shell_render *r, int errnum, struct pyro_err *err)
{
	if (!r->failed_errno) {
		r->failed_errno = errnum ? errnum : ENOMEM;
		buf_truncate(r->out, r->out_start);
		shell_render_release(r);
	}
	if (r->failed_errno == EMSGSIZE)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				   "rendered shell output exceeds the %zu-byte limit; "
				   "read a smaller window (lower max_chars)",
				   r->out->max);
	if (r->failed_errno == ENOMEM)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				   "out of memory rendering shell output");
	return pyro_err_sys(err, r->failed_errno, "rendering shell output");
}

int shell_render_feed(struct shell_render *r, const void *data, size_t n,
		      struct pyro_err *err)
{
	if (r->failed_errno)
		return fail(r, r->failed_errno, err);
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++)
		if (decode_byte(r, p[i]) < 0)
			return fail(r, errno, err);
	return 0;
}

int shell_render_finish(struct shell_render *r, struct pyro_err *err)
{
	if (r->failed_errno)
		return fail(r, r->failed_errno, err);
	if (r->utf8_need) {
		r->utf8_need = 0;
		if (render_cp(r, REPLACEMENT) < 0)
			return fail(r, errno, err);
	}
	/* An escape sequence still open is simply dropped. */
	r->state = ST_TEXT;
	if (line_len(r) || r->ended_with_newline) {
		if (emit_line(r, 0) < 0)
			return fail(r, errno, err);
	} else if (r->out->len > r->out_start) {
		/* Lines are joined by "\n": the last one emitted has none. */
		buf_truncate(r->out, r->out->len - 1);
	}
	shell_render_release(r);
	return 0;
}

int shell_render_plain(struct buf *out, const void *data, size_t n,
		       struct pyro_err *err)
{
	struct shell_render r;
	shell_render_init(&r, out);
	int rc = shell_render_feed(&r, data, n, err);
	if (rc == 0)
		rc = shell_render_finish(&r, err);
	shell_render_release(&r);
	return rc;
}

/* ---- idle waiting ---- */

int shell_idle_check(long long ms, struct pyro_err *err)
{
	if (ms < 1 || ms > (long long)SHELL_IDLE_MAX_MS)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				   "wait_for_idle_ms must be between 1 and %u (got %lld); "
				   "%u suits interactive shells",
				   SHELL_IDLE_MAX_MS, ms, SHELL_IDLE_RECOMMENDED_MS);
	return 0;
}

void shell_idle_start(struct shell_idle *w, uint64_t now_ms, uint64_t idle_ms,
		      uint64_t position)
{
	if (idle_ms < 1)
		idle_ms = 1;
	if (idle_ms > SHELL_IDLE_MAX_MS)
		idle_ms = SHELL_IDLE_MAX_MS;
	w->idle_ms = idle_ms;
	w->deadline = now_ms + SHELL_IDLE_TOTAL_MAX_MS;
	w->last_change = now_ms;
	w->position = position;
}

enum shell_idle_verdict shell_idle_step(struct shell_idle *w, uint64_t now_ms,
					uint64_t position, int running,
					uint64_t *wait_ms)
{
	uint64_t dummy;
	if (!wait_ms)
		wait_ms = &dummy;
	*wait_ms = 0;
	/* A clock that went backwards counts as no time passing. */
	if (now_ms < w->last_change)
		now_ms = w->last_change;
	if (position != w->position) {
		w->position = position;
		w->last_change = now_ms;
	}
	if (!running)
		return SHELL_IDLE_EXITED;
	uint64_t quiet_at = w->last_change + w->idle_ms;
	if (now_ms >= quiet_at)
		return SHELL_IDLE_QUIET;
	if (now_ms >= w->deadline)
		return SHELL_IDLE_DEADLINE;
	*wait_ms = (quiet_at < w->deadline ? quiet_at : w->deadline) - now_ms;
	return SHELL_IDLE_WAIT;
}
