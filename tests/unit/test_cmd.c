/* The declarative command machinery: CLI parsing, help, MCP schema and
 * JSON binding, all from one table. */
#include <stdlib.h>

#include "../../core/cmd.h"
#include "../../core/exitcodes.h"
#include "../../core/fault.h"
#include <errno.h>
#include "test.h"

static int ran;
static int run_ok(struct cmd_call *call)
{
	(void)call;
	ran++;
	return 0;
}

static const char *const modes[] = { "repro-fix", "inspect", NULL };

static const struct arg_spec run_args[] = {
	{ .name = "environment", .type = ARG_STRING, .flags = ARG_POSITIONAL | ARG_REQUIRED,
	  .metavar = "ENVIRONMENT", .help = "Environment to boot." },
	{ .name = "vcpu_count", .type = ARG_INT, .flags = ARG_HAS_BOUNDS, .def = "1",
	  .min = 1, .max = 8, .metavar = "N", .help = "vCPUs." },
	{ .name = "mode", .type = ARG_ENUM, .choices = modes, .group = "shape",
	  .metavar = "MODE", .help = "Named mode." },
	{ .name = "profile", .type = ARG_STRING, .group = "shape", .metavar = "PROFILE",
	  .help = "Tool profile." },
	{ .name = "label", .type = ARG_STRING_LIST, .metavar = "KEY=VALUE", .help = "Label." },
	{ .name = "network", .type = ARG_BOOL, .help = "Give the guest a NIC." },
	{ .name = "json", .type = ARG_BOOL, .flags = ARG_CLI_ONLY, .help = "JSON output." },
	{ .name = "command", .type = ARG_STRING_LIST,
	  .flags = ARG_POSITIONAL | ARG_REST | ARG_REQUIRED, .metavar = "COMMAND",
	  .help = "Command to run." },
	{ 0 },
};

static const struct command run_cmd = {
	.name = "run", .summary = "Run a command", .args = run_args, .run = run_ok,
	.tool = "vm_run",
};
static const struct command list_cmd = { .name = "list", .summary = "List", .run = run_ok };
static const struct command *const env_subs[] = { &list_cmd, NULL };
static const struct command env_cmd = { .name = "env", .summary = "Environments",
					.subcommands = env_subs };
static const struct command *const root_subs[] = { &run_cmd, &env_cmd, NULL };
static const struct command root = { .name = "tool", .summary = "Test tool",
				     .subcommands = root_subs };

/* Parse a NULL-terminated word list; returns cmd_parse_argv's result. */
static int parse(struct cmd_call *call, struct buf *help, const char **words)
{
	int argc = 0;
	while (words[argc])
		argc++;
	return cmd_parse_argv(&root, "tool", argc, (char **)words, call, help);
}

TEST(cmd_parses_positionals_options_and_rest)
{
	struct cmd_call call;
	struct buf help = BUF_INIT;
	const char *w[] = { "run", "debian:12", "--vcpu-count", "4", "--label", "a=1",
			    "--label=b=2", "--network", "--", "echo", "--not-a-flag", NULL };
	CHECK(parse(&call, &help, w) == 0);
	CHECK_STR(call.path, "tool run");
	CHECK_STR(cmd_str(&call, "environment"), "debian:12");
	CHECK(cmd_int(&call, "vcpu_count") == 4);
	CHECK(cmd_bool(&call, "network"));
	CHECK(!cmd_bool(&call, "json"));
	size_t n;
	const char *const *labels = cmd_list(&call, "label", &n);
	CHECK(n == 2);
	CHECK_STR(labels[0], "a=1");
	CHECK_STR(labels[1], "b=2");
	const char *const *command = cmd_list(&call, "command", &n);
	CHECK(n == 2);
	CHECK_STR(command[0], "echo");
	CHECK_STR(command[1], "--not-a-flag");
	ran = 0;
	CHECK(cmd_call_run(&call) == 0 && ran == 1);
	cmd_call_release(&call);
	buf_release(&help);
}

