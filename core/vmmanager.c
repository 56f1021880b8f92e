/* The VM lifecycle (vmmanager.h). */
#include "vmmanager.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentclient.h"
#include "buf.h"
#include "envcatalog.h"
#include "envpull.h"
#include "envstore.h"
#include "exitcodes.h"
#include "fsutil.h"
#include "hostprobe.h"
#include "initramfs.h"
#include "kvmprobe.h"
#include "netplan.h"
#include "lock.h"
#include "log.h"
#include "paths.h"
#include "spawn.h"
#include "vmsup.h"

#define DEFAULT_BOOT_TIMEOUT_S 60
#define HELLO_TIMEOUT_MS 10000
#define SUPERVISOR_STOP_MS 15000
/* Host compat: what a command may print before it is cut (the guest
 * agent's own caps are the same order). */
#define HOST_OUTPUT_MAX ((size_t)16 << 20)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long env_long(const char *name, long def, long lo, long hi)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	return errno || *end || n < lo || n > hi ? def : n;
}

static void progress(const struct vm_progress *pg, const char *phase, const struct vm_record *r)
{
	if (pg && pg->fn)
		pg->fn(pg->ctx, phase, r);
}

static __thread int cancel_fd = -1;

void vm_set_cancel_fd(int fd)
{
	cancel_fd = fd;
}

/* ---- backend choice ---- */

static bool kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

void vmmanager_backend(bool allow_host_compat, struct vm_backend_choice *c)
{
	memset(c, 0, sizeof *c);
	char fc_path[PATH_MAX], qemu_path[PATH_MAX];
	const char *forced = getenv("PYRO_BACKEND");
	const char *accel = getenv("PYRO_ACCEL");
	bool kvm = kvm_usable();
	bool tcg_ok = accel && strcmp(accel, "tcg") == 0;
	bool fc = hostprobe_find_exe("firecracker", "PYRO_FIRECRACKER", fc_path, sizeof fc_path);
	bool qemu = hostprobe_find_exe("qemu-system-x86_64", "PYRO_QEMU", qemu_path, sizeof qemu_path);
	char kvm_broken[400] = "";
	if (forced && *forced) {
		if (!strcmp(forced, "host")) {
			if (allow_host_compat)
				snprintf(c->backend, sizeof c->backend, "host");
			else
				snprintf(c->why, sizeof c->why,
					 "PYRO_BACKEND=host runs commands on the host, which needs "
					 "allow_host_compat=true (CLI: --allow-host-compat)");
			return;
		}
		if (!strcmp(forced, "firecracker")) {
			if (fc && kvm)
				snprintf(c->backend, sizeof c->backend, "firecracker"),
					snprintf(c->accel, sizeof c->accel, "kvm");
			else
				snprintf(c->why, sizeof c->why,
					 "PYRO_BACKEND=firecracker needs %s",
					 !fc ? "a firecracker binary (PATH or PYRO_FIRECRACKER)"
					     : "a /dev/kvm this user can open read-write");
			return;
		}
		if (strcmp(forced, "qemu") != 0) {
			snprintf(c->why, sizeof c->why,
				 "PYRO_BACKEND must be qemu, firecracker or host (got '%.40s')", forced);
			return;
		}
		fc = false;
	}
	/* The device opening is not enough for QEMU (kvmprobe.h): ask QEMU,
	 * once per host boot, when it is the candidate and TCG was not chosen
	 * anyway. */
	/* Only a verdict of "broken" turns KVM away: a probe that could not
	 * decide (a busy host timing it out) leaves KVM to be tried, and a
	 * boot that then fails says why in QEMU's own words. */
	if (kvm && qemu && !tcg_ok && !fc &&
	    kvmprobe_verdict(qemu_path, kvm_broken, sizeof kvm_broken, NULL) == KVMPROBE_BROKEN)
		kvm = false;
	if (fc && kvm && !tcg_ok) {
		snprintf(c->backend, sizeof c->backend, "firecracker");
		snprintf(c->accel, sizeof c->accel, "kvm");
		return;
	}
	if (qemu && (kvm || tcg_ok)) {
		snprintf(c->backend, sizeof c->backend, "qemu");
		snprintf(c->accel, sizeof c->accel, "%s", kvm && !tcg_ok ? "kvm" : "tcg");
		if (accel && !strcmp(accel, "kvm") && !kvm) {
			c->backend[0] = c->accel[0] = '\0';
			snprintf(c->why, sizeof c->why, "PYRO_ACCEL=kvm but KVM is not usable: %s",
				 *kvm_broken ? kvm_broken
					     : "/dev/kvm cannot be opened read-write by this user");
		}
		return;
	}
	if (allow_host_compat) {
		snprintf(c->backend, sizeof c->backend, "host");
		return;
	}
	/* What is missing, then only the ways out that apply here. */
	if (!qemu)
		snprintf(c->why, sizeof c->why,
			 "no backend can boot a guest here: neither qemu-system-x86_64 nor "
			 "firecracker is installed%s. Install QEMU (apt-get install "
			 "qemu-system-x86), or pass --allow-host-compat (MCP: allow_host_compat) "
			 "to run the command on the host instead",
			 fc && !kvm ? " with a usable /dev/kvm" : "");
	else
		snprintf(c->why, sizeof c->why,
			 "no backend can boot a guest here: %s. Set PYRO_ACCEL=tcg to boot under "
			 "QEMU software emulation (10-50x slower)%s, or pass --allow-host-compat "
			 "(MCP: allow_host_compat) to run the command on the host instead",
			 *kvm_broken ? kvm_broken : "/dev/kvm is missing or not usable by this user",
			 *kvm_broken ? "" : ", or enable KVM (and access to /dev/kvm)");
}

