/* JSON-RPC 2.0 for the MCP server: the line reader, classification and the
 * response builders. The contract, with the spec lines behind each rule, is
 * in jsonrpc.h. */
#include "jsonrpc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"

/* A split-line buffer that grew past this is freed once its line is
 * handed out, so an idle server does not keep a large message's memory. */
#define PART_KEEP_CAP 65536

/* ---- Line framing ----------------------------------------------------- */

void jsonrpc_reader_init(struct jsonrpc_reader *r, size_t max_line)
{
	memset(r, 0, sizeof *r);
	if (max_line == 0)
		max_line = JSONRPC_DEFAULT_MAX_LINE;
	/* Room for a "\r" and a NUL after the line without overflow. */
	if (max_line > SIZE_MAX / 4)
		max_line = SIZE_MAX / 4;
	r->max_line = max_line;
	/* The buffer never needs more than the line and a trailing "\r". */
	buf_init(&r->part, max_line + 1);
}

void jsonrpc_reader_release(struct jsonrpc_reader *r)
{
	buf_release(&r->part);
	r->in = NULL;
	r->in_len = 0;
}

int jsonrpc_reader_feed(struct jsonrpc_reader *r, const char *data, size_t len)
{
	if (r->eof || (!data && len)) {
		errno = EINVAL;
		return -1;
	}
	if (r->in_len) {
		errno = EBUSY;
		return -1;
	}
	r->in = data;
	r->in_len = len;
	return 0;
}

void jsonrpc_reader_eof(struct jsonrpc_reader *r)
{
	r->eof = true;
}

static void consume(struct jsonrpc_reader *r, size_t n)
{
	r->in += n;
	r->in_len -= n;
}

static void part_reset(struct jsonrpc_reader *r)
{
	if (r->part.cap > PART_KEEP_CAP)
		buf_release(&r->part);
	else
		buf_reset(&r->part);
}

/* Strip one trailing "\r"; true when what is left is only JSON whitespace
 * (nothing to classify, nothing to answer). */
static bool trim_blank(const char *line, size_t *len)
{
	if (*len && line[*len - 1] == '\r')
		(*len)--;
	for (size_t i = 0; i < *len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	return true;
}

/* At end of input: the unterminated last line, if it holds anything. */
static int finish(struct jsonrpc_reader *r, const char **line, size_t *len)
{
	r->done = true;
	size_t n = r->part.len;
	if (!r->discarding && n && !trim_blank(r->part.data, &n)) {
		*line = r->part.data;
		*len = n;
		r->part_handed = true;
		return JSONRPC_READ_LINE;
	}
	part_reset(r);
	return JSONRPC_READ_EOF;
}

int jsonrpc_reader_next(struct jsonrpc_reader *r, const char **line, size_t *len)
{
	*line = NULL;
	*len = 0;
	if (r->part_handed) {
		part_reset(r);
		r->part_handed = false;
	}
	for (;;) {
		if (r->done)
			return JSONRPC_READ_EOF;
		if (r->in_len == 0)
			return r->eof ? finish(r, line, len) : JSONRPC_READ_AGAIN;
		const char *nl = memchr(r->in, '\n', r->in_len);
		size_t n = nl ? (size_t)(nl - r->in) : r->in_len;
		if (r->discarding) {
			consume(r, nl ? n + 1 : n);
			r->discarding = !nl;
			continue;
		}
		/* Raw bytes of this line so far, "\n" excluded. One byte over the
		 * limit is allowed only while it is a "\r" that a "\n" may follow:
		 * the limit is on the content, whatever the line ending. */
		size_t total = r->part.len + n;
		if (total > r->max_line) {
			char last = n ? r->in[n - 1] : r->part.data[r->part.len - 1];
			if (total != r->max_line + 1 || last != '\r') {
				part_reset(r);
				consume(r, nl ? n + 1 : n);
				r->discarding = !nl;
				return JSONRPC_READ_OVERSIZE;
			}
		}
		if (!nl) {
			/* A partial line: keep it (at most max_line + 1 bytes). */
			if (buf_append(&r->part, r->in, n) < 0)
				return -1;
			consume(r, n);
			continue;
		}
		const char *p = r->in;
		if (r->part.len) {
			if (buf_append(&r->part, r->in, n) < 0)
				return -1;
			p = r->part.data;
			n = r->part.len;
			r->part_handed = true;
		}
		consume(r, (size_t)(nl - r->in) + 1);
		if (trim_blank(p, &n)) {
			if (r->part_handed) {
				part_reset(r);
				r->part_handed = false;
			}
			continue;
		}
		*line = p;
		*len = n;
		return JSONRPC_READ_LINE;
	}
}

/* ---- Classification --------------------------------------------------- */

bool jsonrpc_id_valid(const struct json_value *v)
{
	return v && (v->type == JSON_STRING || (v->type == JSON_NUMBER && v->u.number.is_int));
}

bool jsonrpc_method_is(const struct jsonrpc_msg *msg, const char *name)
{
	size_t n = strlen(name);
	return msg->method && msg->method_len == n && memcmp(msg->method, name, n) == 0;
}

__attribute__((format(printf, 3, 4)))
static int invalid(struct jsonrpc_msg *out, int code, const char *fmt, ...)
{
	va_list ap;
	out->kind = JSONRPC_INVALID;
	out->code = code;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof out->message, fmt, ap);
	va_end(ap);
	/* Only what the kind promises stays set (the id, for an answer). */
	out->method = NULL;
	out->method_len = 0;
	out->params = NULL;
	out->progress_token = NULL;
	out->result = NULL;
	out->error = NULL;
	return 0;
}

