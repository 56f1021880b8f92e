/* http:// and https:// URLs: parsing, resolving a Location against the
 * URL that answered, and the origin rule the redirect code relies on. */
#include "http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "exitcodes.h"
#include "http_internal.h"

/* http_internal.h */
const char *http_show(char dst[HTTP_SHOW_MAX], const char *s, bool spaces)
{
	size_t i = 0;
	for (; s[i] && i < 200; i++) {
		unsigned char c = (unsigned char)s[i];
		bool printable = c < 0x7f && (c > 0x20 || (spaces && c == 0x20));
		dst[i] = printable ? (char)c : '?';
	}
	if (s[i]) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
	return dst;
}

/* Spaces, controls and non-ASCII must be percent-encoded in a URL. */
static int check_chars(const char *text, struct pyro_err *err)
{
	char s[HTTP_SHOW_MAX];
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "URL %s contains a space, control character or non-ASCII "
					    "byte (0x%02x); percent-encode it", http_show(s, text, false), *p);
	return 0;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

static int parse_port(const char *text, const char *p, size_t n, unsigned *out,
		      struct pyro_err *err)
{
	char s[HTTP_SHOW_MAX];
	unsigned v = 0;
	if (n == 0 || n > 5)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			goto bad;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		goto bad;
	*out = v;
	return 0;
bad:
	return pyro_err_set(err, PYRO_EXIT_USAGE,
			    "URL %s has a bad port (want a number from 1 to 65535)", http_show(s, text, false));
}

static int set_target(const char *text, const char *rest, struct http_url *out,
		      struct pyro_err *err)
{
	char s[HTTP_SHOW_MAX];
	const char *lead = *rest == '/' ? "" : "/";
	int n = snprintf(out->target, sizeof out->target, "%s%s", lead, rest);
	if (n < 0 || (size_t)n >= sizeof out->target)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "URL %s: path and query are longer than %d bytes",
				    http_show(s, text, false), HTTP_TARGET_MAX - 1);
	return 0;
}

int http_url_parse(const char *text, struct http_url *out, struct pyro_err *err)
{
	char s[HTTP_SHOW_MAX];
	memset(out, 0, sizeof *out);
	if (!text || !*text)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "empty URL: want http://HOST/... or https://HOST/...");
	if (check_chars(text, err))
		return -1;
	if (strchr(text, '#'))
		return pyro_err_set(err, PYRO_EXIT_USAGE, "URL %s has a fragment (#...); remove it",
				    http_show(s, text, false));
	const char *a;
	if (strncasecmp(text, "https://", 8) == 0) {
		out->tls = true;
		out->port = 443;
		a = text + 8;
	} else if (strncasecmp(text, "http://", 7) == 0) {
		out->port = 80;
		a = text + 7;
	} else {
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "URL %s is not absolute http:// or https://", http_show(s, text, false));
	}
	size_t alen = strcspn(a, "/?");
	if (memchr(a, '@', alen))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "URL %s has user information (user@host); put credentials in a header instead",
				    http_show(s, text, false));
	const char *host = a, *host_end, *after;
	if (*a == '[') {
		const char *close = memchr(a, ']', alen);
		if (!close)
			return pyro_err_set(err, PYRO_EXIT_USAGE, "URL %s has an unclosed '[' in its host",
					    http_show(s, text, false));
		host = a + 1;
		host_end = close;
		after = close + 1;
		char tmp[64];
		unsigned char addr[16];
		size_t hl = (size_t)(host_end - host);
		if (hl == 0 || hl >= sizeof tmp ||
		    (memcpy(tmp, host, hl), tmp[hl] = '\0', inet_pton(AF_INET6, tmp, addr) != 1))
			return pyro_err_set(err, PYRO_EXIT_USAGE, "URL %s has a bad IPv6 address in brackets",
					    http_show(s, text, false));
	} else {
		host_end = a;
		while (host_end < a + alen && *host_end != ':')
			host_end++;
		after = host_end;
		for (const char *h = host; h < host_end; h++)
			if (!host_char(*h))
				return pyro_err_set(err, PYRO_EXIT_USAGE,
						    "URL %s has a bad character '%c' in its host name",
						    http_show(s, text, false), *h);
	}
	if (host_end == host)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "URL %s has no host", http_show(s, text, false));
	if ((size_t)(host_end - host) >= sizeof out->host)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "URL %s: host name longer than %d bytes",
				    http_show(s, text, false), HTTP_HOST_MAX - 1);
	memcpy(out->host, host, (size_t)(host_end - host));
	out->host[host_end - host] = '\0';
	if (after < a + alen) {
		if (*after != ':')
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "URL %s has text after the ']' of its host", http_show(s, text, false));
		if (parse_port(text, after + 1, (size_t)(a + alen - after - 1), &out->port, err))
			return -1;
	}
	return set_target(text, a + alen, out, err);
}

