/* Private to the service files. Who owns what:
 *   agent_service.c       the design notes (read them first), the record
 *                         table (svc, struct service, the NAME.json files),
 *                         request checks, and start/status/stop/list
 *                         (start_service's readiness loop included);
 *   agent_service_proc.c  the processes: launching one (fork/exec through
 *                         core/spawn.h's low-level section), its supervisor
 *                         thread, signalling its group, ending a run on
 *                         purpose (stop, ready timeout) and the agent's
 *                         shutdown;
 *   agent_service_ready.c readiness probes;
 *   agent_service_logs.c  logs_service.
 *
 * A probe is parsed from the request's "readiness" object into a struct
 * svc_probe that lives for the start_service request (its strings are in
 * the request's doc); a normalised copy of the object goes into the service
 * record, for status answers. See agent_service.c for the readiness types
 * and their fields.
 */
#ifndef PYRO_AGENT_SERVICE_H
#define PYRO_AGENT_SERVICE_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "agent.h"

/* ---- readiness probes (defined in agent_service_ready.c) ---- */

enum svc_probe_type {
	SVC_PROBE_FILE = 1,
	SVC_PROBE_TCP,
	SVC_PROBE_HTTP,
	SVC_PROBE_COMMAND,
};

struct svc_probe {
	enum svc_probe_type type;
	char path[PATH_MAX];          /* file: the mapped (host) path */
	struct sockaddr_storage addr; /* tcp, http: where to connect */
	socklen_t addr_len;
	const char *endpoint;         /* tcp, http: "HOST:PORT" for messages */
	const char *host_header;      /* http: the Host header value */
	const char *target;           /* http: the request target ("/path?q") */
	const char *command;          /* command: run with sh -lc */
	const char *const *envp;      /* command: the service's environment */
	const char *cwd;              /* command: the service's (host) cwd */
};

/* Parse the "readiness" member `v` (an object; the caller handles null)
 * into p, and store a normalised copy of the object (file paths in their
 * "/workspace/..." form) in *norm, in c->doc. -1 with a message naming the
 * field ("readiness.type must be one of ...") on bad input. envp and cwd
 * are left for the caller to fill. */
int svc_probe_parse(struct agent_call *c, const struct json_value *v, struct svc_probe *p,
		    struct json_value **norm, struct pyro_err *err);

/* Try the probe once, taking at most about budget_ms. 1 when ready, 0 when
 * not; then `why` (cap bytes, always terminated) says what was seen, for
 * the readiness-timeout message. */
int svc_probe_once(const struct svc_probe *p, int64_t budget_ms, char *why, size_t cap);

/* ---- the record table (defined in agent_service.c) ---- */

#define SERVICE_NAME_MAX 64
#define MESSAGE_MAX PYRO_ERR_MSG_MAX
/* After SIGKILL, how long to wait for the supervisor to see the end. */
#define KILL_WAIT_MS 5000
/* How long a request waits for another's launch (fork + exec check). */
#define LAUNCH_WAIT_MS 5000

enum svc_state { SVC_STARTING, SVC_RUNNING, SVC_STOPPED, SVC_FAILED };

/* A record. agent_service.c creates, reuses and evicts it, fills in what a
 * start asks for and marks it ready after a probe; agent_service_proc.c
 * records the launch (pid, started_at, state, supervised) and the end
 * (exit_code, ended_at, state, stop_reason, message). Read and written
 * under svc.lock, except written_seq (under file_lock). */
struct service {
	struct service *next;
	char name[SERVICE_NAME_MAX + 1];
	uint64_t gen;              /* bumped at every start */
	struct json_doc *doc;      /* owns command, cwd and readiness */
	const char *command;
	const char *cwd;           /* guest form */
	struct json_value *readiness; /* normalised, or NULL */
	enum svc_state state;
	pid_t pid;                 /* 0 until launched */
	bool launching;            /* start_service is forking it */
	bool supervised;           /* its supervisor thread runs */
	bool leader_gone;          /* the leader exited: never signal the group */
	int users;                 /* handlers holding this across unlocks */
	bool has_exit;
	int exit_code;
	double started_at, ready_at, ended_at; /* epoch seconds; 0: not yet */
	const char *stop_reason;   /* static, NULL while alive */
	char message[MESSAGE_MAX];
	/* How the end is reported when it was brought about on purpose. */
	bool end_planned;
	enum svc_state end_state;
	const char *end_reason;
	char end_message[MESSAGE_MAX];
	/* The record file: every change bumps seq; a writer skips a
	 * snapshot older than what is already on disk. */
	uint64_t seq;
	pthread_mutex_t file_lock;
	uint64_t written_seq;
};

struct svc_registry {
	pthread_once_t once;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* CLOCK_MONOTONIC; broadcast on every change */
	struct service *list;
	size_t count;
	bool shutting_down;
};
extern struct svc_registry svc;

/* Take and release svc.lock (the first call also sets up svc.changed). */
void svc_lock(void);
void svc_unlock(void);
/* CLOCK_MONOTONIC in milliseconds; the wall clock in epoch seconds. */
int64_t svc_mono_ms(void);
double svc_epoch_now(void);
/* One wait for a change, until the monotonic deadline at the latest (lock
 * held). Callers re-check their condition in a loop. */
void svc_wait_change(int64_t deadline_ms);

/* The record file's text for one change. */
struct svc_snapshot {
	struct buf text; /* empty when it could not be built */
	uint64_t seq;
};
/* Note a change to s (lock held): wake waiters and snapshot the record;
 * the caller then unlocks and passes snap to svc_write_record. */
void svc_changed(struct service *s, struct svc_snapshot *snap);
/* Write the snapshot to NAME.json and release it (lock NOT held; the
 * caller keeps s alive). */
void svc_write_record(struct service *s, struct svc_snapshot *snap);

/* ---- the processes (defined in agent_service_proc.c) ---- */

/* Fork the reserved run of s (launching, held by the caller) and start its
 * supervisor. On failure the record is "failed", stop_reason
 * "start_failed", and err says why. */
int svc_launch(struct service *s, char **envp, const char *cwd_host, bool probing,
	       struct pyro_err *err);
/* End run `gen` of s on purpose: TERM and CONT to its group, up to
 * grace_ms, then KILL; returns once the supervisor recorded the end (or
 * KILL_WAIT_MS after the KILL). How the end is reported: the first plan
 * wins. Lock NOT held; the caller keeps s alive. */
void svc_end(struct service *s, uint64_t gen, enum svc_state state, const char *reason,
	     const char *message, int64_t grace_ms);

/* ---- request helpers for every service file (defined in agent_service.c) ---- */

/* The request's service_name, checked (see agent_service.c). */
int svc_req_name(struct agent_call *c, const char **out, struct pyro_err *err);
/* dst = the mapped /run/pyro-services/NAME.EXT. */
int svc_file(char dst[PATH_MAX], const char *name, const char *ext, struct pyro_err *err);
/* "service 'NAME' does not exist"; returns -1. */
int svc_no_such(const char *name, struct pyro_err *err);
/* The state of service NAME ("running", ...; a static string), or NULL when
 * there is no such service. */
const char *svc_state_of(const char *name);

#endif
