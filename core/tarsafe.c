#include "tarsafe.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "exitcodes.h"
#include "utf8.h"
#include "wspath.h"

/* str.strip() on bytes decoded with surrogateescape: bytes that are not
 * part of a valid sequence are never whitespace. A lead byte always starts
 * a fresh decode in Python's decoder (invalid runs only absorb continuation
 * bytes), so decoding backwards from the end at the last lead byte agrees
 * with decoding forwards. Narrows [*b, *e). */
static void py_strip(const unsigned char *s, size_t *b, size_t *e)
{
	uint32_t cp;
	while (*b < *e) {
		size_t l = utf8_decode_one(s + *b, *e - *b, &cp);
		if (!l || !wspath_py_isspace(cp))
			break;
		*b += l;
	}
	while (*e > *b) {
		size_t p = *e - 1;
		while (p > *b && *e - p < 4 && (s[p] & 0xC0) == 0x80)
			p--;
		size_t l = utf8_decode_one(s + p, *e - p, &cp);
		if (l != *e - p || !wspath_py_isspace(cp))
			break;
		*e = p;
	}
}

void tarsafe_show(char *dst, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t n = strlen(src), i = 0, o = 0;
	if (!cap)
		return;
	while (i < n) {
		uint32_t cp;
		size_t l = utf8_decode_one(s + i, n - i, &cp);
		int esc = !l || cp < 0x20 || cp == 0x7F;
		size_t need = esc ? 4 : l;
		/* Keep room for "..." and the NUL. */
		if (i >= TARSAFE_SHOW_MAX || o + need + 4 > cap)
			break;
		if (esc) {
			dst[o++] = '\\', dst[o++] = 'x';
			dst[o++] = hex[s[i] >> 4], dst[o++] = hex[s[i] & 15];
			i++;
		} else {
			memcpy(dst + o, s + i, l);
			o += l, i += l;
		}
	}
	if (i < n && o + 4 <= cap) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o < cap ? o : cap - 1] = '\0';
}

static int is_dotdot(const char *c, size_t len)
{
	return len == 2 && c[0] == '.' && c[1] == '.';
}

int tarsafe_member_name(const char *name, char *out, size_t out_size,
			struct pyro_err *err)
{
	char shown[TARSAFE_SHOW_SIZE];
	if (!out || !out_size)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "normalising an archive member name needs an output buffer");
	out[0] = '\0';
	if (!name)
		name = "";
	size_t b = 0, e = strlen(name);
	py_strip((const unsigned char *)name, &b, &e);
	if (b == e)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "archive member path is empty");
	tarsafe_show(shown, sizeof shown, name);
	if (name[b] == '/')
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "absolute archive member paths are not allowed: %s",
				    shown);

	const char *p = name + b, *end = name + e, *comp;
	size_t len, o = 0;
	int too_long = 0;
	while (wspath_next_component(&p, end, &comp, &len)) {
		if (is_dotdot(comp, len)) {
			out[0] = '\0';
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "unsafe archive member path: %s", shown);
		}
		size_t need = (o ? 1 : 0) + len;
		if (too_long || need >= out_size - o) {
			too_long = 1; /* keep scanning: ".." wins */
			continue;
		}
		if (o)
			out[o++] = '/';
		memcpy(out + o, comp, len);
		o += len;
	}
	out[too_long ? 0 : o] = '\0';
	if (too_long) {
		pyro_err_set(err, PYRO_EXIT_FAILURE,
			     "archive member path is longer than %zu bytes: %s",
			     out_size - 1, shown);
		if (err)
			err->sys_errno = ENAMETOOLONG;
		return -1;
	}
	if (o == 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "unsafe archive member path: %s", shown);
	return 0;
}

int tarsafe_symlink_target(const char *member, const char *target,
			   struct pyro_err *err)
{
	char shown[TARSAFE_SHOW_SIZE];
	tarsafe_show(shown, sizeof shown, member ? member : "");
	if (!target)
		target = "";
	size_t b = 0, e = strlen(target);
	py_strip((const unsigned char *)target, &b, &e);
	if (b == e)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "symlink %s has an empty target", shown);
	if (target[b] == '/')
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "symlink %s escapes the workspace", shown);
	const char *p = target + b, *end = target + e, *comp;
	size_t len;
	while (wspath_next_component(&p, end, &comp, &len))
		if (is_dotdot(comp, len))
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "symlink %s escapes the workspace", shown);
	return 0;
}
