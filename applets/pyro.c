/* The `pyro` applet: top-level switches, then the command tables. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/json.h"
#include "../core/log.h"
#include "applets.h"
#include "cli.h"

static const struct command *const cli_commands[] = {
	&cli_run_command,
	&cli_env_command,
	&cli_doctor_command,
	&cli_demo_command,
	&cli_mcp_command,
	NULL,
};

const struct command cli_root = {
	.name = "pyro",
	.summary = "Disposable microVM workspaces for coding agents, as a CLI and an MCP server",
	.subcommands = cli_commands,
};

static int write_all(FILE *f, const struct buf *b)
{
	if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
		return -1;
	return fflush(f);
}

static int print_top_help(FILE *dest)
{
	struct buf out = BUF_INIT;
	cmd_help(&cli_root, "pyro", &out);
	buf_append_str(&out, "\nMore options (only as the first argument):\n"
			     "  --version                 Print the version and exit.\n"
			     "  --install-links DIR       Create a symlink in DIR for every applet.\n"
			     "\nApplets (run as a symlink of that name, or as 'pyro APPLET ...'):\n");
	for (size_t i = 0; i < applet_count; i++)
		buf_printf(&out, "  %-26s%s\n", applet_table[i].name, applet_table[i].summary);
	int rc = write_all(dest, &out);
	buf_release(&out);
	return rc < 0 ? PYRO_EXIT_FAILURE : PYRO_EXIT_OK;
}

static int render_result(struct cmd_call *call)
{
	struct buf out = BUF_INIT;
	bool as_json = false;
	for (const struct arg_spec *a = call->cmd->args; a && a->name; a++)
		if (strcmp(a->name, "json") == 0 && a->type == ARG_BOOL)
			as_json = cmd_bool(call, "json");
	int rc = 0;
	if (call->result && (as_json || !call->cmd->render)) {
		rc = json_emit(&out, call->result, JSON_EMIT_PRETTY | JSON_EMIT_SORT_KEYS);
		if (rc == 0)
			rc = buf_append_char(&out, '\n');
	} else if (call->cmd->render) {
		rc = call->cmd->render(call, &out);
	}
	if (rc == 0)
		rc = write_all(stdout, &out);
	buf_release(&out);
	if (rc < 0) {
		log_error("cannot write the result to stdout");
		return PYRO_EXIT_FAILURE;
	}
	return PYRO_EXIT_OK;
}

int cli_run(int argc, char **argv)
{
	struct cmd_call call;
	struct buf help = BUF_INIT;
	int rc = cmd_parse_argv(&cli_root, "pyro", argc, argv, &call, &help);
	int status;
	if (rc == 1) {
		status = write_all(stdout, &help) < 0 ? PYRO_EXIT_FAILURE : PYRO_EXIT_OK;
	} else if (rc < 0) {
		log_error("%s", call.err.msg);
		status = call.err.code ? call.err.code : PYRO_EXIT_USAGE;
	} else {
		status = cmd_call_run(&call);
		if (status == 0) {
			status = render_result(&call);
			if (status == 0)
				status = call.exit_status;
		} else
			log_error("%s", call.err.msg);
	}
	buf_release(&help);
	cmd_call_release(&call);
	return status;
}

int applet_pyro_main(int argc, char **argv)
{
	log_set_prog("pyro");
	log_level_from_env();
	if (argc > 1) {
		const char *first = argv[1];
		if (strcmp(first, "--version") == 0) {
			printf("pyro %s\n", PYRO_VERSION);
			return PYRO_EXIT_OK;
		}
		if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0)
			return print_top_help(stdout);
		if (strcmp(first, "--install-links") == 0) {
			if (argc != 3) {
				log_error("usage: pyro --install-links DIR");
				return PYRO_EXIT_USAGE;
			}
			char self[PATH_MAX];
			ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
			if (n <= 0) {
				log_error("cannot find the pyro binary through /proc/self/exe; "
					  "is /proc mounted?");
				return PYRO_EXIT_FAILURE;
			}
			self[n] = '\0';
			return applet_install_links(argv[2], self);
		}
	}
	if (argc < 2) {
		print_top_help(stderr);
		return PYRO_EXIT_USAGE;
	}
	return cli_run(argc - 1, argv + 1);
}