/* RFC 3986 section 5.2.4 on the path part of target (up to '?'), in place. */
static void remove_dot_segments(char *target)
{
	size_t plen = strcspn(target, "?");
	char out[HTTP_TARGET_MAX];
	size_t o = 0;
	const char *in = target, *end = target + plen;
	while (in < end) {
		size_t left = (size_t)(end - in);
		if (left >= 3 && memcmp(in, "/./", 3) == 0) {
			in += 2;
		} else if (left == 2 && memcmp(in, "/.", 2) == 0) {
			in += 1;
			out[o++] = '/';
			break;
		} else if ((left >= 4 && memcmp(in, "/../", 4) == 0) ||
			   (left == 3 && memcmp(in, "/..", 3) == 0)) {
			while (o > 0 && out[--o] != '/')
				;
			if (left == 3) {
				out[o++] = '/';
				break;
			}
			in += 3;
		} else {
			/* Move "/segment" to the output. */
			do
				out[o++] = *in++;
			while (in < end && *in != '/');
		}
	}
	if (o == 0)
		out[o++] = '/';
	/* The result is never longer than the input. */
	memmove(target + o, target + plen, strlen(target + plen) + 1);
	memcpy(target, out, o);
}

static bool has_scheme(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (s++; *s && *s != '/' && *s != '?'; s++) {
		if (*s == ':')
			return true;
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '+' || *s == '-' || *s == '.'))
			return false;
	}
	return false;
}

int http_url_resolve(const struct http_url *base, const char *location,
		     struct http_url *out, struct pyro_err *err)
{
	char s[HTTP_SHOW_MAX];
	char loc[HTTP_TARGET_MAX + HTTP_HOST_MAX + 32];
	if (!location)
		location = "";
	if (check_chars(location, err))
		return pyro_err_wrap(err, "redirect Location");
	/* A fragment belongs to the client's view of the resource; drop it. */
	size_t n = strcspn(location, "#");
	if (n >= sizeof loc - 8)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "redirect Location %s is too long",
				    http_show(s, location, false));
	memcpy(loc, location, n);
	loc[n] = '\0';

	if (has_scheme(loc) || (loc[0] == '/' && loc[1] == '/')) {
		char full[sizeof loc + 8];
		snprintf(full, sizeof full, "%s%s", has_scheme(loc) ? "" : base->tls ? "https:" : "http:",
			 loc);
		if (http_url_parse(full, out, err))
			return pyro_err_wrap(err, "redirect Location");
		remove_dot_segments(out->target);
		return 0;
	}
	struct http_url r = *base;
	char target[HTTP_TARGET_MAX * 2];
	size_t base_path = strcspn(base->target, "?");
	if (loc[0] == '\0') {
		snprintf(target, sizeof target, "%s", base->target);
	} else if (loc[0] == '/') {
		snprintf(target, sizeof target, "%s", loc);
	} else if (loc[0] == '?') {
		snprintf(target, sizeof target, "%.*s%s", (int)base_path, base->target, loc);
	} else {
		size_t dir = base_path;
		while (dir > 0 && base->target[dir - 1] != '/')
			dir--;
		snprintf(target, sizeof target, "%.*s%s", (int)dir, base->target, loc);
	}
	if (strlen(target) >= sizeof r.target)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "redirect Location %s resolves to a path longer than %d bytes",
				    http_show(s, location, false), HTTP_TARGET_MAX - 1);
	memcpy(r.target, target, strlen(target) + 1);
	remove_dot_segments(r.target);
	*out = r;
	return 0;
}

bool http_url_same_origin(const struct http_url *a, const struct http_url *b)
{
	return a->tls == b->tls && a->port == b->port && strcasecmp(a->host, b->host) == 0;
}
