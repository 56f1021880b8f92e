/* pyro-guest-agent's main: parse the listen options, serve connections on
 * threads, and shut down cleanly on SIGTERM. See agent.h. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "../core/exitcodes.h"
#include "../core/log.h"

static const char usage[] =
	"usage: pyro-guest-agent [--vsock PORT | --unix PATH | --fd N | --serial PATH |\n"
	"                         --serial-fd N] [--root DIR]\n"
	"\n"
	"Serve the pyro guest agent protocol (one JSON request line, optional body,\n"
	"one JSON answer) on:\n"
	"  --vsock PORT  AF_VSOCK, any CID (default: port 5005)\n"
	"  --unix PATH   a UNIX socket (created 0600; an old socket file is replaced)\n"
	"  --fd N        an already-open stream carrying one connection; exits at its end\n"
	"  --serial PATH a virtio-serial port multiplexed with vmux (docs/vmux.md), e.g.\n"
	"                /dev/virtio-ports/pyro.agent; kept open for the VM's lifetime\n"
	"  --serial-fd N the same on an already-open fd (tests); exits when a socket ends\n"
	"  --root DIR    tests only: map every guest path (/workspace, /run/...) under DIR\n";

struct listen_opts {
	enum { L_VSOCK, L_UNIX, L_FD, L_SERIAL } kind;
	long port;
	const char *path;
	int fd;
};

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct listen_opts *o)
{
	struct pyro_err err;
	o->kind = L_VSOCK;
	o->port = AGENT_DEFAULT_VSOCK_PORT;
	int chosen = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			exit(0);
		}
		if (i + 1 >= argc) {
			log_msg(LOG_ERROR, "%s needs a value\n%s", a, usage);
			return -1;
		}
		const char *v = argv[++i];
		long n;
		if (!strcmp(a, "--vsock")) {
			if (parse_long(v, 1, 0xffffffffL - 1, &n) < 0) {
				log_msg(LOG_ERROR, "--vsock must be a port number (got '%s')", v);
				return -1;
			}
			o->kind = L_VSOCK;
			o->port = n;
			chosen++;
		} else if (!strcmp(a, "--unix")) {
			o->kind = L_UNIX;
			o->path = v;
			chosen++;
		} else if (!strcmp(a, "--fd")) {
			if (parse_long(v, 0, 1 << 20, &n) < 0) {
				log_msg(LOG_ERROR, "--fd must be a file descriptor number (got '%s')", v);
				return -1;
			}
			o->kind = L_FD;
			o->fd = (int)n;
			chosen++;
		} else if (!strcmp(a, "--serial")) {
			o->kind = L_SERIAL;
			o->path = v;
			o->fd = -1;
			chosen++;
		} else if (!strcmp(a, "--serial-fd")) {
			if (parse_long(v, 0, 1 << 20, &n) < 0) {
				log_msg(LOG_ERROR, "--serial-fd must be a file descriptor number (got '%s')", v);
				return -1;
			}
			o->kind = L_SERIAL;
			o->fd = (int)n;
			chosen++;
		} else if (!strcmp(a, "--root")) {
			if (agent_set_root(v, &err) < 0) {
				log_msg(LOG_ERROR, "%s", err.msg);
				return -1;
			}
		} else {
			log_msg(LOG_ERROR, "unknown option '%s'\n%s", a, usage);
			return -1;
		}
	}
	if (chosen > 1) {
		log_msg(LOG_ERROR, "give one of --vsock, --unix, --fd, --serial, --serial-fd");
		return -1;
	}
	return 0;
}

/* Listen on a UNIX socket. It is bound under a temporary name and renamed
 * into place once listening, so a client that sees the path can connect. */
static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char tmp[sizeof sa.sun_path];
	if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp) {
		log_msg(LOG_ERROR, "--unix path is too long (at most %zu bytes): %s",
			sizeof sa.sun_path - 16, path);
		return -1;
	}
	memcpy(sa.sun_path, tmp, strlen(tmp) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_msg(LOG_ERROR, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(tmp);
	mode_t old = umask(0177); /* the socket file: 0600 */
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0 || rename(tmp, path) < 0) {
		log_msg(LOG_ERROR, "listening on %s: %s", path, strerror(errno));
		unlink(tmp);
		close(fd);
		return -1;
	}
	return fd;
}

