/* Tests for core/http_url.c and the redirect origin rule. */
#include <stdio.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/http.h"
#include "../../core/http_internal.h"
#include "test.h"

static const struct {
	const char *in;
	bool tls;
	const char *host;
	unsigned port;
	const char *target;
} good[] = {
	{ "https://registry-1.docker.io/v2/", true, "registry-1.docker.io", 443, "/v2/" },
	{ "HTTPS://Example.COM", true, "Example.COM", 443, "/" },
	{ "http://localhost:5000/v2/a/b/manifests/latest", false, "localhost", 5000,
	  "/v2/a/b/manifests/latest" },
	{ "https://h?x=1", true, "h", 443, "/?x=1" },
	{ "https://h:8443/p?q=a/b&c=%20", true, "h", 8443, "/p?q=a/b&c=%20" },
	{ "https://[::1]:5000/x", true, "::1", 5000, "/x" },
	{ "http://[2001:db8::7]/", false, "2001:db8::7", 80, "/" },
	{ "https://127.0.0.1:65535/", true, "127.0.0.1", 65535, "/" },
	{ "https://a_b.example/", true, "a_b.example", 443, "/" },
};

static const struct {
	const char *in;
	const char *error;
} bad[] = {
	{ "", "empty URL" },
	{ "ftp://h/", "not absolute http:// or https://" },
	{ "/v2/", "not absolute" },
	{ "https:/h/", "not absolute" },
	{ "https://user:pw@h/", "user information" },
	{ "https://user@h/", "user information" },
	{ "https://h/#frag", "fragment" },
	{ "https:///path", "has no host" },
	{ "https://:443/", "has no host" },
	{ "https://h:0/", "bad port" },
	{ "https://h:65536/", "bad port" },
	{ "https://h:/", "bad port" },
	{ "https://h:12ab/", "bad port" },
	{ "https://h:000443/", "bad port" },
	{ "https://h /", "space, control character" },
	{ "https://h/a b", "space, control character" },
	{ "https://h/\x01", "space, control character" },
	{ "https://h/\xc3\xa9", "non-ASCII" },
	{ "https://[::1/", "unclosed '['" },
	{ "https://[]/", "bad IPv6" },
	{ "https://[zz::1]/", "bad IPv6" },
	{ "https://[::1]x/", "text after the ']'" },
	{ "https://h!st/", "bad character '!'" },
	{ "https://h:1:2/", "bad port" },
};

TEST(http_url_parse_table)
{
	struct pyro_err err;
	struct http_url u;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (http_url_parse(good[i].in, &u, &err))
			fprintf(stderr, "    %s: %s\n", good[i].in, err.msg);
		CHECK(http_url_parse(good[i].in, &u, &err) == 0);
		CHECK(u.tls == good[i].tls);
		CHECK_STR(u.host, good[i].host);
		CHECK(u.port == good[i].port);
		CHECK_STR(u.target, good[i].target);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err.msg[0] = '\0';
		if (http_url_parse(bad[i].in, &u, &err) == 0)
			fprintf(stderr, "    accepted: %s\n", bad[i].in);
		CHECK(http_url_parse(bad[i].in, &u, &err) == -1);
		CHECK_CONTAINS(err.msg, bad[i].error);
		CHECK(err.code == PYRO_EXIT_USAGE);
	}
}

TEST(http_url_parse_limits)
{
	char text[HTTP_TARGET_MAX + 64];
	struct http_url u;
	struct pyro_err err;
	snprintf(text, sizeof text, "https://h/");
	memset(text + 10, 'a', HTTP_TARGET_MAX - 2);
	text[10 + HTTP_TARGET_MAX - 2] = '\0'; /* target of HTTP_TARGET_MAX - 1 bytes */
	CHECK(http_url_parse(text, &u, &err) == 0);
	text[10 + HTTP_TARGET_MAX - 2] = 'a';
	text[10 + HTTP_TARGET_MAX - 1] = '\0';
	CHECK(http_url_parse(text, &u, &err) == -1);
	CHECK_CONTAINS(err.msg, "longer than");
	snprintf(text, sizeof text, "https://");
	memset(text + 8, 'h', HTTP_HOST_MAX);
	text[8 + HTTP_HOST_MAX] = '\0';
	CHECK(http_url_parse(text, &u, &err) == -1);
	CHECK_CONTAINS(err.msg, "host name longer");
}

static const struct {
	const char *base;
	const char *loc;
	const char *want; /* scheme://host:port/target, or "!error substring" */
} resolves[] = {
	{ "https://r.io/v2/a/b/blobs/sha", "https://cdn.example/x?sig=1", "https://cdn.example:443/x?sig=1" },
	{ "https://r.io/v2/a", "//cdn.example:8443/y", "https://cdn.example:8443/y" },
	{ "http://localhost:5000/v2/a", "//127.0.0.1/y", "http://127.0.0.1:80/y" },
	{ "https://r.io:444/v2/a/b", "/token?x=1", "https://r.io:444/token?x=1" },
	{ "https://r.io/v2/a/b?q=1", "c/d", "https://r.io:443/v2/a/c/d" },
	{ "https://r.io/v2/a/b", "../c", "https://r.io:443/v2/c" },
	{ "https://r.io/v2/a/b", "../../../../c", "https://r.io:443/c" },
	{ "https://r.io/v2/a/b", "./c/./d/../e", "https://r.io:443/v2/a/c/e" },
	{ "https://r.io/v2/a/b", "..", "https://r.io:443/v2/" },
	{ "https://r.io/v2/a/b", ".", "https://r.io:443/v2/a/" },
	{ "https://r.io/v2/a/b?x", "?y=2", "https://r.io:443/v2/a/b?y=2" },
	{ "https://r.io/v2/a/b?x", "", "https://r.io:443/v2/a/b?x" },
	{ "https://r.io/v2/a/b", "/c#frag", "https://r.io:443/c" },
	{ "https://r.io/v2/a/b", "/a/b/../../c?p=../x", "https://r.io:443/c?p=../x" },
	{ "https://r.io/", "HTTPS://Other.io/p/./q", "https://Other.io:443/p/q" },
	{ "https://r.io/", "http://plain/", "http://plain:80/" },
	{ "https://r.io/", "ftp://x/", "!not absolute http" },
	{ "https://r.io/", "https://u@x/", "!user information" },
	{ "https://r.io/", "/a b", "!space, control character" },
	{ "https://r.io/", "//", "!has no host" },
	{ "https://[::1]:5000/a/b", "c", "https://[::1]:5000/a/c" },
};

