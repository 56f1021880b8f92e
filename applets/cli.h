/* The `pyro` CLI: the root command table and helpers shared by the
 * command handlers in applets/cmd_*.c. */
#ifndef PYRO_CLI_H
#define PYRO_CLI_H

#include "../core/cmd.h"

extern const struct command cli_root;

/* Command rows, defined next to their handlers. */
extern const struct command cli_doctor_command;
extern const struct command cli_env_command;
extern const struct command cli_run_command;
extern const struct command cli_demo_command;

/* The --json switch every command with a structured result offers. */
#define CLI_JSON_ARG                                                        \
	{ .name = "json", .type = ARG_BOOL, .flags = ARG_CLI_ONLY,          \
	  .help = "Print the structured result as JSON instead of text." }

/* Parse argv against cli_root, run, print the result (text, or JSON with
 * --json) to stdout and errors to stderr. Returns the exit status. */
int cli_run(int argc, char **argv);

#endif
