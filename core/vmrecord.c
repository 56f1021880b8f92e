/* VM records on disk (vmrecord.h). */
#include "vmrecord.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "atomicfile.h"
#include "buf.h"
#include "exitcodes.h"
#include "paths.h"

int vmstore_dir(char *out, size_t cap, struct pyro_err *err)
{
	char state[PATH_MAX];
	if (paths_state_dir(state, sizeof state, err) < 0)
		return -1;
	if ((size_t)snprintf(out, cap, "%s/vms", state) >= cap)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the VM directory path is too long: %s/vms",
				    state);
	return 0;
}

int vm_id_check(const char *vm_id, struct pyro_err *err)
{
	if (!vm_id || !randid_valid(vm_id))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "'%.64s' is not a vm id: a vm id is 12 lowercase hex characters "
				    "as vm_create returned it",
				    vm_id ? vm_id : "");
	return 0;
}

int vm_path(const struct vm_record *r, const char *name, char *out, size_t cap,
	    struct pyro_err *err)
{
	if ((size_t)snprintf(out, cap, "%s/%s", r->dir, name) >= cap)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the path %s/%s is too long; set PYRO_STATE_DIR to a shorter "
				    "directory",
				    r->dir, name);
	return 0;
}

static void put(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

#define PUT(dst, v, key) put(dst, sizeof dst, json_get_str(v, key))

static int set_procid(struct json_doc *doc, struct json_value *o, const char *key,
		      const struct proc_id *id)
{
	if (id->pid <= 0)
		return json_set_null(doc, o, key);
	struct json_value *p = json_object(doc);
	if (!p || json_set_int(doc, p, "pid", id->pid) < 0 ||
	    json_set_int(doc, p, "start_ticks", (int64_t)id->start_ticks) < 0)
		return -1;
	return json_object_set(doc, o, key, p);
}

static void get_procid(const struct json_value *v, const char *key, struct proc_id *id)
{
	const struct json_value *p = json_get(v, key);
	int64_t pid = 0, start = 0;
	id->pid = 0;
	id->start_ticks = 0;
	if (p && json_get_int(p, "pid", &pid) && json_get_int(p, "start_ticks", &start) &&
	    pid > 0 && pid <= INT32_MAX && start >= 0) {
		id->pid = (pid_t)pid;
		id->start_ticks = (uint64_t)start;
	}
}

static struct json_value *net_json(const struct vm_net *n, struct json_doc *doc)
{
	struct json_value *o = json_object(doc), *dns = json_array(doc);
	if (!o || !dns)
		return NULL;
	for (int i = 0; i < n->dns_count && i < 3; i++)
		if (json_array_push(doc, dns, json_string(doc, n->dns[i])) < 0)
			return NULL;
	if (json_set_str(doc, o, "mode", n->mode) < 0 ||
	    json_set_str(doc, o, "tap_name", n->tap_name) < 0 ||
	    json_set_str(doc, o, "guest_ip", n->guest_ip) < 0 ||
	    json_set_str(doc, o, "gateway_ip", n->gateway_ip) < 0 ||
	    json_set_str(doc, o, "subnet_cidr", n->subnet_cidr) < 0 ||
	    json_set_str(doc, o, "mac_address", n->mac_address) < 0 ||
	    json_object_set(doc, o, "dns_servers", dns) < 0 ||
	    json_set_int(doc, o, "slot", n->slot) < 0)
		return NULL;
	return o;
}

static void net_from_json(const struct json_value *o, struct vm_net *n)
{
	memset(n, 0, sizeof *n);
	n->slot = -1;
	if (!o || o->type != JSON_OBJECT)
		return;
	n->enabled = true;
	PUT(n->mode, o, "mode");
	PUT(n->tap_name, o, "tap_name");
	PUT(n->guest_ip, o, "guest_ip");
	PUT(n->gateway_ip, o, "gateway_ip");
	PUT(n->subnet_cidr, o, "subnet_cidr");
	PUT(n->mac_address, o, "mac_address");
	const struct json_value *dns = json_get(o, "dns_servers");
	if (dns && dns->type == JSON_ARRAY)
		for (size_t i = 0; i < dns->u.array.len && n->dns_count < 3; i++)
			if (dns->u.array.items[i]->type == JSON_STRING)
				put(n->dns[n->dns_count++], sizeof n->dns[0],
				    dns->u.array.items[i]->u.string.ptr);
	int64_t slot;
	if (json_get_int(o, "slot", &slot))
		n->slot = (int)slot;
}

struct json_value *vmrecord_to_json(const struct vm_record *r, struct json_doc *doc)
{
	struct json_value *o = json_object(doc);
	if (!o)
		return NULL;
	int bad = json_set_int(doc, o, "schema", 1) < 0 ||
		  json_set_str(doc, o, "vm_id", r->vm_id) < 0 ||
		  json_set_str(doc, o, "environment", r->environment) < 0 ||
		  json_set_str(doc, o, "environment_version", r->environment_version) < 0 ||
		  json_set_str(doc, o, "environment_source", r->environment_source) < 0 ||
		  json_set_str(doc, o, "environment_digest", r->environment_digest) < 0 ||
		  json_set_str(doc, o, "install_dir", r->install_dir) < 0 ||
		  json_set_str(doc, o, "kernel_image", r->kernel_image) < 0 ||
		  json_set_str(doc, o, "rootfs_image", r->rootfs_image) < 0 ||
		  json_set_str(doc, o, "backend", r->backend) < 0 ||
		  json_set_str(doc, o, "accel", r->accel) < 0 ||
		  json_set_int(doc, o, "vcpu_count", r->vcpu_count) < 0 ||
		  json_set_int(doc, o, "mem_mib", r->mem_mib) < 0 ||
		  json_set_int(doc, o, "ttl_seconds", r->ttl_seconds) < 0 ||
		  json_object_set(doc, o, "created_at", json_double(doc, r->created_at)) < 0 ||
		  json_object_set(doc, o, "expires_at", json_double(doc, r->expires_at)) < 0 ||
		  json_set_str(doc, o, "state", r->state) < 0 ||
		  json_set_bool(doc, o, "network_requested", r->network_requested) < 0 ||
		  json_set_bool(doc, o, "allow_host_compat", r->allow_host_compat) < 0 ||
		  json_set_str(doc, o, "execution_mode", r->execution_mode) < 0 ||
		  (r->net.enabled ? json_object_set(doc, o, "network", net_json(&r->net, doc))
				  : json_set_null(doc, o, "network")) < 0 ||
		  set_procid(doc, o, "supervisor", &r->supervisor) < 0 ||
		  set_procid(doc, o, "vmm", &r->vmm) < 0 ||
		  set_procid(doc, o, "owner", &r->owner) < 0 ||
		  json_set_str(doc, o, "last_error", r->last_error) < 0 ||
		  json_object_set(doc, o, "boot_ms", json_double(doc, r->boot_ms)) < 0;
	return bad ? NULL : o;
}

static bool get_double(const struct json_value *o, const char *key, double *out)
{
	const struct json_value *v = json_get(o, key);
	if (!v || v->type != JSON_NUMBER)
		return false;
	*out = v->u.number.d;
	return true;
}

int vmrecord_from_json(const struct json_value *v, struct vm_record *r, struct pyro_err *err)
{
	char dir[PATH_MAX];
	memcpy(dir, r->dir, sizeof dir);
	memset(r, 0, sizeof *r);
	memcpy(r->dir, dir, sizeof dir);
	int64_t vc, mm, ttl;
	if (!v || v->type != JSON_OBJECT || !json_get_str(v, "vm_id") ||
	    !json_get_str(v, "environment") || !json_get_str(v, "state") ||
	    !json_get_str(v, "backend") || !json_get_int(v, "vcpu_count", &vc) ||
	    !json_get_int(v, "mem_mib", &mm) || !json_get_int(v, "ttl_seconds", &ttl) ||
	    !get_double(v, "created_at", &r->created_at) ||
	    !get_double(v, "expires_at", &r->expires_at))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the VM record is missing vm_id, environment, state, backend, "
				    "limits or times");
	PUT(r->vm_id, v, "vm_id");
	PUT(r->environment, v, "environment");
	PUT(r->environment_version, v, "environment_version");
	PUT(r->environment_source, v, "environment_source");
	PUT(r->environment_digest, v, "environment_digest");
	PUT(r->install_dir, v, "install_dir");
	PUT(r->kernel_image, v, "kernel_image");
	PUT(r->rootfs_image, v, "rootfs_image");
	PUT(r->backend, v, "backend");
	PUT(r->accel, v, "accel");
	PUT(r->state, v, "state");
	PUT(r->execution_mode, v, "execution_mode");
	PUT(r->last_error, v, "last_error");
	r->vcpu_count = (int)vc;
	r->mem_mib = (int)mm;
	r->ttl_seconds = (int)ttl;
	json_get_bool(v, "network_requested", &r->network_requested);
	json_get_bool(v, "allow_host_compat", &r->allow_host_compat);
	net_from_json(json_get(v, "network"), &r->net);
	get_procid(v, "supervisor", &r->supervisor);
	get_procid(v, "vmm", &r->vmm);
	get_procid(v, "owner", &r->owner);
	get_double(v, "boot_ms", &r->boot_ms);
	return 0;
}

