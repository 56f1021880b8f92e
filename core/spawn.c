/* Process spawning, the parent's side: see spawn.h for the contract and
 * spawn_child.c for what happens between fork and exec.
 *
 * Shape of one spawn_run:
 *   parent: validate, resolve PATH candidates (the child must not allocate),
 *           make the pipes (all O_CLOEXEC), block every signal, fork;
 *   child:  reset dispositions, own process group, fds 0-2 in place, close
 *           the rest, chdir, unblock signals, execve each candidate; on
 *           failure write {stage, errno} to the CLOEXEC error pipe, _exit;
 *   parent: restore the mask (plus SIGPIPE blocked), setpgid too, read the
 *           error pipe (EOF = exec happened), then one poll() loop feeding
 *           stdin, reading stdout/stderr, watching the pidfd (or polling
 *           waitid), the deadline and the cancel fd; once the child is gone,
 *           kill its group and drain for at most SPAWN_DRAIN_MS.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "fault.h"

#define READ_CHUNK (16 * 1024)
#define BACKOFF_MAX_MS 50

int spawn_fallback_level;

void spawn_set_fallback_for_tests(int level)
{
	spawn_fallback_level = level;
}

char *spawn_format_timeout(char *dst, size_t cap, unsigned timeout_ms)
{
	char secs[32];
	unsigned whole = timeout_ms / 1000, frac = timeout_ms % 1000;
	if (frac == 0) {
		snprintf(secs, sizeof secs, "%u", whole);
	} else {
		int n = snprintf(secs, sizeof secs, "%u.%03u", whole, frac);
		while (n > 0 && secs[n - 1] == '0')
			secs[--n] = '\0';
	}
	if (cap)
		snprintf(dst, cap, "command timed out after %ss", secs);
	return dst;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd); /* never retried: Linux frees the fd even on EINTR */
		*fd = -1;
	}
}

/* ---- the parent ---- */

struct stream {
	int fd;          /* parent's end, -1 once closed */
	struct buf *buf;
	bool truncated;
};

struct run {
	const struct spawn_opts *opts;
	pid_t pid;
	int pidfd;
	int in_fd;
	size_t in_off;
	struct stream out[2];
	int status;
	bool exited, killed, timed_out, cancelled, got_epipe;
	int64_t deadline, drain_deadline;
	int backoff_ms;
};

static void kill_group(struct run *r)
{
	/* Only ever called while the leader is unreaped (running or a zombie),
	 * so the group id cannot have been reused by someone else. */
	if (r->pid > 1)
		kill(-r->pid, SIGKILL);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Reap the child if it has exited. When it has, first kill what is left of
 * its group (the leader, a zombie until reaped, pins the group id). */
static int check_child(struct run *r, struct pyro_err *err)
{
	if (r->exited)
		return 0;
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		if (errno == EINTR)
			return 0;
		if (errno == ECHILD) {
			/* SIGCHLD is SIG_IGN: the kernel reaped it, the status
			 * is gone and the pid may be reused, so do not kill. */
			r->exited = true;
			return pyro_err_sys(err, ECHILD, "waiting for '%s' "
					    "(is SIGCHLD ignored?)", r->opts->argv[0]);
		}
		return pyro_err_sys(err, errno, "waiting for '%s'", r->opts->argv[0]);
	}
	if (si.si_pid == 0)
		return 0;
	kill_group(r);
	pid_t w;
	do
		w = waitpid(r->pid, &r->status, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return pyro_err_sys(err, errno, "waiting for '%s'", r->opts->argv[0]);
	r->exited = true;
	close_fd(&r->pidfd);
	close_fd(&r->in_fd);
	r->drain_deadline = now_ms() + SPAWN_DRAIN_MS;
	return 0;
}

/* One read from an output pipe: keep what fits under the cap, drop the
 * rest. Reading into a stack chunk first means the buffer only ever grows
 * by what is kept. */
static int read_stream(struct stream *s, const char *name, struct pyro_err *err)
{
	char chunk[READ_CHUNK];
	ssize_t n;
	do
		n = pyro_read(s->fd, chunk, sizeof chunk);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return pyro_err_sys(err, errno, "reading the output of '%s'", name);
	}
	if (n == 0) {
		close_fd(&s->fd);
		return 0;
	}
	size_t max = s->buf->max && s->buf->max < SIZE_MAX / 2 ? s->buf->max : SIZE_MAX / 2;
	size_t room = s->buf->len < max ? max - s->buf->len : 0;
	size_t keep = (size_t)n < room ? (size_t)n : room;
	if (keep < (size_t)n)
		s->truncated = true;
	if (keep && buf_append(s->buf, chunk, keep) < 0)
		return pyro_err_sys(err, errno, "capturing the output of '%s'", name);
	return 0;
}

