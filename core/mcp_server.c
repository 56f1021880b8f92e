/* The MCP server (mcp_server.h). */
#include "mcp_server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "exitcodes.h"
#include "jsonrpc.h"
#include "log.h"

#define HEARTBEAT_MS 5000
#define DEFAULT_PAGE_SIZE 100
/* The TS SDK buffers at most 10 MiB per message; stay well below. */
#define MAX_ANSWER_BYTES ((size_t)8 << 20)

static const char *const supported_versions[] = { "2025-11-25", "2025-06-18", "2025-03-26",
						  "2024-11-05", NULL };

struct server;

/* One tools/call in flight. */
struct call {
	struct call *next;
	struct server *srv;
	struct json_doc *doc;           /* the request (owned by the call) */
	const struct json_value *id;    /* in doc */
	const struct json_value *token; /* progressToken in doc, or NULL */
	const struct json_value *args;
	const struct command *cmd;
	char id_text[128];              /* the id as JSON, to match cancellations */
	/* Guarded by srv->mu: */
	bool cancelled, answered;
	double progress;                /* last progress sent */
	int64_t started_ms;
	char vm_dir[PATH_MAX];
	int cancel_pipe[2];             /* a byte in it: cancelled */
	pthread_t thread;
};

struct server {
	const struct mcp_server_opts *o;
	int out_fd;
	pthread_mutex_t mu;             /* out_fd writes, the call list */
	pthread_cond_t idle;            /* signalled when a call ends */
	struct call *calls;
	int running;
	int teardowns;                  /* cancellation teardowns in progress */
	bool write_failed;
	bool stopping;
};

static __thread struct call *current_call;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- output ---- */

/* One complete line to the client; called with srv->mu held. */
static void send_locked(struct server *s, const struct buf *line)
{
	if (s->write_failed || !line->len)
		return;
	size_t off = 0;
	while (off < line->len) {
		ssize_t n = write(s->out_fd, line->data + off, line->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->write_failed = true;
			log_msg(LOG_ERROR, "mcp: writing to the client failed: %s", strerror(errno));
			return;
		}
		off += (size_t)n;
	}
}

static void send_line(struct server *s, const struct buf *line)
{
	pthread_mutex_lock(&s->mu);
	send_locked(s, line);
	pthread_mutex_unlock(&s->mu);
}

static void send_error(struct server *s, const struct json_value *id, int code, const char *msg)
{
	struct buf line = BUF_INIT;
	if (jsonrpc_error(&line, id, code, msg, NULL) == 0)
		send_line(s, &line);
	buf_release(&line);
}

static void send_result(struct server *s, const struct json_value *id,
			const struct json_value *result)
{
	struct buf line = BUF_INIT;
	if (jsonrpc_result(&line, id, result) == 0)
		send_line(s, &line);
	else
		send_error(s, id, JSONRPC_INTERNAL_ERROR, "cannot encode the result");
	buf_release(&line);
}

/* A progress notification for c; called with srv->mu held. */
static void progress_locked(struct call *c, const char *message)
{
	if (!c->token || c->answered || c->cancelled)
		return;
	struct json_doc *doc = json_doc_new();
	struct json_value *p = doc ? json_object(doc) : NULL;
	struct buf line = BUF_INIT;
	c->progress += 1;
	if (p && json_object_set(doc, p, "progressToken", json_clone(doc, c->token)) == 0 &&
	    json_object_set(doc, p, "progress", json_int(doc, (int64_t)c->progress)) == 0 &&
	    json_set_str(doc, p, "message", message) == 0 &&
	    jsonrpc_notification(&line, "notifications/progress", p) == 0)
		send_locked(c->srv, &line);
	buf_release(&line);
	json_doc_free(doc);
}

int mcp_call_cancel_fd(void)
{
	return current_call ? current_call->cancel_pipe[0] : -1;
}

