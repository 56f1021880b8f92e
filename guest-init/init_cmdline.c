/* Kernel command line parsing for pyro-init (pure: no I/O).
 *
 * The host builds the command line, but a typo in it must cost one setting,
 * not the boot: every bad value is named in the error and left at its
 * default, and parsing goes on. */
#include "init.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../core/exitcodes.h"

/* Problems found so far, joined with "; " into one message. */
struct problems {
	char text[PYRO_ERR_MSG_MAX];
	size_t len;
	int count;
};

static void problem(struct problems *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct problems *p, const char *fmt, ...)
{
	p->count++;
	if (p->len + 3 >= sizeof p->text)
		return;
	if (p->len) {
		memcpy(p->text + p->len, "; ", 2);
		p->len += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(p->text + p->len, sizeof p->text - p->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->len += (size_t)n < sizeof p->text - p->len ? (size_t)n : sizeof p->text - p->len - 1;
}

void init_config_defaults(struct init_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->root_wait_s = INIT_DEFAULT_ROOT_WAIT_S;
	snprintf(cfg->hostname, sizeof cfg->hostname, "%s", INIT_DEFAULT_HOSTNAME);
	cfg->prefixlen = 32;
	cfg->stop_grace_s = INIT_DEFAULT_STOP_GRACE_S;
	cfg->halt = INIT_HALT_REBOOT;
}

/* The kernel's next_arg() (lib/cmdline.c), so quoting means here exactly
 * what it means to the kernel: a token ends at whitespace outside quotes;
 * a quote opening the token or the value is dropped with the token's last
 * character when that is a quote. Modifies the buffer in place. */
static char *next_arg(char *args, char **param, char **val)
{
	size_t i, equals = 0;
	int in_quote = 0, quoted = 0;

	if (*args == '"') {
		args++;
		in_quote = 1;
		quoted = 1;
	}
	for (i = 0; args[i]; i++) {
		if (isspace((unsigned char)args[i]) && !in_quote)
			break;
		if (equals == 0 && args[i] == '=')
			equals = i;
		if (args[i] == '"')
			in_quote = !in_quote;
	}
	*param = args;
	if (!equals) {
		*val = NULL;
	} else {
		args[equals] = '\0';
		*val = args + equals + 1;
		if (**val == '"') {
			(*val)++;
			if (args[i - 1] == '"')
				args[i - 1] = '\0';
		}
	}
	if (quoted && i > 0 && args[i - 1] == '"')
		args[i - 1] = '\0';
	if (args[i]) {
		args[i] = '\0';
		args += i + 1;
	} else {
		args += i;
	}
	while (isspace((unsigned char)*args))
		args++;
	return args;
}

/* Digits only (no sign, no spaces), value <= max. */
static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_ipv4(const char *s, struct in_addr *out)
{
	/* inet_pton takes exactly four decimal parts, unlike inet_aton,
	 * which would read "10.1" or "0x0a.0.0.1" as something else. */
	return inet_pton(AF_INET, s, out) == 1 ? 0 : -1;
}

/* A prefix length "24" or a contiguous dotted mask "255.255.255.0". */
static int parse_netmask(const char *s, unsigned *prefix)
{
	if (!strchr(s, '.'))
		return parse_uint(s, 32, prefix);
	struct in_addr m;
	if (parse_ipv4(s, &m) < 0)
		return -1;
	uint32_t mask = ntohl(m.s_addr);
	/* Contiguous: the inverted mask plus one is a power of two. */
	uint32_t inv = ~mask;
	if ((inv & (inv + 1)) != 0)
		return -1;
	unsigned n = 0;
	while (n < 32 && (mask & (0x80000000u >> n)))
		n++;
	*prefix = n;
	return 0;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and inner
 * hyphens, 1-63 characters each, 64 in all (HOST_NAME_MAX). */
static int valid_hostname(const char *s)
{
	size_t len = strlen(s), label = 0;
	if (len == 0 || len > INIT_HOSTNAME_MAX)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)c) || (c == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

static void set_root(struct init_config *cfg, const char *v, struct problems *p)
{
	if (strncmp(v, "/dev/", 5) != 0 || !v[5]) {
		problem(p, "root: '%s' is not supported; give the device path (root=/dev/vda)", v);
		return;
	}
	if (strlen(v) >= sizeof cfg->root || strstr(v, "/..")) {
		problem(p, "root: '%.60s' is not a plain device path under /dev", v);
		return;
	}
	snprintf(cfg->root, sizeof cfg->root, "%s", v);
}

static void set_rootfstype(struct init_config *cfg, const char *v, struct problems *p)
{
	size_t n = strlen(v);
	int ok = n > 0 && n < sizeof cfg->rootfstype && v[0] != ',';
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)v[i]) || strchr("_.,-", v[i]);
	if (!ok) {
		problem(p, "rootfstype: '%.60s' is not a file system type list such as ext4 or ext4,xfs", v);
		return;
	}
	snprintf(cfg->rootfstype, sizeof cfg->rootfstype, "%s", v);
}

static void set_rootflags(struct init_config *cfg, const char *v, struct problems *p)
{
	if (strlen(v) >= sizeof cfg->rootflags) {
		problem(p, "rootflags: longer than %zu characters", sizeof cfg->rootflags - 1);
		return;
	}
	snprintf(cfg->rootflags, sizeof cfg->rootflags, "%s", v);
}

/* Comma-separated name servers; empty elements (a trailing comma) are
 * skipped. More than the resolver reads is an error, but the first ones
 * are kept: they are still right. */
static void set_dns(struct init_config *cfg, const char *v, struct problems *p)
{
	char copy[512];
	if (strlen(v) >= sizeof copy) {
		problem(p, "pyro.dns: longer than %zu characters", sizeof copy - 1);
		return;
	}
	snprintf(copy, sizeof copy, "%s", v);
	cfg->ndns = 0;
	size_t seen = 0;
	char *save = NULL;
	for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		unsigned char bin[sizeof(struct in6_addr)];
		if (inet_pton(AF_INET, s, bin) != 1 && inet_pton(AF_INET6, s, bin) != 1) {
			problem(p, "pyro.dns: '%.60s' is not an IPv4 or IPv6 address", s);
			continue;
		}
		if (++seen > INIT_MAX_DNS)
			continue;
		snprintf(cfg->dns[cfg->ndns++], sizeof cfg->dns[0], "%s", s);
	}
	if (seen > INIT_MAX_DNS)
		problem(p, "pyro.dns: %zu servers given; the resolver reads at most %d, keeping the first %d",
			seen, INIT_MAX_DNS, INIT_MAX_DNS);
}

