/* `pyro mcp serve` (and the `pyro-mcp` applet): the MCP server over stdio
 * with the tools of a profile or a mode (core/mcp_server.h).
 *
 * Profiles and modes are the seeds' tool sets, name for name. This build
 * has the vm_* tools; the workspace, shell, service and snapshot tools
 * come with the workspace work. A profile or mode is served with the
 * tools of it this build has, and says (on stderr and in the
 * instructions the model reads) which are missing; one with none of its
 * tools is refused at start with a message saying what to use instead,
 * rather than serving an empty list. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "../core/buf.h"
#include "../core/exitcodes.h"
#include "../core/log.h"
#include "../core/mcp_server.h"
#include "../core/vmmanager.h"
#include "applets.h"
#include "cli.h"
#include "mcp_tools.h"

const struct command *const mcp_all_tools[] = {
	&mcp_vm_run_tool,       &cli_env_list_command, &mcp_vm_create_tool,
	&mcp_vm_start_tool,     &mcp_vm_exec_tool,     &mcp_vm_stop_tool,
	&mcp_vm_delete_tool,    &mcp_vm_status_tool,   &mcp_vm_network_info_tool,
	&mcp_vm_reap_expired_tool, NULL,
};

/* ---- the seeds' tool sets ---- */

#define WORKSPACE_CORE_TOOLS                                                                   \
	"workspace_create", "workspace_delete", "workspace_diff", "workspace_exec",            \
		"workspace_export", "workspace_file_list", "workspace_file_read",              \
		"workspace_file_write", "workspace_list", "workspace_logs",                    \
		"workspace_patch_apply", "workspace_reset", "workspace_summary",               \
		"workspace_status", "workspace_sync_push", "workspace_update"

static const char *const vm_run_profile[] = { "vm_run", NULL };
static const char *const workspace_core_profile[] = { "vm_run", WORKSPACE_CORE_TOOLS, NULL };
static const char *const workspace_full_profile[] = {
	"vm_run", "vm_list_environments", "vm_create", "vm_start", "vm_exec", "vm_stop",
	"vm_delete", "vm_status", "vm_network_info", "vm_reap_expired", WORKSPACE_CORE_TOOLS,
	"workspace_disk_export", "workspace_disk_list", "workspace_disk_read", "workspace_start",
	"workspace_stop", "service_list", "service_logs", "service_start", "service_status",
	"service_stop", "shell_close", "shell_open", "shell_read", "shell_signal", "shell_write",
	"snapshot_create", "snapshot_delete", "snapshot_list", NULL,
};
static const char *const repro_fix_mode[] = { WORKSPACE_CORE_TOOLS, NULL };
static const char *const inspect_mode[] = {
	"workspace_create",    "workspace_delete", "workspace_exec", "workspace_export",
	"workspace_file_list", "workspace_file_read", "workspace_list", "workspace_logs",
	"workspace_summary",   "workspace_status", "workspace_update", NULL,
};
static const char *const cold_start_mode[] = {
	"service_list",      "service_logs",     "service_start",       "service_status",
	"service_stop",      "workspace_create", "workspace_delete",    "workspace_exec",
	"workspace_export",  "workspace_file_list", "workspace_file_read", "workspace_list",
	"workspace_logs",    "workspace_reset",  "workspace_summary",   "workspace_status",
	"workspace_update",  NULL,
};
static const char *const review_eval_mode[] = {
	"shell_close",     "shell_open",       "shell_read",       "shell_signal",
	"shell_write",     "snapshot_create",  "snapshot_delete",  "snapshot_list",
	"workspace_create", "workspace_delete", "workspace_diff",  "workspace_exec",
	"workspace_export", "workspace_file_list", "workspace_file_read", "workspace_list",
	"workspace_logs",  "workspace_reset",  "workspace_summary", "workspace_status",
	"workspace_update", NULL,
};

