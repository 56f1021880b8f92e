/* Declarative commands: one table per command level.
 *
 * A `struct command` row names a command, its summary, its arguments and
 * either a handler or a table of subcommands. The same rows drive the CLI
 * parser, `--help`, usage errors, and (cmd_schema.c) the JSON Schema of an
 * MCP tool and the binding of MCP tool-call arguments, so the CLI flags and
 * the MCP arguments cannot drift. Handlers never see argv or JSON: they get a
 * `struct cmd_call` with typed values and fill a JSON result.
 *
 * Argument names are snake_case ("vcpu_count"): that is the MCP property
 * name; the CLI spells it as a flag with dashes ("--vcpu-count") or, for
 * positionals, as the metavar in upper case.
 *
 * Ownership: tables are static const data. A cmd_call borrows strings from
 * argv (CLI) or from the JSON arguments' doc (MCP); it owns only its list
 * arrays and its result doc, released by cmd_call_release().
 */
#ifndef PYRO_CMD_H
#define PYRO_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "json.h"

#define CMD_MAX_ARGS 32

enum arg_type {
	ARG_BOOL,        /* CLI: --flag (no value); MCP: boolean */
	ARG_INT,         /* CLI: --flag N; MCP: integer, bounded by min/max */
	ARG_STRING,      /* CLI: --flag TEXT; MCP: string */
	ARG_ENUM,        /* one of `choices` */
	ARG_STRING_LIST, /* CLI: repeatable --flag TEXT, or the rest of argv; MCP: array of strings */
};

enum arg_flags {
	ARG_POSITIONAL = 1u << 0, /* CLI: taken by position, not by --name */
	ARG_REQUIRED = 1u << 1,
	ARG_REST = 1u << 2,       /* positional list taking every remaining word (after an optional "--") */
	ARG_CLI_ONLY = 1u << 3,   /* output switches such as --json: not an MCP property */
	ARG_MCP_ONLY = 1u << 4,   /* not offered on the CLI */
	ARG_HAS_BOUNDS = 1u << 5, /* ARG_INT: min/max apply */
};

struct arg_spec {
	const char *name;
	enum arg_type type;
	unsigned flags;
	const char *def;             /* default as CLI text ("1024"), NULL for none */
	int64_t min, max;            /* with ARG_HAS_BOUNDS */
	const char *const *choices;  /* ARG_ENUM: NULL-terminated list */
	const char *group;           /* mutually exclusive group, or NULL */
	const char *metavar;         /* shown in help: "ENVIRONMENT", "SECONDS" */
	const char *help;
};

struct cmd_call;

/* MCP tool hints (annotations). */
enum cmd_hints {
	CMD_READ_ONLY = 1u << 0,
	CMD_DESTRUCTIVE = 1u << 1,
	CMD_IDEMPOTENT = 1u << 2,
	CMD_OPEN_WORLD = 1u << 3,
};

struct command {
	const char *name;
	const char *summary;     /* one line, no trailing period */
	const char *description; /* optional paragraph for --help */
	const struct arg_spec *args;          /* terminated by a row with name == NULL */
	const struct command *const *subcommands; /* NULL-terminated list of rows */
	/* Does the work. Returns the exit status (0 ok). On failure fills
	 * call->err and returns err.code. On success, call->result is the
	 * structured result (may be NULL for commands without one). */
	int (*run)(struct cmd_call *call);
	/* Human rendering of call->result (stdout text). NULL: pretty JSON. */
	int (*render)(const struct cmd_call *call, struct buf *out);
	const char *tool; /* MCP tool name, or NULL when not exposed */
	unsigned hints;   /* enum cmd_hints, for the MCP tool */
	/* MCP: the JSON Schema (text, root "type": "object") every successful
	 * result of this tool matches; it is the tool's outputSchema and the
	 * result is its structuredContent. Required for every tool row. */
	const char *output_schema;
	const char *title; /* MCP: a short human title ("Run a command in a VM") */
};

struct arg_value {
	bool present;        /* given explicitly (not defaulted) */
	bool has_value;      /* present or defaulted */
	bool b;
	int64_t i;
	const char *s;
	const char **list;   /* owned by the call */
	size_t count;
};

struct cmd_call {
	const struct command *cmd;
	const char *path;                    /* "pyro env pull" (points into path_buf) */
	char path_buf[256];
	struct arg_value values[CMD_MAX_ARGS];
	struct json_doc *doc;                /* owns result */
	struct json_value *result;
	struct pyro_err err;
	/* On success, the exit status the CLI ends with after printing the
	 * result (pyro run: the guest command's own status). */
	int exit_status;
};

/* Parse argv (after the program name) against the table `root`, descending
 * into subcommands. `prog` is the program name for messages ("pyro").
 * Returns:
 *   0  call is ready to run (cmd_call_run);
 *   1  help was requested and written to `help_out`; exit 0;
 *  -1  usage error in call->err (code PYRO_EXIT_USAGE), message says what
 *      was wrong and what exists / where to look.
 * The call must be released with cmd_call_release() in every case. */
int cmd_parse_argv(const struct command *root, const char *prog, int argc,
		   char **argv, struct cmd_call *call, struct buf *help_out);

/* Bind MCP tool arguments (a JSON object) to cmd's args. Unknown
 * properties, wrong types, out-of-range values and violated exclusive
 * groups are errors (PYRO_EXIT_USAGE) named in MCP terms ("vcpu_count"). */
int cmd_bind_json(const struct command *cmd, const char *path,
		  const struct json_value *args, struct cmd_call *call);

/* Run the handler of a parsed call. Returns the exit status. */
int cmd_call_run(struct cmd_call *call);

void cmd_call_release(struct cmd_call *call);

/* Typed access for handlers, by argument name. Asking for a name the
 * command does not declare is a programming error and aborts. */
const char *cmd_str(const struct cmd_call *call, const char *name);
int64_t cmd_int(const struct cmd_call *call, const char *name);
bool cmd_bool(const struct cmd_call *call, const char *name);
const char *const *cmd_list(const struct cmd_call *call, const char *name, size_t *count);
bool cmd_given(const struct cmd_call *call, const char *name);

/* The result object of a call, created on first use in call->doc. NULL
 * only on allocation failure (call->err is set). */
struct json_value *cmd_result_object(struct cmd_call *call);

/* Help text for one command (as printed by --help). `path` is the full
 * command path ("pyro env pull"). */
int cmd_help(const struct command *cmd, const char *path, struct buf *out);

/* JSON Schema (type: object, properties, required, additionalProperties:
 * false) of cmd's MCP-visible arguments, built in doc. */
struct json_value *cmd_input_schema(const struct command *cmd, struct json_doc *doc);

/* CLI spelling of an argument ("--vcpu-count" or "ENVIRONMENT") into out. */
void cmd_arg_cli_name(const struct arg_spec *a, char *out, size_t cap);

#endif
