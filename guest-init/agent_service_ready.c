/* Service readiness probes: parsing a start_service "readiness" object and
 * running one attempt of it. The types, fields and rules are described at
 * the top of agent_service.c; this file only implements them. */
#include "agent_service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/spawn.h"

/* A network attempt never takes longer than this, whatever is left of the
 * readiness timeout: a probe that hangs must not hide the next one. */
#define PROBE_NET_MAX_MS 5000
/* At most this much of an HTTP answer is read, looking for the status line. */
#define HTTP_STATUS_LINE_MAX 1024
/* What a failing readiness command printed, kept for the message. */
#define PROBE_COMMAND_OUTPUT 4096

static int oom(struct pyro_err *err)
{
	return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
}

/* ---- parsing ------------------------------------------------------------- */

static const char *const probe_types[] = { NULL, "file", "tcp", "http", "command" };
static const char *const probe_fields[] = { NULL, "path", "address", "url", "command" };

/* The string member `key` of the readiness object, whitespace-stripped and
 * non-empty, copied into the doc. */
static int ready_str(struct agent_call *c, const struct json_value *obj, const char *type,
		     const char *key, const char **out, struct pyro_err *err)
{
	const struct json_value *v = json_get(obj, key);
	if (!v || v->type == JSON_NULL)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "readiness.%s is required for a %s probe", key, type);
	if (v->type != JSON_STRING)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "readiness.%s must be a string (got %s)",
				    key, json_type_name(v->type));
	const char *s = v->u.string.ptr;
	size_t a = 0, b = v->u.string.len;
	if (memchr(s, 0, b))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "readiness.%s must not contain NUL characters", key);
	while (a < b && (s[a] == ' ' || (s[a] >= '\t' && s[a] <= '\r')))
		a++;
	while (b > a && (s[b - 1] == ' ' || (s[b - 1] >= '\t' && s[b - 1] <= '\r')))
		b--;
	if (a == b)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "readiness.%s must not be empty", key);
	struct json_value *copy = json_string_len(c->doc, s + a, b - a);
	if (!copy)
		return oom(err);
	*out = copy->u.string.ptr;
	return 0;
}

static int parse_port(const char *s, size_t n, unsigned *port)
{
	unsigned v = 0;
	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = v;
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" (PORT optional when def_port is not 0) into
 * p->addr. HOST is an IPv4 or IPv6 literal or "localhost": readiness is a
 * guest-local check, so no name resolution (and no DNS stall) happens. */
static int parse_endpoint(const char *s, size_t len, unsigned def_port, const char *field,
			  struct svc_probe *p, struct pyro_err *err)
{
	char host[64];
	const char *hs, *rest;
	size_t hl;
	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			goto bad;
		hs = s + 1;
		hl = (size_t)(close - hs);
		rest = close + 1;
	} else {
		const char *colon = memchr(s, ':', len);
		if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "%s: write an IPv6 address in brackets, as [::1]:PORT "
					    "(got '%.*s')", field, (int)(len > 200 ? 200 : len), s);
		hs = s;
		hl = colon ? (size_t)(colon - s) : len;
		rest = s + hl;
	}
	size_t restlen = len - (size_t)(rest - s);
	unsigned port = def_port;
	if (restlen) {
		if (rest[0] != ':' || parse_port(rest + 1, restlen - 1, &port) < 0)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "%s needs a port from 1 to 65535 after the host (got '%.*s')",
					    field, (int)(len > 200 ? 200 : len), s);
	} else if (!def_port) {
		return pyro_err_set(err, PYRO_EXIT_USAGE, "%s must be HOST:PORT (got '%.*s')", field,
				    (int)(len > 200 ? 200 : len), s);
	}
	if (hl == 0 || hl >= sizeof host)
		goto bad;
	memcpy(host, hs, hl);
	host[hl] = 0;
	if (strcasecmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	memset(&p->addr, 0, sizeof p->addr);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&p->addr;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&p->addr;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		p->addr_len = sizeof *v4;
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		p->addr_len = sizeof *v6;
	} else {
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "%s host must be an IP address or localhost, since the probe runs "
				    "inside the guest (got '%s')", field, host);
	}
	return 0;
bad:
	return pyro_err_set(err, PYRO_EXIT_USAGE, "%s must be HOST:PORT (got '%.*s')", field,
			    (int)(len > 200 ? 200 : len), s);
}

