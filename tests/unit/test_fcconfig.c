/* core/fcconfig.h: the whole config file for a few plans, the refusals,
 * the atomic 0600 write and the firecracker argv. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../../core/buf.h"
#include "../../core/exitcodes.h"
#include "../../core/fcconfig.h"
#include "test.h"

/* A full plan: initrd, read-only root, vsock and a TAP. */
static const struct fc_plan full = {
	.kernel = "/env/vmlinux", .initrd = "/cache/initramfs.cpio", .rootfs = "/env/rootfs.ext4",
	.rootfs_read_only = true, .vcpus = 2, .mem_mib = 1024,
	.boot_args = "console=ttyS0 root=/dev/vda ro reboot=k panic=1 pyro.guest_ip=172.30.0.2",
	.vsock_uds_path = "/state/vm/vsock.sock", .guest_cid = 3, .tap_name = "pyro0123456789a",
	.guest_mac = "06:00:AC:1E:00:02",
};

/* Emit the plan's document as fcconfig_write does (pretty, no newline)
 * into text; 0 or -1 with err. */
static int emit(const struct fc_plan *p, struct buf *text, struct pyro_err *err)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *root;
	int rc = fcconfig_build(p, doc, &root, err);
	if (rc == 0)
		rc = json_emit(text, root, JSON_EMIT_PRETTY);
	json_doc_free(doc);
	return rc;
}

TEST(fcconfig_full_plan)
{
	struct buf t = BUF_INIT;
	struct pyro_err err = { 0 };
	CHECK(emit(&full, &t, &err) == 0);
	const char *want =
		"{\n"
		"  \"boot-source\": {\n"
		"    \"kernel_image_path\": \"/env/vmlinux\",\n"
		"    \"boot_args\": \"console=ttyS0 root=/dev/vda ro reboot=k panic=1 "
		"pyro.guest_ip=172.30.0.2\",\n"
		"    \"initrd_path\": \"/cache/initramfs.cpio\"\n"
		"  },\n"
		"  \"drives\": [\n"
		"    {\n"
		"      \"drive_id\": \"rootfs\",\n"
		"      \"path_on_host\": \"/env/rootfs.ext4\",\n"
		"      \"is_root_device\": true,\n"
		"      \"is_read_only\": true\n"
		"    }\n"
		"  ],\n"
		"  \"machine-config\": {\n"
		"    \"vcpu_count\": 2,\n"
		"    \"mem_size_mib\": 1024,\n"
		"    \"smt\": false\n"
		"  },\n"
		"  \"network-interfaces\": [\n"
		"    {\n"
		"      \"iface_id\": \"eth0\",\n"
		"      \"guest_mac\": \"06:00:AC:1E:00:02\",\n"
		"      \"host_dev_name\": \"pyro0123456789a\"\n"
		"    }\n"
		"  ],\n"
		"  \"vsock\": {\n"
		"    \"guest_cid\": 3,\n"
		"    \"uds_path\": \"/state/vm/vsock.sock\"\n"
		"  }\n"
		"}";
	CHECK_STR(t.data, want);
	buf_release(&t);
}

TEST(fcconfig_minimal_plan_keeps_the_required_lists)
{
	/* No initrd, root image, NIC or vsock: "drives" must still be there
	 * (a Vec without a serde default in VmmConfig), the NIC list is [],
	 * and neither initrd_path nor vsock appears. */
	struct fc_plan p = { .kernel = "/k", .vcpus = 1, .mem_mib = 128, .boot_args = "" };
	struct buf t = BUF_INIT;
	struct pyro_err err = { 0 };
	CHECK(emit(&p, &t, &err) == 0);
	CHECK_STR(t.data, "{\n"
			  "  \"boot-source\": {\n"
			  "    \"kernel_image_path\": \"/k\",\n"
			  "    \"boot_args\": \"\"\n"
			  "  },\n"
			  "  \"drives\": [],\n"
			  "  \"machine-config\": {\n"
			  "    \"vcpu_count\": 1,\n"
			  "    \"mem_size_mib\": 128,\n"
			  "    \"smt\": false\n"
			  "  },\n"
			  "  \"network-interfaces\": []\n"
			  "}");
	buf_release(&t);
}

