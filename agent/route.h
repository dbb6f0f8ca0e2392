/* How the current network namespace reaches a server. */
#ifndef DNSREDIR_ROUTE_H
#define DNSREDIR_ROUTE_H

#include <net/if.h>
#include <netinet/in.h>

struct route_info {
	struct in_addr source;		/* the address the kernel would send from */
	int ifindex;			/* the interface that address is on */
	char ifname[IF_NAMESIZE];
};

/*
 * Asks the kernel of the calling thread's netns for its route to server: a
 * connected UDP socket sends nothing and gets the source address the routing
 * table picks; the interface is the one holding that address. So a container
 * on several networks uses whichever one reaches the server. Returns 0,
 * -ENETUNREACH (no route), -EADDRNOTAVAIL (the route goes through lo or no
 * interface holds the source), or -errno.
 */
int route_lookup(struct in_addr server, uint16_t port, struct route_info *out);

#endif
