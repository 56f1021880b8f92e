/* The Firecracker config file and command line (fcconfig.h). */
#include "fcconfig.h"

#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "atomicfile.h"
#include "buf.h"
#include "base64.h"
#include "exitcodes.h"

#define FC_MAX_VCPUS 32
#define FC_MIN_MEM_MIB 128
#define FC_MAX_MEM_MIB 32768
#define FC_TAP_NAME_MAX 15 /* IFNAMSIZ - 1 */
#define FC_CID_ANY 0xFFFFFFFFu

static int check_path(const char *field, const char *path, bool required, struct pyro_err *err)
{
	if (!path) {
		if (required)
			return pyro_err_set(err, PYRO_EXIT_USAGE, "firecracker plan: no %s", field);
		return 0;
	}
	if (path[0] != '/')
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "firecracker plan: %s must be an absolute path (got '%.200s')",
				    field, path);
	return 0;
}

/* Firecracker's kernel command line takes printable ASCII only. */
static int check_boot_args(const char *args, struct pyro_err *err)
{
	if (!args)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "firecracker plan: no boot_args");
	size_t n = strlen(args);
	if (n > FCCONFIG_BOOT_ARGS_MAX)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "firecracker plan: boot_args is %zu bytes, the limit is %d", n,
				    FCCONFIG_BOOT_ARGS_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)args[i];
		if (c < 0x20 || c > 0x7e)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "firecracker plan: boot_args has a %s at byte %zu; "
					    "the kernel command line is one line of printable ASCII",
					    c == '\n' ? "newline" : "control or non-ASCII byte", i);
	}
	return 0;
}

static int check_tap_name(const char *name, struct pyro_err *err)
{
	size_t n = strlen(name);
	bool ok = n >= 1 && n <= FC_TAP_NAME_MAX;
	for (size_t i = 0; ok && i < n; i++) {
		char c = name[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '_' || c == '-';
	}
	if (!ok)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "firecracker plan: tap_name must be 1-%d characters of "
				    "[A-Za-z0-9_-] (got '%.40s')", FC_TAP_NAME_MAX, name);
	return 0;
}

/* "XX:XX:XX:XX:XX:XX", and unicast: a multicast MAC on a NIC breaks it. */
static int check_mac(const char *mac, struct pyro_err *err)
{
	if (!mac)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "firecracker plan: a TAP needs a guest_mac");
	bool ok = strlen(mac) == 17;
	for (int i = 0; ok && i < 17; i++)
		ok = i % 3 == 2 ? mac[i] == ':' : hex_digit_value((unsigned char)mac[i]) >= 0;
	if (!ok)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "firecracker plan: guest_mac must look like 06:00:AC:1E:00:02 "
				    "(got '%.40s')", mac);
	if (hex_digit_value((unsigned char)mac[1]) & 1)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "firecracker plan: guest_mac %s is a multicast address; the "
				    "first octet must be even", mac);
	return 0;
}

static int check_plan(const struct fc_plan *p, struct pyro_err *err)
{
	if (check_path("kernel", p->kernel, true, err) ||
	    check_path("initrd", p->initrd, false, err) ||
	    check_path("rootfs", p->rootfs, false, err) || check_boot_args(p->boot_args, err))
		return -1;
	if (p->vcpus < 1 || p->vcpus > FC_MAX_VCPUS)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "firecracker plan: vcpus must be 1-%d (got %u)", FC_MAX_VCPUS,
				    p->vcpus);
	if (p->mem_mib < FC_MIN_MEM_MIB || p->mem_mib > FC_MAX_MEM_MIB)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "firecracker plan: mem_mib must be %d-%d (got %u)",
				    FC_MIN_MEM_MIB, FC_MAX_MEM_MIB, p->mem_mib);
	if (p->vsock_uds_path) {
		if (check_path("vsock_uds_path", p->vsock_uds_path, true, err))
			return -1;
		/* Firecracker binds it: a path that does not fit a sockaddr_un
		 * would only fail later, inside the VMM. */
		if (strlen(p->vsock_uds_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "firecracker plan: vsock_uds_path is longer than a UNIX "
					    "socket path may be (%zu bytes): %.200s",
					    sizeof(((struct sockaddr_un *)0)->sun_path) - 1,
					    p->vsock_uds_path);
		if (p->guest_cid < 3 || p->guest_cid == FC_CID_ANY)
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "firecracker plan: guest_cid must be at least 3 and not "
					    "4294967295 (got %u); 0-2 are reserved", p->guest_cid);
	}
	if (p->tap_name) {
		if (check_tap_name(p->tap_name, err) || check_mac(p->guest_mac, err))
			return -1;
	}
	return 0;
}

