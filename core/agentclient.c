/* The host's guest-agent client: connecting and the generic call. The
 * per-action wrappers are in agentclient_actions.c. See agentclient.h. */
#include "agentclient.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "agentproto.h"
#include "exitcodes.h"

static int64_t call_deadline(const struct agent_target *t)
{
	int ms = t->timeout_ms == 0 ? AGENTCLIENT_DEFAULT_TIMEOUT_MS : t->timeout_ms;
	return agentproto_deadline(ms);
}

static void describe_target(const struct agent_target *t, char *dst, size_t cap)
{
	if (t->uds_path)
		snprintf(dst, cap, "%s", t->uds_path);
	else
		snprintf(dst, cap, "vsock cid %u port %u", t->cid, t->port);
}

/* Non-blocking connect bounded by the deadline. */
static int connect_by(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline_ms)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	for (;;) {
		int64_t left = deadline_ms < 0 ? -1 : deadline_ms - agentproto_deadline(0);
		if (deadline_ms >= 0 && left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int rc = poll(&p, 1, left < 0 ? -1 : (int)(left > 60000 ? 60000 : left));
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc > 0) {
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			if (soerr) {
				errno = soerr;
				return -1;
			}
			return 0;
		}
	}
}

/* Read one "\n"-terminated line (at most cap-1 bytes) byte by byte, so no
 * byte of the answer that follows is consumed. */
static int read_line(int fd, char *dst, size_t cap, int64_t deadline_ms)
{
	size_t n = 0;
	while (n + 1 < cap) {
		int64_t left = deadline_ms < 0 ? -1 : deadline_ms - agentproto_deadline(0);
		if (deadline_ms >= 0 && left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int rc = poll(&p, 1, left < 0 ? -1 : (int)(left > 60000 ? 60000 : left));
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc <= 0)
			continue;
		ssize_t got = read(fd, dst + n, 1);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0) {
			errno = got == 0 ? ECONNRESET : errno;
			return -1;
		}
		if (dst[n] == '\n') {
			dst[n] = 0;
			return 0;
		}
		n++;
	}
	errno = EPROTO;
	return -1;
}

/* "OK <decimal>" and nothing else: Firecracker's acknowledgement names
 * the host-side port it assigned (docs/vsock.md), vmux_host's the stream. */
static bool is_ok_line(const char *line)
{
	if (strncmp(line, "OK ", 3) != 0)
		return false;
	size_t digits = strspn(line + 3, "0123456789");
	return digits >= 1 && digits <= 10 && line[3 + digits] == '\0';
}

/* Firecracker's hybrid vsock: send "CONNECT <port>\n", read the answer
 * line. Firecracker closes the connection when nothing in the guest
 * listens on the port, so EOF here names that, not the socket. */
static int hybrid_handshake(int fd, const struct agent_target *t, const char *where,
			    int64_t deadline_ms, struct pyro_err *err)
{
	char line[128];
	int n = snprintf(line, sizeof line, "CONNECT %u\n", t->port);
	struct pyro_err werr = { 0 };
	if (agentproto_write_all(fd, line, (size_t)n, deadline_ms, &werr) < 0 ||
	    read_line(fd, line, sizeof line, deadline_ms) < 0) {
		int e = errno;
		if (werr.code == PYRO_EXIT_TIMEOUT || e == ETIMEDOUT)
			return pyro_err_set(err, PYRO_EXIT_TIMEOUT,
					    "cannot reach the guest agent at %s: no answer to CONNECT "
					    "%u in time (is the VM running?)", where, t->port);
		if (e == ECONNRESET || e == EPIPE)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "cannot reach the guest agent at %s: the vsock bridge "
					    "closed the connection after CONNECT %u, so nothing in the "
					    "guest listens on port %u (is the guest agent running?)",
					    where, t->port, t->port);
		if (e == EPROTO)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "vsock bridge at %s answered CONNECT %u with a line longer "
					    "than %zu bytes", where, t->port, sizeof line - 1);
		return pyro_err_sys(err, e, "cannot reach the guest agent at %s", where);
	}
	if (is_ok_line(line))
		return 0;
	for (char *c = line; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	if (strcmp(line, "OK") == 0 || strncmp(line, "OK ", 3) == 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "vsock bridge at %s answered CONNECT %u with '%.40s', not "
				    "'OK <port>'", where, t->port, line);
	return pyro_err_set(err, PYRO_EXIT_FAILURE, "vsock bridge at %s rejected port %u: %.80s",
			    where, t->port, line);
}

