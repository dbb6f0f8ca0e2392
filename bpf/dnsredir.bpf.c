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
#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dnsredir_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DNSREDIR_FLOWS_MAX);
	__type(key, struct dnsredir_flow_key);
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
 * ports, and rewriting it alone would break reassembly), bad header lengths,
 * protocols other than UDP and TCP, and packets too short for the DNS header
 * fields we read.
 */
static __always_inline bool parse_l4(struct __sk_buff *skb, struct dns_packet *pkt)
{
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *iph = pkt->iph;
	__u32 l4_off;

	if (iph->version != 4 || iph->ihl < 5)
		return false;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return false;
	/* a packet shorter than its IP length is corrupt: never ours to forward */
	if (bpf_ntohs(iph->tot_len) < iph->ihl * 4 ||
	    ETH_HLEN + bpf_ntohs(iph->tot_len) > skb->len)
		return false;

	l4_off = ETH_HLEN + iph->ihl * 4;
	if (iph->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)(long)skb->data + l4_off;
		__be16 *dns_id = (void *)(udp + 1);

		if ((void *)(dns_id + 1) > data_end)
			return false;
		pkt->ports = (void *)udp;
		pkt->csum_off = l4_off + offsetof(struct udphdr, check);
		/* a zero UDP checksum means "none" and must stay zero */
		pkt->csum_flags = BPF_F_MARK_MANGLED_0;
		pkt->dns_id = *dns_id;
		return true;
	}
	if (iph->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(long)skb->data + l4_off;

		if ((void *)(tcp + 1) > data_end)
			return false;
		pkt->ports = (void *)tcp;
		pkt->csum_off = l4_off + offsetof(struct tcphdr, check);
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

/*
 * Rewrites addresses and one port, then fixes the checksums with the kernel's
 * helpers, which know whether the skb is CHECKSUM_PARTIAL (loopback) or not.
 * The address change is also a pseudo-header change for the L4 checksum; the
 * port is not. Packet pointers are stale after this.
 */
static __always_inline int rewrite(struct __sk_buff *skb, struct dns_packet *pkt,
				   __be32 saddr, __be32 daddr, __be16 *port, __be16 new_port)
{
	__be32 old_addrs[2] = { pkt->iph->saddr, pkt->iph->daddr };
	__be32 new_addrs[2] = { saddr, daddr };
	__be16 old_port = *port;
	__s64 diff;

	pkt->iph->saddr = saddr;
	pkt->iph->daddr = daddr;
	*port = new_port;

	diff = bpf_csum_diff(old_addrs, sizeof(old_addrs), new_addrs, sizeof(new_addrs), 0);
	if (diff < 0)
		return -1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, diff, 0))
		return -1;
	if (bpf_l4_csum_replace(skb, pkt->csum_off, 0, diff,
				BPF_F_PSEUDO_HDR | pkt->csum_flags))
		return -1;
	if (bpf_l4_csum_replace(skb, pkt->csum_off, old_port, new_port,
				sizeof(new_port) | pkt->csum_flags))
		return -1;
	return 0;
}

/* Records where the reply must go; for TCP only once per connection. */
static __always_inline int flow_remember(struct dnsredir_flow_key *key, struct dnsredir_flow *flow)
{
	if (key->proto == IPPROTO_TCP) {
		struct dnsredir_flow *known = bpf_map_lookup_elem(&flows, key);

		if (known && known->client_addr == flow->client_addr &&
		    known->resolver_port == flow->resolver_port)
			return 0;
	}
	return bpf_map_update_elem(&flows, key, flow, BPF_ANY);
}

SEC("tc")
int dnsredir_query(struct __sk_buff *skb)
{
	struct dnsredir_flow_key key = {};
	struct dnsredir_flow flow = {};
	struct dnsredir_config *cfg;
	struct dns_packet pkt;

	if (!parse_l3(skb, &pkt) || pkt.iph->daddr != DNSREDIR_RESOLVER_ADDR_BE)
		return TC_ACT_OK;
	if (!parse_l4(skb, &pkt)) {
		count(DNSREDIR_PASSED);
		return TC_ACT_OK;
	}
	cfg = config_get();
	if (!cfg || !cfg->server_addr) {
		count(DNSREDIR_PASSED);
		return TC_ACT_OK;
	}

	key.server_addr = cfg->server_addr;
	key.server_port = cfg->server_port;
	key.client_port = pkt.ports->source;
	key.dns_id = pkt.dns_id;
	key.proto = pkt.iph->protocol;
	flow.client_addr = pkt.iph->saddr;
	flow.resolver_port = pkt.ports->dest;
	if (flow_remember(&key, &flow)) {
		count(DNSREDIR_ERRORS);
		return TC_ACT_OK;	/* untouched yet: dockerd still answers it */
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
	struct dnsredir_flow_key key = {};
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

	key.server_addr = pkt.iph->saddr;
	key.server_port = pkt.ports->source;
	key.client_port = pkt.ports->dest;
	key.dns_id = pkt.dns_id;
	key.proto = pkt.iph->protocol;
	flow = bpf_map_lookup_elem(&flows, &key);
	if (!flow) {
		/* dockerd's own forwarding, or a spoof: not ours to deliver */
		count(DNSREDIR_REPLIES_UNMATCHED);
		return TC_ACT_OK;
	}
	restored = *flow;
	/* a UDP query has one answer: a second copy must not get through */
	if (key.proto == IPPROTO_UDP)
		bpf_map_delete_elem(&flows, &key);

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