int vmrecord_load(const char *vms_dir, const char *vm_id, struct vm_record *r,
		  struct pyro_err *err)
{
	if (vm_id_check(vm_id, err) < 0)
		return -1;
	memset(r, 0, sizeof *r);
	if ((size_t)snprintf(r->dir, sizeof r->dir, "%s/%s", vms_dir, vm_id) >= sizeof r->dir)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the VM directory path is too long");
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/vm.json", r->dir);
	struct buf text = BUF_INIT;
	if (buf_read_file(&text, path) < 0) {
		int e = errno;
		buf_release(&text);
		if (e == ENOENT)
			return pyro_err_set(err, PYRO_EXIT_USAGE, "vm '%s' does not exist", vm_id);
		return pyro_err_sys(err, e, "reading the record of vm '%s' (%s)", vm_id, path);
	}
	struct json_doc *doc = json_doc_new();
	struct json_value *root;
	int rc = doc ? json_parse(doc, text.data, text.len, NULL, &root, err) : -1;
	if (!doc)
		pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	if (rc == 0)
		rc = vmrecord_from_json(root, r, err);
	if (rc == 0 && strcmp(r->vm_id, vm_id) != 0)
		rc = pyro_err_set(err, PYRO_EXIT_FAILURE, "the record names vm '%s'", r->vm_id);
	if (rc < 0) {
		pyro_err_wrap(err, "the record of vm '%s' (%s) is damaged; delete the VM to remove it",
			      vm_id, path);
		if (err)
			err->code = PYRO_EXIT_FAILURE; /* not the caller's input */
	}
	json_doc_free(doc);
	buf_release(&text);
	return rc;
}

