/* One HTTP connection: TCP connect with a deadline per address, then
 * BearSSL's engine driven over the nonblocking socket with poll(), every
 * wait bounded by the client's io_timeout_ms ("no progress for that long").
 *
 * The TLS loop is br_sslio's run_until() with poll() in front of each
 * socket read and write. A TCP close without close_notify is reported as
 * eof with clean_eof false: the caller decides whether the body was
 * complete anyway (http_client.c trusts Content-Length and chunked framing,
 * never a close-delimited body). */
#include "http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "fault.h"

bool http_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static const char *timeout_text(char dst[32], int ms)
{
	if (ms % 1000 == 0)
		snprintf(dst, 32, "%d s", ms / 1000);
	else
		snprintf(dst, 32, "%d ms", ms);
	return dst;
}

/* Wait until fd is ready for `events`, at most the io timeout. */
static int wait_fd(struct http_conn *c, short events, struct pyro_err *err)
{
	char t[32];
	struct pollfd pfd = { .fd = c->fd, .events = events };
	for (;;) {
		int n = poll(&pfd, 1, c->timeout_ms);
		if (n > 0)
			return 0;
		if (n == 0)
			break;
		if (errno != EINTR)
			return pyro_err_sys(err, errno, "waiting for %s", c->name);
	}
	int rc = pyro_err_set(err, PYRO_EXIT_TIMEOUT, events & POLLOUT ?
			      "%s did not accept data within %s" : "%s did not answer within %s",
			      c->name, timeout_text(t, c->timeout_ms));
	return rc;
}

static long sock_send(struct http_conn *c, const void *data, size_t len, struct pyro_err *err)
{
	for (;;) {
		/* send, not write: MSG_NOSIGNAL keeps a closed peer from
		 * raising SIGPIPE. */
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n >= 0)
			return (long)n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return pyro_err_sys(err, errno, "sending to %s", c->name);
		if (wait_fd(c, POLLOUT, err))
			return -1;
	}
}

static long sock_recv(struct http_conn *c, void *dst, size_t len, struct pyro_err *err)
{
	for (;;) {
		ssize_t n = pyro_read(c->fd, dst, len);
		if (n >= 0)
			return (long)n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return pyro_err_sys(err, errno, "receiving from %s", c->name);
		if (wait_fd(c, POLLIN, err))
			return -1;
	}
}

/* BearSSL's error code as a sentence. */
static int tls_error(struct http_conn *c, int code, struct pyro_err *err)
{
	char when[64];
	time_t now = time(NULL);
	struct tm tm;
	switch (code) {
	case BR_ERR_X509_NOT_TRUSTED:
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the server certificate is not signed by a trusted CA (CA bundle %s)",
				    c->ca_file);
	case BR_ERR_X509_EXPIRED:
		if (!gmtime_r(&now, &tm) || !strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm))
			snprintf(when, sizeof when, "unknown");
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the server certificate has expired or is not yet valid "
				    "(this machine's clock says %s; check it)", when);
	case BR_ERR_X509_BAD_SERVER_NAME:
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the server certificate is not for the host name in the URL "
				    "(BearSSL matches DNS names only, never IP addresses)");
	case BR_ERR_UNSUPPORTED_VERSION:
	case BR_ERR_BAD_VERSION:
	case BR_ERR_RECV_FATAL_ALERT + 70: /* protocol_version */
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the server and pyro share no TLS version "
				    "(pyro's BearSSL does TLS 1.0 to 1.2 only; the server may require TLS 1.3)");
	case BR_ERR_RECV_FATAL_ALERT + 40: /* handshake_failure */
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the server refused the handshake (no common cipher suite or "
				    "TLS version; pyro's BearSSL does TLS 1.0 to 1.2 only)");
	case BR_ERR_X509_WEAK_PUBLIC_KEY:
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the server certificate's key is too small");
	case BR_ERR_NO_RANDOM:
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "no entropy source for TLS (getrandom failed)");
	}
	if (code > BR_ERR_SEND_FATAL_ALERT)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "pyro sent TLS alert %d (BearSSL error %d)",
				    code - BR_ERR_SEND_FATAL_ALERT, code);
	if (code > BR_ERR_RECV_FATAL_ALERT)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the server sent TLS alert %d (BearSSL error %d)",
				    code - BR_ERR_RECV_FATAL_ALERT, code);
	return pyro_err_set(err, PYRO_EXIT_FAILURE, "BearSSL error %d", code);
}

