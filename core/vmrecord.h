/* The on-disk record of one VM, so every pyro process (a CLI, an MCP
 * server, the VM's own supervisor) sees the same VMs.
 *
 * Layout (docs/architecture.md, "VM lifecycle"):
 *
 *   <state dir>/vms/                 0700
 *     .lock                          serialises create (the active-VM count)
 *                                    and reaping
 *     <vm_id>/                       0700, one per VM
 *       vm.json                      this record (atomic replace, 0600)
 *       lock                         flock: one lifecycle operation at a time
 *       agent.sock                   the agent (CONNECT <port> handshake), 0600
 *       console.log                  the guest's serial console
 *       vmm.log                      the supervisor's own messages
 *       qemu.log / firecracker.log   what the VMM printed
 *       vmm-exit.json                why the VMM ended (written by the supervisor)
 *
 * The record holds the seeds' VM fields (vm_id, environment, vcpu_count,
 * mem_mib, ttl_seconds, created_at, expires_at, state, network, ...) and
 * what pyro needs to find the VM's processes again: the supervisor and VMM
 * as (pid, start time) pairs (procid.h), never bare pids.
 *
 * A vm id is 12 lowercase hex characters (randid.h); anything else is
 * refused before it is used in a path. */
#ifndef PYRO_VMRECORD_H
#define PYRO_VMRECORD_H

#include <limits.h>
#include <stdbool.h>

#include "err.h"
#include "json.h"
#include "procid.h"
#include "randid.h"

#define VM_MIN_VCPUS 1
#define VM_MAX_VCPUS 8
#define VM_MIN_MEM_MIB 256
#define VM_MAX_MEM_MIB 32768
#define VM_MIN_TTL_SECONDS 60
#define VM_MAX_TTL_SECONDS 3600
#define VM_DEFAULT_VCPUS 1
#define VM_DEFAULT_MEM_MIB 1024
#define VM_DEFAULT_TTL_SECONDS 600
#define VM_DEFAULT_TIMEOUT_SECONDS 30
#define VM_DEFAULT_MAX_ACTIVE 4

/* The agent's port behind the CONNECT handshake (the guest agent's default
 * vsock port, guest-init/agent.h). */
#define VM_AGENT_PORT 5005

struct vm_net {
	bool enabled;
	char mode[8];          /* "user" (QEMU user-mode) or "tap" */
	char tap_name[16];     /* "" for user mode */
	char guest_ip[16], gateway_ip[16], subnet_cidr[20], mac_address[18];
	char dns[3][46];
	int dns_count;
	int slot;              /* TAP address slot, -1 when none */
};

struct vm_record {
	char vm_id[RANDID_SIZE];
	char environment[64];
	char environment_version[32];
	char environment_source[16];
	char environment_digest[80];
	char install_dir[PATH_MAX];
	char kernel_image[PATH_MAX];
	char rootfs_image[PATH_MAX];
	char backend[16];         /* "qemu", "firecracker", "host" */
	char accel[8];            /* "kvm", "tcg", "" (host) */
	int vcpu_count, mem_mib, ttl_seconds;
	double created_at, expires_at; /* seconds since the epoch */
	char state[16];           /* "created", "started", "stopped" */
	bool network_requested;
	bool allow_host_compat;
	char execution_mode[16];  /* "pending", "guest_vsock", "host_compat" */
	struct vm_net net;
	struct proc_id supervisor, vmm;
	struct proc_id owner;     /* a process whose death deletes the VM (pyro run), or none */
	char last_error[PYRO_ERR_MSG_MAX];
	double boot_ms;           /* start: spawn to agent hello */

	char dir[PATH_MAX];       /* <vms>/<vm_id> (not stored) */
};

/* <state dir>/vms into out (nothing is created). */
int vmstore_dir(char *out, size_t cap, struct pyro_err *err);

/* Refuse anything but a 12-hex-character id (PYRO_EXIT_USAGE). */
int vm_id_check(const char *vm_id, struct pyro_err *err);

/* <vms>/<vm_id>/<name> into out. */
int vm_path(const struct vm_record *r, const char *name, char *out, size_t cap,
	    struct pyro_err *err);

/* Read <vms>/<vm_id>/vm.json. A missing VM is PYRO_EXIT_USAGE
 * "vm 'ID' does not exist"; a damaged record says so and how to remove it. */
int vmrecord_load(const char *vms_dir, const char *vm_id, struct vm_record *r,
		  struct pyro_err *err);

/* Replace vm.json atomically (mode 0600). */
int vmrecord_save(const struct vm_record *r, struct pyro_err *err);

/* The whole record as stored. */
struct json_value *vmrecord_to_json(const struct vm_record *r, struct json_doc *doc);
int vmrecord_from_json(const struct json_value *v, struct vm_record *r, struct pyro_err *err);

/* The seeds' VM payload (vm_create / vm_status / vm_start ...): vm_id,
 * environment, environment_version, vcpu_count, mem_mib, ttl_seconds,
 * created_at, expires_at, state, network_enabled, allow_host_compat,
 * guest_ip, tap_name, execution_mode, metadata (strings). */
struct json_value *vm_payload(const struct vm_record *r, struct json_doc *doc);

/* The seeds' network-info payload. */
struct json_value *vm_network_payload(const struct vm_record *r, struct json_doc *doc);

#endif
