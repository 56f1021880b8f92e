/* pyro-init, the pure parts: kernel command line parsing, resolv.conf
 * text, the restart back-off, --dry-run and the PID 1 check. The netlink
 * bytes are in test_init_net.c, the plan and the supervision loop in
 * test_init_run.c. Nothing here needs privileges. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/exitcodes.h"
#include "../../guest-init/init.h"
#include "test.h"

static int parse(const char *text, struct init_config *cfg, struct pyro_err *err)
{
	err->msg[0] = '\0';
	return init_cmdline_parse(text, strlen(text), cfg, err);
}

static const char *ip_text(struct in_addr a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* ---- command line --------------------------------------------------- */

TEST(init_cmdline_defaults)
{
	struct init_config c;
	struct pyro_err e;
	CHECK(parse("", &c, &e) == 0);
	CHECK_STR(c.root, "");
	CHECK(c.root_rw == 0);
	CHECK(c.root_wait_s == 10);
	CHECK_STR(c.hostname, "pyro");
	CHECK(!c.has_ip && !c.has_gateway && c.ndns == 0);
	CHECK_STR(c.agent, "");
	CHECK(c.stop_grace_s == 10);
	CHECK(c.halt == INIT_HALT_REBOOT);
}

TEST(init_cmdline_full_line)
{
	struct init_config c;
	struct pyro_err e;
	char a[INET_ADDRSTRLEN];
	const char *line = "console=ttyS0 reboot=k panic=1 root=/dev/vda rootfstype=ext4 rw "
			   "pyro.hostname=ws-1 pyro.guest_ip=172.16.0.2 pyro.netmask=30 "
			   "pyro.gateway_ip=172.16.0.1 pyro.dns=1.1.1.1,2606:4700:4700::1111 "
			   "pyro.agent=--vsock,5005 pyro.root_wait=3 pyro.stop_grace=4 "
			   "pyro.halt=poweroff quiet\n";
	CHECK(parse(line, &c, &e) == 0);
	CHECK_STR(c.root, "/dev/vda");
	CHECK_STR(c.rootfstype, "ext4");
	CHECK(c.root_rw == 1);
	CHECK_STR(c.hostname, "ws-1");
	CHECK(c.has_ip);
	CHECK_STR(ip_text(c.guest_ip, a), "172.16.0.2");
	CHECK(c.prefixlen == 30);
	CHECK(c.has_gateway);
	CHECK_STR(ip_text(c.gateway, a), "172.16.0.1");
	CHECK(c.ndns == 2);
	CHECK_STR(c.dns[0], "1.1.1.1");
	CHECK_STR(c.dns[1], "2606:4700:4700::1111");
	CHECK_STR(c.agent, "--vsock,5005");
	CHECK(c.root_wait_s == 3);
	CHECK(c.stop_grace_s == 4);
	CHECK(c.halt == INIT_HALT_POWEROFF);
}

TEST(init_cmdline_quotes_as_the_kernel)
{
	struct init_config c;
	struct pyro_err e;
	/* key="a b": the value loses its quotes; "key=v": the whole token was
	 * quoted; quotes in the middle stay. */
	CHECK(parse("rootflags=\"data=ordered,x y\" \"pyro.hostname=quoted\" "
		    "pyro.agent=--name,\"a b\"", &c, &e) == 0);
	CHECK_STR(c.rootflags, "data=ordered,x y");
	CHECK_STR(c.hostname, "quoted");
	CHECK_STR(c.agent, "--name,\"a b\"");
	CHECK(parse("  \t pyro.hostname=tabs\t\t", &c, &e) == 0);
	CHECK_STR(c.hostname, "tabs");
	/* An unterminated quote runs to the end of the line. */
	CHECK(parse("pyro.agent=\"--x,y z", &c, &e) == 0);
	CHECK_STR(c.agent, "--x,y z");
}

TEST(init_cmdline_unknown_and_order)
{
	struct init_config c;
	struct pyro_err e;
	CHECK(parse("foo bar=baz pyro.unknown=1 ro rw ro =x", &c, &e) == 0);
	CHECK(c.root_rw == 0);
	/* Last one wins, as in the kernel. */
	CHECK(parse("pyro.hostname=a pyro.hostname=b rw", &c, &e) == 0);
	CHECK_STR(c.hostname, "b");
	CHECK(c.root_rw == 1);
	/* Netmask before the address works the same. */
	CHECK(parse("pyro.netmask=255.255.255.0 pyro.guest_ip=10.1.2.3", &c, &e) == 0);
	CHECK(c.prefixlen == 24);
}

