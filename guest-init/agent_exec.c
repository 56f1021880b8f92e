/* The "hello" and "exec" actions. */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/exitcodes.h"
#include "../core/spawn.h"
#include "../core/utf8.h"

#ifndef PYRO_VERSION
#define PYRO_VERSION "0.0.0"
#endif

int agent_action_hello(struct agent_call *c, struct pyro_err *err)
{
	struct json_value *caps = json_array(c->doc);
	if (!caps)
		goto oom;
	for (const struct agent_action *a = agent_actions; a->name; a++)
		if (json_array_push(c->doc, caps, json_string(c->doc, a->name)) < 0)
			goto oom;
	if (json_set_str(c->doc, c->resp, "agent", "pyro-guest-agent") < 0 ||
	    json_set_str(c->doc, c->resp, "version", PYRO_VERSION) < 0 ||
	    json_set_int(c->doc, c->resp, "protocol", AGENT_VERSION_PROTOCOL) < 0 ||
	    json_object_set(c->doc, c->resp, "capabilities", caps) < 0)
		goto oom;
	return 0;
oom:
	pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	return -1;
}

/* mkdir -p for a host path (the original ran "mkdir -p CWD && cd CWD"). */
static int mkdir_p(const char *path, struct pyro_err *err)
{
	char p[PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof p) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "cwd is too long");
		return -1;
	}
	memcpy(p, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != 0)
			continue;
		char save = p[i];
		p[i] = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			pyro_err_sys(err, errno, "creating the working directory %s", p);
			return -1;
		}
		p[i] = save;
	}
	return 0;
}

/* Decode captured bytes as UTF-8 (replacing what is not), hide secrets,
 * and store them as a string member. */
static int set_output(struct agent_call *c, const char *key, const struct buf *raw,
		      const char *suffix, const char *const *redact)
{
	struct buf text = BUF_INIT, red = BUF_INIT;
	int rc = -1;
	if (utf8_sanitize(&text, raw->data, raw->len) < 0)
		goto done;
	if (suffix && *suffix) {
		if (text.len && text.data[text.len - 1] != '\n' && buf_append_char(&text, '\n') < 0)
			goto done;
		if (buf_append_str(&text, suffix) < 0)
			goto done;
	}
	if (agent_redact(&red, text.data, text.len, redact) < 0)
		goto done;
	rc = json_object_set(c->doc, c->resp, key, json_string_len(c->doc, red.data, red.len));
done:
	buf_release(&text);
	buf_release(&red);
	return rc;
}

#define EXEC_DEFAULT_TIMEOUT_S 30
#define EXEC_MAX_TIMEOUT_S 86400
#define EXEC_DEFAULT_OUTPUT (4 << 20)
#define EXEC_MAX_OUTPUT (16 << 20)

int agent_action_exec(struct agent_call *c, struct pyro_err *err)
{
	const char *command, *cwd_raw;
	int64_t timeout_s, max_out;
	char **env;
	size_t nenv, nredact;
	const char **redact;
	char cwd[PATH_MAX];
	if (agent_req_str(c, "command", "", &command, err) < 0 ||
	    agent_req_int(c, "timeout_seconds", EXEC_DEFAULT_TIMEOUT_S, 1, EXEC_MAX_TIMEOUT_S,
			  &timeout_s, err) < 0 ||
	    agent_req_str(c, "cwd", AGENT_WORKSPACE_DIR, &cwd_raw, err) < 0 ||
	    agent_req_int(c, "max_output_bytes", EXEC_DEFAULT_OUTPUT, 1, EXEC_MAX_OUTPUT, &max_out,
			  err) < 0 ||
	    agent_req_env(c, "env", &env, &nenv, err) < 0 ||
	    agent_req_str_list(c, "redact_values", &redact, &nredact, err) < 0)
		return -1;
	const char *cwd_guest;
	if (agent_workspace_path(c, cwd_raw, &cwd_guest, cwd, err) < 0 || mkdir_p(cwd, err) < 0)
		return -1;
	char **envp = agent_command_env(c->doc, NULL, env);
	if (!envp) {
		pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
		return -1;
	}

	struct buf out, errb;
	buf_init(&out, (size_t)max_out);
	buf_init(&errb, (size_t)max_out);
	const char *argv[] = { "/bin/sh", "-lc", command, NULL };
	struct spawn_opts o = {
		.argv = argv,
		.envp = (const char *const *)envp,
		.cwd = cwd,
		.out = { SPAWN_PIPE, &out, 0 },
		.err = { SPAWN_PIPE, &errb, 0 },
		.timeout_ms = (unsigned)timeout_s * 1000u,
	};
	struct spawn_result r;
	int rc = spawn_run(&o, &r, err);
	if (rc == 0) {
		/* On a timeout the original answered stderr = the message; pyro
		 * keeps what the command wrote and adds the message as the last
		 * line, which says the same and loses nothing. */
		if (set_output(c, "stdout", &out, NULL, redact) < 0 ||
		    set_output(c, "stderr", &errb, r.timed_out ? r.message : NULL, redact) < 0 ||
		    json_set_int(c->doc, c->resp, "exit_code", r.exit_code) < 0 ||
		    json_set_int(c->doc, c->resp, "duration_ms", r.duration_ms) < 0 ||
		    json_set_bool(c->doc, c->resp, "stdout_truncated", r.stdout_truncated) < 0 ||
		    json_set_bool(c->doc, c->resp, "stderr_truncated", r.stderr_truncated) < 0 ||
		    json_set_bool(c->doc, c->resp, "timed_out", r.timed_out) < 0 ||
		    json_set_str(c->doc, c->resp, "cwd", cwd_guest) < 0) {
			pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
			rc = -1;
		}
	}
	buf_release(&out);
	buf_release(&errb);
	return rc;
}
