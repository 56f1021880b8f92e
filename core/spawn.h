/* Run a command as a child process and collect what it did.
 *
 *   struct buf out, err;
 *   buf_init(&out, 64 << 10);             (the cap is the buffer's own max)
 *   buf_init(&err, 64 << 10);
 *   const char *argv[] = { "sh", "-c", "echo hi", NULL };
 *   struct spawn_opts o = { .argv = argv, .timeout_ms = 5000,
 *                           .out = { SPAWN_PIPE, &out, 0 },
 *                           .err = { SPAWN_PIPE, &err, 0 } };
 *   struct spawn_result r;
 *   if (spawn_run(&o, &r, &e) < 0) ...    (could not run it at all)
 *   ... r.exit_code, r.timed_out, out.data ...
 *   buf_release(&out); buf_release(&err);
 *
 * Ownership: spawn_run borrows everything in spawn_opts for the duration of
 * the call and keeps nothing afterwards. Capture buffers stay the caller's:
 * spawn_run only appends to them (and on failure they may hold a partial
 * capture; the caller releases them either way). Caller fds (SPAWN_FD
 * streams, cancel_fd) are never closed, read or written by spawn_run.
 *
 * Invariants, true whenever spawn_run returns (0 or -1):
 *  - the child has been reaped (no zombie), and its whole process group has
 *    been sent SIGKILL, so no helper it left in its group outlives the call;
 *  - every fd spawn_run opened is closed again; all of them were O_CLOEXEC,
 *    so a concurrent fork elsewhere inherits none of them;
 *  - the caller's signal mask, pending signals and dispositions are as they
 *    were (no handler is ever installed; SIGPIPE from feeding a child that
 *    stopped reading is blocked and consumed in the calling thread only);
 *  - captured buffers hold only bytes the child wrote, never messages from
 *    spawn_run, and never more than buf->max bytes in total.
 *
 * The child starts with: its own process group (pgid == pid, so a timeout
 * or cancel can kill everything it started); exactly fds 0, 1 and 2 open;
 * every signal at its default disposition (SIGPIPE included; ignores such as
 * nohup's are not inherited) and an empty signal mask; the given cwd and
 * environment.
 *
 * Command lookup follows execvp: argv[0] containing '/' is run as that path;
 * otherwise each PATH directory is tried in turn (EACCES is remembered and
 * the search goes on). Like Python's subprocess, PATH comes from `envp` when
 * one is given (default "/usr/local/bin:/bin:/usr/bin" if it has none), else
 * from this process's environment. A file that is not executable and has no
 * "#!" line is not handed to /bin/sh: it fails with ENOEXEC.
 *
 * Failing to start is not an exit status: if fork, the cwd change or exec
 * fails, spawn_run returns -1 with err->code PYRO_EXIT_NOTFOUND (127, the
 * command does not exist) or PYRO_EXIT_NOEXEC (126, it exists but cannot be
 * executed) and a message like "cannot run 'NAME': No such file or
 * directory"; a bad cwd is PYRO_EXIT_FAILURE. Once the command ran, spawn_run
 * returns 0 whatever its status, and -1 only if spawn_run itself failed
 * (reading a pipe, out of memory).
 *
 * Ending: when the direct child exits, the rest of its process group is
 * killed and the output pipes are drained until EOF, but for at most
 * SPAWN_DRAIN_MS: a process that left the group (setsid) and kept the pipes
 * open cannot hold the call, its later output is lost.
 *
 * Timeout: at timeout_ms the group gets SIGKILL at once, with no SIGTERM
 * grace (as Python's subprocess.run(timeout=) does): the limit is a hard one
 * and a grace would only make every timeout slower. Then exit_code = 124
 * (PYRO_EXIT_TIMEOUT), timed_out = true, and `message` holds "command timed
 * out after Ns" (spawn_format_timeout). The message is not put into the
 * captured stderr: a caller that wants the Python shape (message as stderr)
 * appends it, on its own line, itself.
 *
 * Cancellation: when `cancel_fd` (> 0) becomes readable or hangs up, the
 * group gets SIGKILL, `cancelled` is set and `message` is "command
 * cancelled". spawn_run only polls the fd, it never reads it: an eventfd or
 * the read end of a pipe the event loop writes to both work. fd 0 is never
 * taken as a cancel fd, so zero-initialised options mean "no cancel".
 *
 * Child exit is noticed through a pidfd (pidfd_open, Linux 5.3) when the
 * kernel allows one, else by polling waitid(WNOHANG) with a backoff from 1
 * to 50 ms; no SIGCHLD handler is involved, but SIGCHLD must not be set to
 * SIG_IGN by the caller (the kernel would then reap the child and its status
 * would be lost: spawn_run fails with ECHILD).
 *
 * Not thread-safe with respect to fork(): call it from one thread, or make
 * sure other threads do not change signal dispositions meanwhile.
 */
#ifndef PYRO_SPAWN_H
#define PYRO_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

