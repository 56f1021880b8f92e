/* The vm_* MCP tools: rows in the same command tables as the CLI (the
 * sizing arguments are the very rows `pyro run` uses, cli.h), handlers
 * that call core/vmmanager.h, and the output schema each result matches.
 *
 * Results are the seeds' payloads (the VM payload, the exec payload, the
 * delete and reap payloads); failures are the manager's messages, which
 * the MCP server returns as isError results. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/vmmanager.h"
#include "cli.h"
#include "../core/mcp_server.h"
#include "mcp_tools.h"

/* ---- output schemas (draft-07 and 2020-12 read them alike) ---- */

#define S_STR "{\"type\":\"string\"}"
#define S_INT "{\"type\":\"integer\"}"
#define S_NUM "{\"type\":\"number\"}"
#define S_BOOL "{\"type\":\"boolean\"}"
/* Nullable as anyOf, not a type array: the form every host's schema
 * checker accepts (the MCP inspector warns about type arrays). */
#define S_STR_OR_NULL "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}"

#define VM_PAYLOAD_SCHEMA                                                                      \
	"{\"type\":\"object\",\"properties\":{"                                                \
	"\"vm_id\":" S_STR ",\"environment\":" S_STR ",\"environment_version\":" S_STR_OR_NULL \
	",\"vcpu_count\":" S_INT ",\"mem_mib\":" S_INT ",\"ttl_seconds\":" S_INT               \
	",\"created_at\":" S_NUM ",\"expires_at\":" S_NUM                                       \
	",\"state\":{\"type\":\"string\",\"enum\":[\"created\",\"started\",\"stopped\"]}"      \
	",\"network_enabled\":" S_BOOL ",\"allow_host_compat\":" S_BOOL                         \
	",\"guest_ip\":" S_STR_OR_NULL ",\"tap_name\":" S_STR_OR_NULL                           \
	",\"execution_mode\":" S_STR                                                           \
	",\"metadata\":{\"type\":\"object\",\"additionalProperties\":" S_STR "}},"              \
	"\"required\":[\"vm_id\",\"environment\",\"vcpu_count\",\"mem_mib\",\"ttl_seconds\","  \
	"\"created_at\",\"expires_at\",\"state\",\"network_enabled\",\"allow_host_compat\","   \
	"\"execution_mode\",\"metadata\"]}"

#define CLEANUP_SCHEMA                                                                         \
	"{\"type\":\"object\",\"properties\":{\"vm_id\":" S_STR ",\"deleted\":" S_BOOL          \
	",\"reason\":" S_STR ",\"error\":" S_STR "},\"required\":[\"vm_id\",\"deleted\",\"reason\"]}"

#define EXEC_PAYLOAD_SCHEMA                                                                    \
	"{\"type\":\"object\",\"properties\":{"                                                \
	"\"vm_id\":" S_STR ",\"environment\":" S_STR ",\"environment_version\":" S_STR         \
	",\"command\":" S_STR ",\"stdout\":" S_STR ",\"stderr\":" S_STR                         \
	",\"exit_code\":" S_INT ",\"duration_ms\":" S_INT ",\"execution_mode\":" S_STR          \
	",\"cleanup\":" CLEANUP_SCHEMA "},"                                                    \
	"\"required\":[\"vm_id\",\"environment\",\"command\",\"stdout\",\"stderr\","            \
	"\"exit_code\",\"duration_ms\",\"execution_mode\",\"cleanup\"]}"

#define NETWORK_SCHEMA                                                                         \
	"{\"type\":\"object\",\"properties\":{\"vm_id\":" S_STR ",\"network_enabled\":" S_BOOL  \
	",\"outbound_connectivity_expected\":" S_BOOL ",\"reason\":" S_STR                       \
	",\"network_mode\":" S_STR ",\"tap_name\":" S_STR_OR_NULL ",\"guest_ip\":" S_STR        \
	",\"gateway_ip\":" S_STR ",\"subnet_cidr\":" S_STR ",\"mac_address\":" S_STR            \
	",\"dns_servers\":{\"type\":\"array\",\"items\":" S_STR "}},"                           \
	"\"required\":[\"vm_id\",\"network_enabled\",\"outbound_connectivity_expected\"]}"

