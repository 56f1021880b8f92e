/* The agent's shared helpers: the test root, path mapping, request fields,
 * bodies, command environments and secret redaction. See agent.h. */
#include "agent.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/redact.h"
#include "../core/wspath.h"

static struct {
	char root[PATH_MAX];
	pthread_mutex_t lock; /* guards secrets */
	struct redact_set secrets;
} agent_state = { .lock = PTHREAD_MUTEX_INITIALIZER };

const char *agent_root(void)
{
	return agent_state.root;
}

int agent_set_root(const char *dir, struct pyro_err *err)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 0 || dir[0] != '/') {
		pyro_err_set(err, PYRO_EXIT_USAGE, "--root must be an absolute directory (got '%s')",
			     dir);
		return -1;
	}
	if (n == 1)
		n = 0; /* "/" is the real root */
	if (n >= sizeof agent_state.root - 64) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "--root is too long");
		return -1;
	}
	memcpy(agent_state.root, dir, n);
	agent_state.root[n] = 0;
	return 0;
}

int agent_path(char dst[PATH_MAX], const char *guest_abs, struct pyro_err *err)
{
	int n = snprintf(dst, PATH_MAX, "%s%s", agent_state.root, guest_abs);
	if (n < 0 || n >= PATH_MAX) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "path is too long: %.80s...", guest_abs);
		return -1;
	}
	return 0;
}

int agent_workspace_path(struct agent_call *c, const char *raw, const char **guest,
			 char host[PATH_MAX], struct pyro_err *err)
{
	char norm[PATH_MAX];
	if (wspath_normalize(raw, NULL, norm, sizeof norm, err) < 0)
		return -1;
	char ws[PATH_MAX];
	if (agent_path(ws, AGENT_WORKSPACE_DIR, err) < 0 ||
	    wspath_join_host(ws, norm, host, PATH_MAX, err) < 0)
		return -1;
	if (guest) {
		struct json_value *v = json_string(c->doc, norm);
		if (!v) {
			pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
			return -1;
		}
		*guest = v->u.string.ptr;
	}
	return 0;
}

/* ---- request fields ------------------------------------------------------ */

static const struct json_value *field(const struct agent_call *c, const char *key)
{
	const struct json_value *v = json_get(c->req, key);
	return v && v->type == JSON_NULL ? NULL : v;
}

static int bad_type(const char *key, const char *want, const struct json_value *v,
		    struct pyro_err *err)
{
	pyro_err_set(err, PYRO_EXIT_USAGE, "%s must be %s (got %s)", key, want,
		     json_type_name(v->type));
	return -1;
}

static int oom(struct pyro_err *err)
{
	pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	return -1;
}

int agent_req_str(const struct agent_call *c, const char *key, const char *def,
		  const char **out, struct pyro_err *err)
{
	const struct json_value *v = field(c, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (v->type != JSON_STRING)
		return bad_type(key, "a string", v, err);
	if (memchr(v->u.string.ptr, 0, v->u.string.len)) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "%s must not contain NUL characters", key);
		return -1;
	}
	*out = v->u.string.ptr;
	return 0;
}

static int is_space(unsigned char ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

int agent_req_id(struct agent_call *c, const char *key, const char **out, struct pyro_err *err)
{
	const char *s;
	if (agent_req_str(c, key, "", &s, err) < 0)
		return -1;
	size_t a = 0, b = strlen(s);
	while (a < b && is_space((unsigned char)s[a]))
		a++;
	while (b > a && is_space((unsigned char)s[b - 1]))
		b--;
	if (a == b) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "%s is required", key);
		return -1;
	}
	struct json_value *v = json_string_len(c->doc, s + a, b - a);
	if (!v)
		return oom(err);
	*out = v->u.string.ptr;
	return 0;
}