/* Run the engine until a state in `want` (SENDAPP, RECVAPP) is reached,
 * the peer closed (c->eof), or it fails. Records go out before any check,
 * so returning also means everything queued was sent. */
static int tls_run(struct http_conn *c, unsigned want, struct pyro_err *err)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	unsigned stuck = 0;
	for (;;) {
		unsigned st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			int code = br_ssl_engine_last_error(eng);
			if (code != BR_ERR_OK)
				return tls_error(c, code, err);
			c->eof = c->clean_eof = true;
			return 0;
		}
		if (st & BR_SSL_SENDREC) {
			size_t len;
			unsigned char *b = br_ssl_engine_sendrec_buf(eng, &len);
			long n = sock_send(c, b, len, err);
			if (n < 0)
				return -1;
			br_ssl_engine_sendrec_ack(eng, (size_t)n);
			stuck = 0;
			continue;
		}
		if (st & want)
			return 0;
		if ((want & BR_SSL_SENDAPP) && (st & BR_SSL_RECVAPP)) {
			/* The server answers (an early error) before taking the
			 * whole request: stop sending, go read its answer. */
			c->peer_talking = true;
			return 0;
		}
		if (st & BR_SSL_RECVREC) {
			size_t len;
			unsigned char *b = br_ssl_engine_recvrec_buf(eng, &len);
			long n = sock_recv(c, b, len, err);
			if (n < 0)
				return -1;
			if (n == 0) {
				c->eof = true;
				c->clean_eof = false;
				return 0;
			}
			br_ssl_engine_recvrec_ack(eng, (size_t)n);
			stuck = 0;
			continue;
		}
		if (++stuck > 2)
			return pyro_err_set(err, PYRO_EXIT_INTERNAL,
					    "internal error: TLS engine with %s made no progress (state %u)",
					    c->name, st);
		br_ssl_engine_flush(eng, 0);
	}
}

static int tcp_connect(struct http_conn *c, const struct http_url *u, struct pyro_err *err)
{
	char port[8], t[32];
	snprintf(port, sizeof port, "%u", u->port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int gai = getaddrinfo(u->host, port, &hints, &res);
	if (gai != 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "cannot resolve host %s: %s", u->host,
				    gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
	int last = 0;
	bool timed_out = false, skipped = false;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (!u->tls && !addr_is_loopback(ai->ai_addr)) {
			skipped = true;
			continue;
		}
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last = errno;
			continue;
		}
		c->fd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			freeaddrinfo(res);
			return 0;
		}
		if (errno == EINPROGRESS) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int n;
			do
				n = poll(&pfd, 1, c->timeout_ms);
			while (n < 0 && errno == EINTR);
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
				freeaddrinfo(res);
				return 0;
			}
			if (n == 0)
				timed_out = true;
			else
				last = n < 0 ? errno : soerr;
		} else {
			last = errno;
		}
		close(fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (last)
		return pyro_err_sys(err, last, "cannot connect to %s", c->name);
	if (timed_out)
		return pyro_err_set(err, PYRO_EXIT_TIMEOUT, "cannot connect to %s: no answer within %s",
				    c->name, timeout_text(t, c->timeout_ms));
	if (skipped)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "refusing plain http to %s: it resolves to a non-loopback address; use https",
				    c->name);
	return pyro_err_set(err, PYRO_EXIT_FAILURE, "cannot connect to %s: no address", c->name);
}

