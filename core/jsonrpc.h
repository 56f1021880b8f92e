/* JSON-RPC 2.0 for the MCP server: line framing, message classification and
 * response builders. Pure and transport-agnostic: no threads, no I/O, no
 * printing; bytes come in and go out through caller-owned buffers.
 *
 * SOURCES (the rules below come from these; quotes are verbatim)
 *
 *  - JSON-RPC 2.0 Specification (jsonrpc.org/specification): request and
 *    response objects, "id ... MUST contain a String, Number, or NULL value
 *    ... Numbers SHOULD NOT contain fractional parts", "If present,
 *    parameters for the rpc call MUST be provided as a Structured value"
 *    (an array or an object), "A Notification is a Request object without
 *    an "id" member", the error codes -32700 / -32600 /
 *    -32601 / -32602 / -32603, and for the response "id": "If there was an
 *    error in detecting the id in the Request object (e.g. Parse
 *    error/Invalid Request), it MUST be Null."
 *  - MCP 2025-11-25, basic/index.mdx (repository
 *    modelcontextprotocol/modelcontextprotocol,
 *    docs/specification/2025-11-25/basic/index.mdx): "Requests MUST include
 *    a string or integer ID." "Unlike base JSON-RPC, the ID MUST NOT be
 *    null." Error responses: `id?: string | number`, and "Error responses
 *    MUST include the same ID as the request they correspond to (except in
 *    error cases where the ID could not be read due a malformed request)."
 *    "Notifications MUST NOT include an ID."
 *  - MCP 2025-11-25 schema (schema/2025-11-25/schema.ts, the "source of
 *    truth"): `RequestId = string | number`; `interface
 *    JSONRPCErrorResponse { jsonrpc: "2.0"; id?: RequestId; error: Error }`;
 *    `JSONRPCMessage = JSONRPCRequest | JSONRPCNotification |
 *    JSONRPCResponse` (no batch type: batching was removed in 2025-06-18);
 *    `ProgressToken = string | number` in `params._meta.progressToken`;
 *    the error codes PARSE_ERROR .. INTERNAL_ERROR and
 *    URL_ELICITATION_REQUIRED = -32042.
 *  - MCP 2025-11-25, basic/transports.mdx, stdio: "Messages are delimited
 *    by newlines, and MUST NOT contain embedded newlines." "JSON-RPC
 *    messages MUST be UTF-8 encoded." "The server MUST NOT write anything
 *    to its stdout that is not a valid MCP message."
 *  - MCP 2025-11-25, server/resources.mdx, Error Handling: "Resource not
 *    found: -32002".
 *  - MCP 2025-11-25, basic/lifecycle.mdx: an unsupported protocol version
 *    is answered with -32602 (its example error); nothing else here.
 *  - The official TypeScript SDK (modelcontextprotocol/typescript-sdk,
 *    the types module), which Claude Code and most clients run: in the
 *    releases that speak 2025-11-25 its JSONRPCErrorResponseSchema is a
 *    strict object with `id: RequestIdSchema.optional()`, RequestIdSchema
 *    being `z.union([z.string(), z.number().int()])`; older releases
 *    (src/types.ts up to 2025-06-18) require the id. No release accepts
 *    "id": null.
 *
 * THE PARSE-ERROR ID (decided here)
 *
 * When the id of the message being answered is unknown (the line was not
 * JSON, was a batch, or its "id" was missing or unusable), jsonrpc_error()
 * OMITS "id". JSON-RPC 2.0 alone would say "id": null, but MCP 2025-11-25
 * narrows it: its schema.ts has `id?: RequestId` with `RequestId = string |
 * number`, so a null id does not match JSONRPCErrorResponse at all, while
 * an absent one does (index.mdx: "except in error cases where the ID could
 * not be read due a malformed request"). The TypeScript SDK validates
 * incoming messages with the same shape (strict, `id` optional, never
 * null), so an "id": null answer would be dropped as an unparseable message
 * by the clients that matter, and an id-less one is accepted. (An SDK from
 * before 2025-11-25 rejects both forms alike, so nothing is lost.)
 *
 * LINE FRAMING (struct jsonrpc_reader)
 *
 * One message per line. The reader is fed the bytes as they arrive and
 * yields complete lines: partial lines wait for the rest, a "\r" right
 * before the "\n" is stripped, and lines that are empty or only JSON
 * whitespace (space, tab, CR) are skipped (they carry no message to
 * answer). A line longer than max_line bytes (not counting its "\n" or a
 * "\r" before it) is reported once, as soon as its (max_line + 1)-th
 * content byte arrives, as JSONRPC_READ_OVERSIZE; the rest of it is then
 * discarded up to and including its "\n" without ever being buffered, so
 * the reader holds at most max_line + 1 bytes. The server answers an
 * oversize line with an error that has no id (it cannot read the id).
 *
 * The reader does not copy what it is fed unless it has to: feed() records
 * the caller's pointer, and next() returns lines that lie wholly inside it
 * as pointers into it. Only a line split across feeds is assembled in the
 * reader's own buffer. So the fed bytes must stay valid and unchanged until
 * next() has returned JSONRPC_READ_AGAIN (everything consumed); feeding
 * again before that fails. A line returned by next() is valid until the
 * following call of next(), feed() or release(); it is not NUL-terminated.
 *
 * CLASSIFICATION (jsonrpc_parse)
 *
 * A line is exactly one of:
 *
 *   REQUEST       "jsonrpc":"2.0", "method" a string, "id" a string or an
 *                 integer ("0", "", 0, -1, int64 range), "params" absent or
 *                 an object or an array; no "result"/"error". A message
 *                 with a method and an id is a request even if the sender
 *                 meant a notification: it must be answered.
 *   NOTIFICATION  the same without an "id" member. Never answered.
 *   RESPONSE      "jsonrpc":"2.0", no "method", exactly one of "result" and
 *                 "error" (a client answering a server-initiated request).
 *                 With "result" the id must be a string or an integer; with
 *                 "error" it may also be absent or null (an error about a
 *                 message the client could not read), and "error" must be an
 *                 object with an integer "code" and a string "message".
 *                 Never answered.
 *   BATCH         the line is a JSON array (any array, even []). MCP
 *                 2025-11-25 has no batches: answer with code -32600 and no
 *                 id. `code` and `message` are set as for INVALID.
 *   INVALID       anything else, with `code`:
 *                 -32700 PARSE_ERROR: not one strict JSON value (this
 *                   includes invalid UTF-8, a raw control character, a
 *                   duplicate key, nesting deeper than 64);
 *                 -32600 INVALID_REQUEST: JSON of the wrong shape: not an
 *                   object, "jsonrpc" missing or not exactly "2.0", "method"
 *                   not a string, "id" null / boolean / fractional / an
 *                   exponent / beyond int64 / an object or array, "params"
 *                   not an object or array (null included), "method"
 *                   together with "result" or "error", both "result" and
 *                   "error", a bad "error" object, or none of "method",
 *                   "result", "error".
 *
 * Ids are kept as the parsed json_value so an answer echoes them exactly: a
 * string "1" stays a string. Integer ids must be written as integers: 1.0,
 * 1e0 and 2^63 are invalid (the emitter could not echo them byte for byte,
 * and JSON-RPC says ids SHOULD NOT be fractional). Unknown members are
 * ignored (forward compatibility).
 *
 * The kind is decided by shape only; which methods exist and what their
 * params must hold is the server's business (-32601, -32602).
 *
 * BUILDERS
 *
 * Each appends exactly one line (one compact JSON object and "\n") to the
 * caller's buffer, or nothing: on failure the buffer is as it was. Member
 * order is fixed ("jsonrpc", "id", then "result"/"error" or "method",
 * "params"), so output is deterministic byte for byte. The JSON emitter
 * escapes every control character, so no raw newline can appear inside a
 * line; the builders check that anyway and fail rather than break framing.
 * They return 0, or -1 with errno: EINVAL for an id that is not a string or
 * an integer (or a NULL required argument), ENOMEM, or EMSGSIZE when the
 * buffer's cap is reached.
 */
