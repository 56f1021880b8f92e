/* Tests for core/vmmanager.c through the host backend only: limits and
 * their messages, fail-closed backend choice, the lifecycle (create, start,
 * exec with its automatic delete, stop, delete, status, network info) and
 * run. The store across VMs (active limit, expiry, listing, ids, two
 * processes) is test_vmstore.c. Each test runs in its own host-only
 * environment (vmtest.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../core/envcatalog.h"
#include "../../core/exitcodes.h"
#include "../../core/json.h"
#include "../../core/randid.h"
#include "../../core/vmmanager.h"
#include "../../core/vmrecord.h"
#include "test.h"
#include "vmtest.h"

/* ---- create ---- */

VM_TEST(vmmanager_create_defaults)
{
	struct vm_create_opts o = { .environment = "test", .allow_host_compat = true };
	struct vm_record r;
	struct json_doc *doc = json_doc_new();
	struct json_value *p = NULL;
	struct pyro_err err = { 0 };
	double before = vt_now();
	CHECK(doc);
	int rc = vm_create(&o, NULL, &r, doc, &p, &err);
	double after = vt_now();
	const struct env_catalog_entry *e = env_catalog_find("test", NULL);
	bool ok = rc == 0 && p && vt_str_is(p, "state", "created") && vt_int_is(p, "vcpu_count", 1) &&
		  vt_int_is(p, "mem_mib", 1024) && vt_int_is(p, "ttl_seconds", 600) &&
		  vt_str_is(p, "environment", "test") && e &&
		  vt_str_is(p, "environment_version", e->version) &&
		  vt_str_is(p, "execution_mode", "pending") && vt_bool_is(p, "allow_host_compat", true) &&
		  vt_bool_is(p, "network_enabled", false) && vt_str_is(p, "vm_id", r.vm_id);
	double created = vt_num(p, "created_at"), expires = vt_num(p, "expires_at");
	json_doc_free(doc);
	if (rc < 0)
		test_fail_str(__FILE__, __LINE__, "vm_create", err.msg, "success");
	CHECK(rc == 0);
	CHECK(ok);
	CHECK(randid_valid(r.vm_id));
	CHECK(created >= before - 0.001 && created <= after + 0.001);
	CHECK(expires == created + 600);
	CHECK(r.created_at == created && r.expires_at == expires);
	CHECK_STR(r.backend, "host");
	CHECK_STR(r.state, "created");

	/* On disk: a private directory with a private record. */
	struct stat st;
	char path[PATH_MAX + 16];
	CHECK(stat(r.dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	vt_fmt(path, sizeof path, "%s/vm.json", r.dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	char vms[PATH_MAX];
	vt_vms_dir(vms, sizeof vms);
	CHECK(stat(vms, &st) == 0 && (st.st_mode & 0777) == 0700);
}

VM_TEST(vmmanager_create_explicit_limits_at_the_bounds)
{
	struct vm_create_opts lo = { .environment = "test", .vcpu_count = 1, .mem_mib = 256,
				     .ttl_seconds = 60, .allow_host_compat = true };
	struct vm_create_opts hi = { .environment = "test", .vcpu_count = 8, .mem_mib = 32768,
				     .ttl_seconds = 3600, .allow_host_compat = true };
	struct vm_record r1, r2;
	struct pyro_err err = { 0 };
	CHECK(vm_create(&lo, NULL, &r1, NULL, NULL, &err) == 0);
	CHECK(r1.vcpu_count == 1 && r1.mem_mib == 256 && r1.ttl_seconds == 60);
	CHECK(r1.expires_at == r1.created_at + 60);
	CHECK(vm_create(&hi, NULL, &r2, NULL, NULL, &err) == 0);
	CHECK(r2.vcpu_count == 8 && r2.mem_mib == 32768 && r2.ttl_seconds == 3600);
	CHECK(strcmp(r1.vm_id, r2.vm_id) != 0);
	CHECK(vt_count_vm_dirs() == 2);
}

VM_TEST(vmmanager_create_limits_are_usage_errors)
{
	static const struct {
		int vcpu, mem, ttl;
		const char *msg;
	} cases[] = {
		{ -1, 0, 0, "vcpu_count must be between 1 and 8" },
		{ 9, 0, 0, "vcpu_count must be between 1 and 8" },
		{ 0, 255, 0, "mem_mib must be between 256 and 32768" },
		{ 0, 32769, 0, "mem_mib must be between 256 and 32768" },
		{ 0, 0, 59, "ttl_seconds must be between 60 and 3600" },
		{ 0, 0, 3601, "ttl_seconds must be between 60 and 3600" },
		{ 0, -5, 0, "mem_mib must be between 256 and 32768" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pyro_err err = { 0 };
		CHECK(vt_create(cases[i].vcpu, cases[i].mem, cases[i].ttl, true, NULL, &err) == -1);
		CHECK(err.code == PYRO_EXIT_USAGE);
		CHECK_STR(err.msg, cases[i].msg);
	}
	CHECK(vt_count_vm_dirs() == 0);
	/* 0 is "unset" in struct vm_create_opts (the defaults, vmmanager.h),
	 * so the seeds' "vcpu_count=0 is an error" is the CLI's and MCP's
	 * bounds check (1..8), not this layer's. */
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, id, &err) == 0);
}

VM_TEST(vmmanager_create_unknown_environment)
{
	struct vm_create_opts o = { .environment = "no-such-env", .allow_host_compat = true };
	struct vm_record r;
	struct pyro_err err = { 0 };
	CHECK(vm_create(&o, NULL, &r, NULL, NULL, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "unknown environment 'no-such-env'");
	CHECK_CONTAINS(err.msg, "test");
	CHECK(vt_count_vm_dirs() == 0);
}

VM_TEST(vmmanager_create_fails_closed_without_host_compat)
{
	struct pyro_err err = { 0 };
	/* PYRO_BACKEND=host is not consent: the VM must allow it. */
	CHECK(vt_create(0, 0, 0, false, NULL, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_CONTAINS(err.msg, "guest boot is unavailable and host compatibility mode is disabled");
	CHECK_CONTAINS(err.msg, "allow_host_compat");
	CHECK(vt_count_vm_dirs() == 0);

	/* No backend chosen and nothing to boot with (no QEMU here): the
	 * same, naming the ways out that apply: install QEMU, or host compat
	 * (not PYRO_ACCEL=tcg, which needs QEMU too). */
	unsetenv("PYRO_BACKEND");
	CHECK(vt_create(0, 0, 0, false, NULL, &err) == -1);
	CHECK_CONTAINS(err.msg, "host compatibility mode is disabled");
	CHECK_CONTAINS(err.msg, "--allow-host-compat");
	CHECK_CONTAINS(err.msg, "apt-get install qemu-system-x86");
	CHECK(strstr(err.msg, "PYRO_ACCEL=tcg") == NULL);
	/* ... and with consent, the host. */
	char id[RANDID_SIZE];
	CHECK(vt_create(0, 0, 0, true, id, &err) == 0);

	setenv("PYRO_BACKEND", "bogus", 1);
	CHECK(vt_create(0, 0, 0, true, NULL, &err) == -1);
	CHECK_CONTAINS(err.msg, "PYRO_BACKEND must be qemu, firecracker or host (got 'bogus')");
	setenv("PYRO_BACKEND", "firecracker", 1);
	CHECK(vt_create(0, 0, 0, true, NULL, &err) == -1);
	CHECK_CONTAINS(err.msg, "PYRO_BACKEND=firecracker needs a firecracker binary");
	CHECK(vt_count_vm_dirs() == 1);
}

VM_TEST(vmmanager_backend_choice)
{
	struct vm_backend_choice c;
	vmmanager_backend(true, &c);
	CHECK_STR(c.backend, "host");
	CHECK_STR(c.accel, "");
	vmmanager_backend(false, &c);
	CHECK_STR(c.backend, "");
	CHECK_CONTAINS(c.why, "allow_host_compat=true");
	unsetenv("PYRO_BACKEND");
	vmmanager_backend(true, &c);
	CHECK_STR(c.backend, "host");
	vmmanager_backend(false, &c);
	CHECK_STR(c.backend, "");
	CHECK_CONTAINS(c.why, "neither qemu-system-x86_64 nor firecracker is installed");
}

/* ---- start, exec ---- */

VM_TEST(vmmanager_start_and_start_again)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, id, &err) == 0);
	struct vm_record r;
	struct json_doc *doc = json_doc_new();
	struct json_value *p = NULL;
	CHECK(doc);
	int rc = vm_start(id, NULL, &r, doc, &p, &err);
	bool ok = rc == 0 && vt_str_is(p, "state", "started") &&
		  vt_str_is(p, "execution_mode", "host_compat") && vt_str_is(p, "vm_id", id);
	const struct json_value *m = p ? json_get(p, "metadata") : NULL;
	bool meta = m && vt_str_is(m, "execution_mode", "host_compat") && vt_str_is(m, "backend", "host");
	json_doc_free(doc);
	CHECK(rc == 0);
	CHECK(ok);
	CHECK(meta);
	/* The command's working directory exists, private. */
	char work[PATH_MAX + 16];
	struct stat st;
	vt_fmt(work, sizeof work, "%s/workdir", r.dir);
	CHECK(stat(work, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);

	CHECK(vm_start(id, NULL, &r, NULL, NULL, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "cannot be started from state 'started'");
	CHECK_CONTAINS(err.msg, id);
	CHECK(vt_vm_dir_exists(id));
}

VM_TEST(vmmanager_exec_returns_output_and_deletes_the_vm)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create_started(id, &err) == 0);
	const char *cmd = "echo hi; echo err >&2; exit 3";
	struct json_doc *doc = json_doc_new();
	struct json_value *p = NULL;
	CHECK(doc);
	int rc = vm_exec(id, cmd, 10, doc, &p, &err);
	const struct env_catalog_entry *e = env_catalog_find("test", NULL);
	bool ok = rc == 0 && vt_str_is(p, "vm_id", id) && vt_str_is(p, "stdout", "hi\n") &&
		  vt_str_is(p, "stderr", "err\n") && vt_int_is(p, "exit_code", 3) &&
		  vt_str_is(p, "execution_mode", "host_compat") && vt_str_is(p, "command", cmd) &&
		  vt_str_is(p, "environment", "test") && e &&
		  vt_str_is(p, "environment_version", e->version);
	int64_t ms = -1;
	bool dur = p && json_get_int(p, "duration_ms", &ms) && ms >= 0 && ms < 10000;
	const struct json_value *c = p ? json_get(p, "cleanup") : NULL;
	bool cleanup = c && vt_str_is(c, "vm_id", id) && vt_bool_is(c, "deleted", true) &&
		       vt_str_is(c, "reason", "post_exec_cleanup") && c->u.object.len == 3;
	json_doc_free(doc);
	if (rc < 0)
		test_fail_str(__FILE__, __LINE__, "vm_exec", err.msg, "success");
	CHECK(rc == 0);
	CHECK(ok);
	CHECK(dur);
	CHECK(cleanup);
	CHECK(!vt_vm_dir_exists(id));

	doc = json_doc_new();
	CHECK(doc);
	rc = vm_status(id, doc, &p, &err);
	json_doc_free(doc);
	CHECK(rc == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	char want[64];
	vt_fmt(want, sizeof want, "vm '%s' does not exist", id);
	CHECK_STR(err.msg, want);
	/* A second exec finds nothing either. */
	CHECK(vm_exec(id, "true", 5, NULL, NULL, &err) == -1);
	CHECK_STR(err.msg, want);
}

/* The host command sees only PATH and HOME (its work dir), and runs there. */
VM_TEST(vmmanager_exec_host_environment_is_minimal)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	setenv("PYRO_UNIT_SECRET", "leaked", 1);
	CHECK(vt_create_started(id, &err) == 0);
	struct json_doc *doc = json_doc_new();
	struct json_value *p = NULL;
	CHECK(doc);
	int rc = vm_exec(id,
			 "printf '%s|%s|%s|' \"$PWD\" \"$HOME\" \"${PYRO_UNIT_SECRET-unset}\"; "
			 "test -n \"$PATH\" && echo path",
			 10, doc, &p, &err);
	char want[PATH_MAX + 64], dir[PATH_MAX];
	vt_vms_dir(dir, sizeof dir);
	vt_fmt(want, sizeof want, "%s/%s/workdir|%s/%s/workdir|unset|path\n", dir, id, dir, id);
	bool ok = rc == 0 && vt_str_is(p, "stdout", want);
	if (rc == 0 && !ok)
		test_fail_str(__FILE__, __LINE__, "stdout", json_get_str(p, "stdout"), want);
	json_doc_free(doc);
	CHECK(rc == 0);
	CHECK(ok);
}

VM_TEST(vmmanager_exec_timeout)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create_started(id, &err) == 0);
	struct json_doc *doc = json_doc_new();
	struct json_value *p = NULL;
	CHECK(doc);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = vm_exec(id, "echo started; sleep 5", 1, doc, &p, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	bool ok = rc == 0 && vt_int_is(p, "exit_code", 124) &&
		  vt_str_is(p, "stderr", "command timed out after 1s") && vt_str_is(p, "stdout", "");
	const struct json_value *c = p ? json_get(p, "cleanup") : NULL;
	bool cleanup = c && vt_str_is(c, "reason", "post_exec_cleanup");
	json_doc_free(doc);
	CHECK(rc == 0);
	CHECK(ok);
	CHECK(cleanup);
	CHECK(took >= 0.9 && took < 4.5);
	CHECK(!vt_vm_dir_exists(id));
}

VM_TEST(vmmanager_exec_needs_a_started_vm)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, id, &err) == 0);
	CHECK(vm_exec(id, "true", 5, NULL, NULL, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	char want[96];
	vt_fmt(want, sizeof want, "vm %s must be in 'started' state before execution", id);
	CHECK_STR(err.msg, want);
	/* Refused before running: the VM is kept, as in the seeds. */
	CHECK(vt_vm_dir_exists(id));

	CHECK(vm_exec(id, "true", 0, NULL, NULL, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_STR(err.msg, "timeout_seconds must be positive");
	CHECK(vm_exec(id, "", 5, NULL, NULL, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK(vm_exec(id, NULL, 5, NULL, NULL, &err) == -1);
	CHECK(vt_vm_dir_exists(id));
}

/* A command whose VM disappears under it (here it removes the VM directory
 * itself; in real use another pyro process deletes or reaps the VM while
 * the command runs, since vm_exec runs the command without the VM's lock).
 *
 * The command's result still comes back, its cleanup saying the VM was
 * already gone (deleted false, with the reason). */
VM_TEST(vmmanager_exec_when_the_vm_vanishes_under_the_command)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create_started(id, &err) == 0);
	struct json_doc *doc = json_doc_new();
	struct json_value *p = NULL;
	CHECK(doc);
	int rc = vm_exec(id, "cd / && rm -rf \"$(dirname \"$HOME\")\" && echo gone", 10, doc, &p,
			 &err);
	bool output = rc == 0 && vt_str_is(p, "stdout", "gone\n");
	bool deleted = true;
	const struct json_value *cleanup = rc == 0 ? json_get(p, "cleanup") : NULL;
	bool reported = cleanup && json_get_bool(cleanup, "deleted", &deleted) && !deleted &&
			vt_str_is(cleanup, "reason", "post_exec_cleanup") &&
			json_get_str(cleanup, "error") != NULL;
	json_doc_free(doc);
	CHECK(!vt_vm_dir_exists(id));
	CHECK(vt_count_vm_dirs() == 0);
	CHECK(rc == 0);
	CHECK(output);
	CHECK(reported);

	/* The same through the front door: another process deletes the VM
	 * while the command runs. */
	CHECK(vt_create_started(id, &err) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct timespec ts = { 0, 300 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		struct pyro_err e;
		_exit(vm_delete(id, NULL, NULL, NULL, &e) == 0 ? 0 : 1);
	}
	doc = json_doc_new();
	CHECK(doc);
	memset(&err, 0, sizeof err);
	/* The command outlasts the delete whenever it comes. */
	rc = vm_exec(id, "while [ -d \"$HOME\" ]; do sleep 0.05; done; echo done", 20, doc, &p,
		     &err);
	json_doc_free(doc);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(!vt_vm_dir_exists(id));
	CHECK(rc == 0);
}

/* ---- stop, delete, status, network ---- */

VM_TEST(vmmanager_stop_restart_delete)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create_started(id, &err) == 0);
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = NULL, *s = NULL, *d = NULL, *st = NULL;
	int rc_stop = vm_stop(id, doc, &p, &err);
	bool stopped = rc_stop == 0 && vt_str_is(p, "state", "stopped") && vt_str_is(p, "vm_id", id);
	int rc_status = vm_status(id, doc, &st, &err);
	bool status_ok = rc_status == 0 && vt_str_is(st, "state", "stopped");
	struct vm_record r;
	/* A stopped VM starts again (the seeds allow created or stopped). */
	int rc_start = vm_start(id, NULL, &r, doc, &s, &err);
	bool restarted = rc_start == 0 && vt_str_is(s, "state", "started");
	int rc_del = vm_delete(id, NULL, doc, &d, &err);
	bool deleted = rc_del == 0 && vt_str_is(d, "vm_id", id) && vt_bool_is(d, "deleted", true) &&
		       vt_str_is(d, "reason", "explicit_delete") && d->u.object.len == 3;
	json_doc_free(doc);
	CHECK(rc_stop == 0);
	CHECK(stopped);
	CHECK(status_ok);
	CHECK(restarted);
	CHECK(rc_del == 0);
	CHECK(deleted);
	CHECK(!vt_vm_dir_exists(id));
	CHECK(vm_delete(id, NULL, NULL, NULL, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "does not exist");
	CHECK(vm_stop(id, NULL, NULL, &err) == -1);
	CHECK_CONTAINS(err.msg, "does not exist");
	CHECK(vm_start(id, NULL, &r, NULL, NULL, &err) == -1);
	CHECK_CONTAINS(err.msg, "does not exist");
}

VM_TEST(vmmanager_delete_with_a_reason_and_a_created_vm)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, id, &err) == 0);
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *d = NULL;
	int rc = vm_delete(id, "test_reason", doc, &d, &err);
	bool ok = rc == 0 && vt_str_is(d, "reason", "test_reason");
	json_doc_free(doc);
	CHECK(ok);
	CHECK(!vt_vm_dir_exists(id));
	CHECK(vt_count_vm_dirs() == 0);
}