/* "null", "boolean", "1.5", "object", ... for messages about a bad id. */
static const char *describe(const struct json_value *v, char *tmp, size_t cap)
{
	if (v->type == JSON_NUMBER && !v->u.number.is_int) {
		snprintf(tmp, cap, "%.17g", v->u.number.d);
		return tmp;
	}
	return json_type_name(v->type);
}

/* params._meta.progressToken when it is a string or an integer. */
static const struct json_value *progress_token(const struct json_value *params)
{
	if (!params || params->type != JSON_OBJECT)
		return NULL;
	const struct json_value *meta = json_get(params, "_meta");
	const struct json_value *tok = json_get(meta, "progressToken");
	return jsonrpc_id_valid(tok) ? tok : NULL;
}

static int classify_call(struct jsonrpc_msg *out, const struct json_value *root,
			 const struct json_value *method, const struct json_value *id)
{
	char tmp[40];
	if (json_get(root, "result") || json_get(root, "error"))
		return invalid(out, JSONRPC_INVALID_REQUEST,
			       "a message with \"method\" must not have \"result\" or \"error\"");
	if (method->type != JSON_STRING)
		return invalid(out, JSONRPC_INVALID_REQUEST, "\"method\" must be a string (got %s)",
			       json_type_name(method->type));
	const struct json_value *params = json_get(root, "params");
	if (params && params->type != JSON_OBJECT && params->type != JSON_ARRAY)
		return invalid(out, JSONRPC_INVALID_REQUEST,
			       "\"params\" must be an object or an array (got %s)",
			       json_type_name(params->type));
	if (id && !jsonrpc_id_valid(id))
		return invalid(out, JSONRPC_INVALID_REQUEST,
			       "request \"id\" must be a string or an integer (got %s)",
			       describe(id, tmp, sizeof tmp));
	out->kind = id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
	out->id = id;
	out->method = method->u.string.ptr;
	out->method_len = method->u.string.len;
	out->params = params;
	out->progress_token = progress_token(params);
	return 0;
}

