/* `pyro doctor`: what this host can do, and what to do next. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/envstore.h"
#include "../core/exitcodes.h"
#include "../core/hostprobe.h"
#include "../core/kvmprobe.h"
#include "../core/vmmanager.h"
#include "cli.h"

/* What pyro would boot here, from the same choice `pyro run` makes (with
 * its real KVM probe), and whether that runs at full speed. */
struct doctor_backend {
	struct vm_backend_choice choice;   /* as pyro run would choose */
	bool kvm_works;                    /* KVM usable by a VMM pyro has */
	bool kvm_unknown;                  /* the probe could not decide */
	char kvm_why[400];                 /* when it is not, though /dev/kvm opens */
	bool tcg_possible;                 /* qemu is there for PYRO_ACCEL=tcg */
};

static void probe_backend(const struct host_report *r, struct doctor_backend *b)
{
	memset(b, 0, sizeof *b);
	vmmanager_backend(false, &b->choice);
	bool kvm_dev = hostprobe_kvm_usable(r);
	enum kvm_verdict v = KVMPROBE_BROKEN;
	if (kvm_dev && !r->firecracker.found && r->qemu.found)
		v = kvmprobe_verdict(r->qemu.path, b->kvm_why, sizeof b->kvm_why, NULL);
	b->kvm_works = kvm_dev && (r->firecracker.found || (r->qemu.found && v == KVMPROBE_OK));
	b->kvm_unknown = kvm_dev && v == KVMPROBE_UNKNOWN;
	b->tcg_possible = r->qemu.found;
}

/* The verdict in one line. runtime_ok means pyro can start real microVMs
 * here at full speed: KVM that works, and a VMM. */
static const char *verdict_of(const struct host_report *r, const struct doctor_backend *b,
			      bool *runtime_ok)
{
	*runtime_ok = b->kvm_works && (r->firecracker.found || r->qemu.found);
	if (*runtime_ok)
		return r->firecracker.found ? "ready: KVM microVMs with firecracker"
					    : "ready: KVM microVMs with qemu";
	if (r->qemu.found)
		return "degraded: KVM is not usable here; real guests only under QEMU "
		       "software emulation (PYRO_ACCEL=tcg, much slower)";
	return "not ready: no usable KVM and no qemu-system-x86_64; "
	       "see the issues above";
}

