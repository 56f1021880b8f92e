#include "wspath.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "exitcodes.h"
#include "utf8.h"

#define ROOT_NAME "workspace"
#define ROOT_NAME_LEN (sizeof ROOT_NAME - 1)
/* How much of an offending value a message shows. */
#define QUOTE_MAX 160

/* Offset of the first byte that is not valid UTF-8, or n when all are. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n)
{
	size_t i = 0;
	uint32_t cp;
	while (i < n) {
		size_t l = utf8_decode_one(s + i, n - i, &cp);
		if (!l)
			return i;
		i += l;
	}
	return n;
}

int wspath_py_isspace(uint32_t c)
{
	if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20))
		return 1;
	if (c < 0x85)
		return 0;
	switch (c) {
	case 0x85: case 0xA0: case 0x1680:
	case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
		return 1;
	default:
		return c >= 0x2000 && c <= 0x200A;
	}
}

/* Python's str.strip() on valid UTF-8: narrows [*start, *end). */
static void py_strip(const unsigned char *s, size_t *start, size_t *end)
{
	uint32_t cp;
	size_t b = *start, e = *end;
	while (b < e) {
		size_t l = utf8_decode_one(s + b, e - b, &cp);
		if (!l || !wspath_py_isspace(cp))
			break;
		b += l;
	}
	while (e > b) {
		size_t p = e - 1;
		while (p > b && (s[p] & 0xC0) == 0x80)
			p--;
		size_t l = utf8_decode_one(s + p, e - p, &cp);
		if (l != e - p || !wspath_py_isspace(cp))
			break;
		e = p;
	}
	*start = b;
	*end = e;
}

/* Write s[0..n) into dst[cap] as a double-quoted, single-line value:
 * quotes and backslashes escaped, control bytes as \n \t \r or \xNN, bytes
 * >= 0x80 kept when `utf8_ok` (the text is valid UTF-8) and escaped
 * otherwise, and cut with "..." after QUOTE_MAX input bytes (never inside a
 * UTF-8 sequence). Always NUL-terminates. */
static void quote(char *dst, size_t cap, const char *src, size_t n, int utf8_ok)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;
	/* Room for the longest escape (4), "\"...", and the NUL. */
	if (cap < 16) {
		if (cap)
			dst[0] = '\0';
		return;
	}
	dst[o++] = '"';
	size_t i;
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		int lead = !utf8_ok || (c & 0xC0) != 0x80;
		if (lead && (i >= QUOTE_MAX || o + 4 + 5 >= cap))
			break;
		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c == '\n') {
			dst[o++] = '\\', dst[o++] = 'n';
		} else if (c == '\t') {
			dst[o++] = '\\', dst[o++] = 't';
		} else if (c == '\r') {
			dst[o++] = '\\', dst[o++] = 'r';
		} else if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8_ok)) {
			dst[o++] = '\\', dst[o++] = 'x';
			dst[o++] = hex[c >> 4], dst[o++] = hex[c & 15];
		} else {
			dst[o++] = (char)c;
		}
	}
	if (i < n) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o++] = '"';
	dst[o] = '\0';
}

int wspath_next_component(const char **p, const char *end, const char **comp, size_t *len)
{
	const char *q = *p;
	for (;;) {
		while (q < end && *q == '/')
			q++;
		if (q == end) {
			*p = q;
			return 0;
		}
		const char *c = q;
		while (q < end && *q != '/')
			q++;
		if (q - c == 1 && c[0] == '.')
			continue;
		*p = q;
		*comp = c;
		*len = (size_t)(q - c);
		return 1;
	}
}

