/* pyro-init's rtnetlink requests, checked byte by byte, and the ack
 * parser, including malformed answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "../../guest-init/init.h"
#include "test.h"

static const char *ip_text(struct in_addr a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* ---- netlink requests ----------------------------------------------- */

/* Find attribute `type` in the attributes that follow a `fixed`-byte
 * payload header; returns its data or NULL, and its length. */
static const unsigned char *find_attr(const unsigned char *msg, size_t len, size_t fixed,
				      unsigned short type, size_t *alen)
{
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(fixed);
	while (off + sizeof(struct rtattr) <= len) {
		struct rtattr rta;
		memcpy(&rta, msg + off, sizeof rta);
		if (rta.rta_len < sizeof rta || off + rta.rta_len > len)
			return NULL;
		if (rta.rta_type == type) {
			*alen = rta.rta_len - RTA_LENGTH(0);
			return msg + off + RTA_LENGTH(0);
		}
		off += RTA_ALIGN(rta.rta_len);
	}
	return NULL;
}

static struct in_addr addr(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a;
}

TEST(init_nl_link_up_bytes)
{
	unsigned char buf[256];
	size_t len = 0;
	struct pyro_err e;
	CHECK(init_nl_link_up(buf, sizeof buf, 42, 3, &len, &e) == 0);
	struct nlmsghdr h;
	struct ifinfomsg ifi;
	memcpy(&h, buf, sizeof h);
	memcpy(&ifi, buf + NLMSG_HDRLEN, sizeof ifi);
	CHECK(len == NLMSG_LENGTH(sizeof ifi));
	CHECK(h.nlmsg_len == len);
	CHECK(h.nlmsg_type == RTM_NEWLINK);
	CHECK(h.nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK));
	CHECK(h.nlmsg_seq == 42 && h.nlmsg_pid == 0);
	CHECK(ifi.ifi_family == AF_UNSPEC);
	CHECK(ifi.ifi_index == 3);
	CHECK(ifi.ifi_flags == 1 /* IFF_UP */ && ifi.ifi_change == 1);
	/* Too small a buffer is an error, not an overflow. */
	CHECK(init_nl_link_up(buf, NLMSG_HDRLEN + 4, 1, 3, &len, &e) == -1);
	CHECK_CONTAINS(e.msg, "does not fit");
}

