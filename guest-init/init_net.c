/* Network setup of pyro-init over rtnetlink, with no `ip` binary: lo up;
 * with pyro.guest_ip, eth0 up with its address and a default route; the
 * name servers of pyro.dns in /etc/resolv.conf.
 *
 * The request builders and the ack parser are pure (unit-tested byte by
 * byte); init_net_up is the thin part that talks to the kernel. */
#include "init.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "../core/exitcodes.h"

/* ---- request building (pure) ---------------------------------------- */

/* A message under construction in a caller buffer. Every part is
 * NLMSG_ALIGN/RTA_ALIGN-padded and zeroed; `overflow` turns every later
 * put into a no-op so the builders can check once at the end. */
struct nlb {
	unsigned char *buf;
	size_t cap, len;
	int overflow;
};

static void *nlb_put(struct nlb *b, size_t n)
{
	size_t padded = NLMSG_ALIGN(n);
	if (b->overflow || padded > b->cap - b->len) {
		b->overflow = 1;
		return NULL;
	}
	void *p = b->buf + b->len;
	memset(p, 0, padded);
	b->len += padded;
	return p;
}

static void nlb_attr(struct nlb *b, unsigned short type, const void *data, size_t n)
{
	struct rtattr rta = { .rta_len = (unsigned short)RTA_LENGTH(n), .rta_type = type };
	unsigned char *p = nlb_put(b, RTA_LENGTH(n));
	if (!p)
		return;
	memcpy(p, &rta, sizeof rta);
	memcpy(p + RTA_LENGTH(0), data, n);
}

/* Starts the message: a header whose length is filled in by nlb_end. */
static void nlb_begin(struct nlb *b, void *buf, size_t cap, unsigned short type,
		      unsigned short flags, uint32_t seq)
{
	*b = (struct nlb){ .buf = buf, .cap = cap };
	struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq };
	void *p = nlb_put(b, sizeof h);
	if (p)
		memcpy(p, &h, sizeof h);
}

static int nlb_end(struct nlb *b, size_t *len, struct pyro_err *err)
{
	if (b->overflow)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "netlink request does not fit in %zu bytes", b->cap);
	uint32_t total = (uint32_t)b->len;
	memcpy(b->buf + offsetof(struct nlmsghdr, nlmsg_len), &total, sizeof total);
	*len = b->len;
	return 0;
}

int init_nl_link_up(void *buf, size_t cap, uint32_t seq, int ifindex,
		    size_t *len, struct pyro_err *err)
{
	struct nlb b;
	nlb_begin(&b, buf, cap, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
	struct ifinfomsg ifi = {
		.ifi_family = AF_UNSPEC,
		.ifi_index = ifindex,
		.ifi_flags = IFF_UP,
		.ifi_change = IFF_UP,   /* only this flag changes */
	};
	void *p = nlb_put(&b, sizeof ifi);
	if (p)
		memcpy(p, &ifi, sizeof ifi);
	return nlb_end(&b, len, err);
}

static uint32_t prefix_mask(unsigned prefixlen)
{
	return prefixlen == 0 ? 0 : prefixlen >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefixlen);
}

int init_nl_add_addr(void *buf, size_t cap, uint32_t seq, int ifindex, struct in_addr ip,
		     unsigned prefixlen, size_t *len, struct pyro_err *err)
{
	struct nlb b;
	if (prefixlen > 32)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "prefix length %u is over 32", prefixlen);
	nlb_begin(&b, buf, cap, RTM_NEWADDR,
		  NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
	struct ifaddrmsg ifa = {
		.ifa_family = AF_INET,
		.ifa_prefixlen = (unsigned char)prefixlen,
		.ifa_scope = RT_SCOPE_UNIVERSE,
		.ifa_index = (unsigned)ifindex,
	};
	void *p = nlb_put(&b, sizeof ifa);
	if (p)
		memcpy(p, &ifa, sizeof ifa);
	/* For IPv4 IFA_LOCAL is the interface's address and IFA_ADDRESS the
	 * peer's, which on a broadcast link is the same (what `ip addr add`
	 * sends). */
	nlb_attr(&b, IFA_LOCAL, &ip.s_addr, 4);
	nlb_attr(&b, IFA_ADDRESS, &ip.s_addr, 4);
	/* /31 and /32 have no broadcast address (RFC 3021). */
	if (prefixlen <= 30) {
		uint32_t brd = htonl(ntohl(ip.s_addr) | ~prefix_mask(prefixlen));
		nlb_attr(&b, IFA_BROADCAST, &brd, 4);
	}
	return nlb_end(&b, len, err);
}

