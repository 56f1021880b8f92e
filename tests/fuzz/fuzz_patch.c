/* Fuzz unified-diff parsing and applying, which take patches straight from
 * agents. Properties:
 *  - a rejected patch has a one-line message (no control bytes, valid
 *    UTF-8, not cut by the message limit) and the usage code;
 *  - an accepted patch is well formed: files under /workspace, at least one
 *    hunk each, hunk lines that start with ' ', '-' or '+' and agree with
 *    the header's counts, numbers within PATCH_NUMBER_MAX;
 *  - applying never crashes, keeps to PATCH_FILE_MAX_BYTES, and fails only
 *    with the failure code and a message;
 *  - applied to the old text the hunks themselves describe (filler lines,
 *    then each hunk's ' ' and '-' lines at its start), a patch whose hunks
 *    are in order succeeds and gives exactly the new text they describe;
 *  - round trip: the input, split into an old and a new text, is written
 *    as the unified diff a diff tool prints ("\ No newline at end of
 *    file" after a last line without a line ending; lines that look like
 *    "--- x", "+++ x", "@@" or are empty as they are; 0 to 3 lines of
 *    context or all of it, so also the context-free hunks of diff -U0
 *    whose empty old range "-K,0" means after old line K; empty context
 *    lines maybe written empty, as diff --suppress-blank-empty does), and
 *    that diff must parse and turn the old text into exactly the new one.
 *    The diff is either one hunk around everything between the common
 *    head and tail, or, for short texts, what diff writes: the changes of
 *    a longest common subsequence, several hunks, counts of 1 left out. */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

#include "../../core/buf.h"
#include "../../core/exitcodes.h"
#include "../../core/patch.h"
#include "../../core/wspath.h"

#define FILLER "~\n"

static bool valid_utf8(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t k = u[i] < 0x80 ? 1 : u[i] < 0xE0 ? 2 : u[i] < 0xF0 ? 3 : 4;
		if (u[i] >= 0x80 && u[i] < 0xC2)
			return false;
		if (k > n - i)
			return false;
		for (size_t j = 1; j < k; j++)
			if ((u[i + j] & 0xC0) != 0x80)
				return false;
		i += k;
	}
	return true;
}

static void check_message(const struct pyro_err *err, int code)
{
	size_t n = strlen(err->msg);
	FUZZ_ASSERT(n > 0);
	FUZZ_ASSERT(n + 1 < PYRO_ERR_MSG_MAX);
	FUZZ_ASSERT(err->code == code);
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT((unsigned char)err->msg[i] >= 0x20);
	FUZZ_ASSERT(valid_utf8(err->msg, n));
}

static void check_shape(const struct file_patch *f)
{
	FUZZ_ASSERT(strncmp(f->path, "/workspace", 10) == 0);
	FUZZ_ASSERT(f->path[10] == '\0' || f->path[10] == '/');
	FUZZ_ASSERT(f->nhunks > 0);
	FUZZ_ASSERT(f->status == PATCH_ADDED || f->status == PATCH_MODIFIED ||
		    f->status == PATCH_DELETED);
	for (size_t k = 0; k < f->nhunks; k++) {
		const struct patch_hunk *h = &f->hunks[k];
		size_t olds = 0, news = 0;
		FUZZ_ASSERT(h->old_start <= PATCH_NUMBER_MAX);
		FUZZ_ASSERT(h->new_start <= PATCH_NUMBER_MAX);
		for (size_t i = 0; i < h->nlines; i++) {
			const struct patch_line *l = &h->lines[i];
			FUZZ_ASSERT(l->len > 0);
			FUZZ_ASSERT(l->text[0] == ' ' || l->text[0] == '-' ||
				    l->text[0] == '+');
			olds += l->text[0] != '+';
			news += l->text[0] != '-';
		}
		FUZZ_ASSERT(olds == h->old_count && news == h->new_count);
	}
}

/* Whether s[0..n) ends with a line ending of Python's str.splitlines(). */
static bool ends_line(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	if (n == 0)
		return false;
	unsigned char c = u[n - 1];
	if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e))
		return true;
	if (n >= 2 && u[n - 2] == 0xC2 && c == 0x85)
		return true;
	return n >= 3 && u[n - 3] == 0xE2 && u[n - 2] == 0x80 && (c == 0xA8 || c == 0xA9);
}

/* The old and new texts the hunks describe, when that is well defined:
 * hunks in order, every old payload but the last ending a line, and no
 * payload ending in "\r" right before one starting with "\n" (the two would
 * fuse into one "\r\n" line). Returns false when it is not. */
