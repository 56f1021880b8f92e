/* Tests for core/vmmanager.c on the store as a whole, through the host
 * backend only: the active-VM limit, expiry and reaping, listing, malformed
 * and unknown ids, damaged records, and the store and VM locks across
 * processes. Each test runs in its own host-only environment (vmtest.h). */
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

#include "../../core/exitcodes.h"
#include "../../core/json.h"
#include "../../core/randid.h"
#include "../../core/vmmanager.h"
#include "../../core/vmrecord.h"
#include "test.h"
#include "vmtest.h"

/* ---- limits on active VMs, expiry ---- */

VM_TEST(vmmanager_max_active_vms)
{
	setenv("PYRO_MAX_ACTIVE_VMS", "2", 1);
	char a[RANDID_SIZE], b[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, a, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, b, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, NULL, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_CONTAINS(err.msg, "max active VMs reached (2)");
	CHECK_CONTAINS(err.msg, "delete old VMs first");
	CHECK(vt_count_vm_dirs() == 2);
	/* Started VMs count too; a deleted one frees its place. */
	struct vm_record r;
	CHECK(vm_start(a, NULL, &r, NULL, NULL, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, NULL, &err) == -1);
	CHECK(vm_delete(b, NULL, NULL, NULL, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, NULL, &err) == 0);
	CHECK(vt_count_vm_dirs() == 2);
	/* A value out of range falls back to the default (4). */
	setenv("PYRO_MAX_ACTIVE_VMS", "0", 1);
	CHECK(vt_create(0, 0, 0, true, NULL, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, NULL, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, NULL, &err) == -1);
	CHECK_CONTAINS(err.msg, "max active VMs reached (4)");
}

VM_TEST(vmmanager_reap_expired)
{
	char a[RANDID_SIZE], b[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, a, &err) == 0);
	CHECK(vt_create_started(b, &err) == 0);
	CHECK(vt_set_times(a, -1, vt_now() - 5) == 0);
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = NULL, *q = NULL;
	int rc1 = vm_reap_expired(doc, &p, &err);
	const struct json_value *ids = p ? json_get(p, "deleted_vm_ids") : NULL;
	bool ok1 = rc1 == 0 && vt_int_is(p, "count", 1) && ids && ids->type == JSON_ARRAY &&
		   ids->u.array.len == 1 && ids->u.array.items[0]->type == JSON_STRING &&
		   !strcmp(ids->u.array.items[0]->u.string.ptr, a);
	int rc2 = vm_reap_expired(doc, &q, &err);
	const struct json_value *ids2 = q ? json_get(q, "deleted_vm_ids") : NULL;
	bool ok2 = rc2 == 0 && vt_int_is(q, "count", 0) && ids2 && ids2->type == JSON_ARRAY &&
		   ids2->u.array.len == 0;
	json_doc_free(doc);
	CHECK(rc1 == 0);
	CHECK(ok1);
	CHECK(ok2);
	CHECK(!vt_vm_dir_exists(a));
	CHECK(vt_vm_dir_exists(b));

	/* A started VM expires the same way (expires_at == now counts). */
	CHECK(vt_set_times(b, -1, 1.0) == 0);
	doc = json_doc_new();
	CHECK(doc);
	rc1 = vm_reap_expired(doc, &p, &err);
	ok1 = rc1 == 0 && vt_int_is(p, "count", 1);
	json_doc_free(doc);
	CHECK(ok1);
	CHECK(vt_count_vm_dirs() == 0);
}

VM_TEST(vmmanager_expired_vms_do_not_count_as_active)
{
	setenv("PYRO_MAX_ACTIVE_VMS", "1", 1);
	char a[RANDID_SIZE], b[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, a, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, NULL, &err) == -1);
	CHECK(vt_set_times(a, -1, vt_now() - 1) == 0);
	CHECK(vt_create(0, 0, 0, true, b, &err) == 0);
	CHECK(!vt_vm_dir_exists(a));
	CHECK(vt_vm_dir_exists(b));
}