void mcp_call_phase(const char *phase, const char *vm_id, const char *vm_dir)
{
	struct call *c = current_call;
	if (!c)
		return;
	char msg[160];
	bool id = vm_id && *vm_id;
	snprintf(msg, sizeof msg, "%s%s%s", phase, id ? " vm " : "", id ? vm_id : "");
	pthread_mutex_lock(&c->srv->mu);
	if (vm_dir && !*vm_dir)
		vm_dir = NULL; /* not made yet (the pull phase) */
	if (vm_dir)
		snprintf(c->vm_dir, sizeof c->vm_dir, "%s", vm_dir);
	progress_locked(c, msg);
	/* Cancelled before it had a VM to tear down: do it now. */
	bool tear_down = c->cancelled && vm_dir && c->srv->o->cancel;
	pthread_mutex_unlock(&c->srv->mu);
	if (tear_down)
		c->srv->o->cancel(vm_dir);
}

/* ---- tools ---- */

static const struct command *find_tool(const struct server *s, const char *name)
{
	for (const struct command *const *t = s->o->tools; t && *t; t++)
		if (!strcmp((*t)->tool, name))
			return *t;
	return NULL;
}

static struct json_value *tool_json(struct json_doc *doc, const struct command *c)
{
	struct json_value *t = json_object(doc), *ann = json_object(doc), *out = NULL;
	struct pyro_err err = { 0 };
	if (!t || !ann || !c->output_schema ||
	    json_parse(doc, c->output_schema, strlen(c->output_schema), NULL, &out, &err) < 0)
		return NULL;
	struct buf desc = BUF_INIT;
	buf_printf(&desc, "%s.", c->summary);
	if (c->description)
		buf_printf(&desc, " %s", c->description);
	int bad = json_set_str(doc, t, "name", c->tool) < 0 ||
		  (c->title && json_set_str(doc, t, "title", c->title) < 0) ||
		  json_set_str(doc, t, "description", desc.data) < 0 ||
		  json_object_set(doc, t, "inputSchema", cmd_input_schema(c, doc)) < 0 ||
		  json_object_set(doc, t, "outputSchema", out) < 0 ||
		  json_set_bool(doc, ann, "readOnlyHint", c->hints & CMD_READ_ONLY) < 0 ||
		  json_set_bool(doc, ann, "destructiveHint", c->hints & CMD_DESTRUCTIVE) < 0 ||
		  json_set_bool(doc, ann, "idempotentHint", c->hints & CMD_IDEMPOTENT) < 0 ||
		  json_set_bool(doc, ann, "openWorldHint", c->hints & CMD_OPEN_WORLD) < 0 ||
		  json_object_set(doc, t, "annotations", ann) < 0;
	buf_release(&desc);
	return bad ? NULL : t;
}

static void handle_tools_list(struct server *s, const struct jsonrpc_msg *m, struct json_doc *doc)
{
	size_t page = s->o->page_size ? s->o->page_size : DEFAULT_PAGE_SIZE;
	size_t start = 0, n = 0;
	const struct json_value *cursor = m->params ? json_get(m->params, "cursor") : NULL;
	if (cursor && cursor->type != JSON_NULL) {
		/* Our cursors are the decimal index of the next tool. */
		char *end = NULL;
		const char *text = cursor->type == JSON_STRING ? cursor->u.string.ptr : "";
		errno = 0;
		unsigned long long v = strtoull(text, &end, 10);
		while (s->o->tools[n])
			n++;
		if (!*text || *end || errno || v == 0 || v >= n) {
			send_error(s, m->id, JSONRPC_INVALID_PARAMS,
				   "invalid cursor: pass the nextCursor of the previous tools/list "
				   "page, or none for the first page");
			return;
		}
		start = (size_t)v;
	}
	struct json_value *res = json_object(doc), *tools = json_array(doc);
	size_t i = start;
	for (; s->o->tools[i] && i < start + page; i++)
		if (json_array_push(doc, tools, tool_json(doc, s->o->tools[i])) < 0) {
			send_error(s, m->id, JSONRPC_INTERNAL_ERROR, "cannot describe the tools");
			return;
		}
	json_object_set(doc, res, "tools", tools);
	if (s->o->tools[i]) {
		char next[32];
		snprintf(next, sizeof next, "%zu", i);
		json_set_str(doc, res, "nextCursor", next);
	}
	send_result(s, m->id, res);
}

/* The answer to a finished call: structuredContent + its JSON as text, or
 * isError with the message. */
