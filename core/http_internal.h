/* Private to the HTTP client (http_conn.c, http_client.c): one connection,
 * plain or TLS, with per-I/O deadlines. Not for other modules. */
#ifndef PYRO_HTTP_INTERNAL_H
#define PYRO_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <bearssl.h>

#include "http.h"
#include "httpresp.h"

struct http_conn {
	int fd;
	bool tls;
	bool eof;              /* the peer finished sending */
	bool clean_eof;        /* ... with TLS close_notify, or plain TCP */
	bool peer_talking;     /* TLS: the server answered before we finished sending */
	int timeout_ms;
	char name[HTTP_HOST_MAX + 16]; /* "host:port" for messages */
	char ca_file[4096];
	struct httpresp parser;
	/* Plain HTTP: received bytes not yet parsed. */
	char rbuf[16384];
	size_t rpos, rlen;
	/* TLS. */
	br_ssl_client_context sc;
	br_x509_minimal_context xc;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* s made safe to quote in a message: at most 200 bytes, then "...";
 * control characters, non-ASCII (and spaces unless `spaces`) as '?'. */
#define HTTP_SHOW_MAX 208
const char *http_show(char dst[HTTP_SHOW_MAX], const char *s, bool spaces);

/* localhost, 127.0.0.0/8 or ::1, by name or literal (no resolving). */
bool http_host_is_loopback(const char *host);

/* Connect (every address getaddrinfo gives, each within the timeout) and,
 * for https, handshake. Plain http connects only to loopback addresses.
 * *out is heap-allocated; http_conn_close frees it. */
int http_conn_open(struct http_client *c, const struct http_url *u,
		   struct http_conn **out, struct pyro_err *err);
/* Queue and send bytes; http_conn_flush pushes out what TLS buffered. */
int http_conn_write(struct http_conn *conn, const void *data, size_t len,
		    struct pyro_err *err);
int http_conn_flush(struct http_conn *conn, struct pyro_err *err);
/* Received bytes not yet acknowledged; *len == 0 means the peer closed
 * (conn->eof, conn->clean_eof tell how). Waits at most the timeout. */
int http_conn_peek(struct http_conn *conn, const char **data, size_t *len,
		   struct pyro_err *err);
void http_conn_ack(struct http_conn *conn, size_t n);
void http_conn_close(struct http_conn *conn);

#endif