/* ---- the store ---- */

static int store_open(char *vms, size_t cap, struct pyro_err *err)
{
	if (vmstore_dir(vms, cap, err) < 0)
		return -1;
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", vms);
	/* mkdir -p with 0700 for the parts pyro creates. */
	for (char *p = parent + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(parent, 0700) < 0 && errno != EEXIST)
			return pyro_err_sys(err, errno, "creating %s", parent);
		*p = '/';
	}
	if (mkdir(vms, 0700) < 0 && errno != EEXIST)
		return pyro_err_sys(err, errno, "creating %s", vms);
	return 0;
}

static int store_lock(const char *vms, struct pyro_lock *lk, struct pyro_err *err)
{
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/.lock", vms);
	return lock_acquire(lk, path, LOCK_KIND_EXCLUSIVE, -1, err);
}

/* Lock a VM and load its record. A VM deleted while we waited for its
 * lock does not exist. */
static int vm_open(const char *vms, const char *vm_id, struct pyro_lock *lk, struct vm_record *r,
		   struct pyro_err *err)
{
	if (vm_id_check(vm_id, err) < 0)
		return -1;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s/lock", vms, vm_id);
	struct stat st;
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof dir, "%s/%s", vms, vm_id);
	if (stat(dir, &st) < 0)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "vm '%s' does not exist", vm_id);
	if (lock_acquire(lk, path, LOCK_KIND_EXCLUSIVE, -1, err) < 0)
		return -1;
	if (vmrecord_load(vms, vm_id, r, err) < 0) {
		lock_release(lk);
		return -1;
	}
	return 0;
}

static bool is_guest(const struct vm_record *r)
{
	return strcmp(r->backend, "host") != 0;
}

/* The address slots of TAP networks live next to the VMs. */
static void slots_dir(const char *vms, char *out, size_t cap)
{
	snprintf(out, cap, "%s/.network-slots", vms);
}

static void release_slot(const char *vms, const struct vm_record *r)
{
	if (r->net.enabled && r->net.slot >= 0) {
		char dir[PATH_MAX + 32];
		slots_dir(vms, dir, sizeof dir);
		netplan_slot_release(dir, (unsigned)r->net.slot, NULL);
	}
}

/* Stop whatever runs for r (its supervisor, and so its VMM). */
static int backend_stop(struct vm_record *r, struct pyro_err *err)
{
	int rc = 0;
	if (is_guest(r))
		rc = vmsup_stop(r, SUPERVISOR_STOP_MS, err);
	r->supervisor = (struct proc_id){ 0, 0 };
	r->vmm = (struct proc_id){ 0, 0 };
	return rc;
}

/* Remove the VM: stop it, then its directory (the lock file goes with it:
 * anyone waiting on it then finds no record). */
static int remove_vm(struct vm_record *r, struct pyro_err *err)
{
	struct pyro_err stop_err = { 0 };
	if (backend_stop(r, &stop_err) < 0)
		log_msg(LOG_WARN, "vm %s: %s", r->vm_id, stop_err.msg);
	if (fs_remove_tree(r->dir) < 0)
		return pyro_err_sys(err, errno, "removing %s", r->dir);
	char vms[PATH_MAX];
	snprintf(vms, sizeof vms, "%s", r->dir);
	char *slash = strrchr(vms, '/');
	if (slash) {
		*slash = '\0';
		release_slot(vms, r);
	}
	return 0;
}

/* A started guest whose supervisor is gone crashed (or was killed): the
 * record says so from now on, with the reason the supervisor left. */
static bool refresh_liveness(struct vm_record *r, bool save)
{
	if (strcmp(r->state, "started") != 0 || !is_guest(r))
		return true;
	if (procid_alive(&r->supervisor) && (r->vmm.pid <= 0 || procid_alive(&r->vmm)))
		return true;
	char why[sizeof r->last_error - 64];
	vmsup_exit_reason(r, why, sizeof why);
	snprintf(r->last_error, sizeof r->last_error, "backing guest process is no longer running%s%s",
		 *why ? ": " : "", why);
	snprintf(r->state, sizeof r->state, "stopped");
	r->supervisor = (struct proc_id){ 0, 0 };
	r->vmm = (struct proc_id){ 0, 0 };
	if (save) /* only under the VM's lock */
		(void)vmrecord_save(r, NULL);
	return false;
}

/* Delete every expired VM. Called with the store lock held; each VM's own
 * lock is taken without waiting (a VM busy in another process is left for
 * the next reap). Appends deleted ids to `ids` when given. */