static int listen_vsock(long port)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = (unsigned)port,
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_msg(LOG_ERROR, "AF_VSOCK is unavailable: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
		log_msg(LOG_ERROR, "listening on vsock port %ld: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void *connection_thread(void *arg)
{
	agent_serve_connection((int)(intptr_t)arg);
	return NULL;
}

/* A stream handed over as an fd is the agent's only channel: when it ends,
 * shut down like on SIGTERM (pyro-init restarts the agent). */
static void *fd_thread(void *arg)
{
	agent_serve_connection((int)(intptr_t)arg);
	log_msg(LOG_INFO, "the stream on --fd ended");
	kill(getpid(), SIGTERM);
	return NULL;
}

/* The vmux line is the agent's only channel too: when it ends for good,
 * shut down the same way. */
static void *serial_thread(void *arg)
{
	agent_serial_serve((int)(intptr_t)arg, AGENT_DEFAULT_VSOCK_PORT, -1, NULL);
	log_msg(LOG_INFO, "the serial line ended");
	kill(getpid(), SIGTERM);
	return NULL;
}

#define AGENT_THREAD_STACK (1u << 20)

int agent_start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t local;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, AGENT_THREAD_STACK);
	if (!t)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(t ? t : &local, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}

static void make_run_dirs(void)
{
	const char *dirs[] = { "/run", AGENT_SHELL_DIR, AGENT_SERVICE_DIR, NULL };
	for (const char **d = dirs; *d; d++) {
		char p[PATH_MAX];
		if (agent_path(p, *d, NULL) == 0 && mkdir(p, 0755) < 0 && errno != EEXIST)
			log_msg(LOG_WARN, "creating %s: %s", p, strerror(errno));
	}
}

static void shutdown_and_exit(int sig)
{
	log_msg(LOG_INFO, "signal %d: stopping services and shells", sig);
	agent_services_shutdown();
	agent_shells_shutdown();
	exit(0);
}

int pyro_guest_agent_main(int argc, char **argv)
{
	struct listen_opts o = { 0 };
	log_set_prog("pyro-guest-agent");
	log_level_from_env();
	if (parse_args(argc, argv, &o) < 0)
		return PYRO_EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN);
	/* Termination signals go to the main loop's signalfd, never to a
	 * worker thread (threads inherit this mask). */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	int sfd = signalfd(-1, &term, SFD_CLOEXEC);
	if (sfd < 0) {
		log_msg(LOG_ERROR, "signalfd: %s", strerror(errno));
		return PYRO_EXIT_INTERNAL;
	}
	make_run_dirs();

	int lfd = -1;
	/* The host adds virtio ports after the driver is up: give it time. */
	enum { SERIAL_OPEN_WAIT_MS = 10000 };
	if (o.kind == L_SERIAL && o.fd < 0) {
		/* Opened once and never closed: closing a virtio port loses
		 * the bytes in flight (docs/vmux.md). */
		o.fd = agent_serial_open(o.path, SERIAL_OPEN_WAIT_MS);
		if (o.fd < 0) {
			log_msg(LOG_ERROR, "opening %s: %s", o.path, strerror(errno));
			return PYRO_EXIT_FAILURE;
		}
	}
	if (o.kind == L_FD || o.kind == L_SERIAL) {
		if (agent_start_thread(NULL, o.kind == L_FD ? fd_thread : serial_thread,
				       (void *)(intptr_t)o.fd) != 0) {
			log_msg(LOG_ERROR, "cannot start a thread");
			return PYRO_EXIT_INTERNAL;
		}
	} else {
		lfd = o.kind == L_UNIX ? listen_unix(o.path) : listen_vsock(o.port);
		if (lfd < 0)
			return PYRO_EXIT_FAILURE;
	}
	log_msg(LOG_INFO, "serving (root '%s')", agent_root());
	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = lfd, .events = POLLIN } };
		int n = poll(p, lfd >= 0 ? 2 : 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERROR, "poll: %s", strerror(errno));
			continue;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
				shutdown_and_exit((int)si.ssi_signo);
		}
		if (lfd >= 0 && p[1].revents) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0) {
				if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
					usleep(100000); /* let connections finish, don't spin */
				continue;
			}
			if (agent_start_thread(NULL, connection_thread, (void *)(intptr_t)c) != 0) {
				agentproto_write_error(c, "agent is out of threads; retry",
						       agentproto_deadline(1000), NULL);
				close(c);
			}
		}
	}
}