static int write_stdin(struct run *r, struct pyro_err *err)
{
	const struct spawn_input *in = &r->opts->in;
	while (r->in_off < in->len) {
		ssize_t n = pyro_write(r->in_fd, (const char *)in->data + r->in_off,
				       in->len - r->in_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EPIPE) { /* it stopped reading: not an error */
				r->got_epipe = true;
				break;
			}
			return pyro_err_sys(err, errno, "writing the input of '%s'",
					    r->opts->argv[0]);
		}
		r->in_off += (size_t)n;
	}
	close_fd(&r->in_fd);
	return 0;
}

static int64_t remaining(int64_t deadline, int64_t now)
{
	return deadline > now ? deadline - now : 0;
}

/* The poll loop, from exec until the output is drained. */
static int run_loop(struct run *r, struct pyro_err *err)
{
	const struct spawn_opts *o = r->opts;
	int cancel_fd = o->cancel_fd > 0 ? o->cancel_fd : -1;
	for (;;) {
		int64_t now = now_ms();
		if (r->exited && (now >= r->drain_deadline ||
				  (r->out[0].fd < 0 && r->out[1].fd < 0)))
			return 0;

		struct pollfd pfd[5];
		int n = 0, i_in = -1, i_out[2] = { -1, -1 }, i_pid = -1, i_cancel = -1;
		if (r->in_fd >= 0) {
			i_in = n;
			pfd[n++] = (struct pollfd){ r->in_fd, POLLOUT, 0 };
		}
		for (int k = 0; k < 2; k++)
			if (r->out[k].fd >= 0) {
				i_out[k] = n;
				pfd[n++] = (struct pollfd){ r->out[k].fd, POLLIN, 0 };
			}
		if (!r->exited && r->pidfd >= 0) {
			i_pid = n;
			pfd[n++] = (struct pollfd){ r->pidfd, POLLIN, 0 };
		}
		if (!r->exited && !r->killed && cancel_fd >= 0) {
			i_cancel = n;
			pfd[n++] = (struct pollfd){ cancel_fd, POLLIN, 0 };
		}

		int64_t timeout = -1;
		if (r->exited) {
			timeout = remaining(r->drain_deadline, now);
		} else {
			if (!r->killed && r->deadline)
				timeout = remaining(r->deadline, now);
			if (r->pidfd < 0 && (timeout < 0 || timeout > r->backoff_ms)) {
				timeout = r->backoff_ms;
				r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS
					? BACKOFF_MAX_MS : r->backoff_ms * 2;
			}
		}
		int rc = poll(pfd, (nfds_t)n, (int)timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return pyro_err_sys(err, errno, "waiting for '%s'", o->argv[0]);
		}

		for (int k = 0; k < 2; k++)
			if (i_out[k] >= 0 && pfd[i_out[k]].revents &&
			    read_stream(&r->out[k], o->argv[0], err) < 0)
				return -1;
		if (i_in >= 0 && pfd[i_in].revents && write_stdin(r, err) < 0)
			return -1;
		if (i_cancel >= 0 && pfd[i_cancel].revents) {
			kill_group(r);
			r->killed = r->cancelled = true;
			r->backoff_ms = 1;
		}
		if (!r->exited && (r->pidfd < 0 || (i_pid >= 0 && pfd[i_pid].revents)) &&
		    check_child(r, err) < 0)
			return -1;
		if (!r->exited && !r->killed && r->deadline && now_ms() >= r->deadline) {
			if (check_child(r, err) < 0)
				return -1;
			if (!r->exited) {
				kill_group(r);
				r->killed = r->timed_out = true;
				r->backoff_ms = 1;
			}
		}
	}
}

/* Kill, reap and close everything after a failure past fork. */
static void abort_run(struct run *r)
{
	if (!r->exited) {
		kill_group(r);
		while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
			;
		r->exited = true;
	}
	close_fd(&r->pidfd);
	close_fd(&r->in_fd);
	close_fd(&r->out[0].fd);
	close_fd(&r->out[1].fd);
}

static int report_start_failure(const struct spawn_child_report *rep, const char *name,
				const char *cwd, struct pyro_err *err)
{
	switch (rep->stage) {
	case SPAWN_STAGE_EXEC:
		pyro_err_sys(err, rep->errnum, "cannot run '%s'", name);
		if (err)
			err->code = rep->errnum == ENOENT ? PYRO_EXIT_NOTFOUND
							  : PYRO_EXIT_NOEXEC;
		return -1;
	case SPAWN_STAGE_CHDIR:
		return pyro_err_sys(err, rep->errnum,
				    "cannot run '%s' in directory '%s'", name, cwd);
	default:
		pyro_err_sys(err, rep->errnum, "cannot set up the process for '%s'",
			     name);
		if (err)
			err->code = PYRO_EXIT_INTERNAL;
		return -1;
	}
}

