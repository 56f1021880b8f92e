/* `pyro run ENV -- CMD...` and `pyro demo`: one command in a fresh VM that
 * is deleted afterwards.
 *
 * Streams: phase markers and the summary line go to stderr, the command's
 * stdout to stdout and its stderr to stderr, so `pyro run ... > out` keeps
 * only what the command printed. The exit status is the command's.
 *
 * Interrupts: SIGINT, SIGTERM and SIGHUP are taken by a thread of their
 * own (sigwait), which tears the VM down (its supervisor, so its VMM, then
 * its directory) before the process exits with 128+signal. A harder death
 * (SIGKILL) is covered by the supervisor: the run process is the VM's
 * owner, and the supervisor deletes an owned VM when its owner dies. */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/vmmanager.h"
#include "cli.h"

/* ---- the interrupt guard ---- */

static struct {
	pthread_mutex_t mu;
	char vm_dir[PATH_MAX]; /* "" until created */
	char vm_id[RANDID_SIZE];
	int cancel[2];         /* a byte: stop (kills a host-compat command) */
	volatile int done;     /* vm_run returned */
} guard = { PTHREAD_MUTEX_INITIALIZER, "", "", { -1, -1 }, 0 };

static void *interrupt_thread(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;
	while (sigwait(set, &sig) != 0)
		;
	pthread_mutex_lock(&guard.mu);
	if (guard.vm_dir[0]) {
		fprintf(stderr, "[run] interrupted (%s); deleting vm %s\n", strsignal(sig),
			guard.vm_id);
		/* A host-compat command runs in a process group of its own,
		 * which the terminal's signal does not reach: the cancel pipe
		 * makes spawn_run kill it. Give that a moment. */
		if (guard.cancel[1] >= 0)
			(void)!write(guard.cancel[1], "x", 1);
		vm_abandon(guard.vm_dir);
		for (int i = 0; i < 200 && !guard.done; i++) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	fflush(stdout);
	_exit(128 + sig);
	return NULL;
}

/* Block the signals in every thread (before any other thread exists) and
 * let one thread wait for them. */
static void guard_install(void)
{
	static sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_t t;
	if (pthread_create(&t, NULL, interrupt_thread, &set) == 0)
		pthread_detach(t);
}

struct run_progress {
	bool quiet; /* --json: no phase lines */
};

static void on_phase(void *ctx, const char *phase, const struct vm_record *r)
{
	struct run_progress *p = ctx;
	if (!strcmp(phase, "create")) {
		pthread_mutex_lock(&guard.mu);
		snprintf(guard.vm_dir, sizeof guard.vm_dir, "%s", r->dir);
		snprintf(guard.vm_id, sizeof guard.vm_id, "%s", r->vm_id);
		pthread_mutex_unlock(&guard.mu);
	}
	if (p->quiet)
		return;
	if (!strcmp(phase, "create")) {
		fprintf(stderr, "[run] phase=create environment=%s\n", r->environment);
	} else if (!strcmp(phase, "pull")) {
		fprintf(stderr, "[run] phase=pull environment=%s (not in the cache yet: "
				"downloading it)\n", r->environment);
	} else {
		fprintf(stderr, "[run] phase=%s vm_id=%s\n", phase, r->vm_id);
		if (!strcmp(phase, "start") && !strcmp(r->accel, "tcg"))
			fprintf(stderr, "[run] note: booting under QEMU software emulation (TCG, "
					"PYRO_ACCEL=tcg), which is much slower than KVM\n");
		if (!strcmp(phase, "start") && !strcmp(r->backend, "host"))
			fprintf(stderr, "[run] note: no guest backend; running on the host "
					"(--allow-host-compat), not in a VM\n");
	}
	fflush(stderr);
}

/* shlex.join: each word as is when it is made of safe characters, else
 * in single quotes ('"'"' for a quote inside). */
static int join_command(const char *const *words, size_t n, struct buf *out)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789@%+=:,./-_";
	for (size_t i = 0; i < n; i++) {
		const char *w = words[i];
		int rc = i ? buf_append_char(out, ' ') : 0;
		if (*w && strspn(w, safe) == strlen(w)) {
			rc |= buf_append_str(out, w);
		} else {
			rc |= buf_append_char(out, '\'');
			for (const char *c = w; *c; c++)
				rc |= *c == '\'' ? buf_append_str(out, "'\"'\"'") : buf_append_char(out, *c);
			rc |= buf_append_char(out, '\'');
		}
		if (rc)
			return -1;
	}
	return 0;
}

static int run_in_vm(struct cmd_call *call, struct vm_run_opts *o, bool quiet)
{
	procid_of(getpid(), &o->create.owner);
	struct run_progress rp = { quiet };
	struct vm_progress pg = { on_phase, &rp };
	if (pipe2(guard.cancel, O_CLOEXEC) == 0)
		vm_set_cancel_fd(guard.cancel[0]);
	guard_install();
	call->doc = json_doc_new();
	if (!call->doc)
		return pyro_err_set(&call->err, PYRO_EXIT_INTERNAL, "out of memory"),
		       PYRO_EXIT_INTERNAL;
	int rc = vm_run(o, &pg, call->doc, &call->result, &call->err);
	guard.done = 1;
	pthread_mutex_lock(&guard.mu);
	guard.vm_dir[0] = '\0';
	pthread_mutex_unlock(&guard.mu);
	if (rc < 0)
		return call->err.code ? call->err.code : PYRO_EXIT_FAILURE;
	int64_t code = 0;
	json_get_int(call->result, "exit_code", &code);
	call->exit_status = code < 0 || code > 255 ? PYRO_EXIT_FAILURE : (int)code;
	return 0;
}