int init_nl_add_default_route(void *buf, size_t cap, uint32_t seq, int ifindex,
			      struct in_addr gw, int onlink, size_t *len,
			      struct pyro_err *err)
{
	struct nlb b;
	nlb_begin(&b, buf, cap, RTM_NEWROUTE,
		  NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
	struct rtmsg rt = {
		.rtm_family = AF_INET,
		.rtm_dst_len = 0,               /* 0.0.0.0/0 */
		.rtm_table = RT_TABLE_MAIN,
		.rtm_protocol = RTPROT_BOOT,    /* as `ip route add` marks it */
		.rtm_scope = RT_SCOPE_UNIVERSE,
		.rtm_type = RTN_UNICAST,
		.rtm_flags = onlink ? RTNH_F_ONLINK : 0,
	};
	void *p = nlb_put(&b, sizeof rt);
	if (p)
		memcpy(p, &rt, sizeof rt);
	nlb_attr(&b, RTA_GATEWAY, &gw.s_addr, 4);
	uint32_t oif = (uint32_t)ifindex;
	nlb_attr(&b, RTA_OIF, &oif, sizeof oif);
	return nlb_end(&b, len, err);
}

int init_nl_find_ack(const void *buf, size_t len, uint32_t seq, int *nl_errno,
		     struct pyro_err *err)
{
	const unsigned char *p = buf;
	size_t off = 0;
	while (len - off >= sizeof(struct nlmsghdr)) {
		struct nlmsghdr h;
		memcpy(&h, p + off, sizeof h);
		if (h.nlmsg_len < sizeof h || h.nlmsg_len > len - off)
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "malformed netlink answer (message length %u at offset %zu of %zu)",
					    h.nlmsg_len, off, len);
		if (h.nlmsg_type == NLMSG_ERROR && h.nlmsg_seq == seq) {
			struct nlmsgerr e;
			if (h.nlmsg_len < NLMSG_LENGTH(sizeof e.error))
				return pyro_err_set(err, PYRO_EXIT_FAILURE,
						    "malformed netlink answer (short error message)");
			memcpy(&e.error, p + off + NLMSG_HDRLEN, sizeof e.error);
			*nl_errno = e.error < 0 ? -e.error : e.error;
			return 1;
		}
		size_t step = NLMSG_ALIGN(h.nlmsg_len);
		if (step >= len - off)
			break;
		off += step;
	}
	return 0;
}

int init_gateway_needs_onlink(struct in_addr ip, unsigned prefixlen, struct in_addr gw)
{
	uint32_t m = prefix_mask(prefixlen);
	return (ntohl(ip.s_addr) & m) != (ntohl(gw.s_addr) & m);
}

int init_resolv_conf_text(const struct init_config *cfg, char *out, size_t cap,
			  struct pyro_err *err)
{
	size_t used = 0;
	int n = snprintf(out, cap, "# written by pyro-init from pyro.dns on the kernel command line\n");
	if (n < 0 || (size_t)n >= cap)
		goto small;
	used = (size_t)n;
	for (size_t i = 0; i < cfg->ndns && i < INIT_MAX_DNS; i++) {
		n = snprintf(out + used, cap - used, "nameserver %s\n", cfg->dns[i]);
		if (n < 0 || (size_t)n >= cap - used)
			goto small;
		used += (size_t)n;
	}
	return 0;
small:
	if (cap)
		out[0] = '\0';
	return pyro_err_set(err, PYRO_EXIT_INTERNAL, "resolv.conf text does not fit in %zu bytes", cap);
}

