/* Unified-diff text patches: parse and apply (see patch.h for the rules).
 *
 * Both halves walk lines forward only, with the splitting rule of Python's
 * str.splitlines(), so the work is linear: parsing reads the patch once;
 * applying counts the old lines, then runs over the hunks twice (check and
 * measure, then write into a buffer reserved at the final size). */
#include "patch.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "fault.h"
#include "wspath.h"

/* How much of a line or path an error message shows. */
#define SHOW_IN_MAX 240
#define SHOW_OUT_MAX 600
#define SHOW_CAP (SHOW_OUT_MAX + 16)

/* ---- text helpers ---- */

/* The end of the line that starts at `pos` (just past its line ending, or
 * len), for valid UTF-8: the boundaries of Python's str.splitlines(). The
 * lead bytes 0xC2 and 0xE2 never occur inside another sequence, so testing
 * byte by byte is exact. */
static size_t line_end(const char *text, size_t pos, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	for (size_t i = pos; i < len; i++) {
		switch (s[i]) {
		case '\n': case '\v': case '\f': case 0x1c: case 0x1d: case 0x1e:
			return i + 1;
		case '\r':
			return i + 1 < len && s[i + 1] == '\n' ? i + 2 : i + 1;
		case 0xC2: /* U+0085 NEXT LINE */
			if (i + 1 < len && s[i + 1] == 0x85)
				return i + 2;
			break;
		case 0xE2: /* U+2028, U+2029 */
			if (i + 2 < len && s[i + 1] == 0x80 &&
			    (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
				return i + 3;
			break;
		default:
			break;
		}
	}
	return len;
}

static bool starts(const char *s, size_t n, const char *prefix)
{
	size_t p = strlen(prefix);
	return n >= p && memcmp(s, prefix, p) == 0;
}

/* Length of s[0..n) after Python's rstrip(). */
static size_t rstrip_len(const char *s, size_t n)
{
	size_t b = 0, e = n;
	wspath_py_strip(s, &b, &e);
	return b == e ? 0 : e;
}

/* Length after rstrip("\n"): a line holds at most one \n, at its end. */
static size_t chomp_len(const char *s, size_t n)
{
	return n && s[n - 1] == '\n' ? n - 1 : n;
}

static bool is_blank(const char *s, size_t n)
{
	size_t b = 0, e = n;
	wspath_py_strip(s, &b, &e);
	return b == e;
}

static size_t put(char *dst, size_t o, const char *s)
{
	size_t n = strlen(s);
	memcpy(dst + o, s, n);
	return o + n;
}

/* Copy valid UTF-8 src[0..n) into dst[SHOW_CAP] for a message: control
 * characters escaped so a message stays one harmless line, and cut with
 * "..." (never inside a character) when it is long. */
static void show(char *dst, const char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0;
	while (i < n) {
		if (i >= SHOW_IN_MAX || o > SHOW_OUT_MAX - 8) {
			o = put(dst, o, "...");
			break;
		}
		unsigned c = s[i];
		size_t seq = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		if (seq > n - i)
			seq = n - i; /* not reached on valid UTF-8 */
		unsigned esc = 0x100; /* the code point to write as \xNN */
		if (c == '\t') {
			o = put(dst, o, "\\t");
		} else if (c == '\n') {
			o = put(dst, o, "\\n");
		} else if (c == '\r') {
			o = put(dst, o, "\\r");
		} else if (c < 0x20 || c == 0x7F) {
			esc = c;
		} else if (c == 0xC2 && seq == 2 && s[i + 1] < 0xA0) {
			esc = s[i + 1]; /* C1 controls U+0080..U+009F */
		} else if (c == 0xE2 && seq == 3 && s[i + 1] == 0x80 &&
			   (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
			o = put(dst, o, s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
		} else {
			memcpy(dst + o, s + i, seq);
			o += seq;
		}
		if (esc < 0x100) {
			dst[o++] = '\\', dst[o++] = 'x';
			dst[o++] = hex[esc >> 4], dst[o++] = hex[esc & 15];
		}
		i += seq;
	}
	dst[o] = '\0';
}

static int fail_line(struct pyro_err *err, const char *what, const char *s,
		     size_t n)
{
	char shown[SHOW_CAP];
	show(shown, s, rstrip_len(s, n));
	return pyro_err_set(err, PYRO_EXIT_USAGE, "%s: %s", what, shown);
}

static int fail_oom(struct pyro_err *err, const char *doing)
{
	return pyro_err_set(err, PYRO_EXIT_INTERNAL,
			    "out of memory while %s; retry with a smaller patch",
			    doing);
}

const char *patch_status_name(enum patch_status status)
{
	switch (status) {
	case PATCH_ADDED:
		return "added";
	case PATCH_MODIFIED:
		return "modified";
	case PATCH_DELETED:
		return "deleted";
	}
	return "unknown";
}

/* ---- parsing ---- */

struct parser {
	const char *t; /* the set's copy of the patch */
	size_t len;
	struct file_patch *files;
	size_t nfiles, cap_files;
	struct patch_hunk *hunks;
	size_t nhunks, cap_hunks;
	struct patch_line *lines;
	size_t nlines, cap_lines;
	struct buf paths; /* normalised paths, each NUL-terminated, in file order */
};

/* Make room for one more element of `size` bytes in *v. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	if (ncap > SIZE_MAX / size)
		return -1;
	void *p = pyro_realloc(*v, ncap * size);
	if (!p)
		return -1;
	*v = p;
	*cap = ncap;
	return 0;
}

static bool is_unsupported_prelude(const char *s, size_t n)
{
	static const char *const prefixes[] = {
		"old mode ", "new mode ", "deleted file mode ", "new file mode ",
		"rename from ", "rename to ", "copy from ", "copy to ",
		"similarity index ", "dissimilarity index ", "GIT binary patch",
		"Binary files ",
	};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (starts(s, n, prefixes[i]))
			return true;
	return false;
}

/* _parse_patch_label: s[0..n) is the label after "--- " or "+++ ", with
 * rstrip("\n") done. Sets *none for /dev/null, else normalises into out. */
static int parse_label(const char *s, size_t n, bool *none, char *out,
		       size_t out_size, struct pyro_err *err)
{
	const char *tab = memchr(s, '\t', n);
	if (tab)
		n = (size_t)(tab - s);
	size_t b = 0, e = n;
	wspath_py_strip(s, &b, &e);
	*none = e - b == 9 && memcmp(s + b, "/dev/null", 9) == 0;
	if (*none)
		return 0;
	if (e - b >= 2 && (s[b] == 'a' || s[b] == 'b') && s[b + 1] == '/')
		b += 2;
	return wspath_normalize_mem(s + b, e - b, NULL, out, out_size, err);
}

/* One number of a hunk header at s[*i..n): ASCII digits, any count of
 * leading zeros. Returns false when there is no digit; values above
 * PATCH_NUMBER_MAX come out as PATCH_NUMBER_MAX + 1. */
static bool header_number(const char *s, size_t n, size_t *i, unsigned long *v)
{
	size_t j = *i;
	uint64_t x = 0;
	while (j < n && s[j] >= '0' && s[j] <= '9') {
		x = x * 10 + (uint64_t)(s[j] - '0');
		if (x > PATCH_NUMBER_MAX)
			x = PATCH_NUMBER_MAX + 1;
		j++;
	}
	if (j == *i)
		return false;
	*i = j;
	*v = (unsigned long)x;
	return true;
}

static bool literal(const char *s, size_t n, size_t *i, const char *lit)
{
	size_t l = strlen(lit);
	if (n - *i < l || memcmp(s + *i, lit, l) != 0)
		return false;
	*i += l;
	return true;
}

/* The original's ^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ with re.match:
 * anchored at the start, anything may follow. It never needs to backtrack:
 * after a run of digits only ',' or ' ' can come. */
static bool match_hunk_header(const char *s, size_t n, struct patch_hunk *h)
{
	size_t i = 0;
	h->old_count = h->new_count = 1;
	if (!literal(s, n, &i, "@@ -") || !header_number(s, n, &i, &h->old_start))
		return false;
	if (literal(s, n, &i, ",") && !header_number(s, n, &i, &h->old_count))
		return false;
	if (!literal(s, n, &i, " +") || !header_number(s, n, &i, &h->new_start))
		return false;
	if (literal(s, n, &i, ",") && !header_number(s, n, &i, &h->new_count))
		return false;
	return literal(s, n, &i, " @@");
}

/* "\ No newline at end of file" (anything may follow, as in the original). */
static bool is_marker(const char *s, size_t n)
{
	return starts(s, n, "\\ No newline at end of file");
}

/* A line that ends a complete hunk: the next hunk or the next file. */
static bool ends_hunk(const char *s, size_t n)
{
	/* "@@" covers the original's "@@ " test too. */
	return starts(s, n, "diff --git ") || starts(s, n, "--- ") ||
	       starts(s, n, "@@");
}

/* A hunk line that is only a line ending: an empty context line whose ' '
 * was dropped (GNU diff --suppress-blank-empty, editors that strip trailing
 * blanks). Its stand-in keeps the ' ' and the ending. */
static const char *empty_context(const char *s, size_t n)
{
	if (n == 1 && s[0] == '\n')
		return " \n";
	if (n == 2 && s[0] == '\r' && s[1] == '\n')
		return " \r\n";
	return NULL;
}

/* The marker `m` follows hunk line *pl: the line has no line ending in the
 * file, so drop the one the diff tool added. That is the "\n" (a "\r"
 * before it is the file's, as git diff shows a last line "x\r"), or the
 * "\r\n" when the marker itself ends in "\r\n": the whole patch went
 * through CRLF conversion. Any other ending is left alone. */
static void drop_line_ending(struct patch_line *pl, const char *m, size_t mn)
{
	const char *s = pl->text;
	size_t n = pl->len;
	if (n < 2 || s[n - 1] != '\n')
		return;
	bool crlf = mn >= 2 && m[mn - 2] == '\r' && m[mn - 1] == '\n';
	pl->len = crlf && n >= 3 && s[n - 2] == '\r' ? n - 2 : n - 1;
}

static int count_mismatch(struct pyro_err *err)
{
	return pyro_err_set(err, PYRO_EXIT_USAGE,
			    "patch hunk line counts do not match the header");
}

/* The hunk's lines do not fit its header's counts from the line at p on:
 * finish with the original's loop over the rest of the body (up to "@@",
 * "--- ", "diff --git " or the end) so the error is the original's: its
 * first invalid line, or else the count mismatch. */
static int malformed_hunk(const struct parser *ps, size_t p,
			  struct pyro_err *err)
{
	while (p < ps->len) {
		size_t le = line_end(ps->t, p, ps->len);
		const char *l = ps->t + p;
		size_t n = le - p;
		if (ends_hunk(l, n))
			break;
		if (!is_marker(l, n) && l[0] != ' ' && l[0] != '+' && l[0] != '-')
			return fail_line(err, "invalid patch hunk line", l, n);
		p = le;
	}
	return count_mismatch(err);
}

/* The body of hunk *h from *pos on, driven by the header's counts as GNU
 * patch does: while the hunk expects more old or new lines, a line starting
 * with ' ', '-' or '+' is a hunk line whatever follows (so "--- x" is the
 * removed line "-- x"; one that goes past its side's count makes the hunk
 * malformed), and an empty line is an empty context line while both sides
 * expect more. Once both counts are met the hunk ends; only
 * markers may still follow, then "@@", "--- ", "diff --git " or the end. */
static int parse_hunk_body(struct parser *ps, struct patch_hunk *h,
			   size_t *pos, struct pyro_err *err)
{
	const char *t = ps->t;
	size_t p = *pos, old_seen = 0, new_seen = 0;
	bool markable = false; /* the line before is a hunk line of this hunk */
	while (p < ps->len) {
		size_t le = line_end(t, p, ps->len);
		const char *l = t + p;
		size_t n = le - p;
		if (is_marker(l, n)) {
			if (markable)
				drop_line_ending(&ps->lines[ps->nlines - 1], l, n);
			markable = false;
			p = le;
			continue;
		}
		if (old_seen == h->old_count && new_seen == h->new_count) {
			if (ends_hunk(l, n))
				break;
			return malformed_hunk(ps, p, err);
		}
		const char *text = l;
		size_t len = n;
		const char *empty = empty_context(l, n);
		if (empty && old_seen < h->old_count && new_seen < h->new_count) {
			text = empty;
			len = n + 1;
		} else if (l[0] != ' ' && l[0] != '+' && l[0] != '-') {
			if (starts(l, n, "diff --git ") || starts(l, n, "@@"))
				break; /* the hunk is short: the count check below */
			return fail_line(err, "invalid patch hunk line", l, n);
		}
		char c = text[0];
		if ((c != '+' && old_seen == h->old_count) ||
		    (c != '-' && new_seen == h->new_count))
			return malformed_hunk(ps, p, err);
		if (grow((void **)&ps->lines, &ps->cap_lines, ps->nlines,
			 sizeof *ps->lines) < 0)
			return fail_oom(err, "parsing the patch");
		ps->lines[ps->nlines].text = text;
		ps->lines[ps->nlines].len = len;
		ps->nlines++;
		h->nlines++;
		old_seen += c != '+';
		new_seen += c != '-';
		markable = true;
		p = le;
	}
	if (old_seen != h->old_count || new_seen != h->new_count)
		return count_mismatch(err);
	*pos = p;
	return 0;
}

/* Parse the hunks of one file section from *pos on, up to the next file
 * section or the end; *count says how many there were (maybe none). */
static int parse_hunks(struct parser *ps, size_t *pos, size_t *count,
		       struct pyro_err *err)
{
	const char *t = ps->t;
	size_t p = *pos;
	*count = 0;
	while (p < ps->len) {
		size_t le = line_end(t, p, ps->len);
		const char *l = t + p;
		size_t n = le - p;
		if (starts(l, n, "diff --git ") || starts(l, n, "--- "))
			break;
		if (starts(l, n, "index ")) {
			p = le;
			continue;
		}
		if (is_unsupported_prelude(l, n))
			return fail_line(err, "unsupported patch feature", l, n);
		struct patch_hunk h;
		memset(&h, 0, sizeof h);
		if (!match_hunk_header(l, chomp_len(l, n), &h))
			return fail_line(err, "invalid patch hunk header", l, n);
		if (h.old_start > PATCH_NUMBER_MAX || h.old_count > PATCH_NUMBER_MAX ||
		    h.new_start > PATCH_NUMBER_MAX || h.new_count > PATCH_NUMBER_MAX) {
			char shown[SHOW_CAP];
			show(shown, l, rstrip_len(l, n));
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "patch hunk header number is too large: %s; line "
					    "numbers and counts must be at most %lu",
					    shown, PATCH_NUMBER_MAX);
		}
		p = le;
		if (parse_hunk_body(ps, &h, &p, err) < 0)
			return -1;
		if (grow((void **)&ps->hunks, &ps->cap_hunks, ps->nhunks,
			 sizeof *ps->hunks) < 0)
			return fail_oom(err, "parsing the patch");
		ps->hunks[ps->nhunks++] = h;
		++*count;
	}
	*pos = p;
	return 0;
}

/* One file section: "--- OLD" at *pos (already checked), "+++ NEW", hunks. */
static int parse_file(struct parser *ps, size_t *pos, struct pyro_err *err)
{
	const char *t = ps->t;
	char old_path[PATH_MAX], new_path[PATH_MAX];
	bool old_none, new_none;
	size_t p = *pos, le = line_end(t, p, ps->len);
	if (parse_label(t + p + 4, chomp_len(t + p, le - p) - 4, &old_none,
			old_path, sizeof old_path, err) < 0)
		return -1;
	p = le;
	if (p >= ps->len || !starts(t + p, ps->len - p, "+++ "))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "patch is missing '+++' header");
	le = line_end(t, p, ps->len);
	if (parse_label(t + p + 4, chomp_len(t + p, le - p) - 4, &new_none,
			new_path, sizeof new_path, err) < 0)
		return -1;
	p = le;
	if (!old_none && !new_none && strcmp(old_path, new_path) != 0)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "rename and copy patches are not supported");
	if (old_none && new_none)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "patch must target a workspace path");
	const char *path = new_none ? old_path : new_path;

	struct file_patch f;
	memset(&f, 0, sizeof f);
	f.status = old_none ? PATCH_ADDED : new_none ? PATCH_DELETED : PATCH_MODIFIED;
	if (parse_hunks(ps, &p, &f.nhunks, err) < 0)
		return -1;
	if (f.nhunks == 0) {
		char shown[SHOW_CAP];
		show(shown, path, strlen(path));
		return pyro_err_set(err, PYRO_EXIT_USAGE, "patch for %s has no hunks",
				    shown);
	}
	if (buf_append(&ps->paths, path, strlen(path) + 1) < 0 ||
	    grow((void **)&ps->files, &ps->cap_files, ps->nfiles,
		 sizeof *ps->files) < 0)
		return fail_oom(err, "parsing the patch");
	ps->files[ps->nfiles++] = f;
	*pos = p;
	return 0;
}

