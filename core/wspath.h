/* Guest paths under /workspace: normalisation and mapping to the host.
 *
 * Every path an agent names inside a workspace (a destination for an
 * upload, a file to read or patch, a shell's cwd) goes through
 * wspath_normalize() before it is used. It reproduces the Python original's
 * normalize_workspace_path() exactly, which is:
 *
 *   1. strip leading and trailing whitespace, as Python's str.strip() does:
 *      the 29 code points for which str.isspace() is true (Unicode 14):
 *        U+0009..U+000D  (\t \n \v \f \r)
 *        U+001C..U+001F  (the ASCII file/group/record/unit separators)
 *        U+0020          (space)
 *        U+0085          (NEXT LINE)
 *        U+00A0          (NO-BREAK SPACE)
 *        U+1680          (OGHAM SPACE MARK)
 *        U+2000..U+200A  (EN QUAD .. HAIR SPACE)
 *        U+2028 U+2029   (LINE / PARAGRAPH SEPARATOR)
 *        U+202F          (NARROW NO-BREAK SPACE)
 *        U+205F          (MEDIUM MATHEMATICAL SPACE)
 *        U+3000          (IDEOGRAPHIC SPACE)
 *      Not stripped (Python does not either): U+180E, U+200B, U+2060,
 *      U+FEFF. Whitespace inside the path is kept ("/workspace/ a").
 *   2. an empty result is an error ("... must not be empty");
 *   3. split as PurePosixPath does: repeated slashes collapse, "." and empty
 *      components vanish; a leading run of exactly TWO slashes is a distinct
 *      root "//" (POSIX leaves its meaning to the implementation), while one
 *      or three-or-more leading slashes mean "/";
 *   4. any ".." component is an error, even when it would resolve inside
 *      /workspace ("/workspace/a/../b" is rejected);
 *   5. a relative path is taken relative to /workspace ("." -> /workspace);
 *   6. the result must be /workspace itself or below it: "/", "/etc",
 *      "/workspacefoo" and anything under the "//" root ("//workspace/a")
 *      are errors ("... must stay inside /workspace").
 *
 * The result has one leading slash, no trailing slash, no empty, "." or ".."
 * components, and starts with "/workspace".
 *
 * Beware: like the original, normalising is NOT idempotent when the last
 * component ends in whitespace: "/workspace/a /" gives "/workspace/a ",
 * and normalising that again strips it to "/workspace/a". So never
 * re-normalise a normalised path; map it with wspath_join_host().
 *
 * One deliberate improvement over the original: the input must be valid
 * UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF) and must not contain NUL bytes; both are rejected with a clear
 * message (code PYRO_EXIT_USAGE). All other errors are PYRO_EXIT_USAGE
 * too, except a result that does not fit in the caller's buffer
 * (PYRO_EXIT_USAGE with sys_errno ENAMETOOLONG) and misuse by the caller
 * (PYRO_EXIT_INTERNAL).
 *
 * `label` names the value in messages, so the original's three variants are
 * one function: "workspace path", "workspace destination", "destination"
 * (NULL means "workspace path"). Messages keep the original's wording
 * ("<label> must stay inside /workspace") and add the offending value
 * (quoted, control characters escaped, long values shortened) and what to do.
 *
 * Note: the original's guest-agent variant (_normalize_destination) did not
 * reject ".." components; this module always does.
 *
 * Nothing here allocates or touches the filesystem. Output buffers are owned
 * by the caller; on error they hold "" (when out_size > 0).
 */
#ifndef PYRO_WSPATH_H
#define PYRO_WSPATH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define WSPATH_ROOT "/workspace"

/* Normalise the C string `path` into out[out_size] (PATH_MAX is plenty). */
int wspath_normalize(const char *path, const char *label, char *out,
		     size_t out_size, struct pyro_err *err);

/* The same for `len` bytes that may contain NULs (e.g. from JSON): a NUL
 * anywhere in them is an error. */
int wspath_normalize_mem(const char *path, size_t len, const char *label,
			 char *out, size_t out_size, struct pyro_err *err);

/* The part of a NORMALISED path below /workspace: "" for "/workspace",
 * "a/b" for "/workspace/a/b". Returns a pointer into `normalized`, or NULL
 * when it does not start with the /workspace component. */
const char *wspath_suffix(const char *normalized);

/* Map a NORMALISED path (from wspath_normalize) under the host directory
 * `workspace_dir`: workspace_dir itself for /workspace, workspace_dir + "/" +
 * suffix otherwise. Trailing slashes of workspace_dir are ignored
 * ("/srv/ws/" and "/srv/ws" give the same result; "/" maps /workspace/a to
 * "/a"). An empty or NULL workspace_dir, or a `normalized` that does not
 * start with the /workspace component, is PYRO_EXIT_INTERNAL; a result that
 * does not fit is PYRO_EXIT_USAGE with sys_errno ENAMETOOLONG. */
int wspath_join_host(const char *workspace_dir, const char *normalized,
		     char *out, size_t out_size, struct pyro_err *err);

/* wspath_normalize(path, label) then wspath_join_host(): the original's
 * workspace_host_path(workspace_dir, path). */
int wspath_host(const char *workspace_dir, const char *path, const char *label,
		char *out, size_t out_size, struct pyro_err *err);

/* Two helpers shared with other parsers of text that was a Python str in
 * the original (core/patch.c), so the rules live in one place: */

/* Split a path as PurePosixPath does: the next component of [*p, end)
 * that is neither empty nor "." (repeated slashes and "." vanish). 1 with
 * *comp and *len set and *p advanced past it, or 0 at the end. Archive member
 * names (core/tarsafe.c) are split the same way. */
int wspath_next_component(const char **p, const char *end, const char **comp, size_t *len);

/* Offset of the first byte of s[0..n) that is not strict UTF-8 (as above),
 * or n when all of it is. */
size_t wspath_utf8_invalid_at(const char *s, size_t n);

/* Python's str.strip() on VALID UTF-8 (the 29 code points listed above):
 * narrows [*start, *end) of s. An all-whitespace range ends empty. */
void wspath_py_strip(const char *s, size_t *start, size_t *end);

/* Python's str.isspace() for one code point (Unicode 14): what str.strip()
 * strips. Archive member names (core/tarsafe.c) use it too. */
int wspath_py_isspace(uint32_t c);

#endif
