/* PTY shells: open_shell, read_shell, write_shell, signal_shell,
 * close_shell, and the shutdown hook. Behaviour and messages are the
 * original's shell sessions; the terminal side is agent_shell_pty.c and the
 * shared rules (limits, locks, lifetime) are in agent_shell.h.
 *
 * Fields: open_shell takes shell_id, cwd (default /workspace; it must exist),
 * cols (default 120) and rows (default 30), both 1..1000, env (added to the
 * command environment, overriding) and redact_values. read_shell takes
 * cursor and max_chars (default 65536, 1..1048576), both in code points as
 * the original's Python strings count them; write_shell takes input (at
 * most 64 KiB) and append_newline (default true); signal_shell takes signal
 * (HUP, INT, TERM or KILL, any case, default INT).
 *
 * Every answer carries the summary: shell_id, cwd, cols, rows, state
 * ("running" or "stopped"), started_at, ended_at, exit_code (128+N when
 * signal N ended the shell, as elsewhere in pyro; the original reported
 * Python's -N) and pid. */
#include "agent_shell.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/fault.h"
#include "../core/utf8.h"

#define SHELL_DEFAULT_COLS 120
#define SHELL_DEFAULT_ROWS 30
#define SHELL_MAX_SIZE 1000
#define SHELL_DEFAULT_READ 65536
#define SHELL_MAX_READ (1 << 20)
#define SHELL_INPUT_MAX (64 << 10)
/* A read returns fewer than max_chars characters (truncated, with
 * next_cursor where it stopped) rather than pass this many bytes of
 * JSON-escaped output (terminal output is full of escapes, \u001b); it
 * stays well inside the agent's answer limit (AGENT_MAX_ANSWER). */
#define SHELL_READ_MAX_JSON (16u << 20)

static struct {
	pthread_mutex_t lock;
	struct shell *v[SHELL_MAX];
	size_t n;
	bool shut_down;
} shells = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int oom(struct pyro_err *err)
{
	return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
}

/* ---- the table ------------------------------------------------------------ */

/* Index of the shell named id, closing ones included; -1 when none. Call
 * with the table lock held. */
static int find(const char *id)
{
	for (size_t i = 0; i < shells.n; i++)
		if (strcmp(shells.v[i]->id, id) == 0)
			return (int)i;
	return -1;
}

/* A reference to the open shell id, or NULL with "does not exist". */
static struct shell *shell_get(const char *id, struct pyro_err *err)
{
	pthread_mutex_lock(&shells.lock);
	int i = find(id);
	struct shell *sh = i >= 0 && !shells.v[i]->closing ? shells.v[i] : NULL;
	if (sh)
		sh->refs++;
	pthread_mutex_unlock(&shells.lock);
	if (!sh)
		pyro_err_set(err, PYRO_EXIT_FAILURE, "shell '%s' does not exist", id);
	return sh;
}

static void shell_put(struct shell *sh)
{
	pthread_mutex_lock(&shells.lock);
	bool last = --sh->refs == 0;
	pthread_mutex_unlock(&shells.lock);
	if (last)
		shell_free(sh);
}

/* Take a closed shell out of the table and drop the table's reference. */
static void shell_remove(struct shell *sh)
{
	pthread_mutex_lock(&shells.lock);
	for (size_t i = 0; i < shells.n; i++) {
		if (shells.v[i] == sh) {
			shells.v[i] = shells.v[--shells.n];
			break;
		}
	}
	pthread_mutex_unlock(&shells.lock);
	shell_put(sh);
}

/* ---- the summary ------------------------------------------------------------ */

int shell_summary(struct json_doc *doc, struct json_value *obj, const struct shell *sh)
{
	if (json_set_str(doc, obj, "shell_id", sh->id) < 0 ||
	    json_set_str(doc, obj, "cwd", sh->cwd) < 0 ||
	    json_set_int(doc, obj, "cols", sh->cols) < 0 ||
	    json_set_int(doc, obj, "rows", sh->rows) < 0 ||
	    json_set_str(doc, obj, "state", sh->running ? "running" : "stopped") < 0 ||
	    json_object_set(doc, obj, "started_at", json_double(doc, sh->started_at)) < 0 ||
	    json_object_set(doc, obj, "ended_at",
			    sh->running ? json_null(doc) : json_double(doc, sh->ended_at)) < 0 ||
	    json_object_set(doc, obj, "exit_code",
			    sh->has_exit_code ? json_int(doc, sh->exit_code) : json_null(doc)) < 0 ||
	    json_set_int(doc, obj, "pid", sh->pid) < 0)
		return -1;
	return 0;
}

/* The summary of sh into the response. */
static int answer_summary(struct agent_call *c, struct shell *sh, struct pyro_err *err)
{
	pthread_mutex_lock(&sh->lock);
	int rc = shell_summary(c->doc, c->resp, sh);
	pthread_mutex_unlock(&sh->lock);
	return rc < 0 ? oom(err) : 0;
}