#ifndef PYRO_JSONRPC_H
#define PYRO_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "json.h"

/* Error codes. The first five are JSON-RPC 2.0's; the last two are MCP's
 * (2025-11-25: resources.mdx for -32002, schema.ts for -32042). */
#define JSONRPC_PARSE_ERROR -32700
#define JSONRPC_INVALID_REQUEST -32600
#define JSONRPC_METHOD_NOT_FOUND -32601
#define JSONRPC_INVALID_PARAMS -32602
#define JSONRPC_INTERNAL_ERROR -32603
#define JSONRPC_RESOURCE_NOT_FOUND -32002
#define JSONRPC_URL_ELICITATION_REQUIRED -32042

/* ---- Line framing --------------------------------------------------- */

#define JSONRPC_DEFAULT_MAX_LINE (4u << 20)

enum jsonrpc_read {
	JSONRPC_READ_AGAIN = 0,    /* everything fed is consumed: feed more */
	JSONRPC_READ_LINE = 1,     /* *line, *len hold one message line */
	JSONRPC_READ_OVERSIZE = 2, /* a line passed max_line (reported once) */
	JSONRPC_READ_EOF = 3,      /* after jsonrpc_reader_eof(): all delivered */
};

/* All fields are private. */
struct jsonrpc_reader {
	size_t max_line;
	struct buf part;    /* the start of a line split across feeds */
	const char *in;     /* fed bytes not consumed yet (borrowed) */
	size_t in_len;
	bool discarding;    /* inside an oversize line: drop up to "\n" */
	bool part_handed;   /* `part` was returned as a line: reset it first */
	bool eof;
	bool done;          /* EOF reported */
};