/* "http://HOST[:PORT][/PATH][?QUERY][#FRAGMENT]": no TLS, no user info. */
static int parse_url(struct agent_call *c, const char *url, struct svc_probe *p,
		     struct pyro_err *err)
{
	for (const unsigned char *q = (const unsigned char *)url; *q; q++)
		if (*q <= ' ' || *q == 0x7f)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "readiness.url must not contain spaces or control characters "
					    "(percent-encode them)");
	if (strncasecmp(url, "https://", 8) == 0)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "readiness.url: https is not supported (the probe speaks plain "
				    "HTTP); use http://, or a tcp or command probe (got '%.200s')",
				    url);
	if (strncasecmp(url, "http://", 7) != 0)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "readiness.url must start with http:// (got '%.200s')", url);
	const char *auth = url + 7;
	size_t alen = strcspn(auth, "/?#");
	if (memchr(auth, '@', alen))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "readiness.url must not contain user information (got '%.200s')",
				    url);
	if (alen == 0)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "readiness.url has no host (got '%.200s')", url);
	if (parse_endpoint(auth, alen, 80, "readiness.url", p, err) < 0)
		return -1;
	const char *path = auth + alen;
	size_t plen = strcspn(path, "#");
	struct buf t = BUF_INIT;
	int rc = (plen == 0 || path[0] != '/') ? buf_append_char(&t, '/') : 0;
	if (rc == 0)
		rc = buf_append(&t, path, plen);
	struct json_value *tv = rc == 0 ? json_string_len(c->doc, t.data, t.len) : NULL;
	struct json_value *hv = json_string_len(c->doc, auth, alen);
	buf_release(&t);
	if (!tv || !hv)
		return oom(err);
	p->target = tv->u.string.ptr;
	p->host_header = hv->u.string.ptr;
	p->endpoint = hv->u.string.ptr;
	return 0;
}

int svc_probe_parse(struct agent_call *c, const struct json_value *v, struct svc_probe *p,
		    struct json_value **norm, struct pyro_err *err)
{
	memset(p, 0, sizeof *p);
	if (v->type != JSON_OBJECT)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "readiness must be an object such as {\"type\": \"file\", "
				    "\"path\": \".ready\"}, or null (got %s)",
				    json_type_name(v->type));
	const struct json_value *tv = json_get(v, "type");
	if (!tv || tv->type == JSON_NULL)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "readiness.type is required: one of file, tcp, http, command");
	if (tv->type != JSON_STRING)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "readiness.type must be a string (got %s)",
				    json_type_name(tv->type));
	const char *type = tv->u.string.ptr;
	int t = 0;
	for (int i = SVC_PROBE_FILE; i <= SVC_PROBE_COMMAND; i++)
		if (strcmp(type, probe_types[i]) == 0)
			t = i;
	if (!t)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "readiness.type must be one of file, tcp, http, command "
				    "(got '%.60s')", type);
	p->type = (enum svc_probe_type)t;
	const char *field = probe_fields[t];
	/* A misspelt field would otherwise be ignored and the probe would
	 * fail for a reason the caller cannot see. */
	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *k = v->u.object.members[i].key;
		if (strcmp(k, "type") && strcmp(k, field))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "readiness has an unknown field '%.60s' (a %s probe takes "
					    "\"type\" and \"%s\")", k, type, field);
	}
	const char *value = NULL;
	if (ready_str(c, v, type, field, &value, err) < 0)
		return -1;
	const char *shown = value;
	switch (p->type) {
	case SVC_PROBE_FILE:
		if (agent_workspace_path(c, value, &shown, p->path, err) < 0) {
			pyro_err_wrap(err, "readiness.path");
			return -1;
		}
		p->endpoint = shown;
		break;
	case SVC_PROBE_TCP:
		if (parse_endpoint(value, strlen(value), 0, "readiness.address", p, err) < 0)
			return -1;
		p->endpoint = value;
		break;
	case SVC_PROBE_HTTP:
		if (parse_url(c, value, p, err) < 0)
			return -1;
		break;
	case SVC_PROBE_COMMAND:
		p->command = value;
		break;
	}
	struct json_value *o = json_object(c->doc);
	if (!o || json_set_str(c->doc, o, "type", type) < 0 ||
	    json_set_str(c->doc, o, field, shown) < 0)
		return oom(err);
	*norm = o;
	return 0;
}

/* ---- probing ------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on fd until the deadline: 1 ready, 0 timed out, -1. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pf = { .fd = fd, .events = events };
		int n = poll(&pf, 1, (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* A connected socket, or -1 with `why` filled. */
static int connect_within(const struct svc_probe *p, int64_t deadline, char *why, size_t cap)
{
	int fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, cap, "cannot create a socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&p->addr, p->addr_len) == 0)
		return fd;
	int e = errno;
	if (e == EINPROGRESS || e == EINTR) {
		int w = wait_fd(fd, POLLOUT, deadline);
		socklen_t len = sizeof e;
		if (w == 0)
			e = ETIMEDOUT;
		else if (w < 0)
			e = errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			e = errno;
		if (e == 0)
			return fd;
	}
	snprintf(why, cap, "connecting to %s: %s", p->endpoint, strerror(e));
	close(fd);
	return -1;
}

