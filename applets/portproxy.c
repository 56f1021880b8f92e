/* pyro-portproxy: a localhost-only TCP relay for published guest service
 * ports. It listens on a loopback address, relays each connection to the
 * target (a guest address), writes a ready file describing the bound port
 * (atomically, so a watcher never reads half of it), and stops on SIGTERM
 * or SIGINT. Unlike the original it half-closes properly: one side's EOF
 * is passed on after the buffered bytes, and the relay ends when both
 * directions are done. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/atomicfile.h"
#include "../core/cmd.h"
#include "../core/evloop.h"
#include "../core/exitcodes.h"
#include "../core/json.h"
#include "../core/log.h"
#include "applets.h"

#define RELAY_BUF (64 * 1024)
#define CONNECT_TIMEOUT_MS 5000
#define ACCEPT_RETRY_MS 100

struct pipe_dir {
	char data[RELAY_BUF];
	size_t len;
	bool eof;      /* the source said EOF */
	bool shut;     /* EOF passed on to the destination */
};

struct relay {
	struct evloop *loop;
	int client, upstream;
	bool connected;
	uint64_t connect_timer;
	struct pipe_dir up;   /* client -> upstream */
	struct pipe_dir down; /* upstream -> client */
};

static struct {
	struct sockaddr_storage target;
	socklen_t target_len;
	int listen_fd;
	size_t open_relays;
	uint64_t accept_retry;  /* timer re-arming accept after EMFILE */
} proxy;

static void relay_close(struct relay *r)
{
	evloop_unwatch(r->loop, r->client);
	evloop_unwatch(r->loop, r->upstream);
	evloop_cancel(r->loop, r->connect_timer);
	close(r->client);
	close(r->upstream);
	proxy.open_relays--;
	free(r);
}

static short interest(const struct relay *r, int fd)
{
	if (!r->connected)
		return fd == r->upstream ? POLLOUT : 0;
	const struct pipe_dir *in = fd == r->client ? &r->up : &r->down;   /* fd reads into */
	const struct pipe_dir *out = fd == r->client ? &r->down : &r->up;  /* fd writes from */
	short ev = 0;
	if (!in->eof && in->len < RELAY_BUF)
		ev |= POLLIN;
	if (out->len > 0)
		ev |= POLLOUT;
	return ev;
}

static void update_interest(struct relay *r)
{
	evloop_modify(r->loop, r->client, interest(r, r->client));
	evloop_modify(r->loop, r->upstream, interest(r, r->upstream));
}