int vmrecord_save(const struct vm_record *r, struct pyro_err *err)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *o = doc ? vmrecord_to_json(r, doc) : NULL;
	struct buf text = BUF_INIT;
	int rc = -1;
	if (!o || json_emit(&text, o, JSON_EMIT_PRETTY) < 0 || buf_append_char(&text, '\n') < 0) {
		pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory writing a VM record");
	} else {
		char path[PATH_MAX + 16];
		snprintf(path, sizeof path, "%s/vm.json", r->dir);
		rc = atomicfile_write(path, text.data, text.len, 0600, err);
	}
	buf_release(&text);
	json_doc_free(doc);
	return rc;
}

static int set_meta(struct json_doc *doc, struct json_value *m, const char *key, const char *val)
{
	return *val ? json_set_str(doc, m, key, val) : 0;
}

struct json_value *vm_payload(const struct vm_record *r, struct json_doc *doc)
{
	struct json_value *o = json_object(doc), *m = json_object(doc);
	if (!o || !m)
		return NULL;
	char num[32];
	int bad = set_meta(doc, m, "environment_version", r->environment_version) < 0 ||
		  set_meta(doc, m, "environment_source", r->environment_source) < 0 ||
		  set_meta(doc, m, "environment_digest", r->environment_digest) < 0 ||
		  set_meta(doc, m, "environment_install_dir", r->install_dir) < 0 ||
		  set_meta(doc, m, "kernel_image", r->kernel_image) < 0 ||
		  set_meta(doc, m, "rootfs_image", r->rootfs_image) < 0 ||
		  set_meta(doc, m, "backend", r->backend) < 0 ||
		  set_meta(doc, m, "accel", r->accel) < 0 ||
		  set_meta(doc, m, "execution_mode", r->execution_mode) < 0 ||
		  json_set_str(doc, m, "allow_host_compat",
			       r->allow_host_compat ? "true" : "false") < 0 ||
		  json_set_str(doc, m, "network_enabled", r->net.enabled ? "true" : "false") < 0 ||
		  set_meta(doc, m, "last_error", r->last_error) < 0;
	if (!bad && r->boot_ms > 0) {
		snprintf(num, sizeof num, "%.0f", r->boot_ms);
		bad = json_set_str(doc, m, "boot_ms", num) < 0;
	}
	if (!bad && r->backend[0] && strcmp(r->backend, "host") != 0)
		bad = json_set_str(doc, m, "transport",
				   strcmp(r->backend, "qemu") == 0 ? "virtio-serial-vmux"
								   : "firecracker-vsock") < 0;
	bad = bad || json_set_str(doc, o, "vm_id", r->vm_id) < 0 ||
	      json_set_str(doc, o, "environment", r->environment) < 0 ||
	      (r->environment_version[0]
		       ? json_set_str(doc, o, "environment_version", r->environment_version)
		       : json_set_null(doc, o, "environment_version")) < 0 ||
	      json_set_int(doc, o, "vcpu_count", r->vcpu_count) < 0 ||
	      json_set_int(doc, o, "mem_mib", r->mem_mib) < 0 ||
	      json_set_int(doc, o, "ttl_seconds", r->ttl_seconds) < 0 ||
	      json_object_set(doc, o, "created_at", json_double(doc, r->created_at)) < 0 ||
	      json_object_set(doc, o, "expires_at", json_double(doc, r->expires_at)) < 0 ||
	      json_set_str(doc, o, "state", r->state) < 0 ||
	      json_set_bool(doc, o, "network_enabled", r->net.enabled) < 0 ||
	      json_set_bool(doc, o, "allow_host_compat", r->allow_host_compat) < 0 ||
	      (r->net.enabled && r->net.guest_ip[0]
		       ? json_set_str(doc, o, "guest_ip", r->net.guest_ip)
		       : json_set_null(doc, o, "guest_ip")) < 0 ||
	      (r->net.enabled && r->net.tap_name[0]
		       ? json_set_str(doc, o, "tap_name", r->net.tap_name)
		       : json_set_null(doc, o, "tap_name")) < 0 ||
	      json_set_str(doc, o, "execution_mode",
			   r->execution_mode[0] ? r->execution_mode : "pending") < 0 ||
	      json_object_set(doc, o, "metadata", m) < 0;
	return bad ? NULL : o;
}

