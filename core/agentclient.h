/* The host's client for the guest agent: one function per agent action.
 *
 * A target says how to reach an agent: a UNIX socket path (tests run the
 * agent on the host; every VM backend serves one per VM), optionally with
 * Firecracker's hybrid-vsock handshake ("CONNECT <port>\n" answered by
 * "OK <n>\n"), or AF_VSOCK (cid, port) directly. Each call opens its own
 * connection, sends one request frame, reads one answer frame, and closes,
 * so calls from several threads or processes never share a stream.
 *
 * Results: an action's answer object is returned in the caller's json_doc
 * (*resp), with the agent's field names (see guest-init/agent.h). A few
 * calls also move bytes: exec is typed (struct agent_exec_result), file
 * reads decode content_b64 into a buffer, archive uploads stream a file as
 * the request body, exports stream the answer's body into an fd.
 *
 * Errors (struct pyro_err): the agent's own {"error": ...} message verbatim
 * (PYRO_EXIT_FAILURE, or the bad-request class PYRO_EXIT_USAGE never: the
 * host cannot tell); "cannot reach the guest agent at ...: <why>" when
 * nothing answers the connect (PYRO_EXIT_FAILURE); "the guest agent did not
 * answer within N s" (PYRO_EXIT_TIMEOUT); framing problems as agentproto
 * reports them. With hybrid_connect the answer must be exactly "OK
 * <decimal>"; anything else is refused with the line quoted, and a bridge
 * that closes after CONNECT is reported as nothing in the guest listening
 * on the port (what Firecracker does then, docs/vsock.md). timeout_ms bounds the whole call (connect, send, answer);
 * 0 means the default (30 s), < 0 waits forever.
 *
 * Ownership: everything returned lives in the caller's doc or buffers; the
 * target is borrowed. */
#ifndef PYRO_AGENTCLIENT_H
#define PYRO_AGENTCLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "json.h"

#define AGENTCLIENT_DEFAULT_TIMEOUT_MS 30000
/* Answer header lines may be this long: exec output, file contents and
 * logs travel inside them (each capped by the agent), JSON-escaped. */
#define AGENTCLIENT_MAX_ANSWER_HEADER ((size_t)256 << 20)

struct agent_target {
	const char *uds_path;   /* UNIX socket; NULL for AF_VSOCK */
	bool hybrid_connect;    /* send "CONNECT <port>" first (Firecracker) */
	unsigned cid;           /* AF_VSOCK guest cid when uds_path is NULL */
	unsigned port;          /* vsock port (handshake or AF_VSOCK) */
	int timeout_ms;         /* per call; 0: default, < 0: none */
};

/* Open a connection (handshake included): a connected fd or -1. */
int agentclient_connect(const struct agent_target *t, int64_t deadline_ms, struct pyro_err *err);

/* The generic call: send req (+ body_size bytes from body_fd, when >= 0)
 * and read the answer. A body in the answer goes to out_fd (when >= 0; an
 * unexpected body is an error otherwise). *resp is the answer object; an
 * answer with "error" becomes -1 with that message. */
int agentclient_call(const struct agent_target *t, struct json_doc *doc,
		     const struct json_value *req, int body_fd, uint64_t body_size, int out_fd,
		     struct json_value **resp, struct pyro_err *err);

int agentclient_hello(const struct agent_target *t, struct json_doc *doc,
		      struct json_value **resp, struct pyro_err *err);

struct agent_exec_request {
	const char *command;
	int timeout_seconds;         /* the command's own limit */
	const char *cwd;             /* NULL: /workspace */
	const struct json_value *env; /* object of strings or NULL */
	const char *const *redact_values; /* NULL-terminated or NULL */
};

struct agent_exec_result {
	const char *stdout_text, *stderr_text; /* in the doc */
	int exit_code;
	int64_t duration_ms;
	bool stdout_truncated, stderr_truncated, timed_out;
};

/* The call's own deadline is the command's timeout plus a margin. */
int agentclient_exec(const struct agent_target *t, struct json_doc *doc,
		     const struct agent_exec_request *rq, struct agent_exec_result *res,
		     struct pyro_err *err);

