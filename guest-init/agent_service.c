/* Services: start_service, status_service, logs_service, stop_service,
 * list_services, and stopping them all when the agent shuts down.
 *
 * These notes cover all the service files (agent_service.h says which
 * file owns what): this one keeps the record table and the actions;
 * agent_service_proc.c the processes (launch, supervision, stop, shutdown);
 * agent_service_ready.c the readiness probes; agent_service_logs.c
 * logs_service.
 *
 * A service is a named long-running command in the workspace (a dev
 * server, a database) that the agent starts, watches, probes for readiness
 * and stops. Several run at once, each under its own name. The original
 * product's guest code for this is not in the seeds, only the host's
 * requests, the CLI flags and the SDK examples; the decisions below fill the
 * gaps.
 *
 * NAMES. service_name is required, whitespace-stripped, then must match
 * [A-Za-z0-9][A-Za-z0-9._-]{0,63}: safe as a file name, never "." or "..".
 * A name whose service is starting or running cannot be started again;
 * starting a name whose service has ended replaces its record (and starts
 * its logs afresh).
 *
 * START. Fields: service_name, command (required, non-blank), cwd (a
 * workspace path normalised like every other, default /workspace; it must
 * exist and be a directory: a service does not create it), env (object of
 * strings, over agent_command_env's base), readiness (object or null),
 * ready_timeout_seconds (default 30, 1..3600), ready_interval_ms (default
 * 500, 10..60000). The command runs as `/bin/sh -lc COMMAND` with the
 * hygiene of core/spawn.h (own process group, stdin /dev/null, only fds
 * 0-2 open, every signal at its default, empty mask): the child side is
 * core/spawn.h's spawn_child_exec (its low-level section), so both kinds
 * of children are set up by one piece of code. stdout and stderr are
 * appended to /run/pyro-services/NAME.stdout and NAME.stderr (truncated at
 * each start); the record NAME.json (the status object, pretty JSON, mode
 * 0600) is rewritten atomically on every state change. Nothing goes to
 * /workspace. start_service blocks until the service is ready, has failed
 * or has timed out, and answers its status. A failure to start the process
 * at all is an error answer (and the record says "failed", stop_reason
 * "start_failed").
 *
 * READINESS. One of
 *   {"type": "file",    "path": P}          P (a workspace path, relative
 *                                            to /workspace) exists
 *   {"type": "tcp",     "address": "H:P"}   a TCP connect succeeds
 *   {"type": "http",    "url": "http://H:P/path"}  a GET answers 2xx/3xx
 *   {"type": "command", "command": C}       `sh -lc C` exits 0 (same cwd
 *                                            and env as the service)
 * "address" follows the CLI's --ready-tcp HOST:PORT. Hosts are IP literals
 * ([::1] for IPv6) or "localhost": the probe runs in the guest, so only
 * guest-local addresses make sense and no name is ever resolved. http is
 * plain HTTP/1.0 (no TLS; https:// is refused with a message); the port
 * defaults to 80. An unknown member in the object is an error, so a typo is
 * not silently ignored. The status echoes the object normalised (the file
 * path in its /workspace/... form). Probing: at once, then every
 * ready_interval_ms until ready_timeout_seconds; a network attempt takes at
 * most 5 s, a command attempt at most what is left of the timeout.
 * - the process exits before ready: state "failed", exit_code set, message
 *   "service exited before it became ready (exit code N)";
 * - the timeout passes: the service is stopped (TERM, 5 s grace, KILL) and
 *   is "failed", stop_reason "ready_timeout", with a message that names the
 *   timeout and what the last probe saw. A service that is not ready is not
 *   left running half-started: the caller asked for a ready one.
 * - no readiness: "running" at once, and ready_at = started_at.
 *
 * STATES. "starting" (being launched or probed), "running" (ready, or no
 * probe), "stopped" (exited by itself, whatever its status, or stopped on
 * request or at agent shutdown), "failed" (exited before ready, readiness
 * timed out, could not be started). stop_reason says why it ended:
 * "exited", "stop_requested", "ready_timeout", "agent_shutdown",
 * "start_failed" (null while alive). exit_code is the status, 128+N when
 * killed by signal N (as core/spawn.h), null while alive.
 *
 * STATUS. service_name, state, command, cwd, pid (null before start),
 * exit_code, started_at, ready_at, ended_at (epoch seconds as floats, null
 * when not reached), readiness (the normalised object or null),
 * stop_reason, message (null when there is nothing to say). command and
 * message are redacted. list_services answers services (each status,
 * sorted by name), count, and running_count (state "running" only).
 *
 * SUPERVISION. A thread per service (1 MiB stack, agent_start_thread)
 * waits for its process with waitid(P_PID, pid, WNOWAIT): never
 * waitpid(-1), which would steal core/spawn's children. When the leader
 * exits, the rest of its process group is killed before it is reaped (the
 * zombie keeps the group id from being reused meanwhile): a service's
 * helpers do not outlive it. Nobody signals a group once its leader has
 * exited.
 *
 * LOGS. logs_service answers stdout and stderr (UTF-8 decoded with
 * replacement, secret values redacted), from at most the last 1 MiB of
 * each file, and at most 8 MiB of JSON text per stream (well inside the
 * agent's answer limit, AGENT_MAX_ANSWER); whatever is dropped is dropped
 * from the front, up to a line start, and stdout_truncated /
 * stderr_truncated say so. tail_lines (null or absent: everything; else
 * 1..100000) keeps the last N lines (a final newline does not start an
 * empty line). The answer also has service_name, state and tail_lines.
 *
 * STOP. stop_service sends SIGTERM (and SIGCONT, for a stopped job) to the
 * process group, waits up to grace_ms (default 10000, 0..60000: a pyro
 * addition, under the host client's 30 s stop timeout), then SIGKILL, and
 * answers the final status ("stopped", stop_reason "stop_requested").
 * Stopping a service that has already ended answers its status.
 * agent_services_shutdown (SIGTERM to the agent) stops all of them at once:
 * TERM, one 5 s grace for all, KILL; afterwards start_service is refused.
 *
 * LIMITS AND MEMORY. At most 64 services starting or running; at most 128
 * records: beyond that the record that ended longest ago is forgotten (its
 * files removed). Records are never persisted across agent restarts: the
 * agent's memory is the truth and the .json files are for inspection (an
 * agent that exits stops its services first). Each record owns a json_doc
 * with its command, cwd and readiness; records are freed only on eviction,
 * never while a handler (users), a launch or a supervisor holds them.
 * Everything in a record is read and written under svc.lock; `gen` changes
 * at every start, so a waiter never acts on a newer run of the same name.
 */