/* ---- open ------------------------------------------------------------------- */

/* Ids name files (<id>.log, <id>.json), so they are kept to a safe set. */
static int check_id(const char *id, struct pyro_err *err)
{
	size_t n = strlen(id);
	bool ok = n >= 1 && n <= SHELL_ID_MAX && id[0] != '.';
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)id[i]) || id[i] == '.' || id[i] == '_' || id[i] == '-';
	if (ok)
		return 0;
	return pyro_err_set(err, PYRO_EXIT_USAGE,
			    "shell_id must be 1 to %d characters from A-Z, a-z, 0-9, '.', '_' "
			    "and '-', not starting with '.' (got '%.80s')",
			    SHELL_ID_MAX, id);
}

static int check_cwd(const char *host, const char *guest, struct pyro_err *err)
{
	struct stat st;
	if (stat(host, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "shell cwd does not exist: %s (create it first)", guest);
		return pyro_err_sys(err, errno, "inspecting the shell cwd %s", guest);
	}
	if (!S_ISDIR(st.st_mode))
		return pyro_err_set(err, PYRO_EXIT_USAGE, "shell cwd is not a directory: %s",
				    guest);
	return 0;
}

static struct shell *shell_new(const char *id, const char *cwd, int cols, int rows,
			       const char *const *redact, size_t nredact)
{
	struct shell *sh = pyro_calloc(1, sizeof *sh);
	if (!sh)
		return NULL;
	snprintf(sh->id, sizeof sh->id, "%s", id);
	sh->cols = cols;
	sh->rows = rows;
	sh->master = sh->pidfd = sh->wake = sh->log_fd = -1;
	sh->started_at = shell_now();
	sh->out = (struct buf)BUF_INIT;
	pthread_mutex_init(&sh->write_lock, NULL);
	pthread_mutex_init(&sh->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->changed, &ca);
	pthread_condattr_destroy(&ca);
	sh->cwd = pyro_strdup(cwd);
	sh->redact = pyro_calloc(nredact + 1, sizeof *sh->redact);
	bool ok = sh->cwd && sh->redact;
	for (size_t i = 0; ok && i < nredact; i++)
		ok = (sh->redact[i] = pyro_strdup(redact[i])) != NULL;
	if (!ok) {
		shell_free(sh);
		return NULL;
	}
	return sh;
}

/* Make the run directory and start the shell's log afresh. */
static int open_files(struct shell *sh, struct pyro_err *err)
{
	char dir[PATH_MAX], log[PATH_MAX];
	if (agent_path(dir, AGENT_SHELL_DIR, err) < 0)
		return -1;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return pyro_err_sys(err, errno, "creating %s", dir);
	if (snprintf(log, sizeof log, "%s/%s.log", dir, sh->id) >= (int)sizeof log ||
	    snprintf(sh->meta_path, sizeof sh->meta_path, "%s/%s.json", dir, sh->id) >=
		    (int)sizeof sh->meta_path)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "shell log path is too long");
	sh->log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (sh->log_fd < 0)
		return pyro_err_sys(err, errno, "creating the shell log %s", log);
	return 0;
}

/* Under the table lock: check the limits, start the shell, add it. */
static int open_locked(struct shell *sh, const char *host_cwd, char *const *envp,
		       struct pyro_err *err)
{
	if (shells.shut_down)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the agent is shutting down");
	int i = find(sh->id);
	if (i >= 0 && shells.v[i]->closing)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "shell '%s' is still closing; retry in a few seconds", sh->id);
	if (i >= 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "shell '%s' already exists", sh->id);
	if (shells.n >= SHELL_MAX)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "too many open shells (at most %d); close one first", SHELL_MAX);
	if (open_files(sh, err) < 0 || shell_start(sh, host_cwd, envp, err) < 0)
		return -1;
	sh->refs = 2; /* the table's and this request's */
	shells.v[shells.n++] = sh;
	return 0;
}

