/* One function per guest-agent action, over agentclient_call(). The field
 * names are the agent's (guest-init/agent.h). */
#include "agentclient.h"

#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "exitcodes.h"

static int oom(struct pyro_err *err)
{
	pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory building an agent request");
	return -1;
}

/* A request object {"action": action} in doc, or NULL. */
static struct json_value *request(struct json_doc *doc, const char *action)
{
	struct json_value *r = json_object(doc);
	if (!r || json_set_str(doc, r, "action", action) < 0)
		return NULL;
	return r;
}

int agentclient_action(const struct agent_target *t, struct json_doc *doc, const char *action,
		       struct json_value *fields, struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = fields ? fields : json_object(doc);
	if (!r || json_set_str(doc, r, "action", action) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

int agentclient_hello(const struct agent_target *t, struct json_doc *doc,
		      struct json_value **resp, struct pyro_err *err)
{
	return agentclient_action(t, doc, "hello", NULL, resp, err);
}

/* Set key to a clone of v when v is not NULL. */
static int set_opt(struct json_doc *doc, struct json_value *obj, const char *key,
		   const struct json_value *v)
{
	return v ? json_object_set(doc, obj, key, json_clone(doc, v)) : 0;
}

static int set_list(struct json_doc *doc, struct json_value *obj, const char *key,
		    const char *const *list)
{
	if (!list)
		return 0;
	struct json_value *a = json_array(doc);
	if (!a)
		return -1;
	for (; *list; list++)
		if (json_array_push(doc, a, json_string(doc, *list)) < 0)
			return -1;
	return json_object_set(doc, obj, key, a);
}

/* Seconds of slack on top of a command's own limit for the call itself. */
#define EXEC_MARGIN_MS 30000

int agentclient_exec(const struct agent_target *t, struct json_doc *doc,
		     const struct agent_exec_request *rq, struct agent_exec_result *res,
		     struct pyro_err *err)
{
	memset(res, 0, sizeof *res);
	struct json_value *r = request(doc, "exec");
	if (!r || json_set_str(doc, r, "command", rq->command) < 0 ||
	    json_set_int(doc, r, "timeout_seconds", rq->timeout_seconds) < 0 ||
	    (rq->cwd && json_set_str(doc, r, "cwd", rq->cwd) < 0) ||
	    set_opt(doc, r, "env", rq->env) < 0 ||
	    set_list(doc, r, "redact_values", rq->redact_values) < 0)
		return oom(err);
	struct agent_target tt = *t;
	if (tt.timeout_ms >= 0)
		tt.timeout_ms = rq->timeout_seconds * 1000 + EXEC_MARGIN_MS;
	struct json_value *resp;
	if (agentclient_call(&tt, doc, r, -1, 0, -1, &resp, err) < 0)
		return -1;
	int64_t code = -1;
	res->stdout_text = json_get_str(resp, "stdout");
	res->stderr_text = json_get_str(resp, "stderr");
	if (!res->stdout_text || !res->stderr_text || !json_get_int(resp, "exit_code", &code)) {
		pyro_err_set(err, PYRO_EXIT_FAILURE,
			     "the guest agent's exec answer lacks stdout, stderr or exit_code");
		return -1;
	}
	res->exit_code = (int)code;
	json_get_int(resp, "duration_ms", &res->duration_ms);
	json_get_bool(resp, "stdout_truncated", &res->stdout_truncated);
	json_get_bool(resp, "stderr_truncated", &res->stderr_truncated);
	json_get_bool(resp, "timed_out", &res->timed_out);
	return 0;
}

int agentclient_extract_archive(const struct agent_target *t, struct json_doc *doc, int fd,
				uint64_t size, const char *destination, struct json_value **resp,
				struct pyro_err *err)
{
	struct json_value *r = request(doc, "extract_archive");
	if (!r || json_set_str(doc, r, "destination", destination) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, fd, size, -1, resp, err);
}

int agentclient_install_secrets(const struct agent_target *t, struct json_doc *doc, int fd,
				uint64_t size, struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = request(doc, "install_secrets");
	if (!r)
		return oom(err);
	return agentclient_call(t, doc, r, fd, size, -1, resp, err);
}

int agentclient_export_archive(const struct agent_target *t, struct json_doc *doc,
			       const char *path, int out_fd, struct json_value **resp,
			       struct pyro_err *err)
{
	struct json_value *r = request(doc, "export_archive");
	if (!r || json_set_str(doc, r, "path", path) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, out_fd, resp, err);
}

static int path_call(const struct agent_target *t, struct json_doc *doc, const char *action,
		     const char *path, struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = request(doc, action);
	if (!r || json_set_str(doc, r, "path", path) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

int agentclient_list_workspace(const struct agent_target *t, struct json_doc *doc,
			       const char *path, bool recursive, struct json_value **resp,
			       struct pyro_err *err)
{
	struct json_value *r = request(doc, "list_workspace");
	if (!r || json_set_str(doc, r, "path", path) < 0 ||
	    json_set_bool(doc, r, "recursive", recursive) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

int agentclient_read_workspace_file(const struct agent_target *t, struct json_doc *doc,
				    const char *path, int64_t max_bytes, struct buf *content,
				    struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = request(doc, "read_workspace_file");
	if (!r || json_set_str(doc, r, "path", path) < 0 ||
	    json_set_int(doc, r, "max_bytes", max_bytes) < 0)
		return oom(err);
	if (agentclient_call(t, doc, r, -1, 0, -1, resp, err) < 0)
		return -1;
	const struct json_value *b64 = json_get(*resp, "content_b64");
	if (!b64 || b64->type != JSON_STRING ||
	    base64_decode(content, b64->u.string.ptr, b64->u.string.len) < 0) {
		pyro_err_set(err, PYRO_EXIT_FAILURE,
			     "the guest agent's file read answer has no valid content_b64");
		return -1;
	}
	return 0;
}

int agentclient_write_workspace_file(const struct agent_target *t, struct json_doc *doc,
				     const char *path, const char *text, size_t len,
				     struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = request(doc, "write_workspace_file");
	if (!r || json_set_str(doc, r, "path", path) < 0 ||
	    json_object_set(doc, r, "text", json_string_len(doc, text, len)) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

int agentclient_delete_workspace_path(const struct agent_target *t, struct json_doc *doc,
				      const char *path, struct json_value **resp,
				      struct pyro_err *err)
{
	return path_call(t, doc, "delete_workspace_path", path, resp, err);
}

/* ---- shells ------------------------------------------------------------ */

static struct json_value *shell_request(struct json_doc *doc, const char *action,
					const char *shell_id)
{
	struct json_value *r = request(doc, action);
	return r && json_set_str(doc, r, "shell_id", shell_id) == 0 ? r : NULL;
}

int agentclient_open_shell(const struct agent_target *t, struct json_doc *doc,
			   const char *shell_id, const char *cwd, int cols, int rows,
			   const struct json_value *env, const char *const *redact_values,
			   struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = shell_request(doc, "open_shell", shell_id);
	if (!r || (cwd && json_set_str(doc, r, "cwd", cwd) < 0) ||
	    json_set_int(doc, r, "cols", cols) < 0 || json_set_int(doc, r, "rows", rows) < 0 ||
	    set_opt(doc, r, "env", env) < 0 || set_list(doc, r, "redact_values", redact_values) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

int agentclient_read_shell(const struct agent_target *t, struct json_doc *doc,
			   const char *shell_id, int64_t cursor, int64_t max_chars,
			   struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = shell_request(doc, "read_shell", shell_id);
	if (!r || json_set_int(doc, r, "cursor", cursor) < 0 ||
	    json_set_int(doc, r, "max_chars", max_chars) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

int agentclient_write_shell(const struct agent_target *t, struct json_doc *doc,
			    const char *shell_id, const char *input, bool append_newline,
			    struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = shell_request(doc, "write_shell", shell_id);
	if (!r || json_set_str(doc, r, "input", input) < 0 ||
	    json_set_bool(doc, r, "append_newline", append_newline) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

int agentclient_signal_shell(const struct agent_target *t, struct json_doc *doc,
			     const char *shell_id, const char *signal_name,
			     struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = shell_request(doc, "signal_shell", shell_id);
	if (!r || json_set_str(doc, r, "signal", signal_name) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

int agentclient_close_shell(const struct agent_target *t, struct json_doc *doc,
			    const char *shell_id, struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = shell_request(doc, "close_shell", shell_id);
	if (!r)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

/* ---- services ------------------------------------------------------------ */

static struct json_value *service_request(struct json_doc *doc, const char *action,
					  const char *name)
{
	struct json_value *r = request(doc, action);
	return r && json_set_str(doc, r, "service_name", name) == 0 ? r : NULL;
}

int agentclient_start_service(const struct agent_target *t, struct json_doc *doc,
			      const struct agent_service_request *rq, struct json_value **resp,
			      struct pyro_err *err)
{
	struct json_value *r = service_request(doc, "start_service", rq->service_name);
	if (!r || json_set_str(doc, r, "command", rq->command) < 0 ||
	    (rq->cwd && json_set_str(doc, r, "cwd", rq->cwd) < 0) ||
	    set_opt(doc, r, "readiness", rq->readiness) < 0 ||
	    (rq->ready_timeout_seconds &&
	     json_set_int(doc, r, "ready_timeout_seconds", rq->ready_timeout_seconds) < 0) ||
	    (rq->ready_interval_ms &&
	     json_set_int(doc, r, "ready_interval_ms", rq->ready_interval_ms) < 0) ||
	    set_opt(doc, r, "env", rq->env) < 0)
		return oom(err);
	struct agent_target tt = *t;
	if (tt.timeout_ms >= 0) /* the agent waits for readiness (default 30 s) */
		tt.timeout_ms = (rq->ready_timeout_seconds ? rq->ready_timeout_seconds : 30) * 1000 +
				EXEC_MARGIN_MS;
	return agentclient_call(&tt, doc, r, -1, 0, -1, resp, err);
}

static int service_call(const struct agent_target *t, struct json_doc *doc, const char *action,
			const char *name, struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = service_request(doc, action, name);
	if (!r)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

int agentclient_status_service(const struct agent_target *t, struct json_doc *doc,
			       const char *service_name, struct json_value **resp,
			       struct pyro_err *err)
{
	return service_call(t, doc, "status_service", service_name, resp, err);
}

int agentclient_logs_service(const struct agent_target *t, struct json_doc *doc,
			     const char *service_name, int64_t tail_lines,
			     struct json_value **resp, struct pyro_err *err)
{
	struct json_value *r = service_request(doc, "logs_service", service_name);
	if (!r || (tail_lines >= 0 ? json_set_int(doc, r, "tail_lines", tail_lines)
				   : json_set_null(doc, r, "tail_lines")) < 0)
		return oom(err);
	return agentclient_call(t, doc, r, -1, 0, -1, resp, err);
}

int agentclient_stop_service(const struct agent_target *t, struct json_doc *doc,
			     const char *service_name, struct json_value **resp,
			     struct pyro_err *err)
{
	/* Stopping waits out the agent's TERM grace before a KILL. */
	struct agent_target tt = *t;
	if (tt.timeout_ms >= 0 && tt.timeout_ms < 60000)
		tt.timeout_ms = 60000;
	return service_call(&tt, doc, "stop_service", service_name, resp, err);
}

int agentclient_list_services(const struct agent_target *t, struct json_doc *doc,
			      struct json_value **resp, struct pyro_err *err)
{
	return agentclient_action(t, doc, "list_services", NULL, resp, err);
}