#include "agent_service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/atomicfile.h"
#include "../core/exitcodes.h"
#include "../core/log.h"

#define SERVICE_MAX_LIVE 64
#define SERVICE_MAX_RECORDS 128
#define READY_DEFAULT_TIMEOUT_S 30
#define READY_MAX_TIMEOUT_S 3600
#define READY_DEFAULT_INTERVAL_MS 500
#define READY_MIN_INTERVAL_MS 10
#define READY_MAX_INTERVAL_MS 60000
#define STOP_DEFAULT_GRACE_MS 10000
#define STOP_MAX_GRACE_MS 60000
#define READY_FAIL_GRACE_MS 5000

/* Indexed by enum svc_state (agent_service.h). */
static const char *const state_names[] = { "starting", "running", "stopped", "failed" };

struct svc_registry svc = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER };

static void svc_init(void)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&svc.changed, &a);
	pthread_condattr_destroy(&a);
}

void svc_lock(void)
{
	pthread_once(&svc.once, svc_init);
	pthread_mutex_lock(&svc.lock);
}

void svc_unlock(void)
{
	pthread_mutex_unlock(&svc.lock);
}

static int oom(struct pyro_err *err)
{
	return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
}

/* ---- time ---------------------------------------------------------------- */

int64_t svc_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double svc_epoch_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void svc_wait_change(int64_t deadline_ms)
{
	struct timespec ts = { .tv_sec = deadline_ms / 1000,
			       .tv_nsec = (long)(deadline_ms % 1000) * 1000000L };
	pthread_cond_timedwait(&svc.changed, &svc.lock, &ts);
}

