/* Host probes against fake /dev and /proc trees (PYRO_DEV_ROOT,
 * PYRO_PROC_ROOT), so every answer doctor can give is exercised. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/hostprobe.h"
#include "test.h"

static void make_file(const char *dir, const char *rel, const char *content, mode_t mode)
{
	char path[1024], parent[1024];
	snprintf(path, sizeof path, "%s%s", dir, rel);
	snprintf(parent, sizeof parent, "%s", path);
	for (char *p = parent + strlen(dir) + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(parent, 0755);
			*p = '/';
		}
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(content, f);
		fclose(f);
	}
	chmod(path, mode);
}

TEST(hostprobe_reads_a_fake_host)
{
	char dev[512], proc[512], bin[512];
	snprintf(dev, sizeof dev, "%s/dev-root", test_tmpdir());
	snprintf(proc, sizeof proc, "%s/proc-root", test_tmpdir());
	snprintf(bin, sizeof bin, "%s/bin", test_tmpdir());
	mkdir(dev, 0755);
	mkdir(proc, 0755);
	mkdir(bin, 0755);
	/* Devices are character devices that open: /dev/null stands in. A
	 * regular file or a directory at a device path does not count. */
	make_file(dev, "/dev/net/.keep", "", 0644);
	char link[1024];
	snprintf(link, sizeof link, "%s/dev/kvm", dev);
	CHECK(symlink("/dev/null", link) == 0);
	snprintf(link, sizeof link, "%s/dev/net/tun", dev);
	CHECK(symlink("/dev/null", link) == 0);
	snprintf(link, sizeof link, "%s/dev/vhost-vsock", dev);
	CHECK(mkdir(link, 0755) == 0);
	make_file(proc, "/proc/sys/net/ipv4/ip_forward", "1\n", 0644);
	/* A fake VMM that answers --version. */
	make_file(bin, "/qemu-system-x86_64", "#!/bin/sh\necho 'QEMU emulator version 9.9.9'\necho second\n", 0755);

	char *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	setenv("PYRO_DEV_ROOT", dev, 1);
	setenv("PYRO_PROC_ROOT", proc, 1);
	setenv("PATH", bin, 1);
	setenv("PYRO_FIRECRACKER", "/nonexistent/firecracker", 1);
	struct host_report r;
	hostprobe_run(&r);
	unsetenv("PYRO_DEV_ROOT");
	unsetenv("PYRO_PROC_ROOT");
	unsetenv("PYRO_FIRECRACKER");
	if (old_path)
		setenv("PATH", old_path, 1);
	free(old_path);

	CHECK(r.kvm.exists && r.kvm.readable && r.kvm.writable);
	CHECK(hostprobe_kvm_usable(&r));
	CHECK(!r.vhost_vsock.exists && !r.vhost_vsock.readable); /* a directory */
	CHECK(r.firecracker.override_bad);
	CHECK(r.tun.exists);
	CHECK(r.ip_forward_known && r.ip_forward);
	CHECK(!r.firecracker.found);
	CHECK(r.qemu.found);
	CHECK_STR(r.qemu.version, "QEMU emulator version 9.9.9");
	CHECK(strncmp(r.platform, "linux-", 6) == 0);
}

TEST(hostprobe_reports_missing_devices_and_unknown_forwarding)
{
	char dev[512];
	snprintf(dev, sizeof dev, "%s/empty", test_tmpdir());
	mkdir(dev, 0755);
	setenv("PYRO_DEV_ROOT", dev, 1);
	setenv("PYRO_PROC_ROOT", dev, 1);
	struct host_report r;
	hostprobe_run(&r);
	unsetenv("PYRO_DEV_ROOT");
	unsetenv("PYRO_PROC_ROOT");
	CHECK(!r.kvm.exists && !hostprobe_kvm_usable(&r));
	CHECK(!r.tun.exists);
	CHECK(!r.ip_forward_known && !r.ip_forward);
}

TEST(hostprobe_regular_file_is_not_a_device)
{
	char dev[512];
	snprintf(dev, sizeof dev, "%s/fake", test_tmpdir());
	mkdir(dev, 0755);
	make_file(dev, "/dev/kvm", "", 0666);
	setenv("PYRO_DEV_ROOT", dev, 1);
	struct host_report r;
	hostprobe_run(&r);
	unsetenv("PYRO_DEV_ROOT");
	CHECK(!r.kvm.exists && !hostprobe_kvm_usable(&r));
}

TEST(hostprobe_keeps_both_directory_errors)
{
	char *old_cache = getenv("PYRO_CACHE_DIR") ? strdup(getenv("PYRO_CACHE_DIR")) : NULL;
	char *old_state = getenv("PYRO_STATE_DIR") ? strdup(getenv("PYRO_STATE_DIR")) : NULL;
	setenv("PYRO_CACHE_DIR", "rel-cache", 1);
	setenv("PYRO_STATE_DIR", "rel-state", 1);
	struct host_report r;
	hostprobe_run(&r);
	old_cache ? setenv("PYRO_CACHE_DIR", old_cache, 1) : unsetenv("PYRO_CACHE_DIR");
	old_state ? setenv("PYRO_STATE_DIR", old_state, 1) : unsetenv("PYRO_STATE_DIR");
	free(old_cache);
	free(old_state);
	CHECK_CONTAINS(r.cache_error, "PYRO_CACHE_DIR must be an absolute path (got 'rel-cache')");
	CHECK_CONTAINS(r.state_error, "PYRO_STATE_DIR must be an absolute path (got 'rel-state')");
	CHECK(r.cache_dir[0] == '\0' && r.state_dir[0] == '\0');
}

TEST(hostprobe_find_exe_honours_override_and_path)
{
	char out[4096];
	CHECK(hostprobe_find_exe("sh", NULL, out, sizeof out));
	CHECK(out[0] == '/');
	setenv("PYRO_TEST_EXE", "/bin/sh", 1);
	CHECK(hostprobe_find_exe("nothing-like-this", "PYRO_TEST_EXE", out, sizeof out));
	CHECK_STR(out, "/bin/sh");
	setenv("PYRO_TEST_EXE", "/nonexistent/x", 1);
	CHECK(!hostprobe_find_exe("sh", "PYRO_TEST_EXE", out, sizeof out));
	unsetenv("PYRO_TEST_EXE");
	CHECK(!hostprobe_find_exe("pyro-no-such-program-anywhere", NULL, out, sizeof out));
}