/* "HTTP/x.y NNN ..." -> NNN, or -1. */
static int http_status(const char *line, size_t n)
{
	if (n < 12 || memcmp(line, "HTTP/", 5) != 0)
		return -1;
	const char *sp = memchr(line, ' ', n);
	if (!sp || (size_t)(sp - line) + 4 > n)
		return -1;
	int code = 0;
	for (int i = 1; i <= 3; i++) {
		if (sp[i] < '0' || sp[i] > '9')
			return -1;
		code = code * 10 + (sp[i] - '0');
	}
	return code;
}

/* GET the target over HTTP/1.0: ready on a 2xx or 3xx status. */
static int probe_http(const struct svc_probe *p, int64_t deadline, char *why, size_t cap)
{
	int fd = connect_within(p, deadline, why, cap);
	if (fd < 0)
		return 0;
	struct buf req = BUF_INIT;
	int ready = 0;
	if (buf_printf(&req, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: pyro-guest-agent\r\n"
		       "Accept: */*\r\nConnection: close\r\n\r\n", p->target, p->host_header) < 0) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	for (size_t off = 0; off < req.len;) {
		ssize_t n = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		int e = n < 0 ? errno : EIO;
		bool again = e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
		if (again && wait_fd(fd, POLLOUT, deadline) > 0)
			continue;
		snprintf(why, cap, "sending a request to %s: %s", p->endpoint,
			 again ? "timed out" : strerror(e));
		goto out;
	}
	char line[HTTP_STATUS_LINE_MAX];
	size_t have = 0;
	while (have < sizeof line && !memchr(line, '\n', have)) {
		ssize_t n = recv(fd, line + have, sizeof line - have, 0);
		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		int e = errno;
		bool again = e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
		if (again && wait_fd(fd, POLLIN, deadline) > 0)
			continue;
		snprintf(why, cap, "waiting for an answer from %s: %s", p->endpoint,
			 again ? "timed out" : strerror(e));
		goto out;
	}
	int code = http_status(line, have);
	if (code < 0) {
		snprintf(why, cap, "%s did not answer with an HTTP status line", p->endpoint);
	} else if (code >= 200 && code < 400) {
		ready = 1;
	} else {
		snprintf(why, cap, "GET http://%s%s answered %d", p->host_header, p->target, code);
	}
out:
	buf_release(&req);
	close(fd);
	return ready;
}

/* sh -lc COMMAND in the service's cwd and environment: ready on exit 0. */
static int probe_command(const struct svc_probe *p, int64_t budget_ms, char *why, size_t cap)
{
	struct buf out;
	buf_init(&out, PROBE_COMMAND_OUTPUT);
	const char *argv[] = { "/bin/sh", "-lc", p->command, NULL };
	struct spawn_opts o = {
		.argv = argv,
		.envp = p->envp,
		.cwd = p->cwd,
		.out = { SPAWN_PIPE, &out, 0 },
		.err = { SPAWN_PIPE, &out, 0 },
		.timeout_ms = (unsigned)budget_ms,
	};
	struct spawn_result r;
	struct pyro_err e = { 0 };
	int ready = 0;
	if (spawn_run(&o, &r, &e) < 0) {
		snprintf(why, cap, "readiness command: %s", e.msg);
	} else if (r.timed_out) {
		snprintf(why, cap, "readiness command: %s", r.message);
	} else if (r.exit_code == 0) {
		ready = 1;
	} else {
		/* The last line it printed usually says why. */
		size_t end = out.len;
		while (end && (out.data[end - 1] == '\n' || out.data[end - 1] == '\r'))
			end--;
		size_t start = end;
		while (start && out.data[start - 1] != '\n')
			start--;
		size_t n = end - start > 200 ? 200 : end - start;
		if (n)
			snprintf(why, cap, "readiness command exited with code %d: %.*s", r.exit_code,
				 (int)n, out.data + start);
		else
			snprintf(why, cap, "readiness command exited with code %d", r.exit_code);
	}
	buf_release(&out);
	return ready;
}

int svc_probe_once(const struct svc_probe *p, int64_t budget_ms, char *why, size_t cap)
{
	struct stat st;
	if (budget_ms < 1)
		budget_ms = 1;
	why[0] = 0;
	switch (p->type) {
	case SVC_PROBE_FILE:
		if (stat(p->path, &st) == 0)
			return 1;
		snprintf(why, cap, "%s does not exist", p->endpoint);
		return 0;
	case SVC_PROBE_TCP: {
		int64_t dl = mono_ms() + (budget_ms < PROBE_NET_MAX_MS ? budget_ms : PROBE_NET_MAX_MS);
		int fd = connect_within(p, dl, why, cap);
		if (fd < 0)
			return 0;
		close(fd);
		return 1;
	}
	case SVC_PROBE_HTTP:
		return probe_http(p, mono_ms() + (budget_ms < PROBE_NET_MAX_MS ? budget_ms
							    : PROBE_NET_MAX_MS), why, cap);
	case SVC_PROBE_COMMAND:
		return probe_command(p, budget_ms, why, cap);
	}
	snprintf(why, cap, "unknown probe");
	return 0;
}