TEST(init_cmdline_stops_at_double_dash)
{
	struct init_config c;
	struct pyro_err e;
	CHECK(parse("root=/dev/vda -- pyro.hostname=after single", &c, &e) == 0);
	CHECK_STR(c.root, "/dev/vda");
	CHECK_STR(c.hostname, "pyro");
}

TEST(init_cmdline_netmask_forms)
{
	struct init_config c;
	struct pyro_err e;
	CHECK(parse("pyro.guest_ip=10.0.0.2/30", &c, &e) == 0);
	CHECK(c.has_ip && c.prefixlen == 30);
	CHECK(parse("pyro.guest_ip=10.0.0.2 pyro.netmask=255.255.255.252", &c, &e) == 0);
	CHECK(c.prefixlen == 30);
	CHECK(parse("pyro.guest_ip=10.0.0.2 pyro.netmask=255.255.255.255", &c, &e) == 0);
	CHECK(c.prefixlen == 32);
	/* No mask at all: a host address, the gateway reached on-link. */
	CHECK(parse("pyro.guest_ip=10.0.0.2", &c, &e) == 0);
	CHECK(c.prefixlen == 32);
	/* Both given and different: the CIDR form wins, with a message. */
	CHECK(parse("pyro.guest_ip=10.0.0.2/30 pyro.netmask=24", &c, &e) == -1);
	CHECK(c.has_ip && c.prefixlen == 30);
	CHECK_CONTAINS(e.msg, "pyro.netmask: '24' disagrees");
}

