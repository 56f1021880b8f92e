/* core/netplan.h's executor against fakes: `ip`, `iptables`, `nft` and
 * `sudo` are one shell script in a temp dir that appends its argv to a log
 * and fails when its command line contains one of the '|'-separated
 * strings in $FAKE_FAIL. PATH is that dir
 * alone, so no real ip or firewall command can run, whoever runs the
 * tests (the scripts use shell built-ins only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/buf.h"
#include "../../core/exitcodes.h"
#include "../../core/netplan.h"
#include "test.h"

static struct netplan_cmds setup, teardown;

struct fake {
	char dir[512], log[600], path_env[600], fail_env[200];
	const char *envp[4];
};

static const char script[] =
	"#!/bin/sh\n"
	"name=${0##*/}\n"
	"if [ \"$name\" = sudo ]; then\n"
	"  [ \"$1\" = -n ] || { echo 'sudo: want -n' >&2; exit 1; }\n"
	"  shift\n"
	"  echo \"sudo -n ...\" >> \"$FAKE_LOG\"\n"
	"  exec \"$@\"\n"
	"fi\n"
	"line=\"$name $*\"\n"
	"echo \"$line\" >> \"$FAKE_LOG\"\n"
	"IFS='|'\n"
	"for pat in $FAKE_FAIL; do\n"
	"  case \"$line\" in *\"$pat\"*)\n"
	"    printf '%s: failed on purpose\\nsecond line\\n' \"$name\" >&2; exit 2 ;;\n"
	"  esac\n"
	"done\n"
	"exit 0\n";

static int fake_setup(struct fake *f, const char *fail)
{
	snprintf(f->dir, sizeof f->dir, "%s/bin", test_tmpdir());
	snprintf(f->log, sizeof f->log, "%s/log", test_tmpdir());
	if (mkdir(f->dir, 0700) < 0 && access(f->dir, F_OK) < 0)
		return -1;
	const char *names[] = { "ip", "iptables", "nft", "sudo" };
	for (int i = 0; i < 4; i++) {
		char p[700];
		snprintf(p, sizeof p, "%s/%s", f->dir, names[i]);
		FILE *o = fopen(p, "w");
		if (!o)
			return -1;
		fputs(script, o);
		fclose(o);
		chmod(p, 0755);
	}
	unlink(f->log);
	snprintf(f->path_env, sizeof f->path_env, "PATH=%s", f->dir);
	snprintf(f->fail_env, sizeof f->fail_env, "FAKE_FAIL=%s", fail ? fail : "");
	static char log_env[700];
	snprintf(log_env, sizeof log_env, "FAKE_LOG=%s", f->log);
	f->envp[0] = f->path_env;
	f->envp[1] = f->fail_env;
	f->envp[2] = log_env;
	f->envp[3] = NULL;
	return 0;
}

/* The fake log as one string ("" when nothing ran). */
static int log_is(const struct fake *f, const char *want)
{
	struct buf b = BUF_INIT;
	buf_read_file(&b, f->log);
	int same = strcmp(b.data, want) == 0;
	if (!same)
		fprintf(stderr, "    log:\n%s    want:\n%s", b.data, want);
	buf_release(&b);
	return same;
}

static int plan(enum netplan_firewall fw, bool sudo)
{
	struct net_config c;
	struct pyro_err err = { 0 };
	static const char *const dns[] = { "1.1.1.1" };
	struct netplan_opts o = { .vm_id = "abc", .firewall = fw, .sudo = sudo };
	if (netplan_config(2, "abc", dns, 1, &c, &err) ||
	    netplan_setup_commands(&c, &o, &setup, &err) ||
	    netplan_teardown_commands(&c, &o, &teardown, &err))
		return -1;
	return 0;
}