static bool describe(const struct file_patch *f, struct buf *old, struct buf *new)
{
	size_t line = 0, fillers = 0; /* old lines written so far */
	bool open = false;            /* the last old payload has no line end */
	char last = '\n';
	for (size_t k = 0; k < f->nhunks; k++) {
		const struct patch_hunk *h = &f->hunks[k];
		/* core/patch's rule: a hunk without old lines goes after old
		 * line old_start, any other starts at old line old_start. */
		size_t start = h->old_count == 0 ? h->old_start
			       : h->old_start ? h->old_start - 1 : 0;
		if (start < line || start - line > 65536 - fillers)
			return false;
		for (; line < start; line++, fillers++) {
			if (open || buf_append_str(old, FILLER) < 0 ||
			    buf_append_str(new, FILLER) < 0)
				return false;
			last = '\n';
		}
		for (size_t i = 0; i < h->nlines; i++) {
			const char *p = h->lines[i].text + 1;
			size_t n = h->lines[i].len - 1;
			char c = h->lines[i].text[0];
			if (c != '+') {
				if (n == 0 || open || (last == '\r' && p[0] == '\n'))
					return false;
				if (buf_append(old, p, n) < 0)
					return false;
				last = p[n - 1];
				open = !ends_line(p, n);
				line++;
			}
			if (c != '-' && buf_append(new, p, n) < 0)
				return false;
		}
	}
	return new->len <= PATCH_FILE_MAX_BYTES;
}

static void apply_and_check(const struct file_patch *f, const char *before,
			    size_t len, bool exists)
{
	struct buf after = BUF_INIT;
	struct pyro_err err;
	bool deleted = false;
	err.msg[0] = '\0';
	if (patch_apply(f, before, len, exists, &after, &deleted, &err) == 0) {
		FUZZ_ASSERT(after.len <= PATCH_FILE_MAX_BYTES);
		FUZZ_ASSERT(!deleted || (after.len == 0 && f->status == PATCH_DELETED));
	} else {
		check_message(&err, PYRO_EXIT_FAILURE);
		FUZZ_ASSERT(after.len == 0);
	}
	buf_release(&after);
}

