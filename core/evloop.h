/* One poll() event loop: fd watchers, one-shot timers and signals (through a
 * signalfd), shared by the port proxy, the MCP server and the guest agent.
 *
 * Ownership: the caller owns the `struct evloop` (embed it or put it on the
 * stack); the loop owns its watcher and timer arrays and its signalfd,
 * released by evloop_close(). It never owns the watched fds: closing them
 * is the caller's job (unwatch first).
 *
 * Callbacks may add and remove watchers and timers, including their own,
 * and may call evloop_stop(); a watcher removed during a dispatch round is
 * not called again in that round, even when a new watcher took its fd
 * number meanwhile. A paused watch (events 0) is left out of poll(), so
 * not even POLLHUP or POLLERR wake it. Due timers fire earliest first.
 * Single-threaded. */
#ifndef PYRO_EVLOOP_H
#define PYRO_EVLOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct evloop;
typedef void (*evloop_fd_fn)(struct evloop *loop, int fd, short revents, void *ctx);
typedef void (*evloop_timer_fn)(struct evloop *loop, void *ctx);
typedef void (*evloop_signal_fn)(struct evloop *loop, int signo, void *ctx);

struct evloop_watch {
	int fd;           /* -1: free slot */
	short events;     /* 0: paused (not polled at all, so no POLLHUP either) */
	uint64_t gen;     /* changes when the slot gets a new owner */
	evloop_fd_fn fn;
	void *ctx;
};

struct evloop_timer {
	uint64_t id;      /* 0: free slot */
	int64_t due_ms;   /* monotonic */
	evloop_timer_fn fn;
	void *ctx;
};

struct evloop {
	struct evloop_watch *watches;
	size_t nwatches, capwatches;
	struct evloop_timer *timers;
	size_t ntimers, captimers;
	uint64_t next_timer_id;
	uint64_t next_gen;
	int signal_fd;             /* -1 until evloop_signals() */
	sigset_t signal_set;
	sigset_t saved_mask;       /* restored by evloop_close() */
	evloop_signal_fn signal_fn;
	void *signal_ctx;
	int stopping;
};

void evloop_init(struct evloop *loop);
void evloop_close(struct evloop *loop);

/* Watch fd for `events` (POLLIN, POLLOUT); replaces an existing watch of
 * the same fd. -1 only on allocation failure. */
int evloop_watch(struct evloop *loop, int fd, short events, evloop_fd_fn fn, void *ctx,
		 struct pyro_err *err);
/* Change the events of an existing watch (0 pauses it). */
void evloop_modify(struct evloop *loop, int fd, short events);
void evloop_unwatch(struct evloop *loop, int fd);

/* Call fn once after `ms` milliseconds. Returns an id > 0, or 0 on
 * allocation failure. */
uint64_t evloop_after(struct evloop *loop, unsigned ms, evloop_timer_fn fn, void *ctx,
		      struct pyro_err *err);
void evloop_cancel(struct evloop *loop, uint64_t id);

/* Deliver the given signals (0-terminated list) to fn through the loop
 * instead of asynchronously: they are blocked and read from a signalfd. */
int evloop_signals(struct evloop *loop, const int *signos, evloop_signal_fn fn, void *ctx,
		   struct pyro_err *err);

/* Run until evloop_stop() or until nothing is watched and no timer is
 * pending. Returns 0, or -1 if poll itself fails. */
int evloop_run(struct evloop *loop, struct pyro_err *err);
void evloop_stop(struct evloop *loop);

int64_t evloop_now_ms(void);

#endif