static int classify_response(struct jsonrpc_msg *out, const struct json_value *root,
			     const struct json_value *id)
{
	char tmp[40];
	const struct json_value *result = json_get(root, "result");
	const struct json_value *error = json_get(root, "error");
	if (result && error)
		return invalid(out, JSONRPC_INVALID_REQUEST,
			       "a response must not have both \"result\" and \"error\"");
	if (result && !jsonrpc_id_valid(id))
		return invalid(out, JSONRPC_INVALID_REQUEST,
			       "response \"id\" must be a string or an integer (got %s)",
			       id ? describe(id, tmp, sizeof tmp) : "nothing");
	if (error) {
		/* The id of an error about an unreadable message is absent
		 * (MCP 2025-11-25) or null (JSON-RPC 2.0). */
		if (id && id->type != JSON_NULL && !jsonrpc_id_valid(id))
			return invalid(out, JSONRPC_INVALID_REQUEST,
				       "error response \"id\" must be a string, an integer or null (got %s)",
				       describe(id, tmp, sizeof tmp));
		if (error->type != JSON_OBJECT)
			return invalid(out, JSONRPC_INVALID_REQUEST,
				       "\"error\" must be an object (got %s)",
				       json_type_name(error->type));
		const struct json_value *code = json_get(error, "code");
		const struct json_value *message = json_get(error, "message");
		if (!code || code->type != JSON_NUMBER || !code->u.number.is_int)
			return invalid(out, JSONRPC_INVALID_REQUEST,
				       "\"error\" must have an integer \"code\"");
		if (!message || message->type != JSON_STRING)
			return invalid(out, JSONRPC_INVALID_REQUEST,
				       "\"error\" must have a string \"message\"");
	}
	out->kind = JSONRPC_RESPONSE;
	out->id = jsonrpc_id_valid(id) ? id : NULL;
	out->result = result;
	out->error = error;
	return 0;
}

int jsonrpc_parse(struct json_doc *doc, const char *line, size_t len, struct jsonrpc_msg *out,
		  struct pyro_err *err)
{
	if (!out)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "jsonrpc_parse: invalid arguments");
	memset(out, 0, sizeof *out);
	if (!doc || (!line && len)) {
		invalid(out, JSONRPC_INTERNAL_ERROR, "internal error");
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "jsonrpc_parse: invalid arguments");
	}
	/* The reader's max_line bounds the size; only the depth is capped. */
	size_t cap = len < SIZE_MAX ? len + 1 : len;
	struct json_limits lim = { .max_input_bytes = cap, .max_string_bytes = cap };
	struct json_value *root = NULL;
	struct pyro_err perr;
	perr.code = PYRO_EXIT_USAGE;
	perr.msg[0] = '\0';
	if (json_parse(doc, line, len, &lim, &root, &perr) < 0) {
		if (perr.code != PYRO_EXIT_USAGE) {
			invalid(out, JSONRPC_INTERNAL_ERROR, "out of memory");
			if (err)
				*err = perr;
			return -1;
		}
		return invalid(out, JSONRPC_PARSE_ERROR, "%s", perr.msg);
	}
	out->root = root;
	if (root->type == JSON_ARRAY) {
		invalid(out, JSONRPC_INVALID_REQUEST,
			"batches are not supported: send one message per line");
		out->kind = JSONRPC_BATCH;
		return 0;
	}
	if (root->type != JSON_OBJECT)
		return invalid(out, JSONRPC_INVALID_REQUEST, "a message must be a JSON object (got %s)",
			       json_type_name(root->type));
	const struct json_value *id = json_get(root, "id");
	const struct json_value *method = json_get(root, "method");
	bool response_shaped = json_get(root, "result") || json_get(root, "error");
	/* An answer to an invalid request carries its id when it can be read;
	 * a malformed response is never answered with its id (that would look
	 * like the answer to a request of ours). */
	if (!response_shaped && jsonrpc_id_valid(id))
		out->id = id;
	const struct json_value *version = json_get(root, "jsonrpc");
	if (!version)
		return invalid(out, JSONRPC_INVALID_REQUEST, "missing \"jsonrpc\": \"2.0\"");
	if (version->type != JSON_STRING || version->u.string.len != 3 ||
	    memcmp(version->u.string.ptr, "2.0", 3) != 0)
		return invalid(out, JSONRPC_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
	if (method)
		return classify_call(out, root, method, id);
	if (response_shaped)
		return classify_response(out, root, id);
	return invalid(out, JSONRPC_INVALID_REQUEST,
		       "a message needs \"method\" (request, notification) or \"result\"/\"error\" (response)");
}

