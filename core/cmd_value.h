/* Argument values shared by the CLI parser (cmd.c) and the MCP binder
 * (cmd_schema.c): conversion with validation, defaults, required arguments
 * and mutually exclusive groups. Internal to core's command machinery. */
#ifndef PYRO_CMD_VALUE_H
#define PYRO_CMD_VALUE_H

#include "cmd.h"

/* Convert CLI text for argument `a` (spelled `label` in messages) into v.
 * List arguments append. Errors are PYRO_EXIT_USAGE and say what is
 * accepted, e.g. "--mem-mib must be an integer between 256 and 32768 (got '12x')". */
int cmd_value_from_text(const struct arg_spec *a, const char *label, const char *text,
			struct arg_value *v, struct pyro_err *err);

/* Check an integer against a's bounds. */
int cmd_value_check_int(const struct arg_spec *a, const char *label, int64_t i,
			struct pyro_err *err);

/* Check an enum choice. */
int cmd_value_check_choice(const struct arg_spec *a, const char *label, const char *s,
			   struct pyro_err *err);

/* Append one string to a list value. */
int cmd_value_list_push(struct arg_value *v, const char *s, struct pyro_err *err);

/* After all values are in: apply defaults, then check required arguments
 * and exclusive groups. `mcp` selects MCP spelling in messages. */
int cmd_values_finish(const struct command *cmd, struct cmd_call *call, bool mcp);

const char *cmd_type_name(enum arg_type t);

#endif