#define DELETE_SCHEMA CLEANUP_SCHEMA

#define REAP_SCHEMA                                                                            \
	"{\"type\":\"object\",\"properties\":{\"deleted_vm_ids\":{\"type\":\"array\","           \
	"\"items\":" S_STR "},\"count\":" S_INT "},\"required\":[\"deleted_vm_ids\",\"count\"]}"

/* ---- handlers ---- */

static int fail(struct cmd_call *call)
{
	return call->err.code ? call->err.code : PYRO_EXIT_FAILURE;
}

static int begin(struct cmd_call *call)
{
	if (!call->doc && !(call->doc = json_doc_new()))
		return pyro_err_set(&call->err, PYRO_EXIT_INTERNAL, "out of memory"),
		       PYRO_EXIT_INTERNAL;
	return 0;
}

static struct vm_create_opts create_opts(const struct cmd_call *call)
{
	return (struct vm_create_opts){
		.environment = cmd_str(call, "environment"),
		.vcpu_count = (int)cmd_int(call, "vcpu_count"),
		.mem_mib = (int)cmd_int(call, "mem_mib"),
		.ttl_seconds = (int)cmd_int(call, "ttl_seconds"),
		.network = cmd_bool(call, "network"),
		.allow_host_compat = cmd_bool(call, "allow_host_compat"),
	};
}

/* Progress and cancellation hooks of the tool call in this thread. */
static void on_phase(void *ctx, const char *phase, const struct vm_record *r)
{
	(void)ctx;
	mcp_call_phase(phase, r->vm_id, r->dir);
}

static int run_vm_run(struct cmd_call *call)
{
	if (begin(call))
		return PYRO_EXIT_INTERNAL;
	struct vm_run_opts o = {
		.create = create_opts(call),
		.command = cmd_str(call, "command"),
		.timeout_seconds = (int)cmd_int(call, "timeout_seconds"),
	};
	/* A one-shot VM belongs to the server: if the server dies, its
	 * supervisor deletes it. */
	procid_of(getpid(), &o.create.owner);
	struct vm_progress pg = { on_phase, NULL };
	vm_set_cancel_fd(mcp_call_cancel_fd());
	return vm_run(&o, &pg, call->doc, &call->result, &call->err) < 0 ? fail(call) : 0;
}

static int run_vm_create(struct cmd_call *call)
{
	if (begin(call))
		return PYRO_EXIT_INTERNAL;
	struct vm_create_opts o = create_opts(call);
	struct vm_record r;
	struct vm_progress pg = { on_phase, NULL };
	return vm_create(&o, &pg, &r, call->doc, &call->result, &call->err) < 0 ? fail(call) : 0;
}

static int run_vm_start(struct cmd_call *call)
{
	if (begin(call))
		return PYRO_EXIT_INTERNAL;
	struct vm_record r;
	struct vm_progress pg = { on_phase, NULL };
	return vm_start(cmd_str(call, "vm_id"), &pg, &r, call->doc, &call->result, &call->err) < 0
		       ? fail(call)
		       : 0;
}

static int run_vm_exec(struct cmd_call *call)
{
	if (begin(call))
		return PYRO_EXIT_INTERNAL;
	const char *id = cmd_str(call, "vm_id");
	/* Known by id only: its directory is what a cancellation tears down. */
	char vms[PATH_MAX], dir[PATH_MAX + 16];
	if (vm_id_check(id, NULL) == 0 && vmstore_dir(vms, sizeof vms, NULL) == 0) {
		snprintf(dir, sizeof dir, "%s/%s", vms, id);
		mcp_call_phase("execute", id, dir);
	}
	vm_set_cancel_fd(mcp_call_cancel_fd());
	return vm_exec(id, cmd_str(call, "command"), (int)cmd_int(call, "timeout_seconds"),
		       call->doc, &call->result, &call->err) < 0
		       ? fail(call)
		       : 0;
}