static void answer_call(struct call *c, int status, struct cmd_call *cc)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *res = doc ? json_object(doc) : NULL, *content = doc ? json_array(doc) : NULL;
	struct json_value *text = doc ? json_object(doc) : NULL;
	struct buf body = BUF_INIT;
	bool is_error = status != 0 || !cc->result;
	if (!is_error && json_emit(&body, cc->result, JSON_EMIT_PRETTY | JSON_EMIT_SORT_KEYS) < 0)
		is_error = true, pyro_err_set(&cc->err, PYRO_EXIT_INTERNAL, "cannot encode the result");
	if (is_error) {
		buf_reset(&body);
		buf_printf(&body, "%s", cc->err.msg[0] ? cc->err.msg : "the tool failed");
	}
	struct buf line = BUF_INIT;
	int bad = !res || !content || !text || json_set_str(doc, text, "type", "text") < 0 ||
		  json_object_set(doc, text, "text", json_string_len(doc, body.data, body.len)) < 0 ||
		  json_array_push(doc, content, text) < 0 ||
		  json_object_set(doc, res, "content", content) < 0 ||
		  (!is_error && json_object_set(doc, res, "structuredContent",
						json_clone(doc, cc->result)) < 0) ||
		  json_set_bool(doc, res, "isError", is_error) < 0 ||
		  jsonrpc_result(&line, c->id, res) < 0;
	/* The message as sent holds the result twice, escaped: what counts is
	 * its real size (output full of quotes or backslashes grows ~3x). */
	if (!bad && line.len > MAX_ANSWER_BYTES) {
		char msg[300];
		snprintf(msg, sizeof msg,
			 "the result would be a %zu-byte message, more than this server sends in "
			 "one (%zu); make the command print less (e.g. pipe it through tail -c "
			 "100000)",
			 line.len, (size_t)MAX_ANSWER_BYTES);
		buf_reset(&line);
		struct json_value *small = json_object(doc), *sc = json_array(doc),
				  *st = json_object(doc);
		bad = !small || !sc || !st || json_set_str(doc, st, "type", "text") < 0 ||
		      json_set_str(doc, st, "text", msg) < 0 || json_array_push(doc, sc, st) < 0 ||
		      json_object_set(doc, small, "content", sc) < 0 ||
		      json_set_bool(doc, small, "isError", true) < 0 ||
		      jsonrpc_result(&line, c->id, small) < 0;
	}
	pthread_mutex_lock(&c->srv->mu);
	if (!c->cancelled) {
		if (bad) {
			buf_reset(&line);
			jsonrpc_error(&line, c->id, JSONRPC_INTERNAL_ERROR, "cannot encode the result",
				      NULL);
		}
		send_locked(c->srv, &line);
	}
	c->answered = true;
	pthread_mutex_unlock(&c->srv->mu);
	buf_release(&line);
	buf_release(&body);
	json_doc_free(doc);
}