/* max_line 0 means JSONRPC_DEFAULT_MAX_LINE (4 MiB). Cannot fail. */
void jsonrpc_reader_init(struct jsonrpc_reader *r, size_t max_line);
/* Free the reader's buffer. It may be initialised again afterwards. */
void jsonrpc_reader_release(struct jsonrpc_reader *r);

/* Hand the reader data[0..len) (borrowed until next() returns AGAIN).
 * Returns 0, or -1 with errno = EBUSY when bytes of the previous feed are
 * still unconsumed, or EINVAL after jsonrpc_reader_eof() or for a NULL
 * pointer with len > 0. */
int jsonrpc_reader_feed(struct jsonrpc_reader *r, const char *data, size_t len);

/* The input has ended: next() then yields a last line that had no "\n"
 * (a message must still be complete to classify) and after it EOF. */
void jsonrpc_reader_eof(struct jsonrpc_reader *r);

/* The next event (enum jsonrpc_read). For JSONRPC_READ_LINE, *line and *len
 * describe the line without "\n" or "\r\n"; it is never empty, never only
 * whitespace and at most max_line bytes. Returns -1 with errno = ENOMEM
 * when assembling a split line needs memory it cannot get; nothing is
 * consumed then, so a later call can retry. */
int jsonrpc_reader_next(struct jsonrpc_reader *r, const char **line, size_t *len);

/* ---- Classification ------------------------------------------------- */

enum jsonrpc_kind {
	JSONRPC_INVALID,
	JSONRPC_REQUEST,
	JSONRPC_NOTIFICATION,
	JSONRPC_RESPONSE,
	JSONRPC_BATCH,
};

#define JSONRPC_MESSAGE_MAX 256

/* What jsonrpc_parse found. Every pointer borrows from the json_doc the
 * line was parsed into; fields that do not apply to the kind are NULL/0. */
struct jsonrpc_msg {
	enum jsonrpc_kind kind;
	const struct json_value *root;   /* the parsed line; NULL for -32700 */
	/* REQUEST: the id (string or integer). RESPONSE: the id, or NULL when
	 * an error response had none (or null). INVALID: the id when the
	 * message had a usable one and was not response-shaped (answer with
	 * it); NULL otherwise (answer without an id). BATCH: NULL. */
	const struct json_value *id;
	/* REQUEST, NOTIFICATION: NUL-terminated, but it may contain U+0000
	 * itself: compare with jsonrpc_method_is or method_len. */
	const char *method;
	size_t method_len;
	const struct json_value *params;         /* object, array or NULL (absent) */
	const struct json_value *progress_token; /* params._meta.progressToken when
						    a string or an integer, else NULL */
	const struct json_value *result;         /* RESPONSE with a result */
	const struct json_value *error;          /* RESPONSE with an error: object */
	int code;                                /* INVALID, BATCH: code to answer */
	char message[JSONRPC_MESSAGE_MAX];       /* INVALID, BATCH: why, one line */
};

/* Parse line[0..len) into doc and classify it into *out. Returns 0 for
 * every line, valid or not (look at out->kind); -1 only when memory ran out
 * (err says so, code PYRO_EXIT_INTERNAL; *out is then INVALID with code
 * JSONRPC_INTERNAL_ERROR), or for NULL doc/out. JSON limits: nesting depth
 * 64; input and string sizes are bounded only by len (the reader's
 * max_line is the size limit). */
int jsonrpc_parse(struct json_doc *doc, const char *line, size_t len, struct jsonrpc_msg *out,
		  struct pyro_err *err);

/* True when msg has exactly this method name (no prefix or NUL tricks). */
bool jsonrpc_method_is(const struct jsonrpc_msg *msg, const char *name);

/* True when v may be an id: a string, or an integer written as one. */
bool jsonrpc_id_valid(const struct json_value *v);

/* ---- Builders --------------------------------------------------------- */

/* {"jsonrpc":"2.0","id":ID,"result":RESULT}\n. id must be a string or an
 * integer; result NULL means {} (MCP's EmptyResult). */
int jsonrpc_result(struct buf *out, const struct json_value *id,
		   const struct json_value *result);

/* {"jsonrpc":"2.0","id":ID,"error":{"code":C,"message":M,"data":D}}\n.
 * id NULL (or a JSON null) omits "id" (see THE PARSE-ERROR ID above); data
 * NULL omits "data"; message NULL uses the code's standard text
 * (jsonrpc_code_text). */
int jsonrpc_error(struct buf *out, const struct json_value *id, int code, const char *message,
		  const struct json_value *data);

/* {"jsonrpc":"2.0","method":M,"params":P}\n; params NULL omits "params". */
int jsonrpc_notification(struct buf *out, const char *method, const struct json_value *params);

/* "Parse error", "Invalid Request", "Method not found", "Invalid params",
 * "Internal error", "Resource not found", "URL elicitation required", or
 * "Server error" for anything else. */
const char *jsonrpc_code_text(int code);

#endif