int fcconfig_build(const struct fc_plan *p, struct json_doc *doc, struct json_value **out,
		   struct pyro_err *err)
{
	*out = NULL;
	if (check_plan(p, err))
		return -1;
	struct json_value *root = json_object(doc);
	struct json_value *boot = json_object(doc);
	struct json_value *drives = json_array(doc);
	struct json_value *machine = json_object(doc);
	struct json_value *nics = json_array(doc);
	int rc = !root || !boot || !drives || !machine || !nics;
	if (!rc) {
		rc |= json_set_str(doc, boot, "kernel_image_path", p->kernel);
		rc |= json_set_str(doc, boot, "boot_args", p->boot_args);
		if (p->initrd)
			rc |= json_set_str(doc, boot, "initrd_path", p->initrd);
		rc |= json_object_set(doc, root, "boot-source", boot);
		if (p->rootfs) {
			struct json_value *d = json_object(doc);
			rc |= json_set_str(doc, d, "drive_id", "rootfs");
			rc |= json_set_str(doc, d, "path_on_host", p->rootfs);
			rc |= json_set_bool(doc, d, "is_root_device", true);
			rc |= json_set_bool(doc, d, "is_read_only", p->rootfs_read_only);
			rc |= json_array_push(doc, drives, d);
		}
		rc |= json_object_set(doc, root, "drives", drives);
		rc |= json_set_int(doc, machine, "vcpu_count", p->vcpus);
		rc |= json_set_int(doc, machine, "mem_size_mib", p->mem_mib);
		rc |= json_set_bool(doc, machine, "smt", false);
		rc |= json_object_set(doc, root, "machine-config", machine);
		if (p->tap_name) {
			struct json_value *n = json_object(doc);
			rc |= json_set_str(doc, n, "iface_id", "eth0");
			rc |= json_set_str(doc, n, "guest_mac", p->guest_mac);
			rc |= json_set_str(doc, n, "host_dev_name", p->tap_name);
			rc |= json_array_push(doc, nics, n);
		}
		rc |= json_object_set(doc, root, "network-interfaces", nics);
		if (p->vsock_uds_path) {
			struct json_value *v = json_object(doc);
			rc |= json_set_int(doc, v, "guest_cid", p->guest_cid);
			rc |= json_set_str(doc, v, "uds_path", p->vsock_uds_path);
			rc |= json_object_set(doc, root, "vsock", v);
		}
	}
	if (rc)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "out of memory building the firecracker config");
	*out = root;
	return 0;
}

int fcconfig_write(const struct fc_plan *p, const char *path, struct pyro_err *err)
{
	struct json_doc *doc = json_doc_new();
	if (!doc)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "out of memory building the firecracker config");
	struct json_value *root;
	struct buf text;
	buf_init(&text, 0);
	int rc = fcconfig_build(p, doc, &root, err);
	if (rc == 0) {
		if (json_emit(&text, root, JSON_EMIT_PRETTY) < 0 || buf_append_char(&text, '\n') < 0)
			rc = pyro_err_set(err, PYRO_EXIT_INTERNAL,
					  "out of memory writing the firecracker config");
		else
			rc = atomicfile_write(path, text.data, text.len, 0600, err);
	}
	buf_release(&text);
	json_doc_free(doc);
	return rc;
}

int fcconfig_argv(const char *firecracker_bin, const char *config_path, const char *log_path,
		  const char **argv, size_t cap)
{
	size_t need = log_path ? 9 : 5;
	if (!config_path || !argv || cap < need) {
		errno = EINVAL;
		return -1;
	}
	size_t n = 0;
	argv[n++] = firecracker_bin ? firecracker_bin : "firecracker";
	argv[n++] = "--no-api";
	argv[n++] = "--config-file";
	argv[n++] = config_path;
	if (log_path) {
		argv[n++] = "--log-path";
		argv[n++] = log_path;
		argv[n++] = "--level";
		argv[n++] = "Info";
	}
	argv[n] = NULL;
	return (int)n;
}