static const struct arg_spec opt_env_args[] = {
	{ .name = "environment", .type = ARG_STRING, .flags = ARG_POSITIONAL, .metavar = "ENV" },
	{ .name = "command", .type = ARG_STRING_LIST,
	  .flags = ARG_POSITIONAL | ARG_REST | ARG_REQUIRED, .metavar = "COMMAND" },
	{ 0 },
};

TEST(cmd_double_dash_feeds_the_rest_argument)
{
	const struct command opt_env = { .name = "x", .summary = "x", .args = opt_env_args,
					 .run = run_ok };
	struct cmd_call call;
	struct buf help = BUF_INIT;
	char *w[] = { "--", "ls", "-la", NULL };
	CHECK(cmd_parse_argv(&opt_env, "x", 3, w, &call, &help) == 0);
	CHECK(cmd_str(&call, "environment") == NULL);
	size_t n;
	const char *const *c = cmd_list(&call, "command", &n);
	CHECK(n == 2);
	CHECK_STR(c[0], "ls");
	cmd_call_release(&call);
	char *w2[] = { "debian", "--", "-x", NULL };
	CHECK(cmd_parse_argv(&opt_env, "x", 3, w2, &call, &help) == 0);
	CHECK_STR(cmd_str(&call, "environment"), "debian");
	CHECK_STR(cmd_list(&call, "command", &n)[0], "-x");
	cmd_call_release(&call);
	buf_release(&help);
}

TEST(cmd_applies_defaults_and_marks_given)
{
	struct cmd_call call;
	struct buf help = BUF_INIT;
	const char *w[] = { "run", "env", "true", NULL };
	CHECK(parse(&call, &help, w) == 0);
	CHECK(cmd_int(&call, "vcpu_count") == 1);
	CHECK(!cmd_given(&call, "vcpu_count"));
	CHECK(cmd_str(&call, "mode") == NULL);
	size_t n = 9;
	CHECK(cmd_list(&call, "label", &n) == NULL && n == 0);
	/* Without "--", the rest starts at the first word after the positionals. */
	CHECK_STR(cmd_list(&call, "command", &n)[0], "true");
	cmd_call_release(&call);
	buf_release(&help);
}

static void expect_usage(const char **w, const char *needle)
{
	struct cmd_call call;
	struct buf help = BUF_INIT;
	int rc = parse(&call, &help, w);
	if (rc != -1 || call.err.code != PYRO_EXIT_USAGE)
		test_fail(__FILE__, __LINE__, "expected a usage error");
	else if (!strstr(call.err.msg, needle))
		test_fail_str(__FILE__, __LINE__, "usage message", call.err.msg, needle);
	cmd_call_release(&call);
	buf_release(&help);
}

