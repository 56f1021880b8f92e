/* vmux end to end, in-process: the real agent in --serial-fd mode
 * (agent_serial_serve) on one end of a socketpair standing in for the
 * virtio-serial line, vmux_host_serve on the other, and core/agentclient
 * calls through the host's UNIX socket with the CONNECT handshake.
 *
 * The socketpair models the port the way FEASIBILITY.md measured it: what
 * one host did not read stays in the line and reaches the next host first.
 * The reconnect test leaves such bytes there (an answer nobody read, plus
 * forged stale frames both ways) and checks the new session discards them. */
#include "test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../core/agentclient.h"
#include "../../core/vmux_host.h"
#include "../../guest-init/agent.h"

struct side {
	pthread_t thread;
	int stop[2];
	int rc;
	struct vmux_link_stats stats;
	struct pyro_err err;
};

struct rig {
	char root[128];
	char sock[160];
	int guest_fd, line_fd; /* the two ends of the "virtio-serial port" */
	struct side guest, host;
	int sessions_up;       /* session_up callbacks seen (host thread) */
};

static void count_session(void *ctx)
{
	struct rig *r = ctx;
	__atomic_add_fetch(&r->sessions_up, 1, __ATOMIC_SEQ_CST);
}


static void *guest_main(void *arg)
{
	struct rig *r = arg;
	r->guest.rc = agent_serial_serve(r->guest_fd, AGENT_DEFAULT_VSOCK_PORT, r->guest.stop[0],
					 &r->guest.stats);
	return NULL;
}

static void *host_main(void *arg)
{
	struct rig *r = arg;
	struct vmux_host_opts o = { .stop_fd = r->host.stop[0], .hello_retry_ms = 300,
				    .stats = &r->host.stats, .session_up = count_session,
				    .session_ctx = r };
	r->host.rc = vmux_host_serve(r->line_fd, r->sock, &o, &r->host.err);
	return NULL;
}

static int wait_for_path(const char *p)
{
	struct stat st;
	for (int i = 0; i < 500; i++) {
		if (stat(p, &st) == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

static int host_start(struct rig *r)
{
	if (pipe(r->host.stop) < 0)
		return -1;
	if (pthread_create(&r->host.thread, NULL, host_main, r) != 0)
		return -1;
	return wait_for_path(r->sock);
}

/* Tell one side's thread to stop (a byte on its stop pipe) and join it. */
static void side_stop(struct side *s)
{
	(void)!write(s->stop[1], "x", 1);
	pthread_join(s->thread, NULL);
	close(s->stop[0]);
	close(s->stop[1]);
}

static int rig_start(struct rig *r)
{
	memset(r, 0, sizeof *r);
	signal(SIGPIPE, SIG_IGN);
	snprintf(r->root, sizeof r->root, "/tmp/pyro-vmux-XXXXXX");
	if (!mkdtemp(r->root))
		return -1;
	char ws[256];
	snprintf(ws, sizeof ws, "%s/workspace", r->root);
	mkdir(ws, 0755);
	if (agent_set_root(r->root, NULL) < 0)
		return -1;
	snprintf(r->sock, sizeof r->sock, "%s/vmux.sock", r->root);
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || pipe(r->guest.stop) < 0)
		return -1;
	r->guest_fd = sp[0];
	r->line_fd = sp[1];
	if (pthread_create(&r->guest.thread, NULL, guest_main, r) != 0)
		return -1;
	return host_start(r);
}

static void rig_remove(struct rig *r)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->root);
	(void)!system(cmd);
}