int agentclient_connect(const struct agent_target *t, int64_t deadline_ms, struct pyro_err *err)
{
	char where[160];
	describe_target(t, where, sizeof where);
	int fd;
	if (t->uds_path) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(t->uds_path) >= sizeof sa.sun_path) {
			pyro_err_set(err, PYRO_EXIT_USAGE, "agent socket path is too long: %s",
				     t->uds_path);
			return -1;
		}
		strcpy(sa.sun_path, t->uds_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect_by(fd, (struct sockaddr *)&sa, sizeof sa, deadline_ms) < 0)
			goto unreachable;
	} else {
		struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = t->cid,
					  .svm_port = t->port };
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect_by(fd, (struct sockaddr *)&sa, sizeof sa, deadline_ms) < 0)
			goto unreachable;
	}
	if (fd < 0) {
		pyro_err_sys(err, errno, "cannot reach the guest agent at %s", where);
		return -1;
	}
	if (t->uds_path && t->hybrid_connect && hybrid_handshake(fd, t, where, deadline_ms, err)) {
		close(fd);
		return -1;
	}
	return fd;
unreachable:;
	int e = errno;
	close(fd);
	if (e == ETIMEDOUT)
		pyro_err_set(err, PYRO_EXIT_TIMEOUT,
			     "cannot reach the guest agent at %s: timed out (is the VM running?)",
			     where);
	else
		pyro_err_set(err, PYRO_EXIT_FAILURE,
			     "cannot reach the guest agent at %s: %s (is the VM running?)", where,
			     strerror(e));
	return -1;
}

/* Copy size bytes from fd into the connection. */
static int send_file_body(int conn, int fd, uint64_t size, int64_t deadline_ms,
			  struct pyro_err *err)
{
	char chunk[65536];
	while (size) {
		ssize_t n = read(fd, chunk, size < sizeof chunk ? (size_t)size : sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pyro_err_sys(err, errno, "reading the file to send");
			return -1;
		}
		if (n == 0) {
			pyro_err_set(err, PYRO_EXIT_FAILURE,
				     "the file to send ended %llu bytes early (did it change?)",
				     (unsigned long long)size);
			return -1;
		}
		if (agentproto_write_all(conn, chunk, (size_t)n, deadline_ms, err) < 0)
			return -1;
		size -= (uint64_t)n;
	}
	return 0;
}

int agentclient_call(const struct agent_target *t, struct json_doc *doc,
		     const struct json_value *req, int body_fd, uint64_t body_size, int out_fd,
		     struct json_value **resp, struct pyro_err *err)
{
	int64_t deadline = call_deadline(t);
	*resp = NULL;
	int fd = agentclient_connect(t, deadline, err);
	if (fd < 0)
		return -1;
	int rc = -1;
	struct agentproto_stream s;
	struct agentproto_limits lim = { .max_header = AGENTCLIENT_MAX_ANSWER_HEADER };
	agentproto_stream_init(&s, fd, AGENTPROTO_RESPONSE, &lim);
	if (agentproto_write_header(fd, AGENTPROTO_REQUEST, req, body_fd >= 0 ? body_size : 0, NULL,
				    deadline, err) < 0)
		goto out;
	if (body_fd >= 0 && send_file_body(fd, body_fd, body_size, deadline, err) < 0) {
		/* The agent may have answered early (a bad destination, say):
		 * its error says more than a broken pipe. */
		struct json_value *h;
		uint64_t sz;
		struct pyro_err e2;
		if (agentproto_stream_header(&s, doc, &h, &sz, agentproto_deadline(1000), &e2) == 1 &&
		    agentproto_response_error(h))
			pyro_err_set(err, PYRO_EXIT_FAILURE, "%s", agentproto_response_error(h));
		goto out;
	}
	struct json_value *h;
	uint64_t size;
	int got = agentproto_stream_header(&s, doc, &h, &size, deadline, err);
	if (got == 0)
		pyro_err_set(err, PYRO_EXIT_FAILURE, "the guest agent closed the connection without answering");
	if (got <= 0)
		goto timeout_check;
	const char *msg = agentproto_response_error(h);
	if (msg) {
		pyro_err_set(err, PYRO_EXIT_FAILURE, "%s", msg);
		goto out;
	}
	if (size && out_fd < 0) {
		pyro_err_set(err, PYRO_EXIT_FAILURE, "the guest agent sent an unexpected %llu-byte body",
			     (unsigned long long)size);
		goto out;
	}
	if (size) {
		char chunk[65536];
		for (;;) {
			ssize_t n = agentproto_stream_body(&s, chunk, sizeof chunk, deadline, err);
			if (n < 0)
				goto timeout_check;
			if (n == 0)
				break;
			if (agentproto_sink_fd(&out_fd, chunk, (size_t)n, err) < 0)
				goto out;
		}
	}
	*resp = h;
	rc = 0;
	goto out;
timeout_check:
	if (err && err->code == PYRO_EXIT_TIMEOUT) {
		int ms = t->timeout_ms == 0 ? AGENTCLIENT_DEFAULT_TIMEOUT_MS : t->timeout_ms;
		char why[PYRO_ERR_MSG_MAX];
		snprintf(why, sizeof why, "%s", err->msg);
		pyro_err_set(err, PYRO_EXIT_TIMEOUT,
			     "the guest agent did not answer within %d s (%s)", (ms + 999) / 1000,
			     why);
	}
out:
	agentproto_stream_release(&s);
	close(fd);
	return rc;
}
