/* PTY shells, internal to agent_shell.c (the table and the five actions)
 * and agent_shell_pty.c (the terminal, the child, the reader thread).
 *
 * A shell is `bash --noprofile --norc -i` (or `/bin/sh -i` when there is no
 * bash) on a fresh PTY, in its own session and process group, with the PTY
 * as its controlling terminal. One reader thread per shell moves what the
 * terminal prints into memory (decoded as UTF-8 with replacement) and into
 * AGENT_SHELL_DIR/<id>.log, and reaps the shell when it exits. Nothing else
 * ever waits for a shell's pid, and nothing in the agent waits for "any
 * child", so shells and core/spawn never take each other's exit statuses.
 *
 * LIMITS
 *   SHELL_MAX            open shells at once (closing ones count).
 *   SHELL_OUTPUT_CAP     decoded output kept in memory per shell, in bytes.
 *                        Past it the oldest part is dropped (at a character
 *                        boundary) down to SHELL_OUTPUT_KEEP, so the copy
 *                        happens once per megabyte, not once per chunk.
 *                        Cursors stay absolute: `dropped` counts the code
 *                        points gone, and a cursor below it reads from the
 *                        oldest kept character.
 *   SHELL_LOG_CAP        bytes mirrored to the .log file (it lives on the
 *                        guest's /run, which is RAM); past it one line says
 *                        the log stopped, and reads keep working.
 *
 * LIFETIME. The table holds one reference; every action that found a shell
 * holds another until it answers (refs is guarded by the table lock). The
 * last reference frees it, so the master fd stays valid for a write still
 * under way when a close removes the shell from the table.
 *
 * LOCKS. Table lock, then shell lock, never the other way round. `lock`
 * guards the state and the output; `write_lock` only serialises writers, so
 * a write waiting for a full terminal never keeps the reader from draining
 * the output.
 */
#ifndef PYRO_AGENT_SHELL_H
#define PYRO_AGENT_SHELL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.h"

#define SHELL_MAX 64
#define SHELL_ID_MAX 64
#define SHELL_OUTPUT_CAP (8u << 20)
#define SHELL_OUTPUT_KEEP (SHELL_OUTPUT_CAP - SHELL_OUTPUT_CAP / 8)
#define SHELL_LOG_CAP (16u << 20)
/* How long close waits after SIGHUP, and again after SIGKILL. */
#define SHELL_CLOSE_GRACE_MS 5000
/* How long one write_shell may wait for the terminal to take its input. */
#define SHELL_WRITE_TIMEOUT_MS 10000

struct shell {
	/* Set at open, then read-only. */
	char id[SHELL_ID_MAX + 1];
	char *cwd;            /* the normalised guest path, owned */
	int cols, rows;
	pid_t pid;            /* session, process group and leader */
	int master;           /* PTY master, non-blocking; closed by shell_free */
	int pidfd;            /* -1 when pidfd_open is unavailable */
	int wake;             /* eventfd: readable means "reader, stop" */
	int log_fd;           /* the .log file; the reader's once it runs */
	char **redact;        /* this shell's redact_values, owned copies */
	char meta_path[PATH_MAX];
	double started_at;
	pthread_t reader;
	bool reader_started;

	pthread_mutex_t write_lock;

	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t changed; /* broadcast when the shell is reaped */
	bool running;         /* until the reader reaped the leader */
	bool has_exit_code;
	int exit_code;        /* status, or 128+N for signal N */
	double ended_at;
	struct buf out;       /* decoded output kept, valid UTF-8 */
	uint64_t dropped;     /* code points dropped before out */

	/* Guarded by the table lock. */
	int refs;
	bool closing;
};

/* agent_shell.c */
/* Put the summary members (shell_id, cwd, cols, rows, state, started_at,
 * ended_at, exit_code, pid) into obj. Call with sh->lock held. -1 on OOM. */
int shell_summary(struct json_doc *doc, struct json_value *obj, const struct shell *sh);

/* agent_shell_pty.c */
double shell_now(void);
/* Start sh's program on a new PTY: sh has id, cols, rows, log_fd,
 * meta_path set; fills pid, master, pidfd, wake and starts the reader.
 * On failure nothing is left running (the caller frees sh). */
int shell_start(struct shell *sh, const char *host_cwd, char *const *envp,
		struct pyro_err *err);
/* Write the summary to meta_path atomically (failures are logged). */
void shell_write_meta(struct shell *sh);
/* Write all of data to the terminal, waiting at most SHELL_WRITE_TIMEOUT_MS. */
int shell_write_input(struct shell *sh, const char *data, size_t len, struct pyro_err *err);
/* Signal the shell's process group and, when another group runs in the
 * foreground of its terminal, that group too (as a key press would). Call
 * with sh->lock held and sh->running. */
int shell_kill(struct shell *sh, int sig);
/* End shells: SIGHUP, up to SHELL_CLOSE_GRACE_MS, SIGKILL, wait again, then
 * stop and join the readers. All of v are marked closing. */
void shell_close_all(struct shell **v, size_t n);
/* Free a shell whose reader is joined (or never started). */
void shell_free(struct shell *sh);

#endif
