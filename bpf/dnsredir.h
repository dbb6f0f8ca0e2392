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
 * The flow table: a direct-mapped array of slots, one per query in flight,
 * indexed by a hash of the client's source port and, for UDP, the DNS id.
 * An array rather than a hash map because its lookup is a few instructions
 * inlined by the verifier, where an LRU hash update costs more than all the
 * rest of the rewrite. The price is that two queries in flight whose hashes
 * collide share a slot: the older one's answer is then not restored, and its
 * client asks again. With 8192 slots that takes hundreds of queries in flight
 * in one container; a stub resolver has a handful.
 *
 * The DNS id is part of the match because stub resolvers send the A and
 * AAAA queries from one socket at once; it also makes a spoofed reply guess
 * both the port and the id. TCP flows carry id 0: one connection may hold
 * many queries.
 */
#define DNSREDIR_FLOW_SLOTS_LOG2 13
#define DNSREDIR_FLOW_SLOTS (1U << DNSREDIR_FLOW_SLOTS_LOG2)

struct dnsredir_flow {
	__be16 client_port;	/* the query's source port, kept unchanged */
	__be16 dns_id;		/* UDP: the query's id; TCP: 0 */
	__u8 proto;		/* IPPROTO_UDP or IPPROTO_TCP; 0: free slot */
	__u8 pad;
	__be16 resolver_port;	/* dockerd's port the query was DNATed to */
	__be32 client_addr;	/* the query's source, usually 127.0.0.1 */
};

/* Fibonacci hashing of port and id into a slot number. */
static inline __u32 dnsredir_flow_slot(__be16 client_port, __be16 dns_id)
{
	__u32 h = ((__u32)client_port << 16 | dns_id) * 0x9e3779b1U;

	return h >> (32 - DNSREDIR_FLOW_SLOTS_LOG2);
}

enum dnsredir_counter {
	DNSREDIR_QUERIES_REDIRECTED,
	DNSREDIR_REPLIES_RESTORED,
	DNSREDIR_REPLIES_UNMATCHED,	/* from the server, but answering no redirected query */
	DNSREDIR_PASSED,		/* DNS-looking packets left to the kernel (fragments, short) */
	DNSREDIR_ERRORS,		/* a helper failed: the packet was dropped */
	DNSREDIR_COUNTER_MAX,
};


#endif /* DNSREDIR_H */
