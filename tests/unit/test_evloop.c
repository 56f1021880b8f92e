#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "../../core/evloop.h"
#include "../../core/fault.h"
#include "test.h"

struct counter {
	int calls;
	int fd;
	char last;
};

static void read_one(struct evloop *loop, int fd, short revents, void *ctx)
{
	struct counter *c = ctx;
	if (revents & POLLIN) {
		char ch;
		if (read(fd, &ch, 1) == 1)
			c->last = ch;
	}
	c->calls++;
	evloop_unwatch(loop, fd);
}

TEST(evloop_dispatches_readable_fds_and_ends_when_idle)
{
	int p[2];
	CHECK(pipe(p) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	struct evloop loop;
	evloop_init(&loop);
	struct counter c = { 0 };
	CHECK(evloop_watch(&loop, p[0], POLLIN, read_one, &c, NULL) == 0);
	CHECK(evloop_run(&loop, NULL) == 0); /* returns: nothing left to watch */
	CHECK(c.calls == 1 && c.last == 'x');
	evloop_close(&loop);
	close(p[0]);
	close(p[1]);
}

static void stop_loop(struct evloop *loop, void *ctx)
{
	int *order = ctx;
	*order = *order * 10 + 1;
	evloop_stop(loop);
}

static void mark_two(struct evloop *loop, void *ctx)
{
	(void)loop;
	int *order = ctx;
	*order = *order * 10 + 2;
}

static void never(struct evloop *loop, void *ctx)
{
	(void)loop;
	int *order = ctx;
	*order = -1;
}

TEST(evloop_timers_fire_in_order_and_can_be_cancelled)
{
	struct evloop loop;
	evloop_init(&loop);
	int order = 0;
	CHECK(evloop_after(&loop, 30, stop_loop, &order, NULL) > 0);
	CHECK(evloop_after(&loop, 5, mark_two, &order, NULL) > 0);
	uint64_t cancelled = evloop_after(&loop, 1, never, &order, NULL);
	evloop_cancel(&loop, cancelled);
	int64_t start = evloop_now_ms();
	CHECK(evloop_run(&loop, NULL) == 0);
	CHECK(order == 21);
	CHECK(evloop_now_ms() - start >= 30);
	evloop_close(&loop);
}

static void on_sig(struct evloop *loop, int signo, void *ctx)
{
	int *got = ctx;
	*got = signo;
	evloop_stop(loop);
}

TEST(evloop_delivers_signals_through_signalfd_and_restores_the_mask)
{
	struct evloop loop;
	evloop_init(&loop);
	int got = 0;
	static const int sigs[] = { SIGUSR1, 0 };
	CHECK(evloop_signals(&loop, sigs, on_sig, &got, NULL) == 0);
	CHECK(kill(getpid(), SIGUSR1) == 0); /* blocked: waits in the signalfd */
	CHECK(evloop_run(&loop, NULL) == 0);
	CHECK(got == SIGUSR1);
	evloop_close(&loop);
	sigset_t now;
	sigprocmask(SIG_SETMASK, NULL, &now);
	CHECK(!sigismember(&now, SIGUSR1));
}

static void unwatch_other(struct evloop *loop, int fd, short revents, void *ctx)
{
	(void)revents;
	struct counter *c = ctx;
	c->calls++;
	char ch;
	if (read(fd, &ch, 1) != 1)
		return;
	evloop_unwatch(loop, fd);
	evloop_unwatch(loop, c->fd); /* the other one must not be called this round */
}

TEST(evloop_removed_watch_is_not_called_in_the_same_round)
{
	int a[2], b[2];
	CHECK(pipe(a) == 0 && pipe(b) == 0);
	CHECK(write(a[1], "1", 1) == 1 && write(b[1], "2", 1) == 1);
	struct evloop loop;
	evloop_init(&loop);
	struct counter ca = { .fd = b[0] }, cb = { .fd = a[0] };
	CHECK(evloop_watch(&loop, a[0], POLLIN, unwatch_other, &ca, NULL) == 0);
	CHECK(evloop_watch(&loop, b[0], POLLIN, unwatch_other, &cb, NULL) == 0);
	CHECK(evloop_run(&loop, NULL) == 0);
	CHECK(ca.calls + cb.calls == 1);
	evloop_close(&loop);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

TEST(evloop_reports_allocation_failure)
{
	struct evloop loop;
	evloop_init(&loop);
	struct pyro_err err;
	fault_arm(FAULT_ALLOC, 1, ENOMEM);
	CHECK(evloop_watch(&loop, 0, POLLIN, read_one, NULL, &err) == -1);
	CHECK_CONTAINS(err.msg, "out of memory");
	fault_arm(FAULT_ALLOC, 1, ENOMEM);
	CHECK(evloop_after(&loop, 1, never, NULL, &err) == 0);
	evloop_close(&loop);
}

TEST(evloop_due_timers_fire_earliest_first_even_after_a_stall)
{
	struct evloop loop;
	evloop_init(&loop);
	int order = 0;
	/* Added later-due first, so slot order and due order disagree. */
	CHECK(evloop_after(&loop, 30, stop_loop, &order, NULL) > 0);
	CHECK(evloop_after(&loop, 5, mark_two, &order, NULL) > 0);
	usleep(60 * 1000); /* both are due before the loop starts */
	CHECK(evloop_run(&loop, NULL) == 0);
	CHECK(order == 21);
	evloop_close(&loop);
}

static void count_call(struct evloop *loop, int fd, short revents, void *ctx)
{
	(void)loop, (void)fd, (void)revents;
	(*(int *)ctx)++;
}

TEST(evloop_paused_watch_is_not_woken_by_hangup)
{
	int p[2];
	CHECK(pipe(p) == 0);
	close(p[1]); /* the read end now reports POLLHUP forever */
	struct evloop loop;
	evloop_init(&loop);
	int calls = 0, order = 0;
	CHECK(evloop_watch(&loop, p[0], 0, count_call, &calls, NULL) == 0);
	CHECK(evloop_after(&loop, 20, stop_loop, &order, NULL) > 0);
	CHECK(evloop_run(&loop, NULL) == 0);
	CHECK(calls == 0);
	evloop_modify(&loop, p[0], POLLIN);
	CHECK(evloop_after(&loop, 20, stop_loop, &order, NULL) > 0);
	CHECK(evloop_run(&loop, NULL) == 0);
	CHECK(calls > 0); /* resumed: the hangup is seen */
	evloop_close(&loop);
	close(p[0]);
}

struct reuse {
	int first_calls, second_calls;
	int other_fd;   /* the fd the first callback closes and replaces */
	int new_pipe[2];
};

static void second_cb(struct evloop *loop, int fd, short revents, void *ctx)
{
	(void)revents;
	struct reuse *r = ctx;
	r->second_calls++;
	evloop_unwatch(loop, fd);
}

static void first_cb(struct evloop *loop, int fd, short revents, void *ctx)
{
	(void)revents;
	struct reuse *r = ctx;
	if (r->first_calls++)
		return;
	char ch;
	if (read(fd, &ch, 1) != 1)
		return;
	evloop_unwatch(loop, fd);
	/* Close the other readable fd and make a new one with its number:
	 * the new watcher must not get the old fd's events in this round. */
	int old = r->other_fd;
	evloop_unwatch(loop, old);
	close(old);
	if (pipe(r->new_pipe) == 0 && r->new_pipe[0] != old) {
		dup2(r->new_pipe[0], old);
		close(r->new_pipe[0]);
	}
	r->new_pipe[0] = old;
	evloop_watch(loop, old, POLLIN, second_cb, r, NULL);
}

TEST(evloop_reused_fd_number_gets_no_stale_events)
{
	int a[2], b[2];
	CHECK(pipe(a) == 0 && pipe(b) == 0);
	CHECK(write(a[1], "1", 1) == 1 && write(b[1], "2", 1) == 1);
	struct evloop loop;
	evloop_init(&loop);
	struct reuse r = { .other_fd = b[0] };
	int order = 0;
	CHECK(evloop_watch(&loop, a[0], POLLIN, first_cb, &r, NULL) == 0);
	CHECK(evloop_watch(&loop, b[0], POLLIN, first_cb, &r, NULL) == 0);
	CHECK(evloop_after(&loop, 30, stop_loop, &order, NULL) > 0);
	CHECK(evloop_run(&loop, NULL) == 0);
	CHECK(r.first_calls == 1);
	CHECK(r.second_calls == 0); /* the new pipe never had data */
	evloop_close(&loop);
	close(a[0]), close(a[1]), close(b[1]);
	close(r.new_pipe[0]), close(r.new_pipe[1]);
}
