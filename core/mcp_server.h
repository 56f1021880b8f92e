/* The MCP server: JSON-RPC 2.0 over stdio (core/jsonrpc.h), MCP revision
 * 2025-11-25 with 2025-06-18, 2025-03-26 and 2024-11-05 by negotiation,
 * serving the tools of a profile, each a row of the command tables
 * (core/cmd.h: input schema from the argument rows, output schema and
 * annotations from the row, the handler the CLI also runs).
 *
 * What it does (docs/mcp.md says it for users):
 *  - initialize: answers the client's version when it is one of the four,
 *    else 2025-11-25; capabilities {"tools": {"listChanged": false}} and
 *    nothing else (no logging: declaring what is not implemented breaks
 *    clients); serverInfo with pyro's version; instructions.
 *  - ping, tools/list (cursor pagination), tools/call. Unknown methods,
 *    server/discover of the stateless 2026-07-28 revision and
 *    logging/setLevel: -32601 at once, before or after initialize.
 *  - tools/call runs on a thread of its own, so ping and tools/list are
 *    answered while a VM boots. Unknown tool or malformed params: -32602.
 *    Argument values that fail validation and every failure of the tool:
 *    a result with isError true and the message (2025-11-25). A success:
 *    structuredContent (the result object, matching the tool's
 *    outputSchema) and the same JSON as text.
 *  - notifications/progress when the request carried _meta.progressToken:
 *    at each phase the tool reports (mcp_call_phase) and every 5 s while
 *    it runs, progress strictly increasing, none after the answer.
 *  - notifications/cancelled: the call's VM is torn down (the running
 *    command dies with it) and no answer is sent.
 *  - Protocol errors: a line that is not JSON -32700, a batch or a line
 *    over the size limit -32600, both without an id; notifications are
 *    never answered; responses from the client are ignored.
 *  - stdout carries protocol messages only: the server writes to a
 *    private copy of fd 1 and points fd 1 at stderr for everything else,
 *    so no child (QEMU, a shell) and no stray print can corrupt the stream.
 *  - EOF on stdin: calls still running are cancelled (their VMs torn
 *    down), the server waits for them and returns. VMs a client created
 *    with vm_create stay (they were handed out); their ttl ends them.
 */
#ifndef PYRO_MCP_SERVER_H
#define PYRO_MCP_SERVER_H

#include <stddef.h>

#include "cmd.h"
#include "err.h"

#define MCP_LATEST_VERSION "2025-11-25"

struct mcp_server_opts {
	const struct command *const *tools; /* NULL-terminated, in listing order */
	const char *instructions;           /* < 4096 characters */
	int in_fd, out_fd;                  /* the protocol streams (0 and 1) */
	size_t max_line;                    /* 0: 4 MiB */
	size_t page_size;                   /* tools per tools/list page; 0: 100 */
	/* Tears down what a cancelled call was using (the VM dir it reported
	 * through mcp_call_phase); NULL: cancellation only suppresses the
	 * answer. */
	void (*cancel)(const char *vm_dir);
};

/* Serve until EOF on in_fd. 0 on a clean end; -1 with err when the
 * streams fail (stdout closed, say). */
int mcp_serve(const struct mcp_server_opts *o, struct pyro_err *err);

/* For tool handlers, on the tool call's thread: the call reached `phase`
 * ("create", "start", "execute") with this VM (dir may be NULL when only
 * the id is known). Sends a progress notification when the client asked
 * for progress, and records the VM for cancellation. A no-op outside a
 * tool call (the CLI). */
void mcp_call_phase(const char *phase, const char *vm_id, const char *vm_dir);

/* For tool handlers: an fd that becomes readable when the call running
 * on this thread is cancelled (poll it, or hand it to spawn_run as its
 * cancel_fd); -1 outside a tool call. */
int mcp_call_cancel_fd(void);

#endif