static void *call_thread(void *arg)
{
	struct call *c = arg;
	current_call = c;
	struct cmd_call cc;
	char path[160];
	snprintf(path, sizeof path, "tool %s", c->cmd->tool);
	int status;
	if (cmd_bind_json(c->cmd, path, c->args, &cc) < 0)
		status = PYRO_EXIT_USAGE; /* an isError result, as 2025-11-25 asks */
	else
		status = cmd_call_run(&cc);
	answer_call(c, status, &cc);
	cmd_call_release(&cc);
	current_call = NULL;

	struct server *s = c->srv;
	pthread_mutex_lock(&s->mu);
	for (struct call **p = &s->calls; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	s->running--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
	close(c->cancel_pipe[0]);
	close(c->cancel_pipe[1]);
	json_doc_free(c->doc);
	free(c);
	return NULL;
}

/* tools/call: check the request, then hand it to a thread. Takes doc. */
static void handle_tools_call(struct server *s, const struct jsonrpc_msg *m, struct json_doc *doc)
{
	const struct json_value *params = m->params;
	const char *name = params && params->type == JSON_OBJECT ? json_get_str(params, "name") : NULL;
	const struct json_value *args = params ? json_get(params, "arguments") : NULL;
	if (!name) {
		send_error(s, m->id, JSONRPC_INVALID_PARAMS,
			   "tools/call needs params.name, the tool's name (see tools/list)");
		json_doc_free(doc);
		return;
	}
	const struct command *cmd = find_tool(s, name);
	if (!cmd) {
		struct buf msg = BUF_INIT;
		buf_printf(&msg, "Unknown tool: %.64s. This server offers:", name);
		for (const struct command *const *t = s->o->tools; *t; t++)
			buf_printf(&msg, " %s", (*t)->tool);
		send_error(s, m->id, JSONRPC_INVALID_PARAMS, msg.data);
		buf_release(&msg);
		json_doc_free(doc);
		return;
	}
	if (args && args->type != JSON_OBJECT && args->type != JSON_NULL) {
		send_error(s, m->id, JSONRPC_INVALID_PARAMS, "params.arguments must be an object");
		json_doc_free(doc);
		return;
	}
	struct call *c = calloc(1, sizeof *c);
	struct buf idt = BUF_INIT;
	if (!c || json_emit(&idt, m->id, 0) < 0 || idt.len >= sizeof c->id_text) {
		send_error(s, m->id, JSONRPC_INTERNAL_ERROR, "out of memory");
		buf_release(&idt);
		free(c);
		json_doc_free(doc);
		return;
	}
	memcpy(c->id_text, idt.data, idt.len);
	buf_release(&idt);
	if (pipe2(c->cancel_pipe, O_CLOEXEC) < 0) {
		send_error(s, m->id, JSONRPC_INTERNAL_ERROR, "cannot make the call's cancel pipe");
		json_doc_free(doc);
		free(c);
		return;
	}
	c->srv = s;
	c->doc = doc;
	c->id = m->id;
	c->token = m->progress_token;
	c->args = args;
	c->cmd = cmd;
	c->started_ms = mono_ms();
	pthread_mutex_lock(&s->mu);
	/* A duplicate id in flight would make cancellation ambiguous. */
	for (struct call *o = s->calls; o; o = o->next)
		if (!strcmp(o->id_text, c->id_text)) {
			pthread_mutex_unlock(&s->mu);
			send_error(s, m->id, JSONRPC_INVALID_REQUEST,
				   "a request with this id is still running");
			close(c->cancel_pipe[0]);
			close(c->cancel_pipe[1]);
			json_doc_free(doc);
			free(c);
			return;
		}
	c->next = s->calls;
	s->calls = c;
	s->running++;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1 << 20);
	int rc = pthread_create(&c->thread, &attr, call_thread, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		s->calls = c->next;
		s->running--;
		pthread_mutex_unlock(&s->mu);
		send_error(s, m->id, JSONRPC_INTERNAL_ERROR, "cannot start a thread for the call");
		close(c->cancel_pipe[0]);
		close(c->cancel_pipe[1]);
		json_doc_free(doc);
		free(c);
		return;
	}
	pthread_mutex_unlock(&s->mu);
}

struct teardown {
	struct server *srv;
	char dir[PATH_MAX];
};

static void *teardown_thread(void *arg)
{
	struct teardown *t = arg;
	struct server *s = t->srv;
	s->o->cancel(t->dir);
	free(t);
	pthread_mutex_lock(&s->mu);
	s->teardowns--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Cancel a call: no answer will be sent, and what it runs is torn down.
 * The teardown waits for the VM's supervisor (up to seconds), so it runs
 * on a thread of its own: the reader goes on answering meanwhile, and the
 * call's thread, which ends when its VM goes, still counts as running, so
 * EOF waits for it. Called with srv->mu held. */
static void cancel_locked(struct server *s, struct call *c)
{
	if (c->answered || c->cancelled)
		return;
	c->cancelled = true;
	(void)!write(c->cancel_pipe[1], "x", 1);
	if (!s->o->cancel || !c->vm_dir[0])
		return;
	struct teardown *t = malloc(sizeof *t);
	pthread_t th;
	pthread_attr_t attr;
	if (!t)
		return;
	t->srv = s;
	memcpy(t->dir, c->vm_dir, sizeof t->dir);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, teardown_thread, t) != 0)
		free(t);
	else
		s->teardowns++; /* EOF waits for it too */
	pthread_attr_destroy(&attr);
}