VM_TEST(vmmanager_network_info)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, id, &err) == 0);
	/* The host backend has no network even when asked for one. */
	struct vm_create_opts o = { .environment = "test", .network = true,
				    .allow_host_compat = true };
	struct vm_record r;
	CHECK(vm_create(&o, NULL, &r, NULL, NULL, &err) == 0);
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *a = NULL, *b = NULL, *s = NULL;
	int rc1 = vm_network_info(id, doc, &a, &err);
	int rc2 = vm_network_info(r.vm_id, doc, &b, &err);
	int rc3 = vm_status(r.vm_id, doc, &s, &err);
	bool ok1 = rc1 == 0 && vt_str_is(a, "vm_id", id) && vt_bool_is(a, "network_enabled", false) &&
		   vt_bool_is(a, "outbound_connectivity_expected", false) && json_get_str(a, "reason");
	bool ok2 = rc2 == 0 && vt_bool_is(b, "network_enabled", false) &&
		   vt_str_is(b, "reason", "network configuration is unavailable for this VM");
	const struct json_value *g = s ? json_get(s, "guest_ip") : NULL;
	bool ok3 = rc3 == 0 && vt_bool_is(s, "network_enabled", false) && g && g->type == JSON_NULL;
	json_doc_free(doc);
	CHECK(ok1);
	CHECK(ok2);
	CHECK(ok3);
}