/* How long output is drained after the direct child exited. */
#define SPAWN_DRAIN_MS 250

enum spawn_mode {
	SPAWN_NULL = 0, /* /dev/null (the zero value) */
	SPAWN_PIPE,     /* stdin: fed from data/len; out/err: appended to buf */
	SPAWN_FD,       /* the child uses the caller's fd directly */
};

struct spawn_input {
	enum spawn_mode mode;
	const void *data; /* SPAWN_PIPE: len bytes, then EOF */
	size_t len;
	int fd;           /* SPAWN_FD */
};

struct spawn_output {
	enum spawn_mode mode;
	struct buf *buf;  /* SPAWN_PIPE: bytes past buf->max are read and
			   * dropped (the child never blocks) and the result's
			   * *_truncated flag is set. out and err may share one
			   * buf: chunks then interleave in arrival order. */
	int fd;           /* SPAWN_FD: e.g. 1 to pass output through */
};

struct spawn_opts {
	const char *const *argv;  /* NULL-terminated, argv[0] required */
	const char *const *envp;  /* NULL: inherit this process's environ */
	const char *cwd;          /* NULL: inherit */
	struct spawn_input in;
	struct spawn_output out, err;
	unsigned timeout_ms;      /* 0: no timeout */
	int cancel_fd;            /* > 0: readable means cancel; 0 or -1: none */
};

struct spawn_result {
	int exit_code;      /* exit status; 128+N if killed by signal N; 124
			     * on timeout (whatever the signal) */
	int term_signal;    /* the signal that ended the child, 0 if it exited */
	bool timed_out;
	bool cancelled;
	bool stdout_truncated;
	bool stderr_truncated;
	int64_t duration_ms; /* monotonic, from fork to the end of draining */
	pid_t pid;           /* the child's pid == its pgid; it has been reaped,
			      * so use it only for diagnostics and tests */
	char message[64];    /* "command timed out after 2s", "command
			      * cancelled", or "" when the command ended itself */
};

/* Run the command described by `opts` to completion. Returns 0 and fills
 * `res` when the command ran (whatever its exit status), -1 and fills `err`
 * when it could not be started or spawn_run failed; `res` is zeroed first
 * and on -1 only res->pid may be set. */
int spawn_run(const struct spawn_opts *opts, struct spawn_result *res,
	      struct pyro_err *err);

/* "command timed out after {N}s" for a timeout of `timeout_ms`: whole
 * seconds print as an integer ("30s"), others as a decimal without trailing
 * zeros ("0.5s", "1.25s"). Always NUL-terminates; returns dst. */
char *spawn_format_timeout(char *dst, size_t cap, unsigned timeout_ms);

/* Testing only. 0: normal. 1: behave as on a kernel without pidfd_open and
 * close_range (waitid polling; close fds by listing /proc/self/fd). 2: as 1
 * and without /proc as well (close every fd up to RLIMIT_NOFILE). */
void spawn_set_fallback_for_tests(int level);

/* ---- Low level: the child side, for callers that fork themselves ----
 *
 * spawn_run() owns its child from start to end. A caller that must keep a
 * child beyond one call (the guest agent's services, supervised by their
 * own thread) forks itself and runs the same child setup: prepare a
 * spawn_child_plan before fork (spawn_path_candidates allocates, which a
 * forked child of a threaded process must not), then call
 * spawn_child_exec() in the child. A failure to exec is written as a
 * struct spawn_child_report to plan.errfd (a CLOEXEC pipe: EOF on it means
 * the exec succeeded). The caller then owns waiting for and killing the
 * child's process group. */

/* What a child that could not exec writes to the error pipe. */
enum spawn_child_stage { SPAWN_STAGE_SETUP = 1, SPAWN_STAGE_CHDIR, SPAWN_STAGE_EXEC };
struct spawn_child_report {
	int stage;  /* enum spawn_child_stage */
	int errnum;
};

/* Everything the child needs, prepared before fork. */
struct spawn_child_plan {
	int src[3];   /* fds that become 0, 1, 2 (may repeat, may be < 3) */
	int errfd;    /* write end of the CLOEXEC error pipe */
	const char *cwd;
	char **candidates; /* from spawn_path_candidates */
	char *const *argv;
	char *const *envp;
};

extern int spawn_fallback_level; /* spawn_set_fallback_for_tests */

/* The paths execvp would try for `name`, NULL-terminated, in one heap block
 * (free() the list). NULL with errno = ENOMEM. */
char **spawn_path_candidates(const char *name, const char *const *envp);

/* In the child after fork: set up and exec, or report and _exit(127).
 * Only async-signal-safe calls. */
_Noreturn void spawn_child_exec(const struct spawn_child_plan *p);

/* In a child after fork, with every signal blocked: set every signal's
 * disposition to the default, libc-reserved ones included (a child setting
 * itself up differently, such as a PTY shell, calls this on its own).
 * Async-signal-safe. */
void spawn_child_reset_signals(void);


#endif
