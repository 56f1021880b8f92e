/* Tests for core/http_auth.c (WWW-Authenticate) and core/tlsroots.c. */
#include <stdio.h>
#include <string.h>

#include "../../core/http.h"
#include "../../core/tlsroots.h"
#include "test.h"

static const struct {
	const char *in;
	const char *realm, *service, *scope; /* realm NULL: error */
	const char *error;
} challenges[] = {
	{ "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
	  "scope=\"repository:library/alpine:pull\"",
	  "https://auth.docker.io/token", "registry.docker.io", "repository:library/alpine:pull", NULL },
	{ "bearer REALM=\"https://a/t\", Service=reg", "https://a/t", "reg", "", NULL },
	{ "Basic realm=\"x\", Bearer realm=\"https://a/t\",scope=\"repository:a/b:pull,push\"",
	  "https://a/t", "", "repository:a/b:pull,push", NULL },
	{ "Basic realm=\"x, Bearer realm=fake\", Bearer realm=\"https://a/t\"", "https://a/t", "", "", NULL },
	{ "Negotiate abc123==, Bearer realm=\"https://a/t\"", "https://a/t", "", "", NULL },
	{ "Basic, Bearer realm=\"https://a/t\"", "https://a/t", "", "", NULL },
	{ "Bearer realm = \"https://a/t\" , , service=\"s\"", "https://a/t", "s", "", NULL },
	{ "Bearer realm=\"https://a/t?q=\\\"x\\\"\\\\\"", "https://a/t?q=\"x\"\\", "", "", NULL },
	{ "Bearer realm=\"https://a/t\", error=\"invalid_token\", Bearer realm=\"https://b/\"",
	  "https://a/t", "", "", NULL },
	{ "Bearer realm=\"https://a/t\",scope=\"a\"\t,service=\"b\"", "https://a/t", "b", "a", NULL },
	{ "Basic realm=\"x\"", NULL, NULL, NULL, "has no Bearer challenge" },
	{ "", NULL, NULL, NULL, "has no Bearer challenge" },
	{ "Bearer abc.def==", NULL, NULL, NULL, "has no Bearer challenge" },
	{ "Bearer service=\"s\"", NULL, NULL, NULL, "without a realm" },
	{ "Bearer realm=\"\"", NULL, NULL, NULL, "without a realm" },
	{ "Bearer realm=\"https://a/t", NULL, NULL, NULL, "unterminated quoted string" },
	{ "Bearer realm=\"https://a/t\\", NULL, NULL, NULL, "backslash at the end" },
	{ "Bearer realm=", NULL, NULL, NULL, "" },
	{ "Bearer realm=\"https://a/\" service=\"s\"", NULL, NULL, NULL, "expected a comma" },
	{ "Bearer realm=\"https://a/\", realm=\"https://b/\"", NULL, NULL, NULL, "given twice" },
	{ "=x", NULL, NULL, NULL, "expected an authentication scheme" },
	{ "Bearer realm=\"not a url\"", NULL, NULL, NULL, "Bearer realm" },
	{ "Bearer realm=\"ftp://a/\"", NULL, NULL, NULL, "not absolute http" },
	{ "Bearer realm=\"https://a/\x01\"", NULL, NULL, NULL, "control character" },
};

TEST(http_bearer_challenge_table)
{
	for (size_t i = 0; i < sizeof challenges / sizeof challenges[0]; i++) {
		struct http_challenge ch;
		struct pyro_err err = { 0 };
		int rc = http_parse_bearer_challenge(challenges[i].in, &ch, &err);
		if ((rc == 0) != (challenges[i].realm != NULL))
			fprintf(stderr, "    case %zu \"%s\": rc %d: %s\n", i, challenges[i].in, rc, err.msg);
		if (challenges[i].realm) {
			CHECK(rc == 0);
			CHECK_STR(ch.realm, challenges[i].realm);
			CHECK_STR(ch.service, challenges[i].service);
			CHECK_STR(ch.scope, challenges[i].scope);
		} else {
			CHECK(rc == -1);
			CHECK_CONTAINS(err.msg, challenges[i].error);
			CHECK_CONTAINS(err.msg, "WWW-Authenticate");
		}
	}
}

TEST(http_bearer_challenge_too_long)
{
	char in[4096];
	struct http_challenge ch;
	struct pyro_err err;
	int n = snprintf(in, sizeof in, "Bearer realm=\"https://a/");
	memset(in + n, 'x', 2100);
	snprintf(in + n + 2100, sizeof in - (size_t)n - 2100, "\"");
	CHECK(http_parse_bearer_challenge(in, &ch, &err) == -1);
	CHECK_CONTAINS(err.msg, "realm too long");
	CHECK(http_parse_bearer_challenge(NULL, &ch, &err) == -1);
}