struct tool_set {
	const char *name;
	const char *const *tools;
};
static const struct tool_set profiles[] = {
	{ "vm-run", vm_run_profile },
	{ "workspace-core", workspace_core_profile },
	{ "workspace-full", workspace_full_profile },
	{ NULL, NULL },
};
static const struct tool_set modes[] = {
	{ "repro-fix", repro_fix_mode },
	{ "inspect", inspect_mode },
	{ "cold-start", cold_start_mode },
	{ "review-eval", review_eval_mode },
	{ NULL, NULL },
};
static const char *const profile_names[] = { "vm-run", "workspace-core", "workspace-full", NULL };
static const char *const mode_names[] = { "repro-fix", "inspect", "cold-start", "review-eval",
					  NULL };

static const struct command *tool_row(const char *name)
{
	for (const struct command *const *t = mcp_all_tools; *t; t++)
		if (!strcmp((*t)->tool, name))
			return *t;
	return NULL;
}

static const char *const *set_of(const struct tool_set *sets, const char *name)
{
	for (const struct tool_set *s = sets; s->name; s++)
		if (!strcmp(s->name, name))
			return s->tools;
	return NULL;
}

/* ---- instructions (what the model reads at initialize) ---- */

static void instructions(struct buf *out, const char *what, size_t missing)
{
	buf_append_str(out,
		       "pyro runs commands in disposable, isolated microVMs (real Linux guests, "
		       "not containers). For one command, call vm_run with an environment "
		       "(\"debian:12\" has git, python3 and coreutils; \"debian:12-build\" adds "
		       "compilers; vm_list_environments lists them) and a shell command line: "
		       "it boots a fresh VM, runs the command with sh -c, returns stdout, stderr "
		       "and exit_code, and deletes the VM. Nothing persists between calls, so "
		       "put everything one task needs in one command (chain with && or ;). "
		       "exit_code 124 means the command ran past timeout_seconds (default 30; "
		       "raise it for builds and tests). The guest has no network unless "
		       "network is true. A failure to create or boot the VM comes back as an "
		       "error result whose text says what to change.");
	if (tool_row("vm_create") && strcmp(what, "vm-run") != 0)
		buf_append_str(out,
			       " The lifecycle tools are for finer control: vm_create, then "
			       "vm_start (boots), then one vm_exec (the VM is deleted after it, "
			       "as in vm_run); vm_status, vm_network_info, vm_stop, vm_delete and "
			       "vm_reap_expired manage VMs; a VM also ends when its ttl_seconds "
			       "run out.");
	if (missing)
		buf_printf(out,
			   " Note: this pyro build serves only part of '%s': %zu of its tools "
			   "(the workspace, shell, service and snapshot tools) are not available "
			   "yet; do not expect persistent workspaces.",
			   what, missing);
}

/* ---- the command ---- */

static int usage(struct cmd_call *call, const char *msg)
{
	return pyro_err_set(&call->err, PYRO_EXIT_USAGE, "%s", msg), PYRO_EXIT_USAGE;
}

static int check_project_source(struct cmd_call *call)
{
	int given = cmd_given(call, "project_path") + cmd_given(call, "repo_url") +
		    cmd_bool(call, "no_project_source");
	if (given > 1)
		return usage(call, "give at most one of --project-path, --repo-url and "
				   "--no-project-source");
	if (cmd_given(call, "repo_ref") && !cmd_given(call, "repo_url"))
		return usage(call, "--repo-ref needs --repo-url");
	if (cmd_given(call, "project_path")) {
		const char *p = cmd_str(call, "project_path");
		struct stat st;
		if (p[0] != '/' || stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
			return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
					    "--project-path must be an absolute path to an existing "
					    "directory (got '%s')",
					    p),
			       PYRO_EXIT_USAGE;
	}
	return 0;
}

static void cancel_vm(const char *vm_dir)
{
	vm_abandon(vm_dir);
}

