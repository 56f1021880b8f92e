/* Fuzz the agent's request handling: arbitrary bytes as a request header,
 * run through the action table the way a connection does, for the actions
 * that only touch files (hello and the live file actions) against a
 * private root, and through the service readiness parser (which is all of
 * start_service that reads outside input; the rest starts processes).
 * Properties: no crash or leak; an action either answers an object or
 * fails with a non-empty message; nothing is created outside the root's
 * /workspace (the root's other entries never change). */
#include "fuzz.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/json.h"
#include "../../guest-init/agent.h"
#include "../../guest-init/agent_service.h"

static char root[64];

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	(void)!system(cmd);
}

static void setup(void)
{
	snprintf(root, sizeof root, "/tmp/pyro-fuzz-agentreq-XXXXXX");
	FUZZ_ASSERT(mkdtemp(root) != NULL);
	char p[128];
	snprintf(p, sizeof p, "%s/workspace", root);
	FUZZ_ASSERT(mkdir(p, 0755) == 0);
	FUZZ_ASSERT(agent_set_root(root, NULL) == 0);
	atexit(cleanup);
}

/* The root holds exactly "workspace" and nothing else. */
static void check_root(void)
{
	DIR *d = opendir(root);
	FUZZ_ASSERT(d != NULL);
	struct dirent *de;
	while ((de = readdir(d)))
		FUZZ_ASSERT(!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			    !strcmp(de->d_name, "workspace"));
	closedir(d);
}

static bool allowed(const char *action)
{
	static const char *const ok[] = { "hello", "list_workspace", "read_workspace_file",
					  "write_workspace_file", "delete_workspace_path", NULL };
	for (const char *const *p = ok; *p; p++)
		if (!strcmp(*p, action))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!root[0])
		setup();
	if (size > 65536)
		return 0;
	struct json_doc *doc = json_doc_new();
	struct json_value *req;
	struct pyro_err err;
	if (json_parse(doc, (const char *)data, size, NULL, &req, &err) == 0 &&
	    req->type == JSON_OBJECT) {
		const char *action = json_get_str(req, "action");
		const struct agent_action *a = action ? agent_find_action(action) : NULL;
		const struct json_value *ready = json_get(req, "readiness");
		if (action && !strcmp(action, "start_service") && ready && ready->type == JSON_OBJECT) {
			struct agent_call c = { .req = req, .action = action, .doc = doc,
						.resp_body_fd = -1 };
			struct svc_probe p;
			struct json_value *norm = NULL;
			memset(&err, 0, sizeof err);
			if (svc_probe_parse(&c, ready, &p, &norm, &err) < 0)
				FUZZ_ASSERT(err.msg[0] != 0);
			else
				FUZZ_ASSERT(norm && norm->type == JSON_OBJECT && p.type >= SVC_PROBE_FILE &&
					    p.type <= SVC_PROBE_COMMAND);
		} else if (a && allowed(action)) {
			struct agent_call c = { .req = req, .action = action, .doc = doc,
						.resp = json_object(doc), .resp_body_fd = -1 };
			memset(&err, 0, sizeof err);
			if (a->run(&c, &err) < 0)
				FUZZ_ASSERT(err.msg[0] != 0);
			else
				FUZZ_ASSERT(c.resp && c.resp->type == JSON_OBJECT);
			check_root();
		}
	}
	json_doc_free(doc);
	return 0;
}