static int reap_locked(const char *vms, struct json_doc *doc, struct json_value *ids,
		       int *active)
{
	DIR *d = opendir(vms);
	if (!d)
		return -1;
	double now = now_s();
	int count = 0;
	*active = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!randid_valid(de->d_name))
			continue;
		char lockpath[PATH_MAX + 32];
		snprintf(lockpath, sizeof lockpath, "%s/%s/lock", vms, de->d_name);
		struct pyro_lock lk = PYRO_LOCK_INIT;
		struct vm_record r;
		if (lock_acquire(&lk, lockpath, LOCK_KIND_EXCLUSIVE, 0, NULL) < 0) {
			(*active)++; /* busy: alive */
			continue;
		}
		if (vmrecord_load(vms, de->d_name, &r, NULL) < 0) {
			/* A directory without a readable record: a create that
			 * crashed half-way. Older than a minute: remove it. */
			struct stat st;
			char dir[PATH_MAX + 16];
			snprintf(dir, sizeof dir, "%s/%s", vms, de->d_name);
			if (stat(dir, &st) == 0 && now - (double)st.st_mtime > 60) {
				/* Its supervisor may still run: stop it (pid file)
				 * before the directory goes. */
				struct vm_record *dead = calloc(1, sizeof *dead);
				if (dead && (size_t)snprintf(dead->dir, sizeof dead->dir, "%s", dir) <
						    sizeof dead->dir) {
					memcpy(dead->vm_id, de->d_name, RANDID_SIZE); /* randid_valid */
					remove_vm(dead, NULL);
				}
				free(dead);
			} else {
				(*active)++;
			}
			lock_release(&lk);
			continue;
		}
		if (r.expires_at <= now) {
			if (remove_vm(&r, NULL) == 0) {
				count++;
				if (ids)
					json_array_push(doc, ids, json_string(doc, r.vm_id));
			}
		} else {
			(*active)++;
		}
		lock_release(&lk);
	}
	closedir(d);
	return count;
}

/* ---- create ---- */

static int check_limits(const struct vm_create_opts *o, struct pyro_err *err)
{
	if (o->vcpu_count < VM_MIN_VCPUS || o->vcpu_count > VM_MAX_VCPUS)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "vcpu_count must be between %d and %d",
				    VM_MIN_VCPUS, VM_MAX_VCPUS);
	if (o->mem_mib < VM_MIN_MEM_MIB || o->mem_mib > VM_MAX_MEM_MIB)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "mem_mib must be between %d and %d",
				    VM_MIN_MEM_MIB, VM_MAX_MEM_MIB);
	if (o->ttl_seconds < VM_MIN_TTL_SECONDS || o->ttl_seconds > VM_MAX_TTL_SECONDS)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "ttl_seconds must be between %d and %d",
				    VM_MIN_TTL_SECONDS, VM_MAX_TTL_SECONDS);
	return 0;
}

/* The environment's kernel and rootfs, installing it (a pull) when it is
 * not in the cache yet, as the seeds' ensure_installed does. */
static int resolve_environment(struct vm_record *r, const struct env_catalog_entry *e,
			       const struct vm_progress *pg, struct pyro_err *err)
{
	struct envstore st;
	struct env_install in;
	bool downloaded = false;
	if (envstore_open(&st, err) < 0)
		return -1;
	memset(&in, 0, sizeof in);
	if (envstore_check(&st, e->name, e->version, &in, err) < 0)
		return -1;
	if (!in.installed) {
		envstore_install_release(&in);
		progress(pg, "pull", r); /* the first use downloads it: say so */
		if (env_pull(&st, e, NULL, &in, &downloaded, err) < 0)
			return pyro_err_wrap(err,
					     "environment %s is not installed and could not be "
					     "pulled; pull it with 'pyro env pull %s', or build and "
					     "import it (make env-%s; pyro env import build/env/%s)",
					     e->name, e->name, e->name[0] == 't' ? "test" : "debian-12",
					     e->name[0] == 't' ? "test" : "debian-12");
	}
	snprintf(r->environment_version, sizeof r->environment_version, "%s", e->version);
	snprintf(r->environment_source, sizeof r->environment_source, "%s", in.source);
	snprintf(r->environment_digest, sizeof r->environment_digest, "%s", in.source_digest);
	snprintf(r->install_dir, sizeof r->install_dir, "%s", in.install_dir);
	int bad = (size_t)snprintf(r->kernel_image, sizeof r->kernel_image, "%s/vmlinux",
				   in.install_dir) >= sizeof r->kernel_image ||
		  (size_t)snprintf(r->rootfs_image, sizeof r->rootfs_image, "%s/rootfs.ext4",
				   in.install_dir) >= sizeof r->rootfs_image;
	envstore_install_release(&in);
	if (bad)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the environment's install path is too long");
	return 0;
}

/* QEMU user-mode networking: fixed addresses inside QEMU's own NAT, no
 * privileges, no host interface. */
static void user_net(struct vm_net *n)
{
	memset(n, 0, sizeof *n);
	n->enabled = true;
	n->slot = -1;
	snprintf(n->mode, sizeof n->mode, "user");
	snprintf(n->guest_ip, sizeof n->guest_ip, "10.0.2.15");
	snprintf(n->gateway_ip, sizeof n->gateway_ip, "10.0.2.2");
	snprintf(n->subnet_cidr, sizeof n->subnet_cidr, "10.0.2.0/24");
	snprintf(n->mac_address, sizeof n->mac_address, "52:54:00:12:34:56");
	snprintf(n->dns[0], sizeof n->dns[0], "10.0.2.3");
	n->dns_count = 1;
}

/* Firecracker: a TAP device and NAT, addresses from a slot claimed across
 * processes (netplan.h). The device itself is made when the VM starts. */