static int run_run(struct cmd_call *call)
{
	size_t n = 0;
	const char *const *words = cmd_list(call, "command", &n);
	if (n == 0)
		return pyro_err_set(&call->err, PYRO_EXIT_USAGE,
				    "no command given: pyro run ENVIRONMENT -- COMMAND [ARG...]"),
		       PYRO_EXIT_USAGE;
	struct buf command = BUF_INIT;
	if (join_command(words, n, &command) < 0) {
		buf_release(&command);
		return pyro_err_set(&call->err, PYRO_EXIT_INTERNAL, "out of memory"),
		       PYRO_EXIT_INTERNAL;
	}
	struct vm_run_opts o = {
		.create = {
			.environment = cmd_str(call, "environment"),
			.vcpu_count = (int)cmd_int(call, "vcpu_count"),
			.mem_mib = (int)cmd_int(call, "mem_mib"),
			.ttl_seconds = (int)cmd_int(call, "ttl_seconds"),
			.network = cmd_bool(call, "network"),
			.allow_host_compat = cmd_bool(call, "allow_host_compat"),
		},
		.command = command.data,
		.timeout_seconds = (int)cmd_int(call, "timeout_seconds"),
	};
	int rc = run_in_vm(call, &o, cmd_bool(call, "json"));
	buf_release(&command);
	return rc;
}

/* The command's own output, then the summary line. */
static int render_run(const struct cmd_call *call, struct buf *out)
{
	const struct json_value *r = call->result;
	const struct json_value *so = json_get(r, "stdout"), *se = json_get(r, "stderr");
	(void)out;
	/* Straight to the streams, in order: the command's output first, the
	 * summary last (a terminal shows them as they happened). */
	if (so && so->type == JSON_STRING && so->u.string.len &&
	    (fwrite(so->u.string.ptr, 1, so->u.string.len, stdout) != so->u.string.len ||
	     fflush(stdout) != 0))
		return -1;
	if (se && se->type == JSON_STRING && se->u.string.len) {
		(void)!fwrite(se->u.string.ptr, 1, se->u.string.len, stderr);
		if (se->u.string.ptr[se->u.string.len - 1] != '\n')
			fputc('\n', stderr);
	}
	int64_t code = 0, ms = 0;
	json_get_int(r, "exit_code", &code);
	json_get_int(r, "duration_ms", &ms);
	fprintf(stderr, "[run] environment=%s execution_mode=%s exit_code=%lld duration_ms=%lld\n",
		json_get_str(r, "environment"), json_get_str(r, "execution_mode"), (long long)code,
		(long long)ms);
	return 0;
}

static const struct arg_spec run_args[] = {
	{ .name = "environment", .type = ARG_STRING, .flags = ARG_POSITIONAL | ARG_REQUIRED,
	  .metavar = "ENVIRONMENT", .help = "The environment to boot (pyro env list)." },
	{ .name = "command", .type = ARG_STRING_LIST,
	  .flags = ARG_POSITIONAL | ARG_REST | ARG_REQUIRED, .metavar = "COMMAND",
	  .help = "The command and its arguments, after --." },
	VM_ARG_VCPU_COUNT,
	VM_ARG_MEM_MIB,
	VM_ARG_TIMEOUT_SECONDS,
	VM_ARG_TTL_SECONDS,
	VM_ARG_NETWORK,
	VM_ARG_ALLOW_HOST_COMPAT,
	CLI_JSON_ARG,
	{ 0 },
};

const struct command cli_run_command = {
	.name = "run",
	.summary = "Run one command in a fresh microVM, then delete the VM",
	.description = "Creates a VM from the environment, boots it, runs the command through "
		       "the guest agent, prints its output and deletes the VM. The exit status "
		       "is the command's (124 when it timed out). Phase lines and the summary go "
		       "to stderr; --json prints one structured result instead.",
	.args = run_args,
	.run = run_run,
	.render = render_run,
};

/* ---- demo ---- */

static int run_demo(struct cmd_call *call)
{
	const char *env = cmd_str(call, "environment");
	/* Deterministic: the same command and the same shape of answer each
	 * time. The Debian images have git (the original's demo command);
	 * the tiny test image has only busybox. */
	struct vm_run_opts o = {
		.create = { .environment = env, .network = cmd_bool(call, "network") },
		.command = strncmp(env, "debian:", 7) == 0 ? "git --version" : "uname -s",
		.timeout_seconds = 30,
	};
	int rc = run_in_vm(call, &o, true);
	if (rc == 0 && call->result) {
		/* The seeds' demo shows the one-shot result without the
		 * bookkeeping fields. */
		struct json_value *shown = json_object(call->doc);
		static const char *const keep[] = { "cleanup",   "command", "environment",
						    "execution_mode", "exit_code", "stdout", NULL };
		for (size_t i = 0; shown && keep[i]; i++) {
			struct json_value *v = json_get(call->result, keep[i]);
			if (v)
				json_object_set(call->doc, shown, keep[i], v);
		}
		if (shown)
			call->result = shown;
	}
	return rc;
}

static const struct arg_spec demo_args[] = {
	{ .name = "environment", .type = ARG_STRING, .def = "debian:12", .metavar = "ENVIRONMENT",
	  .help = "The environment to boot (debian:12 runs 'git --version'; test runs "
		  "'uname -s')." },
	{ .name = "network", .type = ARG_BOOL,
	  .help = "Give the guest outbound network access." },
	{ 0 },
};

const struct command cli_demo_command = {
	.name = "demo",
	.summary = "Run the deterministic one-shot demo: create, boot, exec, delete one VM",
	.args = demo_args,
	.run = run_demo,
};
