/* A small HTTP/1.1 client for HTTPS (BearSSL) and, for loopback test
 * servers only, plain HTTP. It exists for the OCI registry client: GET and
 * HEAD (and PUT/POST for tools), redirects, per-I/O deadlines, bodies framed
 * by Content-Length, chunked encoding or connection close.
 *
 * Pull-style: http_open() sends the request, follows redirects and returns
 * once the final response's status line and headers are in; the caller
 * looks at the status and headers, then reads the body with http_read()
 * until it returns 0, and always calls http_close().
 *
 * One connection per request ("Connection: close"): no pooling, so nothing
 * outlives http_close().
 *
 * Security rules the caller can rely on:
 *  - https:// verifies the server certificate against the trust anchors of
 *    the client (http_client_init) and the host name (SNI + name check).
 *  - http:// is refused unless the host is a loopback name or address
 *    (localhost, 127.0.0.0/8, ::1): plaintext never leaves the machine.
 *  - On a redirect to another origin (scheme, host or port differs) the
 *    request's Authorization header is dropped, so a registry token never
 *    reaches blob storage. A redirect from https to http is refused.
 *  - A body that ends before its Content-Length or last chunk is an error,
 *    never a short success (servers often close without TLS close_notify).
 */
#ifndef PYRO_HTTP_H
#define PYRO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define HTTP_HOST_MAX 256
#define HTTP_TARGET_MAX 8192

struct http_url {
	bool tls;                    /* https */
	char host[HTTP_HOST_MAX];    /* without brackets for IPv6 literals */
	unsigned port;               /* explicit or the scheme's default */
	char target[HTTP_TARGET_MAX]; /* path + "?query", at least "/" */
};

/* Parse an absolute http:// or https:// URL. Userinfo and fragments are
 * refused (the error names the URL and what is wrong). */
int http_url_parse(const char *text, struct http_url *out, struct pyro_err *err);

/* Resolve a Location header value (absolute, scheme-relative "//host/..",
 * absolute-path "/..", or relative "x/y") against base. */
int http_url_resolve(const struct http_url *base, const char *location,
		     struct http_url *out, struct pyro_err *err);

/* Same scheme, host (case-insensitive) and port. */
bool http_url_same_origin(const struct http_url *a, const struct http_url *b);

/* Trust anchors and settings shared by requests. Not thread-safe; one per
 * thread or guarded by the caller. */
struct http_client {
	void *anchors;             /* private: decoded trust anchors */
	size_t anchor_count;
	char ca_file[4096];        /* the PEM bundle loaded, for messages */
	int io_timeout_ms;         /* no progress for this long fails the request; default 30000 */
	int max_redirects;         /* default 5 */
	const char *user_agent;    /* default "pyro/VERSION" */
};

/* Set defaults. Trust anchors are loaded on the first https request from
 * the first readable of: $PYRO_CA_BUNDLE, $SSL_CERT_FILE,
 * /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt,
 * /etc/ssl/ca-bundle.pem, /etc/ssl/cert.pem. A set-but-unreadable
 * $PYRO_CA_BUNDLE or $SSL_CERT_FILE is an error, not a fallback. */
void http_client_init(struct http_client *c);
void http_client_release(struct http_client *c);

/* Load trust anchors from one PEM file now (tests; also what the lazy load
 * calls). Fails naming the file when it holds no usable certificate. */
int http_client_load_ca_file(struct http_client *c, const char *path, struct pyro_err *err);

struct http_request {
	const char *method;          /* "GET", "HEAD", "PUT", "POST", "PATCH" */
	const char *url;             /* absolute */
	const char *const *headers;  /* "Name: value" strings, NULL-terminated; may be NULL */
	const void *body;            /* request body for PUT/POST/PATCH, or NULL */
	size_t body_len;
	bool no_redirects;           /* return 3xx responses to the caller */
};

#define HTTP_MAX_HEADERS 64

struct http_response {
	int status;                  /* e.g. 200 */
	char reason[128];
	struct http_url url;         /* the URL that produced this response (after redirects) */
	size_t header_count;
	struct { char *name; char *value; } headers[HTTP_MAX_HEADERS]; /* point into storage */
	char *storage;               /* private */
	int redirects;               /* how many were followed */
	int64_t content_length;      /* -1 when not given (chunked or close-delimited);
	                              * for HEAD, the size a GET would return */
	void *conn;                  /* private: the open connection */
};

/* Send the request and read the final response's head. On success the
 * caller must http_close(resp), whatever the status. Errors name the URL:
 * "cannot connect to localhost:5000: Connection refused",
 * "TLS handshake with localhost:5000 failed: the server certificate is not
 * signed by a trusted CA (CA bundle /etc/ssl/certs/ca-certificates.crt)",
 * "localhost:5000 did not answer within 30 s", "too many redirects (6)
 * starting at https://...", "malformed HTTP response from ...: ...". */
int http_open(struct http_client *c, const struct http_request *req,
	      struct http_response *resp, struct pyro_err *err);

/* Header value by case-insensitive name (first occurrence), or NULL. */
const char *http_header(const struct http_response *resp, const char *name);

/* Read up to cap body bytes: returns the count, 0 at the end of the body,
 * -1 on error (truncated body, timeout, TLS failure, bad chunk framing). */
long http_read(struct http_response *resp, void *dst, size_t cap, struct pyro_err *err);

/* Read the rest of the body into out, failing when it exceeds max bytes. */
int http_read_all(struct http_response *resp, struct buf *out, size_t max, struct pyro_err *err);

/* Close the connection and free the response. Safe on a zeroed or
 * already-closed response. */
void http_close(struct http_response *resp);

/* The response parser under http_open/http_read is pure (no I/O) and lives
 * in httpresp.h, so unit tests and the fuzz target can feed it bytes. */

/* Parse a WWW-Authenticate value and pick its Bearer challenge (RFC 7235
 * auth-params, quoted-string escapes, several challenges in one header).
 * Fails naming the header when there is no Bearer challenge or no realm. */
struct http_challenge {
	char realm[2048];            /* absolute URL of the token service */
	char service[512];           /* may be empty */
	char scope[1024];            /* may be empty */
};
int http_parse_bearer_challenge(const char *value, struct http_challenge *out,
				struct pyro_err *err);

#endif