static int tap_net(const char *vms, struct vm_record *r, struct pyro_err *err)
{
	char dir[PATH_MAX + 32];
	slots_dir(vms, dir, sizeof dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return pyro_err_sys(err, errno, "creating %s", dir);
	unsigned slot;
	struct net_config c;
	if (netplan_slot_claim(dir, r->vm_id, &slot, err) < 0)
		return -1;
	if (netplan_config(slot, r->vm_id, NULL, 0, &c, err) < 0) {
		netplan_slot_release(dir, slot, NULL);
		return -1;
	}
	struct vm_net *n = &r->net;
	memset(n, 0, sizeof *n);
	n->enabled = true;
	n->slot = (int)slot;
	snprintf(n->mode, sizeof n->mode, "tap");
	snprintf(n->tap_name, sizeof n->tap_name, "%s", c.tap_name);
	snprintf(n->guest_ip, sizeof n->guest_ip, "%s", c.guest_ip);
	snprintf(n->gateway_ip, sizeof n->gateway_ip, "%s", c.gateway_ip);
	snprintf(n->subnet_cidr, sizeof n->subnet_cidr, "%s", c.subnet_cidr);
	snprintf(n->mac_address, sizeof n->mac_address, "%s", c.mac_address);
	for (int i = 0; i < c.dns_count && i < 3; i++)
		snprintf(n->dns[i], sizeof n->dns[i], "%s", c.dns_servers[i]);
	n->dns_count = c.dns_count;
	return 0;
}

int vm_create(const struct vm_create_opts *o_in, const struct vm_progress *pg, struct vm_record *r,
	      struct json_doc *doc, struct json_value **out, struct pyro_err *err)
{
	struct vm_create_opts o = *o_in;
	if (!o.vcpu_count)
		o.vcpu_count = VM_DEFAULT_VCPUS;
	if (!o.mem_mib)
		o.mem_mib = VM_DEFAULT_MEM_MIB;
	if (!o.ttl_seconds)
		o.ttl_seconds = VM_DEFAULT_TTL_SECONDS;
	if (check_limits(&o, err) < 0)
		return -1;
	const struct env_catalog_entry *e = env_catalog_find(o.environment, err);
	if (!e)
		return -1;
	struct vm_backend_choice choice;
	vmmanager_backend(o.allow_host_compat, &choice);
	if (!choice.backend[0])
		return o.allow_host_compat
			       ? pyro_err_set(err, PYRO_EXIT_FAILURE, "no backend can run this VM: %s",
					      choice.why)
			       : pyro_err_set(err, PYRO_EXIT_FAILURE,
					      "guest boot is unavailable and host compatibility mode "
					      "is disabled: %s",
					      choice.why);
	memset(r, 0, sizeof *r);
	snprintf(r->environment, sizeof r->environment, "%s", e->name);
	snprintf(r->backend, sizeof r->backend, "%s", choice.backend);
	snprintf(r->accel, sizeof r->accel, "%s", choice.accel);
	r->vcpu_count = o.vcpu_count;
	r->mem_mib = o.mem_mib;
	r->ttl_seconds = o.ttl_seconds;
	r->network_requested = o.network;
	r->allow_host_compat = o.allow_host_compat;
	r->owner = o.owner;
	r->net.slot = -1;
	snprintf(r->state, sizeof r->state, "created");
	snprintf(r->execution_mode, sizeof r->execution_mode, "pending");
	if (is_guest(r)) {
		if (resolve_environment(r, e, pg, err) < 0)
			return -1;
		if (o.network && strcmp(r->backend, "qemu") == 0)
			user_net(&r->net);
	} else {
		snprintf(r->environment_version, sizeof r->environment_version, "%s", e->version);
	}

	char vms[PATH_MAX];
	struct pyro_lock lk = PYRO_LOCK_INIT;
	if (store_open(vms, sizeof vms, err) < 0 || store_lock(vms, &lk, err) < 0)
		return -1;
	int active = 0;
	int rc = -1;
	long max_active = env_long("PYRO_MAX_ACTIVE_VMS", VM_DEFAULT_MAX_ACTIVE, 1, 1024);
	if (reap_locked(vms, NULL, NULL, &active) < 0) {
		pyro_err_sys(err, errno, "reading %s", vms);
		goto out;
	}
	if (active >= max_active) {
		pyro_err_set(err, PYRO_EXIT_FAILURE,
			     "max active VMs reached (%ld); delete old VMs first "
			     "(PYRO_MAX_ACTIVE_VMS raises the limit)",
			     max_active);
		goto out;
	}
	for (int tries = 0; tries < 8; tries++) {
		if (randid_generate(r->vm_id, err) < 0)
			goto out;
		if ((size_t)snprintf(r->dir, sizeof r->dir, "%s/%s", vms, r->vm_id) >= sizeof r->dir) {
			pyro_err_set(err, PYRO_EXIT_FAILURE, "the VM directory path is too long");
			goto out;
		}
		if (mkdir(r->dir, 0700) == 0)
			break;
		if (errno != EEXIST) {
			pyro_err_sys(err, errno, "creating %s", r->dir);
			goto out;
		}
		r->dir[0] = '\0';
	}
	if (!r->dir[0]) {
		pyro_err_set(err, PYRO_EXIT_INTERNAL, "cannot find a free vm id");
		goto out;
	}
	if (o.network && strcmp(r->backend, "firecracker") == 0 && tap_net(vms, r, err) < 0) {
		fs_remove_tree(r->dir);
		goto out;
	}
	r->created_at = now_s();
	r->expires_at = r->created_at + r->ttl_seconds;
	if (vmrecord_save(r, err) < 0) {
		release_slot(vms, r);
		fs_remove_tree(r->dir);
		goto out;
	}
	rc = 0;
out:
	lock_release(&lk);
	if (rc == 0) {
		progress(pg, "create", r);
		if (doc && out && !(*out = vm_payload(r, doc)))
			rc = pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	}
	return rc;
}

/* ---- start ---- */

/* The binary to boot and to run as pyro-vmm: /proc/self/exe itself, not
 * the path it links to. After an upgrade replaces the file, that path
 * names the new binary (or "... (deleted)"), while /proc/self/exe still
 * opens the very binary that is running, so a long-lived MCP server keeps
 * booting guests whose agent matches it. PYRO_VMM_EXE overrides (tests). */
static int self_exe(char *out, size_t cap, struct pyro_err *err)
{
	const char *o = getenv("PYRO_VMM_EXE");
	if ((size_t)snprintf(out, cap, "%s", o && *o ? o : "/proc/self/exe") >= cap)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "PYRO_VMM_EXE is too long");
	return 0;
}