VM_TEST(vmmanager_expired_vm_is_deleted_on_access)
{
	char a[RANDID_SIZE], b[RANDID_SIZE], c[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, a, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, b, &err) == 0);
	CHECK(vt_create_started(c, &err) == 0);
	double past = vt_now() - 1;
	CHECK(vt_set_times(a, -1, past) == 0 && vt_set_times(b, -1, past) == 0 &&
	      vt_set_times(c, -1, past) == 0);
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = NULL;
	char want[96];
	int rc = vm_status(a, doc, &p, &err);
	json_doc_free(doc);
	CHECK(rc == -1);
	vt_fmt(want, sizeof want, "vm '%s' expired and was automatically deleted", a);
	CHECK_STR(err.msg, want);
	CHECK(!vt_vm_dir_exists(a));
	/* Afterwards it simply does not exist. */
	doc = json_doc_new();
	CHECK(doc);
	rc = vm_status(a, doc, &p, &err);
	json_doc_free(doc);
	CHECK(rc == -1);
	CHECK_CONTAINS(err.msg, "does not exist");

	struct vm_record r;
	CHECK(vm_start(b, NULL, &r, NULL, NULL, &err) == -1);
	vt_fmt(want, sizeof want, "vm '%s' expired and was automatically deleted", b);
	CHECK_STR(err.msg, want);
	CHECK(!vt_vm_dir_exists(b));
	CHECK(vm_exec(c, "echo never", 5, NULL, NULL, &err) == -1);
	vt_fmt(want, sizeof want, "vm '%s' expired and was automatically deleted", c);
	CHECK_STR(err.msg, want);
	CHECK(!vt_vm_dir_exists(c));
}

/* ---- list ---- */

/* An empty (even missing) store lists nothing.
 *
 * (qsort with a NULL array, even of 0 elements, is undefined: unit-san
 * checks vm_list never does that.) */
VM_TEST(vmmanager_empty_store)
{
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *l = NULL;
	struct pyro_err err = { 0 };
	/* Reaping a store that does not exist yet creates it, private. */
	int rc = vm_reap_expired(doc, &l, &err);
	bool none = rc == 0 && vt_int_is(l, "count", 0);
	json_doc_free(doc);
	CHECK(none);
	char vms[PATH_MAX];
	struct stat st;
	vt_vms_dir(vms, sizeof vms);
	CHECK(stat(vms, &st) == 0 && (st.st_mode & 0777) == 0700);
	doc = json_doc_new();
	CHECK(doc);
	int rc0 = vm_list(doc, &l, &err);
	bool empty = rc0 == 0 && l && l->type == JSON_ARRAY && l->u.array.len == 0;
	json_doc_free(doc);
	CHECK(empty);
}

VM_TEST(vmmanager_list_oldest_first)
{
	struct json_doc *doc;
	struct json_value *l = NULL;
	struct pyro_err err = { 0 };
	char a[RANDID_SIZE], b[RANDID_SIZE], c[RANDID_SIZE], x[RANDID_SIZE];
	CHECK(vt_create(0, 0, 0, true, a, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, b, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, c, &err) == 0);
	CHECK(vt_create(0, 0, 0, true, x, &err) == 0);
	/* Creation order a b c; make b the oldest and c the newest, and x
	 * expired (reaped by the listing). */
	double now = vt_now();
	CHECK(vt_set_times(b, now - 300, -1) == 0);
	CHECK(vt_set_times(a, now - 200, -1) == 0);
	CHECK(vt_set_times(c, now - 100, -1) == 0);
	CHECK(vt_set_times(x, now - 400, now - 1) == 0);
	doc = json_doc_new();
	CHECK(doc);
	int rc = vm_list(doc, &l, &err);
	bool shape = rc == 0 && l && l->type == JSON_ARRAY && l->u.array.len == 3;
	bool order = shape && vt_str_is(l->u.array.items[0], "vm_id", b) &&
		     vt_str_is(l->u.array.items[1], "vm_id", a) &&
		     vt_str_is(l->u.array.items[2], "vm_id", c);
	bool payloads = shape && vt_str_is(l->u.array.items[0], "state", "created") &&
			json_get(l->u.array.items[0], "metadata");
	json_doc_free(doc);
	CHECK(shape);
	CHECK(order);
	CHECK(payloads);
	CHECK(!vt_vm_dir_exists(x));
}