/* Move bytes for one direction. Returns -1 when the relay must end. */
static int pump(struct pipe_dir *d, int src, int dst, short src_ev, short dst_ev)
{
	if ((src_ev & (POLLIN | POLLHUP | POLLERR)) && !d->eof && d->len < RELAY_BUF) {
		ssize_t n = recv(src, d->data + d->len, RELAY_BUF - d->len, 0);
		if (n > 0)
			d->len += (size_t)n;
		else if (n == 0)
			d->eof = true;
		else if (errno != EAGAIN && errno != EINTR)
			return -1;
	}
	if ((dst_ev & POLLOUT) && d->len > 0) {
		ssize_t n = send(dst, d->data, d->len, MSG_NOSIGNAL);
		if (n > 0) {
			memmove(d->data, d->data + n, d->len - (size_t)n);
			d->len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	if (d->eof && d->len == 0 && !d->shut) {
		shutdown(dst, SHUT_WR);
		d->shut = true;
	}
	return 0;
}

static void on_relay_fd(struct evloop *loop, int fd, short revents, void *ctx)
{
	(void)loop;
	struct relay *r = ctx;
	if (!r->connected) {
		if (fd != r->upstream)
			return; /* only the connect's outcome matters until it is known */
		int soerr = 0;
		socklen_t len = sizeof soerr;
		getsockopt(r->upstream, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr) {
			log_info("cannot reach the target: %s", strerror(soerr));
			relay_close(r);
			return;
		}
		r->connected = true;
		evloop_cancel(r->loop, r->connect_timer);
		r->connect_timer = 0;
		update_interest(r);
		return;
	}
	short client_ev = fd == r->client ? revents : 0;
	short upstream_ev = fd == r->upstream ? revents : 0;
	if (pump(&r->up, r->client, r->upstream, client_ev, upstream_ev) < 0 ||
	    pump(&r->down, r->upstream, r->client, upstream_ev, client_ev) < 0 ||
	    (r->up.shut && r->down.shut)) {
		relay_close(r);
		return;
	}
	/* POLLHUP and POLLERR count as readable in pump(): the recv or send
	 * that follows says whether data remains or the socket failed. */
	update_interest(r);
}

static void on_connect_timeout(struct evloop *loop, void *ctx)
{
	(void)loop;
	struct relay *r = ctx;
	r->connect_timer = 0;
	log_info("target did not accept within %d ms", CONNECT_TIMEOUT_MS);
	relay_close(r);
}

static void on_accept(struct evloop *loop, int fd, short revents, void *ctx);

static void resume_accept(struct evloop *loop, void *ctx)
{
	(void)ctx;
	proxy.accept_retry = 0;
	evloop_modify(loop, proxy.listen_fd, POLLIN);
}

static void on_accept(struct evloop *loop, int fd, short revents, void *ctx)
{
	(void)revents, (void)ctx;
	for (;;) {
		int client = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (client < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The pending connection stays readable: pause the
				 * listener instead of spinning, and try again soon. */
				log_warn("cannot accept a connection: %s; retrying in %d ms",
					 strerror(errno), ACCEPT_RETRY_MS);
				evloop_modify(loop, fd, 0);
				if (!proxy.accept_retry)
					proxy.accept_retry = evloop_after(
						loop, ACCEPT_RETRY_MS, resume_accept, NULL, NULL);
			}
			return;
		}
		int up = socket(proxy.target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct relay *r = up >= 0 ? calloc(1, sizeof *r) : NULL;
		if (!r) {
			log_warn("dropping a connection: cannot open a socket to the target: %s",
				 strerror(up < 0 ? errno : ENOMEM));
			if (up >= 0)
				close(up);
			close(client);
			continue;
		}
		*r = (struct relay){ .loop = loop, .client = client, .upstream = up };
		proxy.open_relays++;
		int rc = connect(up, (struct sockaddr *)&proxy.target, proxy.target_len);
		if (rc < 0 && errno != EINPROGRESS) {
			relay_close(r);
			continue;
		}
		r->connected = rc == 0;
		struct pyro_err err;
		if (evloop_watch(loop, client, 0, on_relay_fd, r, &err) < 0 ||
		    evloop_watch(loop, up, 0, on_relay_fd, r, &err) < 0) {
			relay_close(r);
			continue;
		}
		if (!r->connected)
			r->connect_timer = evloop_after(loop, CONNECT_TIMEOUT_MS,
							on_connect_timeout, r, &err);
		update_interest(r);
	}
}

static void on_signal(struct evloop *loop, int signo, void *ctx)
{
	(void)ctx;
	log_info("signal %d: shutting down", signo);
	evloop_stop(loop);
}

/* Loopback only: published ports are never exposed beyond this machine. */
static int listen_address(const char *host, int port, struct sockaddr_storage *ss,
			  socklen_t *len, struct pyro_err *err)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
	if (inet_pton(AF_INET, h, &v4->sin_addr) == 1 &&
	    (ntohl(v4->sin_addr.s_addr) >> 24) == 127) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof *v4;
		return 0;
	}
	if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1 &&
	    IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof *v6;
		return 0;
	}
	return pyro_err_set(err, PYRO_EXIT_USAGE,
			    "--listen-host must be a loopback address (127.0.0.0/8, ::1 or "
			    "localhost) so published ports stay on this machine (got '%s')",
			    host);
}

static int target_address(const char *host, int port, struct pyro_err *err)
{
	char service[16];
	snprintf(service, sizeof service, "%d", port);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0 || !res)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "cannot resolve --target-host '%s': %s",
				    host, gai_strerror(rc));
	memcpy(&proxy.target, res->ai_addr, res->ai_addrlen);
	proxy.target_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int write_ready_file(const char *path, const char *host, int port,
			    const char *target_host, int target_port, struct pyro_err *err)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *o = doc ? json_object(doc) : NULL;
	int rc = o ? 0 : -1;
	rc |= json_set_str(doc, o, "host", host);
	rc |= json_set_int(doc, o, "host_port", port);
	rc |= json_set_str(doc, o, "target_host", target_host);
	rc |= json_set_int(doc, o, "target_port", target_port);
	rc |= json_set_str(doc, o, "protocol", "tcp");
	struct buf text = BUF_INIT;
	if (rc == 0)
		rc = json_emit(&text, o, JSON_EMIT_PRETTY | JSON_EMIT_SORT_KEYS);
	if (rc == 0)
		rc = atomicfile_write(path, text.data, text.len, 0644, err);
	else
		pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory writing the ready file");
	buf_release(&text);
	json_doc_free(doc);
	return rc;
}