/* Agent arguments are split on commas at use time; check them now so a
 * bad value is reported with the other command line problems. */
static void set_agent(struct init_config *cfg, const char *v, struct problems *p)
{
	size_t n = strlen(v), args = 1;
	if (n >= sizeof cfg->agent) {
		problem(p, "pyro.agent: longer than %zu characters", sizeof cfg->agent - 1);
		return;
	}
	if (n == 0) {
		cfg->agent[0] = '\0';
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i] == ',')
			args++;
		if ((v[i] == ',' && (i == 0 || v[i - 1] == ',')) || (v[i] == ',' && i + 1 == n)) {
			problem(p, "pyro.agent: '%.60s' has an empty argument; separate arguments with single commas", v);
			return;
		}
	}
	if (args > INIT_MAX_AGENT_ARGS) {
		problem(p, "pyro.agent: %zu arguments; at most %d", args, INIT_MAX_AGENT_ARGS);
		return;
	}
	snprintf(cfg->agent, sizeof cfg->agent, "%s", v);
}

/* Values of the address keys, combined after the whole line is read so
 * the order of the keys does not matter. */
struct net_raw {
	int has_ip, ip_prefix, mask_prefix;
	struct in_addr ip;
	const char *mask_text;
};

static void set_guest_ip(struct net_raw *n, const char *v, struct problems *p)
{
	char addr[32];
	const char *slash = strchr(v, '/');
	size_t alen = slash ? (size_t)(slash - v) : strlen(v);
	unsigned prefix = 0;
	if (alen >= sizeof addr)
		goto bad;
	memcpy(addr, v, alen);
	addr[alen] = '\0';
	if (parse_ipv4(addr, &n->ip) < 0)
		goto bad;
	if (slash && (parse_uint(slash + 1, 32, &prefix) < 0 || prefix == 0))
		goto bad;
	uint32_t h = ntohl(n->ip.s_addr);
	if (h == 0 || h == 0xffffffffu || (h >> 24) == 127 || (h >> 28) == 14) {
		problem(p, "pyro.guest_ip: '%.60s' cannot be a host address", v);
		n->has_ip = 0;
		return;
	}
	n->has_ip = 1;
	n->ip_prefix = slash ? (int)prefix : -1;
	return;
bad:
	n->has_ip = 0;
	problem(p, "pyro.guest_ip: '%.60s' is not an IPv4 address (A.B.C.D or A.B.C.D/N)", v);
}

