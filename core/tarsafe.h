/* The safety rules for tar members that go into a workspace: pure string
 * functions, no filesystem, no allocation. Used by the archive reader
 * (core/wsarchive.h) on both sides: the guest agent extracting an upload,
 * the host checking or extracting a seed or an export.
 *
 * They reproduce the Python original's _normalize_member_name and
 * _validate_symlink_target (guest agent and host, which agree), with their
 * messages:
 *
 * Member names, tarsafe_member_name():
 *   1. strip leading and trailing whitespace as Python's str.strip() does
 *      (the code points of core/wspath.h, step 1). Names are bytes: valid
 *      UTF-8 sequences are decoded, any other byte is never whitespace
 *      (Python decodes tar names with surrogateescape);
 *   2. empty after stripping: "archive member path is empty";
 *   3. starting with "/": "absolute archive member paths are not allowed:
 *      NAME";
 *   4. split on "/", dropping empty and "." components; any ".."
 *      component, or nothing left (".", "./", " . "): "unsafe archive member
 *      path: NAME".
 *   The result is the components joined with single slashes ("a/b"): no
 *   leading or trailing slash, no empty, "." or ".." component. NAME in the
 *   messages is the name as given (not stripped), shown with
 *   tarsafe_show().
 *   Like the original (and wspath), normalising is not idempotent when the
 *   last component ends in whitespace: "a /." gives "a ", which would strip
 *   to "a". Use the result; do not normalise it again.
 *
 * Symlink targets, tarsafe_symlink_target() (MEMBER is the NORMALISED
 * member name):
 *   1. strip the target as above; empty: "symlink MEMBER has an empty
 *      target";
 *   2. starting with "/", or any ".." component: "symlink MEMBER escapes the
 *      workspace". As in the original this is lexical and strict: "a/../b"
 *      is refused even though it stays inside. A target accepted this way
 *      only ever names something at or below the link's own directory.
 *   The link is created with the target as given (not stripped); stripping
 *   only removes whitespace at the ends, so the raw target cannot escape
 *   when the stripped one does not.
 *
 * One addition: a normalised name longer than the caller's buffer allows is
 * refused with "archive member path is longer than N bytes: NAME"
 * (sys_errno ENAMETOOLONG); the original failed later in the filesystem.
 *
 * All rule violations are PYRO_EXIT_FAILURE (the archive is at fault, not
 * the command line); misuse by the caller (no buffer) is PYRO_EXIT_INTERNAL.
 */
#ifndef PYRO_TARSAFE_H
#define PYRO_TARSAFE_H

#include <stddef.h>

#include "err.h"

/* The longest normalised member path accepted by default, in bytes. */
#define TARSAFE_PATH_MAX 4095

/* How much of a name tarsafe_show() renders before cutting it with "...". */
#define TARSAFE_SHOW_MAX 256
/* A buffer that always holds a tarsafe_show() rendering. */
#define TARSAFE_SHOW_SIZE (TARSAFE_SHOW_MAX * 4 + 8)

/* Normalise the member name `name` into out[out_size]; the longest result
 * accepted is out_size - 1 bytes. On error out holds "" (out_size > 0). */
int tarsafe_member_name(const char *name, char *out, size_t out_size,
			struct pyro_err *err);

/* Check the target of the symlink member `member` (already normalised). */
int tarsafe_symlink_target(const char *member, const char *target,
			   struct pyro_err *err);

/* Render `s` for an error message: valid UTF-8 and printable ASCII as they
 * are; control bytes, DEL and bytes that are not valid UTF-8 as \xNN; cut
 * with "..." after TARSAFE_SHOW_MAX input bytes. A plain name is rendered
 * unchanged, so messages match the original's. Always NUL-terminates
 * (cap > 0); dst[TARSAFE_SHOW_SIZE] always has room for all of it. */
void tarsafe_show(char *dst, size_t cap, const char *s);

#endif
