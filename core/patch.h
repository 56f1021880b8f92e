/* Unified-diff text patches for workspace files: parse, then apply.
 *
 * A port of the Python original's parse_unified_text_patch() and
 * apply_unified_text_patch() (with _parse_patch_label,
 * _validate_hunk_counts and _is_unsupported_patch_prelude). Behaviour and
 * error sentences are the original's, but for the differences listed at the
 * end: a few for inputs no diff tool produces, and four fixes ("Fixed")
 * where the original failed on, or misplaced, ordinary diff output.
 *
 * Parsing (patch_parse) accepts what `diff -u` and `git diff` print for
 * text files, and nothing fancier:
 *  - the text is cut into lines exactly as Python's
 *    str.splitlines(keepends=True) does: a line ends after \n, \r, \r\n,
 *    \v, \f, \x1c, \x1d, \x1e, U+0085, U+2028 or U+2029, and keeps that
 *    ending; the last line may have none;
 *  - "diff --git " and "index " lines are skipped; mode, rename, copy,
 *    similarity and binary lines are "unsupported patch feature: <line>";
 *    whitespace-only lines between file sections are skipped;
 *  - each file section is "--- OLD" then "+++ NEW". A label is cut at its
 *    first tab (timestamps), stripped of Python whitespace; "/dev/null"
 *    means no file; one leading "a/" or "b/" is dropped; the rest goes
 *    through wspath_normalize (so "x", "a/x" and "/workspace/x" all name
 *    /workspace/x, and its errors are the workspace path errors). OLD
 *    /dev/null is an added file, NEW /dev/null a deleted one, two different
 *    paths a rename (rejected);
 *  - hunks start with "@@ -A[,B] +C[,D] @@" (anything may follow; B and D
 *    default to 1) and hold B ' '/'-' lines and D ' '/'+' lines. The body
 *    is read as the counts say (see "Fixed" below): while either count
 *    expects more lines, a line starting with ' ', '-' or '+' is a hunk
 *    line, whatever it looks like; once both are met the hunk ends, and
 *    only "\ No newline at end of file" lines, then "@@", "--- ",
 *    "diff --git " or the end of the patch may follow. A line starting
 *    with "\ No newline at end of file" right after a hunk line means that
 *    line has no line ending in the file (see "Fixed" below); anywhere else
 *    (first in a hunk, or after another one) it is skipped. A malformed
 *    body gets the original's errors: "invalid patch hunk line: <line>"
 *    for the first line that is none of the above, else "patch hunk line
 *    counts do not match the header" (too few lines before "@@",
 *    "diff --git " or the end, or more than the header counts).
 *
 * Applying (patch_apply) splits the old text the same way, copies lines up
 * to each hunk's start (A - 1, or 0 when A is 0; but A when B is 0, see
 * "Fixed" below), checks every ' ' and '-' line against the old line byte
 * for byte, INCLUDING its line ending, and emits ' ' and '+' lines (with
 * the line ending each has after the markers: see "Fixed" below). Hunks
 * must come in order and not overlap. A deleted file's patch must remove
 * every line. There is no fuzz and no offset search: the patch matches
 * exactly or fails.
 *
 * Errors (struct pyro_err, core/err.h): a malformed patch is
 * PYRO_EXIT_USAGE (the original's ValueError); a patch that does not fit
 * the file is PYRO_EXIT_FAILURE (its RuntimeError); running out of memory
 * is PYRO_EXIT_INTERNAL. A line or path quoted in a message is shown after
 * rstrip() as in the original, with control characters escaped (\t, \r,
 * \n, \xNN for other C0/C1 controls and DEL, \u2028, \u2029) and, when
 * long (240 bytes, or 600 once escaped), shortened with "...".
 *
 * Other differences from the original, all for inputs no diff tool
 * produces:
 *  - input must be valid UTF-8 (the original took a Python str): invalid
 *    bytes are an error naming the offset, for the patch (USAGE) and for
 *    the old text (FAILURE). NUL bytes are fine in content but a label with
 *    one is rejected by wspath_normalize;
 *  - hunk header numbers are ASCII digits only (Python's \d also takes other
 *    Unicode decimal digits, e.g. Arabic-Indic ones: such a header is
 *    "invalid patch hunk header" here) and at most PATCH_NUMBER_MAX: a
 *    larger one is "patch hunk header number is too large" at parse time,
 *    where the original, with unbounded ints, failed later (a count
 *    mismatch, or an out-of-range hunk when applied);
 *  - messages escape control characters and shorten long lines (above);
 *  - workspace path errors are core/wspath's: the original's sentence
 *    ("workspace path must stay inside /workspace"), then the offending
 *    value and what to do;
 *  - paths longer than PATH_MAX - 1 bytes after normalising are rejected.
 *
 * Fixed: four things the original got wrong on ordinary `diff -u`,
 * `git diff` and `diff -U0` output are done here as GNU patch and git
 * apply do them (the unit tests pin real diff output for each):
 *  - "\ No newline at end of file": the original skipped the marker, so
 *    the line before it kept its "\n" and never matched an old last line
 *    without one ("patch context does not match"), and an added last line
 *    always got a "\n". Here the marker drops the line ending the diff
 *    tool added to the hunk line right before it: its final "\n" (a "\r"
 *    before it is file content: git diff shows a last line "x\r" as
 *    "-x\r\n" and the marker), or its "\r\n" when the marker line itself
 *    ends in "\r\n" (a patch converted to CRLF as a whole); other endings
 *    are left alone. So a ' ' or '-' line before a marker matches only an
 *    old last line without a line ending, and a '+' line before one ends
 *    the new file without one. A patch that marks a line which is not the
 *    old file's last (say, "-x" with the marker, while lines follow x)
 *    fails with "patch context does not match", where the original
 *    applied it;
 *  - a removed line whose text starts with "-- " appears as "--- ...";
 *    the original ended the hunk there and then failed ("patch hunk line
 *    counts do not match the header"). Here the header's counts decide, so
 *    it is the removed line it is (as is "+++ ..." for an added "++ ...",
 *    which the original already took as a hunk line);
 *  - an empty line (only "\n" or "\r\n") while both counts expect more
 *    lines is an empty context line, as if it were " \n" (" \r\n"): GNU
 *    diff --suppress-blank-empty writes empty context lines so, and editors
 *    and mailers that strip trailing blanks turn " \n" into "\n"; GNU
 *    patch and git apply take it. The original rejected it ("invalid patch
 *    hunk line: "); when only one count expects more it is still that
 *    error here, as is an empty line after a complete hunk;
 *  - a hunk with no old lines, "@@ -K,0 +L[,N] @@" (a pure insertion
 *    without context, as `diff -U0` and `git diff -U0` write it), inserts
 *    AFTER old line K, K = 0 meaning at the top: in unified diff an empty
 *    range names the line before it. The original inserted before line K,
 *    one line too early (old "1\n2\n3\n4\n" with "@@ -3,0 +4 @@" and
 *    "+new" gave "1 2 new 3 4" where GNU patch and git apply give "1 2 3
 *    new 4"), and so took K one past the old file's last line as an
 *    append; that is "patch hunk is out of range" here (GNU patch and git
 *    apply, which search for a place, take it; there is no search here).
 *    A hunk with old lines, a pure deletion "@@ -K[,M] +L,0 @@" included,
 *    still starts at old line K, its first old line.
 * Everything else, errors included, is the original's.
 *
 * Cost is linear in the sizes of the patch and the old text; nothing
 * recurses.
 */