/* ---- run ---- */

struct phases {
	char seen[128];
};

static void on_phase(void *ctx, const char *phase, const struct vm_record *r)
{
	struct phases *ph = ctx;
	(void)r;
	size_t n = strlen(ph->seen);
	snprintf(ph->seen + n, sizeof ph->seen - n, "%s%s", n ? "," : "", phase);
}

VM_TEST(vmmanager_run_creates_starts_execs_deletes)
{
	struct vm_run_opts o = {
		.create = { .environment = "test", .allow_host_compat = true },
		.command = "echo run-ok; exit 7",
	};
	struct phases ph = { "" };
	struct vm_progress pg = { on_phase, &ph };
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = NULL;
	struct pyro_err err = { 0 };
	int rc = vm_run(&o, &pg, doc, &p, &err);
	bool ok = rc == 0 && vt_str_is(p, "stdout", "run-ok\n") && vt_int_is(p, "exit_code", 7) &&
		  vt_str_is(p, "execution_mode", "host_compat") && vt_str_is(p, "environment", "test");
	const struct json_value *c = p ? json_get(p, "cleanup") : NULL;
	bool cleanup = c && vt_bool_is(c, "deleted", true) && vt_str_is(c, "reason", "post_exec_cleanup");
	json_doc_free(doc);
	if (rc < 0)
		test_fail_str(__FILE__, __LINE__, "vm_run", err.msg, "success");
	CHECK(rc == 0);
	CHECK(ok);
	CHECK(cleanup);
	CHECK_STR(ph.seen, "create,start,execute");
	CHECK(vt_count_vm_dirs() == 0);
}

