/* Per-VM network addresses, name servers, guest keys and the info payload
 * (netplan.h). */
#include "netplan.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"

/* 172.30.0.0/18: 4096 slots of 4 addresses. */
#define NETPLAN_BASE 0xAC1E0000u

/* The fallbacks when the host names no usable server. */
static const char *const fallback_dns[] = { "1.1.1.1", "8.8.8.8" };

static int check_vm_id(const char *id, struct pyro_err *err)
{
	size_t n = id ? strlen(id) : 0;
	bool ok = n >= 1 && n <= NETPLAN_VM_ID_MAX;
	for (size_t i = 0; ok && i < n; i++) {
		char c = id[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '_' || c == '-';
	}
	if (!ok)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "network plan: the VM id must be 1-%d characters of "
				    "[A-Za-z0-9_-] (got '%.80s')", NETPLAN_VM_ID_MAX, id ? id : "");
	return 0;
}

static void ipv4_text(uint32_t a, char *dst, size_t cap)
{
	snprintf(dst, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

int netplan_config(unsigned slot, const char *vm_id, const char *const *dns, int dns_count,
		   struct net_config *out, struct pyro_err *err)
{
	memset(out, 0, sizeof *out);
	if (slot >= NETPLAN_SLOTS)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "network plan: slot must be 0-%d (got %u)", NETPLAN_SLOTS - 1,
				    slot);
	if (check_vm_id(vm_id, err))
		return -1;
	if (dns && (dns_count < 0 || dns_count > NETPLAN_MAX_DNS))
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "network plan: at most %d DNS servers (got %d)",
				    NETPLAN_MAX_DNS, dns_count);
	for (int i = 0; dns && i < dns_count; i++) {
		unsigned char a[16];
		const char *s = dns[i] ? dns[i] : "";
		if (strlen(s) >= sizeof out->dns_servers[0] ||
		    (inet_pton(AF_INET, s, a) != 1 && inet_pton(AF_INET6, s, a) != 1))
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "network plan: DNS server '%.60s' is not an IPv4 or IPv6 "
					    "address", s);
		snprintf(out->dns_servers[i], sizeof out->dns_servers[i], "%s", s);
	}
	if (dns)
		out->dns_count = dns_count;
	else
		netplan_default_dns(out->dns_servers, &out->dns_count);

	uint32_t net = NETPLAN_BASE + 4u * slot, guest = net + 2;
	out->slot = slot;
	ipv4_text(net + 1, out->gateway_ip, sizeof out->gateway_ip);
	ipv4_text(guest, out->guest_ip, sizeof out->guest_ip);
	char n[16];
	ipv4_text(net, n, sizeof n);
	snprintf(out->subnet_cidr, sizeof out->subnet_cidr, "%s/30", n);
	snprintf(out->mac_address, sizeof out->mac_address, "06:00:%02X:%02X:%02X:%02X",
		 guest >> 24, (guest >> 16) & 0xff, (guest >> 8) & 0xff, guest & 0xff);
	snprintf(out->tap_name, sizeof out->tap_name, "pyro%.11s", vm_id);
	return 0;
}

int netplan_dns_from_resolv(const char *path, char out[][46], int max)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	int n = 0;
	char line[512];
	while (n < max && fgets(line, sizeof line, f)) {
		char word[16], addr[64];
		/* "nameserver ADDR"; comments start with '#' or ';' and never
		 * match the keyword, a longer line is cut and fails inet_pton. */
		if (sscanf(line, " %15s %63s", word, addr) != 2 || strcmp(word, "nameserver"))
			continue;
		struct in_addr a;
		if (inet_pton(AF_INET, addr, &a) != 1)
			continue; /* IPv6 (and anything else): the guest is IPv4 only */
		uint32_t h = ntohl(a.s_addr);
		if (h >> 24 == 127 || h == 0)
			continue; /* loopback answers on the host only */
		bool dup = false;
		for (int i = 0; i < n; i++)
			dup = dup || strcmp(out[i], addr) == 0;
		if (!dup)
			snprintf(out[n++], 46, "%.45s", addr);
	}
	fclose(f);
	return n;
}

void netplan_default_dns(char out[NETPLAN_MAX_DNS][46], int *count)
{
	int n = netplan_dns_from_resolv("/etc/resolv.conf", out, NETPLAN_MAX_DNS);
	if (n == 0)
		n = netplan_dns_from_resolv("/run/systemd/resolve/resolv.conf", out,
					    NETPLAN_MAX_DNS);
	if (n == 0)
		for (; n < (int)(sizeof fallback_dns / sizeof *fallback_dns); n++)
			snprintf(out[n], 46, "%s", fallback_dns[n]);
	*count = n;
}

/* Append one formatted key to out; -1 when text is full. */
__attribute__((format(printf, 3, 4)))
static int add_key(struct netplan_keys *out, size_t *used, const char *fmt, ...)
{
	int k = 0;
	while (out->keys[k])
		k++;
	size_t room = sizeof out->text - *used;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(out->text + *used, room, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= room || k + 1 >= (int)(sizeof out->keys / sizeof *out->keys))
		return -1;
	out->keys[k] = out->text + *used;
	*used += (size_t)w + 1;
	return 0;
}

int netplan_cmdline_keys(const struct net_config *c, struct netplan_keys *out,
			 struct pyro_err *err)
{
	memset(out, 0, sizeof *out);
	char dns[NETPLAN_MAX_DNS * 47] = "";
	size_t dn = 0;
	for (int i = 0; i < c->dns_count && i < NETPLAN_MAX_DNS; i++)
		dn += (size_t)snprintf(dns + dn, sizeof dns - dn, "%s%s", i ? "," : "",
				       c->dns_servers[i]);
	size_t used = 0;
	int rc = add_key(out, &used, "pyro.guest_ip=%s", c->guest_ip);
	rc |= add_key(out, &used, "pyro.netmask=30");
	rc |= add_key(out, &used, "pyro.gateway_ip=%s", c->gateway_ip);
	if (dns[0])
		rc |= add_key(out, &used, "pyro.dns=%s", dns);
	if (rc)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "the network kernel command line keys do not fit");
	return 0;
}

int netplan_info_json(const struct net_config *c, struct json_doc *doc, struct json_value **out)
{
	*out = NULL;
	struct json_value *o = json_object(doc), *dns = json_array(doc);
	int rc = !o || !dns;
	rc |= json_set_bool(doc, o, "network_enabled", true);
	rc |= json_set_str(doc, o, "tap_name", c->tap_name);
	rc |= json_set_str(doc, o, "guest_ip", c->guest_ip);
	rc |= json_set_str(doc, o, "gateway_ip", c->gateway_ip);
	rc |= json_set_str(doc, o, "subnet_cidr", c->subnet_cidr);
	rc |= json_set_str(doc, o, "mac_address", c->mac_address);
	for (int i = 0; i < c->dns_count && i < NETPLAN_MAX_DNS; i++)
		rc |= json_array_push(doc, dns, json_string(doc, c->dns_servers[i]));
	rc |= json_object_set(doc, o, "dns_servers", dns);
	rc |= json_set_bool(doc, o, "outbound_connectivity_expected", true);
	if (rc)
		return -1;
	*out = o;
	return 0;
}