int agent_action_open_shell(struct agent_call *c, struct pyro_err *err)
{
	const char *id, *cwd_raw, *cwd_guest;
	int64_t cols, rows;
	char **env;
	const char **redact;
	size_t nenv, nredact;
	char host[PATH_MAX];
	if (agent_req_id(c, "shell_id", &id, err) < 0 || check_id(id, err) < 0 ||
	    agent_req_str(c, "cwd", AGENT_WORKSPACE_DIR, &cwd_raw, err) < 0 ||
	    agent_req_int(c, "cols", SHELL_DEFAULT_COLS, 1, SHELL_MAX_SIZE, &cols, err) < 0 ||
	    agent_req_int(c, "rows", SHELL_DEFAULT_ROWS, 1, SHELL_MAX_SIZE, &rows, err) < 0 ||
	    agent_req_env(c, "env", &env, &nenv, err) < 0 ||
	    agent_req_str_list(c, "redact_values", &redact, &nredact, err) < 0 ||
	    agent_workspace_path(c, cwd_raw, &cwd_guest, host, err) < 0 ||
	    check_cwd(host, cwd_guest, err) < 0)
		return -1;
	/* As the original: an unset TERM becomes xterm-256color, the prompt is
	 * fixed and no PROMPT_COMMAND runs; the caller's env overrides all. */
	char *base[] = { "TERM=xterm-256color", "PS1=pyro$ ", "PROMPT_COMMAND=", NULL };
	char **envp = agent_command_env(c->doc, base, env);
	struct shell *sh = envp ? shell_new(id, cwd_guest, (int)cols, (int)rows, redact, nredact)
				: NULL;
	if (!sh)
		return oom(err);
	pthread_mutex_lock(&shells.lock);
	int rc = open_locked(sh, host, envp, err);
	pthread_mutex_unlock(&shells.lock);
	if (rc < 0) {
		shell_free(sh);
		return -1;
	}
	rc = answer_summary(c, sh, err);
	shell_put(sh);
	return rc;
}

/* ---- read ------------------------------------------------------------------- */

/* What byte b costs in a JSON string (json_emit_string's escapes). */
static size_t json_cost(unsigned char b)
{
	if (b == '"' || b == '\\')
		return 2;
	if (b >= 0x20)
		return 1;
	return b == '\n' || b == '\r' || b == '\t' || b == '\b' || b == '\f' ? 2 : 6;
}

/* From s[start..], the byte length of at most max code points whose
 * JSON-escaped form fits SHELL_READ_MAX_JSON; *count gets how many. */
static size_t take_chars(const char *s, size_t len, size_t start, size_t max, size_t *count)
{
	size_t i = start, n = 0, cost = 0;
	while (i < len && n < max) {
		size_t j = i + 1, c = json_cost((unsigned char)s[i]);
		for (; j < len && ((unsigned char)s[j] & 0xc0) == 0x80; j++)
			c++;
		if (cost + c > SHELL_READ_MAX_JSON)
			break;
		cost += c;
		n++;
		i = j;
	}
	*count = n;
	return i - start;
}

int agent_action_read_shell(struct agent_call *c, struct pyro_err *err)
{
	const char *id;
	int64_t cursor, max_chars;
	if (agent_req_id(c, "shell_id", &id, err) < 0 ||
	    agent_req_int(c, "cursor", 0, INT64_MIN, INT64_MAX, &cursor, err) < 0 ||
	    agent_req_int(c, "max_chars", SHELL_DEFAULT_READ, 1, SHELL_MAX_READ, &max_chars,
			  err) < 0)
		return -1;
	struct shell *sh = shell_get(id, err);
	if (!sh)
		return -1;
	/* As the original: redact everything kept, then count in the result,
	 * so cursors are positions in the redacted text (a secret split
	 * across the cap's cut would be missed, but the cut is far back). */
	struct buf red = BUF_INIT;
	pthread_mutex_lock(&sh->lock);
	int rc = agent_redact(&red, sh->out.data, sh->out.len, (const char *const *)sh->redact);
	uint64_t base = sh->dropped;
	if (rc == 0)
		rc = shell_summary(c->doc, c->resp, sh);
	pthread_mutex_unlock(&sh->lock);
	shell_put(sh);
	if (rc == 0) {
		uint64_t total = base + utf8_count(red.data, red.len);
		uint64_t at = cursor < 0 || (uint64_t)cursor < base ? base
			      : (uint64_t)cursor > total ? total : (uint64_t)cursor;
		size_t start = utf8_offset(red.data, red.len, (size_t)(at - base));
		size_t count;
		size_t len = take_chars(red.data, red.len, start, (size_t)max_chars, &count);
		uint64_t next = at + count;
		if (json_set_int(c->doc, c->resp, "cursor", (int64_t)at) < 0 ||
		    json_set_int(c->doc, c->resp, "next_cursor", (int64_t)next) < 0 ||
		    json_object_set(c->doc, c->resp, "output",
				    json_string_len(c->doc, red.data + start, len)) < 0 ||
		    json_set_bool(c->doc, c->resp, "truncated", next < total) < 0)
			rc = -1;
	}
	buf_release(&red);
	return rc < 0 ? oom(err) : 0;
}

/* ---- write, signal -------------------------------------------------------- */

static int not_running(const struct shell *sh, struct pyro_err *err)
{
	return pyro_err_set(err, PYRO_EXIT_FAILURE, "shell %s is not running", sh->id);
}