struct json_value *vm_network_payload(const struct vm_record *r, struct json_doc *doc)
{
	struct json_value *o = json_object(doc);
	if (!o || json_set_str(doc, o, "vm_id", r->vm_id) < 0)
		return NULL;
	if (!r->net.enabled) {
		if (json_set_bool(doc, o, "network_enabled", false) < 0 ||
		    json_set_bool(doc, o, "outbound_connectivity_expected", false) < 0 ||
		    json_set_str(doc, o, "reason",
				 r->network_requested
					 ? "network configuration is unavailable for this VM"
					 : "the VM was created without network (pass network=true / "
					   "--network for egress)") < 0)
			return NULL;
		return o;
	}
	const struct vm_net *n = &r->net;
	struct json_value *dns = json_array(doc);
	if (!dns)
		return NULL;
	for (int i = 0; i < n->dns_count; i++)
		if (json_array_push(doc, dns, json_string(doc, n->dns[i])) < 0)
			return NULL;
	if (json_set_bool(doc, o, "network_enabled", true) < 0 ||
	    json_set_str(doc, o, "network_mode", n->mode) < 0 ||
	    (n->tap_name[0] ? json_set_str(doc, o, "tap_name", n->tap_name)
			    : json_set_null(doc, o, "tap_name")) < 0 ||
	    json_set_str(doc, o, "guest_ip", n->guest_ip) < 0 ||
	    json_set_str(doc, o, "gateway_ip", n->gateway_ip) < 0 ||
	    json_set_str(doc, o, "subnet_cidr", n->subnet_cidr) < 0 ||
	    json_set_str(doc, o, "mac_address", n->mac_address) < 0 ||
	    json_object_set(doc, o, "dns_servers", dns) < 0 ||
	    json_set_bool(doc, o, "outbound_connectivity_expected", true) < 0)
		return NULL;
	return o;
}
