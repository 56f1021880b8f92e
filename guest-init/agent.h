/* pyro-guest-agent: the server inside every guest.
 *
 * One request per frame (core/agentproto.h): a JSON header line with an
 * "action" and, for uploads, a body; one response frame back: a JSON object,
 * or {"error": "..."} when the action failed. Frames may follow each other on
 * one connection. Actions and their fields are the original product's
 * (exec, extract_archive, export_archive, install_secrets, list_workspace,
 * read_workspace_file, write_workspace_file, delete_workspace_path, the
 * *_shell and *_service families) plus "hello".
 *
 * THREADS. The agent serves every connection on its own thread, so a long
 * exec does not hold up a shell read on another connection. Actions that
 * share state (shells, services, secrets) lock it themselves; the state of
 * each family is one static struct in its own file. Background threads read
 * shell PTYs and supervise services. SIGPIPE is ignored process-wide, and a
 * SIGTERM makes the agent stop every service and shell and exit 0 (that is
 * how pyro-init powers the guest off cleanly).
 *
 * ROOT. In a guest, guest paths are host paths. Tests run the agent on the
 * host with --root DIR: every absolute guest path the agent touches
 * (/workspace, /run/pyro-shells, /run/pyro-services, /run/pyro-secrets, the
 * export spool) is DIR + path instead. Commands still run with the host's
 * /bin/sh; their cwd is mapped the same way. agent_path() does the mapping.
 *
 * HANDLERS. An action is `int fn(struct agent_call *c, struct pyro_err *err)`:
 * read the request with the agent_req_* helpers (which name the field and
 * what was wrong), do the work, and fill c->resp (an object in c->doc) — or
 * return -1 with err, which the connection turns into {"error": message}
 * (secret values redacted). A request body, when the action takes one, is
 * pulled with agent_body_read(); whatever a handler leaves unread is dropped
 * before the next request. A response body is announced with
 * agent_reply_body_fd(): the connection sends the header, then exactly that
 * many bytes from the fd, and closes the fd.
 */
#ifndef PYRO_AGENT_H
#define PYRO_AGENT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/agentproto.h"
#include "../core/buf.h"
#include "../core/err.h"
#include "../core/json.h"

#define AGENT_VERSION_PROTOCOL 1
#define AGENT_DEFAULT_VSOCK_PORT 5005

/* Where the agent keeps what must not show up in /workspace. */
#define AGENT_SHELL_DIR "/run/pyro-shells"
#define AGENT_SERVICE_DIR "/run/pyro-services"
#define AGENT_SECRET_DIR "/run/pyro-secrets"
#define AGENT_WORKSPACE_DIR "/workspace"

/* Request header lines may be this long: a 1 MiB write_workspace_file
 * text can take up to 6 MiB once JSON-escaped (\u00XX per byte). */
#define AGENT_MAX_HEADER ((size_t)8 << 20)

/* Answer header lines may be this long (exec output, file contents, logs
 * travel inside them, JSON-escaped); the host client accepts as much
 * (AGENTCLIENT_MAX_ANSWER_HEADER). */
#define AGENT_MAX_ANSWER ((size_t)256 << 20)

/* A body read that sees no byte for this long fails (the client stalled). */
#define AGENT_BODY_IDLE_MS 60000

struct agent_call {
	const struct json_value *req; /* the request header (has "action") */
	const char *action;
	uint64_t body_size;          /* announced request body length */
	struct agentproto_stream *stream;
	struct json_doc *doc;        /* arena for the response */
	struct json_value *resp;     /* the response object: fill it */
	int resp_body_fd;            /* -1, or a body to send after the header */
	uint64_t resp_body_size;
};

typedef int (*agent_action_fn)(struct agent_call *c, struct pyro_err *err);

struct agent_action {
	const char *name;
	agent_action_fn run;
};

/* ---- process-wide settings (set once by the applet before serving) ---- */

/* "" in a guest, else the test root (no trailing slash). */
const char *agent_root(void);
int agent_set_root(const char *dir, struct pyro_err *err);

/* dst = root + guest_abs (which starts with "/"). -1 when too long. */
int agent_path(char dst[PATH_MAX], const char *guest_abs, struct pyro_err *err);

/* Normalise a workspace path the way the original does (core/wspath.h)
 * and map it: *guest gets the normalised "/workspace/..." form (in c->doc),
 * host the mapped path. `what` names the field in errors. */
int agent_workspace_path(struct agent_call *c, const char *raw, const char **guest,
			 char host[PATH_MAX], struct pyro_err *err);

/* ---- request fields ---------------------------------------------------- */
/* Each returns 0 (value or default stored) or -1 with "FIELD must be ..."
 * (code PYRO_EXIT_USAGE). A JSON null counts as absent, as in the original,
 * whose client sends "env": null when there is none. */
int agent_req_str(const struct agent_call *c, const char *key, const char *def,
		  const char **out, struct pyro_err *err);
/* A string that must be present and, once whitespace-stripped, non-empty
 * ("shell_id is required"). *out is the stripped copy (in c->doc). */
int agent_req_id(struct agent_call *c, const char *key, const char **out,
		 struct pyro_err *err);
int agent_req_int(const struct agent_call *c, const char *key, int64_t def, int64_t min,
		  int64_t max, int64_t *out, struct pyro_err *err);
int agent_req_bool(const struct agent_call *c, const char *key, bool def, bool *out,
		   struct pyro_err *err);
