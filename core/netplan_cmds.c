/* The host commands that give a VM its TAP and NAT, and take them away
 * again (netplan.h). Pure: the same config and options always give the
 * same argv lists, which is what the unit tests compare. */
#include "netplan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"

/* Builds one list; `overflow` sticks so callers check once. */
struct cmd_builder {
	struct netplan_cmds *out;
	const struct netplan_opts *o;
	int overflow;
};

/* Append one formatted argument to the newest command. */
__attribute__((format(printf, 2, 3)))
static void arg(struct cmd_builder *b, const char *fmt, ...)
{
	struct netplan_cmds *c = b->out;
	if (b->overflow || c->count == 0)
		return;
	const char **argv = c->argv[c->count - 1];
	int argc = 0;
	while (argv[argc])
		argc++;
	size_t room = sizeof c->text - c->used;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->text + c->used, room, fmt, ap);
	va_end(ap);
	if (argc >= NETPLAN_ARGV_MAX || n < 0 || (size_t)n >= room) {
		b->overflow = 1;
		return;
	}
	argv[argc] = c->text + c->used;
	argv[argc + 1] = NULL;
	c->used += (size_t)n + 1;
}

/* Start a new command (with the sudo prefix when asked). */
static void cmd_begin(struct cmd_builder *b, int undo)
{
	struct netplan_cmds *c = b->out;
	if (b->overflow || c->count >= NETPLAN_CMDS_MAX) {
		b->overflow = 1;
		return;
	}
	c->undo[c->count] = undo;
	c->argv[c->count][0] = NULL;
	c->count++;
	if (b->o->sudo)
		arg(b, "sudo"), arg(b, "-n");
}

/* The iptables rules, one specification each, so -A/-I and -D always
 * name the same rule. `op` is "-A", "-I" or "-D". */
static void ipt_nat(struct cmd_builder *b, const struct net_config *c, const char *op, int undo)
{
	cmd_begin(b, undo);
	arg(b, "iptables"), arg(b, "-t"), arg(b, "nat"), arg(b, "%s", op), arg(b, "POSTROUTING");
	arg(b, "-s"), arg(b, "%s", c->subnet_cidr), arg(b, "!"), arg(b, "-o");
	arg(b, "%s", c->tap_name);
	arg(b, "-m"), arg(b, "comment"), arg(b, "--comment"), arg(b, "pyro-%s", b->o->vm_id);
	arg(b, "-j"), arg(b, "MASQUERADE");
}

static void ipt_fwd_in(struct cmd_builder *b, const struct net_config *c, const char *op,
		       int undo)
{
	cmd_begin(b, undo);
	arg(b, "iptables"), arg(b, "%s", op), arg(b, "FORWARD"), arg(b, "-i");
	arg(b, "%s", c->tap_name);
	arg(b, "-m"), arg(b, "comment"), arg(b, "--comment"), arg(b, "pyro-%s", b->o->vm_id);
	arg(b, "-j"), arg(b, "ACCEPT");
}

/* Only replies: nothing outside may open a connection to the guest. */
static void ipt_fwd_out(struct cmd_builder *b, const struct net_config *c, const char *op,
			int undo)
{
	cmd_begin(b, undo);
	arg(b, "iptables"), arg(b, "%s", op), arg(b, "FORWARD"), arg(b, "-o");
	arg(b, "%s", c->tap_name);
	arg(b, "-m"), arg(b, "conntrack"), arg(b, "--ctstate"), arg(b, "RELATED,ESTABLISHED");
	arg(b, "-m"), arg(b, "comment"), arg(b, "--comment"), arg(b, "pyro-%s", b->o->vm_id);
	arg(b, "-j"), arg(b, "ACCEPT");
}

static void link_del(struct cmd_builder *b, const struct net_config *c)
{
	cmd_begin(b, -1);
	arg(b, "ip"), arg(b, "link"), arg(b, "del"), arg(b, "%s", c->tap_name);
}

static void nft_del(struct cmd_builder *b)
{
	cmd_begin(b, -1);
	arg(b, "nft"), arg(b, "delete"), arg(b, "table"), arg(b, "ip"), arg(b, "pyro-%s", b->o->vm_id);
}

/* The VM id names the nft table and the comments: it must be an id, not
 * text that could change what the command means. */
static int check(const struct net_config *c, const struct netplan_opts *o, struct pyro_err *err)
{
	struct net_config probe;
	static const char *const no_dns[] = { NULL };
	if (netplan_config(c->slot, o->vm_id, no_dns, 0, &probe, err))
		return -1;
	if (strcmp(probe.tap_name, c->tap_name) || strcmp(probe.subnet_cidr, c->subnet_cidr) ||
	    strcmp(probe.gateway_ip, c->gateway_ip))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "network plan: the config (tap %.20s, subnet %.20s) is not "
				    "the one slot %u and VM id %.64s give", c->tap_name,
				    c->subnet_cidr, c->slot, o->vm_id);
	return 0;
}

static int finish(struct cmd_builder *b, struct pyro_err *err)
{
	if (b->overflow)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "the network commands do not fit (%d commands, %zu bytes)",
				    NETPLAN_CMDS_MAX, sizeof b->out->text);
	return 0;
}

