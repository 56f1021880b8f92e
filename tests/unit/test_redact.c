#include "test.h"

#include <string.h>

#include "../../core/redact.h"
#include "../../core/utf8.h"

static const char *redact2(struct buf *out, const char *text, const char *const *a,
			   const char *const *b)
{
	struct redact_set sa = REDACT_SET_INIT, sb = REDACT_SET_INIT;
	for (; a && *a; a++)
		redact_set_add(&sa, *a, strlen(*a));
	for (; b && *b; b++)
		redact_set_add(&sb, *b, strlen(*b));
	buf_reset(out);
	int rc = redact_apply(&sa, &sb, out, text, strlen(text));
	redact_set_release(&sa);
	redact_set_release(&sb);
	return rc < 0 ? NULL : out->data;
}

TEST(redact_replaces_longest_first_and_ignores_empties)
{
	struct buf out = BUF_INIT;
	const char *none[] = { NULL };
	const char *s1[] = { "abc", "", "abcdef", "abc", NULL };
	CHECK_STR(redact2(&out, "x abcdef y abc z", s1, none), "x [REDACTED] y [REDACTED] z");
	CHECK_STR(redact2(&out, "nothing here", s1, none), "nothing here");
	CHECK_STR(redact2(&out, "", s1, none), "");
	/* Both sets merge longest first; a value in both is replaced once. */
	const char *a[] = { "tok", NULL };
	const char *b[] = { "token123", "tok", NULL };
	CHECK_STR(redact2(&out, "token123 tok", a, b), "[REDACTED] [REDACTED]");
	/* Sequential, as str.replace in a loop: a later, shorter value may hit
	 * the marker's own text; the original does the same. */
	const char *d[] = { "secretvalue", "ED", NULL };
	CHECK_STR(redact2(&out, "secretvalue", d, none), "[R[REDACTED]ACT[REDACTED]]");
	CHECK_STR(redact2(&out, "aaaa", (const char *[]){ "aa", NULL }, none),
		  "[REDACTED][REDACTED]");
	buf_release(&out);
}

static const char *san(struct buf *out, const char *s, size_t n)
{
	buf_reset(out);
	return utf8_sanitize(out, s, n) < 0 ? NULL : out->data;
}

TEST(utf8_sanitize_matches_python_replace)
{
	struct buf out = BUF_INIT;
	/* b"a\xffb".decode("utf-8","replace") == "a\ufffdb" */
	CHECK_STR(san(&out, "a\xff" "b", 3), "a\xef\xbf\xbd" "b");
	/* Truncated 3-byte sequence: one replacement for the maximal subpart. */
	CHECK_STR(san(&out, "\xe2\x82" "x", 3), "\xef\xbf\xbd" "x");
	/* Overlong lead C0 and a surrogate ED A0 80: every byte its own. */
	CHECK_STR(san(&out, "\xc0\xaf", 2), "\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(san(&out, "\xed\xa0\x80", 3), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(san(&out, "\xe2\x82\xac", 3), "\xe2\x82\xac");
	CHECK_STR(san(&out, "\xf0\x9f\x98", 3), "\xef\xbf\xbd");
	buf_release(&out);
}

TEST(utf8_incremental_decoder_joins_cut_sequences)
{
	const char *in = "x\xe2\x82\xac" "y\xf0\x9f\x98\x80" "z\xe2\x82" "q\xff";
	size_t n = strlen(in);
	struct buf whole = BUF_INIT;
	CHECK(utf8_sanitize(&whole, in, n) == 0);
	for (size_t cut1 = 0; cut1 <= n; cut1++) {
		for (size_t cut2 = cut1; cut2 <= n; cut2++) {
			struct utf8_dec d = UTF8_DEC_INIT;
			struct buf out = BUF_INIT;
			CHECK(utf8_dec_feed(&d, &out, in, cut1) == 0);
			CHECK(utf8_dec_feed(&d, &out, in + cut1, cut2 - cut1) == 0);
			CHECK(utf8_dec_feed(&d, &out, in + cut2, n - cut2) == 0);
			CHECK(utf8_dec_finish(&d, &out) == 0);
			int same = out.len == whole.len && memcmp(out.data, whole.data, out.len) == 0;
			buf_release(&out);
			CHECK(same);
		}
	}
	/* A cut at the very end becomes one replacement at finish. */
	struct utf8_dec d = UTF8_DEC_INIT;
	struct buf out = BUF_INIT;
	CHECK(utf8_dec_feed(&d, &out, "a\xf0\x9f", 3) == 0);
	CHECK_STR(out.data, "a");
	CHECK(utf8_dec_finish(&d, &out) == 0);
	CHECK_STR(out.data, "a\xef\xbf\xbd");
	buf_release(&out);
	buf_release(&whole);
}

TEST(utf8_counts_and_offsets_are_in_code_points)
{
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"; /* a é € 😀 z */
	size_t n = strlen(s);
	CHECK(utf8_count(s, n) == 5);
	CHECK(utf8_offset(s, n, 0) == 0);
	CHECK(utf8_offset(s, n, 2) == 3);
	CHECK(utf8_offset(s, n, 4) == 10);
	CHECK(utf8_offset(s, n, 5) == n);
	CHECK(utf8_offset(s, n, 99) == n);
	CHECK(utf8_cut(s, n, 2) == 1);
	CHECK(utf8_cut(s, n, 3) == 3);
	CHECK(utf8_cut(s, n, 100) == n);
}
