/* PTY shells, the terminal side: open a PTY, start the shell on it, read
 * what it prints, reap it, end it. See agent_shell.h.
 *
 * The child is started by hand rather than with core/spawn, which runs a
 * command to completion on pipes; it gets the same hygiene: every signal at
 * its default disposition and an empty mask, only fds 0-2 open, and its own
 * session (hence process group), with the PTY as controlling terminal. */
#include "agent_shell.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../core/atomicfile.h"
#include "../core/exitcodes.h"
#include "../core/log.h"
#include "../core/spawn.h"
#include "../core/utf8.h"

#ifndef NSIG
#define NSIG 65
#endif

/* Without a pidfd, the reader looks for the shell's exit this often. */
#define REAP_POLL_MS 100
#define READ_CHUNK 65536

/* Where bash is looked for: the PATH commands get (agent_command_env), so
 * the choice does not depend on a PATH a caller passes in "env". */
static const char shell_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

double shell_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the child, between fork and exec: async-signal-safe calls only ---- */

enum { STAGE_SETUP = 1, STAGE_CHDIR, STAGE_EXEC };

struct child_report {
	int stage;
	int errnum;
};

struct child_plan {
	int slave;
	int errfd;
	const char *cwd;
	char *const *argv;
	char *const *envp;
};

static _Noreturn void child_fail(int errfd, int stage, int errnum)
{
	struct child_report r = { stage, errnum };
	ssize_t n;
	do
		n = write(errfd, &r, sizeof r);
	while (n < 0 && errno == EINTR);
	_exit(127);
}

static void close_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
		return;
#endif
	/* Kernels before 5.9: the agent keeps few fds, so a bounded sweep
	 * is enough (it only ever opens CLOEXEC fds anyway). */
	struct rlimit rl;
	long max = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (long)rl.rlim_cur < max)
		max = (long)rl.rlim_cur;
	for (long fd = lowfd; fd < max; fd++)
		close((int)fd);
}

static _Noreturn void child_exec(const struct child_plan *p)
{
	int errfd = p->errfd;
	/* Every signal is blocked (the parent did it before fork), so no
	 * agent handler can run before its disposition is reset. */
	spawn_child_reset_signals();
	if (setsid() < 0 || ioctl(p->slave, TIOCSCTTY, 0) < 0)
		child_fail(errfd, STAGE_SETUP, errno);
	/* Lift both fds above 3 first, so no dup2 below overwrites one. */
	int slave = fcntl(p->slave, F_DUPFD_CLOEXEC, 4);
	if (slave < 0)
		child_fail(errfd, STAGE_SETUP, errno);
	if (errfd < 4) {
		int moved = fcntl(errfd, F_DUPFD_CLOEXEC, 4);
		if (moved < 0)
			child_fail(errfd, STAGE_SETUP, errno);
		errfd = moved;
	}
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			child_fail(errfd, STAGE_SETUP, errno);
	if (dup3(errfd, 3, O_CLOEXEC) < 0)
		child_fail(errfd, STAGE_SETUP, errno);
	errfd = 3;
	close_from(4);
	if (chdir(p->cwd) < 0)
		child_fail(errfd, STAGE_CHDIR, errno);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(p->argv[0], p->argv, p->envp);
	child_fail(errfd, STAGE_EXEC, errno);
}

/* ---- starting ---------------------------------------------------------- */

/* bash from the command PATH, else /bin/sh. */
static void pick_program(char bash[PATH_MAX], const char **argv)
{
	for (const char *p = shell_path; *p;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n && n + 6 < PATH_MAX) {
			memcpy(bash, p, n);
			memcpy(bash + n, "/bash", 6);
			if (access(bash, X_OK) == 0) {
				argv[0] = bash;
				argv[1] = "--noprofile";
				argv[2] = "--norc";
				argv[3] = "-i";
				argv[4] = NULL;
				return;
			}
		}
		if (!end)
			break;
		p = end + 1;
	}
	argv[0] = "/bin/sh";
	argv[1] = "-i";
	argv[2] = NULL;
}

static int open_pty(struct shell *sh, int *slave_out, struct pyro_err *err)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return pyro_err_sys(err, errno, "cannot open a terminal for shell %s (/dev/ptmx)",
				    sh->id);
	int s = -1;
	if (grantpt(m) < 0 || unlockpt(m) < 0)
		goto fail;
#ifdef TIOCGPTPEER
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
#endif
	if (s < 0) {
		char name[128];
		if (ptsname_r(m, name, sizeof name) != 0)
			goto fail;
		s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (s < 0)
			goto fail;
	}
	struct winsize ws = { .ws_row = (unsigned short)sh->rows,
			      .ws_col = (unsigned short)sh->cols };
	int fl = fcntl(m, F_GETFL);
	if (ioctl(s, TIOCSWINSZ, &ws) < 0 || fl < 0 || fcntl(m, F_SETFL, fl | O_NONBLOCK) < 0)
		goto fail;
	sh->master = m;
	*slave_out = s;
	return 0;