/* An EC P-256 CA and a leaf (not a CA) made with openssl, valid to 2126. */
static const char unit_ca[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBdTCCARqgAwIBAgIUJZh/c9bImYJrVWbFi4w1bVv2Gi4wCgYIKoZIzj0EAwIw\n"
	"FzEVMBMGA1UEAwwMcHlybyB1bml0IENBMCAXDTI2MTEyMzE3MDgyOVoYDzIxMjYx\n"
	"MDMwMTcwODI5WjAXMRUwEwYDVQQDDAxweXJvIHVuaXQgQ0EwWTATBgcqhkjOPQIB\n"
	"BggqhkjOPQMBBwNCAAQMhrRnisQYPK7nDRlKP4x1QGn7Paa4Y/yAOY0Zd3LHO0Wr\n"
	"uiUm/wpLB9Qku6NmReTkfBWP+WAeqj2kcLa6j/lso0IwQDAPBgNVHRMBAf8EBTAD\n"
	"AQH/MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQUnIFfgebLThoV+f+jGxn49XSQ\n"
	"k2IwCgYIKoZIzj0EAwIDSQAwRgIhAKFfRmKlEu4A4/NkfRuTrkz/uWTcgEXrlge3\n"
	"tOm+IZ16AiEAyBJEurrUmDtU2/zb9IMvfSiXhMre018+MEPX27r6uNI=\n"
	"-----END CERTIFICATE-----\n"
;

static const char unit_leaf[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBiDCCAS+gAwIBAgIUIicbCSn8y2jpWHO0GDWY0KEvV5UwCgYIKoZIzj0EAwIw\n"
	"DzENMAsGA1UEAwwEbGVhZjAgFw0yNjExMjMxNzA4MjlaGA8yMTI2MTAzMDE3MDgy\n"
	"OVowDzENMAsGA1UEAwwEbGVhZjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABEMb\n"
	"nb4JKWSlInwvTCQbeuDi3Fh2sCdggyGjPAKdr5DDl2vBKNpIbEW9NzXtLSriBqB4\n"
	"MdxZbV6HVbcWx4ODauSjZzBlMAkGA1UdEwQCMAAwDgYDVR0PAQH/BAQDAgWgMBMG\n"
	"A1UdJQQMMAoGCCsGAQUFBwMBMBQGA1UdEQQNMAuCCWxvY2FsaG9zdDAdBgNVHQ4E\n"
	"FgQUImXB8rBF3/gCHNrUtZBNLkj9likwCgYIKoZIzj0EAwIDRwAwRAIgM2BPY4j7\n"
	"TBtIEwKo4KBaNKvpIiE7fXosAGM4IRQHLEcCIFKfkVCSa7X1b7ihwfDwZ6wXYBxj\n"
	"kfHpGVFMi4E6dMT1\n"
	"-----END CERTIFICATE-----\n"
;

TEST(tlsroots_decode_keeps_cas_only)
{
	br_x509_trust_anchor *ta = NULL;
	size_t n = 0;
	struct pyro_err err = { 0 };
	char mixed[sizeof unit_ca + sizeof unit_leaf + 64];
	snprintf(mixed, sizeof mixed, "junk\n%s%s-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		 unit_leaf, unit_ca);
	CHECK(tlsroots_decode(mixed, strlen(mixed), "mixed.pem", &ta, &n, &err) == 0);
	CHECK(n == 1);
	CHECK(ta[0].flags == BR_X509_TA_CA);
	CHECK(ta[0].pkey.key_type == BR_KEYTYPE_EC);
	CHECK(ta[0].pkey.key.ec.qlen == 65);
	CHECK(ta[0].dn.len > 10);
	tlsroots_free(ta, n);

	/* Without a trailing newline, and twice. */
	char twice[2 * sizeof unit_ca];
	snprintf(twice, sizeof twice, "%s%s", unit_ca, unit_ca);
	CHECK(tlsroots_decode(twice, strlen(twice) - 1, "twice.pem", &ta, &n, &err) == 0);
	CHECK(n == 2);
	tlsroots_free(ta, n);

	CHECK(tlsroots_decode(unit_leaf, strlen(unit_leaf), "leaf.pem", &ta, &n, &err) == -1);
	CHECK_CONTAINS(err.msg, "CA bundle leaf.pem holds no usable CA certificate (1 PEM");
	CHECK(tlsroots_decode("", 0, "empty.pem", &ta, &n, &err) == -1);
	CHECK_CONTAINS(err.msg, "empty.pem");
	CHECK(tlsroots_load("/nonexistent/ca.pem", &ta, &n, &err) == -1);
	CHECK_CONTAINS(err.msg, "cannot read CA bundle /nonexistent/ca.pem");
}

TEST(http_client_load_ca_file_names_the_file)
{
	struct http_client c;
	struct pyro_err err = { 0 };
	char path[512];
	http_client_init(&c);
	CHECK(c.io_timeout_ms == 30000 && c.max_redirects == 5);
	CHECK(strncmp(c.user_agent, "pyro/", 5) == 0);
	snprintf(path, sizeof path, "%s/ca.pem", test_tmpdir());
	FILE *f = fopen(path, "w");
	CHECK(f);
	fputs(unit_ca, f);
	fclose(f);
	CHECK(http_client_load_ca_file(&c, path, &err) == 0);
	CHECK(c.anchor_count == 1);
	CHECK_STR(c.ca_file, path);
	/* Loading again replaces, without leaking. */
	CHECK(http_client_load_ca_file(&c, path, &err) == 0);
	CHECK(c.anchor_count == 1);
	http_client_release(&c);
	CHECK(c.anchor_count == 0);
}