/* fds made before fork. Index: 0-2 child ends, 3-5 parent ends, 6 /dev/null,
 * 7-8 error pipe (read, write). */
enum { FD_CHILD = 0, FD_PARENT = 3, FD_NULL = 6, FD_ERR_R = 7, FD_ERR_W = 8, FD_COUNT };

static void close_child_ends(const struct spawn_opts *o, int *fds);

/* Close what spawn_run owns in `fds` (not the caller's fds, not aliases). */
static void close_all(const struct spawn_opts *o, int *fds)
{
	close_child_ends(o, fds);
	for (int i = 0; i < FD_COUNT; i++)
		close_fd(&fds[i]);
}

static int make_fds(const struct spawn_opts *o, int *fds, struct pyro_err *err)
{
	const char *name = o->argv[0];
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return pyro_err_sys(err, errno, "cannot run '%s': creating a pipe", name);
	fds[FD_ERR_R] = p[0], fds[FD_ERR_W] = p[1];

	enum spawn_mode modes[3] = { o->in.mode, o->out.mode, o->err.mode };
	int given[3] = { o->in.fd, o->out.fd, o->err.fd };
	for (int i = 0; i < 3; i++) {
		switch (modes[i]) {
		case SPAWN_NULL:
			if (fds[FD_NULL] < 0) {
				fds[FD_NULL] = open("/dev/null", O_RDWR | O_CLOEXEC);
				if (fds[FD_NULL] < 0)
					return pyro_err_sys(err, errno,
							    "cannot run '%s': opening /dev/null", name);
			}
			fds[FD_CHILD + i] = fds[FD_NULL]; /* not owned: closed via FD_NULL */
			break;
		case SPAWN_FD:
			fds[FD_CHILD + i] = given[i]; /* the caller's, never closed */
			break;
		case SPAWN_PIPE:
			if (pipe2(p, O_CLOEXEC) < 0)
				return pyro_err_sys(err, errno,
						    "cannot run '%s': creating a pipe", name);
			fds[FD_CHILD + i] = i == 0 ? p[0] : p[1];
			fds[FD_PARENT + i] = i == 0 ? p[1] : p[0];
			if (set_nonblock(fds[FD_PARENT + i]) < 0) {
				int e = errno;
				close(p[0]), close(p[1]);
				fds[FD_CHILD + i] = fds[FD_PARENT + i] = -1;
				return pyro_err_sys(err, e, "cannot run '%s': setting up a pipe", name);
			}
			break;
		}
	}
	return 0;
}

/* Close the child's ends in the parent: only pipe ends are ours to close. */
static void close_child_ends(const struct spawn_opts *o, int *fds)
{
	enum spawn_mode modes[3] = { o->in.mode, o->out.mode, o->err.mode };
	for (int i = 0; i < 3; i++) {
		if (modes[i] == SPAWN_PIPE)
			close_fd(&fds[FD_CHILD + i]);
		else
			fds[FD_CHILD + i] = -1;
	}
}

static int check_opts(const struct spawn_opts *o, struct pyro_err *err)
{
	if (!o || !o->argv || !o->argv[0])
		return pyro_err_set(err, PYRO_EXIT_USAGE, "no command to run");
	if (!o->argv[0][0])
		return pyro_err_set(err, PYRO_EXIT_NOTFOUND,
				    "cannot run '': No such file or directory");
	const struct spawn_output *outs[2] = { &o->out, &o->err };
	const char *names[3] = { "stdin", "stdout", "stderr" };
	enum spawn_mode modes[3] = { o->in.mode, o->out.mode, o->err.mode };
	int given[3] = { o->in.fd, o->out.fd, o->err.fd };
	for (int i = 0; i < 3; i++) {
		if (modes[i] != SPAWN_NULL && modes[i] != SPAWN_PIPE && modes[i] != SPAWN_FD)
			return pyro_err_set(err, PYRO_EXIT_INTERNAL,
					    "spawn: bad mode %d for %s", (int)modes[i], names[i]);
		if (modes[i] == SPAWN_FD && given[i] < 0)
			return pyro_err_set(err, PYRO_EXIT_INTERNAL,
					    "spawn: %s passthrough needs an fd", names[i]);
	}
	for (int i = 0; i < 2; i++)
		if (outs[i]->mode == SPAWN_PIPE && !outs[i]->buf)
			return pyro_err_set(err, PYRO_EXIT_INTERNAL,
					    "spawn: captured %s needs a buffer", names[i + 1]);
	if (o->in.mode == SPAWN_PIPE && o->in.len && !o->in.data)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "spawn: stdin data is NULL");
	return 0;
}