/* An object of string values ("env"): a NULL-terminated "K=V" array in the
 * doc, or *out NULL when absent. Keys must be non-empty and hold no '=' or
 * NUL. */
int agent_req_env(struct agent_call *c, const char *key, char ***out, size_t *n,
		  struct pyro_err *err);
/* An array of strings ("redact_values"): *out NULL-terminated, in the doc. */
int agent_req_str_list(struct agent_call *c, const char *key, const char ***out, size_t *n,
		       struct pyro_err *err);

/* ---- bodies ------------------------------------------------------------ */

/* Pull up to cap bytes of the request body: >0, 0 at its end, -1 (final:
 * the connection is closed after the error answer). */
ssize_t agent_body_read(struct agent_call *c, void *dst, size_t cap, struct pyro_err *err);
/* Answer with a body: the connection sends `size` bytes from fd (from its
 * current offset) after the header and then closes fd. Takes fd. */
void agent_reply_body_fd(struct agent_call *c, int fd, uint64_t size);

/* ---- environment for commands ------------------------------------------ */

/* The base environment commands start with (PATH, HOME, TERM, LANG), plus
 * `extra` ("K=V", NULL-terminated, may be NULL) overriding by key. The
 * array and its strings live in doc. NULL on allocation failure. */
char **agent_command_env(struct json_doc *doc, char *const *base_extra, char *const *extra);

/* ---- redaction (secret values from install_secrets) ------------------- */

/* Append s with every installed secret value (and each of `also`, may be
 * NULL) replaced by "[REDACTED]". 0, or -1 when out of memory. */
int agent_redact(struct buf *out, const char *s, size_t len, const char *const *also);
/* Redact a NUL-terminated string into the doc (NULL on allocation failure). */
const char *agent_redact_str(struct json_doc *doc, const char *s, const char *const *also);
/* Add secret values (copied). Called by install_secrets. */
int agent_secrets_add(const char *const *values, size_t n, struct pyro_err *err);

/* ---- the action families (one file each) ------------------------------- */

int agent_action_hello(struct agent_call *c, struct pyro_err *err);
int agent_action_exec(struct agent_call *c, struct pyro_err *err);
int agent_action_extract_archive(struct agent_call *c, struct pyro_err *err);
int agent_action_export_archive(struct agent_call *c, struct pyro_err *err);
int agent_action_install_secrets(struct agent_call *c, struct pyro_err *err);
int agent_action_list_workspace(struct agent_call *c, struct pyro_err *err);
int agent_action_read_workspace_file(struct agent_call *c, struct pyro_err *err);
int agent_action_write_workspace_file(struct agent_call *c, struct pyro_err *err);
int agent_action_delete_workspace_path(struct agent_call *c, struct pyro_err *err);
int agent_action_open_shell(struct agent_call *c, struct pyro_err *err);
int agent_action_read_shell(struct agent_call *c, struct pyro_err *err);
int agent_action_write_shell(struct agent_call *c, struct pyro_err *err);
int agent_action_signal_shell(struct agent_call *c, struct pyro_err *err);
int agent_action_close_shell(struct agent_call *c, struct pyro_err *err);
int agent_action_start_service(struct agent_call *c, struct pyro_err *err);
int agent_action_status_service(struct agent_call *c, struct pyro_err *err);
int agent_action_logs_service(struct agent_call *c, struct pyro_err *err);
int agent_action_stop_service(struct agent_call *c, struct pyro_err *err);
int agent_action_list_services(struct agent_call *c, struct pyro_err *err);

/* Shutdown hooks (SIGTERM): stop every service (TERM, grace, KILL) and
 * close every shell. Safe to call once, from the main thread. */
void agent_services_shutdown(void);
void agent_shells_shutdown(void);

/* Start a thread with the agent's stack size (1 MiB: handlers keep a few
 * PATH_MAX buffers and 64 KiB copy chunks on the stack, more than musl's
 * 128 KiB default). t NULL: detached; else joinable, its id in *t.
 * 0, or an errno value (agent_main.c). */
int agent_start_thread(pthread_t *t, void *(*fn)(void *), void *arg);

/* The action table and lookup (agent_conn.c). */
const struct agent_action *agent_find_action(const char *name);
extern const struct agent_action agent_actions[];

/* Serve one connection until the peer closes or a framing error (agent_conn.c).
 * Closes fd. */
void agent_serve_connection(int fd);

/* Serve the agent over a vmux line (docs/vmux.md: a virtio-serial port,
 * kept open for the VM's lifetime): streams the host opens to `port` are
 * served like connections. Returns when stop_fd (>= 0) is readable (0) or
 * the line ends for good (-1): a socket at EOF; a character device at EOF
 * only has no host connected, which is waited out. stats (may be NULL)
 * gets the link's counters. agent_serial.c. */
struct vmux_link_stats;
int agent_serial_serve(int line_fd, uint32_t port, int stop_fd, struct vmux_link_stats *stats);

/* Open a virtio-serial port for agent_serial_serve. /dev/virtio-ports/NAME
 * is a udev convenience that a pyro guest (no udev) does not have, so for
 * such a path the port is found by its name in
 * /sys/class/virtio-ports/vportXpY/name and /dev/vportXpY is opened. The
 * host announces ports only after the driver is up, which can be after
 * the agent starts, so a missing port is looked for again every 20 ms for
 * up to wait_ms. -1 with errno when it never appears. */
int agent_serial_open(const char *path, int wait_ms);

int pyro_guest_agent_main(int argc, char **argv);

#endif
