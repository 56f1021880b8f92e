/* core/netplan.h, the pure half: addresses, name servers, slots, the
 * guest keys, the info payload and the exact host commands. Nothing here
 * runs a command (test_netplan_run.c does, against fakes). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/buf.h"
#include "../../core/exitcodes.h"
#include "../../core/netplan.h"
#include "test.h"

static const char *const two_dns[] = { "192.168.1.1", "2001:db8::53" };

TEST(netplan_addresses_for_slots_0_1_4095)
{
	struct net_config c;
	struct pyro_err err = { 0 };
	CHECK(netplan_config(0, "0123456789ab", two_dns, 2, &c, &err) == 0);
	CHECK_STR(c.tap_name, "pyro0123456789a");
	CHECK_STR(c.subnet_cidr, "172.30.0.0/30");
	CHECK_STR(c.gateway_ip, "172.30.0.1");
	CHECK_STR(c.guest_ip, "172.30.0.2");
	CHECK_STR(c.mac_address, "06:00:AC:1E:00:02");
	CHECK(c.slot == 0 && c.dns_count == 2);
	CHECK_STR(c.dns_servers[0], "192.168.1.1");
	CHECK_STR(c.dns_servers[1], "2001:db8::53");

	CHECK(netplan_config(1, "ab", two_dns, 1, &c, &err) == 0);
	CHECK_STR(c.tap_name, "pyroab");
	CHECK_STR(c.subnet_cidr, "172.30.0.4/30");
	CHECK_STR(c.gateway_ip, "172.30.0.5");
	CHECK_STR(c.guest_ip, "172.30.0.6");
	CHECK_STR(c.mac_address, "06:00:AC:1E:00:06");
	CHECK(c.dns_count == 1);

	CHECK(netplan_config(4095, "fedcba987654", two_dns, 0, &c, &err) == 0);
	CHECK_STR(c.tap_name, "pyrofedcba98765");
	CHECK_STR(c.subnet_cidr, "172.30.63.252/30");
	CHECK_STR(c.gateway_ip, "172.30.63.253");
	CHECK_STR(c.guest_ip, "172.30.63.254");
	CHECK_STR(c.mac_address, "06:00:AC:1E:3F:FE");
	CHECK(c.slot == 4095 && c.dns_count == 0);
}

TEST(netplan_config_refusals)
{
	struct net_config c;
	struct pyro_err err = { 0 };
	CHECK(netplan_config(4096, "a", two_dns, 0, &c, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "slot must be 0-4095 (got 4096)");
	CHECK(netplan_config(0, "", two_dns, 0, &c, &err) == -1);
	CHECK_CONTAINS(err.msg, "VM id must be 1-64 characters of [A-Za-z0-9_-] (got '')");
	CHECK(netplan_config(0, "a b", two_dns, 0, &c, &err) == -1);
	CHECK_CONTAINS(err.msg, "(got 'a b')");
	CHECK(netplan_config(0, "a\";x", two_dns, 0, &c, &err) == -1);
	CHECK(netplan_config(0, NULL, two_dns, 0, &c, &err) == -1);
	const char *four[] = { "1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4" };
	CHECK(netplan_config(0, "a", four, 4, &c, &err) == -1);
	CHECK_CONTAINS(err.msg, "at most 3 DNS servers (got 4)");
	const char *bad[] = { "1.1.1.1", "dns.example" };
	CHECK(netplan_config(0, "a", bad, 2, &c, &err) == -1);
	CHECK_CONTAINS(err.msg, "DNS server 'dns.example' is not an IPv4 or IPv6 address");
	const char *comma[] = { "1.1.1.1,8.8.8.8" };
	CHECK(netplan_config(0, "a", comma, 1, &c, &err) == -1);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

TEST(netplan_dns_from_resolv_keeps_usable_ipv4)
{
	char path[512];
	snprintf(path, sizeof path, "%s/resolv.conf", test_tmpdir());
	write_file(path, "# generated\n"
			 "search example.org\n"
			 "nameserver 127.0.0.53\n"
			 "  nameserver\t10.0.0.2  # office\n"
			 "nameserver ::1\n"
			 "nameserver fe80::1%eth0\n"
			 "nameserver 2001:db8::1\n"
			 ";nameserver 9.9.9.9\n"
			 "nameserver 0.0.0.0\n"
			 "nameserver 10.0.0.2\n"
			 "nameserver 192.168.0.1\n"
			 "nameserverx 4.4.4.4\n"
			 "nameserver 1.0.0.1\n"
			 "nameserver 8.8.4.4\n");
	char out[NETPLAN_MAX_DNS][46];
	CHECK(netplan_dns_from_resolv(path, out, NETPLAN_MAX_DNS) == 3);
	CHECK_STR(out[0], "10.0.0.2");
	CHECK_STR(out[1], "192.168.0.1");
	CHECK_STR(out[2], "1.0.0.1");
	CHECK(netplan_dns_from_resolv(path, out, 1) == 1);

	/* Only loopback (systemd-resolved's stub), or no file: none. */
	write_file(path, "nameserver 127.0.0.53\noptions edns0\n");
	CHECK(netplan_dns_from_resolv(path, out, NETPLAN_MAX_DNS) == 0);
	CHECK(netplan_dns_from_resolv("/nonexistent/resolv.conf", out, NETPLAN_MAX_DNS) == 0);

	/* The host default is never empty. */
	int n = -1;
	netplan_default_dns(out, &n);
	CHECK(n >= 1 && n <= NETPLAN_MAX_DNS);
	struct net_config c;
	struct pyro_err err = { 0 };
	CHECK(netplan_config(0, "a", NULL, 0, &c, &err) == 0);
	CHECK(c.dns_count == n);
	CHECK_STR(c.dns_servers[0], out[0]);
}