TEST(cmd_usage_errors_say_what_was_wrong)
{
	expect_usage((const char *[]){ "bogus", NULL }, "unknown command 'bogus' for 'tool'");
	expect_usage((const char *[]){ "rn", NULL }, "did you mean 'run'?");
	expect_usage((const char *[]){ "bogus", NULL }, "Commands: run, env");
	expect_usage((const char *[]){ NULL }, "'tool' needs a command: run, env");
	expect_usage((const char *[]){ "env", NULL }, "'tool env' needs a command: list");
	expect_usage((const char *[]){ "run", "e", "--vcpu-cont", "2", "x", NULL },
		     "did you mean '--vcpu-count'?");
	expect_usage((const char *[]){ "run", "e", "-x", NULL }, "unknown option '-x'");
	expect_usage((const char *[]){ "run", "e", "--vcpu-count", "9", "x", NULL },
		     "--vcpu-count must be between 1 and 8 (got 9)");
	expect_usage((const char *[]){ "run", "e", "--vcpu-count", "2x", "x", NULL },
		     "--vcpu-count must be an integer between 1 and 8 (got '2x')");
	expect_usage((const char *[]){ "run", "e", "--vcpu-count", NULL },
		     "--vcpu-count needs a value (N)");
	expect_usage((const char *[]){ "run", "e", "--vcpu-count", "1", "--vcpu-count", "2",
				       "x", NULL },
		     "--vcpu-count was given more than once");
	expect_usage((const char *[]){ "run", "e", "--mode", "fix", "x", NULL },
		     "--mode must be one of: repro-fix, inspect (got 'fix')");
	expect_usage((const char *[]){ "run", "e", "--mode", "inspect", "--profile", "p", "x",
				       NULL },
		     "--mode and --profile cannot be used together");
	expect_usage((const char *[]){ "run", "e", "--network=yes", "x", NULL },
		     "--network takes no value");
	expect_usage((const char *[]){ "run", NULL }, "'tool run' needs ENVIRONMENT");
	expect_usage((const char *[]){ "run", "e", NULL }, "'tool run' needs COMMAND (after --)");
	/* "--" does not feed a required positional that comes before the rest. */
	expect_usage((const char *[]){ "run", "--", "ls", "-la", NULL },
		     "'tool run' needs ENVIRONMENT");
	expect_usage((const char *[]){ "env", "list", "extra", NULL },
		     "unexpected argument 'extra' for 'tool env list'");
}

TEST(cmd_help_is_generated_from_the_table)
{
	struct cmd_call call;
	struct buf help = BUF_INIT;
	const char *w[] = { "run", "--help", NULL };
	CHECK(parse(&call, &help, w) == 1);
	CHECK_CONTAINS(help.data, "Usage: tool run [OPTIONS] ENVIRONMENT -- COMMAND...");
	CHECK_CONTAINS(help.data, "--vcpu-count N");
	CHECK_CONTAINS(help.data, "Range 1-8. Default: 1.");
	CHECK_CONTAINS(help.data, "One of: repro-fix, inspect.");
	CHECK_CONTAINS(help.data, "Use at most one of: --mode --profile.");
	CHECK_CONTAINS(help.data, "May be given more than once.");
	CHECK_CONTAINS(help.data, "-h, --help");
	cmd_call_release(&call);
	buf_reset(&help);
	const char *w2[] = { "env", "-h", NULL };
	CHECK(parse(&call, &help, w2) == 1);
	CHECK_CONTAINS(help.data, "Usage: tool env COMMAND");
	CHECK_CONTAINS(help.data, "list");
	cmd_call_release(&call);
	buf_release(&help);
}

TEST(cmd_schema_matches_the_cli_rows)
{
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *schema = cmd_input_schema(&run_cmd, doc);
	CHECK(schema);
	struct buf out = BUF_INIT;
	CHECK(json_emit(&out, schema, JSON_EMIT_SORT_KEYS) == 0);
	CHECK_STR(out.data,
		  "{\"additionalProperties\":false,\"properties\":{"
		  "\"command\":{\"description\":\"Command to run.\",\"items\":{\"type\":\"string\"},\"type\":\"array\"},"
		  "\"environment\":{\"description\":\"Environment to boot.\",\"type\":\"string\"},"
		  "\"label\":{\"description\":\"Label.\",\"items\":{\"type\":\"string\"},\"type\":\"array\"},"
		  "\"mode\":{\"description\":\"Named mode.\",\"enum\":[\"repro-fix\",\"inspect\"],\"type\":\"string\"},"
		  "\"network\":{\"description\":\"Give the guest a NIC.\",\"type\":\"boolean\"},"
		  "\"profile\":{\"description\":\"Tool profile.\",\"type\":\"string\"},"
		  "\"vcpu_count\":{\"default\":1,\"description\":\"vCPUs.\",\"maximum\":8,\"minimum\":1,\"type\":\"integer\"}},"
		  "\"required\":[\"environment\",\"command\"],\"type\":\"object\"}");
	buf_release(&out);
	json_doc_free(doc);
}