/* Send the archive in fd (size bytes from its current offset). */
int agentclient_extract_archive(const struct agent_target *t, struct json_doc *doc, int fd,
				uint64_t size, const char *destination, struct json_value **resp,
				struct pyro_err *err);
int agentclient_install_secrets(const struct agent_target *t, struct json_doc *doc, int fd,
				uint64_t size, struct json_value **resp, struct pyro_err *err);
/* Write the exported tar to out_fd. */
int agentclient_export_archive(const struct agent_target *t, struct json_doc *doc,
			       const char *path, int out_fd, struct json_value **resp,
			       struct pyro_err *err);

int agentclient_list_workspace(const struct agent_target *t, struct json_doc *doc,
			       const char *path, bool recursive, struct json_value **resp,
			       struct pyro_err *err);
/* content gets the decoded bytes. */
int agentclient_read_workspace_file(const struct agent_target *t, struct json_doc *doc,
				    const char *path, int64_t max_bytes, struct buf *content,
				    struct json_value **resp, struct pyro_err *err);
int agentclient_write_workspace_file(const struct agent_target *t, struct json_doc *doc,
				     const char *path, const char *text, size_t len,
				     struct json_value **resp, struct pyro_err *err);
int agentclient_delete_workspace_path(const struct agent_target *t, struct json_doc *doc,
				      const char *path, struct json_value **resp,
				      struct pyro_err *err);

/* Any action by name with the request's fields in `fields` (an object the
 * caller built in doc, or NULL; "action" is set here). The typed calls
 * below are thin wrappers over it. */
int agentclient_action(const struct agent_target *t, struct json_doc *doc, const char *action,
		       struct json_value *fields, struct json_value **resp, struct pyro_err *err);

/* Shells. env: object of strings or NULL; redact_values NULL-terminated or
 * NULL. */
int agentclient_open_shell(const struct agent_target *t, struct json_doc *doc,
			   const char *shell_id, const char *cwd, int cols, int rows,
			   const struct json_value *env, const char *const *redact_values,
			   struct json_value **resp, struct pyro_err *err);
int agentclient_read_shell(const struct agent_target *t, struct json_doc *doc,
			   const char *shell_id, int64_t cursor, int64_t max_chars,
			   struct json_value **resp, struct pyro_err *err);
int agentclient_write_shell(const struct agent_target *t, struct json_doc *doc,
			    const char *shell_id, const char *input, bool append_newline,
			    struct json_value **resp, struct pyro_err *err);
int agentclient_signal_shell(const struct agent_target *t, struct json_doc *doc,
			     const char *shell_id, const char *signal_name,
			     struct json_value **resp, struct pyro_err *err);
int agentclient_close_shell(const struct agent_target *t, struct json_doc *doc,
			    const char *shell_id, struct json_value **resp, struct pyro_err *err);

/* Services. readiness: the original's object ({"type": "file", ...}) or
 * NULL; env as for shells. The call waits for readiness, so its deadline
 * is ready_timeout_seconds plus a margin. */
struct agent_service_request {
	const char *service_name;
	const char *command;
	const char *cwd;                    /* NULL: /workspace */
	const struct json_value *readiness; /* NULL: none */
	int ready_timeout_seconds;          /* 0: the agent's default */
	int ready_interval_ms;              /* 0: the agent's default */
	const struct json_value *env;
};
int agentclient_start_service(const struct agent_target *t, struct json_doc *doc,
			      const struct agent_service_request *rq, struct json_value **resp,
			      struct pyro_err *err);
int agentclient_status_service(const struct agent_target *t, struct json_doc *doc,
			       const char *service_name, struct json_value **resp,
			       struct pyro_err *err);
/* tail_lines < 0: all lines. */
int agentclient_logs_service(const struct agent_target *t, struct json_doc *doc,
			     const char *service_name, int64_t tail_lines,
			     struct json_value **resp, struct pyro_err *err);
int agentclient_stop_service(const struct agent_target *t, struct json_doc *doc,
			     const char *service_name, struct json_value **resp,
			     struct pyro_err *err);
int agentclient_list_services(const struct agent_target *t, struct json_doc *doc,
			      struct json_value **resp, struct pyro_err *err);

#endif