int wspath_normalize_mem(const char *path, size_t len, const char *label,
			 char *out, size_t out_size, struct pyro_err *err)
{
	char shown[QUOTE_MAX * 4 + 16];
	if (!label)
		label = "workspace path";
	if (out && out_size)
		out[0] = '\0';
	if (!out || !out_size)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "normalising a %s needs an output buffer, got none",
				    label);
	if (!path)
		len = 0;

	const unsigned char *u = (const unsigned char *)path;
	const char *nul = len ? memchr(path, '\0', len) : NULL;
	if (nul) {
		quote(shown, sizeof shown, path, len, 0);
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "%s %s contains a NUL byte at offset %zu; "
				    "remove it and pass a plain path under /workspace",
				    label, shown, (size_t)(nul - path));
	}
	size_t bad = utf8_invalid_at(u, len);
	if (bad < len) {
		quote(shown, sizeof shown, path, len, 0);
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "%s %s is not valid UTF-8 (bad byte 0x%02x at offset %zu); "
				    "pass the path as UTF-8 text",
				    label, shown, u[bad], bad);
	}

	size_t b = 0, e = len;
	py_strip(u, &b, &e);
	if (b == e)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "%s must not be empty; give a path such as "
				    "/workspace/src or one relative to /workspace",
				    label);

	const char *s = path + b, *end = path + e;
	size_t slashes = 0;
	while (s + slashes < end && s[slashes] == '/')
		slashes++;
	int relative = slashes == 0, double_root = slashes == 2;

	/* Pass 1: find "..", the first component and the output length, so
	 * errors come in the original's order whatever the buffer size. */
	const char *p = s + slashes, *comp, *first = NULL;
	size_t clen, first_len = 0, need = 0;
	while (wspath_next_component(&p, end, &comp, &clen)) {
		if (clen == 2 && comp[0] == '.' && comp[1] == '.') {
			quote(shown, sizeof shown, s, (size_t)(end - s), 1);
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "%s must stay inside /workspace: %s has a \"..\" "
					    "component; name the path without \"..\"",
					    label, shown);
		}
		if (!first)
			first = comp, first_len = clen;
		need += 1 + clen;
	}
	if (relative) {
		first = ROOT_NAME, first_len = ROOT_NAME_LEN;
		need += 1 + ROOT_NAME_LEN;
	}
	if (double_root) {
		quote(shown, sizeof shown, s, (size_t)(end - s), 1);
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "%s must stay inside /workspace: %s starts with exactly two "
				    "slashes, which POSIX treats as a root other than \"/\"; "
				    "start it with a single slash",
				    label, shown);
	}
	if (!first || first_len != ROOT_NAME_LEN ||
	    memcmp(first, ROOT_NAME, ROOT_NAME_LEN) != 0) {
		quote(shown, sizeof shown, s, (size_t)(end - s), 1);
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "%s must stay inside /workspace: %s is outside it; use "
				    "/workspace, a path below it, or a path relative to it",
				    label, shown);
	}
	if (need + 1 > out_size) {
		quote(shown, sizeof shown, s, (size_t)(end - s), 1);
		pyro_err_set(err, PYRO_EXIT_USAGE,
			     "%s %s is too long: it normalises to %zu bytes, more than "
			     "the limit of %zu; use a shorter path",
			     label, shown, need, out_size - 1);
		if (err)
			err->sys_errno = ENAMETOOLONG;
		return -1;
	}

	/* Pass 2: write it. */
	size_t o = 0;
	if (relative) {
		out[o++] = '/';
		memcpy(out + o, ROOT_NAME, ROOT_NAME_LEN);
		o += ROOT_NAME_LEN;
	}
	p = s + slashes;
	while (wspath_next_component(&p, end, &comp, &clen)) {
		out[o++] = '/';
		memcpy(out + o, comp, clen);
		o += clen;
	}
	out[o] = '\0';
	return 0;
}

int wspath_normalize(const char *path, const char *label, char *out,
		     size_t out_size, struct pyro_err *err)
{
	return wspath_normalize_mem(path, path ? strlen(path) : 0, label, out,
				    out_size, err);
}

const char *wspath_suffix(const char *normalized)
{
	if (!normalized || strncmp(normalized, WSPATH_ROOT, sizeof WSPATH_ROOT - 1))
		return NULL;
	const char *rest = normalized + sizeof WSPATH_ROOT - 1;
	if (*rest == '\0')
		return rest;
	if (*rest != '/')
		return NULL;
	return rest + 1;
}

int wspath_join_host(const char *workspace_dir, const char *normalized,
		     char *out, size_t out_size, struct pyro_err *err)
{
	char shown[QUOTE_MAX * 4 + 16];
	if (out && out_size)
		out[0] = '\0';
	if (!out || !out_size)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "mapping a workspace path to the host needs an output "
				    "buffer, got none");
	if (!workspace_dir || !*workspace_dir)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "mapping a workspace path to the host needs the "
				    "workspace directory, got an empty one");
	const char *suffix = wspath_suffix(normalized);
	if (!suffix) {
		quote(shown, sizeof shown, normalized ? normalized : "",
		      normalized ? strlen(normalized) : 0, 1);
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "cannot map %s to the host: it is not a normalised "
				    "path under /workspace",
				    shown);
	}

	size_t dlen = strlen(workspace_dir);
	while (dlen > 1 && workspace_dir[dlen - 1] == '/')
		dlen--;
	int dir_is_root = dlen == 1 && workspace_dir[0] == '/';
	size_t slen = strlen(suffix);
	size_t need = dlen + (slen ? (dir_is_root ? 0 : 1) + slen : 0);
	if (need + 1 > out_size) {
		quote(shown, sizeof shown, normalized, strlen(normalized), 1);
		pyro_err_set(err, PYRO_EXIT_USAGE,
			     "workspace path %s is too long on the host: under the "
			     "workspace directory it is %zu bytes, more than the limit "
			     "of %zu; use a shorter path",
			     shown, need, out_size - 1);
		if (err)
			err->sys_errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, workspace_dir, dlen);
	size_t o = dlen;
	if (slen) {
		if (!dir_is_root)
			out[o++] = '/';
		memcpy(out + o, suffix, slen);
		o += slen;
	}
	out[o] = '\0';
	return 0;
}

int wspath_host(const char *workspace_dir, const char *path, const char *label,
		char *out, size_t out_size, struct pyro_err *err)
{
	char norm[PATH_MAX];
	if (out && out_size)
		out[0] = '\0';
	if (wspath_normalize(path, label, norm, sizeof norm, err) < 0)
		return -1;
	return wspath_join_host(workspace_dir, norm, out, out_size, err);
}

size_t wspath_utf8_invalid_at(const char *s, size_t n)
{
	return utf8_invalid_at((const unsigned char *)s, n);
}

void wspath_py_strip(const char *s, size_t *start, size_t *end)
{
	py_strip((const unsigned char *)s, start, end);
}