/* ---- records ------------------------------------------------------------- */

static bool ended(const struct service *s)
{
	return s->state == SVC_STOPPED || s->state == SVC_FAILED;
}

static struct service *find(const char *name)
{
	for (struct service *s = svc.list; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

int svc_file(char dst[PATH_MAX], const char *name, const char *ext, struct pyro_err *err)
{
	char guest[PATH_MAX];
	snprintf(guest, sizeof guest, "%s/%s.%s", AGENT_SERVICE_DIR, name, ext);
	return agent_path(dst, guest, err);
}

static int set_time(struct json_doc *doc, struct json_value *o, const char *key, double t)
{
	return json_object_set(doc, o, key, t > 0 ? json_double(doc, t) : json_null(doc));
}

/* The status object of s, into o (lock held). */
static int fill_status(struct json_doc *doc, struct json_value *o, const struct service *s)
{
	const char *command = agent_redact_str(doc, s->command ? s->command : "", NULL);
	const char *message = s->message[0] ? agent_redact_str(doc, s->message, NULL) : NULL;
	if (!command || (s->message[0] && !message))
		return -1;
	if (json_set_str(doc, o, "service_name", s->name) < 0 ||
	    json_set_str(doc, o, "state", state_names[s->state]) < 0 ||
	    json_set_str(doc, o, "command", command) < 0 ||
	    json_set_str(doc, o, "cwd", s->cwd) < 0 ||
	    json_object_set(doc, o, "pid", s->pid > 0 ? json_int(doc, s->pid) : json_null(doc)) < 0 ||
	    json_object_set(doc, o, "exit_code",
			    s->has_exit ? json_int(doc, s->exit_code) : json_null(doc)) < 0 ||
	    set_time(doc, o, "started_at", s->started_at) < 0 ||
	    set_time(doc, o, "ready_at", s->ready_at) < 0 ||
	    set_time(doc, o, "ended_at", s->ended_at) < 0 ||
	    json_object_set(doc, o, "readiness",
			    s->readiness ? json_clone(doc, s->readiness) : json_null(doc)) < 0 ||
	    json_set_str(doc, o, "stop_reason", s->stop_reason) < 0 ||
	    json_set_str(doc, o, "message", message) < 0)
		return -1;
	return 0;
}

/* Note a change (lock held): wake waiters and snapshot the record for
 * svc_write_record, which the caller runs after unlocking. */
void svc_changed(struct service *s, struct svc_snapshot *snap)
{
	pthread_cond_broadcast(&svc.changed);
	snap->text = (struct buf)BUF_INIT;
	snap->seq = ++s->seq;
	struct json_doc *d = json_doc_new();
	struct json_value *o = d ? json_object(d) : NULL;
	if (!o || fill_status(d, o, s) < 0 || json_emit(&snap->text, o, JSON_EMIT_PRETTY) < 0 ||
	    buf_append_char(&snap->text, '\n') < 0)
		buf_release(&snap->text);
	json_doc_free(d);
}

/* Write a snapshot to NAME.json (lock NOT held; the caller keeps s alive).
 * The record is for inspection, so a failure is logged, not answered. */
void svc_write_record(struct service *s, struct svc_snapshot *snap)
{
	pthread_mutex_lock(&s->file_lock);
	if (snap->seq > s->written_seq && snap->text.len) {
		char path[PATH_MAX];
		struct pyro_err e;
		if (svc_file(path, s->name, "json", &e) < 0 ||
		    atomicfile_write(path, snap->text.data, snap->text.len, 0600, &e) < 0)
			log_msg(LOG_WARN, "service %s record: %s", s->name, e.msg);
		s->written_seq = snap->seq;
	}
	pthread_mutex_unlock(&s->file_lock);
	buf_release(&snap->text);
}

/* Forget the record that ended longest ago and nobody holds (lock held).
 * false when there is none. */
static bool evict_one(void)
{
	struct service **victim = NULL;
	for (struct service **pp = &svc.list; *pp; pp = &(*pp)->next) {
		struct service *s = *pp;
		if (!ended(s) || s->supervised || s->launching || s->users)
			continue;
		if (!victim || s->ended_at < (*victim)->ended_at)
			victim = pp;
	}
	if (!victim)
		return false;
	struct service *s = *victim;
	*victim = s->next;
	svc.count--;
	static const char *const exts[] = { "json", "stdout", "stderr" };
	for (size_t i = 0; i < 3; i++) {
		char path[PATH_MAX];
		if (svc_file(path, s->name, exts[i], NULL) == 0)
			unlink(path);
	}
	json_doc_free(s->doc);
	pthread_mutex_destroy(&s->file_lock);
	free(s);
	return true;
}

/* ---- request fields ------------------------------------------------------ */

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SERVICE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
			return false;
	}
	return true;
}

