/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by the TC programs (dnsredir.bpf.c) and the agent. */
#ifndef DNSREDIR_H
#define DNSREDIR_H

#include <linux/types.h>

/* 127.0.0.11, dockerd's embedded resolver, in network byte order. */
#define DNSREDIR_RESOLVER_ADDR_BE 0x0b00007fU

/*
 * Per-container settings, one entry in the "config" array map. A map rather
 * than const volatile rodata so that the agent can re-point a running
 * container (a changed server, a resync) in place, without a window where
 * queries go to dockerd and without losing the flows in flight, and so that
 * "status" and an agent restart can read back what is attached.
 */
struct dnsredir_config {
	__be32 server_addr;	/* where queries go */
	__be32 source_addr;	/* the container's address on the egress interface */
	__be16 server_port;
	__u16 pad;
	__u32 egress_ifindex;	/* interface of the route to server_addr */
	__u32 lo_ifindex;	/* where restored replies are delivered */
};

/*
 * A redirected flow, as the reply side sees it: the server's address and
 * port, the client's source port (kept unchanged), the protocol and, for UDP,
 * the DNS message id. The id is part of the key because stub resolvers send
 * the A and AAAA queries from one socket at once; it also makes a spoofed
 * reply guess both the port and the id. TCP flows carry id 0: one connection
 * may hold many queries.
 */
struct dnsredir_flow_key {
	__be32 server_addr;
	__be16 server_port;
	__be16 client_port;
	__be16 dns_id;
	__u8 proto;
	__u8 pad;
};

/* What the query looked like after Docker's DNAT, to be restored on the reply. */
struct dnsredir_flow {
	__be32 client_addr;	/* the query's source, usually 127.0.0.1 */
	__be16 resolver_port;	/* dockerd's port the query was DNATed to */
	__u16 pad;
};

enum dnsredir_counter {
	DNSREDIR_QUERIES_REDIRECTED,
	DNSREDIR_REPLIES_RESTORED,
	DNSREDIR_REPLIES_UNMATCHED,	/* from the server, but answering no redirected query */
	DNSREDIR_PASSED,		/* DNS-looking packets left to the kernel (fragments, short) */
	DNSREDIR_ERRORS,		/* a helper failed: the packet was dropped */
	DNSREDIR_COUNTER_MAX,
};

#define DNSREDIR_FLOWS_MAX 4096

#endif /* DNSREDIR_H */
