/* Firecracker's hybrid-vsock handshake from the host side
 * (agentclient_connect with hybrid_connect), against a fake Firecracker: a
 * thread on a UNIX socket that reads the CONNECT line and answers as told.
 * test_agentclient.c covers a good handshake in front of the real agent
 * and a refused port; this file covers the exact bytes on the wire, the
 * stream right behind the "OK" line, and every way the bridge can go
 * wrong. The answers are Firecracker's (docs/vsock.md): "OK <host-side
 * port>\n" once the guest accepted, the connection closed when nothing
 * listens on the port. */
#include "test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../core/agentclient.h"
#include "../../core/agentproto.h"
#include "../../core/exitcodes.h"

struct bridge {
	char sock[300];
	int lfd;
	const char *answer;  /* written once the CONNECT line is in; NULL: none */
	size_t answer_len;
	bool close_at_once;  /* close right after the line, answering nothing */
	char got[256];       /* everything received before the first '\n', with it */
	char after[64];      /* what the client sent after the line */
	pthread_t thread;
};

static void *bridge_main(void *arg)
{
	struct bridge *b = arg;
	int c = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return NULL;
	size_t n = 0;
	while (n + 1 < sizeof b->got && read(c, b->got + n, 1) == 1 && b->got[n++] != '\n')
		;
	b->got[n] = '\0';
	if (b->close_at_once) {
		close(c);
		return NULL;
	}
	if (b->answer)
		(void)!write(c, b->answer, b->answer_len);
	/* Whatever follows (until the client closes) is the stream. */
	size_t m = 0;
	ssize_t r;
	while (m + 1 < sizeof b->after && (r = read(c, b->after + m, sizeof b->after - 1 - m)) > 0)
		m += (size_t)r;
	b->after[m] = '\0';
	close(c);
	return NULL;
}

static int bridge_start(struct bridge *b, const char *answer, size_t len)
{
	memset(b, 0, sizeof *b);
	signal(SIGPIPE, SIG_IGN);
	snprintf(b->sock, sizeof b->sock, "%s/v.sock", test_tmpdir());
	unlink(b->sock);
	b->answer = answer;
	b->answer_len = len;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(b->sock) >= sizeof sa.sun_path)
		return -1;
	memcpy(sa.sun_path, b->sock, strlen(b->sock) + 1);
	b->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (b->lfd < 0 || bind(b->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(b->lfd, 4) < 0)
		return -1;
	return pthread_create(&b->thread, NULL, bridge_main, b) == 0 ? 0 : -1;
}

static void bridge_stop(struct bridge *b)
{
	pthread_join(b->thread, NULL);
	close(b->lfd);
	unlink(b->sock);
}

/* agentclient_connect to the bridge for port 52 within ms. */
static int dial(const struct bridge *b, int ms, struct pyro_err *err)
{
	struct agent_target t = { .uds_path = b->sock, .hybrid_connect = true, .port = 52 };
	return agentclient_connect(&t, agentproto_deadline(ms), err);
}

TEST(fc_handshake_ok_then_the_stream)
{
	/* The acknowledgement and the guest's first bytes in one write: the
	 * client must stop reading at the "\n". */
	static const char answer[] = "OK 1073741824\nguest says hi";
	struct bridge b;
	CHECK(bridge_start(&b, answer, sizeof answer - 1) == 0);
	struct pyro_err err = { 0 };
	int fd = dial(&b, 5000, &err);
	char got[32] = "";
	size_t n = 0;
	if (fd >= 0) {
		(void)!write(fd, "ping", 4);
		while (n < 12) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			ssize_t r = poll(&p, 1, 5000) == 1 ? read(fd, got + n, 12 - n) : -1;
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		close(fd);
	}
	bridge_stop(&b);
	CHECK(fd >= 0);
	CHECK_STR(b.got, "CONNECT 52\n"); /* exactly this, port from the target */
	CHECK_STR(got, "guest says h");
	CHECK_STR(b.after, "ping"); /* nothing but the stream after the line */
}

