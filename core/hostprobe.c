#include "hostprobe.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "buf.h"
#include "spawn.h"

static void rooted(char *out, size_t cap, const char *root_var, const char *path)
{
	const char *root = getenv(root_var);
	snprintf(out, cap, "%s%s", root && *root ? root : "", path);
}

static bool can_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Opening /dev/kvm, /dev/net/tun or /dev/vhost-vsock and closing it again
 * creates nothing: no VM, interface or vhost device. */
static void probe_device(const char *path, struct dev_access *out)
{
	char full[4096];
	rooted(full, sizeof full, "PYRO_DEV_ROOT", path);
	struct stat st;
	out->exists = stat(full, &st) == 0 && S_ISCHR(st.st_mode);
	out->readable = out->exists && can_open(full, O_RDONLY);
	out->writable = out->exists && can_open(full, O_WRONLY);
}

static void probe_ip_forward(struct host_report *r)
{
	char full[4096];
	rooted(full, sizeof full, "PYRO_PROC_ROOT", "/proc/sys/net/ipv4/ip_forward");
	struct buf b = BUF_INIT;
	b.max = 64;
	r->ip_forward_known = buf_read_file(&b, full) == 0;
	r->ip_forward = r->ip_forward_known && b.len > 0 && b.data[0] == '1';
	buf_release(&b);
}

static bool is_executable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

bool hostprobe_find_exe(const char *name, const char *override_var, char *out, size_t cap)
{
	const char *override = override_var ? getenv(override_var) : NULL;
	if (override && *override) {
		snprintf(out, cap, "%s", override);
		return is_executable_file(out);
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	while (*path) {
		size_t len = strcspn(path, ":");
		int n = snprintf(out, cap, "%.*s/%s", (int)len, len ? path : ".", name);
		if (n > 0 && (size_t)n < cap && is_executable_file(out))
			return true;
		path += len;
		if (*path == ':')
			path++;
	}
	out[0] = '\0';
	return false;
}

/* First line of `EXE --version`, bounded in time and size: a broken or
 * hanging binary must not hang doctor. */
static void probe_version(struct vmm_probe *p)
{
	const char *argv[] = { p->path, "--version", NULL };
	struct buf out;
	buf_init(&out, 4096);
	struct spawn_opts opts = {
		.argv = argv,
		.timeout_ms = 5000,
		.out = { .mode = SPAWN_PIPE, .buf = &out },
	};
	struct spawn_result res;
	struct pyro_err err;
	if (spawn_run(&opts, &res, &err) == 0 && res.exit_code == 0) {
		size_t line = strcspn(out.data, "\n");
		snprintf(p->version, sizeof p->version, "%.*s", (int)line, out.data);
	}
	buf_release(&out);
}

static void probe_vmm(struct vmm_probe *p, const char *name, const char *override_var)
{
	p->found = hostprobe_find_exe(name, override_var, p->path, sizeof p->path);
	const char *override = getenv(override_var);
	p->override_bad = !p->found && override && *override;
	if (p->found)
		probe_version(p);
}

static void probe_platform(struct host_report *r)
{
	struct utsname u;
	if (uname(&u) < 0) {
		snprintf(r->platform, sizeof r->platform, "unknown");
		return;
	}
	char sys[32];
	size_t i = 0;
	for (; u.sysname[i] && i + 1 < sizeof sys; i++)
		sys[i] = (char)(u.sysname[i] >= 'A' && u.sysname[i] <= 'Z' ? u.sysname[i] + 32
									 : u.sysname[i]);
	sys[i] = '\0';
	snprintf(r->platform, sizeof r->platform, "%s-%.30s", sys, u.machine);
}

void hostprobe_run(struct host_report *r)
{
	memset(r, 0, sizeof *r);
	probe_platform(r);
	probe_device("/dev/kvm", &r->kvm);
	probe_device("/dev/vhost-vsock", &r->vhost_vsock);
	probe_device("/dev/net/tun", &r->tun);
	probe_ip_forward(r);
	probe_vmm(&r->firecracker, "firecracker", "PYRO_FIRECRACKER");
	probe_vmm(&r->qemu, "qemu-system-x86_64", "PYRO_QEMU");
	struct pyro_err err;
	if (paths_cache_dir(r->cache_dir, sizeof r->cache_dir, &err) == 0)
		paths_probe_dir(r->cache_dir, &r->cache);
	else {
		r->cache_dir[0] = '\0';
		snprintf(r->cache_error, sizeof r->cache_error, "%s", err.msg);
	}
	if (paths_state_dir(r->state_dir, sizeof r->state_dir, &err) == 0)
		paths_probe_dir(r->state_dir, &r->state);
	else {
		r->state_dir[0] = '\0';
		snprintf(r->state_error, sizeof r->state_error, "%s", err.msg);
	}
}

bool hostprobe_kvm_usable(const struct host_report *r)
{
	return r->kvm.exists && r->kvm.readable && r->kvm.writable;
}

void hostprobe_boot_id(char *out, size_t cap)
{
	out[0] = '\0';
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!f)
		return;
	if (fgets(out, (int)cap, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}
