/*
 * dockerd's resolver ports. Docker DNATs 127.0.0.11:53 to two random ports,
 * one for UDP and one for TCP, which change when dockerd restarts. The
 * datapath learns the port per flow, so these are only used to tell a netns
 * with an embedded resolver from one without, and for status and logs.
 *
 * UDP is read from /proc/PID/net/udp, without entering the netns. TCP is
 * asked of sock_diag for listeners only, from inside the netns:
 * /proc/PID/net/tcp walks every connection of every netns on the host (the
 * one established-connections table), milliseconds per read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unistd.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "resolver.h"

#define RESOLVER_ADDR_AS_PRINTED htonl(0x7f00000bU)

#define TCP_LISTEN 0x0A

bool resolver_parse_proc_line(const char *line, bool tcp, uint16_t *port)
{
	unsigned int slot, local_port, remote_port, state;
	char local_addr[9], remote_addr[9];

	/*
	 * "  12: 0B00007F:A1B2 00000000:0000 0A ...": the address is the raw
	 * network-order word printed as a native integer (always 8 digits), the
	 * port is in host order.
	 */
	if (sscanf(line, " %u: %8[0-9A-Fa-f]:%4X %8[0-9A-Fa-f]:%4X %2X",
		   &slot, local_addr, &local_port, remote_addr, &remote_port, &state) != 6)
		return false;
	if (strlen(local_addr) != 8 || strtoul(local_addr, NULL, 16) != RESOLVER_ADDR_AS_PRINTED ||
	    local_port == 0)
		return false;
	if (tcp && state != TCP_LISTEN)
		return false;
	*port = local_port;
	return true;
}

static int find_in(pid_t pid, const char *proto, bool tcp, uint16_t *port)
{
	char path[64], line[512];
	FILE *f;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, proto);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (fgets(line, sizeof(line), f)) {
		if (resolver_parse_proc_line(line, tcp, port)) {
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

int resolver_find(pid_t pid, struct resolver_ports *ports)
{
	ports->udp = ports->tcp = 0;
	return find_in(pid, "udp", false, &ports->udp);
}

/* Reads one sock_diag answer; returns >0 when done, 0 to read on, -errno. */
static int tcp_listeners_read(int fd, uint16_t *port)
{
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	struct nlmsghdr *h;

	if (n < 0)
		return -errno;
	for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
		const struct inet_diag_msg *m = NLMSG_DATA(h);

		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR)
			return -EPROTO;
		if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*m)) && m->id.idiag_src[0] == htonl(0x7f00000bU) && !*port)
			*port = ntohs(m->id.idiag_sport);
	}
	return 0;
}

int resolver_tcp_port(uint16_t *port)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		},
		.req = {
			.sdiag_family = AF_INET,
			.sdiag_protocol = IPPROTO_TCP,
			.idiag_states = 1U << TCP_LISTEN,
		},
	};
	int fd, ret = 0;

	*port = 0;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	if (send(fd, &msg, sizeof(msg), 0) < 0)
		ret = -errno;
	while (!ret)
		ret = tcp_listeners_read(fd, port);
	close(fd);
	if (ret < 0)
		return ret;
	return *port ? 0 : -ENOENT;
}