static int bind_text(struct cmd_call *call, const char *text, struct json_doc *doc)
{
	struct json_value *v;
	struct pyro_err err;
	if (json_parse(doc, text, strlen(text), NULL, &v, &err) < 0)
		return -2;
	return cmd_bind_json(&run_cmd, "vm_run", v, call);
}

TEST(cmd_binds_mcp_arguments_like_the_cli)
{
	struct json_doc *doc = json_doc_new();
	struct cmd_call call;
	CHECK(bind_text(&call,
			"{\"environment\":\"debian:12\",\"command\":[\"echo\",\"hi\"],"
			"\"vcpu_count\":2.0,\"network\":true}",
			doc) == 0);
	CHECK_STR(cmd_str(&call, "environment"), "debian:12");
	CHECK(cmd_int(&call, "vcpu_count") == 2);
	CHECK(cmd_bool(&call, "network"));
	size_t n;
	CHECK_STR(cmd_list(&call, "command", &n)[1], "hi");
	cmd_call_release(&call);
	json_doc_free(doc);
}

static void expect_bind_error(const char *text, const char *needle)
{
	struct json_doc *doc = json_doc_new();
	struct cmd_call call;
	int rc = bind_text(&call, text, doc);
	if (rc != -1 || call.err.code != PYRO_EXIT_USAGE)
		test_fail(__FILE__, __LINE__, text);
	else if (!strstr(call.err.msg, needle))
		test_fail_str(__FILE__, __LINE__, "bind message", call.err.msg, needle);
	cmd_call_release(&call);
	json_doc_free(doc);
}

TEST(cmd_bind_rejects_bad_mcp_arguments)
{
	expect_bind_error("[]", "arguments for vm_run must be a JSON object, not array");
	expect_bind_error("{\"environment\":\"e\",\"command\":[\"x\"],\"json\":true}",
			  "unknown argument 'json' for vm_run");
	expect_bind_error("{\"environment\":\"e\",\"command\":[\"x\"],\"vcpu_count\":\"2\"}",
			  "argument 'vcpu_count' must be an integer, not string");
	expect_bind_error("{\"environment\":\"e\",\"command\":[\"x\"],\"vcpu_count\":2.5}",
			  "argument 'vcpu_count' must be an integer (got 2.5)");
	expect_bind_error("{\"environment\":\"e\",\"command\":[\"x\"],\"vcpu_count\":0}",
			  "vcpu_count must be between 1 and 8 (got 0)");
	expect_bind_error("{\"environment\":\"e\",\"command\":[1]}",
			  "argument 'command' item 0 must be a string");
	expect_bind_error("{\"environment\":\"e\\u0000x\",\"command\":[\"x\"]}",
			  "must not contain NUL");
	expect_bind_error("{\"command\":[\"x\"]}", "needs argument environment");
	expect_bind_error("{\"environment\":\"e\",\"command\":[\"x\"],\"mode\":\"inspect\","
			  "\"profile\":\"p\"}",
			  "mode and profile cannot be used together");
	expect_bind_error("{\"environment\":\"e\",\"command\":[\"x\"],\"mode\":\"nope\"}",
			  "mode must be one of: repro-fix, inspect (got 'nope')");
}

TEST(cmd_survives_allocation_failure_in_lists)
{
	struct cmd_call call;
	struct buf help = BUF_INIT;
	fault_arm(FAULT_ALLOC, 1, ENOMEM);
	const char *w[] = { "run", "e", "--label", "a", "x", NULL };
	CHECK(parse(&call, &help, w) == -1);
	CHECK(call.err.code == PYRO_EXIT_INTERNAL);
	CHECK_CONTAINS(call.err.msg, "out of memory");
	cmd_call_release(&call);
	buf_release(&help);
}
