/*
 * RTM_SETLINK with IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { setting: u32 } } },
 * what "ip link set" does not offer but the kernel accepts since 3.x.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "devconf.h"

struct setlink_req {
	struct nlmsghdr nh;
	struct ifinfomsg ifi;
	char attrs[64];
};

/* Opens a nested attribute at the end of the message; close it with nest_end(). */
static struct rtattr *nest_start(struct setlink_req *req, unsigned short type)
{
	struct rtattr *rta = (struct rtattr *)((char *)req + NLMSG_ALIGN(req->nh.nlmsg_len));

	rta->rta_type = type | NLA_F_NESTED;
	rta->rta_len = RTA_LENGTH(0);
	req->nh.nlmsg_len = NLMSG_ALIGN(req->nh.nlmsg_len) + RTA_LENGTH(0);
	return rta;
}

static void nest_end(struct setlink_req *req, struct rtattr *nest)
{
	nest->rta_len = (char *)req + req->nh.nlmsg_len - (char *)nest;
}

static void put_u32(struct setlink_req *req, unsigned short type, __u32 value)
{
	struct rtattr *rta = (struct rtattr *)((char *)req + NLMSG_ALIGN(req->nh.nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(sizeof(value));
	memcpy(RTA_DATA(rta), &value, sizeof(value));
	req->nh.nlmsg_len = NLMSG_ALIGN(req->nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Sends req and reads the kernel's acknowledgement. */
static int rtnl_talk(struct setlink_req *req)
{
	char buf[512] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	int fd, err;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, req, req->nh.nlmsg_len, 0) < 0) {
		err = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		err = -errno;
	else if (!NLMSG_OK(h, n) || h->nlmsg_type != NLMSG_ERROR ||
		 h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
		err = -EPROTO;
	else
		err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;	/* 0 or -errno */
out:
	close(fd);
	return err;
}

int devconf_route_localnet(int ifindex)
{
	struct setlink_req req = {
		.nh = {
			.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_SETLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		},
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};
	struct rtattr *af_spec, *inet, *conf;

	af_spec = nest_start(&req, IFLA_AF_SPEC);
	inet = nest_start(&req, AF_INET);
	conf = nest_start(&req, IFLA_INET_CONF);
	put_u32(&req, IPV4_DEVCONF_ROUTE_LOCALNET, 1);
	nest_end(&req, conf);
	nest_end(&req, inet);
	nest_end(&req, af_spec);
	return rtnl_talk(&req);
}