TEST(fcconfig_writable_root_with_vsock_no_network)
{
	struct fc_plan p = full;
	p.initrd = NULL, p.rootfs_read_only = false, p.tap_name = NULL, p.guest_mac = NULL;
	p.vcpus = 32, p.mem_mib = 32768, p.guest_cid = 4242, p.boot_args = "console=ttyS0";
	struct buf t = BUF_INIT;
	struct pyro_err err = { 0 };
	CHECK(emit(&p, &t, &err) == 0);
	CHECK_STR(t.data, "{\n"
			  "  \"boot-source\": {\n"
			  "    \"kernel_image_path\": \"/env/vmlinux\",\n"
			  "    \"boot_args\": \"console=ttyS0\"\n"
			  "  },\n"
			  "  \"drives\": [\n"
			  "    {\n"
			  "      \"drive_id\": \"rootfs\",\n"
			  "      \"path_on_host\": \"/env/rootfs.ext4\",\n"
			  "      \"is_root_device\": true,\n"
			  "      \"is_read_only\": false\n"
			  "    }\n"
			  "  ],\n"
			  "  \"machine-config\": {\n"
			  "    \"vcpu_count\": 32,\n"
			  "    \"mem_size_mib\": 32768,\n"
			  "    \"smt\": false\n"
			  "  },\n"
			  "  \"network-interfaces\": [],\n"
			  "  \"vsock\": {\n"
			  "    \"guest_cid\": 4242,\n"
			  "    \"uds_path\": \"/state/vm/vsock.sock\"\n"
			  "  }\n"
			  "}");
	buf_release(&t);
}

/* Build `p`, expect a usage error whose message contains `what`. */
static int refused(const struct fc_plan *p, const char *what)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *root = (struct json_value *)1;
	struct pyro_err err = { 0 };
	int rc = fcconfig_build(p, doc, &root, &err);
	json_doc_free(doc);
	if (rc != -1 || root || err.code != PYRO_EXIT_USAGE || !strstr(err.msg, what)) {
		fprintf(stderr, "    want an error with '%s', got rc %d: %s\n", what, rc, err.msg);
		return 0;
	}
	return 1;
}

TEST(fcconfig_refusals_name_the_field)
{
	struct fc_plan p = full;
	p.kernel = NULL;
	CHECK(refused(&p, "no kernel"));
	p = full, p.kernel = "vmlinux";
	CHECK(refused(&p, "kernel must be an absolute path (got 'vmlinux')"));
	p = full, p.initrd = "init.cpio";
	CHECK(refused(&p, "initrd must be an absolute path"));
	p = full, p.rootfs = "";
	CHECK(refused(&p, "rootfs must be an absolute path (got '')"));
	p = full, p.boot_args = NULL;
	CHECK(refused(&p, "no boot_args"));
	p = full, p.boot_args = "console=ttyS0\npyro.x=1";
	CHECK(refused(&p, "boot_args has a newline at byte 13"));
	p = full, p.boot_args = "a\tb";
	CHECK(refused(&p, "boot_args has a control or non-ASCII byte at byte 1"));
	static char big[FCCONFIG_BOOT_ARGS_MAX + 2];
	memset(big, 'x', sizeof big - 1);
	p = full, p.boot_args = big;
	CHECK(refused(&p, "boot_args is 2048 bytes, the limit is 2047"));
	p = full, p.vcpus = 0;
	CHECK(refused(&p, "vcpus must be 1-32 (got 0)"));
	p = full, p.vcpus = 33;
	CHECK(refused(&p, "vcpus must be 1-32 (got 33)"));
	p = full, p.mem_mib = 127;
	CHECK(refused(&p, "mem_mib must be 128-32768 (got 127)"));
	p = full, p.mem_mib = 32769;
	CHECK(refused(&p, "mem_mib must be 128-32768 (got 32769)"));
	p = full, p.vsock_uds_path = "vsock.sock";
	CHECK(refused(&p, "vsock_uds_path must be an absolute path"));
	static char longsock[120] = "/";
	memset(longsock + 1, 's', 108);
	p = full, p.vsock_uds_path = longsock;
	CHECK(refused(&p, "vsock_uds_path is longer than a UNIX socket path may be (107 bytes)"));
	p = full, p.guest_cid = 2;
	CHECK(refused(&p, "guest_cid must be at least 3 and not 4294967295 (got 2)"));
	p = full, p.guest_cid = 0xFFFFFFFFu;
	CHECK(refused(&p, "guest_cid must be at least 3"));
	p = full, p.tap_name = "";
	CHECK(refused(&p, "tap_name must be 1-15 characters of [A-Za-z0-9_-] (got '')"));
	p = full, p.tap_name = "pyro0123456789ab";
	CHECK(refused(&p, "tap_name must be 1-15 characters"));
	p = full, p.tap_name = "tap 0";
	CHECK(refused(&p, "(got 'tap 0')"));
	p = full, p.tap_name = "tap/0";
	CHECK(refused(&p, "(got 'tap/0')"));
	p = full, p.guest_mac = NULL;
	CHECK(refused(&p, "a TAP needs a guest_mac"));
	p = full, p.guest_mac = "06:00:AC:1E:00";
	CHECK(refused(&p, "guest_mac must look like 06:00:AC:1E:00:02 (got '06:00:AC:1E:00')"));
	p = full, p.guest_mac = "06-00-AC-1E-00-02";
	CHECK(refused(&p, "guest_mac must look like"));
	p = full, p.guest_mac = "06:00:AG:1E:00:02";
	CHECK(refused(&p, "guest_mac must look like"));
	p = full, p.guest_mac = "07:00:ac:1e:00:02";
	CHECK(refused(&p, "guest_mac 07:00:ac:1e:00:02 is a multicast address"));
	/* Without a TAP the MAC is not looked at; without vsock neither is the cid. */
	p = full, p.tap_name = NULL, p.guest_mac = "junk", p.vsock_uds_path = NULL, p.guest_cid = 0;
	struct json_doc *doc = json_doc_new();
	struct json_value *root;
	struct pyro_err err = { 0 };
	int rc = fcconfig_build(&p, doc, &root, &err);
	json_doc_free(doc);
	CHECK(rc == 0);
}

