/* The agent over a virtio-serial port: the guest end of a vmux line
 * (docs/vmux.md). Each stream the host opens to the agent's port becomes a
 * socketpair whose other end is served by agent_serve_connection() on its
 * own thread, exactly like an accepted vsock connection, so every action
 * works unchanged. See agent.h. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "../core/evloop.h"
#include "../core/log.h"
#include "../core/vmux_link.h"

/* With no host connected a virtio port reads EOF (and polls as hung up):
 * look again this often rather than spin. */
#define SERIAL_IDLE_RETRY_MS 200

struct serial {
	struct evloop loop;
	struct vmux_link link;
	uint32_t port;
	bool line_is_socket; /* a socket at EOF is over; a port just has no host */
	int rc;
};

static void *conn_thread(void *arg)
{
	agent_serve_connection((int)(intptr_t)arg);
	return NULL;
}

static int on_accept(void *ctx, uint32_t port)
{
	struct serial *s = ctx;
	if (port != s->port)
		return -1;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		log_msg(LOG_WARN, "serial: socketpair: %s", strerror(errno));
		return -1;
	}
	if (agent_start_thread(NULL, conn_thread, (void *)(intptr_t)sp[1]) != 0) {
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	return sp[0];
}

static void on_session(void *ctx, bool up, const char *why)
{
	log_msg(LOG_INFO, "serial: session reset: %s", why ? why : "new session");
}

static void resume(struct evloop *loop, void *ctx)
{
	struct serial *s = ctx;
	vmux_link_resume_line(&s->link);
}

static void on_line_down(void *ctx, bool eof, const char *why)
{
	struct serial *s = ctx;
	if (eof && !s->line_is_socket) {
		evloop_after(&s->loop, SERIAL_IDLE_RETRY_MS, resume, s, NULL);
		return;
	}
	log_msg(LOG_INFO, "serial: the line ended: %s", why);
	s->rc = -1;
	evloop_stop(&s->loop);
}

static void stop_io(struct evloop *loop, int fd, short rev, void *ctx)
{
	evloop_stop(loop);
}

int agent_serial_serve(int line_fd, uint32_t port, int stop_fd, struct vmux_link_stats *stats)
{
	struct serial *s = calloc(1, sizeof *s);
	if (!s)
		return -1;
	struct stat st;
	s->port = port;
	s->line_is_socket = fstat(line_fd, &st) == 0 && S_ISSOCK(st.st_mode);
	evloop_init(&s->loop);
	struct vmux_link_ops ops = {
		.host = false,
		.ctx = s,
		.accept = on_accept,
		.session = on_session,
		.line_down = on_line_down,
	};
	struct pyro_err err;
	int rc = -1;
	if (vmux_link_init(&s->link, &s->loop, line_fd, &ops, &err) < 0 ||
	    (stop_fd >= 0 && evloop_watch(&s->loop, stop_fd, POLLIN, stop_io, s, &err) < 0)) {
		log_msg(LOG_ERROR, "serial: %s", err.msg);
	} else if (evloop_run(&s->loop, &err) < 0) {
		log_msg(LOG_ERROR, "serial: %s", err.msg);
	} else {
		rc = s->rc;
	}
	vmux_link_close(&s->link);
	if (stats)
		*stats = s->link.stats;
	evloop_close(&s->loop);
	free(s);
	return rc;
}

#define VIRTIO_PORTS_DEV "/dev/virtio-ports/"
#define VIRTIO_PORTS_SYS "/sys/class/virtio-ports"

/* /dev/vportXpY for the port called `name`, or -1 (ENOENT). */
static int open_by_name(const char *name)
{
	DIR *d = opendir(VIRTIO_PORTS_SYS);
	if (!d)
		return -1;
	int fd = -1;
	struct dirent *de;
	while (fd < 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[300], got[128] = "";
		snprintf(path, sizeof path, VIRTIO_PORTS_SYS "/%s/name", de->d_name);
		int nfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nfd < 0)
			continue;
		ssize_t n = read(nfd, got, sizeof got - 1);
		close(nfd);
		if (n <= 0)
			continue;
		got[n] = '\0';
		got[strcspn(got, "\n")] = '\0';
		if (strcmp(got, name) != 0)
			continue;
		snprintf(path, sizeof path, "/dev/%s", de->d_name);
		fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	}
	closedir(d);
	if (fd < 0)
		errno = ENOENT;
	return fd;
}

int agent_serial_open(const char *path, int wait_ms)
{
	const char *name = strncmp(path, VIRTIO_PORTS_DEV, strlen(VIRTIO_PORTS_DEV)) == 0
				   ? path + strlen(VIRTIO_PORTS_DEV)
				   : NULL;
	for (int waited = 0;; waited += 20) {
		int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			return fd;
		if (name && (fd = open_by_name(name)) >= 0)
			return fd;
		if (waited >= wait_ms) {
			errno = ENOENT;
			return -1;
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}