TEST(init_cmdline_bad_network_values)
{
	struct init_config c;
	struct pyro_err e;
	CHECK(parse("pyro.guest_ip=10.0.0.2 pyro.netmask=33", &c, &e) == -1);
	CHECK(e.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(e.msg, "pyro.netmask: '33'");
	CHECK(c.has_ip && c.prefixlen == 32);

	CHECK(parse("pyro.netmask=255.0.255.0 pyro.guest_ip=10.0.0.2", &c, &e) == -1);
	CHECK_CONTAINS(e.msg, "pyro.netmask: '255.0.255.0'");
	CHECK(parse("pyro.netmask=0", &c, &e) == -1);
	CHECK(parse("pyro.netmask=-1", &c, &e) == -1);
	CHECK(parse("pyro.netmask=24x", &c, &e) == -1);

	static const char *const bad_ips[] = {
		"10.0.0", "10.0.0.256", "0x0a.0.0.1", "10.0.0.2/0", "10.0.0.2/33",
		"10.0.0.2/", "0.0.0.0", "255.255.255.255", "127.0.0.1", "224.0.0.1",
		"fe80::1", "",
	};
	for (size_t i = 0; i < sizeof bad_ips / sizeof *bad_ips; i++) {
		char line[128];
		snprintf(line, sizeof line, "pyro.guest_ip=%s pyro.netmask=24", bad_ips[i]);
		CHECK(parse(line, &c, &e) == -1);
		CHECK_CONTAINS(e.msg, "pyro.guest_ip:");
		CHECK(!c.has_ip);
	}

	CHECK(parse("pyro.guest_ip=10.0.0.2/24 pyro.gateway_ip=10.0.0", &c, &e) == -1);
	CHECK_CONTAINS(e.msg, "pyro.gateway_ip: '10.0.0'");
	CHECK(c.has_ip && !c.has_gateway);
	CHECK(parse("pyro.guest_ip=10.0.0.2/24 pyro.gateway_ip=10.0.0.2", &c, &e) == -1);
	CHECK_CONTAINS(e.msg, "guest's own address");
	CHECK(!c.has_gateway);
}

TEST(init_cmdline_reports_every_bad_key)
{
	struct init_config c;
	struct pyro_err e;
	CHECK(parse("pyro.hostname=-x pyro.root_wait=soon pyro.halt=explode pyro.stop_grace=301 "
		    "root=UUID=1234 rootfstype=ext4;rm pyro.dns=1.1.1.1,nope", &c, &e) == -1);
	CHECK_CONTAINS(e.msg, "pyro.hostname: '-x'");
	CHECK_CONTAINS(e.msg, "pyro.root_wait: 'soon'");
	CHECK_CONTAINS(e.msg, "pyro.halt: 'explode'");
	CHECK_CONTAINS(e.msg, "pyro.stop_grace: '301'");
	CHECK_CONTAINS(e.msg, "root: 'UUID=1234' is not supported");
	CHECK_CONTAINS(e.msg, "rootfstype: 'ext4;rm'");
	CHECK_CONTAINS(e.msg, "pyro.dns: 'nope'");
	/* Each bad key left its default; the good part of pyro.dns stays. */
	CHECK_STR(c.hostname, "pyro");
	CHECK(c.root_wait_s == 10 && c.stop_grace_s == 10 && c.halt == INIT_HALT_REBOOT);
	CHECK_STR(c.root, "");
	CHECK(c.ndns == 1);
	CHECK_STR(c.dns[0], "1.1.1.1");
}

TEST(init_cmdline_value_required)
{
	struct init_config c;
	struct pyro_err e;
	CHECK(parse("root pyro.hostname", &c, &e) == -1);
	CHECK_CONTAINS(e.msg, "root: needs a value");
	CHECK_CONTAINS(e.msg, "pyro.hostname: needs a value");
	CHECK(parse("root=/dev/", &c, &e) == -1);
	CHECK(parse("root=/dev/../etc/passwd", &c, &e) == -1);
	CHECK_CONTAINS(e.msg, "root:");
}

TEST(init_cmdline_hostnames)
{
	struct init_config c;
	struct pyro_err e;
	static const char *const good[] = { "a", "pyro-vm", "ws1.example", "A9" };
	static const char *const bad[] = { "-a", "a-", "a..b", ".a", "a.", "a_b", "a b", "" };
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		char line[128];
		snprintf(line, sizeof line, "pyro.hostname=%s", good[i]);
		CHECK(parse(line, &c, &e) == 0);
		CHECK_STR(c.hostname, good[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char line[128];
		snprintf(line, sizeof line, "\"pyro.hostname=%s\"", bad[i]);
		CHECK(parse(line, &c, &e) == -1);
		CHECK_STR(c.hostname, "pyro");
	}
	char line[128] = "pyro.hostname=";
	memset(line + strlen(line), 'a', 65);
	line[14 + 65] = '\0';
	CHECK(parse(line, &c, &e) == -1);
}

TEST(init_cmdline_dns_limits)
{
	struct init_config c;
	struct pyro_err e;
	CHECK(parse("pyro.dns=1.1.1.1,,8.8.8.8,", &c, &e) == 0);
	CHECK(c.ndns == 2);
	CHECK(parse("pyro.dns=1.1.1.1,1.0.0.1,8.8.8.8,8.8.4.4", &c, &e) == -1);
	CHECK_CONTAINS(e.msg, "pyro.dns: 4 servers given");
	CHECK(c.ndns == 3);
	CHECK_STR(c.dns[2], "8.8.8.8");
}

TEST(init_cmdline_agent_args)
{
	struct init_config c;
	struct pyro_err e;
	struct init_agent_argv a;

	CHECK(parse("", &c, &e) == 0);
	init_agent_argv(&c, &a);
	CHECK(a.argc == 1);
	CHECK_STR(a.argv[0], "pyro-guest-agent");
	CHECK(a.argv[1] == NULL);

	CHECK(parse("pyro.agent=--vsock,5005", &c, &e) == 0);
	init_agent_argv(&c, &a);
	CHECK(a.argc == 3);
	CHECK_STR(a.argv[1], "--vsock");
	CHECK_STR(a.argv[2], "5005");
	CHECK(a.argv[3] == NULL);

	static const char *const bad[] = { "pyro.agent=,x", "pyro.agent=x,,y", "pyro.agent=x," };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		CHECK(parse(bad[i], &c, &e) == -1);
		CHECK_CONTAINS(e.msg, "pyro.agent:");
		CHECK_STR(c.agent, "");
	}
	CHECK(parse("pyro.agent=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", &c, &e) == -1);
	CHECK_CONTAINS(e.msg, "17 arguments");
	CHECK(parse("pyro.agent=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", &c, &e) == 0);
	init_agent_argv(&c, &a);
	CHECK(a.argc == 17);
	CHECK_STR(a.argv[16], "p");
	CHECK(a.argv[17] == NULL);
}

TEST(init_cmdline_too_long_and_nul)
{
	struct init_config c;
	struct pyro_err e;
	size_t n = INIT_CMDLINE_MAX + 10;
	char *big = malloc(n + 1);
	CHECK(big);
	memset(big, 'x', n);
	big[n] = '\0';
	int rc = init_cmdline_parse(big, n, &c, &e);
	free(big);
	CHECK(rc == -1);
	CHECK_CONTAINS(e.msg, "kernel command line is");
	CHECK_STR(c.hostname, "pyro");
	/* Bytes after a NUL are not read. */
	const char with_nul[] = "pyro.hostname=a\0pyro.hostname=b";
	CHECK(init_cmdline_parse(with_nul, sizeof with_nul - 1, &c, &e) == 0);
	CHECK_STR(c.hostname, "a");
}

/* ---- resolv.conf ---------------------------------------------------- */

TEST(init_resolv_conf)
{
	struct init_config c;
	struct pyro_err e;
	char text[512];
	CHECK(parse("pyro.dns=10.0.0.1,fd00::53", &c, &e) == 0);
	CHECK(init_resolv_conf_text(&c, text, sizeof text, &e) == 0);
	CHECK_STR(text, "# written by pyro-init from pyro.dns on the kernel command line\n"
			"nameserver 10.0.0.1\nnameserver fd00::53\n");
	CHECK(init_resolv_conf_text(&c, text, 70, &e) == -1);
	CHECK_STR(text, "");
	CHECK(init_resolv_conf_text(&c, text, 10, &e) == -1);
	CHECK(parse("", &c, &e) == 0);
	CHECK(init_resolv_conf_text(&c, text, sizeof text, &e) == 0);
	CHECK(strstr(text, "nameserver") == NULL);
}

/* ---- back-off ------------------------------------------------------- */

TEST(init_backoff_schedule)
{
	struct init_backoff b;
	init_backoff_reset(&b);
	static const unsigned want[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000 };
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		CHECK(init_backoff_next(&b, 50) == want[i]);
	/* Up for just under 10 s: still backing off; 10 s: start again. */
	CHECK(init_backoff_next(&b, 9999) == 5000);
	CHECK(init_backoff_next(&b, 10000) == 100);
	CHECK(init_backoff_next(&b, 0) == 200);
	/* A zeroed struct behaves like a reset one. */
	struct init_backoff z = { 0 };
	CHECK(init_backoff_next(&z, 0) == 100);
}

/* --dry-run in a child, stdout and stderr into one file. */
static int run_dry(const char *cmdline, char *out, size_t cap)
{
	char path[512];
	snprintf(path, sizeof path, "%s/dry", test_tmpdir());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		char *argv[] = { "pyro-init", "--dry-run", "--cmdline", (char *)cmdline, NULL };
		int rc = pyro_init_main(4, argv);
		fflush(NULL);
		_exit(rc);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		status = -1;
	ssize_t n = pread(fd, out, cap - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(init_dry_run_output)
{
	char out[8192];
	int rc = run_dry("root=/dev/vda rw pyro.guest_ip=172.16.0.2 pyro.netmask=30 "
			 "pyro.gateway_ip=172.16.0.1 pyro.dns=1.1.1.1 pyro.agent=--vsock,5005",
			 out, sizeof out);
	CHECK(rc == 0);
	CHECK_CONTAINS(out, "root: /dev/vda (type any, rw, data -, wait up to 10 s)\n");
	CHECK_CONTAINS(out, "network: lo, eth0 172.16.0.2/30 via 172.16.0.1\n");
	CHECK_CONTAINS(out, "nameserver 1.1.1.1\n");
	CHECK_CONTAINS(out, "agent: pyro-guest-agent --vsock 5005\n");
	CHECK_CONTAINS(out, "end of the VM: reboot\n");
	CHECK_CONTAINS(out, "plan in the initramfs:\n");
	CHECK_CONTAINS(out, "switch root to /newroot [fatal]\n");
	CHECK_CONTAINS(out, "plan in the final root:\n");
	CHECK_CONTAINS(out, "mount devpts on /dev/pts (mode=620,ptmxmode=666) unless mounted\n");

	rc = run_dry("pyro.guest_ip=10.0.0.2 pyro.gateway_ip=10.9.0.1 pyro.netmask=nine", out, sizeof out);
	CHECK(rc == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(out, "pyro-init: kernel command line: pyro.netmask: 'nine'");
	CHECK_CONTAINS(out, "network: lo, eth0 10.0.0.2/32 via 10.9.0.1 (on-link)\n");
	CHECK_CONTAINS(out, "root: none given");
	CHECK(!strstr(out, "plan in the initramfs"));
}

TEST(init_refuses_without_pid1)
{
	if (getpid() == 1)
		return;
	char *argv[] = { "pyro-init", NULL };
	char *bad[] = { "pyro-init", "--bogus", NULL };
	/* stderr is the test's own: nothing to capture, only the status. */
	int saved = dup(2), null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CHECK(saved >= 0 && null >= 0);
	dup2(null, 2);
	int rc1 = pyro_init_main(1, argv);
	int rc2 = pyro_init_main(2, bad);
	dup2(saved, 2);
	close(saved);
	close(null);
	CHECK(rc1 == PYRO_EXIT_USAGE);
	CHECK(rc2 == PYRO_EXIT_USAGE);
}