#ifndef PYRO_PATCH_H
#define PYRO_PATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/* WORKSPACE_PATCH_MAX_BYTES and WORKSPACE_FILE_MAX_BYTES of the original. */
#define PATCH_MAX_BYTES (1024 * 1024)
#define PATCH_FILE_MAX_BYTES (1024 * 1024)
/* The largest line number or count a hunk header may carry. */
#define PATCH_NUMBER_MAX 1000000000UL

enum patch_status { PATCH_ADDED, PATCH_MODIFIED, PATCH_DELETED };

/* One hunk line: its prefix (' ', '-' or '+'), its text and its line
 * ending, if it has one (none when a "\ No newline at end of file" marker
 * followed it, or at the end of the patch). Points into the set's own copy
 * of the patch, or at a static " \n" or " \r\n" for an empty context
 * line written as an empty line. */
struct patch_line {
	const char *text;
	size_t len;
};

struct patch_hunk {
	unsigned long old_start, old_count, new_start, new_count;
	const struct patch_line *lines;
	size_t nlines;
};

struct file_patch {
	const char *path; /* normalised, "/workspace/..." */
	enum patch_status status;
	const struct patch_hunk *hunks; /* at least one */
	size_t nhunks;
};

/* The parsed patch: files in the order the patch names them (a path may
 * appear more than once, as in the original). The set owns everything the
 * pointers reach; patch_set_release() frees it all. */
struct patch_set {
	struct file_patch *files;
	size_t nfiles;
	/* private */
	char *text_;
	char *paths_;
	struct patch_hunk *hunks_;
	struct patch_line *lines_;
};

#define PATCH_SET_INIT { 0 }

/* "added", "modified" or "deleted", as the original's status strings. */
const char *patch_status_name(enum patch_status status);

/* Parse text[0..len) (it may contain NULs; text may be NULL when len is 0)
 * into *out, which is overwritten (release an old set first). On failure
 * *out is empty and needs no release; releasing it anyway is harmless. */
int patch_parse(const char *text, size_t len, struct patch_set *out,
		struct pyro_err *err);

/* Free what a set owns and leave it empty. Safe on an empty set. */
void patch_set_release(struct patch_set *set);

/* Apply one file's patch to the old text before[0..before_len), which is
 * absent when !before_exists (the original's None: before is then ignored
 * and counts as no lines; a NULL before counts as empty). On success
 * *deleted tells whether the file is to be removed (a deleted-file patch;
 * `after` is then empty); otherwise `after` (reset first, so any old
 * content is dropped) holds the new text, at most PATCH_FILE_MAX_BYTES.
 * On failure `after` is empty. A cap on `after` (its max) smaller than the
 * result is a PYRO_EXIT_FAILURE. Messages name p->path. */
int patch_apply(const struct file_patch *p, const char *before,
		size_t before_len, bool before_exists, struct buf *after,
		bool *deleted, struct pyro_err *err);

#endif