int http_conn_open(struct http_client *cl, const struct http_url *u,
		   struct http_conn **out, struct pyro_err *err)
{
	struct http_conn *c = pyro_calloc(1, sizeof *c);
	if (!c)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	c->fd = -1;
	c->tls = u->tls;
	c->timeout_ms = cl->io_timeout_ms > 0 ? cl->io_timeout_ms : 30000;
	snprintf(c->name, sizeof c->name, strchr(u->host, ':') ? "[%s]:%u" : "%s:%u", u->host, u->port);
	snprintf(c->ca_file, sizeof c->ca_file, "%s", cl->ca_file);
	if (tcp_connect(c, u, err))
		goto fail;
	if (c->tls) {
		br_ssl_client_init_full(&c->sc, &c->xc, cl->anchors, cl->anchor_count);
		br_ssl_engine_set_buffer(&c->sc.eng, c->iobuf, sizeof c->iobuf, 1);
		/* The host is both SNI and the name the certificate must carry. */
		if (!br_ssl_client_reset(&c->sc, u->host, 0)) {
			tls_error(c, br_ssl_engine_last_error(&c->sc.eng), err);
			goto tls_fail;
		}
		if (tls_run(c, BR_SSL_SENDAPP, err))
			goto tls_fail;
		if (c->eof) {
			pyro_err_set(err, PYRO_EXIT_FAILURE, "the server closed the connection");
			goto tls_fail;
		}
	}
	*out = c;
	return 0;
tls_fail:
	pyro_err_wrap(err, "TLS handshake with %s failed", c->name);
fail:
	http_conn_close(c);
	return -1;
}

int http_conn_write(struct http_conn *c, const void *data, size_t len, struct pyro_err *err)
{
	const unsigned char *p = data;
	while (len > 0) {
		if (!c->tls) {
			long n = sock_send(c, p, len, err);
			if (n < 0)
				return -1;
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (tls_run(c, BR_SSL_SENDAPP, err))
			return -1;
		if (c->peer_talking)
			return 0;
		if (c->eof)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "%s closed the connection before taking the whole request", c->name);
		size_t room;
		unsigned char *b = br_ssl_engine_sendapp_buf(&c->sc.eng, &room);
		size_t n = len < room ? len : room;
		memcpy(b, p, n);
		br_ssl_engine_sendapp_ack(&c->sc.eng, n);
		p += n;
		len -= n;
	}
	return 0;
}

int http_conn_flush(struct http_conn *c, struct pyro_err *err)
{
	if (!c->tls || c->peer_talking)
		return 0;
	br_ssl_engine_flush(&c->sc.eng, 0);
	return tls_run(c, BR_SSL_SENDAPP | BR_SSL_RECVAPP, err);
}

int http_conn_peek(struct http_conn *c, const char **data, size_t *len, struct pyro_err *err)
{
	*data = NULL;
	*len = 0;
	if (!c->tls) {
		if (c->rpos == c->rlen && !c->eof) {
			long n = sock_recv(c, c->rbuf, sizeof c->rbuf, err);
			if (n < 0)
				return -1;
			c->rpos = 0;
			c->rlen = (size_t)n;
			if (n == 0)
				c->eof = c->clean_eof = true;
		}
		*data = c->rbuf + c->rpos;
		*len = c->rlen - c->rpos;
		return 0;
	}
	if (c->eof)
		return 0;
	if (tls_run(c, BR_SSL_RECVAPP, err))
		return -1;
	if (c->eof)
		return 0;
	size_t n;
	unsigned char *b = br_ssl_engine_recvapp_buf(&c->sc.eng, &n);
	*data = (const char *)b;
	*len = n;
	return 0;
}

void http_conn_ack(struct http_conn *c, size_t n)
{
	if (n == 0)
		return;
	if (c->tls)
		br_ssl_engine_recvapp_ack(&c->sc.eng, n);
	else
		c->rpos += n;
}

void http_conn_close(struct http_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	httpresp_release(&c->parser);
	free(c);
}