static struct agent_target agent_target(const struct vm_record *r, char *sock, size_t cap)
{
	vm_path(r, "agent.sock", sock, cap, NULL);
	return (struct agent_target){ .uds_path = sock, .hybrid_connect = true,
				      .port = VM_AGENT_PORT, .timeout_ms = HELLO_TIMEOUT_MS };
}

/* True when the VM's supervisor or VMM is gone, with the supervisor's
 * account of why in `why` (it writes vmm-exit.json as it ends: give it a
 * moment). Used to turn "connection reset" into what really happened. */
static bool vm_died(const struct vm_record *r, char *why, size_t cap)
{
	why[0] = '\0';
	if (procid_alive(&r->supervisor) && (r->vmm.pid <= 0 || procid_alive(&r->vmm)))
		return false;
	for (int i = 0; i < 100 && !*why; i++) {
		vmsup_exit_reason(r, why, cap);
		if (!*why) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	if (!*why)
		snprintf(why, cap, "its VMM is no longer running");
	return true;
}

static int start_guest(struct vm_record *r, struct pyro_err *err)
{
	char exe[PATH_MAX], initrd[PATH_MAX], sock[PATH_MAX], cache[PATH_MAX];
	if (self_exe(exe, sizeof exe, err) < 0 || paths_cache_dir(cache, sizeof cache, err) < 0)
		return -1;
	if (initramfs_build(exe, cache, initrd, sizeof initrd, NULL, err) < 0)
		return -1;
	/* A previous run's leftovers must not be mistaken for this one's. */
	char path[PATH_MAX];
	if (vm_path(r, "vmm-exit.json", path, sizeof path, err) < 0)
		return -1;
	unlink(path);
	struct vmsup_spawn_opts so = {
		.self_exe = exe,
		.initrd = initrd,
		.boot_timeout_ms =
			(int)env_long("PYRO_BOOT_TIMEOUT_SECONDS", DEFAULT_BOOT_TIMEOUT_S, 1, 3600) *
			1000,
	};
	if (vmsup_spawn(r, &so, err) < 0)
		return -1;
	/* The line is up; the agent itself must answer too. */
	struct agent_target t = agent_target(r, sock, sizeof sock);
	struct json_doc *doc = json_doc_new();
	struct json_value *resp;
	int rc = doc ? agentclient_hello(&t, doc, &resp, err) : -1;
	json_doc_free(doc);
	if (rc < 0) {
		char why[600];
		if (vm_died(r, why, sizeof why))
			pyro_err_set(err, PYRO_EXIT_FAILURE, "the VM died during boot: %s", why);
		else
			pyro_err_wrap(err, "the guest booted but its agent did not answer hello");
		struct pyro_err ignored = { 0 };
		vmsup_stop(r, SUPERVISOR_STOP_MS, &ignored);
		return -1;
	}
	return 0;
}

static int expired_error(struct vm_record *r, struct pyro_lock *lk, struct pyro_err *err)
{
	char id[RANDID_SIZE];
	snprintf(id, sizeof id, "%s", r->vm_id);
	remove_vm(r, NULL);
	lock_release(lk);
	return pyro_err_set(err, PYRO_EXIT_FAILURE, "vm '%s' expired and was automatically deleted",
			    id);
}

/* Lock and load a VM for an operation that needs it alive: an expired VM
 * is deleted and reported, a crashed one shows as stopped (with why). */
static int vm_open_live(const char *vm_id, char *vms, size_t cap, struct pyro_lock *lk,
			struct vm_record *r, struct pyro_err *err)
{
	if (store_open(vms, cap, err) < 0 || vm_open(vms, vm_id, lk, r, err) < 0)
		return -1;
	if (r->expires_at <= now_s())
		return expired_error(r, lk, err);
	refresh_liveness(r, true);
	return 0;
}

int vm_start(const char *vm_id, const struct vm_progress *pg, struct vm_record *r,
	     struct json_doc *doc, struct json_value **out, struct pyro_err *err)
{
	char vms[PATH_MAX];
	struct pyro_lock lk = PYRO_LOCK_INIT;
	if (vm_open_live(vm_id, vms, sizeof vms, &lk, r, err) < 0)
		return -1;
	int rc = -1;
	if (strcmp(r->state, "created") != 0 && strcmp(r->state, "stopped") != 0) {
		pyro_err_set(err, PYRO_EXIT_USAGE, "vm %s cannot be started from state '%s'", r->vm_id,
			     r->state);
		goto out;
	}
	progress(pg, "start", r);
	if (is_guest(r)) {
		/* A previous supervisor may still be on its way out (its VMM
		 * died a moment ago): let it finish before a new one starts. */
		struct vm_record old = *r;
		old.supervisor = (struct proc_id){ 0, 0 };
		vmsup_stop(&old, SUPERVISOR_STOP_MS, NULL);
		if (start_guest(r, err) < 0) {
			snprintf(r->last_error, sizeof r->last_error, "%.*s",
				 (int)sizeof r->last_error - 1, err->msg);
			(void)vmrecord_save(r, NULL);
			goto out;
		}
		snprintf(r->execution_mode, sizeof r->execution_mode, "guest_vsock");
	} else {
		char work[PATH_MAX];
		if (vm_path(r, "workdir", work, sizeof work, err) < 0)
			goto out;
		if (mkdir(work, 0700) < 0 && errno != EEXIST) {
			pyro_err_sys(err, errno, "creating %s", work);
			goto out;
		}
		snprintf(r->execution_mode, sizeof r->execution_mode, "host_compat");
	}
	snprintf(r->state, sizeof r->state, "started");
	r->last_error[0] = '\0';
	if (vmrecord_save(r, err) < 0) {
		backend_stop(r, NULL);
		goto out;
	}
	rc = 0;
	if (doc && out && !(*out = vm_payload(r, doc)))
		rc = pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
out:
	lock_release(&lk);
	return rc;
}

/* ---- exec ---- */

struct exec_result {
	struct buf out, err;
	int exit_code;
	int64_t duration_ms;
	bool timed_out;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The seeds' _run_host_command: bash -lc in the VM's work dir with only
 * PATH and HOME, a hard timeout (124 and "command timed out after Ns"). */
static int exec_host(const struct vm_record *r, const char *command, int timeout_s,
		     struct exec_result *res, struct pyro_err *err)
{
	char work[PATH_MAX], home[PATH_MAX + 8], path[4096];
	if (vm_path(r, "workdir", work, sizeof work, err) < 0)
		return -1;
	snprintf(home, sizeof home, "HOME=%s", work);
	const char *p = getenv("PATH");
	snprintf(path, sizeof path, "PATH=%s", p ? p : "/usr/local/bin:/usr/bin:/bin");
	const char *envp[] = { path, home, NULL };
	const char *argv[] = { "bash", "-lc", command, NULL };
	buf_init(&res->out, HOST_OUTPUT_MAX);
	buf_init(&res->err, HOST_OUTPUT_MAX);
	struct spawn_opts so = {
		.argv = argv,
		.envp = envp,
		.cwd = work,
		.timeout_ms = (unsigned)timeout_s * 1000u,
		.out = { SPAWN_PIPE, &res->out, 0 },
		.err = { SPAWN_PIPE, &res->err, 0 },
		.cancel_fd = cancel_fd,
	};
	struct spawn_result sr;
	int64_t t0 = mono_ms();
	if (spawn_run(&so, &sr, err) < 0)
		return -1;
	if (sr.cancelled)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "the command was cancelled");
	res->duration_ms = mono_ms() - t0;
	res->exit_code = sr.exit_code;
	res->timed_out = sr.timed_out;
	if (sr.timed_out) {
		buf_reset(&res->out);
		buf_reset(&res->err);
		buf_printf(&res->err, "command timed out after %ds", timeout_s);
	}
	return 0;
}

static int exec_guest(struct vm_record *r, const char *command, int timeout_s,
		      struct exec_result *res, struct pyro_err *err)
{
	char sock[PATH_MAX];
	struct agent_target t = agent_target(r, sock, sizeof sock);
	struct json_doc *doc = json_doc_new();
	if (!doc)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	struct agent_exec_request rq = { .command = command, .timeout_seconds = timeout_s };
	struct agent_exec_result ar;
	buf_init(&res->out, 0);
	buf_init(&res->err, 0);
	int rc = agentclient_exec(&t, doc, &rq, &ar, err);
	if (rc == 0) {
		if (buf_append_str(&res->out, ar.stdout_text) < 0 ||
		    buf_append_str(&res->err, ar.stderr_text) < 0)
			rc = pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
		res->exit_code = ar.exit_code;
		res->duration_ms = ar.duration_ms;
		res->timed_out = ar.timed_out;
	} else {
		char why[600];
		if (vm_died(r, why, sizeof why))
			pyro_err_set(err, PYRO_EXIT_FAILURE, "the VM died while the command ran: %s", why);
	}
	json_doc_free(doc);
	return rc;
}

static struct json_value *exec_payload(const struct vm_record *r, const char *command,
				       const struct exec_result *res, struct json_value *cleanup,
				       struct json_doc *doc)
{
	struct json_value *o = json_object(doc);
	if (!o || json_set_str(doc, o, "vm_id", r->vm_id) < 0 ||
	    json_set_str(doc, o, "environment", r->environment) < 0 ||
	    json_set_str(doc, o, "environment_version", r->environment_version) < 0 ||
	    json_set_str(doc, o, "command", command) < 0 ||
	    json_object_set(doc, o, "stdout", json_string_len(doc, res->out.data ? res->out.data : "",
								res->out.len)) < 0 ||
	    json_object_set(doc, o, "stderr", json_string_len(doc, res->err.data ? res->err.data : "",
								res->err.len)) < 0 ||
	    json_set_int(doc, o, "exit_code", res->exit_code) < 0 ||
	    json_set_int(doc, o, "duration_ms", res->duration_ms) < 0 ||
	    json_set_str(doc, o, "execution_mode", r->execution_mode) < 0 ||
	    json_object_set(doc, o, "cleanup", cleanup) < 0)
		return NULL;
	return o;
}

int vm_exec(const char *vm_id, const char *command, int timeout_seconds, struct json_doc *doc,
	    struct json_value **out, struct pyro_err *err)
{
	if (timeout_seconds <= 0)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "timeout_seconds must be positive");
	if (!command || !*command)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "the command is empty");
	char vms[PATH_MAX];
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct vm_record r;
	if (vm_open_live(vm_id, vms, sizeof vms, &lk, &r, err) < 0)
		return -1;
	if (strcmp(r.state, "stopped") == 0 && r.last_error[0]) {
		lock_release(&lk);
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "vm %s is not running: %s", r.vm_id,
				    r.last_error);
	}
	if (strcmp(r.state, "started") != 0) {
		lock_release(&lk);
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "vm %s must be in 'started' state before execution", r.vm_id);
	}
	/* The command runs without the lock: status and other readers must
	 * not wait for it. */
	lock_release(&lk);
	struct exec_result res = { 0 };
	int rc = is_guest(&r) ? exec_guest(&r, command, timeout_seconds, &res, err)
			      : exec_host(&r, command, timeout_seconds, &res, err);
	/* Deleted after exec, as the seeds do, whether it worked or not. A VM
	 * that another process deleted or reaped meanwhile is already gone:
	 * the command's result still stands, the cleanup says so. */
	struct json_value *cleanup = NULL;
	struct pyro_err derr = { 0 };
	struct json_doc *cdoc = doc ? doc : json_doc_new();
	if (cdoc && vm_delete(r.vm_id, "post_exec_cleanup", cdoc, &cleanup, &derr) < 0) {
		cleanup = json_object(cdoc);
		if (!cleanup || json_set_str(cdoc, cleanup, "vm_id", r.vm_id) < 0 ||
		    json_set_bool(cdoc, cleanup, "deleted", false) < 0 ||
		    json_set_str(cdoc, cleanup, "reason", "post_exec_cleanup") < 0 ||
		    json_set_str(cdoc, cleanup, "error", derr.msg) < 0)
			cleanup = NULL;
	}
	if (rc == 0 && doc && out &&
	    (!cleanup || !(*out = exec_payload(&r, command, &res, cleanup, doc))))
		rc = pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	if (cdoc != doc)
		json_doc_free(cdoc);
	buf_release(&res.out);
	buf_release(&res.err);
	return rc;
}