void patch_set_release(struct patch_set *set)
{
	if (!set)
		return;
	free(set->files);
	free(set->text_);
	free(set->paths_);
	free(set->hunks_);
	free(set->lines_);
	memset(set, 0, sizeof *set);
}

int patch_parse(const char *text, size_t len, struct patch_set *out,
		struct pyro_err *err)
{
	memset(out, 0, sizeof *out);
	if (!text)
		len = 0;
	if (len > PATCH_MAX_BYTES)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "patch must be at most %d bytes when encoded as UTF-8",
				    PATCH_MAX_BYTES);
	size_t bad = wspath_utf8_invalid_at(text, len);
	if (bad < len)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "patch is not valid UTF-8 (bad byte 0x%02x at offset "
				    "%zu); pass the patch as UTF-8 text",
				    (unsigned char)text[bad], bad);
	if (is_blank(text, len))
		return pyro_err_set(err, PYRO_EXIT_USAGE, "patch must not be empty");

	struct parser ps;
	memset(&ps, 0, sizeof ps);
	buf_init(&ps.paths, 0);
	char *copy = pyro_malloc(len + 1);
	if (!copy)
		return fail_oom(err, "parsing the patch");
	memcpy(copy, text, len);
	copy[len] = '\0';
	ps.t = copy;
	ps.len = len;

	size_t p = 0;
	while (p < len) {
		size_t le = line_end(copy, p, len);
		const char *l = copy + p;
		size_t n = le - p;
		if (starts(l, n, "diff --git ") || starts(l, n, "index ")) {
			p = le;
			continue;
		}
		if (is_unsupported_prelude(l, n)) {
			fail_line(err, "unsupported patch feature", l, n);
			goto fail;
		}
		if (!starts(l, n, "--- ")) {
			if (is_blank(l, n)) {
				p = le;
				continue;
			}
			fail_line(err, "invalid patch header", l, n);
			goto fail;
		}
		if (parse_file(&ps, &p, err) < 0)
			goto fail;
	}
	if (ps.nfiles == 0) {
		pyro_err_set(err, PYRO_EXIT_USAGE,
			     "patch must contain at least one file change");
		goto fail;
	}

	/* Files, hunks and lines were appended in order, so each file's hunks
	 * and each hunk's lines are consecutive: hand out the pointers now
	 * that the arrays no longer move. */
	const char *path = ps.paths.data;
	size_t h = 0, l = 0;
	for (size_t i = 0; i < ps.nfiles; i++) {
		struct file_patch *f = &ps.files[i];
		f->path = path;
		path += strlen(path) + 1;
		f->hunks = ps.hunks + h;
		for (size_t k = 0; k < f->nhunks; k++, h++) {
			/* No lines at all ("@@ -1,0 +1,0 @@" only): no array. */
			ps.hunks[h].lines = ps.lines ? ps.lines + l : NULL;
			l += ps.hunks[h].nlines;
		}
	}
	out->files = ps.files;
	out->nfiles = ps.nfiles;
	out->text_ = copy;
	out->paths_ = buf_detach(&ps.paths, NULL); /* heap: never fails here */
	out->hunks_ = ps.hunks;
	out->lines_ = ps.lines;
	return 0;

