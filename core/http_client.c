/* The HTTP client's requests: trust anchors, the request head, redirects,
 * and reading the body through the pure parser (httpresp.h). Connections
 * and TLS are in http_conn.c.
 *
 * Redirects: 301, 302, 303, 307 and 308 with a Location are followed up to
 * max_redirects. 303 turns any method but HEAD into a GET without body, and
 * so do 301/302 for POST (what browsers and curl do); everything else keeps
 * its method and body. Once a redirect leaves the origin, Authorization is
 * dropped for the rest of the chain, even if a later hop comes back. */
#include "http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "exitcodes.h"
#include "fault.h"
#include "tlsroots.h"

#ifndef PYRO_VERSION
#define PYRO_VERSION "0.0.0"
#endif

void http_client_init(struct http_client *c)
{
	memset(c, 0, sizeof *c);
	c->io_timeout_ms = 30000;
	c->max_redirects = 5;
	c->user_agent = "pyro/" PYRO_VERSION;
}

void http_client_release(struct http_client *c)
{
	tlsroots_free(c->anchors, c->anchor_count);
	c->anchors = NULL;
	c->anchor_count = 0;
	c->ca_file[0] = '\0';
}

int http_client_load_ca_file(struct http_client *c, const char *path, struct pyro_err *err)
{
	br_x509_trust_anchor *ta;
	size_t n;
	if (strlen(path) >= sizeof c->ca_file)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "CA bundle path is too long");
	if (tlsroots_load(path, &ta, &n, err))
		return -1;
	tlsroots_free(c->anchors, c->anchor_count);
	c->anchors = ta;
	c->anchor_count = n;
	snprintf(c->ca_file, sizeof c->ca_file, "%s", path);
	return 0;
}

static int ensure_anchors(struct http_client *c, struct pyro_err *err)
{
	static const char *const files[] = {
		"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
		"/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem",
	};
	static const char *const vars[] = { "PYRO_CA_BUNDLE", "SSL_CERT_FILE" };
	if (c->anchor_count)
		return 0;
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i]);
		if (v && *v) {
			if (http_client_load_ca_file(c, v, err))
				return pyro_err_wrap(err, "%s", vars[i]);
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		if (access(files[i], R_OK) == 0)
			return http_client_load_ca_file(c, files[i], err);
	return pyro_err_set(err, PYRO_EXIT_FAILURE,
			    "no CA bundle found for https (looked at /etc/ssl/certs/ca-certificates.crt "
			    "and the other usual places); install ca-certificates or set PYRO_CA_BUNDLE");
}

/* Header names the client writes itself; the caller may not. */
static bool reserved_header(const char *h, size_t n)
{
	static const char *const names[] = { "Host", "Connection", "Content-Length",
					     "Transfer-Encoding" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i]) == n && strncasecmp(h, names[i], n) == 0)
			return true;
	return false;
}

static bool caller_sets(const char *const *headers, const char *name)
{
	size_t n = strlen(name);
	for (; headers && *headers; headers++)
		if (strncasecmp(*headers, name, n) == 0 && (*headers)[n] == ':')
			return true;
	return false;
}

static int check_headers(const char *const *headers, struct pyro_err *err)
{
	for (; headers && *headers; headers++) {
		const char *h = *headers, *colon = strchr(h, ':');
		if (!colon || colon == h || strpbrk(h, "\r\n") || strcspn(h, " \t") < (size_t)(colon - h))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "request header \"%.100s\" is not \"Name: value\" on one line", h);
		if (reserved_header(h, (size_t)(colon - h)))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "request header %.*s is set by the HTTP client itself",
					    (int)(colon - h), h);
	}
	return 0;
}