fail:;
	int e = errno;
	if (s >= 0)
		close(s);
	close(m);
	return pyro_err_sys(err, e, "cannot set up a terminal for shell %s", sh->id);
}

static void *reader_main(void *arg);

/* Reap a child that failed before or at exec (it has exited already). */
static void reap_failed(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int report_failure(const struct shell *sh, const struct child_report *r,
			  const char *prog, struct pyro_err *err)
{
	switch (r->stage) {
	case STAGE_CHDIR:
		return pyro_err_sys(err, r->errnum, "cannot start shell %s in %s", sh->id, sh->cwd);
	case STAGE_EXEC:
		return pyro_err_sys(err, r->errnum, "cannot run %s for shell %s", prog, sh->id);
	default:
		pyro_err_sys(err, r->errnum, "cannot give shell %s its terminal", sh->id);
		if (err)
			err->code = PYRO_EXIT_INTERNAL;
		return -1;
	}
}

int shell_start(struct shell *sh, const char *host_cwd, char *const *envp,
		struct pyro_err *err)
{
	char bash[PATH_MAX];
	const char *argv[5];
	pick_program(bash, argv);

	int slave = -1, ep[2];
	if (open_pty(sh, &slave, err) < 0)
		return -1;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		pyro_err_sys(err, errno, "cannot start shell %s: creating a pipe", sh->id);
		close(slave);
		return -1;
	}
	sh->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sh->wake < 0) {
		pyro_err_sys(err, errno, "cannot start shell %s: creating an eventfd", sh->id);
		close(slave), close(ep[0]), close(ep[1]);
		return -1;
	}
	struct child_plan plan = {
		.slave = slave,
		.errfd = ep[1],
		.cwd = host_cwd,
		.argv = (char *const *)argv,
		.envp = envp,
	};
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pid_t pid = fork();
	if (pid == 0)
		child_exec(&plan);
	int fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(slave);
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		return pyro_err_sys(err, fork_errno, "cannot start shell %s", sh->id);
	}
	/* EOF on the error pipe means exec happened (the pipe is CLOEXEC). */
	struct child_report rep;
	ssize_t n;
	do
		n = read(ep[0], &rep, sizeof rep);
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof rep) {
		reap_failed(pid);
		return report_failure(sh, &rep, argv[0], err);
	}
	sh->pid = pid;
	sh->running = true;
#ifdef SYS_pidfd_open
	sh->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* CLOEXEC by default */
#endif
	/* The first summary goes out before the reader runs, so the reader's
	 * "stopped" one can never be overwritten by it. */
	shell_write_meta(sh);
	int rc = agent_start_thread(&sh->reader, reader_main, sh);
	if (rc != 0) {
		killpg(pid, SIGKILL);
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&sh->lock);
		sh->running = false;
		sh->has_exit_code = true;
		sh->exit_code = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
		sh->ended_at = shell_now();
		pthread_mutex_unlock(&sh->lock);
		shell_write_meta(sh);
		return pyro_err_sys(err, rc, "cannot start the reader thread of shell %s", sh->id);
	}
	sh->reader_started = true;
	return 0;
}

/* ---- metadata ------------------------------------------------------------ */

void shell_write_meta(struct shell *sh)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *obj = doc ? json_object(doc) : NULL;
	struct buf text = BUF_INIT;
	struct pyro_err err;
	int rc = -1;
	if (obj) {
		pthread_mutex_lock(&sh->lock);
		rc = shell_summary(doc, obj, sh);
		pthread_mutex_unlock(&sh->lock);
	}
	if (rc == 0 && json_emit(&text, obj, JSON_EMIT_PRETTY) == 0) {
		if (atomicfile_write(sh->meta_path, text.data, text.len, 0644, &err) < 0)
			log_warn("shell %s: %s", sh->id, err.msg);
	} else {
		log_warn("shell %s: out of memory writing %s", sh->id, sh->meta_path);
	}
	buf_release(&text);
	json_doc_free(doc);
}

/* ---- the reader thread ------------------------------------------------------ */

static bool is_cont(unsigned char b)
{
	return (b & 0xc0) == 0x80;
}

/* Keep s[0..n) (valid UTF-8) in memory, dropping the oldest output when the
 * cap would be passed. */
