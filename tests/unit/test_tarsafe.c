/* Tests for core/tarsafe.c: the member-name and symlink-target rules, with
 * the original's exact messages. */
#include <errno.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/tarsafe.h"
#include "test.h"

/* Normalise name; return the result, or "ERR: message". */
static const char *norm(const char *name)
{
	static char out[5000];
	static char msg[PYRO_ERR_MSG_MAX + 8];
	struct pyro_err err = { 0 };
	if (tarsafe_member_name(name, out, sizeof out, &err) == 0)
		return out;
	if (out[0] != '\0' || err.code != PYRO_EXIT_FAILURE)
		return "BAD ERROR STATE";
	strcpy(msg, "ERR: ");
	strcat(msg, err.msg);
	return msg;
}

static const char *target(const char *member, const char *t)
{
	static char msg[PYRO_ERR_MSG_MAX + 8];
	struct pyro_err err = { 0 };
	if (tarsafe_symlink_target(member, t, &err) == 0)
		return "ok";
	strcpy(msg, "ERR: ");
	strcat(msg, err.msg);
	return msg;
}

TEST(tarsafe_plain_names)
{
	CHECK_STR(norm("a"), "a");
	CHECK_STR(norm("a/b/c.txt"), "a/b/c.txt");
	CHECK_STR(norm("./a"), "a");
	CHECK_STR(norm("a//b/"), "a/b");
	CHECK_STR(norm("a/./b/."), "a/b");
	CHECK_STR(norm("..a/b.."), "..a/b..");
	CHECK_STR(norm("a/...b/..."), "a/...b/...");
	/* Whitespace inside is kept; only the ends are stripped. */
	CHECK_STR(norm(" a b "), "a b");
	CHECK_STR(norm("a /b"), "a /b");
	CHECK_STR(norm("\t\n a\r\v\f"), "a");
	/* Not idempotent, as in the original: "a /." keeps the space. */
	CHECK_STR(norm("a /."), "a ");
}

TEST(tarsafe_unicode_strip)
{
	CHECK_STR(norm("\xc2\xa0" "a" "\xc2\x85"), "a");             /* NBSP, NEL */
	CHECK_STR(norm("\xe3\x80\x80" "a" "\xe2\x80\xa8"), "a");     /* U+3000, U+2028 */
	CHECK_STR(norm("\x1c" "a" "\x1f"), "a");                     /* separators */
	CHECK_STR(norm("\xe2\x80\x8b" "a"), "\xe2\x80\x8b" "a");     /* U+200B kept */
	CHECK_STR(norm("\xef\xbb\xbf" "a"), "\xef\xbb\xbf" "a");     /* U+FEFF kept */
	/* Bytes that are not UTF-8 are never whitespace, and do not hide the
	 * whitespace next to them. */
	CHECK_STR(norm("\xff "), "\xff");
	CHECK_STR(norm(" \xa0"), "\xa0");
	CHECK_STR(norm("a\xc2"), "a\xc2");
	CHECK_STR(norm("a\xe2\x80"), "a\xe2\x80");
	CHECK_STR(norm("\xe2\x80\xe3\x80\x80" "a"), "\xe2\x80\xe3\x80\x80" "a");
	CHECK_STR(norm("a\x80\xc2\xa0"), "a\x80");
}

TEST(tarsafe_rejected_names)
{
	CHECK_STR(norm(""), "ERR: archive member path is empty");
	CHECK_STR(norm("  \t"), "ERR: archive member path is empty");
	CHECK_STR(norm("\xe3\x80\x80"), "ERR: archive member path is empty");
	CHECK_STR(norm(NULL), "ERR: archive member path is empty");
	CHECK_STR(norm("/etc/passwd"),
		  "ERR: absolute archive member paths are not allowed: /etc/passwd");
	/* The message shows the name as given, not stripped. */
	CHECK_STR(norm(" /etc"), "ERR: absolute archive member paths are not allowed:  /etc");
	CHECK_STR(norm("//x"), "ERR: absolute archive member paths are not allowed: //x");
	CHECK_STR(norm("/"), "ERR: absolute archive member paths are not allowed: /");
	CHECK_STR(norm(".."), "ERR: unsafe archive member path: ..");
	CHECK_STR(norm("../x"), "ERR: unsafe archive member path: ../x");
	CHECK_STR(norm("a/../b"), "ERR: unsafe archive member path: a/../b");
	CHECK_STR(norm("a/.."), "ERR: unsafe archive member path: a/..");
	CHECK_STR(norm(" .. "), "ERR: unsafe archive member path:  .. ");
	CHECK_STR(norm("."), "ERR: unsafe archive member path: .");
	CHECK_STR(norm("./"), "ERR: unsafe archive member path: ./");
	CHECK_STR(norm("./."), "ERR: unsafe archive member path: ./.");
	CHECK_STR(norm(".//./"), "ERR: unsafe archive member path: .//./");
}