static void set_netmask(struct net_raw *n, const char *v, struct problems *p)
{
	unsigned prefix;
	if (parse_netmask(v, &prefix) < 0 || prefix == 0) {
		problem(p, "pyro.netmask: '%.60s' is not a prefix length (1-32) or a contiguous dotted mask such as 255.255.255.0", v);
		n->mask_prefix = -1;
		return;
	}
	n->mask_prefix = (int)prefix;
	n->mask_text = v;
}

static void set_gateway(struct init_config *cfg, const char *v, struct problems *p)
{
	struct in_addr gw;
	uint32_t h;
	if (parse_ipv4(v, &gw) < 0 || (h = ntohl(gw.s_addr)) == 0 || h == 0xffffffffu) {
		problem(p, "pyro.gateway_ip: '%.60s' is not a usable IPv4 address", v);
		cfg->has_gateway = 0;
		return;
	}
	cfg->has_gateway = 1;
	cfg->gateway = gw;
}

static void set_seconds(unsigned *field, const char *key, const char *v, unsigned max,
			struct problems *p)
{
	unsigned s;
	if (parse_uint(v, max, &s) < 0) {
		problem(p, "%s: '%.60s' is not a number of seconds between 0 and %u", key, v, max);
		return;
	}
	*field = s;
}

static void apply(struct init_config *cfg, struct net_raw *net, const char *key,
		  const char *v, struct problems *p)
{
	/* Flags of the kernel's own that matter to us take no value. */
	if (!v) {
		if (strcmp(key, "ro") == 0)
			cfg->root_rw = 0;
		else if (strcmp(key, "rw") == 0)
			cfg->root_rw = 1;
		else if (strcmp(key, "root") == 0 || strcmp(key, "rootfstype") == 0 ||
			 strcmp(key, "rootflags") == 0 || strncmp(key, "pyro.", 5) == 0)
			problem(p, "%s: needs a value (%s=...)", key, key);
		return;
	}
	if (strcmp(key, "root") == 0)
		set_root(cfg, v, p);
	else if (strcmp(key, "rootfstype") == 0)
		set_rootfstype(cfg, v, p);
	else if (strcmp(key, "rootflags") == 0)
		set_rootflags(cfg, v, p);
	else if (strcmp(key, "pyro.root_wait") == 0)
		set_seconds(&cfg->root_wait_s, key, v, 600, p);
	else if (strcmp(key, "pyro.stop_grace") == 0)
		set_seconds(&cfg->stop_grace_s, key, v, 300, p);
	else if (strcmp(key, "pyro.hostname") == 0) {
		if (valid_hostname(v))
			snprintf(cfg->hostname, sizeof cfg->hostname, "%s", v);
		else
			problem(p, "pyro.hostname: '%.70s' is not a host name (letters, digits, inner hyphens, dots; at most 64)", v);
	} else if (strcmp(key, "pyro.guest_ip") == 0)
		set_guest_ip(net, v, p);
	else if (strcmp(key, "pyro.netmask") == 0)
		set_netmask(net, v, p);
	else if (strcmp(key, "pyro.gateway_ip") == 0)
		set_gateway(cfg, v, p);
	else if (strcmp(key, "pyro.dns") == 0)
		set_dns(cfg, v, p);
	else if (strcmp(key, "pyro.agent") == 0)
		set_agent(cfg, v, p);
	else if (strcmp(key, "pyro.halt") == 0) {
		if (strcmp(v, "reboot") == 0)
			cfg->halt = INIT_HALT_REBOOT;
		else if (strcmp(v, "poweroff") == 0)
			cfg->halt = INIT_HALT_POWEROFF;
		else
			problem(p, "pyro.halt: '%.60s' is not 'reboot' or 'poweroff'", v);
	}
}

