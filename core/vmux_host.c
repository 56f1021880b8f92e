/* The host's vmux server: the line, the handshake, and the CONNECT socket.
 * See vmux_host.h. */
#include "vmux_host.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "exitcodes.h"

#define CONNECT_LINE_MAX 32

/* A client still in its CONNECT handshake, or waiting for the session. */
struct pending {
	int fd;
	uint32_t port;      /* parsed; 0 while the line is incomplete */
	int64_t deadline;
	struct pending *next;
};

struct host {
	struct evloop loop;
	struct vmux_link link;
	int lfd;
	struct pending *pending;
	unsigned connect_ms;
	int rc;
	struct pyro_err *err;
	void (*session_up)(void *ctx);
	void *session_ctx;
};

static void pending_drop(struct host *h, struct pending *c, bool close_fd)
{
	for (struct pending **p = &h->pending; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	evloop_unwatch(&h->loop, c->fd);
	if (close_fd)
		close(c->fd);
	free(c);
}

static void pending_open(struct host *h, struct pending *c)
{
	int fd = c->fd;
	uint32_t port = c->port;
	pending_drop(h, c, false);
	vmux_link_open(&h->link, fd, port); /* takes fd */
}

/* Parse "CONNECT <port>" as Firecracker does: decimal, nothing else. */
static int parse_connect(const char *line, uint32_t *port)
{
	if (strncmp(line, "CONNECT ", 8) != 0)
		return -1;
	const char *p = line + 8;
	uint64_t v = 0;
	if (!*p)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || (v = v * 10 + (uint64_t)(*p - '0')) > 0xffffffffu)
			return -1;
	}
	if (v == 0)
		return -1;
	*port = (uint32_t)v;
	return 0;
}

/* Read the CONNECT line without consuming a byte past its "\n": what
 * follows is already stream data. */
static void pending_io(struct evloop *loop, int fd, short rev, void *ctx)
{
	struct host *h = ctx;
	struct pending *c = h->pending;
	while (c && c->fd != fd)
		c = c->next;
	if (!c)
		return;
	char line[CONNECT_LINE_MAX + 1];
	ssize_t n = recv(fd, line, CONNECT_LINE_MAX, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		pending_drop(h, c, true);
		return;
	}
	char *nl = memchr(line, '\n', (size_t)n);
	if (!nl) {
		if (n == CONNECT_LINE_MAX)
			pending_drop(h, c, true);
		return;
	}
	size_t len = (size_t)(nl - line) + 1;
	if (recv(fd, line, len, MSG_DONTWAIT) != (ssize_t)len) {
		pending_drop(h, c, true);
		return;
	}
	line[len - 1] = 0;
	if (len >= 2 && line[len - 2] == '\r')
		line[len - 2] = 0;
	if (parse_connect(line, &c->port) < 0) {
		pending_drop(h, c, true);
		return;
	}
	if (h->link.up)
		pending_open(h, c);
	else
		evloop_modify(&h->loop, fd, 0); /* wait for the session */
}

static void sweep_timer(struct evloop *loop, void *ctx);

static void sweep(struct host *h)
{
	int64_t now = evloop_now_ms();
	for (struct pending *c = h->pending, *next; c; c = next) {
		next = c->next;
		/* Still in its handshake, or waiting for a session that has
		 * not come: its own client has given up by now. */
		if (now >= c->deadline)
			pending_drop(h, c, true);
	}
}

static void sweep_timer(struct evloop *loop, void *ctx)
{
	struct host *h = ctx;
	sweep(h);
	evloop_after(loop, 500, sweep_timer, h, NULL);
}

static void accept_io(struct evloop *loop, int fd, short rev, void *ctx)
{
	struct host *h = ctx;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return;
	struct pending *p = calloc(1, sizeof *p);
	if (!p || evloop_watch(loop, c, POLLIN, pending_io, h, NULL) < 0) {
		free(p);
		close(c);
		return;
	}
	p->fd = c;
	p->deadline = evloop_now_ms() + h->connect_ms;
	p->next = h->pending;
	h->pending = p;
}

static int on_opened(void *ctx, uint32_t id, int fd, bool ok)
{
	if (!ok)
		return 0;
	char line[32];
	int n = snprintf(line, sizeof line, "OK %u\n", id);
	/* A fresh socket's buffer is empty: this does not block. */
	return send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n ? 0 : -1;
}

static void on_session(void *ctx, bool up, const char *why)
{
	struct host *h = ctx;
	if (up) {
		for (struct pending *c = h->pending, *next; c; c = next) {
			next = c->next;
			if (c->port)
				pending_open(h, c);
		}
		if (h->session_up)
			h->session_up(h->session_ctx);
		return;
	}
	h->rc = pyro_err_set(h->err, PYRO_EXIT_FAILURE, "the vmux session with the guest was lost: %s",
			     why);
	evloop_stop(&h->loop);
}

static void on_line_down(void *ctx, bool eof, const char *why)
{
	struct host *h = ctx;
	h->rc = pyro_err_set(h->err, PYRO_EXIT_FAILURE, "the line to the guest %s",
			     eof ? "was closed" : why);
	evloop_stop(&h->loop);
}

static void stop_io(struct evloop *loop, int fd, short rev, void *ctx)
{
	evloop_stop(loop);
}

/* Bound under a temporary name and renamed into place once listening. */
static int listen_at(const char *path, struct pyro_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char tmp[sizeof sa.sun_path];
	if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "vmux socket path is too long: %s", path);
	memcpy(sa.sun_path, tmp, strlen(tmp) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pyro_err_sys(err, errno, "creating the vmux socket");
	unlink(tmp);
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		close(fd);
		return pyro_err_sys(err, e, "listening on %s", path);
	}
	return fd;
}

int vmux_host_serve(int line_fd, const char *unix_socket_path,
		    const struct vmux_host_opts *opts, struct pyro_err *err)
{
	struct vmux_host_opts o = { .stop_fd = -1 };
	if (opts)
		o = *opts;
	struct host *h = calloc(1, sizeof *h);
	if (!h)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	h->err = err;
	h->connect_ms = o.connect_timeout_ms ? o.connect_timeout_ms : 10000;
	h->session_up = o.session_up;
	h->session_ctx = o.session_ctx;
	evloop_init(&h->loop);
	h->lfd = listen_at(unix_socket_path, err);
	if (h->lfd < 0) {
		free(h);
		return -1;
	}
	struct vmux_link_ops ops = {
		.host = true,
		.ctx = h,
		.opened = on_opened,
		.session = on_session,
		.line_down = on_line_down,
	};
	int rc = -1;
	if (vmux_link_init(&h->link, &h->loop, line_fd, &ops, err) < 0)
		goto out;
	h->link.hello_retry_ms = o.hello_retry_ms;
	h->link.keepalive_ms = o.keepalive_ms;
	if (evloop_watch(&h->loop, h->lfd, POLLIN, accept_io, h, err) < 0 ||
	    (o.stop_fd >= 0 && evloop_watch(&h->loop, o.stop_fd, POLLIN, stop_io, h, err) < 0) ||
	    !evloop_after(&h->loop, 500, sweep_timer, h, err) ||
	    vmux_link_hello(&h->link, err) < 0)
		goto out_link;
	if (evloop_run(&h->loop, err) < 0)
		goto out_link;
	rc = h->rc;
out_link:
	vmux_link_close(&h->link);
	if (o.stats)
		*o.stats = h->link.stats;
out:
	while (h->pending)
		pending_drop(h, h->pending, true);
	unlink(unix_socket_path);
	close(h->lfd);
	evloop_close(&h->loop);
	free(h);
	return rc;
}
