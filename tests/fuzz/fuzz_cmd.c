/* Fuzz the command-table front ends with outside input: argv words (split
 * on NUL bytes) for the CLI parser, and JSON tool arguments for the MCP
 * binder, against a table that uses every argument type and flag, and
 * against the real `pyro` table. Handlers are never run. The first byte
 * picks the front end. */
#include "fuzz.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../applets/cli.h"
#include "../../core/cmd.h"
#include "../../core/exitcodes.h"

static const char *const choices[] = { "a", "bb", "ccc", NULL };

static const struct arg_spec every_arg[] = {
	{ .name = "target", .type = ARG_STRING, .flags = ARG_POSITIONAL | ARG_REQUIRED },
	{ .name = "count", .type = ARG_INT, .flags = ARG_HAS_BOUNDS, .min = -5, .max = 500,
	  .def = "3" },
	{ .name = "plain_int", .type = ARG_INT },
	{ .name = "pick", .type = ARG_ENUM, .choices = choices, .group = "g", .def = "a" },
	{ .name = "other", .type = ARG_STRING, .group = "g" },
	{ .name = "tag", .type = ARG_STRING_LIST },
	{ .name = "flag", .type = ARG_BOOL },
	{ .name = "json", .type = ARG_BOOL, .flags = ARG_CLI_ONLY },
	{ .name = "secret", .type = ARG_STRING, .flags = ARG_MCP_ONLY },
	{ .name = "rest", .type = ARG_STRING_LIST, .flags = ARG_POSITIONAL | ARG_REST },
	{ 0 },
};

static int never_run(struct cmd_call *call)
{
	(void)call;
	abort();
}

static const struct command leaf = { .name = "leaf", .summary = "leaf", .args = every_arg,
				     .run = never_run };
static const struct command *const subs[] = { &leaf, NULL };
static const struct command root = { .name = "fz", .summary = "fuzz", .subcommands = subs };

static void check_call(const struct cmd_call *call, int rc)
{
	/* A failed parse always explains itself with a usage or internal code. */
	if (rc < 0 && (call->err.msg[0] == '\0' ||
		       (call->err.code != PYRO_EXIT_USAGE && call->err.code != PYRO_EXIT_INTERNAL)))
		abort();
	if (rc == 0 && call->cmd == &leaf) {
		/* Bounds and choices hold for every accepted value. */
		int64_t n = cmd_int(call, "count");
		if (n < -5 || n > 500)
			abort();
		const char *pick = cmd_str(call, "pick");
		if (pick && strcmp(pick, "a") && strcmp(pick, "bb") && strcmp(pick, "ccc"))
			abort();
		if (!cmd_str(call, "target"))
			abort();
	}
}

static void fuzz_argv(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	if (!copy)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	char *words[33];
	int argc = 0;
	for (size_t i = 0; i <= size && argc < 33;) {
		words[argc++] = copy + i;
		i += strlen(copy + i) + 1;
	}
	const struct command *tables[] = { &root, &cli_root };
	for (size_t t = 0; t < 2; t++) {
		struct cmd_call call;
		struct buf help = BUF_INIT;
		int rc = cmd_parse_argv(tables[t], "fz", argc, words, &call, &help);
		check_call(&call, rc);
		cmd_call_release(&call);
		buf_release(&help);
	}
	free(copy);
}

static void fuzz_json_args(const uint8_t *data, size_t size)
{
	struct json_doc *doc = json_doc_new();
	if (!doc)
		return;
	struct json_value *args;
	struct json_limits limits = { 1 << 16, 16, 1 << 12 };
	if (json_parse(doc, (const char *)data, size, &limits, &args, NULL) == 0) {
		struct cmd_call call;
		int rc = cmd_bind_json(&leaf, "fz_leaf", args, &call);
		check_call(&call, rc);
		cmd_call_release(&call);
	}
	json_doc_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 4096)
		return 0;
	if (data[0] & 1)
		fuzz_json_args(data + 1, size - 1);
	else
		fuzz_argv(data + 1, size - 1);
	return 0;
}
