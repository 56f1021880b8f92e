/* The host client against the real agent code, in-process: a thread
 * accepts on a UNIX socket in a temp root and serves each connection with
 * agent_serve_connection(), exactly as pyro-guest-agent --root does. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../core/agentclient.h"
#include "../../core/exitcodes.h"
#include "../../guest-init/agent.h"

struct fake_vm {
	char root[128];
	char sock[160];
	int lfd;
	bool handshake; /* answer Firecracker's CONNECT first */
	bool serve;     /* false: accept nothing, answer nothing */
	pthread_t thread;
};

static void *accept_loop(void *arg)
{
	struct fake_vm *vm = arg;
	for (;;) {
		int c = accept4(vm->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			return NULL; /* shut down */
		if (vm->handshake) {
			char line[64];
			size_t n = 0;
			while (n + 1 < sizeof line && read(c, line + n, 1) == 1 && line[n] != '\n')
				n++;
			line[n] = 0;
			if (strncmp(line, "CONNECT ", 8) != 0) {
				close(c);
				continue;
			}
			if (strcmp(line + 8, "5005") != 0) {
				(void)!write(c, "NO\n", 3);
				close(c);
				continue;
			}
			(void)!write(c, "OK 1073741824\n", 14);
		}
		agent_serve_connection(c);
	}
}

static int vm_start(struct fake_vm *vm, bool handshake, bool serve)
{
	memset(vm, 0, sizeof *vm);
	signal(SIGPIPE, SIG_IGN);
	snprintf(vm->root, sizeof vm->root, "/tmp/pyro-agentclient-XXXXXX");
	if (!mkdtemp(vm->root))
		return -1;
	char ws[256];
	snprintf(ws, sizeof ws, "%s/workspace", vm->root);
	mkdir(ws, 0755);
	if (agent_set_root(vm->root, NULL) < 0)
		return -1;
	snprintf(vm->sock, sizeof vm->sock, "%s/agent.sock", vm->root);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, vm->sock);
	vm->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (vm->lfd < 0 || bind(vm->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(vm->lfd, 16) < 0)
		return -1;
	vm->handshake = handshake;
	vm->serve = serve;
	if (serve && pthread_create(&vm->thread, NULL, accept_loop, vm) != 0)
		return -1;
	return 0;
}

static void vm_stop(struct fake_vm *vm)
{
	shutdown(vm->lfd, SHUT_RDWR);
	if (vm->serve)
		pthread_join(vm->thread, NULL);
	close(vm->lfd);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", vm->root);
	(void)!system(cmd);
}

TEST(agentclient_hello_and_exec_against_the_agent)
{
	struct fake_vm vm;
	CHECK(vm_start(&vm, false, true) == 0);
	struct agent_target t = { .uds_path = vm.sock, .timeout_ms = 10000 };
	struct json_doc *doc = json_doc_new();
	struct json_value *resp;
	struct pyro_err err;
	CHECK(agentclient_hello(&t, doc, &resp, &err) == 0);
	CHECK_STR(json_get_str(resp, "agent"), "pyro-guest-agent");

	struct json_value *env = json_object(doc);
	json_set_str(doc, env, "GREETING", "hi there");
	const char *redact[] = { "s3cret", NULL };
	struct agent_exec_request rq = {
		.command = "echo \"$GREETING\"; pwd; echo s3cret; echo oops >&2; exit 7",
		.timeout_seconds = 10,
		.cwd = "sub/dir",
		.env = env,
		.redact_values = redact,
	};
	struct agent_exec_result res;
	CHECK(agentclient_exec(&t, doc, &rq, &res, &err) == 0);
	CHECK(res.exit_code == 7);
	char want[400];
	snprintf(want, sizeof want, "hi there\n%s/workspace/sub/dir\n[REDACTED]\n", vm.root);
	CHECK_STR(res.stdout_text, want);
	CHECK_STR(res.stderr_text, "oops\n");
	CHECK(!res.timed_out && !res.stdout_truncated);

	rq = (struct agent_exec_request){ .command = "echo started; sleep 30",
					  .timeout_seconds = 1 };
	CHECK(agentclient_exec(&t, doc, &rq, &res, &err) == 0);
	CHECK(res.exit_code == 124 && res.timed_out);
	CHECK_STR(res.stdout_text, "started\n");
	CHECK_STR(res.stderr_text, "command timed out after 1s");

	/* The agent's own error comes back verbatim. */
	rq = (struct agent_exec_request){ .command = "true", .timeout_seconds = 1, .cwd = "/etc" };
	CHECK(agentclient_exec(&t, doc, &rq, &res, &err) < 0);
	CHECK_CONTAINS(err.msg, "must stay inside /workspace");
	CHECK(agentclient_action(&t, doc, "no_such_action", NULL, &resp, &err) < 0);
	CHECK_STR(err.msg, "unsupported action: no_such_action");
	json_doc_free(doc);
	vm_stop(&vm);
}

TEST(agentclient_file_actions_round_trip)
{
	struct fake_vm vm;
	CHECK(vm_start(&vm, true, true) == 0);
	struct agent_target t = { .uds_path = vm.sock, .hybrid_connect = true, .port = 5005,
				  .timeout_ms = 10000 };
	struct json_doc *doc = json_doc_new();
	struct json_value *resp;
	struct pyro_err err;
	CHECK(agentclient_write_workspace_file(&t, doc, "src/app.py", "print('hi')\n", 12, &resp,
					       &err) == 0);
	CHECK_STR(json_get_str(resp, "path"), "/workspace/src/app.py");

	/* Binary content survives base64. */
	char bin[300];
	snprintf(bin, sizeof bin, "%s/workspace/src/blob", vm.root);
	FILE *f = fopen(bin, "wb");
	CHECK(f != NULL);
	fwrite("\x00\xff\x01", 1, 3, f);
	fclose(f);
	struct buf content = BUF_INIT;
	CHECK(agentclient_read_workspace_file(&t, doc, "/workspace/src/blob", 100, &content, &resp,
					      &err) == 0);
	CHECK(content.len == 3 && memcmp(content.data, "\x00\xff\x01", 3) == 0);
	bool trunc = true;
	CHECK(json_get_bool(resp, "truncated", &trunc) && !trunc);
	buf_reset(&content);
	CHECK(agentclient_read_workspace_file(&t, doc, "src/app.py", 5, &content, &resp, &err) == 0);
	CHECK_STR(content.data, "print");
	CHECK(json_get_bool(resp, "truncated", &trunc) && trunc);
	buf_release(&content);

	CHECK(agentclient_list_workspace(&t, doc, "/workspace", true, &resp, &err) == 0);
	const struct json_value *entries = json_get(resp, "entries");
	CHECK(entries && entries->type == JSON_ARRAY && entries->u.array.len == 3);
	CHECK_STR(json_get_str(entries->u.array.items[0], "path"), "/workspace/src");
	CHECK_STR(json_get_str(entries->u.array.items[1], "path"), "/workspace/src/app.py");
	CHECK_STR(json_get_str(entries->u.array.items[2], "artifact_type"), "file");

	CHECK(agentclient_delete_workspace_path(&t, doc, "src/app.py", &resp, &err) == 0);
	CHECK(agentclient_delete_workspace_path(&t, doc, "src/app.py", &resp, &err) < 0);
	CHECK_STR(err.msg, "workspace path does not exist: /workspace/src/app.py");

	/* The bridge refuses another port. */
	t.port = 7;
	CHECK(agentclient_hello(&t, doc, &resp, &err) < 0);
	CHECK_CONTAINS(err.msg, "rejected port 7");
	json_doc_free(doc);
	vm_stop(&vm);
}

TEST(agentclient_unreachable_and_silent_agents_give_clear_errors)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *resp;
	struct pyro_err err;
	struct agent_target t = { .uds_path = "/nonexistent/pyro/agent.sock", .timeout_ms = 2000 };
	CHECK(agentclient_hello(&t, doc, &resp, &err) < 0);
	CHECK_STR(err.msg, "cannot reach the guest agent at /nonexistent/pyro/agent.sock: No such "
			   "file or directory (is the VM running?)");
	CHECK(err.code == PYRO_EXIT_FAILURE);

	/* Something listens but never answers: the call's deadline ends it. */
	struct fake_vm vm;
	CHECK(vm_start(&vm, false, false) == 0);
	t.uds_path = vm.sock;
	t.timeout_ms = 300;
	CHECK(agentclient_hello(&t, doc, &resp, &err) < 0);
	CHECK(err.code == PYRO_EXIT_TIMEOUT);
	CHECK_CONTAINS(err.msg, "the guest agent did not answer within 1 s");
	json_doc_free(doc);
	vm_stop(&vm);
}