TEST(fcconfig_write_is_pretty_0600_and_refuses_bad_plans)
{
	char path[512];
	snprintf(path, sizeof path, "%s/fc.json", test_tmpdir());
	struct pyro_err err = { 0 };
	mode_t old = umask(0);
	int rc = fcconfig_write(&full, path, &err);
	umask(old);
	CHECK(rc == 0);
	struct stat st;
	CHECK(stat(path, &st) == 0);
	CHECK((st.st_mode & 07777) == 0600);
	struct buf got = BUF_INIT, want = BUF_INIT;
	CHECK(buf_read_file(&got, path) == 0);
	CHECK(emit(&full, &want, &err) == 0);
	CHECK(buf_append_char(&want, '\n') == 0);
	int same = got.len == want.len && memcmp(got.data, want.data, got.len) == 0;
	buf_release(&got);
	buf_release(&want);
	CHECK(same);

	/* A bad plan leaves the old file alone. */
	struct fc_plan p = full;
	p.vcpus = 0;
	CHECK(fcconfig_write(&p, path, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK(stat(path, &st) == 0 && st.st_size > 0);
	CHECK(fcconfig_write(&full, "/nonexistent/pyro/fc.json", &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
}

TEST(fcconfig_argv_matches_the_original)
{
	const char *argv[9];
	CHECK(fcconfig_argv("/opt/fc/firecracker", "/vm/fc.json", "/vm/firecracker.log", argv, 9) ==
	      8);
	const char *want[] = { "/opt/fc/firecracker", "--no-api", "--config-file", "/vm/fc.json",
			       "--log-path", "/vm/firecracker.log", "--level", "Info" };
	for (int i = 0; i < 8; i++)
		CHECK_STR(argv[i], want[i]);
	CHECK(argv[8] == NULL);
	CHECK(fcconfig_argv(NULL, "/vm/fc.json", NULL, argv, 5) == 4);
	CHECK_STR(argv[0], "firecracker");
	CHECK_STR(argv[3], "/vm/fc.json");
	CHECK(argv[4] == NULL);
	errno = 0;
	CHECK(fcconfig_argv(NULL, "/vm/fc.json", "/vm/log", argv, 8) == -1 && errno == EINVAL);
	CHECK(fcconfig_argv(NULL, NULL, NULL, argv, 9) == -1 && errno == EINVAL);
}
