/* Command-line parsing and help, driven by the command tables (cmd.h). */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_value.h"
#include "exitcodes.h"
#include "fault.h"

/* ---- names and lookups ------------------------------------------------ */

void cmd_arg_cli_name(const struct arg_spec *a, char *out, size_t cap)
{
	size_t n = 0;
	if (a->flags & ARG_POSITIONAL) {
		const char *src = a->metavar ? a->metavar : a->name;
		for (; *src && n + 1 < cap; src++)
			out[n++] = (char)(*src >= 'a' && *src <= 'z' ? *src - 32 : *src);
	} else {
		if (cap > 3) {
			out[n++] = '-';
			out[n++] = '-';
		}
		for (const char *s = a->name; *s && n + 1 < cap; s++)
			out[n++] = *s == '_' ? '-' : *s;
	}
	out[n < cap ? n : cap - 1] = '\0';
}

static size_t count_args(const struct command *cmd)
{
	size_t n = 0;
	while (cmd->args && cmd->args[n].name)
		n++;
	return n;
}

/* Edit distance, for "did you mean" suggestions. Inputs past 63 bytes are
 * never close enough to suggest. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 64;
	size_t row[64];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const struct command *find_subcommand(const struct command *cmd, const char *name)
{
	for (const struct command *const *c = cmd->subcommands; c && *c; c++)
		if (strcmp((*c)->name, name) == 0)
			return *c;
	return NULL;
}

static const struct arg_spec *find_option(const struct command *cmd, const char *flag,
					  size_t flag_len)
{
	for (const struct arg_spec *a = cmd->args; a && a->name; a++) {
		if (a->flags & (ARG_POSITIONAL | ARG_MCP_ONLY))
			continue;
		char cli[96];
		cmd_arg_cli_name(a, cli, sizeof cli);
		if (strlen(cli) == flag_len && memcmp(cli, flag, flag_len) == 0)
			return a;
	}
	return NULL;
}

static void list_subcommands(const struct command *cmd, struct buf *out)
{
	for (const struct command *const *c = cmd->subcommands; c && *c; c++)
		buf_printf(out, "%s%s", c == cmd->subcommands ? "" : ", ", (*c)->name);
}

/* ---- usage errors ------------------------------------------------------ */

static int unknown_command(struct cmd_call *call, const struct command *cmd,
			   const char *path, const char *word)
{
	struct buf known = BUF_INIT;
	list_subcommands(cmd, &known);
	const char *best = NULL;
	size_t best_d = 3;
	for (const struct command *const *c = cmd->subcommands; c && *c; c++) {
		size_t d = edit_distance(word, (*c)->name);
		if (d < best_d) {
			best_d = d;
			best = (*c)->name;
		}
	}
	pyro_err_set(&call->err, PYRO_EXIT_USAGE,
		     "unknown command '%s' for '%s'%s%s%s. Commands: %s. See '%s --help'",
		     word, path, best ? " (did you mean '" : "", best ? best : "",
		     best ? "'?)" : "", known.data, path);
	buf_release(&known);
	return -1;
}

static int unknown_option(struct cmd_call *call, const struct command *cmd,
			  const char *path, const char *flag, size_t flag_len)
{
	char given[96];
	snprintf(given, sizeof given, "%.*s", (int)(flag_len < 90 ? flag_len : 90), flag);
	const char *best = NULL;
	char best_name[96];
	size_t best_d = 3;
	for (const struct arg_spec *a = cmd->args; a && a->name; a++) {
		if (a->flags & (ARG_POSITIONAL | ARG_MCP_ONLY))
			continue;
		char cli[96];
		cmd_arg_cli_name(a, cli, sizeof cli);
		size_t d = edit_distance(given, cli);
		if (d < best_d) {
			best_d = d;
			memcpy(best_name, cli, sizeof best_name);
			best = best_name;
		}
	}
	return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
			    "unknown option '%s' for '%s'%s%s%s. See '%s --help'", given,
			    path, best ? " (did you mean '" : "", best ? best : "",
			    best ? "'?)" : "", path);
}

/* ---- parsing ----------------------------------------------------------- */

static int path_append(char *path, size_t cap, const char *word)
{
	size_t used = strlen(path);
	int n = snprintf(path + used, cap - used, " %s", word);
	return n < 0 || (size_t)n >= cap - used ? -1 : 0;
}