/* ---- stop, delete, status, network, reap ---- */

int vm_stop(const char *vm_id, struct json_doc *doc, struct json_value **out, struct pyro_err *err)
{
	char vms[PATH_MAX];
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct vm_record r;
	if (store_open(vms, sizeof vms, err) < 0 || vm_open(vms, vm_id, &lk, &r, err) < 0)
		return -1;
	int rc = backend_stop(&r, err);
	if (rc == 0) {
		snprintf(r.state, sizeof r.state, "stopped");
		rc = vmrecord_save(&r, err);
	}
	if (rc == 0 && doc && out && !(*out = vm_payload(&r, doc)))
		rc = pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	lock_release(&lk);
	return rc;
}

int vm_delete(const char *vm_id, const char *reason, struct json_doc *doc,
	      struct json_value **out, struct pyro_err *err)
{
	char vms[PATH_MAX];
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct vm_record r;
	struct pyro_err local = { 0 };
	if (!err)
		err = &local;
	if (store_open(vms, sizeof vms, err) < 0)
		return -1;
	if (vm_open(vms, vm_id, &lk, &r, err) < 0) {
		if (err->code == PYRO_EXIT_USAGE)
			return -1; /* no such VM, or not a vm id */
		/* A damaged record: the error told the user to delete the VM,
		 * so deleting must work without it. The supervisor is found
		 * through its pid file. */
		memset(&r, 0, sizeof r);
		snprintf(r.vm_id, sizeof r.vm_id, "%s", vm_id);
		if ((size_t)snprintf(r.dir, sizeof r.dir, "%s/%s", vms, vm_id) >= sizeof r.dir)
			return -1;
		char lockpath[PATH_MAX + 8];
		snprintf(lockpath, sizeof lockpath, "%s/lock", r.dir);
		if (lock_acquire(&lk, lockpath, LOCK_KIND_EXCLUSIVE, -1, err) < 0)
			return -1;
		pyro_err_clear(err);
	}
	int rc = remove_vm(&r, err);
	lock_release(&lk);
	if (rc == 0 && doc && out) {
		struct json_value *o = json_object(doc);
		if (!o || json_set_str(doc, o, "vm_id", r.vm_id) < 0 ||
		    json_set_bool(doc, o, "deleted", true) < 0 ||
		    json_set_str(doc, o, "reason", reason ? reason : "explicit_delete") < 0)
			return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
		*out = o;
	}
	return rc;
}