static void finish_net(struct init_config *cfg, const struct net_raw *net, struct problems *p)
{
	if (!net->has_ip)
		return;
	cfg->has_ip = 1;
	cfg->guest_ip = net->ip;
	cfg->prefixlen = 32;
	if (net->ip_prefix >= 0)
		cfg->prefixlen = (unsigned)net->ip_prefix;
	else if (net->mask_prefix >= 0)
		cfg->prefixlen = (unsigned)net->mask_prefix;
	if (net->ip_prefix >= 0 && net->mask_prefix >= 0 && net->ip_prefix != net->mask_prefix)
		problem(p, "pyro.netmask: '%.60s' disagrees with the /%d in pyro.guest_ip; using /%d",
			net->mask_text, net->ip_prefix, net->ip_prefix);
	if (cfg->has_gateway && cfg->gateway.s_addr == cfg->guest_ip.s_addr) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &cfg->gateway, a, sizeof a);
		problem(p, "pyro.gateway_ip: '%s' is the guest's own address; no default route", a);
		cfg->has_gateway = 0;
	}
}

int init_cmdline_parse(const char *text, size_t len, struct init_config *cfg,
		       struct pyro_err *err)
{
	char copy[INIT_CMDLINE_MAX];
	struct problems p = { .len = 0 };
	struct net_raw net = { .has_ip = 0, .ip_prefix = -1, .mask_prefix = -1 };

	init_config_defaults(cfg);
	if (len >= sizeof copy)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "kernel command line is %zu bytes; at most %zu are supported",
				    len, sizeof copy - 1);
	if (memchr(text, '\0', len))
		len = strlen(text);
	memcpy(copy, text, len);
	copy[len] = '\0';

	char *args = copy;
	while (isspace((unsigned char)*args))
		args++;
	while (*args) {
		char *key, *val;
		args = next_arg(args, &key, &val);
		/* Everything after "--" is init's argv, not kernel parameters. */
		if (!val && strcmp(key, "--") == 0)
			break;
		apply(cfg, &net, key, val, &p);
	}
	finish_net(cfg, &net, &p);
	if (p.count)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "%s", p.text);
	return 0;
}

void init_agent_argv(const struct init_config *cfg, struct init_agent_argv *a)
{
	snprintf(a->buf, sizeof a->buf, "%s", cfg->agent);
	a->argc = 0;
	a->argv[a->argc++] = "pyro-guest-agent";
	/* The parser rejected empty arguments and too many of them; the
	 * bound is checked again so a hand-made config cannot overflow. */
	char *s = a->buf;
	while (*s && a->argc < INIT_MAX_AGENT_ARGS + 1) {
		a->argv[a->argc++] = s;
		char *comma = strchr(s, ',');
		if (!comma)
			break;
		*comma = '\0';
		s = comma + 1;
	}
	a->argv[a->argc] = NULL;
}

void init_format_addr(struct in_addr ip, unsigned prefixlen, char *out, size_t cap)
{
	char a[INET_ADDRSTRLEN];
	if (!inet_ntop(AF_INET, &ip, a, sizeof a)) {
		snprintf(out, cap, "?");
		return;
	}
	snprintf(out, cap, "%s/%u", a, prefixlen);
}