/* Descend from root through subcommand words. On success *cmd_out is a
 * command with a handler and *next the index of its first argument. */
static int descend(const struct command *root, const char *prog, int argc, char **argv,
		   struct cmd_call *call, struct buf *help_out, char *path, size_t path_cap,
		   const struct command **cmd_out, int *next)
{
	const struct command *cmd = root;
	int i = 0;
	snprintf(path, path_cap, "%s", prog);
	while (cmd->subcommands) {
		if (i >= argc) {
			if (cmd->run)
				break;
			struct buf known = BUF_INIT;
			list_subcommands(cmd, &known);
			pyro_err_set(&call->err, PYRO_EXIT_USAGE,
				     "'%s' needs a command: %s. See '%s --help'", path,
				     known.data, path);
			buf_release(&known);
			return -1;
		}
		const char *word = argv[i];
		if (strcmp(word, "-h") == 0 || strcmp(word, "--help") == 0) {
			cmd_help(cmd, path, help_out);
			return 1;
		}
		const struct command *sub = find_subcommand(cmd, word);
		if (!sub) {
			if (cmd->run && word[0] == '-')
				break;
			return unknown_command(call, cmd, path, word);
		}
		if (path_append(path, path_cap, sub->name) < 0)
			return pyro_err_set(&call->err, PYRO_EXIT_INTERNAL, "command path too long");
		cmd = sub;
		i++;
	}
	*cmd_out = cmd;
	*next = i;
	return 0;
}

static int take_value(struct cmd_call *call, const struct arg_spec *a, size_t idx,
		      const char *text, const char *path)
{
	char cli[96];
	cmd_arg_cli_name(a, cli, sizeof cli);
	struct arg_value *v = &call->values[idx];
	if (v->present && a->type != ARG_STRING_LIST)
		return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
				    "%s was given more than once for '%s'", cli, path);
	if (cmd_value_from_text(a, cli, text, v, &call->err) < 0)
		return -1;
	v->present = true;
	return 0;
}

static int parse_args(const struct command *cmd, int argc, char **argv, int i,
		      struct cmd_call *call, struct buf *help_out)
{
	const char *path = call->path;
	size_t nargs = count_args(cmd);
	size_t next_positional = 0;
	bool options_done = false;

	for (; i < argc; i++) {
		const char *word = argv[i];
		if (!options_done && strcmp(word, "--") == 0) {
			options_done = true;
			continue;
		}
		if (!options_done && (strcmp(word, "-h") == 0 || strcmp(word, "--help") == 0)) {
			cmd_help(cmd, path, help_out);
			return 1;
		}
		if (!options_done && word[0] == '-' && word[1] != '\0') {
			if (word[1] != '-')
				return unknown_option(call, cmd, path, word, strlen(word));
			const char *eq = strchr(word, '=');
			size_t flag_len = eq ? (size_t)(eq - word) : strlen(word);
			const struct arg_spec *a = find_option(cmd, word, flag_len);
			if (!a)
				return unknown_option(call, cmd, path, word, flag_len);
			size_t idx = (size_t)(a - cmd->args);
			char cli[96];
			cmd_arg_cli_name(a, cli, sizeof cli);
			if (a->type == ARG_BOOL) {
				if (eq)
					return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
							    "%s takes no value (got '%s')", cli,
							    eq + 1);
				if (take_value(call, a, idx, "true", path) < 0)
					return -1;
				continue;
			}
			const char *text = eq ? eq + 1 : NULL;
			if (!text) {
				if (i + 1 >= argc)
					return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
							    "%s needs a value (%s)", cli,
							    a->metavar ? a->metavar : "VALUE");
				text = argv[++i];
			}
			if (take_value(call, a, idx, text, path) < 0)
				return -1;
			continue;
		}
		/* A positional word: the next positional argument takes it.
		 * After "--", a command with a rest argument (`run ENV -- CMD`)
		 * gives every word to that argument, skipping optional
		 * positionals that were not given. */
		const struct arg_spec *a = NULL;
		if (options_done) {
			const struct arg_spec *rest = NULL;
			for (size_t k = 0; k < nargs && !rest; k++)
				if ((cmd->args[k].flags & ARG_REST) &&
				    !(cmd->args[k].flags & ARG_MCP_ONLY))
					rest = &cmd->args[k];
			if (rest)
				next_positional = (size_t)(rest - cmd->args);
		}
		while (next_positional < nargs) {
			const struct arg_spec *cand = &cmd->args[next_positional];
			if ((cand->flags & ARG_POSITIONAL) && !(cand->flags & ARG_MCP_ONLY)) {
				a = cand;
				break;
			}
			next_positional++;
		}
		if (!a)
			return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
					    "unexpected argument '%s' for '%s'. See '%s --help'",
					    word, path, path);
		size_t idx = (size_t)(a - cmd->args);
		if (a->flags & ARG_REST) {
			/* Everything from here on belongs to it, verbatim. */
			for (; i < argc; i++)
				if (take_value(call, a, idx, argv[i], path) < 0)
					return -1;
			break;
		}
		if (take_value(call, a, idx, word, path) < 0)
			return -1;
		next_positional++;
	}
	return cmd_values_finish(cmd, call, false);
}