static int read_vm(const char *vm_id, bool network, struct json_doc *doc, struct json_value **out,
		   struct pyro_err *err)
{
	char vms[PATH_MAX];
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct vm_record r;
	if (vm_open_live(vm_id, vms, sizeof vms, &lk, &r, err) < 0)
		return -1;
	lock_release(&lk);
	*out = network ? vm_network_payload(&r, doc) : vm_payload(&r, doc);
	return *out ? 0 : pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
}

int vm_status(const char *vm_id, struct json_doc *doc, struct json_value **out,
	      struct pyro_err *err)
{
	return read_vm(vm_id, false, doc, out, err);
}

int vm_network_info(const char *vm_id, struct json_doc *doc, struct json_value **out,
		    struct pyro_err *err)
{
	return read_vm(vm_id, true, doc, out, err);
}

int vm_reap_expired(struct json_doc *doc, struct json_value **out, struct pyro_err *err)
{
	char vms[PATH_MAX];
	struct pyro_lock lk = PYRO_LOCK_INIT;
	if (store_open(vms, sizeof vms, err) < 0 || store_lock(vms, &lk, err) < 0)
		return -1;
	struct json_value *ids = json_array(doc), *o = json_object(doc);
	int active = 0;
	int n = ids && o ? reap_locked(vms, doc, ids, &active) : -1;
	lock_release(&lk);
	if (n < 0)
		return pyro_err_sys(err, errno, "reading %s", vms);
	if (json_object_set(doc, o, "deleted_vm_ids", ids) < 0 || json_set_int(doc, o, "count", n) < 0)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	*out = o;
	return 0;
}