/* ---- Builders ----------------------------------------------------------- */

const char *jsonrpc_code_text(int code)
{
	switch (code) {
	case JSONRPC_PARSE_ERROR:
		return "Parse error";
	case JSONRPC_INVALID_REQUEST:
		return "Invalid Request";
	case JSONRPC_METHOD_NOT_FOUND:
		return "Method not found";
	case JSONRPC_INVALID_PARAMS:
		return "Invalid params";
	case JSONRPC_INTERNAL_ERROR:
		return "Internal error";
	case JSONRPC_RESOURCE_NOT_FOUND:
		return "Resource not found";
	case JSONRPC_URL_ELICITATION_REQUIRED:
		return "URL elicitation required";
	default:
		return "Server error";
	}
}

/* Finish a line started at `start`: "\n", and the check that the emitter
 * kept its promise of no raw newline inside. On failure undo everything. */
static int end_line(struct buf *out, size_t start, int rc)
{
	if (rc == 0 && memchr(out->data + start, '\n', out->len - start)) {
		errno = EINVAL;
		rc = -1;
	}
	if (rc == 0)
		rc = buf_append_char(out, '\n');
	if (rc < 0) {
		int e = errno;
		buf_truncate(out, start);
		errno = e;
	}
	return rc;
}

static int put_id(struct buf *out, const struct json_value *id)
{
	if (buf_append_str(out, ",\"id\":") < 0)
		return -1;
	return json_emit(out, id, JSON_EMIT_COMPACT);
}

int jsonrpc_result(struct buf *out, const struct json_value *id,
		   const struct json_value *result)
{
	if (!out || !jsonrpc_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	size_t start = out->len;
	int rc = buf_append_str(out, "{\"jsonrpc\":\"2.0\"");
	if (rc == 0)
		rc = put_id(out, id);
	if (rc == 0)
		rc = buf_append_str(out, ",\"result\":");
	if (rc == 0)
		rc = result ? json_emit(out, result, JSON_EMIT_COMPACT) : buf_append_str(out, "{}");
	if (rc == 0)
		rc = buf_append_char(out, '}');
	return end_line(out, start, rc);
}

int jsonrpc_error(struct buf *out, const struct json_value *id, int code, const char *message,
		  const struct json_value *data)
{
	if (id && id->type == JSON_NULL)
		id = NULL;
	if (!out || (id && !jsonrpc_id_valid(id))) {
		errno = EINVAL;
		return -1;
	}
	if (!message)
		message = jsonrpc_code_text(code);
	size_t start = out->len;
	int rc = buf_append_str(out, "{\"jsonrpc\":\"2.0\"");
	if (rc == 0 && id)
		rc = put_id(out, id);
	if (rc == 0)
		rc = buf_printf(out, ",\"error\":{\"code\":%d,\"message\":", code);
	if (rc == 0)
		rc = json_emit_string(out, message, strlen(message));
	if (rc == 0 && data) {
		rc = buf_append_str(out, ",\"data\":");
		if (rc == 0)
			rc = json_emit(out, data, JSON_EMIT_COMPACT);
	}
	if (rc == 0)
		rc = buf_append_str(out, "}}");
	return end_line(out, start, rc);
}

int jsonrpc_notification(struct buf *out, const char *method, const struct json_value *params)
{
	if (!out || !method) {
		errno = EINVAL;
		return -1;
	}
	size_t start = out->len;
	int rc = buf_append_str(out, "{\"jsonrpc\":\"2.0\",\"method\":");
	if (rc == 0)
		rc = json_emit_string(out, method, strlen(method));
	if (rc == 0 && params) {
		rc = buf_append_str(out, ",\"params\":");
		if (rc == 0)
			rc = json_emit(out, params, JSON_EMIT_COMPACT);
	}
	if (rc == 0)
		rc = buf_append_char(out, '}');
	return end_line(out, start, rc);
}