TEST(netplan_slots_claim_release_across_callers)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/slots", test_tmpdir());
	CHECK(mkdir(dir, 0700) == 0);
	struct pyro_err err = { 0 };
	unsigned a = 99, b = 99, c = 99;
	CHECK(netplan_slot_claim(dir, "vm-a", &a, &err) == 0);
	CHECK(netplan_slot_claim(dir, "vm-b", &b, &err) == 0);
	CHECK(a == 0 && b == 1);

	/* The slot file holds the id, whole, and no temporary is left. */
	char path[600];
	struct buf got = BUF_INIT;
	snprintf(path, sizeof path, "%s/1", dir);
	CHECK(buf_read_file(&got, path) == 0);
	int same = strcmp(got.data, "vm-b\n") == 0;
	buf_release(&got);
	CHECK(same);
	snprintf(path, sizeof path, "%s/2", dir);
	CHECK(access(path, F_OK) != 0);

	/* Release frees the lowest slot for the next claim; releasing again,
	 * or a slot never taken, is fine. */
	CHECK(netplan_slot_release(dir, a, &err) == 0);
	CHECK(netplan_slot_release(dir, a, &err) == 0);
	CHECK(netplan_slot_release(dir, 77, &err) == 0);
	CHECK(netplan_slot_claim(dir, "vm-c", &c, &err) == 0);
	CHECK(c == 0);
	unsigned d = 99;
	CHECK(netplan_slot_claim(dir, "vm-d", &d, &err) == 0);
	CHECK(d == 2);

	CHECK(netplan_slot_release(dir, 4096, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK(netplan_slot_claim(dir, "bad id", &d, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK(netplan_slot_claim("/nonexistent/pyro/slots", "vm", &d, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_CONTAINS(err.msg, "cannot create a network slot claim in /nonexistent/pyro/slots");
}

TEST(netplan_slots_all_taken)
{
	char dir[512], path[600];
	snprintf(dir, sizeof dir, "%s/full", test_tmpdir());
	CHECK(mkdir(dir, 0700) == 0);
	for (int n = 0; n < NETPLAN_SLOTS; n++) {
		snprintf(path, sizeof path, "%s/%d", dir, n);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		CHECK(fd >= 0);
		close(fd);
	}
	struct pyro_err err = { 0 };
	unsigned s;
	CHECK(netplan_slot_claim(dir, "vm", &s, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_CONTAINS(err.msg, "all 4096 network slots in");
	CHECK(netplan_slot_release(dir, 4095, &err) == 0);
	CHECK(netplan_slot_claim(dir, "vm", &s, &err) == 0);
	CHECK(s == 4095);
}

TEST(netplan_cmdline_keys_and_info_json)
{
	struct net_config c;
	struct pyro_err err = { 0 };
	CHECK(netplan_config(1, "ab", two_dns, 2, &c, &err) == 0);
	struct netplan_keys k;
	CHECK(netplan_cmdline_keys(&c, &k, &err) == 0);
	CHECK_STR(k.keys[0], "pyro.guest_ip=172.30.0.6");
	CHECK_STR(k.keys[1], "pyro.netmask=30");
	CHECK_STR(k.keys[2], "pyro.gateway_ip=172.30.0.5");
	CHECK_STR(k.keys[3], "pyro.dns=192.168.1.1,2001:db8::53");
	CHECK(k.keys[4] == NULL);
	c.dns_count = 0; /* no servers: no pyro.dns */
	CHECK(netplan_cmdline_keys(&c, &k, &err) == 0);
	CHECK(k.keys[2] != NULL && k.keys[3] == NULL);

	c.dns_count = 2;
	struct json_doc *doc = json_doc_new();
	struct json_value *info;
	CHECK(netplan_info_json(&c, doc, &info) == 0);
	struct buf t = BUF_INIT;
	CHECK(json_emit(&t, info, JSON_EMIT_COMPACT) == 0);
	json_doc_free(doc);
	int same = strcmp(t.data, "{\"network_enabled\":true,\"tap_name\":\"pyroab\","
				  "\"guest_ip\":\"172.30.0.6\",\"gateway_ip\":\"172.30.0.5\","
				  "\"subnet_cidr\":\"172.30.0.4/30\","
				  "\"mac_address\":\"06:00:AC:1E:00:06\","
				  "\"dns_servers\":[\"192.168.1.1\",\"2001:db8::53\"],"
				  "\"outbound_connectivity_expected\":true}") == 0;
	if (!same)
		fprintf(stderr, "    got %s\n", t.data);
	buf_release(&t);
	CHECK(same);
}

/* --- the planned commands --- */

static struct netplan_cmds cmds; /* 6 KB: not on the test's stack */

/* 1 when the list is exactly want[] (NULL-terminated), each command
 * written as netplan_cmd_format gives it; prints the first difference. */
static int same_cmds(const char *const *want)
{
	char line[512];
	int i = 0;
	for (; want[i] && i < cmds.count; i++) {
		netplan_cmd_format(&cmds, i, line, sizeof line);
		if (strcmp(line, want[i])) {
			fprintf(stderr, "    cmd %d:\n      got:  %s\n      want: %s\n", i, line,
				want[i]);
			return 0;
		}
	}
	if (want[i] || i != cmds.count) {
		fprintf(stderr, "    got %d commands, want %d or more\n", cmds.count, i);
		return 0;
	}
	return 1;
}

static struct net_config slot0(void)
{
	struct net_config c;
	struct pyro_err err = { 0 };
	netplan_config(0, "0123456789ab", two_dns, 0, &c, &err);
	return c;
}

TEST(netplan_commands_iptables_as_root)
{
	struct net_config c = slot0();
	struct netplan_opts o = { .vm_id = "0123456789ab", .firewall = NETPLAN_IPTABLES };
	struct pyro_err err = { 0 };
	CHECK(netplan_setup_commands(&c, &o, &cmds, &err) == 0);
	const char *setup[] = {
		"ip tuntap add dev pyro0123456789a mode tap",
		"ip addr add 172.30.0.1/30 dev pyro0123456789a",
		"ip link set dev pyro0123456789a up",
		"iptables -t nat -A POSTROUTING -s 172.30.0.0/30 ! -o pyro0123456789a -m comment "
		"--comment pyro-0123456789ab -j MASQUERADE",
		"iptables -I FORWARD -i pyro0123456789a -m comment --comment pyro-0123456789ab "
		"-j ACCEPT",
		"iptables -I FORWARD -o pyro0123456789a -m conntrack --ctstate RELATED,ESTABLISHED "
		"-m comment --comment pyro-0123456789ab -j ACCEPT",
		NULL,
	};
	CHECK(same_cmds(setup));
	/* Each rule's undo is its -D; the address and link state go with the
	 * link. */
	int undo[] = { 3, -1, -1, 2, 1, 0 };
	for (int i = 0; i < 6; i++)
		CHECK(cmds.undo[i] == undo[i]);
	CHECK_STR(cmds.argv[3][7], "!");
	CHECK(cmds.argv[0][7] == NULL);

	CHECK(netplan_teardown_commands(&c, &o, &cmds, &err) == 0);
	const char *teardown[] = {
		"iptables -D FORWARD -o pyro0123456789a -m conntrack --ctstate RELATED,ESTABLISHED "
		"-m comment --comment pyro-0123456789ab -j ACCEPT",
		"iptables -D FORWARD -i pyro0123456789a -m comment --comment pyro-0123456789ab "
		"-j ACCEPT",
		"iptables -t nat -D POSTROUTING -s 172.30.0.0/30 ! -o pyro0123456789a -m comment "
		"--comment pyro-0123456789ab -j MASQUERADE",
		"ip link del pyro0123456789a",
		NULL,
	};
	CHECK(same_cmds(teardown));
	for (int i = 0; i < cmds.count; i++)
		CHECK(cmds.undo[i] == -1);
}

TEST(netplan_commands_nft_with_sudo)
{
	struct net_config c = slot0();
	struct netplan_opts o = { .vm_id = "0123456789ab", .firewall = NETPLAN_NFT, .sudo = true,
				  .set_tap_owner = true, .tap_owner_uid = 1000 };
	struct pyro_err err = { 0 };
	CHECK(netplan_setup_commands(&c, &o, &cmds, &err) == 0);
	const char *setup[] = {
		"sudo -n ip tuntap add dev pyro0123456789a mode tap user 1000",
		"sudo -n ip addr add 172.30.0.1/30 dev pyro0123456789a",
		"sudo -n ip link set dev pyro0123456789a up",
		"sudo -n nft add table ip pyro-0123456789ab",
		"sudo -n nft add chain ip pyro-0123456789ab postrouting "
		"{ type nat hook postrouting priority 100 ; }",
		"sudo -n nft add rule ip pyro-0123456789ab postrouting ip saddr 172.30.0.0/30 "
		"oifname != \"pyro0123456789a\" masquerade",
		NULL,
	};
	CHECK(same_cmds(setup));
	int undo[] = { 1, -1, -1, 0, -1, -1 };
	for (int i = 0; i < 6; i++)
		CHECK(cmds.undo[i] == undo[i]);
	/* The chain spec is one argument (nft joins its arguments anyway). */
	CHECK_STR(cmds.argv[4][8], "{ type nat hook postrouting priority 100 ; }");
	CHECK(cmds.argv[4][9] == NULL);

	CHECK(netplan_teardown_commands(&c, &o, &cmds, &err) == 0);
	const char *teardown[] = {
		"sudo -n nft delete table ip pyro-0123456789ab",
		"sudo -n ip link del pyro0123456789a",
		NULL,
	};
	CHECK(same_cmds(teardown));
}

TEST(netplan_commands_iptables_with_sudo_and_nft_as_root)
{
	struct net_config c = slot0();
	struct netplan_opts o = { .vm_id = "0123456789ab", .firewall = NETPLAN_IPTABLES,
				  .sudo = true };
	struct pyro_err err = { 0 };
	CHECK(netplan_setup_commands(&c, &o, &cmds, &err) == 0);
	CHECK(cmds.count == 6);
	char line[512];
	netplan_cmd_format(&cmds, 3, line, sizeof line);
	CHECK_STR(line, "sudo -n iptables -t nat -A POSTROUTING -s 172.30.0.0/30 ! -o "
			"pyro0123456789a -m comment --comment pyro-0123456789ab -j MASQUERADE");
	CHECK(netplan_teardown_commands(&c, &o, &cmds, &err) == 0);
	netplan_cmd_format(&cmds, 3, line, sizeof line);
	CHECK_STR(line, "sudo -n ip link del pyro0123456789a");

	o.firewall = NETPLAN_NFT, o.sudo = false;
	CHECK(netplan_teardown_commands(&c, &o, &cmds, &err) == 0);
	const char *teardown[] = { "nft delete table ip pyro-0123456789ab",
				   "ip link del pyro0123456789a", NULL };
	CHECK(same_cmds(teardown));
	/* A short buffer cuts the line and still terminates it. */
	netplan_cmd_format(&cmds, 0, line, 9);
	CHECK_STR(line, "nft dele");
}

TEST(netplan_commands_refuse_a_foreign_config)
{
	struct net_config c = slot0();
	struct netplan_opts o = { .vm_id = "0123456789ab", .firewall = NETPLAN_NFT };
	struct pyro_err err = { 0 };
	o.vm_id = "x;y";
	CHECK(netplan_setup_commands(&c, &o, &cmds, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	o.vm_id = "other";
	CHECK(netplan_teardown_commands(&c, &o, &cmds, &err) == -1);
	CHECK_CONTAINS(err.msg, "is not the one slot 0 and VM id other give");
	o.vm_id = "0123456789ab";
	strcpy(c.tap_name, "eth0");
	CHECK(netplan_setup_commands(&c, &o, &cmds, &err) == -1);
	CHECK(cmds.count == 0);
}

TEST(netplan_find_firewall_prefers_nft)
{
	char dir[512], nft[600], ipt[600], path[1300];
	snprintf(dir, sizeof dir, "%s/fwbin", test_tmpdir());
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(nft, sizeof nft, "%s/nft", dir);
	snprintf(ipt, sizeof ipt, "%s/iptables", dir);
	const char *old = getenv("PYRO_NET_FIREWALL");
	char *saved = old ? strdup(old) : NULL;
	unsetenv("PYRO_NET_FIREWALL");
	enum netplan_firewall fw = NETPLAN_NFT;
	struct pyro_err err = { 0 };
	snprintf(path, sizeof path, "/nonexistent:%s", dir);
	int none = netplan_find_firewall(path, &fw, &err);
	int none_code = err.code;
	write_file(ipt, "#!/bin/sh\n");
	chmod(ipt, 0755);
	int only_ipt = netplan_find_firewall(path, &fw, &err) == 0 && fw == NETPLAN_IPTABLES;
	write_file(nft, "#!/bin/sh\n");
	int nft_not_exec = netplan_find_firewall(path, &fw, &err) == 0 && fw == NETPLAN_IPTABLES;
	chmod(nft, 0755);
	int both = netplan_find_firewall(path, &fw, &err) == 0 && fw == NETPLAN_NFT;
	setenv("PYRO_NET_FIREWALL", "iptables", 1);
	int forced = netplan_find_firewall(path, &fw, &err) == 0 && fw == NETPLAN_IPTABLES;
	setenv("PYRO_NET_FIREWALL", "pf", 1);
	int bad = netplan_find_firewall(path, &fw, &err) == -1 && err.code == PYRO_EXIT_USAGE;
	if (saved) {
		setenv("PYRO_NET_FIREWALL", saved, 1);
		free(saved);
	} else {
		unsetenv("PYRO_NET_FIREWALL");
	}
	CHECK(none == -1 && none_code == PYRO_EXIT_FAILURE);
	CHECK(only_ipt);
	CHECK(nft_not_exec);
	CHECK(both);
	CHECK(forced);
	CHECK(bad);
}