static int by_created(const void *a, const void *b)
{
	const struct vm_record *x = a, *y = b;
	return x->created_at < y->created_at ? -1 : x->created_at > y->created_at;
}

int vm_list(struct json_doc *doc, struct json_value **out, struct pyro_err *err)
{
	struct json_value *ignored;
	if (vm_reap_expired(doc, &ignored, err) < 0)
		return -1;
	char vms[PATH_MAX];
	if (vmstore_dir(vms, sizeof vms, err) < 0)
		return -1;
	struct json_value *arr = json_array(doc);
	DIR *d = opendir(vms);
	if (!arr || !d) {
		if (d)
			closedir(d);
		return arr ? pyro_err_sys(err, errno, "reading %s", vms)
			   : pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
	}
	struct vm_record *recs = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!randid_valid(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct vm_record *g = realloc(recs, cap * sizeof *recs);
			if (!g)
				break;
			recs = g;
		}
		if (vmrecord_load(vms, de->d_name, &recs[n], NULL) == 0) {
			refresh_liveness(&recs[n], false); /* a view: no lock held */
			n++;
		}
	}
	closedir(d);
	if (n > 1)
		qsort(recs, n, sizeof *recs, by_created);
	for (size_t i = 0; i < n; i++)
		json_array_push(doc, arr, vm_payload(&recs[i], doc));
	free(recs);
	*out = arr;
	return 0;
}

void vm_abandon(const char *vm_dir)
{
	/* ~20 KB: on the heap, since callers may be small-stacked threads
	 * (an interrupt handler thread, MCP cancellations), several at once. */
	if (!vm_dir || !*vm_dir)
		return;
	struct vm_record *r = calloc(1, sizeof *r);
	if (!r) {
		fs_remove_tree(vm_dir);
		return;
	}
	/* The record names the network slot to give back (when readable). */
	char vms[PATH_MAX];
	snprintf(vms, sizeof vms, "%s", vm_dir);
	char *slash = strrchr(vms, '/');
	if (slash) {
		*slash = '\0';
		(void)vmrecord_load(vms, slash + 1, r, NULL);
	}
	snprintf(r->dir, sizeof r->dir, "%s", vm_dir);
	r->supervisor = (struct proc_id){ 0, 0 }; /* from its pid file */
	remove_vm(r, NULL);
	free(r);
}

/* ---- run ---- */

int vm_run(const struct vm_run_opts *o, const struct vm_progress *pg, struct json_doc *doc,
	   struct json_value **out, struct pyro_err *err)
{
	struct vm_record r;
	struct json_value *ignored;
	if (vm_create(&o->create, pg, &r, doc, &ignored, err) < 0)
		return -1;
	struct vm_record started;
	if (vm_start(r.vm_id, pg, &started, doc, &ignored, err) < 0)
		goto fail;
	progress(pg, "execute", &started);
	if (vm_exec(r.vm_id, o->command,
		    o->timeout_seconds ? o->timeout_seconds : VM_DEFAULT_TIMEOUT_SECONDS, doc, out,
		    err) < 0)
		goto fail;
	return 0;
fail:;
	struct pyro_err ignored_err = { 0 };
	struct json_value *gone;
	vm_delete(r.vm_id, "run_vm_error_cleanup", doc, &gone, &ignored_err);
	return -1;
}