static void handle_cancelled(struct server *s, const struct jsonrpc_msg *m)
{
	const struct json_value *rid = m->params ? json_get(m->params, "requestId") : NULL;
	struct buf idt = BUF_INIT;
	if (!rid || !jsonrpc_id_valid(rid) || json_emit(&idt, rid, 0) < 0) {
		buf_release(&idt);
		return; /* unknown or malformed: a notification gets no answer */
	}
	pthread_mutex_lock(&s->mu);
	for (struct call *c = s->calls; c; c = c->next)
		if (idt.len < sizeof c->id_text && !memcmp(c->id_text, idt.data, idt.len) &&
		    !c->id_text[idt.len]) {
			log_msg(LOG_INFO, "mcp: request %s cancelled", c->id_text);
			cancel_locked(s, c);
			break;
		}
	pthread_mutex_unlock(&s->mu);
	buf_release(&idt);
}

/* ---- lifecycle ---- */

static void handle_initialize(struct server *s, const struct jsonrpc_msg *m, struct json_doc *doc)
{
	const char *asked = m->params ? json_get_str(m->params, "protocolVersion") : NULL;
	const char *version = MCP_LATEST_VERSION;
	for (const char *const *v = supported_versions; asked && *v; v++)
		if (!strcmp(asked, *v))
			version = *v;
	struct json_value *res = json_object(doc), *caps = json_object(doc),
			  *tools = json_object(doc), *info = json_object(doc);
	if (!res || !caps || !tools || !info || json_set_bool(doc, tools, "listChanged", false) < 0 ||
	    json_object_set(doc, caps, "tools", tools) < 0 ||
	    json_set_str(doc, info, "name", "pyro") < 0 ||
	    json_set_str(doc, info, "title", "pyro") < 0 ||
	    json_set_str(doc, info, "version", PYRO_VERSION) < 0 ||
	    json_set_str(doc, info, "description",
			 "Disposable microVMs for coding agents: run commands in isolated guests") <
		    0 ||
	    json_set_str(doc, res, "protocolVersion", version) < 0 ||
	    json_object_set(doc, res, "capabilities", caps) < 0 ||
	    json_object_set(doc, res, "serverInfo", info) < 0 ||
	    (s->o->instructions && json_set_str(doc, res, "instructions", s->o->instructions) < 0)) {
		send_error(s, m->id, JSONRPC_INTERNAL_ERROR, "out of memory");
		return;
	}
	log_msg(LOG_INFO, "mcp: initialize (client asked %s, answering %s)", asked ? asked : "nothing",
		version);
	send_result(s, m->id, res);
}

/* One line from the client. */
static void handle_line(struct server *s, const char *line, size_t len)
{
	struct json_doc *doc = json_doc_new();
	struct jsonrpc_msg m;
	struct pyro_err err = { 0 };
	if (!doc || jsonrpc_parse(doc, line, len, &m, &err) < 0) {
		send_error(s, NULL, JSONRPC_INTERNAL_ERROR, "out of memory");
		json_doc_free(doc);
		return;
	}
	switch (m.kind) {
	case JSONRPC_INVALID:
	case JSONRPC_BATCH:
		send_error(s, m.id, m.code, m.message);
		break;
	case JSONRPC_RESPONSE:
		break; /* this server sends no requests: nothing to match */
	case JSONRPC_NOTIFICATION:
		if (jsonrpc_method_is(&m, "notifications/cancelled"))
			handle_cancelled(s, &m);
		/* notifications/initialized and anything else: nothing to do */
		break;
	case JSONRPC_REQUEST:
		if (jsonrpc_method_is(&m, "initialize")) {
			handle_initialize(s, &m, doc);
		} else if (jsonrpc_method_is(&m, "ping")) {
			send_result(s, m.id, NULL);
		} else if (jsonrpc_method_is(&m, "tools/list")) {
			handle_tools_list(s, &m, doc);
		} else if (jsonrpc_method_is(&m, "tools/call")) {
			handle_tools_call(s, &m, doc);
			return; /* the call owns doc now */
		} else {
			char msg[200];
			snprintf(msg, sizeof msg, "Method not found: %.100s%s", m.method,
				 jsonrpc_method_is(&m, "server/discover")
					 ? " (this server speaks MCP 2025-11-25: send initialize)"
					 : "");
			send_error(s, m.id, JSONRPC_METHOD_NOT_FOUND, msg);
		}
		break;
	}
	json_doc_free(doc);
}

