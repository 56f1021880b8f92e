/* Fuzz the parsers the HTTP client applies to what servers send besides
 * the response framing: WWW-Authenticate challenges and redirect
 * Locations, and the URL parser under both. The first byte picks the
 * target, the rest is its input. Properties:
 *  - a parsed Bearer challenge has a realm that is itself an http(s) URL,
 *    and a refused one a message naming WWW-Authenticate;
 *  - a parsed URL has a host, a port in 1..65535, a target starting with
 *    '/', no byte <= 0x20 and no '#'; written back out it parses to the
 *    same fields (round trip);
 *  - a resolved Location is a parsed URL whose path has no "." or ".."
 *    segment left; an absolute-path or relative Location keeps the
 *    origin, so only those may keep the Authorization header. */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

#include "../../core/http.h"

static void check_url(const struct http_url *u)
{
	FUZZ_ASSERT(u->host[0] != '\0');
	FUZZ_ASSERT(u->port >= 1 && u->port <= 65535);
	FUZZ_ASSERT(u->target[0] == '/');
	for (const unsigned char *p = (const unsigned char *)u->target; *p; p++)
		FUZZ_ASSERT(*p > 0x20 && *p < 0x7f && *p != '#');
	char text[HTTP_TARGET_MAX + HTTP_HOST_MAX + 32];
	bool v6 = strchr(u->host, ':') != NULL;
	snprintf(text, sizeof text, "%s://%s%s%s:%u%s", u->tls ? "https" : "http", v6 ? "[" : "",
		 u->host, v6 ? "]" : "", u->port, u->target);
	struct http_url again;
	struct pyro_err err;
	FUZZ_ASSERT(http_url_parse(text, &again, &err) == 0);
	FUZZ_ASSERT(again.tls == u->tls && again.port == u->port);
	FUZZ_ASSERT(strcmp(again.host, u->host) == 0 && strcmp(again.target, u->target) == 0);
}

static void check_no_dots(const char *target)
{
	size_t n = strcspn(target, "?");
	for (size_t i = 0; i < n; i++) {
		if (target[i] != '/')
			continue;
		size_t seg = strcspn(target + i + 1, "/?");
		if (i + 1 + seg > n)
			seg = n - i - 1;
		FUZZ_ASSERT(!(seg == 1 && target[i + 1] == '.'));
		FUZZ_ASSERT(!(seg == 2 && target[i + 1] == '.' && target[i + 2] == '.'));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 20000)
		return 0;
	int mode = data[0] % 3;
	char *text = malloc(size);
	FUZZ_ASSERT(text);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	struct pyro_err err;
	err.msg[0] = '\0';
	if (mode == 0) {
		struct http_challenge ch;
		if (http_parse_bearer_challenge(text, &ch, &err) == 0) {
			struct http_url u;
			FUZZ_ASSERT(ch.realm[0] != '\0');
			FUZZ_ASSERT(http_url_parse(ch.realm, &u, &err) == 0);
			check_url(&u);
		} else {
			FUZZ_ASSERT(strstr(err.msg, "WWW-Authenticate") != NULL);
		}
	} else if (mode == 1) {
		struct http_url u;
		if (http_url_parse(text, &u, &err) == 0)
			check_url(&u);
		else
			FUZZ_ASSERT(err.msg[0] != '\0');
	} else {
		/* "base\nlocation" */
		char *nl = strchr(text, '\n');
		struct http_url base, out;
		if (nl) {
			*nl = '\0';
			if (http_url_parse(text, &base, &err) == 0) {
				const char *loc = nl + 1;
				if (http_url_resolve(&base, loc, &out, &err) == 0) {
					check_url(&out);
					check_no_dots(out.target);
					bool local = loc[0] == '/' ? loc[1] != '/'
						   : strcspn(loc, ":/?#") == strlen(loc) ||
						     loc[strcspn(loc, ":/?#")] != ':';
					if (local)
						FUZZ_ASSERT(http_url_same_origin(&base, &out));
				} else {
					FUZZ_ASSERT(err.msg[0] != '\0');
				}
			}
		}
	}
	free(text);
	return 0;
}
