#include "evloop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "fault.h"

int64_t evloop_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void evloop_init(struct evloop *loop)
{
	memset(loop, 0, sizeof *loop);
	loop->signal_fd = -1;
	loop->next_timer_id = 1;
	loop->next_gen = 1;
}

void evloop_close(struct evloop *loop)
{
	if (loop->signal_fd >= 0) {
		close(loop->signal_fd);
		sigprocmask(SIG_SETMASK, &loop->saved_mask, NULL);
	}
	free(loop->watches);
	free(loop->timers);
	evloop_init(loop);
}

static struct evloop_watch *find_watch(struct evloop *loop, int fd)
{
	for (size_t i = 0; i < loop->nwatches; i++)
		if (loop->watches[i].fd == fd)
			return &loop->watches[i];
	return NULL;
}

int evloop_watch(struct evloop *loop, int fd, short events, evloop_fd_fn fn, void *ctx,
		 struct pyro_err *err)
{
	struct evloop_watch *w = find_watch(loop, fd);
	if (w) {
		w->events = events; /* same fd: a new callback, same owner */
		w->fn = fn;
		w->ctx = ctx;
		return 0;
	}
	w = find_watch(loop, -1); /* reuse a slot freed during dispatch */
	if (!w) {
		if (loop->nwatches == loop->capwatches) {
			size_t cap = loop->capwatches ? loop->capwatches * 2 : 16;
			struct evloop_watch *grown =
				pyro_realloc(loop->watches, cap * sizeof *grown);
			if (!grown)
				return pyro_err_set(err, PYRO_EXIT_INTERNAL,
						    "out of memory watching fd %d", fd);
			loop->watches = grown;
			loop->capwatches = cap;
		}
		w = &loop->watches[loop->nwatches++];
	}
	*w = (struct evloop_watch){ fd, events, loop->next_gen++, fn, ctx };
	return 0;
}

void evloop_modify(struct evloop *loop, int fd, short events)
{
	struct evloop_watch *w = find_watch(loop, fd);
	if (w)
		w->events = events;
}

void evloop_unwatch(struct evloop *loop, int fd)
{
	struct evloop_watch *w = find_watch(loop, fd);
	if (w)
		w->fd = -1; /* compacted between rounds, so dispatch indexes stay valid */
}

uint64_t evloop_after(struct evloop *loop, unsigned ms, evloop_timer_fn fn, void *ctx,
		      struct pyro_err *err)
{
	struct evloop_timer *t = NULL;
	for (size_t i = 0; i < loop->ntimers && !t; i++)
		if (loop->timers[i].id == 0)
			t = &loop->timers[i];
	if (!t) {
		if (loop->ntimers == loop->captimers) {
			size_t cap = loop->captimers ? loop->captimers * 2 : 8;
			struct evloop_timer *grown = pyro_realloc(loop->timers, cap * sizeof *grown);
			if (!grown) {
				pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory adding a timer");
				return 0;
			}
			loop->timers = grown;
			loop->captimers = cap;
		}
		t = &loop->timers[loop->ntimers++];
	}
	*t = (struct evloop_timer){ loop->next_timer_id++, evloop_now_ms() + ms, fn, ctx };
	return t->id;
}

void evloop_cancel(struct evloop *loop, uint64_t id)
{
	for (size_t i = 0; id && i < loop->ntimers; i++)
		if (loop->timers[i].id == id)
			loop->timers[i].id = 0;
}

static void on_signal_fd(struct evloop *loop, int fd, short revents, void *ctx)
{
	(void)revents, (void)ctx;
	struct signalfd_siginfo info;
	while (read(fd, &info, sizeof info) == (ssize_t)sizeof info)
		if (loop->signal_fn)
			loop->signal_fn(loop, (int)info.ssi_signo, loop->signal_ctx);
}

