/* Per-VM TAP + NAT networking for the Firecracker backend: a pure plan
 * (addresses, the host commands, the guest's kernel command line keys, the
 * network-info payload) and a thin executor. QEMU guests use user-mode
 * networking instead and need none of this.
 *
 * Addresses. Slot N (0-4095) owns the /30 at 172.30.0.0 + 4*N inside
 * 172.30.0.0/18 (172.30.0.0 - 172.30.63.255): network +0, gateway (the
 * host's end, on the TAP) +1, guest +2, broadcast +3. Slot 0 is
 * 172.30.0.0/30 with gateway 172.30.0.1 and guest 172.30.0.2; slot 4095
 * is 172.30.63.252/30. Why there: it is RFC 1918 space, and Docker hands
 * out 172.17.0.0/16, 172.18.0.0/16, ... upward from the bottom of
 * 172.16.0.0/12, so the top of the range is the least likely to be in
 * use already. A host that routes 172.30.0.0/18 elsewhere gets a broken
 * guest network: there is no override yet.
 *   MAC: 06:00 then the guest IPv4 address's four bytes in upper-case hex
 * (06:00:AC:1E:00:02 for slot 0); 06 is a locally administered unicast
 * prefix, and the address ties the MAC to the slot, so two live VMs never
 * share one.
 *   TAP: "pyro" + the first 11 characters of the VM id (15 characters, the
 * IFNAMSIZ limit; pyro ids are 12 hex characters, so two VMs clash only
 * when the first 44 bits of their ids agree, and then `ip tuntap add`
 * fails cleanly instead of sharing a device).
 *   DNS: the caller's list (at most 3, IPv4 or IPv6), or the host's
 * name servers: the "nameserver" lines of /etc/resolv.conf that are IPv4
 * and not loopback, and when there are none (systemd-resolved's
 * 127.0.0.53 stub, say) those of /run/systemd/resolve/resolv.conf (the
 * upstream servers resolved uses); when still none, 1.1.1.1 and 8.8.8.8.
 * Loopback servers answer on the host only; IPv6 ones are left out because
 * the guest gets IPv4 only.
 *
 * Slots across processes: a slot is taken by creating <dir>/<N> holding
 * the VM id and a newline. The file appears with its content at once (it
 * is written to a private temporary first and hard-linked into place, and
 * link(2) fails with EEXIST like O_CREAT|O_EXCL), so two processes never
 * get the same slot and nobody sees a half-written claim. The lowest free
 * N wins. A slot whose VM is gone stays taken until someone releases it:
 * reaping is the caller's business.
 *
 * Host commands (each an argv run without a shell; prefixed with
 * `sudo -n` when pyro is not root, as the original does, so a password
 * prompt becomes a failure instead of a hang):
 *
 *   ip tuntap add dev TAP mode tap [user UID]    (UID: the unprivileged
 *                          user who will run firecracker, which must open
 *                          the device a root `ip` created)
 *   ip addr add GATEWAY/30 dev TAP
 *   ip link set dev TAP up
 *   NAT, nft (preferred when found): a table of the VM's own,
 *     nft add table ip pyro-ID
 *     nft add chain ip pyro-ID postrouting { type nat hook postrouting priority 100 ; }
 *     nft add rule ip pyro-ID postrouting ip saddr SUBNET oifname != "TAP" masquerade
 *   NAT, iptables, every rule tagged `-m comment --comment pyro-ID`:
 *     iptables -t nat -A POSTROUTING -s SUBNET ! -o TAP ... -j MASQUERADE
 *     iptables -I FORWARD -i TAP ... -j ACCEPT
 *     iptables -I FORWARD -o TAP -m conntrack --ctstate RELATED,ESTABLISHED ... -j ACCEPT
 *
 * Teardown undoes exactly that, newest first: the iptables rules with -D
 * and the same specification, or `nft delete table ip pyro-ID` (a table
 * per VM needs no rule handles), then `ip link del TAP`, which also takes
 * the address and the link state with it.
 *   Why FORWARD rules only with iptables: an nftables accept is final only
 * within its own chain, so accept rules in pyro's table could not let
 * through what another table (or Docker's iptables FORWARD policy DROP)
 * drops; inserting ACCEPT at the top of iptables' FORWARD chain does.
 * On a host whose forward path drops by default, use iptables
 * (PYRO_NET_FIREWALL=iptables). Replies to the guest are accepted only
 * for connections it opened: nothing outside can open one to it.
 *   IP forwarding itself (net.ipv4.ip_forward) is the host's setting;
 * `pyro doctor` reports it, pyro does not change it.
 *
 * Errors: PYRO_EXIT_USAGE naming the field for bad input, PYRO_EXIT_FAILURE
 * for a command or file operation that failed, with what to do about it.
 */
#ifndef PYRO_NETPLAN_H
#define PYRO_NETPLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "json.h"

#define NETPLAN_SLOTS 4096
#define NETPLAN_MAX_DNS 3
#define NETPLAN_VM_ID_MAX 64

struct net_config {
	char tap_name[16];
	char guest_ip[16], gateway_ip[16], subnet_cidr[20], mac_address[18];
	char dns_servers[NETPLAN_MAX_DNS][46];
	int dns_count;
	unsigned slot;
};

/* --- addresses (netplan.c) --- */