/* ---- malformed and unknown ids ---- */

VM_TEST(vmmanager_malformed_ids_are_refused)
{
	/* A sentinel where "<vms>/../etc" would land. */
	char state[PATH_MAX], sentinel[PATH_MAX + 16], file[PATH_MAX + 32];
	vt_fmt(state, sizeof state, "%s/state", test_tmpdir());
	vt_fmt(sentinel, sizeof sentinel, "%s/etc", state);
	vt_fmt(file, sizeof file, "%s/keep", sentinel);
	CHECK(mkdir(state, 0700) == 0 && mkdir(sentinel, 0700) == 0);
	int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	char vm_in_etc[PATH_MAX + 32];
	vt_fmt(vm_in_etc, sizeof vm_in_etc, "%s/vm.json", sentinel);

	static const char *const bad[] = { "../etc", "..", "", "0123456789AB", "0123456789a",
					   "0123456789abc", "/etc/passwd", "../etc/../etc" };
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	bool all = true;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *id = bad[i];
		struct pyro_err e[6];
		struct json_value *p = NULL;
		struct vm_record r;
		memset(e, 0, sizeof e);
		int rcs[6] = {
			vm_start(id, NULL, &r, doc, &p, &e[0]),
			vm_exec(id, "touch /tmp/never", 5, doc, &p, &e[1]),
			vm_stop(id, doc, &p, &e[2]),
			vm_delete(id, NULL, doc, &p, &e[3]),
			vm_status(id, doc, &p, &e[4]),
			vm_network_info(id, doc, &p, &e[5]),
		};
		for (int k = 0; k < 6; k++)
			if (rcs[k] != -1 || e[k].code != PYRO_EXIT_USAGE ||
			    !strstr(e[k].msg, "is not a vm id")) {
				fprintf(stderr, "    id '%s', op %d: rc %d, %s\n", id, k, rcs[k],
					e[k].msg);
				all = false;
			}
	}
	json_doc_free(doc);
	CHECK(all);
	struct stat st;
	CHECK(stat(file, &st) == 0);
	CHECK(stat(vm_in_etc, &st) == -1 && errno == ENOENT);
	/* Well-formed but unknown. */
	struct pyro_err err = { 0 };
	CHECK(vm_delete("0123456789ab", NULL, NULL, NULL, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_STR(err.msg, "vm '0123456789ab' does not exist");
}

/* A VM whose vm.json is damaged can still be deleted: the message that
 * reports the damage tells the user to delete it, so that must work. */
VM_TEST(vmmanager_damaged_record)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, id, &err) == 0);
	char vms[PATH_MAX], path[PATH_MAX + 32];
	vt_vms_dir(vms, sizeof vms);
	vt_fmt(path, sizeof path, "%s/%s/vm.json", vms, id);
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(write(fd, "{\"vm_id\":", 9) == 9);
	close(fd);
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = NULL;
	int rc = vm_status(id, doc, &p, &err);
	json_doc_free(doc);
	CHECK(rc == -1);
	CHECK_CONTAINS(err.msg, "damaged");
	CHECK_CONTAINS(err.msg, path);
	/* A young damaged directory may be a create in progress: it counts as
	 * active and is kept by the reaper. */
	doc = json_doc_new();
	CHECK(doc);
	rc = vm_reap_expired(doc, &p, &err);
	bool kept = rc == 0 && vt_int_is(p, "count", 0);
	json_doc_free(doc);
	CHECK(kept);
	CHECK(vt_vm_dir_exists(id));
	rc = vm_delete(id, NULL, NULL, NULL, &err);
	CHECK(rc == 0);
	CHECK(!vt_vm_dir_exists(id));
}