/* Teardown indexes (setup's undo[] points into these lists):
 * iptables: 0 FORWARD -o, 1 FORWARD -i, 2 nat, 3 link del;
 * nft: 0 delete table, 1 link del. */
int netplan_setup_commands(const struct net_config *c, const struct netplan_opts *o,
			   struct netplan_cmds *out, struct pyro_err *err)
{
	memset(out, 0, sizeof *out);
	if (check(c, o, err))
		return -1;
	struct cmd_builder b = { out, o, 0 };
	bool nft = o->firewall == NETPLAN_NFT;
	cmd_begin(&b, nft ? 1 : 3);
	arg(&b, "ip"), arg(&b, "tuntap"), arg(&b, "add"), arg(&b, "dev"), arg(&b, "%s", c->tap_name);
	arg(&b, "mode"), arg(&b, "tap");
	if (o->set_tap_owner)
		arg(&b, "user"), arg(&b, "%u", o->tap_owner_uid);
	cmd_begin(&b, -1);
	arg(&b, "ip"), arg(&b, "addr"), arg(&b, "add"), arg(&b, "%s/30", c->gateway_ip);
	arg(&b, "dev"), arg(&b, "%s", c->tap_name);
	cmd_begin(&b, -1);
	arg(&b, "ip"), arg(&b, "link"), arg(&b, "set"), arg(&b, "dev"), arg(&b, "%s", c->tap_name);
	arg(&b, "up");
	if (nft) {
		cmd_begin(&b, 0);
		arg(&b, "nft"), arg(&b, "add"), arg(&b, "table"), arg(&b, "ip");
		arg(&b, "pyro-%s", o->vm_id);
		cmd_begin(&b, -1);
		arg(&b, "nft"), arg(&b, "add"), arg(&b, "chain"), arg(&b, "ip");
		arg(&b, "pyro-%s", o->vm_id), arg(&b, "postrouting");
		arg(&b, "{ type nat hook postrouting priority 100 ; }");
		cmd_begin(&b, -1);
		arg(&b, "nft"), arg(&b, "add"), arg(&b, "rule"), arg(&b, "ip");
		arg(&b, "pyro-%s", o->vm_id), arg(&b, "postrouting");
		arg(&b, "ip"), arg(&b, "saddr"), arg(&b, "%s", c->subnet_cidr);
		arg(&b, "oifname"), arg(&b, "!="), arg(&b, "\"%s\"", c->tap_name);
		arg(&b, "masquerade");
	} else {
		ipt_nat(&b, c, "-A", 2);
		ipt_fwd_in(&b, c, "-I", 1);
		ipt_fwd_out(&b, c, "-I", 0);
	}
	return finish(&b, err);
}

int netplan_teardown_commands(const struct net_config *c, const struct netplan_opts *o,
			      struct netplan_cmds *out, struct pyro_err *err)
{
	memset(out, 0, sizeof *out);
	if (check(c, o, err))
		return -1;
	struct cmd_builder b = { out, o, 0 };
	if (o->firewall == NETPLAN_NFT) {
		nft_del(&b);
	} else {
		ipt_fwd_out(&b, c, "-D", -1);
		ipt_fwd_in(&b, c, "-D", -1);
		ipt_nat(&b, c, "-D", -1);
	}
	link_del(&b, c);
	return finish(&b, err);
}

void netplan_cmd_format(const struct netplan_cmds *c, int i, char *dst, size_t cap)
{
	size_t n = 0;
	if (cap)
		dst[0] = '\0';
	for (int a = 0; i >= 0 && i < c->count && c->argv[i][a] && n + 1 < cap; a++) {
		int w = snprintf(dst + n, cap - n, "%s%s", a ? " " : "", c->argv[i][a]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* Whether an executable `name` is in the ':' list. */
static bool found_in(const char *list, const char *name)
{
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char path[4096];
		size_t nl = strlen(name);
		if (len && len + nl + 2 <= sizeof path) {
			memcpy(path, p, len);
			path[len] = '/';
			memcpy(path + len + 1, name, nl + 1);
			if (access(path, X_OK) == 0)
				return true;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

int netplan_find_firewall(const char *search_path, enum netplan_firewall *fw,
			  struct pyro_err *err)
{
	const char *force = getenv("PYRO_NET_FIREWALL");
	if (force && *force) {
		if (strcmp(force, "nft") == 0)
			*fw = NETPLAN_NFT;
		else if (strcmp(force, "iptables") == 0)
			*fw = NETPLAN_IPTABLES;
		else
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "PYRO_NET_FIREWALL must be nft or iptables (got '%.40s')",
					    force);
		return 0;
	}
	char deflt[4096];
	if (!search_path) {
		const char *path = getenv("PATH");
		snprintf(deflt, sizeof deflt, "%s:/usr/local/sbin:/usr/sbin:/sbin",
			 path ? path : "/usr/local/bin:/usr/bin:/bin");
		search_path = deflt;
	}
	if (found_in(search_path, "nft"))
		*fw = NETPLAN_NFT;
	else if (found_in(search_path, "iptables"))
		*fw = NETPLAN_IPTABLES;
	else
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "guest networking needs nft or iptables and neither was found; "
				    "install nftables (or iptables), or run without --network");
	return 0;
}
