/* The Firecracker VMM config file for one pyro guest, and the command line
 * that boots it: `firecracker --no-api --config-file PATH --log-path LOG
 * --level Info` (what the original product runs). Building is pure: the
 * same plan always gives the same document, which is what the unit tests
 * compare. Firecracker cannot run on the development machine (no
 * /dev/kvm), so the format below is checked against Firecracker's own
 * sources and docs only.
 *
 * The schema is Firecracker's `VmmConfig` (src/vmm/src/resources.rs):
 * serde names "boot-source", "drives", "machine-config",
 * "network-interfaces", "vsock"; every nested struct is
 * `deny_unknown_fields`, so a misspelt key is a boot failure, not a
 * warning. What pyro writes, in this order:
 *
 *   "boot-source"        kernel_image_path, boot_args, initrd_path (only
 *                        when there is one: an Option, absent is None)
 *   "drives"             always present, [] without a root image: the
 *                        field is a plain Vec with no serde default, so
 *                        leaving it out fails with "missing field
 *                        `drives`". The root image is drive_id "rootfs",
 *                        is_root_device true (Firecracker attaches it first,
 *                        so the guest sees /dev/vda), is_read_only as asked.
 *   "machine-config"     vcpu_count, mem_size_mib, smt false (written out
 *                        so the file says what the guest gets; the default
 *                        is false too). Firecracker allows 1-32 vCPUs
 *                        (MAX_SUPPORTED_VCPUS, vmm_config/machine_config.rs).
 *   "network-interfaces" always present ([] without a NIC, its serde
 *                        default); with a TAP: iface_id "eth0", guest_mac,
 *                        host_dev_name.
 *   "vsock"              only with a socket path: guest_cid, uds_path.
 *
 * vsock_id: not written. Firecracker's DEPRECATED.md lists "the `vsock_id`
 * body field in PUT requests on /vsock" (PR #2763, deprecated since 1.0);
 * src/vmm/src/vmm_config/vsock.rs now declares it `Option<String>` with
 * `#[serde(default)]` and ignores it, while releases before 1.0 had it as
 * a required String. Supported Firecracker releases accept the file
 * without it; a pre-1.0 Firecracker would refuse it ("missing field
 * `vsock_id`"), and those are long out of support.
 *
 * The agent channel: Firecracker listens on uds_path; the host connects
 * and sends "CONNECT <port>\n", Firecracker answers "OK <host-side
 * port>\n" once the guest accepted, or closes the connection when nothing
 * listens on that port (docs/vsock.md). core/agentclient.h does that
 * handshake (hybrid_connect).
 *
 * Validation (PYRO_EXIT_USAGE, the message names the field and value):
 * every path absolute; kernel and boot_args required; boot_args printable
 * ASCII only (Firecracker's command line parser refuses anything else, and
 * a newline would end it) and under 2048 bytes (the x86_64 kernel
 * command line limit in Firecracker's arch layout, which its own
 * virtio-mmio entries must also fit in); vcpus 1-32; mem_mib 128-32768;
 * uds_path shorter than a sockaddr_un path (108 bytes), guest_cid >= 3
 * (0-2 are reserved: hypervisor, local, host) and not 0xFFFFFFFF (ANY);
 * tap_name 1-15 characters of [A-Za-z0-9_-] (IFNAMSIZ); guest_mac required
 * with a TAP, six hex pairs with ':' ("06:00:AC:1E:00:02"), unicast.
 */
#ifndef PYRO_FCCONFIG_H
#define PYRO_FCCONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "json.h"

struct fc_plan {
	const char *kernel;         /* vmlinux (required) */
	const char *initrd;         /* NULL: none */
	const char *rootfs;         /* NULL: no drive */
	bool rootfs_read_only;
	unsigned vcpus;             /* 1-32 */
	unsigned mem_mib;           /* 128-32768 */
	const char *boot_args;      /* required: the whole kernel command line */
	const char *vsock_uds_path; /* NULL: no vsock */
	unsigned guest_cid;         /* >= 3, with vsock */
	const char *tap_name;       /* NULL: no NIC */
	const char *guest_mac;      /* required with tap_name */
};

#define FCCONFIG_BOOT_ARGS_MAX 2047

/* The config document in doc (*out is its root object). Errors:
 * PYRO_EXIT_USAGE naming the field for a bad plan, PYRO_EXIT_INTERNAL when
 * the doc cannot allocate. */
int fcconfig_build(const struct fc_plan *plan, struct json_doc *doc, struct json_value **out,
		   struct pyro_err *err);

/* Build and write it to path atomically, mode 0600, pretty-printed (two
 * spaces, one member per line) with a final newline. */
int fcconfig_write(const struct fc_plan *plan, const char *path, struct pyro_err *err);

/* argv for booting from the file: firecracker_bin (NULL: "firecracker"),
 * --no-api, --config-file config_path, then --log-path log_path --level
 * Info when log_path is not NULL; NULL-terminated, strings borrowed.
 * Returns argc, or -1 with errno EINVAL when config_path is NULL or argv
 * (cap entries, the NULL included) is too small; 9 always fits.
 * Firecracker's docs/logger.md asks for the log file to exist before it
 * starts ("create the resource that will be used for logging"), and the
 * original touched it first: the caller creates it. */
int fcconfig_argv(const char *firecracker_bin, const char *config_path, const char *log_path,
		  const char **argv, size_t cap);

#endif