/* Every HEARTBEAT_MS, a progress notification for each call that asked
 * for progress, so clients that reset their timeout on progress keep
 * waiting for a long boot or command. */
static void *heartbeat_thread(void *arg)
{
	struct server *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += HEARTBEAT_MS / 1000;
		pthread_cond_timedwait(&s->idle, &s->mu, &until);
		if (s->stopping)
			break;
		int64_t now = mono_ms();
		for (struct call *c = s->calls; c; c = c->next)
			if (c->token && now - c->started_ms >= HEARTBEAT_MS) {
				char msg[96];
				snprintf(msg, sizeof msg, "%s still running (%lld s)", c->cmd->tool,
					 (long long)((now - c->started_ms) / 1000));
				progress_locked(c, msg);
			}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int mcp_serve(const struct mcp_server_opts *o, struct pyro_err *err)
{
	struct server s = { .o = o, .out_fd = o->out_fd };
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.idle, NULL);
	struct jsonrpc_reader rd;
	jsonrpc_reader_init(&rd, o->max_line);
	/* A client that goes away mid-write must not kill the server. */
	signal(SIGPIPE, SIG_IGN);
	pthread_t hb;
	bool hb_running = pthread_create(&hb, NULL, heartbeat_thread, &s) == 0;
	static char chunk[64 << 10];
	int rc = 0;
	for (bool eof = false; !eof;) {
		ssize_t n = read(o->in_fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pyro_err_sys(err, errno, "reading the client's messages");
			break;
		}
		if (n == 0) {
			jsonrpc_reader_eof(&rd);
			eof = true;
		} else if (jsonrpc_reader_feed(&rd, chunk, (size_t)n) < 0) {
			rc = pyro_err_sys(err, errno, "framing the client's messages");
			break;
		}
		for (;;) {
			const char *line;
			size_t len;
			int ev = jsonrpc_reader_next(&rd, &line, &len);
			if (ev == JSONRPC_READ_LINE) {
				handle_line(&s, line, len);
			} else if (ev == JSONRPC_READ_OVERSIZE) {
				char msg[128];
				snprintf(msg, sizeof msg, "message larger than %zu bytes",
					 o->max_line ? o->max_line : (size_t)JSONRPC_DEFAULT_MAX_LINE);
				send_error(&s, NULL, JSONRPC_INVALID_REQUEST, msg);
			} else if (ev < 0) {
				rc = pyro_err_sys(err, errno, "reading the client's messages");
				eof = true;
				break;
			} else {
				break; /* AGAIN or EOF */
			}
		}
		pthread_mutex_lock(&s.mu);
		bool failed = s.write_failed;
		pthread_mutex_unlock(&s.mu);
		if (failed) {
			rc = pyro_err_set(err, PYRO_EXIT_FAILURE, "the client stopped reading");
			break;
		}
	}
	/* The end: cancel what still runs (its VMs go) and wait for it. The
	 * VM dirs are copied out first: tearing down happens without the
	 * lock, while the calls may end and free themselves. */
	pthread_mutex_lock(&s.mu);
	size_t n = 0;
	for (struct call *c = s.calls; c; c = c->next)
		n++;
	char (*dirs)[PATH_MAX] = n ? calloc(n, PATH_MAX) : NULL;
	size_t k = 0;
	for (struct call *c = s.calls; c; c = c->next) {
		if (c->answered || c->cancelled)
			continue; /* answered: what it made was handed out */
		c->cancelled = true;
		(void)!write(c->cancel_pipe[1], "x", 1);
		if (dirs && c->vm_dir[0])
			memcpy(dirs[k++], c->vm_dir, PATH_MAX);
	}
	pthread_mutex_unlock(&s.mu);
	for (size_t i = 0; o->cancel && i < k; i++)
		o->cancel(dirs[i]);
	free(dirs);
	pthread_mutex_lock(&s.mu);
	while (s.running > 0 || s.teardowns > 0)
		pthread_cond_wait(&s.idle, &s.mu);
	s.stopping = true;
	pthread_cond_broadcast(&s.idle);
	pthread_mutex_unlock(&s.mu);
	if (hb_running)
		pthread_join(hb, NULL);
	jsonrpc_reader_release(&rd);
	return rc;
}
