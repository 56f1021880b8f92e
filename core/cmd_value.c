#include "cmd_value.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "fault.h"

const char *cmd_type_name(enum arg_type t)
{
	switch (t) {
	case ARG_BOOL: return "boolean";
	case ARG_INT: return "integer";
	case ARG_STRING: return "string";
	case ARG_ENUM: return "choice";
	case ARG_STRING_LIST: return "list";
	}
	return "?";
}

static void join_choices(const struct arg_spec *a, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (const char *const *c = a->choices; c && *c && n < cap; c++) {
		int w = snprintf(out + n, cap - n, "%s%s", c == a->choices ? "" : ", ", *c);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

int cmd_value_check_int(const struct arg_spec *a, const char *label, int64_t i,
			struct pyro_err *err)
{
	if ((a->flags & ARG_HAS_BOUNDS) && (i < a->min || i > a->max))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "%s must be between %" PRId64 " and %" PRId64 " (got %" PRId64 ")",
				    label, a->min, a->max, i);
	return 0;
}

int cmd_value_check_choice(const struct arg_spec *a, const char *label, const char *s,
			   struct pyro_err *err)
{
	for (const char *const *c = a->choices; c && *c; c++)
		if (strcmp(*c, s) == 0)
			return 0;
	char choices[512];
	join_choices(a, choices, sizeof choices);
	return pyro_err_set(err, PYRO_EXIT_USAGE, "%s must be one of: %s (got '%s')", label,
			    choices, s);
}

int cmd_value_list_push(struct arg_value *v, const char *s, struct pyro_err *err)
{
	/* Keep a NULL terminator after the last item for callers that want it. */
	const char **grown = pyro_realloc(v->list, (v->count + 2) * sizeof *grown);
	if (!grown)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	grown[v->count++] = s;
	grown[v->count] = NULL;
	v->list = grown;
	v->has_value = true;
	return 0;
}

int cmd_value_from_text(const struct arg_spec *a, const char *label, const char *text,
			struct arg_value *v, struct pyro_err *err)
{
	switch (a->type) {
	case ARG_BOOL:
		if (strcmp(text, "true") == 0)
			v->b = true;
		else if (strcmp(text, "false") == 0)
			v->b = false;
		else
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "%s must be true or false (got '%s')", label, text);
		break;
	case ARG_INT: {
		char *end;
		errno = 0;
		long long n = strtoll(text, &end, 10);
		if (text[0] == '\0' || *end != '\0' || errno == ERANGE || text[0] == ' ' ||
		    text[0] == '+') {
			if (a->flags & ARG_HAS_BOUNDS)
				return pyro_err_set(err, PYRO_EXIT_USAGE,
						    "%s must be an integer between %" PRId64
						    " and %" PRId64 " (got '%s')",
						    label, a->min, a->max, text);
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "%s must be an integer (got '%s')", label, text);
		}
		if (cmd_value_check_int(a, label, n, err) < 0)
			return -1;
		v->i = n;
		break;
	}
	case ARG_ENUM:
		if (cmd_value_check_choice(a, label, text, err) < 0)
			return -1;
		v->s = text;
		break;
	case ARG_STRING:
		v->s = text;
		break;
	case ARG_STRING_LIST:
		return cmd_value_list_push(v, text, err);
	}
	v->has_value = true;
	return 0;
}

static void spell(const struct arg_spec *a, bool mcp, char *out, size_t cap)
{
	if (mcp)
		snprintf(out, cap, "%s", a->name);
	else
		cmd_arg_cli_name(a, out, cap);
}

int cmd_values_finish(const struct command *cmd, struct cmd_call *call, bool mcp)
{
	const struct arg_spec *args = cmd->args;
	for (size_t i = 0; args && args[i].name; i++) {
		const struct arg_spec *a = &args[i];
		struct arg_value *v = &call->values[i];
		char label[96];
		spell(a, mcp, label, sizeof label);
		if (v->present)
			continue;
		if (a->flags & ARG_REQUIRED) {
			if ((a->flags & ARG_REST) && !mcp)
				return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
						    "'%s' needs %s (after --). See '%s --help'",
						    call->path, label, call->path);
			return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
					    "'%s' needs %s%s. See '%s --help'", call->path,
					    mcp ? "argument " : "", label, call->path);
		}
		if (a->def) {
			/* Defaults are table data: a bad one is a programming error. */
			if (cmd_value_from_text(a, label, a->def, v, &call->err) < 0)
				return pyro_err_wrap(&call->err, "internal error: bad default");
		} else if (a->type == ARG_BOOL) {
			v->b = false;
			v->has_value = true;
		}
	}
	/* Exclusive groups: at most one explicitly given member per group. */
	for (size_t i = 0; args && args[i].name; i++) {
		if (!args[i].group || !call->values[i].present)
			continue;
		for (size_t j = i + 1; args[j].name; j++) {
			if (!args[j].group || !call->values[j].present ||
			    strcmp(args[i].group, args[j].group) != 0)
				continue;
			char a_label[96], b_label[96];
			spell(&args[i], mcp, a_label, sizeof a_label);
			spell(&args[j], mcp, b_label, sizeof b_label);
			return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
					    "%s and %s cannot be used together; choose one",
					    a_label, b_label);
		}
	}
	return 0;
}
