/* One agent connection: read a request frame, run its action, answer, and
 * again until the peer closes. See agent.h. */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/log.h"

/* Sorted by nothing in particular; there are few enough to scan. */
const struct agent_action agent_actions[] = {
	{ "hello", agent_action_hello },
	{ "exec", agent_action_exec },
	{ "list_workspace", agent_action_list_workspace },
	{ "read_workspace_file", agent_action_read_workspace_file },
	{ "write_workspace_file", agent_action_write_workspace_file },
	{ "delete_workspace_path", agent_action_delete_workspace_path },
	{ "extract_archive", agent_action_extract_archive },
	{ "export_archive", agent_action_export_archive },
	{ "install_secrets", agent_action_install_secrets },
	{ "open_shell", agent_action_open_shell },
	{ "read_shell", agent_action_read_shell },
	{ "write_shell", agent_action_write_shell },
	{ "signal_shell", agent_action_signal_shell },
	{ "close_shell", agent_action_close_shell },
	{ "start_service", agent_action_start_service },
	{ "status_service", agent_action_status_service },
	{ "logs_service", agent_action_logs_service },
	{ "stop_service", agent_action_stop_service },
	{ "list_services", agent_action_list_services },
	{ NULL, NULL },
};

const struct agent_action *agent_find_action(const char *name)
{
	for (const struct agent_action *a = agent_actions; a->name; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/* How long writing an answer may stall before the connection is dropped. */
#define ANSWER_WRITE_MS 60000

/* Send {"error": msg}, with secret values hidden. 0, or -1 when the peer
 * is gone. */
static int answer_error(int fd, const char *msg)
{
	struct buf red = BUF_INIT;
	const char *text = msg;
	if (agent_redact(&red, msg, strlen(msg), NULL) == 0)
		text = red.data;
	struct pyro_err werr;
	int rc = agentproto_write_error(fd, text, agentproto_deadline(ANSWER_WRITE_MS), &werr);
	buf_release(&red);
	return rc;
}

/* Copy exactly size bytes from src to the peer. A file that ends early
 * cannot be reported in-band (the size was announced): the caller closes
 * the connection. */
static int send_body(int fd, int src, uint64_t size, struct pyro_err *err)
{
	char chunk[65536];
	while (size) {
		size_t want = size < sizeof chunk ? (size_t)size : sizeof chunk;
		ssize_t n = read(src, chunk, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			pyro_err_set(err, PYRO_EXIT_FAILURE, "response body ended early");
			return -1;
		}
		if (agentproto_write_all(fd, chunk, (size_t)n, agentproto_deadline(ANSWER_WRITE_MS),
					 err) < 0)
			return -1;
		size -= (uint64_t)n;
	}
	return 0;
}

/* Run one request. Returns 0 to go on with the next, -1 to close. */
static int serve_one(int fd, struct agentproto_stream *s, struct json_doc *doc,
		     struct json_value *header, uint64_t body_size)
{
	struct agent_call c = {
		.req = header,
		.action = json_get_str(header, "action"),
		.body_size = body_size,
		.stream = s,
		.doc = doc,
		.resp_body_fd = -1,
	};
	struct pyro_err err = { 0 };
	const struct agent_action *a = agent_find_action(c.action);
	int rc;
	if (!a) {
		pyro_err_set(&err, PYRO_EXIT_USAGE, "unsupported action: %s", c.action);
		rc = -1;
	} else {
		c.resp = json_object(doc);
		rc = c.resp ? a->run(&c, &err) : -1;
		if (!c.resp && rc == 0)
			pyro_err_set(&err, PYRO_EXIT_INTERNAL, "out of memory");
	}
	if (rc < 0) {
		if (c.resp_body_fd >= 0)
			close(c.resp_body_fd);
		if (!err.msg[0])
			snprintf(err.msg, sizeof err.msg, "%s failed", c.action);
		if (answer_error(fd, err.msg) < 0)
			return -1;
		/* A body the stream can no longer frame means the connection is
		 * lost; otherwise the next header read drops what is left. */
		return agentproto_reader_failed(&s->reader) ? -1 : 0;
	}
	struct pyro_err werr;
	int64_t dl = agentproto_deadline(ANSWER_WRITE_MS);
	uint64_t size = c.resp_body_fd >= 0 ? c.resp_body_size : 0;
	struct agentproto_limits lim = { .max_header = AGENT_MAX_ANSWER };
	rc = agentproto_write_header(fd, AGENTPROTO_RESPONSE, c.resp, size, &lim, dl, &werr);
	if (rc == 0 && size)
		rc = send_body(fd, c.resp_body_fd, size, &werr);
	if (c.resp_body_fd >= 0)
		close(c.resp_body_fd);
	if (rc < 0) {
		/* An answer that could not be encoded (too big) was not
		 * written at all, so it can still be reported; a failed or
		 * timed-out write leaves the stream unusable. */
		if ((werr.code == PYRO_EXIT_USAGE || werr.code == PYRO_EXIT_INTERNAL) &&
		    answer_error(fd, werr.msg) == 0)
			return 0;
		log_msg(LOG_DEBUG, "answering %s: %s", c.action, werr.msg);
	}
	return rc;
}

void agent_serve_connection(int fd)
{
	struct agentproto_stream s;
	struct agentproto_limits lim = { .max_header = AGENT_MAX_HEADER };
	agentproto_stream_init(&s, fd, AGENTPROTO_REQUEST, &lim);
	for (;;) {
		struct json_doc *doc = json_doc_new();
		struct json_value *header;
		uint64_t body_size;
		struct pyro_err err;
		if (!doc) {
			answer_error(fd, "out of memory");
			break;
		}
		int got = agentproto_stream_header(&s, doc, &header, &body_size,
						   AGENTPROTO_NO_DEADLINE, &err);
		if (got <= 0) {
			/* A framing error is final: answer once, then close. */
			if (got < 0 && err.code != PYRO_EXIT_FAILURE)
				answer_error(fd, err.msg);
			json_doc_free(doc);
			break;
		}
		int rc = serve_one(fd, &s, doc, header, body_size);
		json_doc_free(doc);
		if (rc < 0)
			break;
	}
	agentproto_stream_release(&s);
	close(fd);
}
