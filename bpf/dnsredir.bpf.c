// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The dnsredir datapath: two TC programs attached inside one container's
 * network namespace.
 *
 * dnsredir_query (lo ingress): a query to dockerd's resolver, already DNATed
 * by Docker to 127.0.0.11:<resolver port>, leaves instead from the container's
 * address to the configured server, straight out of the egress interface.
 *
 * dnsredir_reply (egress interface ingress): the server's answer to a query we
 * redirected is turned back into exactly the packet dockerd's resolver would
 * have sent (127.0.0.11:<resolver port> -> client), and delivered on lo, where
 * Docker's conntrack entry turns the source port back into 53.
 *
 * Anything else passes untouched.
 */
#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "dnsredir.h"

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dnsredir_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DNSREDIR_FLOW_SLOTS);
	__type(key, __u32);
	__type(value, struct dnsredir_flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DNSREDIR_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The part of the UDP and TCP headers both have at the same place. */
struct l4_ports {
	__be16 source;
	__be16 dest;
};

/* The fields of an IPv4 packet the programs rewrite, located and checked. */
struct dns_packet {
	struct ethhdr *eth;
	struct iphdr *iph;
	struct l4_ports *ports;
	__u32 csum_off;		/* offset of the L4 checksum */
	__u64 csum_flags;	/* extra flags for bpf_l4_csum_replace */
	__be16 dns_id;		/* UDP only; 0 for TCP */
};

static __always_inline void count(__u32 which)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &which);

	if (value)
		*value += 1;
}

static __always_inline struct dnsredir_config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&config, &zero);
}

/*
 * Locates the transport header behind a real-length IPv4 header. Returns
 * false for what we never rewrite: fragments (only the first carries the
 * ports, and rewriting it alone would break reassembly), bad or lying
 * lengths, protocols other than UDP and TCP, and packets too short for the
 * DNS header fields we read.
 */
static __always_inline bool parse_l4(struct __sk_buff *skb, struct dns_packet *pkt)
{
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *iph = pkt->iph;
	__u32 ihl_len = iph->ihl * 4;
	void *l4;

	if (iph->version != 4 || ihl_len < sizeof(*iph))
		return false;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return false;
	/* a packet shorter than its IP length is corrupt: never ours to forward */
	if (bpf_ntohs(iph->tot_len) < ihl_len || ETH_HLEN + bpf_ntohs(iph->tot_len) > skb->len)
		return false;

	l4 = (void *)iph + ihl_len;
	/* keep the checked pointer: a recomputed one would lose its bounds */
	barrier_var(l4);
	if (iph->protocol == IPPROTO_UDP) {
		struct udphdr *udp = l4;
		__be16 *dns_id = (void *)(udp + 1);

		/* the fields we read must be in the packet, not in the frame's padding */
		if (bpf_ntohs(iph->tot_len) < ihl_len + sizeof(*udp) + sizeof(*dns_id) ||
		    (void *)(dns_id + 1) > data_end)
			return false;
		pkt->ports = l4;
		pkt->csum_off = ETH_HLEN + ihl_len + offsetof(struct udphdr, check);
		/* a zero UDP checksum means "none" and must stay zero */
		pkt->csum_flags = BPF_F_MARK_MANGLED_0;
		pkt->dns_id = *dns_id;
		return true;
	}
	if (iph->protocol == IPPROTO_TCP) {
		if (bpf_ntohs(iph->tot_len) < ihl_len + sizeof(struct tcphdr) ||
		    l4 + sizeof(struct tcphdr) > data_end)
			return false;
		pkt->ports = l4;
		pkt->csum_off = ETH_HLEN + ihl_len + offsetof(struct tcphdr, check);
		pkt->csum_flags = 0;
		pkt->dns_id = 0;
		return true;
	}
	return false;
}

/* Finds the Ethernet and IPv4 headers; false when the packet is not IPv4. */
static __always_inline bool parse_l3(struct __sk_buff *skb, struct dns_packet *pkt)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return false;
	pkt->eth = data;
	pkt->iph = data + ETH_HLEN;
	return (void *)(pkt->iph + 1) <= data_end;
}

