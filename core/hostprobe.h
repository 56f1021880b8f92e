/* Host capability probes behind `pyro doctor`: what this machine offers a
 * microVM (KVM, vhost-vsock, TUN, IP forwarding), which VMMs are installed
 * and where pyro keeps its data. Probes only look; they create nothing.
 *
 * Device and /proc paths can be redirected with PYRO_DEV_ROOT and
 * PYRO_PROC_ROOT (used by the tests to describe fake hosts). */
#ifndef PYRO_HOSTPROBE_H
#define PYRO_HOSTPROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "paths.h"

/* A device is "readable"/"writable" only when this process could really
 * open it that way: permissions alone are not enough (a container's device
 * cgroup can deny the open). A path that is not a character device does
 * not count as existing. */
struct dev_access {
	bool exists;
	bool readable;
	bool writable;
};

struct vmm_probe {
	bool found;
	bool override_bad;   /* the override env var names something not executable */
	char path[4096];
	char version[128];   /* first line of `--version`, "" when it would not say */
};

struct host_report {
	char platform[64];                 /* "linux-x86_64" */
	struct dev_access kvm;             /* /dev/kvm */
	struct dev_access vhost_vsock;     /* /dev/vhost-vsock */
	struct dev_access tun;             /* /dev/net/tun */
	bool ip_forward_known;
	bool ip_forward;                   /* /proc/sys/net/ipv4/ip_forward == 1 */
	struct vmm_probe firecracker;      /* $PYRO_FIRECRACKER or PATH */
	struct vmm_probe qemu;             /* $PYRO_QEMU or qemu-system-x86_64 on PATH */
	char cache_dir[4096];
	char state_dir[4096];
	struct path_access cache, state;
	char cache_error[PYRO_ERR_MSG_MAX]; /* why the cache dir could not be resolved, or "" */
	char state_error[PYRO_ERR_MSG_MAX]; /* same for the state dir */
};

void hostprobe_run(struct host_report *r);

/* KVM present and usable by this user. */
bool hostprobe_kvm_usable(const struct host_report *r);

/* Find an executable: `override_var` (an env var naming a path) first, then
 * `name` on $PATH. Returns true and writes the path into out when found. */
bool hostprobe_find_exe(const char *name, const char *override_var, char *out, size_t cap);

/* /proc/sys/kernel/random/boot_id (one line, "" when unreadable): a key
 * for facts about the host that hold until it reboots. */
void hostprobe_boot_id(char *out, size_t cap);

#endif