int evloop_signals(struct evloop *loop, const int *signos, evloop_signal_fn fn, void *ctx,
		   struct pyro_err *err)
{
	sigemptyset(&loop->signal_set);
	for (; *signos; signos++)
		sigaddset(&loop->signal_set, *signos);
	if (sigprocmask(SIG_BLOCK, &loop->signal_set, &loop->saved_mask) < 0)
		return pyro_err_sys(err, errno, "cannot block signals");
	int fd = signalfd(-1, &loop->signal_set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		sigprocmask(SIG_SETMASK, &loop->saved_mask, NULL);
		return pyro_err_sys(err, e, "cannot create a signalfd");
	}
	loop->signal_fd = fd;
	loop->signal_fn = fn;
	loop->signal_ctx = ctx;
	return evloop_watch(loop, fd, POLLIN, on_signal_fd, NULL, err);
}

void evloop_stop(struct evloop *loop)
{
	loop->stopping = 1;
}

static void compact_watches(struct evloop *loop)
{
	size_t out = 0;
	for (size_t i = 0; i < loop->nwatches; i++)
		if (loop->watches[i].fd >= 0)
			loop->watches[out++] = loop->watches[i];
	loop->nwatches = out;
}

/* Fire due timers, earliest first, and return the milliseconds until the
 * next one (-1: none). */
static int run_timers(struct evloop *loop)
{
	for (;;) {
		int64_t now = evloop_now_ms();
		struct evloop_timer *next = NULL;
		for (size_t i = 0; i < loop->ntimers; i++) {
			struct evloop_timer *t = &loop->timers[i];
			if (t->id && (!next || t->due_ms < next->due_ms))
				next = t;
		}
		if (!next)
			return -1;
		if (next->due_ms > now) {
			int64_t wait = next->due_ms - now;
			return wait > 60000 ? 60000 : (int)wait;
		}
		if (loop->stopping)
			return 0;
		struct evloop_timer fire = *next;
		next->id = 0; /* one-shot: free the slot before the callback */
		fire.fn(loop, fire.ctx);
	}
}

static size_t live_watches(const struct evloop *loop)
{
	size_t n = 0;
	for (size_t i = 0; i < loop->nwatches; i++)
		n += loop->watches[i].fd >= 0;
	return n;
}

int evloop_run(struct evloop *loop, struct pyro_err *err)
{
	struct pollfd *pfds = NULL;
	uint64_t *gens = NULL;
	size_t cap = 0;
	loop->stopping = 0;
	while (!loop->stopping) {
		int timeout = run_timers(loop);
		if (loop->stopping)
			break;
		compact_watches(loop);
		size_t n = live_watches(loop);
		if (n == 0 && timeout < 0)
			break; /* nothing left that could ever happen */
		if (n > cap) {
			struct pollfd *grown = pyro_realloc(pfds, n * sizeof *grown);
			if (grown)
				pfds = grown;
			uint64_t *grown_gens = grown ? pyro_realloc(gens, n * sizeof *gens) : NULL;
			if (!grown_gens) {
				free(pfds);
				free(gens);
				return pyro_err_set(err, PYRO_EXIT_INTERNAL,
						    "out of memory in the event loop");
			}
			gens = grown_gens;
			cap = n;
		}
		/* After compaction slot i is watches[i]; remember who owned it
		 * so a slot re-owned during this round is not handed old events.
		 * Paused watches get fd -1, which poll() skips entirely. */
		for (size_t i = 0; i < n; i++) {
			const struct evloop_watch *w = &loop->watches[i];
			pfds[i] = (struct pollfd){ w->events ? w->fd : -1, w->events, 0 };
			gens[i] = w->gen;
		}
		int rc = poll(pfds, n, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(pfds);
			free(gens);
			return pyro_err_sys(err, e, "poll failed");
		}
		for (size_t i = 0; i < n && rc > 0 && !loop->stopping; i++) {
			if (!pfds[i].revents)
				continue;
			/* Skip a watch removed, or a slot re-owned, by an earlier
			 * callback in this round. Slots do not move within a round
			 * (compaction happens between rounds), but the array may
			 * have been reallocated: index it afresh. */
			struct evloop_watch *w = &loop->watches[i];
			if (w->fd != pfds[i].fd || w->gen != gens[i] || !w->fn)
				continue;
			w->fn(loop, w->fd, pfds[i].revents, w->ctx);
		}
	}
	free(pfds);
	free(gens);
	return 0;
}
