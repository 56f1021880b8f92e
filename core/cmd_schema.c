/* The MCP face of the command tables: a JSON Schema per command and the
 * binding of tool-call arguments into the same cmd_call the CLI fills. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmd_value.h"
#include "exitcodes.h"

static bool mcp_visible(const struct arg_spec *a)
{
	return !(a->flags & ARG_CLI_ONLY);
}

static const struct arg_spec *find_property(const struct command *cmd, const char *name,
					    size_t len)
{
	for (const struct arg_spec *a = cmd->args; a && a->name; a++)
		if (mcp_visible(a) && strlen(a->name) == len && memcmp(a->name, name, len) == 0)
			return a;
	return NULL;
}

static int unknown_property(const struct command *cmd, struct cmd_call *call,
			    const struct json_member *m)
{
	struct buf known = BUF_INIT;
	for (const struct arg_spec *a = cmd->args; a && a->name; a++)
		if (mcp_visible(a))
			buf_printf(&known, "%s%s", known.len ? ", " : "", a->name);
	pyro_err_set(&call->err, PYRO_EXIT_USAGE,
		     "unknown argument '%.*s' for %s; accepted arguments: %s",
		     (int)(m->key_len > 64 ? 64 : m->key_len), m->key, call->path,
		     known.len ? known.data : "none");
	buf_release(&known);
	return -1;
}

static int wrong_type(struct cmd_call *call, const struct arg_spec *a, const char *want,
		      const struct json_value *got)
{
	return pyro_err_set(&call->err, PYRO_EXIT_USAGE, "argument '%s' must be %s, not %s",
			    a->name, want, json_type_name(got->type));
}

static int bind_one(struct cmd_call *call, const struct arg_spec *a, struct arg_value *v,
		    const struct json_value *j)
{
	switch (a->type) {
	case ARG_BOOL:
		if (j->type != JSON_BOOL)
			return wrong_type(call, a, "a boolean", j);
		v->b = j->u.boolean;
		break;
	case ARG_INT: {
		if (j->type != JSON_NUMBER)
			return wrong_type(call, a, "an integer", j);
		int64_t i;
		if (j->u.number.is_int) {
			i = j->u.number.i;
		} else {
			double d = j->u.number.d;
			/* JSON Schema "integer" accepts 5.0; reject 5.5 and huge values. */
			if (d < -9.0e18 || d > 9.0e18 || d != (double)(int64_t)d)
				return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
						    "argument '%s' must be an integer (got %g)",
						    a->name, d);
			i = (int64_t)d;
		}
		if (cmd_value_check_int(a, a->name, i, &call->err) < 0)
			return -1;
		v->i = i;
		break;
	}
	case ARG_STRING:
	case ARG_ENUM:
		if (j->type != JSON_STRING)
			return wrong_type(call, a, "a string", j);
		if (strlen(j->u.string.ptr) != j->u.string.len)
			return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
					    "argument '%s' must not contain NUL characters",
					    a->name);
		if (a->type == ARG_ENUM &&
		    cmd_value_check_choice(a, a->name, j->u.string.ptr, &call->err) < 0)
			return -1;
		v->s = j->u.string.ptr;
		break;
	case ARG_STRING_LIST:
		if (j->type != JSON_ARRAY)
			return wrong_type(call, a, "an array of strings", j);
		for (size_t k = 0; k < j->u.array.len; k++) {
			const struct json_value *item = j->u.array.items[k];
			if (item->type != JSON_STRING ||
			    strlen(item->u.string.ptr) != item->u.string.len)
				return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
						    "argument '%s' item %zu must be a string "
						    "without NUL characters",
						    a->name, k);
			if (cmd_value_list_push(v, item->u.string.ptr, &call->err) < 0)
				return -1;
		}
		break;
	}
	v->has_value = true;
	v->present = true;
	return 0;
}

int cmd_bind_json(const struct command *cmd, const char *path,
		  const struct json_value *args, struct cmd_call *call)
{
	memset(call, 0, sizeof *call);
	call->cmd = cmd;
	snprintf(call->path_buf, sizeof call->path_buf, "%s", path);
	call->path = call->path_buf;
	if (args && args->type == JSON_NULL)
		args = NULL;
	if (args && args->type != JSON_OBJECT)
		return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
				    "arguments for %s must be a JSON object, not %s", path,
				    json_type_name(args->type));
	for (size_t k = 0; args && k < args->u.object.len; k++) {
		const struct json_member *m = &args->u.object.members[k];
		const struct arg_spec *a = find_property(cmd, m->key, m->key_len);
		if (!a)
			return unknown_property(cmd, call, m);
		if (bind_one(call, a, &call->values[a - cmd->args], m->value) < 0)
			return -1;
	}
	return cmd_values_finish(cmd, call, true);
}

static struct json_value *default_value(struct json_doc *doc, const struct arg_spec *a)
{
	switch (a->type) {
	case ARG_BOOL:
		return json_bool(doc, strcmp(a->def, "true") == 0);
	case ARG_INT:
		return json_int(doc, strtoll(a->def, NULL, 10));
	default:
		return json_string(doc, a->def);
	}
}

static struct json_value *property_schema(struct json_doc *doc, const struct arg_spec *a)
{
	static const char *const type_names[] = {
		[ARG_BOOL] = "boolean", [ARG_INT] = "integer", [ARG_STRING] = "string",
		[ARG_ENUM] = "string", [ARG_STRING_LIST] = "array",
	};
	struct json_value *p = json_object(doc);
	int rc = p ? 0 : -1;
	rc |= json_set_str(doc, p, "type", type_names[a->type]);
	if (a->help)
		rc |= json_set_str(doc, p, "description", a->help);
	if (a->type == ARG_ENUM) {
		struct json_value *e = json_array(doc);
		for (const char *const *c = a->choices; c && *c; c++)
			rc |= json_array_push(doc, e, json_string(doc, *c));
		rc |= json_object_set(doc, p, "enum", e);
	}
	if (a->type == ARG_INT && (a->flags & ARG_HAS_BOUNDS)) {
		rc |= json_set_int(doc, p, "minimum", a->min);
		rc |= json_set_int(doc, p, "maximum", a->max);
	}
	if (a->type == ARG_STRING_LIST) {
		struct json_value *items = json_object(doc);
		rc |= json_set_str(doc, items, "type", "string");
		rc |= json_object_set(doc, p, "items", items);
	}
	if (a->def)
		rc |= json_object_set(doc, p, "default", default_value(doc, a));
	return rc == 0 ? p : NULL;
}

struct json_value *cmd_input_schema(const struct command *cmd, struct json_doc *doc)
{
	struct json_value *schema = json_object(doc);
	struct json_value *props = json_object(doc);
	struct json_value *required = json_array(doc);
	int rc = schema && props && required ? 0 : -1;
	rc |= json_set_str(doc, schema, "type", "object");
	for (const struct arg_spec *a = cmd->args; rc == 0 && a && a->name; a++) {
		if (!mcp_visible(a))
			continue;
		rc |= json_object_set(doc, props, a->name, property_schema(doc, a));
		if (a->flags & ARG_REQUIRED)
			rc |= json_array_push(doc, required, json_string(doc, a->name));
	}
	rc |= json_object_set(doc, schema, "properties", props);
	if (rc == 0 && required->u.array.len)
		rc |= json_object_set(doc, schema, "required", required);
	rc |= json_set_bool(doc, schema, "additionalProperties", false);
	return rc == 0 ? schema : NULL;
}
