/* Tests for core/vmrecord.c: vm id checks, the record's save/load round
 * trip, damaged and foreign records, and the seeds' VM and network
 * payloads.
 *
 * Records are written below the test's own test_tmpdir(); nothing here
 * needs PYRO_STATE_DIR except vmstore_dir (saved and restored). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/buf.h"
#include "../../core/exitcodes.h"
#include "../../core/json.h"
#include "../../core/procid.h"
#include "../../core/vmrecord.h"
#include "test.h"

/* snprintf without gcc's truncation analysis: test paths are short. */
static void sfmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* <tmp>/vms, and <tmp>/vms/<id> created, into vms and r->dir. */
static int make_vm_dir(const char *id, char *vms, size_t cap, struct vm_record *r)
{
	sfmt(vms, cap, "%s/vms", test_tmpdir());
	if (mkdir(vms, 0700) < 0 && errno != EEXIST)
		return -1;
	sfmt(r->dir, sizeof r->dir, "%s/%s", vms, id);
	return mkdir(r->dir, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* A record with every field set to something recognisable. */
static void full_record(struct vm_record *r, const char *id, bool network)
{
	char dir[PATH_MAX];
	memcpy(dir, r->dir, sizeof dir);
	memset(r, 0, sizeof *r);
	memcpy(r->dir, dir, sizeof dir);
	snprintf(r->vm_id, sizeof r->vm_id, "%s", id);
	snprintf(r->environment, sizeof r->environment, "debian-12");
	snprintf(r->environment_version, sizeof r->environment_version, "1.2.3");
	snprintf(r->environment_source, sizeof r->environment_source, "oci");
	snprintf(r->environment_digest, sizeof r->environment_digest, "sha256:%064d", 7);
	snprintf(r->install_dir, sizeof r->install_dir, "/cache/environments/debian-12-1.2.3");
	snprintf(r->kernel_image, sizeof r->kernel_image, "/cache/environments/debian-12-1.2.3/vmlinux");
	snprintf(r->rootfs_image, sizeof r->rootfs_image,
		 "/cache/environments/debian-12-1.2.3/rootfs.ext4");
	snprintf(r->backend, sizeof r->backend, "qemu");
	snprintf(r->accel, sizeof r->accel, "kvm");
	r->vcpu_count = 3;
	r->mem_mib = 2048;
	r->ttl_seconds = 900;
	r->created_at = 1712345678.123456;
	r->expires_at = r->created_at + 900;
	snprintf(r->state, sizeof r->state, "started");
	r->network_requested = network;
	r->allow_host_compat = true;
	snprintf(r->execution_mode, sizeof r->execution_mode, "guest_vsock");
	r->net.slot = -1;
	if (network) {
		r->net.enabled = true;
		snprintf(r->net.mode, sizeof r->net.mode, "tap");
		snprintf(r->net.tap_name, sizeof r->net.tap_name, "pyro%s", "tap7");
		snprintf(r->net.guest_ip, sizeof r->net.guest_ip, "172.29.7.2");
		snprintf(r->net.gateway_ip, sizeof r->net.gateway_ip, "172.29.7.1");
		snprintf(r->net.subnet_cidr, sizeof r->net.subnet_cidr, "172.29.7.0/30");
		snprintf(r->net.mac_address, sizeof r->net.mac_address, "06:00:ac:1d:07:02");
		snprintf(r->net.dns[0], sizeof r->net.dns[0], "1.1.1.1");
		snprintf(r->net.dns[1], sizeof r->net.dns[1], "2606:4700:4700::1111");
		r->net.dns_count = 2;
		r->net.slot = 7;
	}
	r->supervisor = (struct proc_id){ 4242, 123456789012ull };
	r->vmm = (struct proc_id){ 4243, 123456789099ull };
	r->owner = (struct proc_id){ 17, 5 };
	snprintf(r->last_error, sizeof r->last_error, "nothing \"bad\"\nhappened");
	r->boot_ms = 812.5;
}

/* ---- vm_id_check ---- */

TEST(vmrecord_id_check_accepts_12_lowercase_hex)
{
	struct pyro_err err = { 0 };
	CHECK(vm_id_check("0123456789ab", &err) == 0);
	CHECK(vm_id_check("ffffffffffff", &err) == 0);
	CHECK(vm_id_check("000000000000", &err) == 0);
	CHECK(vm_id_check("abcdef012345", NULL) == 0);
}

TEST(vmrecord_id_check_refuses_everything_else)
{
	static const char *const bad[] = {
		"../x", "", "0123456789AB", "ABCDEFABCDEF", "0123456789a", "0123456789abc",
		"../etc/passw", "0123456789a/", "0123456789a.", "0123456789ag", " 123456789ab",
		"0123456789ab\n", "..", ".", "0123456789a\x80",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct pyro_err err = { 0 };
		if (vm_id_check(bad[i], &err) != -1) {
			test_fail_str(__FILE__, __LINE__, "vm_id_check accepted", bad[i], "refused");
			return;
		}
		CHECK(err.code == PYRO_EXIT_USAGE);
		CHECK_CONTAINS(err.msg, "is not a vm id");
		CHECK_CONTAINS(err.msg, "12 lowercase hex characters");
	}
	struct pyro_err err = { 0 };
	CHECK(vm_id_check(NULL, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "'' is not a vm id");
	CHECK(vm_id_check("../x", NULL) == -1);
	/* The offending value is quoted, cut to a sane length. */
	char longid[300];
	memset(longid, 'a', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	CHECK(vm_id_check(longid, &err) == -1);
	CHECK(strlen(err.msg) < 200);
}

/* ---- paths ---- */

TEST(vmrecord_store_dir_and_vm_path)
{
	char *old = getenv("PYRO_STATE_DIR") ? strdup(getenv("PYRO_STATE_DIR")) : NULL;
	setenv("PYRO_STATE_DIR", "/srv/pyro-state", 1);
	char out[PATH_MAX];
	struct pyro_err err = { 0 };
	int rc = vmstore_dir(out, sizeof out, &err);
	int rc_rel;
	setenv("PYRO_STATE_DIR", "relative", 1);
	rc_rel = vmstore_dir(out + 1000, sizeof out - 1000, &err);
	if (old)
		setenv("PYRO_STATE_DIR", old, 1);
	else
		unsetenv("PYRO_STATE_DIR");
	free(old);
	CHECK(rc == 0);
	CHECK_STR(out, "/srv/pyro-state/vms");
	CHECK(rc_rel == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);

	struct vm_record r;
	memset(&r, 0, sizeof r);
	snprintf(r.dir, sizeof r.dir, "/srv/pyro-state/vms/0123456789ab");
	CHECK(vm_path(&r, "agent.sock", out, sizeof out, &err) == 0);
	CHECK_STR(out, "/srv/pyro-state/vms/0123456789ab/agent.sock");
	char small[16];
	CHECK(vm_path(&r, "agent.sock", small, sizeof small, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_CONTAINS(err.msg, "too long");
}

/* ---- save / load ---- */

static void check_same(const struct vm_record *a, const struct vm_record *b)
{
	CHECK_STR(a->vm_id, b->vm_id);
	CHECK_STR(a->environment, b->environment);
	CHECK_STR(a->environment_version, b->environment_version);
	CHECK_STR(a->environment_source, b->environment_source);
	CHECK_STR(a->environment_digest, b->environment_digest);
	CHECK_STR(a->install_dir, b->install_dir);
	CHECK_STR(a->kernel_image, b->kernel_image);
	CHECK_STR(a->rootfs_image, b->rootfs_image);
	CHECK_STR(a->backend, b->backend);
	CHECK_STR(a->accel, b->accel);
	CHECK(a->vcpu_count == b->vcpu_count);
	CHECK(a->mem_mib == b->mem_mib);
	CHECK(a->ttl_seconds == b->ttl_seconds);
	CHECK(a->created_at == b->created_at); /* exact: doubles round-trip */
	CHECK(a->expires_at == b->expires_at);
	CHECK_STR(a->state, b->state);
	CHECK(a->network_requested == b->network_requested);
	CHECK(a->allow_host_compat == b->allow_host_compat);
	CHECK_STR(a->execution_mode, b->execution_mode);
	CHECK(a->net.enabled == b->net.enabled);
	CHECK_STR(a->net.mode, b->net.mode);
	CHECK_STR(a->net.tap_name, b->net.tap_name);
	CHECK_STR(a->net.guest_ip, b->net.guest_ip);
	CHECK_STR(a->net.gateway_ip, b->net.gateway_ip);
	CHECK_STR(a->net.subnet_cidr, b->net.subnet_cidr);
	CHECK_STR(a->net.mac_address, b->net.mac_address);
	CHECK(a->net.dns_count == b->net.dns_count);
	for (int i = 0; i < a->net.dns_count; i++)
		CHECK_STR(a->net.dns[i], b->net.dns[i]);
	CHECK(a->net.slot == b->net.slot);
	CHECK(a->supervisor.pid == b->supervisor.pid);
	CHECK(a->supervisor.start_ticks == b->supervisor.start_ticks);
	CHECK(a->vmm.pid == b->vmm.pid);
	CHECK(a->vmm.start_ticks == b->vmm.start_ticks);
	CHECK(a->owner.pid == b->owner.pid);
	CHECK(a->owner.start_ticks == b->owner.start_ticks);
	CHECK_STR(a->last_error, b->last_error);
	CHECK(a->boot_ms == b->boot_ms);
	CHECK_STR(a->dir, b->dir);
}

TEST(vmrecord_round_trip_with_network)
{
	char vms[PATH_MAX];
	struct vm_record r, back;
	struct pyro_err err = { 0 };
	memset(&r, 0, sizeof r);
	CHECK(make_vm_dir("0123456789ab", vms, sizeof vms, &r) == 0);
	full_record(&r, "0123456789ab", true);
	CHECK(vmrecord_save(&r, &err) == 0);
	memset(&back, 0x5a, sizeof back);
	CHECK(vmrecord_load(vms, "0123456789ab", &back, &err) == 0);
	check_same(&r, &back);
	if (test_failed_now())
		return;

	/* The file is private and ends with a newline. */
	char path[PATH_MAX + 16];
	sfmt(path, sizeof path, "%s/vm.json", r.dir);
	struct stat st;
	CHECK(stat(path, &st) == 0);
	CHECK((st.st_mode & 0777) == 0600);
	struct buf text = BUF_INIT;
	CHECK(buf_read_file(&text, path) == 0);
	int nl = text.len && text.data[text.len - 1] == '\n';
	buf_release(&text);
	CHECK(nl);
}

TEST(vmrecord_round_trip_without_network)
{
	char vms[PATH_MAX];
	struct vm_record r, back;
	struct pyro_err err = { 0 };
	memset(&r, 0, sizeof r);
	CHECK(make_vm_dir("fedcba987654", vms, sizeof vms, &r) == 0);
	full_record(&r, "fedcba987654", false);
	/* No processes, the host backend, fractional and negative-free times. */
	r.supervisor = r.vmm = r.owner = (struct proc_id){ 0, 0 };
	snprintf(r.backend, sizeof r.backend, "host");
	r.accel[0] = '\0';
	r.created_at = 0.1;
	r.expires_at = 1e10 + 0.5;
	r.boot_ms = 0;
	r.last_error[0] = '\0';
	CHECK(vmrecord_save(&r, &err) == 0);
	memset(&back, 0, sizeof back);
	CHECK(vmrecord_load(vms, "fedcba987654", &back, &err) == 0);
	check_same(&r, &back);
	if (test_failed_now())
		return;
	CHECK(!back.net.enabled);
	CHECK(back.net.slot == -1);
	CHECK(back.supervisor.pid == 0 && back.vmm.pid == 0 && back.owner.pid == 0);

	/* Saving again replaces the record. */
	snprintf(r.state, sizeof r.state, "stopped");
	CHECK(vmrecord_save(&r, &err) == 0);
	CHECK(vmrecord_load(vms, "fedcba987654", &back, &err) == 0);
	CHECK_STR(back.state, "stopped");
}

TEST(vmrecord_load_missing_vm)
{
	char vms[PATH_MAX];
	sfmt(vms, sizeof vms, "%s/vms", test_tmpdir());
	CHECK(mkdir(vms, 0700) == 0);
	struct vm_record r;
	struct pyro_err err = { 0 };
	CHECK(vmrecord_load(vms, "0123456789ab", &r, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_STR(err.msg, "vm '0123456789ab' does not exist");
	/* A directory without vm.json is the same. */
	char dir[PATH_MAX + 16];
	sfmt(dir, sizeof dir, "%s/0123456789ab", vms);
	CHECK(mkdir(dir, 0700) == 0);
	CHECK(vmrecord_load(vms, "0123456789ab", &r, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "does not exist");
	/* A malformed id is refused before any path is built. */
	CHECK(vmrecord_load(vms, "../vms/01234", &r, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "is not a vm id");
}

/* Load a vm.json holding `text` for id; the error in err. */
static int load_text(const char *id, const char *text, char *path, size_t cap,
		     struct pyro_err *err)
{
	char vms[PATH_MAX];
	struct vm_record r;
	memset(&r, 0, sizeof r);
	if (make_vm_dir(id, vms, sizeof vms, &r) < 0)
		return -2;
	sfmt(path, cap, "%s/vm.json", r.dir);
	if (write_text(path, text) < 0)
		return -2;
	return vmrecord_load(vms, id, &r, err);
}

TEST(vmrecord_damaged_record_names_the_file)
{
	char path[PATH_MAX + 16];
	struct pyro_err err = { 0 };
	CHECK(load_text("aaaaaaaaaaaa", "{\"vm_id\": \"aaaaaaaaaaaa\", ", path, sizeof path, &err) ==
	      -1);
	CHECK_CONTAINS(err.msg, "the record of vm 'aaaaaaaaaaaa'");
	CHECK_CONTAINS(err.msg, path);
	CHECK_CONTAINS(err.msg, "damaged");
	CHECK_CONTAINS(err.msg, "delete the VM");
	CHECK_CONTAINS(err.msg, "invalid JSON");

	/* Valid JSON but not a record. */
	CHECK(load_text("bbbbbbbbbbbb", "[1, 2, 3]\n", path, sizeof path, &err) == -1);
	CHECK_CONTAINS(err.msg, path);
	CHECK_CONTAINS(err.msg, "damaged");
	CHECK_CONTAINS(err.msg, "missing vm_id");

	/* A record missing its times. */
	CHECK(load_text("cccccccccccc",
			"{\"vm_id\": \"cccccccccccc\", \"environment\": \"test\", \"state\": "
			"\"created\", \"backend\": \"host\", \"vcpu_count\": 1, \"mem_mib\": 1024, "
			"\"ttl_seconds\": 600}",
			path, sizeof path, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_CONTAINS(err.msg, "damaged");

	/* An empty file. */
	CHECK(load_text("dddddddddddd", "", path, sizeof path, &err) == -1);
	CHECK_CONTAINS(err.msg, "damaged");
}

TEST(vmrecord_minimal_record_loads_with_defaults)
{
	char path[PATH_MAX + 16];
	struct pyro_err err = { 0 };
	char vms[PATH_MAX];
	struct vm_record r;
	memset(&r, 0, sizeof r);
	CHECK(make_vm_dir("cccccccccccc", vms, sizeof vms, &r) == 0);
	sfmt(path, sizeof path, "%s/vm.json", r.dir);
	/* Integer times are numbers too. */
	CHECK(write_text(path, "{\"vm_id\": \"cccccccccccc\", \"environment\": \"test\", \"state\": "
			       "\"created\", \"backend\": \"host\", \"vcpu_count\": 1, \"mem_mib\": "
			       "1024, \"ttl_seconds\": 600, \"created_at\": 100, \"expires_at\": 700}") ==
	      0);
	CHECK(vmrecord_load(vms, "cccccccccccc", &r, &err) == 0);
	CHECK(r.created_at == 100.0 && r.expires_at == 700.0);
	CHECK(!r.net.enabled && r.net.slot == -1);
	CHECK(r.supervisor.pid == 0 && r.owner.pid == 0);
	CHECK_STR(r.execution_mode, "");
	CHECK(r.dir[0] == '/');
}

TEST(vmrecord_refuses_a_record_naming_another_vm)
{
	char vms[PATH_MAX];
	struct vm_record r, back;
	struct pyro_err err = { 0 };
	memset(&r, 0, sizeof r);
	CHECK(make_vm_dir("aaaaaaaaaaaa", vms, sizeof vms, &r) == 0);
	/* A record for bbbb... saved into aaaa...'s directory (a copied
	 * directory, say). */
	full_record(&r, "bbbbbbbbbbbb", false);
	CHECK(vmrecord_save(&r, &err) == 0);
	CHECK(vmrecord_load(vms, "aaaaaaaaaaaa", &back, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_CONTAINS(err.msg, "names vm 'bbbbbbbbbbbb'");
	CHECK_CONTAINS(err.msg, "the record of vm 'aaaaaaaaaaaa'");
	CHECK_CONTAINS(err.msg, "delete the VM");
}

TEST(vmrecord_from_json_keeps_dir_and_ignores_bad_procids)
{
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *root = NULL;
	struct pyro_err err = { 0 };
	static const char text[] =
		"{\"vm_id\": \"0123456789ab\", \"environment\": \"test\", \"state\": \"created\","
		" \"backend\": \"host\", \"vcpu_count\": 1, \"mem_mib\": 1024, \"ttl_seconds\": 600,"
		" \"created_at\": 1.5, \"expires_at\": 601.5,"
		" \"supervisor\": {\"pid\": -4, \"start_ticks\": 9},"
		" \"vmm\": {\"pid\": 12, \"start_ticks\": -1},"
		" \"owner\": {\"pid\": \"12\", \"start_ticks\": 1},"
		" \"network\": {\"mode\": \"user\", \"dns_servers\": [\"a\", 5, \"b\", \"c\", \"d\"]}}";
	int rc = json_parse(doc, text, sizeof text - 1, NULL, &root, &err);
	struct vm_record r;
	memset(&r, 0, sizeof r);
	snprintf(r.dir, sizeof r.dir, "/kept/dir");
	if (rc == 0)
		rc = vmrecord_from_json(root, &r, &err);
	json_doc_free(doc);
	CHECK(rc == 0);
	CHECK_STR(r.dir, "/kept/dir");
	CHECK(r.supervisor.pid == 0 && r.supervisor.start_ticks == 0);
	CHECK(r.vmm.pid == 0);
	CHECK(r.owner.pid == 0);
	/* A network object enables the network; at most 3 DNS servers, and
	 * only strings count. */
	CHECK(r.net.enabled);
	CHECK_STR(r.net.mode, "user");
	CHECK(r.net.dns_count == 3);
	CHECK_STR(r.net.dns[0], "a");
	CHECK_STR(r.net.dns[1], "b");
	CHECK_STR(r.net.dns[2], "c");
	CHECK(r.net.slot == -1);

	/* NULL and non-objects are refused. */
	CHECK(vmrecord_from_json(NULL, &r, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_STR(r.dir, "/kept/dir");
}

/* A pid beyond pid_t's range in a damaged record.
 *
 * Any pid outside 1..INT_MAX reads as "no process" (pid 0, start 0), and
 * procid_* refuse pid <= 0 anyway (kill(-1, sig) would reach every process
 * of the user). */
TEST(vmrecord_out_of_range_pid_never_signals)
{
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *root = NULL;
	struct pyro_err err = { 0 };
	static const char text[] =
		"{\"vm_id\": \"0123456789ab\", \"environment\": \"test\", \"state\": \"started\","
		" \"backend\": \"qemu\", \"vcpu_count\": 1, \"mem_mib\": 1024, \"ttl_seconds\": 600,"
		" \"created_at\": 1.5, \"expires_at\": 601.5,"
		" \"supervisor\": {\"pid\": 4294967295, \"start_ticks\": 1},"
		" \"vmm\": {\"pid\": 4294967296, \"start_ticks\": 1}}";
	int rc = json_parse(doc, text, sizeof text - 1, NULL, &root, &err);
	struct vm_record r;
	memset(&r, 0, sizeof r);
	if (rc == 0)
		rc = vmrecord_from_json(root, &r, &err);
	json_doc_free(doc);
	CHECK(rc == 0);
	CHECK(r.supervisor.pid == 0 && r.vmm.pid == 0);
	CHECK(!procid_alive(&r.supervisor));
	CHECK(!procid_alive(&r.vmm));
	CHECK(procid_pidfd(&r.supervisor) == -1);
	errno = 0;
	CHECK(procid_kill(&r.supervisor, 0) == -1);
	CHECK(errno == ESRCH);
	errno = 0;
	CHECK(procid_kill(&r.vmm, 0) == -1);
	CHECK(errno == ESRCH);
}

/* ---- payloads ---- */

static const char *const payload_keys[] = {
	"vm_id",	 "environment",	 "environment_version", "vcpu_count",
	"mem_mib",	 "ttl_seconds",	 "created_at",		"expires_at",
	"state",	 "network_enabled", "allow_host_compat",	"guest_ip",
	"tap_name",	 "execution_mode", "metadata",
};

static int keys_are(const struct json_value *o, const char *const *keys, size_t n)
{
	if (!o || o->type != JSON_OBJECT || o->u.object.len != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(o->u.object.members[i].key, keys[i]) != 0)
			return 0;
	return 1;
}

static int is_null(const struct json_value *o, const char *key)
{
	const struct json_value *v = json_get(o, key);
	return v && v->type == JSON_NULL;
}

static int is_bool(const struct json_value *o, const char *key, bool want)
{
	bool b;
	return json_get_bool(o, key, &b) && b == want;
}

static int is_double(const struct json_value *o, const char *key, double want)
{
	const struct json_value *v = json_get(o, key);
	return v && v->type == JSON_NUMBER && v->u.number.d == want;
}

TEST(vmrecord_payload_has_the_seeds_keys_without_network)
{
	struct vm_record r;
	memset(&r, 0, sizeof r);
	full_record(&r, "0123456789ab", false);
	snprintf(r.backend, sizeof r.backend, "host");
	r.accel[0] = '\0';
	snprintf(r.execution_mode, sizeof r.execution_mode, "host_compat");
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = vm_payload(&r, doc);
	int keys = keys_are(p, payload_keys, sizeof payload_keys / sizeof payload_keys[0]);
	const struct json_value *m = p ? json_get(p, "metadata") : NULL;
	int64_t vc = 0, mem = 0, ttl = 0;
	int ok = p && json_get_int(p, "vcpu_count", &vc) && json_get_int(p, "mem_mib", &mem) &&
		 json_get_int(p, "ttl_seconds", &ttl);
	int fields = ok && vc == 3 && mem == 2048 && ttl == 900 &&
		     !strcmp(json_get_str(p, "vm_id"), "0123456789ab") &&
		     !strcmp(json_get_str(p, "environment"), "debian-12") &&
		     !strcmp(json_get_str(p, "environment_version"), "1.2.3") &&
		     !strcmp(json_get_str(p, "state"), "started") &&
		     !strcmp(json_get_str(p, "execution_mode"), "host_compat") &&
		     is_double(p, "created_at", r.created_at) &&
		     is_double(p, "expires_at", r.expires_at) &&
		     is_bool(p, "network_enabled", false) && is_bool(p, "allow_host_compat", true) &&
		     is_null(p, "guest_ip") && is_null(p, "tap_name");
	/* metadata: strings only, the seeds' allow_host_compat and
	 * network_enabled as "true"/"false", no transport for the host. */
	int meta = m && m->type == JSON_OBJECT;
	for (size_t i = 0; meta && i < m->u.object.len; i++)
		meta = m->u.object.members[i].value->type == JSON_STRING;
	int meta_vals = meta && json_get_str(m, "allow_host_compat") &&
			!strcmp(json_get_str(m, "allow_host_compat"), "true") &&
			json_get_str(m, "network_enabled") &&
			!strcmp(json_get_str(m, "network_enabled"), "false") &&
			json_get_str(m, "execution_mode") &&
			!strcmp(json_get_str(m, "execution_mode"), "host_compat") &&
			json_get_str(m, "boot_ms") && !strcmp(json_get_str(m, "boot_ms"), "812") &&
			!json_get(m, "transport");
	json_doc_free(doc);
	CHECK(p);
	CHECK(keys);
	CHECK(fields);
	CHECK(meta);
	CHECK(meta_vals);
}

TEST(vmrecord_payload_with_network_and_defaults)
{
	struct vm_record r;
	memset(&r, 0, sizeof r);
	full_record(&r, "0123456789ab", true);
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = vm_payload(&r, doc);
	int keys = keys_are(p, payload_keys, sizeof payload_keys / sizeof payload_keys[0]);
	int net = p && is_bool(p, "network_enabled", true) && json_get_str(p, "guest_ip") &&
		  !strcmp(json_get_str(p, "guest_ip"), "172.29.7.2") && json_get_str(p, "tap_name") &&
		  !strcmp(json_get_str(p, "tap_name"), "pyrotap7");
	const struct json_value *m = p ? json_get(p, "metadata") : NULL;
	const char *transport = m ? json_get_str(m, "transport") : NULL;
	int qemu_transport = transport && !strcmp(transport, "virtio-serial-vmux");

	/* A fresh record: execution_mode "pending", no version is null, an
	 * empty metadata apart from the two flags. */
	struct vm_record fresh;
	memset(&fresh, 0, sizeof fresh);
	snprintf(fresh.vm_id, sizeof fresh.vm_id, "0123456789ab");
	snprintf(fresh.environment, sizeof fresh.environment, "test");
	snprintf(fresh.state, sizeof fresh.state, "created");
	struct json_value *f = vm_payload(&fresh, doc);
	int fresh_ok = keys_are(f, payload_keys, sizeof payload_keys / sizeof payload_keys[0]) &&
		       !strcmp(json_get_str(f, "execution_mode"), "pending") &&
		       is_null(f, "environment_version") && is_null(f, "guest_ip") &&
		       is_null(f, "tap_name");
	const struct json_value *fm = f ? json_get(f, "metadata") : NULL;
	int fresh_meta = fm && fm->type == JSON_OBJECT && fm->u.object.len == 2;

	/* Firecracker's transport; user-mode network has no TAP. */
	snprintf(r.backend, sizeof r.backend, "firecracker");
	snprintf(r.net.mode, sizeof r.net.mode, "user");
	r.net.tap_name[0] = '\0';
	struct json_value *fc = vm_payload(&r, doc);
	const struct json_value *fcm = fc ? json_get(fc, "metadata") : NULL;
	int fc_ok = fcm && json_get_str(fcm, "transport") &&
		    !strcmp(json_get_str(fcm, "transport"), "firecracker-vsock") &&
		    is_null(fc, "tap_name") && json_get_str(fc, "guest_ip");
	json_doc_free(doc);
	CHECK(keys);
	CHECK(net);
	CHECK(qemu_transport);
	CHECK(fresh_ok);
	CHECK(fresh_meta);
	CHECK(fc_ok);
}

TEST(vmrecord_network_payload_without_network)
{
	struct vm_record r;
	memset(&r, 0, sizeof r);
	full_record(&r, "0123456789ab", false);
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = vm_network_payload(&r, doc);
	static const char *const keys[] = { "vm_id", "network_enabled",
					    "outbound_connectivity_expected", "reason" };
	int shape = keys_are(p, keys, 4) && is_bool(p, "network_enabled", false) &&
		    is_bool(p, "outbound_connectivity_expected", false) &&
		    !strcmp(json_get_str(p, "vm_id"), "0123456789ab");
	const char *reason = p ? json_get_str(p, "reason") : NULL;
	int reason_ok = reason && strstr(reason, "without network");
	/* Requested but not configured: the seeds' sentence. */
	r.network_requested = true;
	struct json_value *q = vm_network_payload(&r, doc);
	const char *reason2 = q ? json_get_str(q, "reason") : NULL;
	int reason2_ok = reason2 &&
			 !strcmp(reason2, "network configuration is unavailable for this VM");
	json_doc_free(doc);
	CHECK(shape);
	CHECK(reason_ok);
	CHECK(reason2_ok);
}

TEST(vmrecord_network_payload_with_network)
{
	struct vm_record r;
	memset(&r, 0, sizeof r);
	full_record(&r, "0123456789ab", true);
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *p = vm_network_payload(&r, doc);
	struct buf text = BUF_INIT;
	int emitted = p && json_emit(&text, p, JSON_EMIT_COMPACT) == 0;
	static const char want[] =
		"{\"vm_id\":\"0123456789ab\",\"network_enabled\":true,\"network_mode\":\"tap\","
		"\"tap_name\":\"pyrotap7\",\"guest_ip\":\"172.29.7.2\",\"gateway_ip\":\"172.29.7.1\","
		"\"subnet_cidr\":\"172.29.7.0/30\",\"mac_address\":\"06:00:ac:1d:07:02\","
		"\"dns_servers\":[\"1.1.1.1\",\"2606:4700:4700::1111\"],"
		"\"outbound_connectivity_expected\":true}";
	int same = emitted && text.data && !strcmp(text.data, want);
	if (emitted && !same)
		test_fail_str(__FILE__, __LINE__, "network payload", text.data, want);
	buf_release(&text);
	/* User mode: tap_name null. */
	snprintf(r.net.mode, sizeof r.net.mode, "user");
	r.net.tap_name[0] = '\0';
	struct json_value *u = vm_network_payload(&r, doc);
	int user_ok = u && is_null(u, "tap_name") && !strcmp(json_get_str(u, "network_mode"), "user");
	json_doc_free(doc);
	CHECK(emitted);
	CHECK(same);
	CHECK(user_ok);
}

/* The stored record carries every field under its own name, so other pyro
 * processes (and older readers) can find them. */
TEST(vmrecord_to_json_names_every_field)
{
	struct vm_record r;
	memset(&r, 0, sizeof r);
	full_record(&r, "0123456789ab", true);
	struct json_doc *doc = json_doc_new();
	CHECK(doc);
	struct json_value *o = vmrecord_to_json(&r, doc);
	static const char *const keys[] = {
		"schema",	     "vm_id",	      "environment",	"environment_version",
		"environment_source", "environment_digest", "install_dir", "kernel_image",
		"rootfs_image",	     "backend",	      "accel",		"vcpu_count",
		"mem_mib",	     "ttl_seconds",	      "created_at",	"expires_at",
		"state",	     "network_requested", "allow_host_compat", "execution_mode",
		"network",	     "supervisor",	      "vmm",		"owner",
		"last_error",	     "boot_ms",
	};
	int shape = keys_are(o, keys, sizeof keys / sizeof keys[0]);
	int64_t schema = 0;
	int schema_ok = o && json_get_int(o, "schema", &schema) && schema == 1;
	const struct json_value *sup = o ? json_get(o, "supervisor") : NULL;
	int64_t pid = 0, start = 0;
	int sup_ok = sup && json_get_int(sup, "pid", &pid) && pid == 4242 &&
		     json_get_int(sup, "start_ticks", &start) && start == 123456789012;
	json_doc_free(doc);
	CHECK(shape);
	CHECK(schema_ok);
	CHECK(sup_ok);
}