static int add_issue(struct json_doc *doc, struct json_value *issues, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int add_issue(struct json_doc *doc, struct json_value *issues, const char *fmt, ...)
{
	struct buf text = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(&text, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = json_array_push(doc, issues, json_string(doc, text.data));
	buf_release(&text);
	return rc;
}

static int add_issues(struct json_doc *doc, struct json_value *issues,
		      const struct host_report *r, const struct doctor_backend *b)
{
	int rc = 0;
#define ISSUE(text) rc |= json_array_push(doc, issues, json_string(doc, text))
	if (b->kvm_why[0] && b->kvm_unknown)
		rc |= add_issue(doc, issues, "%s; pyro run will still try KVM and report QEMU's "
				"own error if the guest does not boot", b->kvm_why);
	else if (b->kvm_why[0])
		rc |= add_issue(doc, issues, "%s: this host's KVM does not work for guests "
				"(often nested virtualization without full support); guests run only "
				"under slow QEMU software emulation (PYRO_ACCEL=tcg)", b->kvm_why);
	if (!r->kvm.exists)
		ISSUE("/dev/kvm is not available on this host: enable virtualization in "
		      "the firmware or the hypervisor (nested virtualization) and load "
		      "kvm_intel or kvm_amd; without it guests run only under slow QEMU "
		      "software emulation (PYRO_ACCEL=tcg)");
	else if (!r->kvm.readable || !r->kvm.writable)
		ISSUE("/dev/kvm exists but this user cannot open it read-write: add the user "
		      "to the 'kvm' group (then log in again)");
	if (r->firecracker.override_bad)
		rc |= add_issue(doc, issues, "PYRO_FIRECRACKER=%s is not an executable file: "
				"point it at the firecracker binary or unset it",
				getenv("PYRO_FIRECRACKER"));
	if (r->qemu.override_bad)
		rc |= add_issue(doc, issues, "PYRO_QEMU=%s is not an executable file: point "
				"it at qemu-system-x86_64 or unset it", getenv("PYRO_QEMU"));
	if (!r->firecracker.found && !r->qemu.found)
		ISSUE("no VMM found: install QEMU (apt-get install qemu-system-x86) or put "
		      "a firecracker binary on PATH or in PYRO_FIRECRACKER");
	if (!r->tun.exists || !r->tun.readable || !r->tun.writable)
		ISSUE("/dev/net/tun is missing or not usable: guests with --network under "
		      "firecracker need it (QEMU user-mode networking does not)");
	if (r->ip_forward_known && !r->ip_forward)
		ISSUE("IPv4 forwarding is off (/proc/sys/net/ipv4/ip_forward = 0): "
		      "firecracker guests with --network need it (sysctl -w net.ipv4.ip_forward=1)");
	if (r->cache_error[0])
		ISSUE(r->cache_error);
	if (r->state_error[0])
		ISSUE(r->state_error);
	if (r->cache_dir[0] && !r->cache.writable)
		ISSUE("the environment cache directory is not writable: set PYRO_CACHE_DIR "
		      "to a writable directory");
	if (r->state_dir[0] && !r->state.writable)
		ISSUE("the state directory is not writable: set PYRO_STATE_DIR to a "
		      "writable directory");
#undef ISSUE
	return rc;
}

static struct json_value *access_object(struct json_doc *doc, const struct dev_access *a)
{
	struct json_value *o = json_object(doc);
	int rc = json_set_bool(doc, o, "exists", a->exists);
	rc |= json_set_bool(doc, o, "readable", a->readable);
	rc |= json_set_bool(doc, o, "writable", a->writable);
	return rc ? NULL : o;
}

static struct json_value *vmm_object(struct json_doc *doc, const struct vmm_probe *p)
{
	struct json_value *o = json_object(doc);
	int rc = json_set_bool(doc, o, "found", p->found);
	rc |= p->found ? json_set_str(doc, o, "path", p->path) : json_set_null(doc, o, "path");
	rc |= p->version[0] ? json_set_str(doc, o, "version", p->version)
			    : json_set_null(doc, o, "version");
	return rc ? NULL : o;
}

static struct json_value *dir_object(struct json_doc *doc, const char *path,
				     const struct path_access *a)
{
	struct json_value *o = json_object(doc);
	int rc = path[0] ? json_set_str(doc, o, "path", path) : json_set_null(doc, o, "path");
	rc |= json_set_bool(doc, o, "exists", a->exists);
	rc |= json_set_bool(doc, o, "writable", a->writable);
	return rc ? NULL : o;
}

/* The environment cache: where it is, the catalog version, what is
 * installed (valid installs only) and what is broken. */
static struct json_value *environments_object(struct json_doc *doc)
{
	struct json_value *o = json_object(doc), *installed = json_array(doc),
			  *broken = json_array(doc);
	if (!o || !installed || !broken)
		return NULL;
	struct envstore st;
	struct pyro_err err;
	int rc = json_set_str(doc, o, "catalog_version", env_catalog_version());
	if (envstore_open(&st, &err) < 0) {
		rc |= json_set_null(doc, o, "cache_dir");
		rc |= json_set_str(doc, o, "error", err.msg);
	} else {
		rc |= json_set_str(doc, o, "cache_dir", st.dir);
		size_t n;
		const struct env_catalog_entry *cat = env_catalog(&n);
		for (size_t i = 0; i < n; i++) {
			struct env_install in;
			if (envstore_check(&st, cat[i].name, cat[i].version, &in, NULL) < 0)
				continue;
			if (in.installed || in.present)
				rc |= json_array_push(doc, in.installed ? installed : broken,
						      json_string(doc, cat[i].name));
			envstore_install_release(&in);
		}
	}
	rc |= json_object_set(doc, o, "installed", installed);
	rc |= json_object_set(doc, o, "broken", broken);
	return rc ? NULL : o;
}

static struct json_value *backend_object(struct json_doc *doc, const struct doctor_backend *b)
{
	struct json_value *o = json_object(doc);
	const struct vm_backend_choice *c = &b->choice;
	int rc = c->backend[0] ? json_set_str(doc, o, "name", c->backend)
			       : json_set_null(doc, o, "name");
	rc |= c->accel[0] ? json_set_str(doc, o, "accel", c->accel) : json_set_null(doc, o, "accel");
	rc |= c->why[0] ? json_set_str(doc, o, "reason", c->why) : json_set_null(doc, o, "reason");
	rc |= json_set_bool(doc, o, "kvm_works", b->kvm_works);
	return rc ? NULL : o;
}

/* The seeds' capability triple, from what pyro would boot here: a guest
 * backend boots; exec goes through the agent on every backend pyro boots
 * (virtio-serial or vsock); network is QEMU's user mode (no privileges)
 * or, for Firecracker, a TAP, which needs /dev/net/tun, forwarding and
 * root or sudo. */
static struct json_value *capabilities_object(struct json_doc *doc, const struct host_report *r,
					      const struct doctor_backend *b)
{
	const char *be = b->choice.backend;
	bool boot = !strcmp(be, "qemu") || !strcmp(be, "firecracker");
	bool net = !strcmp(be, "qemu") ||
		   (!strcmp(be, "firecracker") && r->tun.exists && r->tun.readable &&
		    r->tun.writable && r->ip_forward);
	struct json_value *o = json_object(doc);
	int rc = json_set_bool(doc, o, "vm_boot", boot);
	rc |= json_set_bool(doc, o, "guest_exec", boot);
	rc |= json_set_bool(doc, o, "guest_network", boot && net);
	return rc ? NULL : o;
}

/* One command to run next: how to get a backend, else the environment,
 * else a first run. */
static const char *next_step(struct json_doc *doc, struct json_value *out,
			     const struct doctor_backend *b, const char *env)
{
	static char text[512];
	(void)doc;
	const struct json_value *inst = json_get(json_get(out, "environments"), "installed");
	bool have = false;
	for (size_t i = 0; inst && i < inst->u.array.len; i++)
		have |= !strcmp(inst->u.array.items[i]->u.string.ptr, env);
	if (!b->choice.backend[0] && b->tcg_possible)
		snprintf(text, sizeof text, "PYRO_ACCEL=tcg pyro run %s -- echo hello "
			 "(software emulation), or enable KVM", env);
	else if (!b->choice.backend[0])
		snprintf(text, sizeof text, "apt-get install qemu-system-x86");
	else if (!have)
		snprintf(text, sizeof text, "pyro env pull %s", env);
	else
		snprintf(text, sizeof text, "pyro run %s -- echo hello", env);
	return text;
}

static int run_doctor(struct cmd_call *call)
{
	struct host_report r;
	hostprobe_run(&r);
	struct json_value *out = cmd_result_object(call);
	if (!out)
		return PYRO_EXIT_INTERNAL;
	struct json_doc *doc = call->doc;
	struct doctor_backend b;
	probe_backend(&r, &b);
	bool runtime_ok;
	const char *verdict = verdict_of(&r, &b, &runtime_ok);

	struct json_value *net = json_object(doc);
	int rc = json_set_bool(doc, net, "tun_available", r.tun.exists && r.tun.readable &&
								   r.tun.writable);
	rc |= r.ip_forward_known ? json_set_bool(doc, net, "ip_forward_enabled", r.ip_forward)
				 : json_set_null(doc, net, "ip_forward_enabled");
	struct json_value *vmms = json_object(doc);
	rc |= json_object_set(doc, vmms, "firecracker", vmm_object(doc, &r.firecracker));
	rc |= json_object_set(doc, vmms, "qemu", vmm_object(doc, &r.qemu));
	struct json_value *issues = json_array(doc);
	rc |= add_issues(doc, issues, &r, &b);

	rc |= json_set_str(doc, out, "platform", r.platform);
	rc |= json_set_bool(doc, out, "runtime_ok", runtime_ok);
	rc |= json_object_set(doc, out, "kvm", access_object(doc, &r.kvm));
	rc |= json_object_set(doc, out, "vhost_vsock", access_object(doc, &r.vhost_vsock));
	rc |= json_object_set(doc, out, "tun", access_object(doc, &r.tun));
	rc |= json_object_set(doc, out, "networking", net);
	rc |= json_object_set(doc, out, "vmm", vmms);
	rc |= json_object_set(doc, out, "cache_dir", dir_object(doc, r.cache_dir, &r.cache));
	rc |= json_object_set(doc, out, "state_dir", dir_object(doc, r.state_dir, &r.state));
	rc |= json_object_set(doc, out, "environments", environments_object(doc));
	rc |= json_object_set(doc, out, "issues", issues);
	rc |= json_set_str(doc, out, "verdict", verdict);
	rc |= json_object_set(doc, out, "backend", backend_object(doc, &b));
	rc |= json_object_set(doc, out, "capabilities", capabilities_object(doc, &r, &b));
	rc |= json_set_str(doc, out, "next_step", next_step(doc, out, &b, cmd_str(call, "environment")));
	if (rc)
		return pyro_err_set(&call->err, PYRO_EXIT_INTERNAL,
				    "out of memory building the doctor report"),
		       PYRO_EXIT_INTERNAL;
	return PYRO_EXIT_OK;
}

static const char *yn(const struct json_value *o, const char *key)
{
	bool b = false;
	return json_get_bool(o, key, &b) && b ? "yes" : "no";
}

static void render_vmm(struct buf *out, const char *label, const struct json_value *v)
{
	const char *path = json_get_str(v, "path");
	const char *version = json_get_str(v, "version");
	if (!path)
		buf_printf(out, " %s=not found", label);
	else
		buf_printf(out, " %s=%s (%s)", label, version ? version : "version unknown", path);
}

static void render_dir(struct buf *out, const char *label, const struct json_value *d)
{
	const char *path = json_get_str(d, "path");
	bool exists = false, writable = false;
	json_get_bool(d, "exists", &exists);
	json_get_bool(d, "writable", &writable);
	if (!path) {
		buf_printf(out, "%s: unknown (see the issues below)\n", label);
		return;
	}
	buf_printf(out, "%s: %s (%s%s)\n", label, path ? path : "unknown",
		   exists ? "" : "not created yet, ",
		   writable ? "writable" : "NOT writable");
}

static int render_doctor(const struct cmd_call *call, struct buf *out)
{
	const struct json_value *r = call->result;
	const struct json_value *kvm = json_get(r, "kvm");
	const struct json_value *vsock = json_get(r, "vhost_vsock");
	const struct json_value *net = json_get(r, "networking");
	const struct json_value *vmm = json_get(r, "vmm");
	bool ok = false, fwd = false;
	json_get_bool(r, "runtime_ok", &ok);
	bool fwd_known = json_get_bool(net, "ip_forward_enabled", &fwd);

	buf_printf(out, "Platform: %s\n", json_get_str(r, "platform"));
	buf_printf(out, "Runtime: %s\n", ok ? "PASS" : "FAIL");
	buf_printf(out, "KVM: exists=%s readable=%s writable=%s\n", yn(kvm, "exists"),
		   yn(kvm, "readable"), yn(kvm, "writable"));
	buf_printf(out, "vhost-vsock: exists=%s readable=%s writable=%s\n", yn(vsock, "exists"),
		   yn(vsock, "readable"), yn(vsock, "writable"));
	buf_printf(out, "Networking: tun=%s ip_forward=%s\n", yn(net, "tun_available"),
		   fwd_known ? (fwd ? "yes" : "no") : "unknown");
	buf_append_str(out, "VMMs:");
	render_vmm(out, "firecracker", json_get(vmm, "firecracker"));
	render_vmm(out, "qemu", json_get(vmm, "qemu"));
	buf_append_char(out, '\n');
	render_dir(out, "Cache dir", json_get(r, "cache_dir"));
	render_dir(out, "State dir", json_get(r, "state_dir"));
	const struct json_value *envs = json_get(r, "environments");
	const char *env_dir = json_get_str(envs, "cache_dir");
	buf_printf(out, "Environment cache: %s\n", env_dir ? env_dir : json_get_str(envs, "error"));
	buf_printf(out, "Catalog version: %s\n", json_get_str(envs, "catalog_version"));
	const struct json_value *inst = json_get(envs, "installed");
	buf_append_str(out, "Environments installed:");
	for (size_t i = 0; inst && i < inst->u.array.len; i++)
		buf_printf(out, "%s %s", i ? "," : "", inst->u.array.items[i]->u.string.ptr);
	buf_append_str(out, inst && inst->u.array.len ? "\n" : " none (pyro env pull NAME)\n");
	const struct json_value *broken = json_get(envs, "broken");
	for (size_t i = 0; broken && i < broken->u.array.len; i++)
		buf_printf(out, "Environment %s: broken install (pyro env pull %s repairs it)\n",
			   broken->u.array.items[i]->u.string.ptr,
			   broken->u.array.items[i]->u.string.ptr);
	const struct json_value *issues = json_get(r, "issues");
	if (issues && issues->u.array.len) {
		buf_append_str(out, "Issues:\n");
		for (size_t i = 0; i < issues->u.array.len; i++)
			buf_printf(out, "  - %s\n", issues->u.array.items[i]->u.string.ptr);
	}
	const struct json_value *be = json_get(r, "backend");
	const char *name = json_get_str(be, "name"), *accel = json_get_str(be, "accel");
	if (name)
		buf_printf(out, "Backend: %s%s%s%s\n", name, accel ? " (" : "", accel ? accel : "",
			   accel ? (strcmp(accel, "tcg") ? ")" : ": software emulation)") : "");
	else
		buf_printf(out, "Backend: none (%s)\n", json_get_str(be, "reason"));
	const struct json_value *cap = json_get(r, "capabilities");
	buf_printf(out, "Capabilities: vm_boot=%s guest_exec=%s guest_network=%s\n",
		   yn(cap, "vm_boot"), yn(cap, "guest_exec"), yn(cap, "guest_network"));
	buf_printf(out, "Verdict: %s\n", json_get_str(r, "verdict"));
	buf_printf(out, "Run: %s\n", json_get_str(r, "next_step"));
	return 0;
}

static const struct arg_spec doctor_args[] = {
	{ .name = "environment", .type = ARG_STRING, .def = "debian:12", .metavar = "ENVIRONMENT",
	  .help = "The environment the next-step advice is about." },
	CLI_JSON_ARG,
	{ 0 },
};

const struct command cli_doctor_command = {
	.name = "doctor",
	.summary = "Check what this host offers microVMs (KVM, vsock, networking, VMMs, "
		   "directories) and say what to do next",
	.args = doctor_args,
	.run = run_doctor,
	.render = render_doctor,
};