static int build_head(struct buf *b, struct http_client *c, const struct http_url *u,
		      const char *method, const char *const *headers, bool send_auth,
		      bool has_body, size_t body_len)
{
	bool v6 = strchr(u->host, ':') != NULL;
	bool default_port = u->port == (u->tls ? 443u : 80u);
	int rc = buf_printf(b, "%s %s HTTP/1.1\r\nHost: %s%s%s", method, u->target,
			    v6 ? "[" : "", u->host, v6 ? "]" : "");
	if (!default_port)
		rc |= buf_printf(b, ":%u", u->port);
	rc |= buf_append_str(b, "\r\nConnection: close\r\n");
	if (!caller_sets(headers, "User-Agent"))
		rc |= buf_printf(b, "User-Agent: %s\r\n", c->user_agent ? c->user_agent : "pyro");
	if (!caller_sets(headers, "Accept-Encoding"))
		rc |= buf_append_str(b, "Accept-Encoding: identity\r\n");
	if (has_body)
		rc |= buf_printf(b, "Content-Length: %zu\r\n", body_len);
	for (; headers && *headers; headers++) {
		if (!send_auth && strncasecmp(*headers, "Authorization:", 14) == 0)
			continue;
		rc |= buf_printf(b, "%s\r\n", *headers);
	}
	rc |= buf_append_str(b, "\r\n");
	return rc ? -1 : 0;
}

/* Read the head of the response on conn into conn->parser. */
static int read_head(struct http_conn *conn, const char *url, struct pyro_err *err)
{
	while (conn->parser.state == HTTPRESP_HEAD) {
		const char *data, *body;
		size_t len, body_len;
		if (http_conn_peek(conn, &data, &len, err))
			return pyro_err_wrap(err, "reading the response from %s", url);
		if (len == 0) {
			httpresp_eof(&conn->parser);
			break;
		}
		long used = httpresp_feed(&conn->parser, data, len, &body, &body_len);
		if (used < 0)
			break;
		http_conn_ack(conn, (size_t)used);
	}
	if (conn->parser.state == HTTPRESP_ERROR)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "malformed HTTP response from %s: %s",
				    url, httpresp_error(&conn->parser));
	return 0;
}

/* One request on a new connection; *out holds the response head. */
static int exchange(struct http_client *c, const struct http_url *u, const char *url,
		    const char *method, const struct http_request *req, bool send_auth,
		    bool send_body, struct http_conn **out, struct pyro_err *err)
{
	struct http_conn *conn;
	struct buf head = BUF_INIT;
	if (u->tls && ensure_anchors(c, err))
		return -1;
	if (http_conn_open(c, u, &conn, err))
		return -1;
	httpresp_init(&conn->parser, method);
	bool has_body = send_body && (req->body || strcmp(method, "PUT") == 0 ||
				      strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0);
	size_t body_len = send_body && req->body ? req->body_len : 0;
	if (build_head(&head, c, u, method, req->headers, send_auth, has_body, body_len)) {
		pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory building the request for %s", url);
		goto fail;
	}
	if (http_conn_write(conn, head.data, head.len, err) ||
	    (body_len && http_conn_write(conn, req->body, body_len, err)) ||
	    http_conn_flush(conn, err)) {
		pyro_err_wrap(err, "sending the request to %s", url);
		goto fail;
	}
	if (read_head(conn, url, err))
		goto fail;
	buf_release(&head);
	*out = conn;
	return 0;
fail:
	buf_release(&head);
	http_conn_close(conn);
	return -1;
}

