/* Running the planned network commands (netplan.h): one spawn_run each,
 * stderr captured for the error message. */
#include "netplan.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "exitcodes.h"
#include "spawn.h"

#define RUN_TIMEOUT_MS 30000
#define STDERR_CAP 4096 /* captured; the message keeps less */
#define STDERR_SHOWN 300

static const char setup_fix[] =
	"run pyro as root, allow passwordless sudo for ip, nft and iptables (`sudo -n` must "
	"not ask for a password), or run without --network";

/* The command's stderr as one short line: newlines become "; ", trailing
 * white space goes, and it is cut at STDERR_SHOWN bytes. */
static void tidy(const struct buf *b, char *dst, size_t cap)
{
	size_t n = 0, len = b->len;
	while (len && (b->data[len - 1] == '\n' || b->data[len - 1] == ' ' ||
		       b->data[len - 1] == '\r' || b->data[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < len && n + 3 < cap && n < STDERR_SHOWN; i++) {
		char ch = b->data[i];
		if (ch == '\n') {
			dst[n++] = ';';
			dst[n++] = ' ';
		} else {
			dst[n++] = (ch == '\r' || ch == '\t') ? ' ' : ch;
		}
	}
	dst[n] = '\0';
}

/* Run command i of c. 0 when it exited 0; else -1 and a sentence in why
 * ("`CMD` exited with status N: STDERR"). */
static int run_cmd(const struct netplan_cmds *c, int i, const struct netplan_exec *ex, char *why,
		   size_t cap)
{
	char line[400], msg[STDERR_SHOWN + 8];
	netplan_cmd_format(c, i, line, sizeof line);
	struct buf eb;
	buf_init(&eb, STDERR_CAP);
	struct spawn_opts so = {
		.argv = c->argv[i],
		.envp = ex ? ex->envp : NULL,
		.timeout_ms = ex && ex->timeout_ms ? ex->timeout_ms : RUN_TIMEOUT_MS,
		.err = { SPAWN_PIPE, &eb, 0 },
	};
	struct spawn_result r;
	struct pyro_err se = { 0 };
	int rc = -1;
	if (spawn_run(&so, &r, &se) < 0) {
		snprintf(why, cap, "`%.280s`: %.280s", line, se.msg);
	} else if (r.timed_out) {
		snprintf(why, cap, "`%.280s`: %.60s", line, r.message);
	} else if (r.exit_code != 0) {
		tidy(&eb, msg, sizeof msg);
		snprintf(why, cap, "`%.280s` exited with status %d%s%.300s", line, r.exit_code,
			 msg[0] ? ": " : "", msg);
	} else {
		rc = 0;
	}
	buf_release(&eb);
	return rc;
}

/* Undo what setup commands 0..done-1 added: the teardown commands their
 * undo[] names, in teardown order. The first failure goes into note. */
static void roll_back(const struct netplan_cmds *setup, int done,
		      const struct netplan_cmds *teardown, const struct netplan_exec *ex,
		      char *note, size_t cap)
{
	bool need[NETPLAN_CMDS_MAX] = { false };
	for (int j = 0; j < done; j++)
		if (setup->undo[j] >= 0 && setup->undo[j] < teardown->count)
			need[setup->undo[j]] = true;
	char why[640];
	for (int k = 0; k < teardown->count; k++)
		if (need[k] && run_cmd(teardown, k, ex, why, sizeof why) < 0 && !note[0])
			snprintf(note, cap, " (undoing the earlier steps failed too: %s; remove "
				 "what is left by hand)", why);
}

int netplan_run(const struct netplan_cmds *setup, const struct netplan_cmds *teardown,
		const struct netplan_exec *ex, struct pyro_err *err)
{
	char why[640];
	for (int i = 0; i < setup->count; i++) {
		if (run_cmd(setup, i, ex, why, sizeof why) == 0)
			continue;
		char note[720] = "";
		if (teardown)
			roll_back(setup, i, teardown, ex, note, sizeof note);
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "network setup failed: %s; %s%s", why,
				    setup_fix, note);
	}
	return 0;
}

int netplan_run_teardown(const struct netplan_cmds *teardown, const struct netplan_exec *ex,
			 struct pyro_err *err)
{
	int rc = 0;
	char why[640];
	for (int i = 0; i < teardown->count; i++) {
		if (run_cmd(teardown, i, ex, why, sizeof why) == 0 || rc < 0)
			continue;
		rc = pyro_err_set(err, PYRO_EXIT_FAILURE,
				  "network teardown failed: %s; the remaining steps were still run. "
				  "Remove what is left as root (ip link, nft list ruleset, iptables "
				  "-S)", why);
	}
	return rc;
}