static void keep_output(struct shell *sh, const char *s, size_t n)
{
	pthread_mutex_lock(&sh->lock);
	struct buf *out = &sh->out;
	if (out->len + n > SHELL_OUTPUT_CAP) {
		size_t keep = SHELL_OUTPUT_KEEP > n ? SHELL_OUTPUT_KEEP - n : 0;
		size_t drop = out->len > keep ? out->len - keep : 0;
		while (drop < out->len && is_cont((unsigned char)out->data[drop]))
			drop++;
		sh->dropped += utf8_count(out->data, drop);
		buf_consume(out, drop);
	}
	if (buf_append(out, s, n) < 0) {
		/* Out of memory: this chunk is lost to reads (the log has it);
		 * count it as dropped so cursors still move past it. */
		sh->dropped += utf8_count(s, n);
		log_warn("shell %s: out of memory keeping output", sh->id);
	}
	pthread_mutex_unlock(&sh->lock);
}

/* Mirror decoded output to the .log file, up to SHELL_LOG_CAP bytes. */
static void mirror(struct shell *sh, size_t *logged, const char *s, size_t n)
{
	static const char stop[] = "\n[pyro: this log stops at its size limit; "
				   "read_shell still returns the latest output]\n";
	if (sh->log_fd < 0)
		return;
	size_t room = SHELL_LOG_CAP - *logged;
	size_t k = n <= room ? n : utf8_cut(s, n, room);
	int rc = k ? atomicfile_write_all(sh->log_fd, s, k) : 0;
	*logged += k;
	if (rc == 0 && k < n)
		rc = atomicfile_write_all(sh->log_fd, stop, sizeof stop - 1) < 0 ? -1 : 1;
	if (rc < 0)
		log_warn("shell %s: writing its log: %s", sh->id, strerror(errno));
	if (rc != 0) {
		close(sh->log_fd);
		sh->log_fd = -1;
	}
}

static void take(struct shell *sh, struct utf8_dec *dec, size_t *logged, const char *raw,
		 size_t n, bool final)
{
	struct buf text = BUF_INIT;
	int rc = final ? utf8_dec_finish(dec, &text) : utf8_dec_feed(dec, &text, raw, n);
	if (rc < 0)
		log_warn("shell %s: out of memory decoding output", sh->id);
	if (text.len) {
		mirror(sh, logged, text.data, text.len);
		keep_output(sh, text.data, text.len);
	}
	buf_release(&text);
}

/* Reap the shell if it has exited (or, with block, once it does) and
 * record how it ended. The shell lock is held around a non-blocking
 * waitpid, so shell_kill (which runs under it while `running`) can never
 * signal a pid that has been reaped and reused. */
static bool reap(struct shell *sh, bool block)
{
	int st = 0;
	pid_t w;
	if (block) {
		do
			w = waitpid(sh->pid, &st, 0);
		while (w < 0 && errno == EINTR);
		pthread_mutex_lock(&sh->lock);
	} else {
		pthread_mutex_lock(&sh->lock);
		do
			w = waitpid(sh->pid, &st, WNOHANG);
		while (w < 0 && errno == EINTR);
		if (w == 0) {
			pthread_mutex_unlock(&sh->lock);
			return false;
		}
	}
	sh->running = false;
	sh->ended_at = shell_now();
	if (w == sh->pid) {
		sh->has_exit_code = true;
		/* Like the rest of pyro (core/spawn): 128+N for signal N. */
		sh->exit_code = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
	} else {
		log_warn("shell %s: waiting for pid %ld: %s (is SIGCHLD ignored?)", sh->id,
			 (long)sh->pid, strerror(errno));
	}
	pthread_cond_broadcast(&sh->changed);
	pthread_mutex_unlock(&sh->lock);
	shell_write_meta(sh);
	return true;
}

/* Until told to stop: read the terminal until it hangs up (EIO once no
 * process has the other side open), and reap the shell when it exits.
 * Both can happen in either order: a background job may keep the terminal
 * open after the shell is gone, and its output is still the shell's. */