static int run_vm_stop(struct cmd_call *call)
{
	if (begin(call))
		return PYRO_EXIT_INTERNAL;
	return vm_stop(cmd_str(call, "vm_id"), call->doc, &call->result, &call->err) < 0 ? fail(call)
											  : 0;
}

static int run_vm_delete(struct cmd_call *call)
{
	if (begin(call))
		return PYRO_EXIT_INTERNAL;
	return vm_delete(cmd_str(call, "vm_id"), "explicit_delete", call->doc, &call->result,
			 &call->err) < 0
		       ? fail(call)
		       : 0;
}

static int run_vm_status(struct cmd_call *call)
{
	if (begin(call))
		return PYRO_EXIT_INTERNAL;
	return vm_status(cmd_str(call, "vm_id"), call->doc, &call->result, &call->err) < 0
		       ? fail(call)
		       : 0;
}

static int run_vm_network_info(struct cmd_call *call)
{
	if (begin(call))
		return PYRO_EXIT_INTERNAL;
	return vm_network_info(cmd_str(call, "vm_id"), call->doc, &call->result, &call->err) < 0
		       ? fail(call)
		       : 0;
}

static int run_vm_reap_expired(struct cmd_call *call)
{
	if (begin(call))
		return PYRO_EXIT_INTERNAL;
	return vm_reap_expired(call->doc, &call->result, &call->err) < 0 ? fail(call) : 0;
}

/* ---- rows ---- */

#define VM_ID_ARG                                                                         \
	{ .name = "vm_id", .type = ARG_STRING, .flags = ARG_POSITIONAL | ARG_REQUIRED,    \
	  .metavar = "VM_ID", .help = "The VM's id, as vm_create returned it." }
#define COMMAND_ARG                                                                       \
	{ .name = "command", .type = ARG_STRING, .flags = ARG_POSITIONAL | ARG_REQUIRED,  \
	  .metavar = "COMMAND",                                                           \
	  .help = "A shell command line, run with sh -c in the guest (e.g. 'git --version')." }

static const struct arg_spec vm_run_args[] = {
	VM_ARG_ENVIRONMENT, COMMAND_ARG,    VM_ARG_VCPU_COUNT, VM_ARG_MEM_MIB,
	VM_ARG_TIMEOUT_SECONDS, VM_ARG_TTL_SECONDS, VM_ARG_NETWORK, VM_ARG_ALLOW_HOST_COMPAT,
	{ 0 },
};
static const struct arg_spec vm_create_args[] = {
	VM_ARG_ENVIRONMENT, VM_ARG_VCPU_COUNT, VM_ARG_MEM_MIB,           VM_ARG_TTL_SECONDS,
	VM_ARG_NETWORK,     VM_ARG_ALLOW_HOST_COMPAT, { 0 },
};
static const struct arg_spec vm_id_args[] = { VM_ID_ARG, { 0 } };
static const struct arg_spec vm_exec_args[] = { VM_ID_ARG, COMMAND_ARG, VM_ARG_TIMEOUT_SECONDS,
						{ 0 } };
static const struct arg_spec no_args[] = { { 0 } };

const struct command mcp_vm_run_tool = {
	.name = "vm_run",
	.tool = "vm_run",
	.title = "Run a command in a fresh microVM",
	.summary = "Run one shell command in a fresh, isolated microVM and delete the VM afterwards",
	.description =
		"Creates a VM from the environment, boots it, runs the command with sh -c, and "
		"deletes the VM. Returns stdout, stderr and exit_code (124 when the command ran "
		"past timeout_seconds). Use it for one-off commands; nothing persists between "
		"calls. The call takes the boot time (about 1 s with KVM, a few seconds under "
		"software emulation) plus the command's time, at most timeout_seconds; progress "
		"notifications mark create, start and execute. No network unless network=true.",
	.args = vm_run_args,
	.run = run_vm_run,
	.hints = CMD_DESTRUCTIVE | CMD_OPEN_WORLD,
	.output_schema = EXEC_PAYLOAD_SCHEMA,
};