fail:
	free(copy);
	free(ps.files);
	free(ps.hunks);
	free(ps.lines);
	buf_release(&ps.paths);
	return -1;
}

/* ---- applying ---- */

struct emit {
	struct buf *out; /* NULL while only measuring */
	size_t total;
};

static int emit(struct emit *e, const char *s, size_t n)
{
	e->total += n;
	return e->out ? buf_append(e->out, s, n) : 0;
}

/* One run over the hunks: checks everything and measures the result (with
 * e->out NULL), or writes it (the checks then pass again). `nbefore` is the
 * number of old lines. */
static int apply_pass(const struct file_patch *p, const char *before,
		      size_t blen, size_t nbefore, struct emit *e,
		      struct pyro_err *err)
{
	char shown[SHOW_CAP];
	size_t cursor = 0, bpos = 0; /* old line index, and where it starts */
	for (size_t i = 0; i < p->nhunks; i++) {
		const struct patch_hunk *h = &p->hunks[i];
		/* Where the hunk's first old line is, or with no old lines (a
		 * pure insertion, as diff -U0 writes it) the line the new ones
		 * go AFTER: "-K,0" inserts after old line K (see patch.h). */
		size_t start = h->old_count == 0 ? h->old_start
			       : h->old_start == 0 ? 0 : h->old_start - 1;
		if (start < cursor || start > nbefore) {
			show(shown, p->path, strlen(p->path));
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "patch hunk is out of range for %s", shown);
		}
		size_t from = bpos;
		for (; cursor < start; cursor++)
			bpos = line_end(before, bpos, blen);
		if (emit(e, before + from, bpos - from) < 0)
			return -1;
		for (size_t k = 0; k < h->nlines; k++) {
			const char *s = h->lines[k].text;
			size_t n = h->lines[k].len;
			char prefix = n ? s[0] : '\0';
			if (prefix == ' ' || prefix == '-') {
				size_t le = cursor < nbefore ? line_end(before, bpos, blen) : bpos;
				if (cursor >= nbefore || le - bpos != n - 1 ||
				    memcmp(before + bpos, s + 1, n - 1) != 0) {
					show(shown, p->path, strlen(p->path));
					return pyro_err_set(err, PYRO_EXIT_FAILURE,
							    "patch context does not match for %s",
							    shown);
				}
				if (prefix == ' ' && emit(e, s + 1, n - 1) < 0)
					return -1;
				bpos = le;
				cursor++;
			} else if (prefix == '+') {
				if (emit(e, s + 1, n - 1) < 0)
					return -1;
			} else {
				show(shown, p->path, strlen(p->path));
				return pyro_err_set(err, PYRO_EXIT_FAILURE,
						    "invalid patch line prefix for %s", shown);
			}
		}
	}
	return emit(e, before + bpos, blen - bpos);
}