static struct agent_target target(const struct rig *r)
{
	return (struct agent_target){ .uds_path = r->sock, .hybrid_connect = true,
				      .port = AGENT_DEFAULT_VSOCK_PORT, .timeout_ms = 20000 };
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The baseline: the agent served straight on a UNIX socket, one
 * connection at a time, as test_agentclient.c does. */
struct direct {
	int lfd;
	pthread_t thread;
};

static void *direct_accept(void *arg)
{
	struct direct *d = arg;
	for (;;) {
		int c = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			return NULL;
		agent_serve_connection(c);
	}
}

static int direct_start(struct direct *d, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->lfd < 0 || bind(d->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(d->lfd, 4) < 0)
		return -1;
	return pthread_create(&d->thread, NULL, direct_accept, d);
}

static void direct_stop(struct direct *d)
{
	shutdown(d->lfd, SHUT_RDWR);
	pthread_join(d->thread, NULL);
	close(d->lfd);
}

#define MIB_CMD "head -c 1048576 /dev/zero | tr '\\0' a"

struct exec_job {
	struct agent_target t;
	const char *command;
	int rc;
	size_t out_len;
	char first;
	struct pyro_err err;
};

static void *exec_thread(void *arg)
{
	struct exec_job *j = arg;
	struct json_doc *doc = json_doc_new();
	struct agent_exec_request rq = { .command = j->command, .timeout_seconds = 20 };
	struct agent_exec_result res;
	j->rc = agentclient_exec(&j->t, doc, &rq, &res, &j->err);
	if (j->rc == 0) {
		j->out_len = strlen(res.stdout_text);
		j->first = res.stdout_text[0];
		if (res.exit_code != 0)
			j->rc = -2;
	}
	json_doc_free(doc);
	return NULL;
}

TEST(vmux_agent_actions_through_the_mux)
{
	struct rig r;
	CHECK(rig_start(&r) == 0);
	struct agent_target t = target(&r);
	struct json_doc *doc = json_doc_new();
	struct json_value *resp;
	struct pyro_err err;
	CHECK(agentclient_hello(&t, doc, &resp, &err) == 0);
	CHECK_STR(json_get_str(resp, "agent"), "pyro-guest-agent");
	/* The supervisor's readiness signal: exactly one session came up. */
	CHECK(__atomic_load_n(&r.sessions_up, __ATOMIC_SEQ_CST) == 1);

	/* 1 MiB of output: many DATA frames, several window updates. */
	struct agent_exec_request rq = { .command = MIB_CMD, .timeout_seconds = 20 };
	struct agent_exec_result res;
	double t0 = now_s();
	CHECK(agentclient_exec(&t, doc, &rq, &res, &err) == 0);
	double mux_s = now_s() - t0;
	CHECK(res.exit_code == 0 && strlen(res.stdout_text) == 1048576);
	CHECK(res.stdout_text[0] == 'a' && res.stdout_text[1048575] == 'a');

	/* Two at once, each on its own stream; the slow one starts first. */
	struct exec_job a = { .t = t, .command = "sleep 0.5; head -c 300000 /dev/zero | tr '\\0' b" };
	struct exec_job b = { .t = t, .command = "head -c 200000 /dev/zero | tr '\\0' c" };
	pthread_t ta, tb;
	t0 = now_s();
	CHECK(pthread_create(&ta, NULL, exec_thread, &a) == 0);
	CHECK(pthread_create(&tb, NULL, exec_thread, &b) == 0);
	pthread_join(tb, NULL);
	double b_done = now_s() - t0;
	pthread_join(ta, NULL);
	double a_done = now_s() - t0;
	CHECK(b.rc == 0 && b.out_len == 200000 && b.first == 'c');
	CHECK(a.rc == 0 && a.out_len == 300000 && a.first == 'b');
	CHECK(b_done + 0.2 < a_done); /* not queued behind the slow one */

	/* Files both ways. */
	CHECK(agentclient_write_workspace_file(&t, doc, "notes/a.txt", "via vmux\n", 9, &resp,
					       &err) == 0);
	struct buf content = BUF_INIT;
	CHECK(agentclient_read_workspace_file(&t, doc, "notes/a.txt", 100, &content, &resp,
					      &err) == 0);
	CHECK_STR(content.data, "via vmux\n");
	buf_release(&content);

	/* A port nobody serves: the guest refuses, the client is told. */
	t.port = 7;
	CHECK(agentclient_hello(&t, doc, &resp, &err) < 0);
	CHECK_CONTAINS(err.msg, "cannot reach the guest agent");
	t.port = AGENT_DEFAULT_VSOCK_PORT;

	side_stop(&r.host);
	CHECK(r.host.rc == 0 && r.host.stats.sessions == 1);

	/* Throughput figures for the report (printed, not checked): the
	 * best of 5 through the mux and straight over a UNIX socket. */
	double best_mux = mux_s, best_direct = 1e9;
	CHECK(host_start(&r) == 0);
	for (int i = 0; i < 5; i++) {
		t0 = now_s();
		CHECK(agentclient_exec(&t, doc, &rq, &res, &err) == 0);
		if (now_s() - t0 < best_mux)
			best_mux = now_s() - t0;
	}
	side_stop(&r.host);
	struct direct d;
	char path[200];
	snprintf(path, sizeof path, "%s/direct.sock", r.root);
	CHECK(direct_start(&d, path) == 0);
	struct agent_target td = { .uds_path = path, .timeout_ms = 20000 };
	for (int i = 0; i < 5; i++) {
		t0 = now_s();
		CHECK(agentclient_exec(&td, doc, &rq, &res, &err) == 0);
		if (now_s() - t0 < best_direct)
			best_direct = now_s() - t0;
	}
	direct_stop(&d);
	CHECK(strlen(res.stdout_text) == 1048576);
	fprintf(stderr, "    vmux: 1 MiB exec: %.1f ms through the mux, %.1f ms direct\n",
		best_mux * 1e3, best_direct * 1e3);
	side_stop(&r.guest);
	close(r.guest_fd);
	close(r.line_fd);
	json_doc_free(doc);
	rig_remove(&r);
}

/* Write a forged frame straight onto one end of the line. */
static void inject(int fd, uint8_t type, uint32_t stream, const void *p, uint32_t n, size_t cut)
{
	struct buf b = BUF_INIT;
	vmux_append(&b, type, stream, p, n);
	(void)!write(fd, b.data, cut && cut < b.len ? cut : b.len);
	buf_release(&b);
}

TEST(vmux_host_reconnect_discards_the_old_sessions_bytes)
{
	struct rig r;
	CHECK(rig_start(&r) == 0);
	struct agent_target t = target(&r);
	struct json_doc *doc = json_doc_new();
	struct json_value *resp;
	struct pyro_err err;
	CHECK(agentclient_hello(&t, doc, &resp, &err) == 0);

	/* A call in flight when the host goes away: its client errors out,
	 * and the answer the guest sends later stays in the line, unread. */
	struct exec_job late = { .t = t, .command = "sleep 0.4; echo late-answer" };
	pthread_t tl;
	CHECK(pthread_create(&tl, NULL, exec_thread, &late) == 0);
	usleep(150000);
	side_stop(&r.host);
	pthread_join(tl, NULL);
	CHECK(late.rc == -1);
	usleep(500000); /* the guest writes the late answer into the line */

	/* More stale bytes: towards the host, garbage, an old-session DATA
	 * frame, an ACK carrying another nonce, a frame cut short; towards
	 * the guest, a DATA frame cut short (an old host's partial write). */
	char junk[3000];
	memset(junk, 'P', sizeof junk);
	uint8_t wrong[VMUX_NONCE] = "not-this-nonce!";
	(void)!write(r.guest_fd, "garbage\n", 8);
	inject(r.guest_fd, VMUX_DATA, 1, "stale", 5, 0);
	inject(r.guest_fd, VMUX_HELLO_ACK, 0, wrong, VMUX_NONCE, 0);
	inject(r.guest_fd, VMUX_DATA, 1, junk, sizeof junk, 700);
	inject(r.line_fd, VMUX_DATA, 1, junk, sizeof junk, 900);
	struct vmux_link_stats first = r.host.stats;

	CHECK(host_start(&r) == 0);
	CHECK(agentclient_hello(&t, doc, &resp, &err) == 0);
	struct agent_exec_request rq = { .command = "echo fresh", .timeout_seconds = 10 };
	struct agent_exec_result res;
	CHECK(agentclient_exec(&t, doc, &rq, &res, &err) == 0);
	CHECK_STR(res.stdout_text, "fresh\n");

	/* The line's loss: a call in flight errors out at once, and the
	 * host returns with the reason. */
	struct exec_job lost = { .t = t, .command = "sleep 5" };
	pthread_t tx;
	CHECK(pthread_create(&tx, NULL, exec_thread, &lost) == 0);
	usleep(200000);
	double t0 = now_s();
	side_stop(&r.guest);
	close(r.guest_fd);
	pthread_join(tx, NULL);
	double took = now_s() - t0;
	pthread_join(r.host.thread, NULL);
	close(r.host.stop[0]);
	close(r.host.stop[1]);
	close(r.line_fd);
	CHECK(lost.rc == -1 && took < 2.0);
	CHECK(r.host.rc == -1);
	CHECK_STR(r.host.err.msg, "the line to the guest was closed");

	CHECK(first.sessions == 1 && r.host.stats.sessions == 1);
	/* Host 2 dropped at least the late answer's frames, the forged ones
	 * and the guest's pad; the guest dropped the cut frame and the pad. */
	CHECK(r.host.stats.discarded >= 8 + 29 + 40 + 700 + VMUX_PAD);
	CHECK(r.guest.stats.sessions == 2);
	CHECK(r.guest.stats.discarded >= VMUX_PAD);
	CHECK(r.guest.rc == 0);
	json_doc_free(doc);
	rig_remove(&r);
}

struct ka {
	int line;
	char sock[160];
	int rc;
	struct vmux_link_stats stats;
	struct pyro_err err;
};

static void *ka_host(void *arg)
{
	struct ka *k = arg;
	struct vmux_host_opts o = { .stop_fd = -1, .keepalive_ms = 100, .hello_retry_ms = 5000,
				    .stats = &k->stats };
	k->rc = vmux_host_serve(k->line, k->sock, &o, &k->err);
	return NULL;
}

/* A hand-made guest that answers the handshake (after an ACK with the
 * wrong nonce, which the host must skip) and then ignores PINGs. */
TEST(vmux_host_ignores_a_wrong_ack_and_drops_a_silent_guest)
{
	struct ka k = { 0 };
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	k.line = sp[1];
	snprintf(k.sock, sizeof k.sock, "%s/ka.sock", test_tmpdir());
	pthread_t th;
	CHECK(pthread_create(&th, NULL, ka_host, &k) == 0);
	struct vmux_decoder *d = malloc(sizeof *d);
	CHECK(d);
	vmux_decoder_init(d, VMUX_HELLO, NULL);
	struct vmux_frame f;
	int rc = 0;
	while (rc == 0) {
		size_t room;
		uint8_t *p = vmux_decoder_space(d, &room);
		ssize_t n = read(sp[0], p, room);
		if (n <= 0)
			break;
		vmux_decoder_commit(d, (size_t)n);
		rc = vmux_decoder_next(d, &f);
	}
	uint8_t nonce[VMUX_NONCE], wrong[VMUX_NONCE];
	bool got_hello = rc == 1 && f.type == VMUX_HELLO;
	if (got_hello)
		memcpy(nonce, f.payload, VMUX_NONCE);
	memcpy(wrong, nonce, VMUX_NONCE);
	wrong[0] ^= 0xff;
	free(d);
	struct buf b = BUF_INIT;
	vmux_append(&b, VMUX_HELLO_ACK, 0, wrong, VMUX_NONCE);
	vmux_append(&b, VMUX_HELLO_ACK, 0, nonce, VMUX_NONCE);
	(void)!write(sp[0], b.data, b.len);
	buf_release(&b);
	double t0 = now_s();
	pthread_join(th, NULL);
	double took = now_s() - t0;
	close(sp[0]);
	close(sp[1]);
	CHECK(got_hello);
	CHECK(k.rc == -1 && k.stats.sessions == 1);
	CHECK(k.stats.discarded == VMUX_HEADER + VMUX_NONCE); /* the wrong ACK */
	CHECK_CONTAINS(k.err.msg, "stopped answering keepalives");
	CHECK(took < 2.0);
}