static int run_portproxy(struct cmd_call *call)
{
	struct pyro_err *err = &call->err;
	const char *host = cmd_str(call, "listen_host");
	int port = (int)cmd_int(call, "listen_port");
	const char *target_host = cmd_str(call, "target_host");
	int target_port = (int)cmd_int(call, "target_port");
	struct sockaddr_storage ss;
	socklen_t len;
	if (listen_address(host, port, &ss, &len, err) < 0 ||
	    target_address(target_host, target_port, err) < 0)
		return err->code;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return pyro_err_sys(err, errno, "cannot create a socket"), PYRO_EXIT_FAILURE;
	/* A restart must not wait out TIME-WAIT of the previous run's relays. */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	proxy.listen_fd = fd;
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
		pyro_err_sys(err, errno, "cannot listen on %s:%d (is another program "
			     "using that port? pass --listen-port 0 to get a free one)",
			     host, port);
		close(fd);
		return PYRO_EXIT_FAILURE;
	}
	getsockname(fd, (struct sockaddr *)&ss, &len);
	int bound = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	struct evloop loop;
	evloop_init(&loop);
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, 0 };
	int status = PYRO_EXIT_FAILURE;
	if (evloop_signals(&loop, sigs, on_signal, NULL, err) == 0 &&
	    evloop_watch(&loop, fd, POLLIN, on_accept, NULL, err) == 0 &&
	    write_ready_file(cmd_str(call, "ready_file"), host, bound, target_host,
			     target_port, err) == 0 &&
	    evloop_run(&loop, err) == 0)
		status = PYRO_EXIT_OK;
	close(fd);
	/* Open relays are dropped with the process; their fds close at exit. */
	evloop_close(&loop);
	return status;
}

static const struct arg_spec portproxy_args[] = {
	{ .name = "listen_host", .type = ARG_STRING, .flags = ARG_REQUIRED, .metavar = "HOST",
	  .help = "Loopback address to listen on (127.0.0.1, ::1 or localhost)." },
	{ .name = "listen_port", .type = ARG_INT, .flags = ARG_REQUIRED | ARG_HAS_BOUNDS,
	  .min = 0, .max = 65535, .metavar = "PORT",
	  .help = "Port to listen on; 0 picks a free one (the ready file says which)." },
	{ .name = "target_host", .type = ARG_STRING, .flags = ARG_REQUIRED, .metavar = "HOST",
	  .help = "Address to relay connections to." },
	{ .name = "target_port", .type = ARG_INT, .flags = ARG_REQUIRED | ARG_HAS_BOUNDS,
	  .min = 1, .max = 65535, .metavar = "PORT", .help = "Port to relay connections to." },
	{ .name = "ready_file", .type = ARG_STRING, .flags = ARG_REQUIRED, .metavar = "PATH",
	  .help = "Where to write the JSON description of the bound port once listening." },
	{ 0 },
};

static const struct command portproxy_command = {
	.name = "pyro-portproxy",
	.summary = "Relay a loopback TCP port to a guest service port",
	.args = portproxy_args,
	.run = run_portproxy,
};

int applet_portproxy_main(int argc, char **argv)
{
	log_set_prog("pyro-portproxy");
	log_level_from_env();
	struct cmd_call call;
	struct buf help = BUF_INIT;
	int rc = cmd_parse_argv(&portproxy_command, "pyro-portproxy", argc - 1, argv + 1, &call,
				&help);
	int status;
	if (rc == 1) {
		fwrite(help.data, 1, help.len, stdout);
		status = PYRO_EXIT_OK;
	} else if (rc < 0) {
		log_error("%s", call.err.msg);
		status = call.err.code;
	} else {
		status = cmd_call_run(&call);
		if (status != 0)
			log_error("%s", call.err.msg);
	}
	buf_release(&help);
	cmd_call_release(&call);
	return status;
}