TEST(init_nl_add_addr_bytes)
{
	unsigned char buf[256];
	size_t len = 0, alen = 0;
	struct pyro_err e;
	char a[INET_ADDRSTRLEN];
	CHECK(init_nl_add_addr(buf, sizeof buf, 7, 2, addr("172.16.0.2"), 30, &len, &e) == 0);
	struct nlmsghdr h;
	struct ifaddrmsg ifa;
	memcpy(&h, buf, sizeof h);
	memcpy(&ifa, buf + NLMSG_HDRLEN, sizeof ifa);
	CHECK(h.nlmsg_len == len);
	CHECK(h.nlmsg_type == RTM_NEWADDR);
	CHECK(h.nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
	CHECK(h.nlmsg_seq == 7);
	CHECK(ifa.ifa_family == AF_INET && ifa.ifa_prefixlen == 30);
	CHECK(ifa.ifa_scope == RT_SCOPE_UNIVERSE && ifa.ifa_index == 2);
	/* Three 4-byte attributes of 8 bytes each. */
	CHECK(len == NLMSG_LENGTH(sizeof ifa) + 3 * RTA_LENGTH(4));
	const unsigned char *v = find_attr(buf, len, sizeof ifa, IFA_LOCAL, &alen);
	struct in_addr got;
	CHECK(v && alen == 4);
	memcpy(&got, v, 4);
	CHECK_STR(ip_text(got, a), "172.16.0.2");
	v = find_attr(buf, len, sizeof ifa, IFA_ADDRESS, &alen);
	CHECK(v && alen == 4);
	memcpy(&got, v, 4);
	CHECK_STR(ip_text(got, a), "172.16.0.2");
	v = find_attr(buf, len, sizeof ifa, IFA_BROADCAST, &alen);
	CHECK(v && alen == 4);
	memcpy(&got, v, 4);
	CHECK_STR(ip_text(got, a), "172.16.0.3");

	/* /24 broadcast; /32 and /31 none. */
	CHECK(init_nl_add_addr(buf, sizeof buf, 8, 2, addr("10.1.2.3"), 24, &len, &e) == 0);
	v = find_attr(buf, len, sizeof ifa, IFA_BROADCAST, &alen);
	CHECK(v);
	memcpy(&got, v, 4);
	CHECK_STR(ip_text(got, a), "10.1.2.255");
	CHECK(init_nl_add_addr(buf, sizeof buf, 9, 2, addr("10.1.2.3"), 32, &len, &e) == 0);
	CHECK(!find_attr(buf, len, sizeof ifa, IFA_BROADCAST, &alen));
	CHECK(find_attr(buf, len, sizeof ifa, IFA_LOCAL, &alen));
	CHECK(init_nl_add_addr(buf, sizeof buf, 9, 2, addr("10.1.2.3"), 31, &len, &e) == 0);
	CHECK(!find_attr(buf, len, sizeof ifa, IFA_BROADCAST, &alen));

	CHECK(init_nl_add_addr(buf, sizeof buf, 9, 2, addr("10.1.2.3"), 33, &len, &e) == -1);
	CHECK(init_nl_add_addr(buf, 40, 9, 2, addr("10.1.2.3"), 24, &len, &e) == -1);
	CHECK_CONTAINS(e.msg, "does not fit in 40 bytes");
}

TEST(init_nl_default_route_bytes)
{
	unsigned char buf[256];
	size_t len = 0, alen = 0;
	struct pyro_err e;
	char a[INET_ADDRSTRLEN];
	CHECK(init_nl_add_default_route(buf, sizeof buf, 11, 2, addr("172.16.0.1"), 0, &len, &e) == 0);
	struct nlmsghdr h;
	struct rtmsg rt;
	memcpy(&h, buf, sizeof h);
	memcpy(&rt, buf + NLMSG_HDRLEN, sizeof rt);
	CHECK(h.nlmsg_len == len);
	CHECK(h.nlmsg_type == RTM_NEWROUTE);
	CHECK(h.nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
	CHECK(h.nlmsg_seq == 11);
	CHECK(rt.rtm_family == AF_INET && rt.rtm_dst_len == 0 && rt.rtm_src_len == 0);
	CHECK(rt.rtm_table == RT_TABLE_MAIN && rt.rtm_protocol == RTPROT_BOOT);
	CHECK(rt.rtm_scope == RT_SCOPE_UNIVERSE && rt.rtm_type == RTN_UNICAST);
	CHECK(rt.rtm_flags == 0);
	const unsigned char *v = find_attr(buf, len, sizeof rt, RTA_GATEWAY, &alen);
	struct in_addr got;
	CHECK(v && alen == 4);
	memcpy(&got, v, 4);
	CHECK_STR(ip_text(got, a), "172.16.0.1");
	v = find_attr(buf, len, sizeof rt, RTA_OIF, &alen);
	uint32_t oif;
	CHECK(v && alen == 4);
	memcpy(&oif, v, 4);
	CHECK(oif == 2);
	CHECK(!find_attr(buf, len, sizeof rt, RTA_DST, &alen));

	CHECK(init_nl_add_default_route(buf, sizeof buf, 12, 2, addr("10.9.9.9"), 1, &len, &e) == 0);
	memcpy(&rt, buf + NLMSG_HDRLEN, sizeof rt);
	CHECK(rt.rtm_flags == RTNH_F_ONLINK);
	CHECK(init_nl_add_default_route(buf, 20, 12, 2, addr("10.9.9.9"), 1, &len, &e) == -1);
}

TEST(init_nl_onlink_decision)
{
	CHECK(!init_gateway_needs_onlink(addr("172.16.0.2"), 30, addr("172.16.0.1")));
	CHECK(init_gateway_needs_onlink(addr("172.16.0.2"), 30, addr("172.16.0.5")));
	CHECK(init_gateway_needs_onlink(addr("172.16.0.2"), 32, addr("172.16.0.1")));
	CHECK(!init_gateway_needs_onlink(addr("10.1.2.3"), 8, addr("10.200.0.1")));
}

/* An NLMSG_ERROR answer for seq carrying `error` (0 = ack). */
static size_t put_ack(unsigned char *buf, uint32_t seq, int error)
{
	struct nlmsghdr h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr)),
			      .nlmsg_type = NLMSG_ERROR, .nlmsg_seq = seq };
	struct nlmsgerr e = { .error = error };
	memcpy(buf, &h, sizeof h);
	memcpy(buf + NLMSG_HDRLEN, &e, sizeof e);
	return NLMSG_ALIGN(h.nlmsg_len);
}

TEST(init_nl_ack_parsing)
{
	unsigned char buf[512];
	struct pyro_err e;
	int nl_errno = -1;
	size_t n = put_ack(buf, 5, 0);
	CHECK(init_nl_find_ack(buf, n, 5, &nl_errno, &e) == 1 && nl_errno == 0);
	n = put_ack(buf, 5, -EEXIST);
	CHECK(init_nl_find_ack(buf, n, 5, &nl_errno, &e) == 1 && nl_errno == EEXIST);
	/* An answer to another request is not ours. */
	CHECK(init_nl_find_ack(buf, n, 6, &nl_errno, &e) == 0);
	/* Two answers in one datagram: the second is ours. */
	n = put_ack(buf, 4, -ENODEV);
	n += put_ack(buf + n, 6, -ENETUNREACH);
	CHECK(init_nl_find_ack(buf, n, 6, &nl_errno, &e) == 1 && nl_errno == ENETUNREACH);
	/* Nothing, or less than a header. */
	CHECK(init_nl_find_ack(buf, 0, 6, &nl_errno, &e) == 0);
	CHECK(init_nl_find_ack(buf, 8, 6, &nl_errno, &e) == 0);
	/* A length past the datagram, or under a header. */
	struct nlmsghdr h = { .nlmsg_len = 4096, .nlmsg_type = NLMSG_ERROR, .nlmsg_seq = 6 };
	memcpy(buf, &h, sizeof h);
	CHECK(init_nl_find_ack(buf, 64, 6, &nl_errno, &e) == -1);
	CHECK_CONTAINS(e.msg, "malformed netlink answer");
	h.nlmsg_len = 3;
	memcpy(buf, &h, sizeof h);
	CHECK(init_nl_find_ack(buf, 64, 6, &nl_errno, &e) == -1);
	/* An error message too short to hold the error number. */
	h.nlmsg_len = NLMSG_HDRLEN + 2;
	memcpy(buf, &h, sizeof h);
	CHECK(init_nl_find_ack(buf, 64, 6, &nl_errno, &e) == -1);
}

TEST(init_net_ifindex_lookup)
{
	/* Every network namespace has lo; no interface has this name. */
	CHECK(init_net_ifindex("lo") > 0);
	CHECK(init_net_ifindex("pyro-nope0") == 0);
}