/* Fill *out for slot (0-4095) and vm_id (1-64 characters of
 * [A-Za-z0-9_-]). dns: the caller's servers (dns_count of them, at most 3,
 * each an IPv4 or IPv6 address), or NULL for netplan_default_dns(). */
int netplan_config(unsigned slot, const char *vm_id, const char *const *dns, int dns_count,
		   struct net_config *out, struct pyro_err *err);

/* The usable name servers of one resolv.conf (IPv4, not loopback, not
 * 0.0.0.0), at most max, in file order. Returns how many; 0 when there are
 * none or the file cannot be read. */
int netplan_dns_from_resolv(const char *path, char out[][46], int max);

/* The host's defaults as described above; never fails. */
void netplan_default_dns(char out[NETPLAN_MAX_DNS][46], int *count);

/* The kernel command line keys pyro-init reads (guest-init/init.h):
 * pyro.guest_ip=GUEST pyro.netmask=30 pyro.gateway_ip=GATEWAY and, with
 * name servers, pyro.dns=A,B. keys[] is NULL-terminated and points into
 * text (the qemu_plan.cmdline_keys shape). */
struct netplan_keys {
	const char *keys[5];
	char text[256];
};
int netplan_cmdline_keys(const struct net_config *c, struct netplan_keys *out,
			 struct pyro_err *err);

/* The original's network-info fields: network_enabled true, tap_name,
 * guest_ip, gateway_ip, subnet_cidr, mac_address, dns_servers (array),
 * outbound_connectivity_expected true; the caller adds vm_id. -1 only when
 * the doc cannot allocate. */
int netplan_info_json(const struct net_config *c, struct json_doc *doc, struct json_value **out);

/* --- slots (netplan_slot.c) --- */

/* Claim the lowest free slot in dir (which must exist) for vm_id. Fails
 * when all 4096 are taken (PYRO_EXIT_FAILURE, saying how to free some). */
int netplan_slot_claim(const char *dir, const char *vm_id, unsigned *slot, struct pyro_err *err);

/* Free it; a slot that is already free is not an error. */
int netplan_slot_release(const char *dir, unsigned slot, struct pyro_err *err);

/* --- host commands (netplan_cmds.c) --- */

enum netplan_firewall { NETPLAN_NFT, NETPLAN_IPTABLES };

struct netplan_opts {
	const char *vm_id;            /* names the nft table and the iptables comment */
	enum netplan_firewall firewall;
	bool sudo;                    /* prefix every command with `sudo -n` */
	bool set_tap_owner;           /* add `user tap_owner_uid` to tuntap add */
	unsigned tap_owner_uid;
};

#define NETPLAN_CMDS_MAX 8
#define NETPLAN_ARGV_MAX 24
#define NETPLAN_TEXT_MAX 2048

/* Caller-owned: count commands, argv[i] NULL-terminated with every string
 * in text. undo[i] (setup lists) is the index in the matching teardown
 * list of the command that removes what command i added, or -1 when a
 * later undo covers it (the address goes with the link); teardown lists
 * have -1 throughout. About 6 KB. */
struct netplan_cmds {
	int count;
	const char *argv[NETPLAN_CMDS_MAX][NETPLAN_ARGV_MAX + 1];
	int undo[NETPLAN_CMDS_MAX];
	char text[NETPLAN_TEXT_MAX];
	size_t used;
};

int netplan_setup_commands(const struct net_config *c, const struct netplan_opts *o,
			   struct netplan_cmds *out, struct pyro_err *err);
int netplan_teardown_commands(const struct net_config *c, const struct netplan_opts *o,
			      struct netplan_cmds *out, struct pyro_err *err);

/* Command i as one line, arguments joined by single spaces (for messages
 * and logs); always NUL-terminated, cut to fit. */
void netplan_cmd_format(const struct netplan_cmds *c, int i, char *dst, size_t cap);

/* Which NAT tool to use: $PYRO_NET_FIREWALL ("nft" or "iptables") when
 * set, else nft when an executable `nft` is in search_path (a ':' list;
 * NULL: $PATH plus /usr/local/sbin:/usr/sbin:/sbin, where sudo finds
 * them), else iptables when found, else an error saying what to install. */
int netplan_find_firewall(const char *search_path, enum netplan_firewall *fw,
			  struct pyro_err *err);

/* --- running them (netplan_run.c) --- */

struct netplan_exec {
	const char *const *envp; /* NULL: inherit (tests put a fake `ip` first) */
	unsigned timeout_ms;     /* per command; 0: 30 s */
};

/* Run setup in order, stopping at the first command that cannot start or
 * exits non-zero. Then, when teardown is given, run the teardown commands
 * that undo what had succeeded (best effort), and fail with a message that
 * names the command, its exit status and stderr, and what to do (run pyro
 * as root, allow passwordless sudo for ip, nft and iptables, or run
 * without --network), plus any rollback command that failed too. */
int netplan_run(const struct netplan_cmds *setup, const struct netplan_cmds *teardown,
		const struct netplan_exec *ex, struct pyro_err *err);

/* Run every teardown command even after a failure (a half-gone network
 * should still lose the rest); fails with the first failure's message. */
int netplan_run_teardown(const struct netplan_cmds *teardown, const struct netplan_exec *ex,
			 struct pyro_err *err);

#endif