int patch_apply(const struct file_patch *p, const char *before,
		size_t before_len, bool before_exists, struct buf *after,
		bool *deleted, struct pyro_err *err)
{
	char shown[SHOW_CAP];
	buf_reset(after);
	*deleted = false;
	if (!before_exists || !before)
		before = "", before_len = 0;
	show(shown, p->path, strlen(p->path));
	size_t bad = wspath_utf8_invalid_at(before, before_len);
	if (bad < before_len)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "cannot patch %s: it is not valid UTF-8 text (bad byte "
				    "0x%02x at offset %zu); only UTF-8 text files can be "
				    "patched",
				    shown, (unsigned char)before[bad], bad);
	size_t nbefore = 0;
	for (size_t pos = 0; pos < before_len; nbefore++)
		pos = line_end(before, pos, before_len);

	struct emit measure = { NULL, 0 };
	if (apply_pass(p, before, before_len, nbefore, &measure, err) < 0)
		return -1;
	if (p->status == PATCH_DELETED) {
		if (measure.total != 0)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "delete patch did not remove all content for %s",
					    shown);
		*deleted = true;
		return 0;
	}
	if (measure.total > PATCH_FILE_MAX_BYTES)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "patched file %s exceeds the maximum supported size "
				    "of %d bytes",
				    shown, PATCH_FILE_MAX_BYTES);

	struct emit write = { after, 0 };
	if (buf_reserve(after, measure.total) < 0 ||
	    apply_pass(p, before, before_len, nbefore, &write, err) < 0) {
		int e = errno;
		buf_reset(after);
		if (e == EMSGSIZE)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "patched file %s is %zu bytes, more than the "
					    "output buffer's limit of %zu bytes",
					    shown, measure.total, after->max);
		return fail_oom(err, "applying the patch");
	}
	return 0;
}