int svc_req_name(struct agent_call *c, const char **out, struct pyro_err *err)
{
	if (agent_req_id(c, "service_name", out, err) < 0)
		return -1;
	if (!valid_name(*out))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "service_name must be 1 to %d letters, digits, '.', '_' or '-', "
				    "starting with a letter or digit (got '%.80s')",
				    SERVICE_NAME_MAX, *out);
	return 0;
}

int svc_no_such(const char *name, struct pyro_err *err)
{
	return pyro_err_set(err, PYRO_EXIT_FAILURE, "service '%s' does not exist", name);
}

const char *svc_state_of(const char *name)
{
	svc_lock();
	struct service *s = find(name);
	const char *state = s ? state_names[s->state] : NULL;
	svc_unlock();
	return state;
}

/* ---- start_service ------------------------------------------------------- */

/* Take the name for a new run (lock NOT held): the record, created or
 * reused, is "starting", launching, and held (users) by the caller; *gen
 * names the run. Takes `own` (the doc with command, cwd, readiness) on
 * success. */
static int reserve(const char *name, struct json_doc *own, const char *command, const char *cwd,
		   struct json_value *readiness, struct service **out, uint64_t *gen,
		   struct pyro_err *err)
{
	svc_lock();
	int rc = -1;
	if (svc.shutting_down) {
		pyro_err_set(err, PYRO_EXIT_FAILURE, "the agent is shutting down; no new services");
		goto out;
	}
	struct service *s = find(name);
	/* An end being recorded right now: let the supervisor finish. */
	int64_t dl = svc_mono_ms() + LAUNCH_WAIT_MS;
	while (s && ended(s) && s->supervised && svc_mono_ms() < dl)
		svc_wait_change(dl);
	if (s && (!ended(s) || s->supervised || s->launching)) {
		if (s->pid > 0)
			pyro_err_set(err, PYRO_EXIT_FAILURE,
				     "service '%s' is already %s (pid %d); stop it first or use "
				     "another name", name, state_names[s->state], (int)s->pid);
		else
			pyro_err_set(err, PYRO_EXIT_FAILURE,
				     "service '%s' is already starting; stop it first or use "
				     "another name", name);
		goto out;
	}
	size_t live = 0;
	for (struct service *t = svc.list; t; t = t->next)
		live += !ended(t);
	if (live >= SERVICE_MAX_LIVE) {
		pyro_err_set(err, PYRO_EXIT_FAILURE,
			     "too many services are running (%d); stop one first", SERVICE_MAX_LIVE);
		goto out;
	}
	if (!s) {
		if (svc.count >= SERVICE_MAX_RECORDS && !evict_one()) {
			pyro_err_set(err, PYRO_EXIT_FAILURE, "too many services (%d records)",
				     SERVICE_MAX_RECORDS);
			goto out;
		}
		s = calloc(1, sizeof *s);
		if (!s) {
			oom(err);
			goto out;
		}
		snprintf(s->name, sizeof s->name, "%s", name);
		pthread_mutex_init(&s->file_lock, NULL);
		s->next = svc.list;
		svc.list = s;
		svc.count++;
	}
	json_doc_free(s->doc);
	s->doc = own;
	s->command = command;
	s->cwd = cwd;
	s->readiness = readiness;
	s->gen++;
	s->state = SVC_STARTING;
	s->pid = 0;
	s->launching = true;
	s->leader_gone = false;
	s->has_exit = false;
	s->exit_code = 0;
	s->started_at = s->ready_at = s->ended_at = 0;
	s->stop_reason = NULL;
	s->message[0] = 0;
	s->end_planned = false;
	s->users++;
	*out = s;
	*gen = s->gen;
	rc = 0;
out:
	svc_unlock();
	return rc;
}