int agent_action_write_shell(struct agent_call *c, struct pyro_err *err)
{
	const char *id, *input;
	bool newline;
	if (agent_req_id(c, "shell_id", &id, err) < 0 ||
	    agent_req_str(c, "input", "", &input, err) < 0 ||
	    agent_req_bool(c, "append_newline", true, &newline, err) < 0)
		return -1;
	size_t len = strlen(input);
	if (len > SHELL_INPUT_MAX)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "input must be at most %d bytes when encoded as UTF-8 (got %zu); "
				    "send it in several writes",
				    SHELL_INPUT_MAX, len);
	struct shell *sh = shell_get(id, err);
	if (!sh)
		return -1;
	pthread_mutex_lock(&sh->lock);
	bool running = sh->running;
	pthread_mutex_unlock(&sh->lock);
	int rc = running ? 0 : not_running(sh, err);
	struct buf data = BUF_INIT;
	if (rc == 0 && (buf_append(&data, input, len) < 0 ||
			(newline && buf_append_char(&data, '\n') < 0)))
		rc = oom(err);
	if (rc == 0 && shell_write_input(sh, data.data, data.len, err) < 0)
		rc = pyro_err_wrap(err, "failed to write to shell %s", sh->id);
	buf_release(&data);
	if (rc == 0)
		rc = answer_summary(c, sh, err);
	shell_put(sh);
	if (rc == 0 &&
	    (json_set_int(c->doc, c->resp, "input_length", (int64_t)utf8_count(input, len)) < 0 ||
	     json_set_bool(c->doc, c->resp, "append_newline", newline) < 0))
		rc = oom(err);
	return rc;
}

static const struct {
	const char *name;
	int sig;
} shell_signals[] = {
	{ "HUP", SIGHUP },
	{ "INT", SIGINT },
	{ "TERM", SIGTERM },
	{ "KILL", SIGKILL },
};

int agent_action_signal_shell(struct agent_call *c, struct pyro_err *err)
{
	const char *id, *raw;
	if (agent_req_id(c, "shell_id", &id, err) < 0 ||
	    agent_req_str(c, "signal", "INT", &raw, err) < 0)
		return -1;
	char name[8] = "";
	size_t n = strlen(raw);
	for (size_t i = 0; i < n && n < sizeof name; i++)
		name[i] = (char)toupper((unsigned char)raw[i]);
	name[n < sizeof name ? n : 0] = 0;
	int sig = 0;
	for (size_t i = 0; i < sizeof shell_signals / sizeof *shell_signals; i++)
		if (strcmp(name, shell_signals[i].name) == 0)
			sig = shell_signals[i].sig;
	if (!sig)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "signal must be one of: HUP, INT, TERM, KILL (got '%.40s')", raw);
	struct shell *sh = shell_get(id, err);
	if (!sh)
		return -1;
	int rc;
	pthread_mutex_lock(&sh->lock);
	if (!sh->running)
		rc = not_running(sh, err);
	else if (shell_kill(sh, sig) < 0)
		rc = pyro_err_sys(err, errno, "signalling shell %s", sh->id);
	else
		rc = shell_summary(c->doc, c->resp, sh) < 0 ? oom(err) : 0;
	pthread_mutex_unlock(&sh->lock);
	shell_put(sh);
	if (rc == 0 && json_set_str(c->doc, c->resp, "signal", name) < 0)
		rc = oom(err);
	return rc;
}

/* ---- close ------------------------------------------------------------------ */

int agent_action_close_shell(struct agent_call *c, struct pyro_err *err)
{
	const char *id;
	if (agent_req_id(c, "shell_id", &id, err) < 0)
		return -1;
	pthread_mutex_lock(&shells.lock);
	int i = find(id);
	struct shell *sh = i >= 0 && !shells.v[i]->closing ? shells.v[i] : NULL;
	if (sh) {
		sh->closing = true; /* from now on it "does not exist" */
		sh->refs++;
	}
	pthread_mutex_unlock(&shells.lock);
	if (!sh)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "shell '%s' does not exist", id);
	shell_close_all(&sh, 1);
	int rc = answer_summary(c, sh, err);
	shell_remove(sh);
	shell_put(sh);
	if (rc == 0 && json_set_bool(c->doc, c->resp, "closed", true) < 0)
		rc = oom(err);
	return rc;
}

void agent_shells_shutdown(void)
{
	struct shell *v[SHELL_MAX];
	size_t n = 0;
	pthread_mutex_lock(&shells.lock);
	shells.shut_down = true;
	for (size_t i = 0; i < shells.n; i++) {
		if (shells.v[i]->closing)
			continue; /* a close_shell is ending it */
		shells.v[i]->closing = true;
		shells.v[i]->refs++;
		v[n++] = shells.v[i];
	}
	pthread_mutex_unlock(&shells.lock);
	shell_close_all(v, n);
	for (size_t i = 0; i < n; i++) {
		shell_remove(v[i]);
		shell_put(v[i]);
	}
}