/* The end of the line at pos: core/patch's split (Python's splitlines). */
static size_t next_line(const char *text, size_t pos, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	for (size_t i = pos; i < len; i++) {
		unsigned char c = s[i];
		if (c == '\n' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e))
			return i + 1;
		if (c == '\r')
			return i + 1 < len && s[i + 1] == '\n' ? i + 2 : i + 1;
		if (c == 0xC2 && i + 1 < len && s[i + 1] == 0x85)
			return i + 2;
		if (c == 0xE2 && i + 2 < len && s[i + 1] == 0x80 &&
		    (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
			return i + 3;
	}
	return len;
}

#define RT_LINES 4096

struct text_lines {
	const char *s;
	size_t n;
	size_t at[RT_LINES + 1]; /* line i is s[at[i]..at[i + 1]) */
};

static bool split_lines(struct text_lines *t, const char *s, size_t len)
{
	t->s = s;
	t->n = 0;
	t->at[0] = 0;
	for (size_t p = 0; p < len; p = t->at[t->n]) {
		if (t->n == RT_LINES)
			return false;
		t->at[++t->n] = next_line(s, p, len);
	}
	return true;
}

static bool same_line(const struct text_lines *a, size_t i,
		      const struct text_lines *b, size_t j)
{
	size_t n = a->at[i + 1] - a->at[i];
	return n == b->at[j + 1] - b->at[j] &&
	       memcmp(a->s + a->at[i], b->s + b->at[j], n) == 0;
}

/* One hunk line as a diff tool writes it, with the marker after a line
 * without a line ending (only a file's last line can be one). */
static void write_line(struct buf *p, char prefix, const struct text_lines *t,
		       size_t i, bool blank_empty)
{
	const char *l = t->s + t->at[i];
	size_t n = t->at[i + 1] - t->at[i];
	bool empty = n == 1 ? l[0] == '\n' : n == 2 && l[0] == '\r' && l[1] == '\n';
	if (!(prefix == ' ' && empty && blank_empty))
		FUZZ_ASSERT(buf_append_char(p, prefix) == 0);
	FUZZ_ASSERT(buf_append(p, l, n) == 0);
	if (i + 1 == t->n && !ends_line(l, n))
		FUZZ_ASSERT(buf_append_str(p, "\n\\ No newline at end of file\n") == 0);
}

/* A hunk header as diff writes it. An empty range's start is the line
 * before it ("-K,0": after old line K); `short_form` leaves out counts of
 * 1, as diff and git diff do ("@@ -3 +4 @@"). ofirst and nfirst are
 * 0-based line indexes. */
static void write_header(struct buf *p, size_t ofirst, size_t ocount,
			 size_t nfirst, size_t ncount, bool short_form)
{
	size_t os = ocount ? ofirst + 1 : ofirst, ns = ncount ? nfirst + 1 : nfirst;
	FUZZ_ASSERT(buf_printf(p, "@@ -%zu", os) == 0);
	if (!short_form || ocount != 1)
		FUZZ_ASSERT(buf_printf(p, ",%zu", ocount) == 0);
	FUZZ_ASSERT(buf_printf(p, " +%zu", ns) == 0);
	if (!short_form || ncount != 1)
		FUZZ_ASSERT(buf_printf(p, ",%zu", ncount) == 0);
	FUZZ_ASSERT(buf_append_str(p, " @@\n") == 0);
}

#define LCS_MAX 160

/* The diff of a and b with `ctx` lines of context (0 is diff -U0) as GNU
 * diff writes it: the edit script of a longest common subsequence, each
 * run of changes as its removed lines then its added ones, runs no more
 * than 2 * ctx unchanged lines apart in one hunk. Returns the number of
 * hunks. */
static size_t write_lcs_diff(struct buf *p, const struct text_lines *a,
			     const struct text_lines *b, size_t ctx,
			     bool blank_empty)
{
	static unsigned short lcs[LCS_MAX + 1][LCS_MAX + 1];
	static char ops[2 * LCS_MAX]; /* '=', '-' or '+' */
	for (size_t i = a->n + 1; i-- > 0;)
		for (size_t j = b->n + 1; j-- > 0;) {
			if (i == a->n || j == b->n)
				lcs[i][j] = 0;
			else if (same_line(a, i, b, j))
				lcs[i][j] = lcs[i + 1][j + 1] + 1;
			else
				lcs[i][j] = lcs[i + 1][j] >= lcs[i][j + 1]
						    ? lcs[i + 1][j]
						    : lcs[i][j + 1];
		}
	size_t nops = 0;
	for (size_t i = 0, j = 0; i < a->n || j < b->n;) {
		if (i < a->n && j < b->n && same_line(a, i, b, j))
			ops[nops++] = '=', i++, j++;
		else if (j == b->n || (i < a->n && lcs[i + 1][j] >= lcs[i][j + 1]))
			ops[nops++] = '-', i++;
		else
			ops[nops++] = '+', j++;
	}
	size_t hunks = 0, k = 0, oi = 0, ni = 0; /* ops[k] is at a[oi], b[ni] */
	while (k < nops) {
		if (ops[k] == '=') {
			k++, oi++, ni++;
			continue;
		}
		/* A hunk: back up over leading context, take changes and the
		 * unchanged runs of at most 2 * ctx between them, then
		 * trailing context. */
		size_t lead = 0;
		while (lead < ctx && lead < k && ops[k - 1 - lead] == '=')
			lead++;
		size_t start = k - lead, end = k, tail = 0;
		for (;;) {
			while (end < nops && ops[end] != '=')
				end++;
			size_t run = 0;
			while (end + run < nops && ops[end + run] == '=')
				run++;
			if (end + run < nops && run <= 2 * ctx) {
				end += run;
				continue;
			}
			tail = run < ctx ? run : ctx;
			break;
		}
		size_t ofirst = oi - lead, nfirst = ni - lead, ocount = 0, ncount = 0;
		for (size_t x = start; x < end + tail; x++) {
			ocount += ops[x] != '+';
			ncount += ops[x] != '-';
		}
		write_header(p, ofirst, ocount, nfirst, ncount, true);
		size_t o = ofirst, n = nfirst;
		for (size_t x = start; x < end + tail;) {
			if (ops[x] == '=') {
				write_line(p, ' ', a, o, blank_empty);
				x++, o++, n++;
				continue;
			}
			size_t y = x;
			while (y < end && ops[y] != '=')
				y++;
			for (size_t z = x; z < y; z++)
				if (ops[z] == '-')
					write_line(p, '-', a, o++, blank_empty);
			for (size_t z = x; z < y; z++)
				if (ops[z] == '+')
					write_line(p, '+', b, n++, blank_empty);
			x = y;
		}
		FUZZ_ASSERT(o == ofirst + ocount && n == nfirst + ncount);
		hunks++;
		k = end + tail, oi = o, ni = n;
	}
	return hunks;
}

static void round_trip(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	unsigned flags = data[0];
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	const char *nul = memchr(s, '\0', len);
	size_t olen = nul ? (size_t)(nul - s) : len / 2;
	const char *o = s, *n = s + olen + (nul != NULL);
	size_t nlen = len - olen - (nul != NULL);
	if (wspath_utf8_invalid_at(o, olen) < olen ||
	    wspath_utf8_invalid_at(n, nlen) < nlen)
		return;
	static struct text_lines a, b;
	if (!split_lines(&a, o, olen) || !split_lines(&b, n, nlen))
		return;
	size_t pre = 0, suf = 0;
	while (pre < a.n && pre < b.n && same_line(&a, pre, &b, pre))
		pre++;
	while (suf < a.n - pre && suf < b.n - pre &&
	       same_line(&a, a.n - 1 - suf, &b, b.n - 1 - suf))
		suf++;
	if (pre == a.n && pre == b.n)
		return; /* no change: a diff tool prints nothing */
	bool blank_empty = flags & 64;
	struct buf patch = BUF_INIT;
	FUZZ_ASSERT(buf_append_str(&patch, "--- a/f\n+++ b/f\n") == 0);
	size_t hunks = 1;
	if ((flags & 128) && a.n <= LCS_MAX && b.n <= LCS_MAX) {
		hunks = write_lcs_diff(&patch, &a, &b, flags & 4 ? RT_LINES : (flags & 3),
				       blank_empty);
	} else {
		/* One hunk: context kept before and after the change, 0 to 3
		 * lines or all; none on either side is diff -U0's hunk. */
		size_t cb = flags & 4 ? pre : (flags & 3);
		size_t ca = flags & 32 ? suf : (flags >> 3 & 3);
		if (cb > pre)
			cb = pre;
		if (ca > suf)
			ca = suf;
		size_t first = pre - cb;
		size_t ocount = cb + (a.n - pre - suf) + ca;
		size_t ncount = cb + (b.n - pre - suf) + ca;
		write_header(&patch, first, ocount, first, ncount, false);
		for (size_t i = first; i < pre; i++)
			write_line(&patch, ' ', &a, i, blank_empty);
		for (size_t i = pre; i < a.n - suf; i++)
			write_line(&patch, '-', &a, i, blank_empty);
		for (size_t i = pre; i < b.n - suf; i++)
			write_line(&patch, '+', &b, i, blank_empty);
		for (size_t i = a.n - suf; i < a.n - suf + ca; i++)
			write_line(&patch, ' ', &a, i, blank_empty);
	}

	struct patch_set set = PATCH_SET_INIT;
	struct pyro_err err;
	err.msg[0] = '\0';
	if (patch.len <= PATCH_MAX_BYTES) {
		int rc = patch_parse(patch.data, patch.len, &set, &err);
		if (rc != 0)
			fprintf(stderr, "round trip: %s\n", err.msg);
		FUZZ_ASSERT(rc == 0);
		FUZZ_ASSERT(set.nfiles == 1 && set.files[0].nhunks == hunks);
		struct buf after = BUF_INIT;
		bool deleted = true;
		rc = patch_apply(&set.files[0], o, olen, true, &after, &deleted, &err);
		if (rc != 0)
			fprintf(stderr, "round trip: %s\n", err.msg);
		FUZZ_ASSERT(rc == 0 && !deleted);
		FUZZ_ASSERT(after.len == nlen && memcmp(after.data, n, nlen) == 0);
		buf_release(&after);
		patch_set_release(&set);
	}
	buf_release(&patch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	round_trip(data, size);
	struct patch_set set = PATCH_SET_INIT;
	struct pyro_err err;
	err.msg[0] = '\0';
	if (patch_parse(text, size, &set, &err) < 0) {
		check_message(&err, PYRO_EXIT_USAGE);
		FUZZ_ASSERT(set.files == NULL && set.nfiles == 0);
		return 0;
	}
	FUZZ_ASSERT(set.nfiles > 0);
	for (size_t i = 0; i < set.nfiles; i++) {
		const struct file_patch *f = &set.files[i];
		check_shape(f);
		apply_and_check(f, NULL, 0, false);
		apply_and_check(f, text, size, true);

		struct buf old = BUF_INIT, new = BUF_INIT, after = BUF_INIT;
		bool deleted = false;
		if (describe(f, &old, &new)) {
			int rc = patch_apply(f, old.data, old.len, true, &after,
					     &deleted, &err);
			if (f->status == PATCH_DELETED) {
				FUZZ_ASSERT((rc == 0) == (new.len == 0));
				FUZZ_ASSERT(rc != 0 || deleted);
			} else {
				FUZZ_ASSERT(rc == 0);
				FUZZ_ASSERT(!deleted);
				FUZZ_ASSERT(after.len == new.len);
				FUZZ_ASSERT(memcmp(after.data, new.data, new.len) == 0);
			}
		}
		buf_release(&old);
		buf_release(&new);
		buf_release(&after);
	}
	patch_set_release(&set);
	return 0;
}