/* ---- two processes ---- */

/* Each of 3 children and the parent try 3 creates at once under
 * PYRO_MAX_ACTIVE_VMS=3: the store lock makes count-then-create atomic,
 * so exactly 3 succeed in all. Repeated to give a race a chance. */
VM_TEST(vmmanager_store_lock_across_processes)
{
	setenv("PYRO_MAX_ACTIVE_VMS", "3", 1);
	for (int round = 0; round < 3; round++) {
		int go[2];
		CHECK(pipe(go) == 0);
		pid_t kids[3];
		int nkids = 0;
		for (int k = 0; k < 3; k++) {
			pid_t pid = fork();
			if (pid == 0) {
				close(go[1]);
				char c;
				(void)!read(go[0], &c, 1);
				int ok = 0;
				for (int i = 0; i < 3; i++)
					ok += vt_create(0, 0, 0, true, NULL, NULL) == 0;
				_exit(ok);
			}
			if (pid > 0)
				kids[nkids++] = pid;
		}
		close(go[0]);
		close(go[1]); /* EOF: everyone goes */
		int total = 0;
		for (int i = 0; i < 3; i++)
			total += vt_create(0, 0, 0, true, NULL, NULL) == 0;
		bool waited = true;
		for (int k = 0; k < nkids; k++) {
			int st;
			if (waitpid(kids[k], &st, 0) != kids[k] || !WIFEXITED(st))
				waited = false;
			else
				total += WEXITSTATUS(st);
		}
		CHECK(nkids == 3);
		CHECK(waited);
		if (total != 3 || vt_count_vm_dirs() != 3)
			fprintf(stderr, "    round %d: %d creates succeeded, %d VM dirs\n", round,
				total, vt_count_vm_dirs());
		CHECK(total == 3);
		CHECK(vt_count_vm_dirs() == 3);
		/* Empty the store for the next round. */
		struct json_doc *doc = json_doc_new();
		CHECK(doc);
		struct json_value *l = NULL;
		struct pyro_err err = { 0 };
		int rc = vm_list(doc, &l, &err);
		bool deleted = rc == 0 && l->u.array.len == 3;
		for (size_t i = 0; deleted && i < l->u.array.len; i++)
			deleted = vm_delete(json_get_str(l->u.array.items[i], "vm_id"), NULL, NULL,
					    NULL, &err) == 0;
		json_doc_free(doc);
		CHECK(deleted);
		CHECK(vt_count_vm_dirs() == 0);
	}
}

/* Two processes operating on one VM: the second exec finds it gone (the
 * first one's post-exec delete), and the VM's lock keeps delete and status
 * from interleaving with a record write. */
VM_TEST(vmmanager_concurrent_delete_and_status)
{
	char id[RANDID_SIZE];
	struct pyro_err err = { 0 };
	CHECK(vt_create(0, 0, 0, true, id, &err) == 0);
	int go[2];
	CHECK(pipe(go) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(go[1]);
		char c;
		(void)!read(go[0], &c, 1);
		struct pyro_err e;
		_exit(vm_delete(id, NULL, NULL, NULL, &e) == 0 ? 0 : 1);
	}
	CHECK(pid > 0);
	close(go[0]);
	close(go[1]);
	/* Each status either sees the whole VM or that it does not exist. */
	bool consistent = true;
	for (int i = 0; i < 200; i++) {
		struct json_doc *doc = json_doc_new();
		struct json_value *p = NULL;
		struct pyro_err e = { 0 };
		int rc = doc ? vm_status(id, doc, &p, &e) : -1;
		if (rc == 0 ? !vt_str_is(p, "vm_id", id) : !strstr(e.msg, "does not exist")) {
			fprintf(stderr, "    status: rc %d, %s\n", rc, e.msg);
			consistent = false;
		}
		json_doc_free(doc);
		if (rc < 0)
			break;
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(consistent);
	CHECK(!vt_vm_dir_exists(id));
}
