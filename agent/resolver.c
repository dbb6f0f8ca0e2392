/*
 * dockerd's resolver ports. Docker DNATs 127.0.0.11:53 to two random ports,
 * one for UDP and one for TCP, which change when dockerd restarts. The
 * datapath learns the port per flow, so these are only used to tell a netns
 * with an embedded resolver from one without, and for status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

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
	int err;

	ports->udp = ports->tcp = 0;
	err = find_in(pid, "udp", false, &ports->udp);
	if (err)
		return err;
	/* TCP is optional: the datapath copes, and status just shows 0 */
	find_in(pid, "tcp", true, &ports->tcp);
	return 0;
}