/* Probe run `gen` of s until ready, ended, or the timeout (then end it). */
static void await_ready(struct service *s, uint64_t gen, const struct svc_probe *probe,
			int64_t timeout_s, int64_t interval_ms)
{
	int64_t deadline = svc_mono_ms() + timeout_s * 1000;
	char why[256] = "";
	for (;;) {
		svc_lock();
		bool probing = s->gen == gen && s->state == SVC_STARTING && !s->end_planned;
		svc_unlock();
		if (!probing)
			return;
		int ok = svc_probe_once(probe, deadline - svc_mono_ms(), why, sizeof why);
		struct svc_snapshot snap;
		svc_lock();
		if (s->gen != gen || s->state != SVC_STARTING || s->end_planned) {
			svc_unlock();
			return;
		}
		if (ok) {
			s->state = SVC_RUNNING;
			s->ready_at = svc_epoch_now();
			svc_changed(s, &snap);
			svc_unlock();
			svc_write_record(s, &snap);
			return;
		}
		if (svc_mono_ms() >= deadline) {
			svc_unlock();
			break;
		}
		int64_t wake = svc_mono_ms() + interval_ms;
		if (wake > deadline)
			wake = deadline;
		while (s->gen == gen && s->state == SVC_STARTING && !s->end_planned &&
		       svc_mono_ms() < wake)
			svc_wait_change(wake);
		svc_unlock();
	}
	char msg[MESSAGE_MAX];
	snprintf(msg, sizeof msg, "service did not become ready within %llds%s%s",
		 (long long)timeout_s, why[0] ? "; last probe: " : "", why);
	svc_end(s, gen, SVC_FAILED, "ready_timeout", msg, READY_FAIL_GRACE_MS);
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && (*s < '\t' || *s > '\r'))
			return false;
	return true;
}

int agent_action_start_service(struct agent_call *c, struct pyro_err *err)
{
	const char *name, *command, *cwd_raw, *cwd_guest;
	int64_t timeout_s, interval_ms;
	char **env;
	size_t nenv;
	char cwd_host[PATH_MAX];
	struct svc_probe probe;
	struct json_value *ready_norm = NULL;
	if (svc_req_name(c, &name, err) < 0 ||
	    agent_req_str(c, "command", "", &command, err) < 0)
		return -1;
	if (blank(command))
		return pyro_err_set(err, PYRO_EXIT_USAGE, "command is required");
	if (agent_req_str(c, "cwd", AGENT_WORKSPACE_DIR, &cwd_raw, err) < 0)
		return -1;
	if (agent_workspace_path(c, cwd_raw, &cwd_guest, cwd_host, err) < 0) {
		pyro_err_wrap(err, "cwd");
		return -1;
	}
	struct stat st;
	if (stat(cwd_host, &st) < 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "service cwd does not exist: %s (create it first)", cwd_guest);
	if (!S_ISDIR(st.st_mode))
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "service cwd is not a directory: %s",
				    cwd_guest);
	const struct json_value *rv = json_get(c->req, "readiness");
	if (rv && rv->type != JSON_NULL && svc_probe_parse(c, rv, &probe, &ready_norm, err) < 0)
		return -1;
	if (agent_req_int(c, "ready_timeout_seconds", READY_DEFAULT_TIMEOUT_S, 1,
			  READY_MAX_TIMEOUT_S, &timeout_s, err) < 0 ||
	    agent_req_int(c, "ready_interval_ms", READY_DEFAULT_INTERVAL_MS, READY_MIN_INTERVAL_MS,
			  READY_MAX_INTERVAL_MS, &interval_ms, err) < 0 ||
	    agent_req_env(c, "env", &env, &nenv, err) < 0)
		return -1;
	char **envp = agent_command_env(c->doc, NULL, env);
	if (!envp)
		return oom(err);
	probe.envp = (const char *const *)envp;
	probe.cwd = cwd_host;

	/* The record's own copies: they outlive this request. */
	struct json_doc *own = json_doc_new();
	struct json_value *cmd_v = own ? json_string(own, command) : NULL;
	struct json_value *cwd_v = own ? json_string(own, cwd_guest) : NULL;
	struct json_value *rdy_v = own && ready_norm ? json_clone(own, ready_norm) : NULL;
	if (!cmd_v || !cwd_v || (ready_norm && !rdy_v)) {
		json_doc_free(own);
		return oom(err);
	}
	struct service *s;
	uint64_t gen;
	if (reserve(name, own, cmd_v->u.string.ptr, cwd_v->u.string.ptr, rdy_v, &s, &gen,
		    err) < 0) {
		json_doc_free(own);
		return -1;
	}

	int rc = svc_launch(s, envp, cwd_host, ready_norm != NULL, err);
	if (rc == 0 && ready_norm)
		await_ready(s, gen, &probe, timeout_s, interval_ms);
	svc_lock();
	/* Stopped meanwhile by someone else: answer once it has ended. */
	int64_t dl = svc_mono_ms() + STOP_MAX_GRACE_MS + KILL_WAIT_MS;
	while (rc == 0 && s->gen == gen && s->end_planned && s->supervised && svc_mono_ms() < dl)
		svc_wait_change(dl);
	if (rc == 0 && fill_status(c->doc, c->resp, s) < 0)
		rc = oom(err);
	s->users--;
	svc_unlock();
	return rc;
}