TEST(tarsafe_messages_escape_control_bytes)
{
	CHECK_STR(norm("../\x1b[31mred\n"),
		  "ERR: unsafe archive member path: ../\\x1b[31mred\\x0a");
	CHECK_STR(norm("/\xff\xfe"),
		  "ERR: absolute archive member paths are not allowed: /\\xff\\xfe");
	CHECK_STR(norm("/caf\xc3\xa9"),
		  "ERR: absolute archive member paths are not allowed: /caf\xc3\xa9");
}

TEST(tarsafe_length_limit)
{
	char out[8], name[64];
	struct pyro_err err = { 0 };
	CHECK(tarsafe_member_name("abcdefg", out, sizeof out, &err) == 0);
	CHECK_STR(out, "abcdefg");
	CHECK(tarsafe_member_name("./abc/defg/", out, sizeof out, &err) < 0);
	CHECK_STR(err.msg, "archive member path is longer than 7 bytes: ./abc/defg/");
	CHECK(err.sys_errno == ENAMETOOLONG);
	CHECK_STR(out, "");
	/* ".." anywhere still wins over the length. */
	strcpy(name, "abcdefghijklmnop/../x");
	CHECK(tarsafe_member_name(name, out, sizeof out, &err) < 0);
	CHECK_STR(err.msg, "unsafe archive member path: abcdefghijklmnop/../x");
	CHECK(tarsafe_member_name("a", NULL, 0, &err) < 0);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	CHECK(tarsafe_member_name("a", out, 0, NULL) < 0);
}

TEST(tarsafe_symlink_targets)
{
	CHECK_STR(target("l", "x"), "ok");
	CHECK_STR(target("l", "./x"), "ok");
	CHECK_STR(target("d/l", "x/y"), "ok");
	CHECK_STR(target("l", "..x"), "ok");
	CHECK_STR(target("l", " x "), "ok");
	CHECK_STR(target("l", "."), "ok");
	CHECK_STR(target("l", ""), "ERR: symlink l has an empty target");
	CHECK_STR(target("d/l", " \t"), "ERR: symlink d/l has an empty target");
	CHECK_STR(target("l", NULL), "ERR: symlink l has an empty target");
	CHECK_STR(target("l", "/etc/passwd"), "ERR: symlink l escapes the workspace");
	CHECK_STR(target("l", " /etc"), "ERR: symlink l escapes the workspace");
	CHECK_STR(target("l", ".."), "ERR: symlink l escapes the workspace");
	CHECK_STR(target("d/l", "../x"), "ERR: symlink d/l escapes the workspace");
	/* Lexical and strict, as the original: inside, but refused. */
	CHECK_STR(target("l", "a/../b"), "ERR: symlink l escapes the workspace");
	CHECK_STR(target("l", "x/.."), "ERR: symlink l escapes the workspace");
	CHECK_STR(target("l", "x/.. "), "ERR: symlink l escapes the workspace");
	CHECK_STR(target("bad\x01", "/x"), "ERR: symlink bad\\x01 escapes the workspace");
}

TEST(tarsafe_show_cuts_and_escapes)
{
	char big[TARSAFE_SHOW_MAX * 2], out[TARSAFE_SHOW_SIZE], tiny[6];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	tarsafe_show(out, sizeof out, big);
	CHECK(strlen(out) == TARSAFE_SHOW_MAX + 3);
	CHECK(strcmp(out + TARSAFE_SHOW_MAX, "...") == 0);
	/* Worst case: every byte escaped still fits. */
	memset(big, '\x01', sizeof big - 1);
	tarsafe_show(out, sizeof out, big);
	CHECK(strlen(out) == TARSAFE_SHOW_MAX * 4 + 3);
	tarsafe_show(out, sizeof out, "a\x7f" "b\tc");
	CHECK_STR(out, "a\\x7fb\\x09c");
	tarsafe_show(tiny, sizeof tiny, "abcdefgh");
	CHECK_STR(tiny, "ab...");
	tarsafe_show(tiny, 1, "abc");
	CHECK_STR(tiny, "");
}