/* Folds a 64-bit one's complement sum to 16 bits. */
static __always_inline __u16 csum_fold64(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/*
 * Rewrites both addresses and one port, then fixes the checksums. The IP
 * header checksum is updated by hand (RFC 1624): it is never offloaded, and
 * since header and checksum change together the skb's CHECKSUM_COMPLETE sum
 * stays right. The L4 checksum goes through the kernel's helper, which knows
 * whether the skb is CHECKSUM_PARTIAL (loopback: the field then holds only
 * the pseudo-header sum, and the port must not be folded into it) or not.
 * Packet pointers are stale after this.
 */
static __always_inline int rewrite(struct __sk_buff *skb, struct dns_packet *pkt,
				   __be32 saddr, __be32 daddr, __be16 *port, __be16 new_port)
{
	struct iphdr *iph = pkt->iph;
	__be16 old_port = *port;
	__u64 addr_diff;

	/* sum of ~old + new over the two address words, as bpf_csum_diff would give */
	addr_diff = (__u64)(~iph->saddr) + (~iph->daddr) + saddr + daddr;
	iph->check = ~csum_fold64((__u64)(__u16)~iph->check + addr_diff);
	iph->saddr = saddr;
	iph->daddr = daddr;
	*port = new_port;

	addr_diff = (addr_diff & 0xffffffff) + (addr_diff >> 32);
	addr_diff = (addr_diff & 0xffffffff) + (addr_diff >> 32);
	if (bpf_l4_csum_replace(skb, pkt->csum_off, 0, addr_diff,
				BPF_F_PSEUDO_HDR | pkt->csum_flags))
		return -1;
	if (bpf_l4_csum_replace(skb, pkt->csum_off, old_port, new_port,
				sizeof(new_port) | pkt->csum_flags))
		return -1;
	return 0;
}

static __always_inline struct dnsredir_flow *flow_slot(__be16 client_port, __be16 dns_id)
{
	__u32 slot = dnsredir_flow_slot(client_port, dns_id);

	return bpf_map_lookup_elem(&flows, &slot);
}

static __always_inline bool flow_matches(const struct dnsredir_flow *flow, __be16 client_port,
					 __be16 dns_id, __u8 proto)
{
	return flow->client_port == client_port && flow->dns_id == dns_id && flow->proto == proto;
}

SEC("tc")
int dnsredir_query(struct __sk_buff *skb)
{
	struct dnsredir_config *cfg;
	struct dnsredir_flow *flow;
	struct dns_packet pkt;

	if (!parse_l3(skb, &pkt) || pkt.iph->daddr != DNSREDIR_RESOLVER_ADDR_BE)
		return TC_ACT_OK;
	if (!parse_l4(skb, &pkt)) {
		count(DNSREDIR_PASSED);
		return TC_ACT_OK;
	}
	cfg = config_get();
	flow = flow_slot(pkt.ports->source, pkt.dns_id);
	if (!cfg || !cfg->server_addr || !flow) {
		count(DNSREDIR_PASSED);
		return TC_ACT_OK;
	}

	/* where the reply must go; a TCP connection writes it once */
	if (!flow_matches(flow, pkt.ports->source, pkt.dns_id, pkt.iph->protocol) ||
	    flow->client_addr != pkt.iph->saddr || flow->resolver_port != pkt.ports->dest) {
		flow->client_port = pkt.ports->source;
		flow->dns_id = pkt.dns_id;
		flow->proto = pkt.iph->protocol;
		flow->resolver_port = pkt.ports->dest;
		flow->client_addr = pkt.iph->saddr;
	}

	if (rewrite(skb, &pkt, cfg->source_addr, cfg->server_addr,
		    &pkt.ports->dest, cfg->server_port)) {
		count(DNSREDIR_ERRORS);
		return TC_ACT_SHOT;	/* half-rewritten: never deliver it */
	}
	count(DNSREDIR_QUERIES_REDIRECTED);
	return bpf_redirect_neigh(cfg->egress_ifindex, NULL, 0, 0);
}

SEC("tc")
int dnsredir_reply(struct __sk_buff *skb)
{
	struct dnsredir_config *cfg;
	struct dnsredir_flow *flow;
	struct dnsredir_flow restored;
	struct dns_packet pkt;

	if (!parse_l3(skb, &pkt))
		return TC_ACT_OK;
	cfg = config_get();
	if (!cfg || pkt.iph->saddr != cfg->server_addr || pkt.iph->daddr != cfg->source_addr)
		return TC_ACT_OK;
	if (!parse_l4(skb, &pkt)) {
		count(DNSREDIR_PASSED);
		return TC_ACT_OK;
	}
	if (pkt.ports->source != cfg->server_port)
		return TC_ACT_OK;

	flow = flow_slot(pkt.ports->dest, pkt.dns_id);
	if (!flow || !flow_matches(flow, pkt.ports->dest, pkt.dns_id, pkt.iph->protocol)) {
		/* dockerd's own forwarding, or a spoof: not ours to deliver */
		count(DNSREDIR_REPLIES_UNMATCHED);
		return TC_ACT_OK;
	}
	restored = *flow;
	/* a UDP query has one answer: a second copy must not get through */
	if (restored.proto == IPPROTO_UDP)
		flow->proto = 0;

	/* lo's address is all zeroes: anything else would make it PACKET_OTHERHOST */
	__builtin_memset(pkt.eth->h_dest, 0, ETH_ALEN);
	__builtin_memset(pkt.eth->h_source, 0, ETH_ALEN);
	if (rewrite(skb, &pkt, DNSREDIR_RESOLVER_ADDR_BE, restored.client_addr,
		    &pkt.ports->source, restored.resolver_port)) {
		count(DNSREDIR_ERRORS);
		return TC_ACT_SHOT;
	}
	count(DNSREDIR_REPLIES_RESTORED);
	return bpf_redirect(cfg->lo_ifindex, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