/* ---- status, list, stop -------------------------------------------------- */

int agent_action_status_service(struct agent_call *c, struct pyro_err *err)
{
	const char *name;
	if (svc_req_name(c, &name, err) < 0)
		return -1;
	svc_lock();
	struct service *s = find(name);
	int rc = !s ? svc_no_such(name, err)
		    : fill_status(c->doc, c->resp, s) < 0 ? oom(err) : 0;
	svc_unlock();
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct service *const *)a)->name, (*(struct service *const *)b)->name);
}

int agent_action_list_services(struct agent_call *c, struct pyro_err *err)
{
	struct json_value *arr = json_array(c->doc);
	if (!arr)
		return oom(err);
	int rc = 0;
	int64_t running = 0;
	svc_lock();
	struct service **v = svc.count ? calloc(svc.count, sizeof *v) : NULL;
	size_t n = 0;
	if (svc.count && !v) {
		rc = oom(err);
	} else {
		for (struct service *s = svc.list; s; s = s->next)
			v[n++] = s;
		if (n)
			qsort(v, n, sizeof *v, by_name);
		for (size_t i = 0; i < n && rc == 0; i++) {
			struct json_value *o = json_object(c->doc);
			running += v[i]->state == SVC_RUNNING;
			if (!o || fill_status(c->doc, o, v[i]) < 0 ||
			    json_array_push(c->doc, arr, o) < 0)
				rc = oom(err);
		}
	}
	svc_unlock();
	free(v);
	if (rc == 0 && (json_object_set(c->doc, c->resp, "services", arr) < 0 ||
			json_set_int(c->doc, c->resp, "count", (int64_t)n) < 0 ||
			json_set_int(c->doc, c->resp, "running_count", running) < 0))
		rc = oom(err);
	return rc;
}

int agent_action_stop_service(struct agent_call *c, struct pyro_err *err)
{
	const char *name;
	int64_t grace_ms;
	if (svc_req_name(c, &name, err) < 0 ||
	    agent_req_int(c, "grace_ms", STOP_DEFAULT_GRACE_MS, 0, STOP_MAX_GRACE_MS, &grace_ms,
			  err) < 0)
		return -1;
	svc_lock();
	struct service *s = find(name);
	if (!s) {
		svc_unlock();
		return svc_no_such(name, err);
	}
	s->users++;
	uint64_t gen = s->gen;
	svc_unlock();
	svc_end(s, gen, SVC_STOPPED, "stop_requested", "", grace_ms);
	svc_lock();
	int rc = fill_status(c->doc, c->resp, s) < 0 ? oom(err) : 0;
	s->users--;
	svc_unlock();
	return rc;
}