static int run_serve(struct cmd_call *call)
{
	if (check_project_source(call))
		return PYRO_EXIT_USAGE;
	const char *what = cmd_given(call, "mode") ? cmd_str(call, "mode") : cmd_str(call, "profile");
	const char *const *names =
		cmd_given(call, "mode") ? set_of(modes, what) : set_of(profiles, what);
	const struct command *tools[64];
	size_t n = 0, missing = 0;
	for (size_t i = 0; names && names[i]; i++) {
		const struct command *row = tool_row(names[i]);
		if (row && n < 63)
			tools[n++] = row;
		else
			missing++;
	}
	tools[n] = NULL;
	if (!n)
		return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
				    "%s '%s' needs the workspace tools, which this pyro build does "
				    "not have yet; serve --profile vm-run (one-shot vm_run) or "
				    "--profile workspace-full (the vm_* lifecycle tools) instead",
				    cmd_given(call, "mode") ? "mode" : "profile", what),
		       PYRO_EXIT_USAGE;
	if (missing)
		log_msg(LOG_WARN,
			"mcp: '%s' has %zu tools this build does not have yet (workspace, shell, "
			"service, snapshot); serving the %zu it has",
			what, missing, n);
	struct buf text = BUF_INIT;
	instructions(&text, what, missing);

	/* stdout is the protocol: keep a private copy for it and point fd 1
	 * at stderr, so nothing else (a child, a stray print) can write to
	 * the client's stream. */
	int proto = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	if (proto < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		int e = errno;
		buf_release(&text);
		return pyro_err_sys(&call->err, e, "setting up stdout for MCP"), PYRO_EXIT_FAILURE;
	}
	struct mcp_server_opts o = {
		.tools = tools,
		.instructions = text.data,
		.in_fd = STDIN_FILENO,
		.out_fd = proto,
		.page_size = (size_t)cmd_int(call, "page_size"),
		.cancel = cancel_vm,
	};
	log_msg(LOG_INFO, "mcp: serving %zu tools ('%s') on stdio", n, what);
	int rc = mcp_serve(&o, &call->err);
	close(proto);
	buf_release(&text);
	return rc < 0 ? (call->err.code ? call->err.code : PYRO_EXIT_FAILURE) : PYRO_EXIT_OK;
}

static const struct arg_spec serve_args[] = {
	{ .name = "profile", .type = ARG_ENUM, .def = "workspace-core", .choices = profile_names,
	  .group = "toolset", .metavar = "PROFILE",
	  .help = "The tool set: vm-run (vm_run only), workspace-core (the default), "
		  "workspace-full (everything)." },
	{ .name = "mode", .type = ARG_ENUM, .choices = mode_names, .group = "toolset",
	  .metavar = "MODE",
	  .help = "A named workflow's tool set instead of a profile." },
	{ .name = "project_path", .type = ARG_STRING, .metavar = "DIR",
	  .help = "The project the workspace tools seed from (default: the Git checkout of "
		  "the current directory)." },
	{ .name = "repo_url", .type = ARG_STRING, .metavar = "URL",
	  .help = "Seed workspaces from this repository instead of a local checkout." },
	{ .name = "repo_ref", .type = ARG_STRING, .metavar = "REF",
	  .help = "The branch, tag or commit of --repo-url." },
	{ .name = "no_project_source", .type = ARG_BOOL,
	  .help = "Do not detect or use a project source." },
	{ .name = "page_size", .type = ARG_INT, .flags = ARG_HAS_BOUNDS, .def = "100", .min = 1,
	  .max = 1000, .metavar = "N", .help = "Tools per tools/list page." },
	{ 0 },
};

static const struct command mcp_serve_cmd = {
	.name = "serve",
	.summary = "Serve the MCP tools over stdio (JSON-RPC, MCP 2025-11-25) for chat hosts",
	.description = "Chat hosts (Claude Code, Codex, OpenCode, ...) start this and speak MCP "
		       "on its stdin and stdout; diagnostics go to stderr. See docs/mcp.md.",
	.args = serve_args,
	.run = run_serve,
};

static const struct command *const mcp_subcommands[] = { &mcp_serve_cmd, NULL };

const struct command cli_mcp_command = {
	.name = "mcp",
	.summary = "The MCP server for chat hosts",
	.subcommands = mcp_subcommands,
};

/* The pyro-mcp applet: `pyro mcp serve` under a name chat-host configs can
 * point at directly. */
int applet_pyro_mcp_main(int argc, char **argv)
{
	char *args[64];
	int n = 0;
	args[n++] = "mcp";
	args[n++] = "serve";
	for (int i = 1; i < argc && n < 63; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	log_set_prog("pyro-mcp");
	log_level_from_env();
	return cli_run(n, args);
}