int cmd_parse_argv(const struct command *root, const char *prog, int argc,
		   char **argv, struct cmd_call *call, struct buf *help_out)
{
	memset(call, 0, sizeof *call);
	char *path = call->path_buf;
	const struct command *cmd = NULL;
	int i = 0;
	int rc = descend(root, prog, argc, argv, call, help_out, path, sizeof call->path_buf, &cmd, &i);
	if (rc != 0)
		return rc;
	if (count_args(cmd) > CMD_MAX_ARGS)
		return pyro_err_set(&call->err, PYRO_EXIT_INTERNAL,
				    "'%s' declares more than %d arguments", path, CMD_MAX_ARGS);
	call->cmd = cmd;
	call->path = path;
	return parse_args(cmd, argc, argv, i, call, help_out);
}

/* ---- running and access ------------------------------------------------ */

int cmd_call_run(struct cmd_call *call)
{
	if (!call->cmd || !call->cmd->run)
		return pyro_err_set(&call->err, PYRO_EXIT_INTERNAL, "no handler"),
		       PYRO_EXIT_INTERNAL;
	int status = call->cmd->run(call);
	if (status != 0 && call->err.code == 0)
		call->err.code = status;
	return status;
}

void cmd_call_release(struct cmd_call *call)
{
	for (size_t i = 0; i < CMD_MAX_ARGS; i++) {
		free(call->values[i].list);
		call->values[i].list = NULL;
	}
	if (call->doc)
		json_doc_free(call->doc);
	call->doc = NULL;
	call->result = NULL;
}

static const struct arg_value *value_of(const struct cmd_call *call, const char *name,
					enum arg_type type)
{
	for (const struct arg_spec *a = call->cmd->args; a && a->name; a++) {
		if (strcmp(a->name, name) != 0)
			continue;
		if (a->type != type && !(type == ARG_STRING && a->type == ARG_ENUM))
			break;
		return &call->values[a - call->cmd->args];
	}
	fprintf(stderr, "pyro: internal error: '%s' has no %s argument '%s'\n",
		call->path ? call->path : "?", cmd_type_name(type), name);
	abort();
}

const char *cmd_str(const struct cmd_call *call, const char *name)
{
	const struct arg_value *v = value_of(call, name, ARG_STRING);
	return v->has_value ? v->s : NULL;
}

int64_t cmd_int(const struct cmd_call *call, const char *name)
{
	return value_of(call, name, ARG_INT)->i;
}

bool cmd_bool(const struct cmd_call *call, const char *name)
{
	return value_of(call, name, ARG_BOOL)->b;
}

const char *const *cmd_list(const struct cmd_call *call, const char *name, size_t *count)
{
	const struct arg_value *v = value_of(call, name, ARG_STRING_LIST);
	if (count)
		*count = v->count;
	return v->list;
}

bool cmd_given(const struct cmd_call *call, const char *name)
{
	for (const struct arg_spec *a = call->cmd->args; a && a->name; a++)
		if (strcmp(a->name, name) == 0)
			return call->values[a - call->cmd->args].present;
	return false;
}

struct json_value *cmd_result_object(struct cmd_call *call)
{
	if (call->result)
		return call->result;
	if (!call->doc)
		call->doc = json_doc_new();
	if (call->doc)
		call->result = json_object(call->doc);
	if (!call->result)
		pyro_err_set(&call->err, PYRO_EXIT_INTERNAL, "out of memory building the result");
	return call->result;
}