static void fill_result(const struct run *r, struct spawn_result *res)
{
	if (WIFEXITED(r->status)) {
		res->exit_code = WEXITSTATUS(r->status);
	} else if (WIFSIGNALED(r->status)) {
		res->term_signal = WTERMSIG(r->status);
		res->exit_code = 128 + res->term_signal;
	}
	res->timed_out = r->timed_out;
	res->cancelled = r->cancelled;
	res->stdout_truncated = r->out[0].truncated;
	res->stderr_truncated = r->out[1].truncated;
	if (r->timed_out) {
		res->exit_code = PYRO_EXIT_TIMEOUT;
		spawn_format_timeout(res->message, sizeof res->message,
				     r->opts->timeout_ms);
	} else if (r->cancelled) {
		snprintf(res->message, sizeof res->message, "command cancelled");
	}
}

int spawn_run(const struct spawn_opts *o, struct spawn_result *res,
	      struct pyro_err *err)
{
	memset(res, 0, sizeof *res);
	if (check_opts(o, err) < 0)
		return -1;
	const char *name = o->argv[0];
	char **candidates = spawn_path_candidates(name, o->envp);
	if (!candidates)
		return pyro_err_sys(err, ENOMEM, "cannot run '%s'", name);
	int fds[FD_COUNT];
	for (int i = 0; i < FD_COUNT; i++)
		fds[i] = -1;
	if (make_fds(o, fds, err) < 0) {
		close_all(o, fds);
		free(candidates);
		return -1;
	}

	/* SIGPIPE stays blocked in this thread while we feed stdin; one we
	 * cause is consumed before returning unless the caller had one too. */
	sigset_t all, old, during, pending;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	sigpending(&pending);
	bool pipe_was_pending = sigismember(&pending, SIGPIPE) == 1;
	during = old;
	sigaddset(&during, SIGPIPE);

	struct spawn_child_plan plan = {
		.src = { fds[FD_CHILD], fds[FD_CHILD + 1], fds[FD_CHILD + 2] },
		.errfd = fds[FD_ERR_W],
		.cwd = o->cwd,
		.candidates = candidates,
		.argv = (char *const *)o->argv,
		.envp = o->envp ? (char *const *)o->envp : environ,
	};
	int64_t start = now_ms();
	pid_t pid = fork();
	if (pid == 0)
		spawn_child_exec(&plan);
	int fork_errno = errno;
	sigprocmask(SIG_SETMASK, &during, NULL);
	free(candidates);
	if (pid < 0) {
		close_all(o, fds);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return pyro_err_sys(err, fork_errno, "cannot start '%s'", name);
	}
	setpgid(pid, pid); /* the child does it too: whoever runs first wins */
	res->pid = pid;

	struct run r = {
		.opts = o, .pid = pid, .pidfd = -1,
		.in_fd = fds[FD_PARENT],
		.out = { { fds[FD_PARENT + 1], o->out.buf, false },
			 { fds[FD_PARENT + 2], o->err.buf, false } },
		.deadline = o->timeout_ms ? start + (int64_t)o->timeout_ms : 0,
		.backoff_ms = 1,
	};
	for (int i = 0; i < 3; i++)
		fds[FD_PARENT + i] = -1; /* owned by r now */
	close_child_ends(o, fds);
	close_fd(&fds[FD_NULL]);
	close_fd(&fds[FD_ERR_W]);

	/* EOF on the error pipe: exec happened (or the child died first). */
	struct spawn_child_report rep;
	ssize_t got;
	do
		got = pyro_read(fds[FD_ERR_R], &rep, sizeof rep);
	while (got < 0 && errno == EINTR);
	int rc = 0;
	if (got < 0) {
		rc = pyro_err_sys(err, errno, "cannot run '%s': reading the exec status", name);
	} else if (got == (ssize_t)sizeof rep) {
		rc = report_start_failure(&rep, name, o->cwd, err);
	} else if (got != 0) {
		rc = pyro_err_set(err, PYRO_EXIT_INTERNAL,
				  "cannot run '%s': short exec status", name);
	}
	close_fd(&fds[FD_ERR_R]);

	if (rc == 0) {
#ifdef SYS_pidfd_open
		if (spawn_fallback_level < 1)
			r.pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* CLOEXEC */
		if (r.pidfd < 0)
			r.pidfd = -1;
#endif
		if (r.in_fd >= 0 && o->in.len == 0)
			close_fd(&r.in_fd); /* nothing to send: EOF now */
		rc = run_loop(&r, err);
	}
	if (rc < 0) {
		abort_run(&r);
	} else {
		close_fd(&r.out[0].fd);
		close_fd(&r.out[1].fd);
		fill_result(&r, res);
		res->duration_ms = now_ms() - start;
	}

	if (r.got_epipe && !pipe_was_pending) {
		const struct timespec zero = { 0, 0 };
		sigset_t pipe_only;
		sigemptyset(&pipe_only);
		sigaddset(&pipe_only, SIGPIPE);
		while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