TEST(netplan_run_all_commands_in_order)
{
	struct fake f;
	CHECK(fake_setup(&f, NULL) == 0);
	CHECK(plan(NETPLAN_NFT, false) == 0);
	struct netplan_exec ex = { .envp = f.envp };
	struct pyro_err err = { 0 };
	CHECK(netplan_run(&setup, &teardown, &ex, &err) == 0);
	CHECK(log_is(&f, "ip tuntap add dev pyroabc mode tap\n"
			 "ip addr add 172.30.0.9/30 dev pyroabc\n"
			 "ip link set dev pyroabc up\n"
			 "nft add table ip pyro-abc\n"
			 "nft add chain ip pyro-abc postrouting "
			 "{ type nat hook postrouting priority 100 ; }\n"
			 "nft add rule ip pyro-abc postrouting ip saddr 172.30.0.8/30 "
			 "oifname != \"pyroabc\" masquerade\n"));
	unlink(f.log);
	CHECK(netplan_run_teardown(&teardown, &ex, &err) == 0);
	CHECK(log_is(&f, "nft delete table ip pyro-abc\nip link del pyroabc\n"));
}

TEST(netplan_run_rolls_back_after_a_failed_address)
{
	struct fake f;
	CHECK(fake_setup(&f, "ip addr add") == 0);
	CHECK(plan(NETPLAN_IPTABLES, false) == 0);
	struct netplan_exec ex = { .envp = f.envp };
	struct pyro_err err = { 0 };
	CHECK(netplan_run(&setup, &teardown, &ex, &err) == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK_STR(err.msg, "network setup failed: `ip addr add 172.30.0.9/30 dev pyroabc` exited "
			   "with status 2: ip: failed on purpose; second line; run pyro as root, "
			   "allow passwordless sudo for ip, nft and iptables (`sudo -n` must not "
			   "ask for a password), or run without --network");
	/* The TAP was created, so it is deleted again; nothing else ran. */
	CHECK(log_is(&f, "ip tuntap add dev pyroabc mode tap\n"
			 "ip addr add 172.30.0.9/30 dev pyroabc\n"
			 "ip link del pyroabc\n"));
}

TEST(netplan_run_rolls_back_exactly_the_rules_added)
{
	struct fake f;
	CHECK(fake_setup(&f, "-I FORWARD -o") == 0);
	CHECK(plan(NETPLAN_IPTABLES, false) == 0);
	struct netplan_exec ex = { .envp = f.envp };
	struct pyro_err err = { 0 };
	CHECK(netplan_run(&setup, &teardown, &ex, &err) == -1);
	CHECK_CONTAINS(err.msg, "network setup failed: `iptables -I FORWARD -o pyroabc -m "
				"conntrack");
	const char *tag = "-m comment --comment pyro-abc";
	char want[2048];
	snprintf(want, sizeof want,
		 "ip tuntap add dev pyroabc mode tap\n"
		 "ip addr add 172.30.0.9/30 dev pyroabc\n"
		 "ip link set dev pyroabc up\n"
		 "iptables -t nat -A POSTROUTING -s 172.30.0.8/30 ! -o pyroabc %s -j MASQUERADE\n"
		 "iptables -I FORWARD -i pyroabc %s -j ACCEPT\n"
		 "iptables -I FORWARD -o pyroabc -m conntrack --ctstate RELATED,ESTABLISHED %s "
		 "-j ACCEPT\n"
		 "iptables -D FORWARD -i pyroabc %s -j ACCEPT\n"
		 "iptables -t nat -D POSTROUTING -s 172.30.0.8/30 ! -o pyroabc %s -j MASQUERADE\n"
		 "ip link del pyroabc\n",
		 tag, tag, tag, tag, tag);
	CHECK(log_is(&f, want));
}

TEST(netplan_run_first_step_failing_undoes_nothing_and_rollback_failures_are_told)
{
	struct fake f;
	CHECK(fake_setup(&f, "tuntap") == 0);
	CHECK(plan(NETPLAN_NFT, true) == 0);
	struct netplan_exec ex = { .envp = f.envp };
	struct pyro_err err = { 0 };
	CHECK(netplan_run(&setup, &teardown, &ex, &err) == -1);
	CHECK_CONTAINS(err.msg, "`sudo -n ip tuntap add dev pyroabc mode tap` exited with "
				"status 2");
	CHECK(log_is(&f, "sudo -n ...\nip tuntap add dev pyroabc mode tap\n"));

	/* The masquerade rule fails and so does deleting the table: the
	 * message says both, and the link is still deleted. */
	CHECK(fake_setup(&f, "masquerade|delete table") == 0);
	CHECK(netplan_run(&setup, &teardown, &ex, &err) == -1);
	CHECK_CONTAINS(err.msg, "network setup failed: `sudo -n nft add rule ip pyro-abc "
				"postrouting ip saddr 172.30.0.8/30 oifname != \"pyroabc\" "
				"masquerade` exited with status 2");
	CHECK_CONTAINS(err.msg, "or run without --network (undoing the earlier steps failed "
				"too: `sudo -n nft delete table ip pyro-abc` exited with status 2");
	CHECK_CONTAINS(err.msg, "remove what is left by hand)");
	CHECK(log_is(&f, "sudo -n ...\nip tuntap add dev pyroabc mode tap\n"
			 "sudo -n ...\nip addr add 172.30.0.9/30 dev pyroabc\n"
			 "sudo -n ...\nip link set dev pyroabc up\n"
			 "sudo -n ...\nnft add table ip pyro-abc\n"
			 "sudo -n ...\nnft add chain ip pyro-abc postrouting "
			 "{ type nat hook postrouting priority 100 ; }\n"
			 "sudo -n ...\nnft add rule ip pyro-abc postrouting ip saddr 172.30.0.8/30 "
			 "oifname != \"pyroabc\" masquerade\n"
			 "sudo -n ...\nnft delete table ip pyro-abc\n"
			 "sudo -n ...\nip link del pyroabc\n"));
}

TEST(netplan_run_teardown_goes_on_after_a_failure)
{
	struct fake f;
	CHECK(fake_setup(&f, "-D FORWARD -o") == 0);
	CHECK(plan(NETPLAN_IPTABLES, false) == 0);
	struct netplan_exec ex = { .envp = f.envp };
	struct pyro_err err = { 0 };
	CHECK(netplan_run_teardown(&teardown, &ex, &err) == -1);
	CHECK_CONTAINS(err.msg, "network teardown failed: `iptables -D FORWARD -o pyroabc");
	CHECK_CONTAINS(err.msg, "the remaining steps were still run");
	struct buf b = BUF_INIT;
	buf_read_file(&b, f.log);
	int lines = 0;
	for (size_t i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	int ends_with_link = b.len > 20 && strstr(b.data, "ip link del pyroabc\n") != NULL;
	buf_release(&b);
	CHECK(lines == 4 && ends_with_link);
}

TEST(netplan_run_missing_command_is_a_clear_failure)
{
	struct fake f;
	CHECK(fake_setup(&f, NULL) == 0);
	char nft[700];
	snprintf(nft, sizeof nft, "%s/nft", f.dir);
	unlink(nft);
	CHECK(plan(NETPLAN_NFT, false) == 0);
	struct netplan_exec ex = { .envp = f.envp };
	struct pyro_err err = { 0 };
	CHECK(netplan_run(&setup, &teardown, &ex, &err) == -1);
	CHECK_CONTAINS(err.msg, "network setup failed: `nft add table ip pyro-abc`: cannot run "
				"'nft'");
	/* The table was never added, so only the link is undone. */
	CHECK(strstr(err.msg, "undoing") == NULL);
	CHECK(log_is(&f, "ip tuntap add dev pyroabc mode tap\n"
			 "ip addr add 172.30.0.9/30 dev pyroabc\n"
			 "ip link set dev pyroabc up\n"
			 "ip link del pyroabc\n"));
}
