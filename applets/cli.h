/* The `pyro` CLI: the root command table and helpers shared by the
 * command handlers in applets/cmd_*.c. */
#ifndef PYRO_CLI_H
#define PYRO_CLI_H

#include "../core/cmd.h"
#include "../core/vmrecord.h"

extern const struct command cli_root;

/* Command rows, defined next to their handlers. */
extern const struct command cli_doctor_command;
extern const struct command cli_env_command;
extern const struct command cli_run_command;
extern const struct command cli_demo_command;
extern const struct command cli_mcp_command;

/* The --json switch every command with a structured result offers. */
#define CLI_JSON_ARG                                                        \
	{ .name = "json", .type = ARG_BOOL, .flags = ARG_CLI_ONLY,          \
	  .help = "Print the structured result as JSON instead of text." }

/* The VM sizing and policy arguments, one row each, shared by `pyro run`,
 * `pyro demo` and the MCP vm_* tools, so CLI flags and tool arguments
 * cannot drift. Bounds and defaults are the seeds' (core/vmrecord.h). */
#define VM_ARG_ENVIRONMENT                                                                 \
	{ .name = "environment", .type = ARG_STRING, .flags = ARG_POSITIONAL | ARG_REQUIRED, \
	  .metavar = "ENVIRONMENT",                                                          \
	  .help = "The environment to boot, e.g. debian:12 (pyro env list; MCP: "            \
		  "vm_list_environments)." }
#define VM_ARG_VCPU_COUNT                                                                  \
	{ .name = "vcpu_count", .type = ARG_INT, .flags = ARG_HAS_BOUNDS, .def = "1",        \
	  .min = VM_MIN_VCPUS, .max = VM_MAX_VCPUS, .metavar = "N",                          \
	  .help = "Virtual CPUs of the VM." }
#define VM_ARG_MEM_MIB                                                                     \
	{ .name = "mem_mib", .type = ARG_INT, .flags = ARG_HAS_BOUNDS, .def = "1024",        \
	  .min = VM_MIN_MEM_MIB, .max = VM_MAX_MEM_MIB, .metavar = "MIB",                    \
	  .help = "Memory of the VM in MiB." }
#define VM_ARG_TIMEOUT_SECONDS                                                             \
	{ .name = "timeout_seconds", .type = ARG_INT, .flags = ARG_HAS_BOUNDS, .def = "30",  \
	  .min = 1, .max = 86400, .metavar = "SECONDS",                                      \
	  .help = "Kill the command after this long; it then exits 124." }
#define VM_ARG_TTL_SECONDS                                                                 \
	{ .name = "ttl_seconds", .type = ARG_INT, .flags = ARG_HAS_BOUNDS, .def = "600",     \
	  .min = VM_MIN_TTL_SECONDS, .max = VM_MAX_TTL_SECONDS, .metavar = "SECONDS",        \
	  .help = "Delete the VM after this long, whatever happens." }
#define VM_ARG_NETWORK                                                                     \
	{ .name = "network", .type = ARG_BOOL,                                               \
	  .help = "Give the guest outbound network access (default: no network device)." }
#define VM_ARG_ALLOW_HOST_COMPAT                                                           \
	{ .name = "allow_host_compat", .type = ARG_BOOL,                                     \
	  .help = "When no guest can boot here, run the command on the host instead "        \
		  "(not isolated)." }

/* Parse argv against cli_root, run, print the result (text, or JSON with
 * --json) to stdout and errors to stderr. Returns the exit status. */
int cli_run(int argc, char **argv);

#endif