VM_TEST(vmmanager_run_failures_leave_no_vm)
{
	struct pyro_err err = { 0 };
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = NULL;
	/* Fails in exec (empty command): the VM made for it is deleted. */
	struct vm_run_opts o = {
		.create = { .environment = "test", .allow_host_compat = true },
		.command = "",
	};
	int rc1 = vm_run(&o, NULL, doc, &p, &err);
	struct pyro_err err1 = err;
	int left1 = vt_count_vm_dirs();
	/* Fails in create: nothing is made. */
	o.command = "true";
	o.create.ttl_seconds = 5;
	int rc2 = vm_run(&o, NULL, doc, &p, &err);
	struct pyro_err err2 = err;
	/* Fails closed without consent. */
	o.create.ttl_seconds = 0;
	o.create.allow_host_compat = false;
	int rc3 = vm_run(&o, NULL, doc, &p, &err);
	json_doc_free(doc);
	CHECK(rc1 == -1);
	CHECK_CONTAINS(err1.msg, "the command is empty");
	CHECK(left1 == 0);
	CHECK(rc2 == -1);
	CHECK_STR(err2.msg, "ttl_seconds must be between 60 and 3600");
	CHECK(rc3 == -1);
	CHECK_CONTAINS(err.msg, "allow_host_compat");
	CHECK(vt_count_vm_dirs() == 0);
}

VM_TEST(vmmanager_run_timeout_default_and_explicit)
{
	struct vm_run_opts o = {
		.create = { .environment = "test", .allow_host_compat = true },
		.command = "sleep 3",
		.timeout_seconds = 1,
	};
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = NULL;
	struct pyro_err err = { 0 };
	int rc = vm_run(&o, NULL, doc, &p, &err);
	bool ok = rc == 0 && vt_int_is(p, "exit_code", 124) &&
		  vt_str_is(p, "stderr", "command timed out after 1s");
	json_doc_free(doc);
	CHECK(ok);
	CHECK(vt_count_vm_dirs() == 0);
}
