/* The VM lifecycle with the seeds' semantics: create, start, exec (which
 * deletes the VM afterwards), stop, delete, status, network info, reap, and
 * run (all of it in one call). Every VM is a directory with a record
 * (vmrecord.h), so any pyro process sees the same VMs; each operation on a
 * VM holds that VM's flock, and create holds the store's, so two processes
 * can neither exceed the active-VM limit nor corrupt a record.
 *
 * Results are the seeds' payloads, built in the caller's json_doc.
 * Errors: bad input (limits, unknown environment, unknown or malformed vm
 * id, wrong state) is PYRO_EXIT_USAGE with the seeds' wording where they
 * have one; failures of the machine (boot, VMM death) PYRO_EXIT_FAILURE or
 * PYRO_EXIT_TIMEOUT, with the VMM's own words and the console's tail.
 *
 * Backends (vmmanager_backend): "firecracker" when a firecracker binary and
 * a usable /dev/kvm exist, else "qemu" with KVM, else "qemu" with TCG when
 * PYRO_ACCEL=tcg allows software emulation, else "host" when the VM allows
 * host compatibility, else an error naming what is missing and both ways
 * out. PYRO_BACKEND picks one explicitly ("host" still needs
 * allow_host_compat: fail closed). */
#ifndef PYRO_VMMANAGER_H
#define PYRO_VMMANAGER_H

#include <stdbool.h>

#include "err.h"
#include "json.h"
#include "procid.h"
#include "vmrecord.h"

struct vm_create_opts {
	const char *environment;
	int vcpu_count, mem_mib, ttl_seconds; /* 0: the defaults */
	bool network;
	bool allow_host_compat;
	struct proc_id owner;   /* pid 0: none; else the VM dies with this process */
};

/* What a backend choice came to, and why (for doctor and errors). */
struct vm_backend_choice {
	char backend[16];   /* "firecracker", "qemu", "host", "" (none) */
	char accel[8];      /* "kvm", "tcg", "" */
	char why[512];      /* when none: what is missing and how to proceed */
};
void vmmanager_backend(bool allow_host_compat, struct vm_backend_choice *c);

/* Progress for humans: called at each phase ("create", "start", ...). */
struct vm_progress {
	void (*fn)(void *ctx, const char *phase, const struct vm_record *r);
	void *ctx;
};

int vm_create(const struct vm_create_opts *o, const struct vm_progress *pg, struct vm_record *r,
	      struct json_doc *doc, struct json_value **out, struct pyro_err *err);
int vm_start(const char *vm_id, const struct vm_progress *pg, struct vm_record *r,
	     struct json_doc *doc, struct json_value **out, struct pyro_err *err);
/* Runs `command` (through the guest agent, or bash -lc on the host), then
 * deletes the VM ("post_exec_cleanup"), also when the exec failed. A VMM
 * that died under the command is reported as such, with its reason. */
int vm_exec(const char *vm_id, const char *command, int timeout_seconds, struct json_doc *doc,
	    struct json_value **out, struct pyro_err *err);
int vm_stop(const char *vm_id, struct json_doc *doc, struct json_value **out,
	    struct pyro_err *err);
int vm_delete(const char *vm_id, const char *reason, struct json_doc *doc,
	      struct json_value **out, struct pyro_err *err);
int vm_status(const char *vm_id, struct json_doc *doc, struct json_value **out,
	      struct pyro_err *err);
int vm_network_info(const char *vm_id, struct json_doc *doc, struct json_value **out,
		    struct pyro_err *err);
int vm_reap_expired(struct json_doc *doc, struct json_value **out, struct pyro_err *err);
/* Every VM's payload (oldest first), after reaping. */
int vm_list(struct json_doc *doc, struct json_value **out, struct pyro_err *err);

/* For this thread's next vm_exec / vm_run: an fd whose readability means
 * "stop" (the MCP server's cancellation). A host-compat command is killed
 * then; a guest command dies with its VM, which the canceller tears down
 * (vm_abandon). -1: none. */
void vm_set_cancel_fd(int fd);

/* Tear a VM down without its lock or record: stop the supervisor named in
 * its supervisor.pid and remove the directory. For an interrupt handler
 * that must not wait for the thread holding the lock. */
void vm_abandon(const char *vm_dir);

struct vm_run_opts {
	struct vm_create_opts create;
	const char *command;
	int timeout_seconds;       /* 0: the default (30) */
};
/* create + start + exec (+ delete). On a failure after create the VM is
 * deleted ("run_vm_error_cleanup") before returning. */
int vm_run(const struct vm_run_opts *o, const struct vm_progress *pg, struct json_doc *doc,
	   struct json_value **out, struct pyro_err *err);

#endif