static void fmt(char *dst, size_t cap, const struct http_url *u)
{
	bool v6 = strchr(u->host, ':') != NULL;
	snprintf(dst, cap, "%s://%s%s%s:%u%s", u->tls ? "https" : "http", v6 ? "[" : "", u->host,
		 v6 ? "]" : "", u->port, u->target);
}

TEST(http_url_resolve_table)
{
	for (size_t i = 0; i < sizeof resolves / sizeof resolves[0]; i++) {
		struct http_url base, out;
		struct pyro_err err = { 0 };
		char got[HTTP_TARGET_MAX + HTTP_HOST_MAX + 32];
		CHECK(http_url_parse(resolves[i].base, &base, &err) == 0);
		int rc = http_url_resolve(&base, resolves[i].loc, &out, &err);
		if (rc == 0)
			fmt(got, sizeof got, &out);
		else
			snprintf(got, sizeof got, "!%s", err.msg);
		if (resolves[i].want[0] == '!') {
			CHECK(rc == -1);
			CHECK_CONTAINS(got, resolves[i].want + 1);
		} else {
			CHECK_STR(got, resolves[i].want);
		}
	}
}

/* The rule http_open applies: Authorization goes only to the same origin. */
TEST(http_redirect_origin_rule)
{
	static const struct {
		const char *a, *b;
		bool same;
	} t[] = {
		{ "https://r.io/v2/", "https://R.IO:443/other", true },
		{ "https://r.io/v2/", "https://r.io:8443/v2/", false },
		{ "https://r.io/v2/", "http://r.io:443/v2/", false },
		{ "https://r.io/v2/", "https://cdn.r.io/v2/", false },
		{ "http://localhost:5000/", "http://localhost:5001/", false },
		{ "http://localhost/", "http://localhost:80/", true },
		{ "https://[::1]/", "https://[0::1]/", false }, /* textual compare, safe side */
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct http_url a, b;
		CHECK(http_url_parse(t[i].a, &a, NULL) == 0 && http_url_parse(t[i].b, &b, NULL) == 0);
		CHECK(http_url_same_origin(&a, &b) == t[i].same);
		CHECK(http_url_same_origin(&b, &a) == t[i].same);
	}
	/* A relative redirect stays on the origin; a scheme-relative one may not. */
	struct http_url base, next;
	CHECK(http_url_parse("https://r.io/v2/x", &base, NULL) == 0);
	CHECK(http_url_resolve(&base, "/blob", &next, NULL) == 0 && http_url_same_origin(&base, &next));
	CHECK(http_url_resolve(&base, "//s3.example/blob", &next, NULL) == 0 &&
	      !http_url_same_origin(&base, &next));
}

TEST(http_loopback_names)
{
	CHECK(http_host_is_loopback("localhost"));
	CHECK(http_host_is_loopback("LocalHost"));
	CHECK(http_host_is_loopback("127.0.0.1"));
	CHECK(http_host_is_loopback("127.255.0.9"));
	CHECK(http_host_is_loopback("::1"));
	CHECK(!http_host_is_loopback("128.0.0.1"));
	CHECK(!http_host_is_loopback("localhost.example.com"));
	CHECK(!http_host_is_loopback("127.0.0.1.nip.io"));
	CHECK(!http_host_is_loopback("::2"));
	CHECK(!http_host_is_loopback("10.0.0.1"));
}

TEST(http_open_refuses_plain_http_off_loopback)
{
	struct http_client c;
	struct http_response resp;
	struct pyro_err err = { 0 };
	http_client_init(&c);
	struct http_request req = { .method = "GET", .url = "http://registry.example.invalid/v2/" };
	CHECK(http_open(&c, &req, &resp, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "refusing plain http to registry.example.invalid");
	const char *hdrs[] = { "Host: evil", NULL };
	struct http_request req2 = { .method = "GET", .url = "http://localhost:1/", .headers = hdrs };
	CHECK(http_open(&c, &req2, &resp, &err) == -1);
	CHECK_CONTAINS(err.msg, "request header Host is set by the HTTP client");
	const char *hdrs2[] = { "X-A: b\r\nX-Injected: 1", NULL };
	req2.headers = hdrs2;
	CHECK(http_open(&c, &req2, &resp, &err) == -1);
	CHECK_CONTAINS(err.msg, "on one line");
	http_close(&resp); /* safe on a failed open */
	http_client_release(&c);
}
