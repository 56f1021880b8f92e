/* The MCP tool rows (applets/mcp_vm_tools.c, and the CLI rows that double
 * as tools) and the profiles and modes that choose among them
 * (applets/cmd_mcp.c). */
#ifndef PYRO_MCP_TOOLS_H
#define PYRO_MCP_TOOLS_H

#include "../core/cmd.h"

extern const struct command mcp_vm_run_tool, mcp_vm_create_tool, mcp_vm_start_tool,
	mcp_vm_exec_tool, mcp_vm_stop_tool, mcp_vm_delete_tool, mcp_vm_status_tool,
	mcp_vm_network_info_tool, mcp_vm_reap_expired_tool;
/* `pyro env list`, which is also the vm_list_environments tool. */
extern const struct command cli_env_list_command;

/* Every tool this build has, in listing order. */
extern const struct command *const mcp_all_tools[];

#endif