/* ---- talking to the kernel (thin) ----------------------------------- */

struct nl {
	int fd;
	uint32_t seq;
};

/* Send one request and wait (2 s at most) for its ack. On a kernel
 * refusal err->sys_errno holds the kernel's errno. */
static int nl_request(struct nl *nl, const void *msg, size_t len, uint32_t seq,
		      const char *what, struct pyro_err *err)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	if (sendto(nl->fd, msg, len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
		return pyro_err_sys(err, errno, "%s: netlink send failed", what);
	for (;;) {
		/* 4-byte aligned, as netlink messages expect. */
		uint32_t answer[2048];
		ssize_t n = recv(nl->fd, answer, sizeof answer, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pyro_err_sys(err, errno == EAGAIN ? ETIMEDOUT : errno,
					    "%s: no netlink answer", what);
		int nl_errno = 0;
		int found = init_nl_find_ack(answer, (size_t)n, seq, &nl_errno, err);
		if (found < 0)
			return pyro_err_wrap(err, "%s", what);
		if (found == 0)
			continue;
		if (nl_errno)
			return pyro_err_sys(err, nl_errno, "%s", what);
		return 0;
	}
}

static int nl_open(struct nl *nl, struct pyro_err *err)
{
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd < 0)
		return pyro_err_sys(err, errno, "cannot open a netlink socket");
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(nl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	nl->seq = (uint32_t)time(NULL);
	return 0;
}

/* SIOCGIFINDEX on the netlink socket itself: the kernel hands interface
 * ioctls of any socket family to the device layer, so no AF_UNIX or
 * AF_INET socket (as if_nametoindex opens) is needed. 0 when unknown. */
static int ifindex_of(int fd, const char *name)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
		return 0;
	return ifr.ifr_ifindex;
}

static int link_up(struct nl *nl, int ifindex, const char *name)
{
	unsigned char msg[256];
	size_t len;
	struct pyro_err err;
	uint32_t seq = ++nl->seq;
	char what[64];
	snprintf(what, sizeof what, "bringing %s up", name);
	if (init_nl_link_up(msg, sizeof msg, seq, ifindex, &len, &err) < 0 ||
	    nl_request(nl, msg, len, seq, what, &err) < 0) {
		init_say("%s", err.msg);
		return -1;
	}
	return 0;
}

/* An address or route that is already there (a restarted init, a kernel
 * ip= option) is as good as one we added. */
static int add_tolerant(struct nl *nl, const void *msg, size_t len, uint32_t seq,
			const char *what)
{
	struct pyro_err err;
	if (nl_request(nl, msg, len, seq, what, &err) == 0 || err.sys_errno == EEXIST)
		return 0;
	init_say("%s", err.msg);
	return -1;
}

static void configure_eth0(struct nl *nl, const struct init_config *cfg)
{
	unsigned char msg[256];
	size_t len;
	struct pyro_err err;
	char addr[40], gw[INET_ADDRSTRLEN] = "";
	int idx = 0;

	init_format_addr(cfg->guest_ip, cfg->prefixlen, addr, sizeof addr);
	/* virtio-net is probed before init runs, but allow a moment for a
	 * slow (software-emulated) boot. */
	for (int waited = 0; !(idx = ifindex_of(nl->fd, "eth0")) && waited < 2000; waited += 20) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (!idx) {
		init_say("pyro.guest_ip=%s given but there is no eth0; check the VM's network device", addr);
		return;
	}
	if (link_up(nl, idx, "eth0") < 0)
		return;
	uint32_t seq = ++nl->seq;
	if (init_nl_add_addr(msg, sizeof msg, seq, idx, cfg->guest_ip, cfg->prefixlen, &len, &err) < 0) {
		init_say("%s", err.msg);
		return;
	}
	if (add_tolerant(nl, msg, len, seq, "adding the address of eth0") < 0)
		return;
	if (cfg->has_gateway) {
		int onlink = init_gateway_needs_onlink(cfg->guest_ip, cfg->prefixlen, cfg->gateway);
		inet_ntop(AF_INET, &cfg->gateway, gw, sizeof gw);
		seq = ++nl->seq;
		if (init_nl_add_default_route(msg, sizeof msg, seq, idx, cfg->gateway, onlink, &len, &err) < 0) {
			init_say("%s", err.msg);
			return;
		}
		if (add_tolerant(nl, msg, len, seq, "adding the default route") < 0)
			gw[0] = '\0';
	}
	init_say("eth0 is up: %s%s%s", addr, gw[0] ? " via " : "", gw);
}

/* temp file + fsync + rename, so a reader never sees half a file. Not
 * core/atomicfile: its random temporary name needs getrandom(), which
 * can block this early in boot until the kernel's pool is seeded. We are
 * the only writer at this point, so a fixed temporary name is enough. */
static int write_file_atomic(const char *dir, const char *name, const char *text,
			     struct pyro_err *err)
{
	char tmp[256], path[256];
	snprintf(tmp, sizeof tmp, "%s/.%s.pyro-init", dir, name);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return pyro_err_sys(err, errno, "cannot create %s", tmp);
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			pyro_err_sys(err, n < 0 ? errno : EIO, "cannot write %s", tmp);
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		pyro_err_sys(err, errno, "cannot write %s", tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		pyro_err_sys(err, errno, "cannot write %s", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		pyro_err_sys(err, errno, "cannot rename %s to %s", tmp, path);
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/* /etc/resolv.conf. A read-only root (the shared base image) cannot take
 * it: then the file goes to /run/pyro/resolv.conf and is bind-mounted
 * over /etc/resolv.conf, which needs that file to exist already (a bind
 * mount needs a target); if it does not, DNS stays unconfigured and the
 * console says so. */
static void write_resolv_conf(const struct init_config *cfg)
{
	char text[512];
	struct pyro_err err;
	if (init_resolv_conf_text(cfg, text, sizeof text, &err) < 0) {
		init_say("%s", err.msg);
		return;
	}
	if (write_file_atomic("/etc", "resolv.conf", text, &err) == 0)
		return;
	if (err.sys_errno != EROFS) {
		init_say("%s; DNS is not configured", err.msg);
		return;
	}
	if ((mkdir("/run/pyro", 0755) < 0 && errno != EEXIST) ||
	    write_file_atomic("/run/pyro", "resolv.conf", text, &err) < 0) {
		init_say("the root is read-only and /run/pyro/resolv.conf cannot be written; "
			 "DNS is not configured");
		return;
	}
	if (mount("/run/pyro/resolv.conf", "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0) {
		init_say_errno(errno, "the root is read-only and /run/pyro/resolv.conf cannot be "
			       "bound over /etc/resolv.conf (it must exist in the image); "
			       "DNS is not configured");
		return;
	}
}

int init_net_ifindex(const char *name)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return 0;
	int idx = ifindex_of(fd, name);
	close(fd);
	return idx;
}

void init_net_up(const struct init_config *cfg)
{
	struct nl nl;
	struct pyro_err err;
	if (nl_open(&nl, &err) < 0) {
		init_say("%s; the network stays down", err.msg);
	} else {
		int lo = ifindex_of(nl.fd, "lo");
		if (!lo)
			init_say("there is no lo interface");
		else
			link_up(&nl, lo, "lo");
		if (cfg->has_ip)
			configure_eth0(&nl, cfg);
		close(nl.fd);
	}
	if (cfg->ndns)
		write_resolv_conf(cfg);
}
