/* WWW-Authenticate parsing (RFC 7235 section 4.1 / RFC 9110 section 11):
 *
 *   challenges = 1#challenge
 *   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 *
 * The commas that separate challenges are the same as those between
 * parameters, so a token not followed by '=' starts the next challenge.
 * Only the first Bearer challenge is kept; other schemes and token68 forms
 * are parsed and skipped. */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "exitcodes.h"
#include "http_internal.h"

struct scan {
	const char *s;
	const char *header; /* the whole value, for messages */
	struct pyro_err *err;
};

static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token68_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-._~+/", c));
}

static void skip_ows(struct scan *sc)
{
	while (*sc->s == ' ' || *sc->s == '\t')
		sc->s++;
}

/* A malformed-header error quoting the header (http_show). */
static int bad(struct scan *sc, const char *what)
{
	char s[HTTP_SHOW_MAX];
	return pyro_err_set(sc->err, PYRO_EXIT_FAILURE,
			    "WWW-Authenticate header \"%s\" is malformed: %s at offset %zu",
			    http_show(s, sc->header, true), what, (size_t)(sc->s - sc->header));
}

static size_t token_len(const char *s)
{
	size_t n = 0;
	while (is_tchar(s[n]))
		n++;
	return n;
}

/* A token68 is the whole rest of its challenge: chars, '='s, then only
 * OWS before a comma or the end. */
static bool at_token68(const char *s, const char **end)
{
	size_t n = 0;
	while (is_token68_char(s[n]))
		n++;
	if (n == 0)
		return false;
	while (s[n] == '=')
		n++;
	size_t m = n;
	while (s[m] == ' ' || s[m] == '\t')
		m++;
	if (s[m] != ',' && s[m] != '\0')
		return false;
	*end = s + n;
	return true;
}

/* Parse a token or quoted-string value into dst (cap bytes, or skip when
 * dst is NULL). */
static int parse_value(struct scan *sc, char *dst, size_t cap, const char *name)
{
	size_t o = 0;
	if (*sc->s == '"') {
		sc->s++;
		for (;;) {
			char c = *sc->s;
			if (c == '\0')
				return bad(sc, "unterminated quoted string");
			if (c == '"')
				break;
			if (c == '\\') {
				sc->s++;
				c = *sc->s;
				if (c == '\0')
					return bad(sc, "backslash at the end");
			}
			if ((unsigned char)c < 0x20 && c != '\t')
				return bad(sc, "control character in a quoted string");
			if (dst) {
				if (o + 1 >= cap)
					return bad(sc, name);
				dst[o++] = c;
			}
			sc->s++;
		}
		sc->s++;
	} else {
		size_t n = token_len(sc->s);
		if (n == 0)
			return bad(sc, "parameter without a value");
		if (dst) {
			if (n >= cap)
				return bad(sc, name);
			memcpy(dst, sc->s, n);
			o = n;
		}
		sc->s += n;
	}
	if (dst)
		dst[o] = '\0';
	return 0;
}

/* Parameters of one challenge, up to the next challenge or the end. */
static int parse_params(struct scan *sc, struct http_challenge *out, bool *got_realm)
{
	bool first = true;
	bool seen[3] = { false, false, false };
	for (;;) {
		skip_ows(sc);
		if (!first && *sc->s != ',' && *sc->s != '\0')
			return bad(sc, "expected a comma between parameters");
		/* Empty list elements (", ,") are allowed. */
		while (*sc->s == ',' || *sc->s == ' ' || *sc->s == '\t')
			sc->s++;
		first = false;
		if (*sc->s == '\0')
			return 0;
		const char *name = sc->s;
		size_t n = token_len(name);
		if (n == 0)
			return bad(sc, "expected a parameter name");
		const char *p = name + n;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			return 0; /* a token without '=': the next challenge's scheme */
		sc->s = p + 1;
		skip_ows(sc);
		char *dst = NULL;
		size_t cap = 0;
		int which = -1;
		const char *what = NULL;
		if (out && n == 5 && strncasecmp(name, "realm", 5) == 0)
			which = 0, dst = out->realm, cap = sizeof out->realm, what = "realm too long";
		else if (out && n == 7 && strncasecmp(name, "service", 7) == 0)
			which = 1, dst = out->service, cap = sizeof out->service, what = "service too long";
		else if (out && n == 5 && strncasecmp(name, "scope", 5) == 0)
			which = 2, dst = out->scope, cap = sizeof out->scope, what = "scope too long";
		if (which >= 0) {
			if (seen[which])
				return bad(sc, "a parameter is given twice");
			seen[which] = true;
		}
		if (parse_value(sc, dst, cap, what))
			return -1;
		if (which == 0)
			*got_realm = true;
	}
}

int http_parse_bearer_challenge(const char *value, struct http_challenge *out,
				struct pyro_err *err)
{
	struct scan sc = { value ? value : "", value ? value : "", err };
	bool found = false, got_realm = false;
	memset(out, 0, sizeof *out);
	for (;;) {
		while (*sc.s == ',' || *sc.s == ' ' || *sc.s == '\t')
			sc.s++;
		if (*sc.s == '\0')
			break;
		size_t n = token_len(sc.s);
		if (n == 0)
			return bad(&sc, "expected an authentication scheme");
		bool bearer = !found && n == 6 && strncasecmp(sc.s, "Bearer", 6) == 0;
		sc.s += n;
		if (*sc.s != '\0' && *sc.s != ',' && *sc.s != ' ' && *sc.s != '\t')
			return bad(&sc, "expected a space after the scheme");
		skip_ows(&sc);
		const char *end;
		if (at_token68(sc.s, &end)) {
			sc.s = end;
			skip_ows(&sc);
			continue;
		}
		if (parse_params(&sc, bearer ? out : NULL, &got_realm))
			return -1;
		if (bearer)
			found = true;
	}
	char s[HTTP_SHOW_MAX];
	if (!found)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "WWW-Authenticate header \"%s\" has no Bearer challenge; "
				    "the server wants an authentication scheme pyro does not support",
				    http_show(s, sc.header, true));
	if (!got_realm || !out->realm[0])
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "WWW-Authenticate header \"%s\" has a Bearer challenge without a realm",
				    http_show(s, sc.header, true));
	struct http_url u;
	if (http_url_parse(out->realm, &u, err))
		return pyro_err_wrap(err, "the Bearer realm of WWW-Authenticate");
	return 0;
}