static void *reader_main(void *arg)
{
	struct shell *sh = arg;
	struct utf8_dec dec = UTF8_DEC_INIT;
	size_t logged = 0;
	bool eof = false, reaped = false;
	char chunk[READ_CHUNK];
	while (!(eof && reaped)) {
		struct pollfd p[3];
		int n = 0, im = -1, ip = -1, iw;
		if (!eof) {
			im = n;
			p[n++] = (struct pollfd){ sh->master, POLLIN, 0 };
		}
		if (!reaped && sh->pidfd >= 0) {
			ip = n;
			p[n++] = (struct pollfd){ sh->pidfd, POLLIN, 0 };
		}
		iw = n;
		p[n++] = (struct pollfd){ sh->wake, POLLIN, 0 };
		int timeout = !reaped && sh->pidfd < 0 ? REAP_POLL_MS : -1;
		if (poll(p, (nfds_t)n, timeout) < 0) {
			if (errno != EINTR) {
				log_warn("shell %s: poll: %s", sh->id, strerror(errno));
				usleep(10000);
			}
			continue;
		}
		if (im >= 0 && p[im].revents) {
			ssize_t k = read(sh->master, chunk, sizeof chunk);
			if (k > 0)
				take(sh, &dec, &logged, chunk, (size_t)k, false);
			else if (k == 0 || (errno != EAGAIN && errno != EINTR))
				eof = true;
		}
		if (!reaped && (ip < 0 || p[ip].revents))
			reaped = reap(sh, false);
		if (p[iw].revents)
			break;
	}
	take(sh, &dec, &logged, NULL, 0, true);
	/* Told to stop while the shell still runs: the closer has sent
	 * SIGKILL by now, so this wait ends. */
	if (!reaped)
		reap(sh, true);
	if (sh->log_fd >= 0) {
		close(sh->log_fd);
		sh->log_fd = -1;
	}
	return NULL;
}

/* ---- input, signals, closing ---------------------------------------------- */

int shell_write_input(struct shell *sh, const char *data, size_t len, struct pyro_err *err)
{
	int64_t deadline = mono_ms() + SHELL_WRITE_TIMEOUT_MS;
	size_t off = 0;
	int rc = 0;
	pthread_mutex_lock(&sh->write_lock);
	while (off < len) {
		ssize_t n = write(sh->master, data + off, len - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The terminal's input queue is full: wait for room. */
			int64_t left = deadline - mono_ms();
			struct pollfd p = { sh->master, POLLOUT, 0 };
			if (left > 0 && (poll(&p, 1, (int)left) >= 0 || errno == EINTR))
				continue;
			rc = pyro_err_set(err, PYRO_EXIT_TIMEOUT,
					  "timed out after %ds with %zu of %zu bytes written; the "
					  "shell is not reading its input",
					  SHELL_WRITE_TIMEOUT_MS / 1000, off, len);
			break;
		}
		rc = pyro_err_sys(err, n < 0 ? errno : EIO, "%zu of %zu bytes written", off, len);
		break;
	}
	pthread_mutex_unlock(&sh->write_lock);
	return rc;
}

int shell_kill(struct shell *sh, int sig)
{
	/* A job bash runs in the foreground has its own process group (job
	 * control); like Ctrl-C, a signal reaches it there. */
	pid_t fg = tcgetpgrp(sh->master);
	if (fg > 0 && fg != sh->pid)
		killpg(fg, sig);
	return killpg(sh->pid, sig);
}

/* Wait until each of v is reaped or the deadline passes. */
static void wait_reaped(struct shell **v, size_t n, int64_t deadline)
{
	for (size_t i = 0; i < n; i++) {
		struct shell *sh = v[i];
		pthread_mutex_lock(&sh->lock);
		while (sh->running) {
			int64_t left = deadline - mono_ms();
			if (left <= 0)
				break;
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += left / 1000;
			ts.tv_nsec += (left % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&sh->changed, &sh->lock, &ts);
		}
		pthread_mutex_unlock(&sh->lock);
	}
}

static void signal_running(struct shell **v, size_t n, int sig)
{
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&v[i]->lock);
		if (v[i]->running)
			killpg(v[i]->pid, sig);
		pthread_mutex_unlock(&v[i]->lock);
	}
}

void shell_close_all(struct shell **v, size_t n)
{
	signal_running(v, n, SIGHUP);
	wait_reaped(v, n, mono_ms() + SHELL_CLOSE_GRACE_MS);
	signal_running(v, n, SIGKILL);
	wait_reaped(v, n, mono_ms() + SHELL_CLOSE_GRACE_MS);
	for (size_t i = 0; i < n; i++) {
		struct shell *sh = v[i];
		if (!sh->reader_started)
			continue;
		uint64_t one = 1;
		if (write(sh->wake, &one, sizeof one) < 0)
			log_warn("shell %s: waking its reader: %s", sh->id, strerror(errno));
		pthread_join(sh->reader, NULL);
		sh->reader_started = false;
	}
}

void shell_free(struct shell *sh)
{
	if (!sh)
		return;
	int *fds[] = { &sh->master, &sh->pidfd, &sh->wake, &sh->log_fd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	for (char **p = sh->redact; p && *p; p++)
		free(*p);
	free(sh->redact);
	free(sh->cwd);
	buf_release(&sh->out);
	pthread_mutex_destroy(&sh->write_lock);
	pthread_mutex_destroy(&sh->lock);
	pthread_cond_destroy(&sh->changed);
	free(sh);
}