static bool is_redirect(int status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Copy the head out of the parser so the response owns it. */
static int take_head(struct http_response *resp, struct http_conn *conn)
{
	struct httpresp *p = &conn->parser;
	resp->storage = pyro_malloc(p->head.len + 1);
	if (!resp->storage)
		return -1;
	memcpy(resp->storage, p->head.data, p->head.len + 1);
	resp->status = p->status;
	snprintf(resp->reason, sizeof resp->reason, "%s", p->reason);
	resp->header_count = p->header_count;
	for (size_t i = 0; i < p->header_count; i++) {
		resp->headers[i].name = resp->storage + (p->headers[i].name - p->head.data);
		resp->headers[i].value = resp->storage + (p->headers[i].value - p->head.data);
	}
	/* For HEAD this is the size a GET would send (no body follows). */
	resp->content_length = p->content_length;
	resp->conn = conn;
	return 0;
}

int http_open(struct http_client *c, const struct http_request *req,
	      struct http_response *resp, struct pyro_err *err)
{
	memset(resp, 0, sizeof *resp);
	const char *method = req->method ? req->method : "GET";
	struct http_url u;
	char url[HTTP_TARGET_MAX + HTTP_HOST_MAX + 32];
	if (http_url_parse(req->url, &u, err) || check_headers(req->headers, err))
		return -1;
	snprintf(url, sizeof url, "%s", req->url);
	bool send_auth = true, send_body = true;
	for (int hop = 0;; hop++) {
		if (!u.tls && !http_host_is_loopback(u.host))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "refusing plain http to %s: only loopback hosts (localhost, "
					    "127.0.0.0/8, ::1) may use http://; use https://", u.host);
		struct http_conn *conn;
		if (exchange(c, &u, url, method, req, send_auth, send_body, &conn, err))
			return -1;
		const char *loc = httpresp_header(&conn->parser, "Location");
		if (req->no_redirects || !is_redirect(conn->parser.status) || !loc) {
			resp->url = u;
			resp->redirects = hop;
			if (take_head(resp, conn)) {
				http_conn_close(conn);
				return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
			}
			return 0;
		}
		int status = conn->parser.status;
		struct http_url next;
		int rc = http_url_resolve(&u, loc, &next, err);
		http_conn_close(conn);
		if (rc)
			return pyro_err_wrap(err, "following the redirect from %s", url);
		if (hop >= c->max_redirects)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "too many redirects (%d) starting at %.300s", hop + 1, req->url);
		if (u.tls && !next.tls)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "refusing the redirect from %s to plain http (%s:%u)", url,
					    next.host, next.port);
		if (!http_url_same_origin(&u, &next))
			send_auth = false;
		if ((status == 303 && strcasecmp(method, "HEAD") != 0) ||
		    ((status == 301 || status == 302) && strcasecmp(method, "POST") == 0)) {
			method = "GET";
			send_body = false;
		}
		bool v6 = strchr(next.host, ':') != NULL;
		snprintf(url, sizeof url, "%s://%s%s%s:%u%s", next.tls ? "https" : "http",
			 v6 ? "[" : "", next.host, v6 ? "]" : "", next.port, next.target);
		u = next;
	}
}

const char *http_header(const struct http_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->header_count; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

long http_read(struct http_response *resp, void *dst, size_t cap, struct pyro_err *err)
{
	struct http_conn *conn = resp->conn;
	if (!conn)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "http_read on a closed response");
	struct httpresp *p = &conn->parser;
	while (cap > 0 && p->state == HTTPRESP_BODY) {
		const char *data, *body;
		size_t len, body_len;
		if (http_conn_peek(conn, &data, &len, err))
			return pyro_err_wrap(err, "reading the body from %s", conn->name);
		if (len == 0) {
			if (p->framing == HTTPRESP_CLOSE && !conn->clean_eof)
				return pyro_err_set(err, PYRO_EXIT_FAILURE,
						    "%s closed the connection without TLS close_notify "
						    "after %llu body bytes; the body may be truncated",
						    conn->name, (unsigned long long)p->body_bytes);
			if (httpresp_eof(p))
				break;
			return 0;
		}
		long used = httpresp_feed(p, data, len < cap ? len : cap, &body, &body_len);
		if (used < 0)
			break;
		if (body_len)
			memcpy(dst, body, body_len);
		http_conn_ack(conn, (size_t)used);
		if (body_len)
			return (long)body_len;
	}
	if (p->state == HTTPRESP_ERROR)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "bad response body from %s: %s",
				    conn->name, httpresp_error(p));
	return 0;
}

int http_read_all(struct http_response *resp, struct buf *out, size_t max, struct pyro_err *err)
{
	char chunk[16384];
	size_t start = out->len;
	struct http_conn *conn = resp->conn;
	if (conn && conn->parser.framing == HTTPRESP_LENGTH &&
	    (uint64_t)resp->content_length > max)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the response body is %lld bytes, more than the %zu allowed",
				    (long long)resp->content_length, max);
	for (;;) {
		long n = http_read(resp, chunk, sizeof chunk, err);
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (out->len - start + (size_t)n > max)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "the response body is more than the %zu bytes allowed", max);
		if (buf_append(out, chunk, (size_t)n) < 0)
			return pyro_err_sys(err, errno, "storing the response body");
	}
}

void http_close(struct http_response *resp)
{
	if (!resp)
		return;
	http_conn_close(resp->conn);
	resp->conn = NULL;
	free(resp->storage);
	resp->storage = NULL;
	resp->header_count = 0;
}