/* Connect to a bridge giving `answer` and expect an error with `want`
 * and the exit class `code`. */
static int fails_with(const char *answer, size_t len, bool close_at_once, int ms,
		      const char *want, int code)
{
	struct bridge b;
	if (bridge_start(&b, answer, len) < 0)
		return 0;
	b.close_at_once = close_at_once;
	struct pyro_err err = { 0 };
	int fd = dial(&b, ms, &err);
	if (fd >= 0)
		close(fd);
	bridge_stop(&b);
	if (fd >= 0 || err.code != code || !strstr(err.msg, want) || strcmp(b.got, "CONNECT 52\n")) {
		fprintf(stderr, "    fd %d, code %d, msg: %s\n    want %d: %s\n", fd, err.code,
			err.msg, code, want);
		return 0;
	}
	return 1;
}

TEST(fc_handshake_refusals_are_clear)
{
	/* Something that is not Firecracker (or a confused one). */
	CHECK(fails_with("HTTP/1.1 400 Bad Request\r\n\r\n", 28, false, 5000,
			 "/v.sock rejected port 52: HTTP/1.1 400 Bad Request?", PYRO_EXIT_FAILURE));
	/* Nothing listens on the guest port: Firecracker closes. */
	CHECK(fails_with(NULL, 0, true, 5000,
			 "the vsock bridge closed the connection after CONNECT 52, so nothing in "
			 "the guest listens on port 52 (is the guest agent running?)",
			 PYRO_EXIT_FAILURE));
	CHECK(fails_with(NULL, 0, true, 5000, "cannot reach the guest agent at ",
			 PYRO_EXIT_FAILURE));
	/* An acknowledgement without the port number is not one. */
	CHECK(fails_with("OK\n", 3, false, 5000, "answered CONNECT 52 with 'OK', not 'OK <port>'",
			 PYRO_EXIT_FAILURE));
	CHECK(fails_with("OK \n", 4, false, 5000, "with 'OK ', not 'OK <port>'",
			 PYRO_EXIT_FAILURE));
	CHECK(fails_with("OK 12x\n", 7, false, 5000, "with 'OK 12x', not 'OK <port>'",
			 PYRO_EXIT_FAILURE));
	CHECK(fails_with("OK 12345678901\n", 15, false, 5000, "not 'OK <port>'",
			 PYRO_EXIT_FAILURE));
	/* A line that never ends (binary junk) is cut off, not read forever. */
	static char junk[300];
	memset(junk, 0x01, sizeof junk);
	CHECK(fails_with(junk, sizeof junk, false, 5000,
			 "answered CONNECT 52 with a line longer than 127 bytes", PYRO_EXIT_FAILURE));
}

TEST(fc_handshake_silent_bridge_hits_the_deadline)
{
	/* The line is read, nothing comes back: the caller's deadline ends
	 * the wait (PYRO_EXIT_TIMEOUT), whatever state the guest is in. */
	struct bridge b;
	CHECK(bridge_start(&b, NULL, 0) == 0);
	struct pyro_err err = { 0 };
	int64_t t0 = agentproto_deadline(0);
	int fd = dial(&b, 300, &err);
	int64_t took = agentproto_deadline(0) - t0;
	if (fd >= 0)
		close(fd);
	bridge_stop(&b);
	CHECK(fd < 0);
	CHECK(err.code == PYRO_EXIT_TIMEOUT);
	CHECK_CONTAINS(err.msg, "no answer to CONNECT 52 in time (is the VM running?)");
	CHECK(took >= 250 && took < 3000);
	CHECK_STR(b.got, "CONNECT 52\n");
	/* A half answer (no newline) before going quiet is the same timeout. */
	CHECK(fails_with("OK 10737", 8, false, 300, "no answer to CONNECT 52 in time",
			 PYRO_EXIT_TIMEOUT));
}
