/* --help text generated from the command tables. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

#define HELP_WIDTH 80
#define HELP_COLUMN 26

/* Append `text` wrapped to HELP_WIDTH, continuation lines indented by
 * `indent`; `col` is the column the first line starts at. */
static void wrap(struct buf *out, const char *text, size_t indent, size_t col)
{
	const char *p = text;
	while (*p) {
		while (*p == ' ')
			p++;
		size_t word = strcspn(p, " ");
		if (word == 0)
			break;
		if (col > indent && col + 1 + word > HELP_WIDTH) {
			buf_append_char(out, '\n');
			for (size_t i = 0; i < indent; i++)
				buf_append_char(out, ' ');
			col = indent;
		} else if (col > indent) {
			buf_append_char(out, ' ');
			col++;
		}
		buf_append(out, p, word);
		col += word;
		p += word;
	}
	buf_append_char(out, '\n');
}

static void left_column(struct buf *out, const char *left)
{
	size_t start = out->len;
	buf_printf(out, "  %s", left);
	size_t used = out->len - start;
	if (used + 2 > HELP_COLUMN) {
		buf_append_char(out, '\n');
		used = 0;
	}
	while (used < HELP_COLUMN) {
		buf_append_char(out, ' ');
		used++;
	}
}

static void describe_arg(const struct arg_spec *a, struct buf *out)
{
	struct buf help = BUF_INIT;
	buf_append_str(&help, a->help ? a->help : "");
	if (a->type == ARG_ENUM && a->choices) {
		buf_append_str(&help, " One of: ");
		for (const char *const *c = a->choices; *c; c++)
			buf_printf(&help, "%s%s", c == a->choices ? "" : ", ", *c);
		buf_append_char(&help, '.');
	}
	if ((a->flags & ARG_HAS_BOUNDS) && a->type == ARG_INT)
		buf_printf(&help, " Range %lld-%lld.", (long long)a->min, (long long)a->max);
	if ((a->flags & ARG_REQUIRED) && !(a->flags & ARG_POSITIONAL))
		buf_append_str(&help, " Required.");
	if (a->def && a->type != ARG_BOOL)
		buf_printf(&help, " Default: %s.", a->def);
	if (a->type == ARG_STRING_LIST && !(a->flags & ARG_POSITIONAL))
		buf_append_str(&help, " May be given more than once.");

	char left[128];
	char name[96];
	cmd_arg_cli_name(a, name, sizeof name);
	if ((a->flags & ARG_POSITIONAL) || a->type == ARG_BOOL)
		snprintf(left, sizeof left, "%s%s", name, a->flags & ARG_REST ? "..." : "");
	else
		snprintf(left, sizeof left, "%s %s", name, a->metavar ? a->metavar : "VALUE");
	left_column(out, left);
	wrap(out, help.data, HELP_COLUMN, HELP_COLUMN);
	buf_release(&help);
}

static void describe_groups(const struct command *cmd, struct buf *out)
{
	for (const struct arg_spec *a = cmd->args; a && a->name; a++) {
		if (!a->group)
			continue;
		/* Print each group once, at its first member. */
		const struct arg_spec *first = cmd->args;
		while (!first->group || strcmp(first->group, a->group) != 0)
			first++;
		if (first != a)
			continue;
		struct buf line = BUF_INIT;
		buf_append_str(&line, "Use at most one of:");
		for (const struct arg_spec *b = a; b->name; b++) {
			if (!b->group || strcmp(b->group, a->group) != 0)
				continue;
			char name[96];
			cmd_arg_cli_name(b, name, sizeof name);
			buf_printf(&line, " %s", name);
		}
		buf_append_char(&line, '.');
		wrap(out, line.data, 2, 0);
		buf_release(&line);
	}
}

int cmd_help(const struct command *cmd, const char *path, struct buf *out)
{
	bool has_options = false, has_positionals = false;
	buf_printf(out, "Usage: %s", path);
	if (cmd->subcommands)
		buf_append_str(out, cmd->run ? " [COMMAND]" : " COMMAND");
	for (const struct arg_spec *a = cmd->args; a && a->name; a++) {
		if (a->flags & ARG_MCP_ONLY)
			continue;
		if (!(a->flags & ARG_POSITIONAL)) {
			has_options = true;
			continue;
		}
	}
	if (has_options)
		buf_append_str(out, " [OPTIONS]");
	for (const struct arg_spec *a = cmd->args; a && a->name; a++) {
		if (!(a->flags & ARG_POSITIONAL) || (a->flags & ARG_MCP_ONLY))
			continue;
		has_positionals = true;
		char name[96];
		cmd_arg_cli_name(a, name, sizeof name);
		bool req = a->flags & ARG_REQUIRED;
		buf_printf(out, " %s%s%s%s", req ? "" : "[", a->flags & ARG_REST ? "-- " : "",
			   name, a->flags & ARG_REST ? "..." : "");
		if (!req)
			buf_append_char(out, ']');
	}
	buf_append_str(out, "\n\n");
	wrap(out, cmd->summary ? cmd->summary : "", 0, 0);
	if (cmd->description) {
		buf_append_char(out, '\n');
		wrap(out, cmd->description, 0, 0);
	}
	if (cmd->subcommands) {
		buf_append_str(out, "\nCommands:\n");
		for (const struct command *const *c = cmd->subcommands; *c; c++) {
			left_column(out, (*c)->name);
			wrap(out, (*c)->summary ? (*c)->summary : "", HELP_COLUMN, HELP_COLUMN);
		}
	}
	if (has_positionals) {
		buf_append_str(out, "\nArguments:\n");
		for (const struct arg_spec *a = cmd->args; a && a->name; a++)
			if ((a->flags & ARG_POSITIONAL) && !(a->flags & ARG_MCP_ONLY))
				describe_arg(a, out);
	}
	buf_append_str(out, "\nOptions:\n");
	for (const struct arg_spec *a = cmd->args; a && a->name; a++)
		if (!(a->flags & (ARG_POSITIONAL | ARG_MCP_ONLY)))
			describe_arg(a, out);
	left_column(out, "-h, --help");
	buf_append_str(out, "Show this help and exit.\n");
	describe_groups(cmd, out);
	if (cmd->subcommands)
		buf_printf(out, "\nRun '%s COMMAND --help' for a command's options.\n", path);
	return 0;
}