int agent_req_int(const struct agent_call *c, const char *key, int64_t def, int64_t min,
		  int64_t max, int64_t *out, struct pyro_err *err)
{
	const struct json_value *v = field(c, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (v->type != JSON_NUMBER || !v->u.number.is_int)
		return bad_type(key, "an integer", v, err);
	if (v->u.number.i < min || v->u.number.i > max) {
		pyro_err_set(err, PYRO_EXIT_USAGE,
			     "%s must be between %lld and %lld (got %lld)", key, (long long)min,
			     (long long)max, (long long)v->u.number.i);
		return -1;
	}
	*out = v->u.number.i;
	return 0;
}

int agent_req_bool(const struct agent_call *c, const char *key, bool def, bool *out,
		   struct pyro_err *err)
{
	const struct json_value *v = field(c, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (v->type != JSON_BOOL)
		return bad_type(key, "true or false", v, err);
	*out = v->u.boolean;
	return 0;
}

int agent_req_env(struct agent_call *c, const char *key, char ***out, size_t *n,
		  struct pyro_err *err)
{
	const struct json_value *v = field(c, key);
	*out = NULL;
	*n = 0;
	if (!v)
		return 0;
	if (v->type != JSON_OBJECT)
		return bad_type(key, "an object of strings", v, err);
	size_t count = v->u.object.len;
	char **env = json_doc_alloc(c->doc, (count + 1) * sizeof *env);
	if (!env)
		return oom(err);
	for (size_t i = 0; i < count; i++) {
		const struct json_member *m = &v->u.object.members[i];
		if (m->key_len == 0 || memchr(m->key, '=', m->key_len) ||
		    memchr(m->key, 0, m->key_len)) {
			pyro_err_set(err, PYRO_EXIT_USAGE,
				     "%s names must be non-empty and contain no '=' or NUL (got '%.60s')",
				     key, m->key);
			return -1;
		}
		if (m->value->type != JSON_STRING) {
			pyro_err_set(err, PYRO_EXIT_USAGE, "%s value of %.60s must be a string (got %s)",
				     key, m->key, json_type_name(m->value->type));
			return -1;
		}
		if (memchr(m->value->u.string.ptr, 0, m->value->u.string.len)) {
			pyro_err_set(err, PYRO_EXIT_USAGE,
				     "%s value of %.60s must not contain NUL characters", key, m->key);
			return -1;
		}
		size_t len = m->key_len + 1 + m->value->u.string.len + 1;
		char *kv = json_doc_alloc(c->doc, len);
		if (!kv)
			return oom(err);
		snprintf(kv, len, "%s=%s", m->key, m->value->u.string.ptr);
		env[i] = kv;
	}
	env[count] = NULL;
	*out = env;
	*n = count;
	return 0;
}

int agent_req_str_list(struct agent_call *c, const char *key, const char ***out, size_t *n,
		       struct pyro_err *err)
{
	const struct json_value *v = field(c, key);
	*out = NULL;
	*n = 0;
	if (!v)
		return 0;
	if (v->type != JSON_ARRAY)
		return bad_type(key, "an array of strings", v, err);
	const char **list = json_doc_alloc(c->doc, (v->u.array.len + 1) * sizeof *list);
	if (!list)
		return oom(err);
	for (size_t i = 0; i < v->u.array.len; i++) {
		const struct json_value *s = v->u.array.items[i];
		if (s->type != JSON_STRING) {
			pyro_err_set(err, PYRO_EXIT_USAGE, "%s[%zu] must be a string (got %s)", key, i,
				     json_type_name(s->type));
			return -1;
		}
		list[i] = s->u.string.ptr;
	}
	list[v->u.array.len] = NULL;
	*out = list;
	*n = v->u.array.len;
	return 0;
}

/* ---- bodies ---------------------------------------------------------------- */

ssize_t agent_body_read(struct agent_call *c, void *dst, size_t cap, struct pyro_err *err)
{
	return agentproto_stream_body(c->stream, dst, cap, agentproto_deadline(AGENT_BODY_IDLE_MS),
				      err);
}

void agent_reply_body_fd(struct agent_call *c, int fd, uint64_t size)
{
	if (c->resp_body_fd >= 0)
		close(c->resp_body_fd);
	c->resp_body_fd = fd;
	c->resp_body_size = size;
}

/* ---- command environments --------------------------------------------------- */

static const char *const base_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"LANG=C.UTF-8",
	NULL,
};

static size_t key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* Put kv into env (n entries so far), replacing an entry with its key. */
static size_t env_put(char **env, size_t n, char *kv)
{
	size_t k = key_len(kv);
	for (size_t i = 0; i < n; i++) {
		if (key_len(env[i]) == k && strncmp(env[i], kv, k) == 0) {
			env[i] = kv;
			return n;
		}
	}
	env[n] = kv;
	return n + 1;
}

char **agent_command_env(struct json_doc *doc, char *const *base_extra, char *const *extra)
{
	size_t cap = 1;
	for (const char *const *p = base_env; *p; p++)
		cap++;
	for (char *const *p = base_extra; p && *p; p++)
		cap++;
	for (char *const *p = extra; p && *p; p++)
		cap++;
	char **env = json_doc_alloc(doc, cap * sizeof *env);
	if (!env)
		return NULL;
	size_t n = 0;
	for (const char *const *p = base_env; *p; p++)
		n = env_put(env, n, (char *)*p);
	for (char *const *p = base_extra; p && *p; p++)
		n = env_put(env, n, *p);
	for (char *const *p = extra; p && *p; p++)
		n = env_put(env, n, *p);
	env[n] = NULL;
	return env;
}

/* ---- redaction ---------------------------------------------------------------- */

int agent_redact(struct buf *out, const char *s, size_t len, const char *const *also)
{
	struct redact_set extra = REDACT_SET_INIT;
	int rc = 0;
	for (const char *const *p = also; p && *p && rc == 0; p++)
		rc = redact_set_add(&extra, *p, strlen(*p));
	if (rc == 0) {
		pthread_mutex_lock(&agent_state.lock);
		rc = redact_apply(&agent_state.secrets, &extra, out, s, len);
		pthread_mutex_unlock(&agent_state.lock);
	}
	redact_set_release(&extra);
	return rc;
}

const char *agent_redact_str(struct json_doc *doc, const char *s, const char *const *also)
{
	struct buf b = BUF_INIT;
	const char *res = NULL;
	if (agent_redact(&b, s, strlen(s), also) == 0) {
		struct json_value *v = json_string_len(doc, b.data, b.len);
		res = v ? v->u.string.ptr : NULL;
	}
	buf_release(&b);
	return res;
}

int agent_secrets_add(const char *const *values, size_t n, struct pyro_err *err)
{
	int rc = 0;
	pthread_mutex_lock(&agent_state.lock);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = redact_set_add(&agent_state.secrets, values[i], strlen(values[i]));
	pthread_mutex_unlock(&agent_state.lock);
	return rc < 0 ? oom(err) : 0;
}