const struct command mcp_vm_create_tool = {
	.name = "vm_create",
	.tool = "vm_create",
	.title = "Create a microVM",
	.summary = "Create a VM record (not booted yet); start it with vm_start",
	.description = "Checks the limits (vcpu_count 1-8, mem_mib 256-32768, ttl_seconds "
		       "60-3600, at most 4 active VMs), installs the environment if needed and "
		       "returns the VM with state 'created'. The VM is deleted after its first "
		       "vm_exec, or when ttl_seconds run out.",
	.args = vm_create_args,
	.run = run_vm_create,
	.hints = CMD_OPEN_WORLD,
	.output_schema = VM_PAYLOAD_SCHEMA,
};

const struct command mcp_vm_start_tool = {
	.name = "vm_start",
	.tool = "vm_start",
	.title = "Boot a created microVM",
	.summary = "Boot a created or stopped VM and wait until its guest agent answers",
	.description = "Returns the VM with state 'started'. Booting takes about 1 s with KVM, "
		       "a few seconds under software emulation; a VM that fails to boot is "
		       "reported with the tail of its console.",
	.args = vm_id_args,
	.run = run_vm_start,
	.hints = 0,
	.output_schema = VM_PAYLOAD_SCHEMA,
};

const struct command mcp_vm_exec_tool = {
	.name = "vm_exec",
	.tool = "vm_exec",
	.title = "Run a command in a started microVM",
	.summary = "Run one shell command in a started VM; the VM is deleted afterwards",
	.description = "Runs the command with sh -c in the guest and returns stdout, stderr and "
		       "exit_code (124 after timeout_seconds). As in the original pyro, the VM "
		       "is deleted after the command (see cleanup); create a new one for the "
		       "next command.",
	.args = vm_exec_args,
	.run = run_vm_exec,
	.hints = CMD_DESTRUCTIVE | CMD_OPEN_WORLD,
	.output_schema = EXEC_PAYLOAD_SCHEMA,
};

const struct command mcp_vm_stop_tool = {
	.name = "vm_stop",
	.tool = "vm_stop",
	.title = "Stop a microVM",
	.summary = "Stop a VM's machine; its record stays until vm_delete or its ttl",
	.args = vm_id_args,
	.run = run_vm_stop,
	.hints = CMD_DESTRUCTIVE | CMD_IDEMPOTENT,
	.output_schema = VM_PAYLOAD_SCHEMA,
};

const struct command mcp_vm_delete_tool = {
	.name = "vm_delete",
	.tool = "vm_delete",
	.title = "Delete a microVM",
	.summary = "Stop a VM and delete everything of it",
	.args = vm_id_args,
	.run = run_vm_delete,
	.hints = CMD_DESTRUCTIVE,
	.output_schema = DELETE_SCHEMA,
};

const struct command mcp_vm_status_tool = {
	.name = "vm_status",
	.tool = "vm_status",
	.title = "Describe a microVM",
	.summary = "A VM's state, sizing, times and network; a crashed VM shows as stopped with "
		   "last_error in metadata",
	.args = vm_id_args,
	.run = run_vm_status,
	.hints = CMD_READ_ONLY | CMD_IDEMPOTENT,
	.output_schema = VM_PAYLOAD_SCHEMA,
};

const struct command mcp_vm_network_info_tool = {
	.name = "vm_network_info",
	.tool = "vm_network_info",
	.title = "Show a microVM's network",
	.summary = "Whether the VM has network, and its guest address, gateway and DNS servers",
	.args = vm_id_args,
	.run = run_vm_network_info,
	.hints = CMD_READ_ONLY | CMD_IDEMPOTENT,
	.output_schema = NETWORK_SCHEMA,
};

const struct command mcp_vm_reap_expired_tool = {
	.name = "vm_reap_expired",
	.tool = "vm_reap_expired",
	.title = "Delete expired microVMs",
	.summary = "Delete every VM whose ttl has run out",
	.args = no_args,
	.run = run_vm_reap_expired,
	.hints = CMD_DESTRUCTIVE | CMD_IDEMPOTENT,
	.output_schema = REAP_SCHEMA,
};
