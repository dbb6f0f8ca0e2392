// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the TC programs in bpf/dnsredir.bpf.c, run in the kernel with
 * BPF_PROG_TEST_RUN on hand-built Ethernet + IPv4 packets: no interface, no
 * container and no traffic. Needs root (or CAP_BPF + CAP_NET_ADMIN); exits 77
 * (skipped) without it.
 *
 * Every checksum is verified with the plain RFC 1071 sum below, independent of
 * the kernel's incremental helpers the programs use. Test-run skbs are
 * CHECKSUM_NONE, so the programs' updates land as full checksums here. On lo
 * the same helpers keep a CHECKSUM_PARTIAL pseudo-header sum instead, which
 * test-run cannot produce: whether BPF_F_PSEUDO_HDR is passed makes no
 * difference here, only on the real path (tests/e2e).
 *
 * Each test loads a fresh skeleton, so maps and counters start empty.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <cmocka.h>

#include "packet.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dnsredir.h"
#include "dnsredir.skel.h"

/* The rest of the test topology (packet.h has the addresses), host order. */
#define CLIENT_PORT	40000
#define UDP_RESOLVER_PORT 37000	/* dockerd's UDP port, after Docker's DNAT */
#define TCP_RESOLVER_PORT 38000
#define DNS_ID		0x1234

#define IP_MF		0x2000
#define IPOPT_NOP_BYTE	0x01

/* ---------------------------------------------------------------- packets */

/* What build_pkt() puts in a packet; zero fields get the usual value. */
struct pkt_spec {
	uint16_t ethertype;	/* 0: ETH_P_IP */
	uint8_t version;	/* 0: 4 */
	uint8_t ihl;		/* 0: 5 + ip_opt_words */
	uint8_t ip_opt_words;	/* 32-bit words of NOP options */
	uint16_t frag_off;	/* flags and offset, host order */
	uint8_t proto;		/* IPPROTO_UDP, IPPROTO_TCP or IPPROTO_ICMP */
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint16_t dns_id;	/* UDP and TCP with payload */
	bool udp_no_csum;	/* send UDP checksum 0 ("none") */
	uint8_t tcp_flags;	/* TCP: flags byte; a DNS message follows unless SYN */
};

static const uint8_t client_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t server_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x02 };

/* A DNS query for example.com A: header with the given id, one question. */
static size_t put_dns_query(uint8_t *p, uint16_t id)
{
	static const uint8_t question[] = {
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		0, 1,	/* QTYPE A */
		0, 1,	/* QCLASS IN */
	};

	put16(p, id);
	put16(p + 2, 0x0100);	/* RD */
	put16(p + 4, 1);	/* QDCOUNT */
	memset(p + 6, 0, 6);
	memcpy(p + 12, question, sizeof(question));
	return 12 + sizeof(question);
}

/* ----------------------------------------------------- RFC 1071 checksums */

static const uint8_t *ip_hdr(const struct pkt *p)
{
	return p->data + ETH_HLEN;
}

static size_t ip_hlen(const struct pkt *p)
{
	return (ip_hdr(p)[0] & 0x0f) * 4;
}

static const uint8_t *l4_hdr(const struct pkt *p)
{
	return ip_hdr(p) + ip_hlen(p);
}

static size_t l4_len(const struct pkt *p)
{
	return get16(ip_hdr(p) + 2) - ip_hlen(p);
}

static uint8_t ip_proto(const struct pkt *p)
{
	return ip_hdr(p)[9];
}

/* Sum of the IPv4 pseudo-header and the whole transport segment. */
static uint32_t l4_sum(const struct pkt *p)
{
	const uint8_t *iph = ip_hdr(p);
	uint8_t pseudo[12];

	memcpy(pseudo, iph + 12, 8);	/* saddr, daddr */
	pseudo[8] = 0;
	pseudo[9] = ip_proto(p);
	put16(pseudo + 10, (uint16_t)l4_len(p));
	return sum16(l4_hdr(p), l4_len(p), sum16(pseudo, sizeof(pseudo), 0));
}

/* A checksum is valid when the sum over everything it covers is 0xffff. */
static bool ip_csum_ok(const struct pkt *p)
{
	return fold(sum16(ip_hdr(p), ip_hlen(p), 0)) == 0xffff;
}

static bool l4_csum_ok(const struct pkt *p)
{
	return fold(l4_sum(p)) == 0xffff;
}

static size_t l4_csum_off(uint8_t proto)
{
	return proto == IPPROTO_TCP ? offsetof(struct tcphdr, check) :
	       proto == IPPROTO_UDP ? offsetof(struct udphdr, check) : 2;
}

static uint16_t l4_csum(const struct pkt *p)
{
	return get16(l4_hdr(p) + l4_csum_off(ip_proto(p)));
}

static void set_ip_csum(uint8_t *iph, size_t hlen)
{
	put16(iph + 10, 0);
	put16(iph + 10, (uint16_t)~fold(sum16(iph, hlen, 0)));
}

/* Sets the IP and transport checksums of a packet whose fields are final. */
static void fill_checksums(struct pkt *p, bool udp_no_csum)
{
	uint8_t *csum = (uint8_t *)l4_hdr(p) + l4_csum_off(ip_proto(p));
	uint16_t value;

	set_ip_csum(p->data + ETH_HLEN, ip_hlen(p));
	put16(csum, 0);
	if (ip_proto(p) == IPPROTO_ICMP)
		value = (uint16_t)~fold(sum16(l4_hdr(p), l4_len(p), 0));
	else
		value = (uint16_t)~fold(l4_sum(p));
	/* UDP sends a computed 0 as 0xffff: 0 on the wire means "none" */
	if (ip_proto(p) == IPPROTO_UDP && (udp_no_csum || value == 0))
		value = udp_no_csum ? 0 : 0xffff;
	put16(csum, value);
}

static struct pkt build_pkt(const struct pkt_spec *s)
{
	struct pkt p = { .len = 0 };
	uint8_t *eth = p.data, *iph = eth + ETH_HLEN, *l4;
	size_t ihl = 5 + s->ip_opt_words, len = 0;

	memcpy(eth, server_mac, ETH_ALEN);		/* h_dest */
	memcpy(eth + ETH_ALEN, client_mac, ETH_ALEN);	/* h_source */
	put16(eth + 2 * ETH_ALEN, s->ethertype ? s->ethertype : ETH_P_IP);

	l4 = iph + ihl * 4;
	memset(iph + 20, IPOPT_NOP_BYTE, s->ip_opt_words * 4);
	switch (s->proto) {
	case IPPROTO_UDP:
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		len = 8 + put_dns_query(l4 + 8, s->dns_id);
		put16(l4 + 4, (uint16_t)len);
		break;
	case IPPROTO_TCP:
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put32(l4 + 4, 1000);			/* seq */
		put32(l4 + 8, s->tcp_flags & TCP_ACK ? 2000 : 0);	/* ack */
		l4[12] = 5 << 4;			/* doff */
		l4[13] = s->tcp_flags;
		put16(l4 + 14, 65535);			/* window */
		len = 20;
		if (!(s->tcp_flags & TCP_SYN))		/* a DNS message, length-prefixed */
			len += 2 + put_dns_query(l4 + 22, s->dns_id);
		if (len > 20)
			put16(l4 + 20, (uint16_t)(len - 22));
		break;
	case IPPROTO_ICMP:
		l4[0] = 8;				/* echo request */
		put16(l4 + 4, 1);			/* identifier */
		put16(l4 + 6, 1);			/* sequence */
		len = 8;
		break;
	}

	iph[0] = (uint8_t)(4 << 4 | ihl);
	put16(iph + 2, (uint16_t)(ihl * 4 + len));
	put16(iph + 4, 0x4242);			/* id */
	put16(iph + 6, s->frag_off);
	iph[8] = 64;				/* ttl */
	iph[9] = s->proto;
	put32(iph + 12, s->saddr);
	put32(iph + 16, s->daddr);
	p.len = ETH_HLEN + ihl * 4 + len;
	fill_checksums(&p, s->udp_no_csum);

	/* broken headers last, over an otherwise valid packet */
	if (s->version || s->ihl) {
		iph[0] = (uint8_t)((s->version ? s->version : 4) << 4 | (s->ihl ? s->ihl : ihl));
		set_ip_csum(iph, ihl * 4);
	}
	return p;
}

/* The query a client sends, as lo ingress sees it after Docker's DNAT. */
static struct pkt_spec udp_query_spec(void)
{
	return (struct pkt_spec){
		.proto = IPPROTO_UDP,
		.saddr = CLIENT_ADDR, .daddr = RESOLVER_ADDR,
		.sport = CLIENT_PORT, .dport = UDP_RESOLVER_PORT,
		.dns_id = DNS_ID,
	};
}

/* The server's answer to it, as the egress interface receives it. */
static struct pkt_spec udp_reply_spec(void)
{
	return (struct pkt_spec){
		.proto = IPPROTO_UDP,
		.saddr = SERVER_ADDR, .daddr = SOURCE_ADDR,
		.sport = SERVER_PORT, .dport = CLIENT_PORT,
		.dns_id = DNS_ID,
	};
}

static struct pkt_spec tcp_query_spec(uint8_t flags)
{
	return (struct pkt_spec){
		.proto = IPPROTO_TCP,
		.saddr = CLIENT_ADDR, .daddr = RESOLVER_ADDR,
		.sport = CLIENT_PORT, .dport = TCP_RESOLVER_PORT,
		.dns_id = DNS_ID, .tcp_flags = flags,
	};
}

static struct pkt_spec tcp_reply_spec(uint8_t flags)
{
	return (struct pkt_spec){
		.proto = IPPROTO_TCP,
		.saddr = SERVER_ADDR, .daddr = SOURCE_ADDR,
		.sport = SERVER_PORT, .dport = CLIENT_PORT,
		.dns_id = DNS_ID, .tcp_flags = flags,
	};
}

/* -------------------------------------------------------- program access */

/* Runs prog once on in; returns its verdict and what it left in out. */
static uint32_t run_prog(struct bpf_program *prog, const struct pkt *in, struct pkt *out)
{
	struct pkt scratch;
	uint32_t retval;

	assert_int_equal(pkt_run(prog, in, out ? out : &scratch, &retval), 0);
	return retval;
}

static void assert_untouched_out(const struct pkt *in, const struct pkt *out, uint32_t retval)
{
	assert_int_equal(retval, TC_ACT_OK);
	assert_int_equal(out->len, in->len);
	assert_memory_equal(out->data, in->data, in->len);
}

/* The program must leave the packet alone: TC_ACT_OK and identical bytes. */
static void assert_untouched(struct bpf_program *prog, const struct pkt *in)
{
	struct pkt out;

	assert_untouched_out(in, &out, run_prog(prog, in, &out));
}

/* Addresses, ports and checksums of a rewritten packet. */
static void assert_packet(const struct pkt *p, uint32_t saddr, uint16_t sport,
			  uint32_t daddr, uint16_t dport)
{
	assert_int_equal(get32(ip_hdr(p) + 12), saddr);
	assert_int_equal(get32(ip_hdr(p) + 16), daddr);
	assert_int_equal(get16(l4_hdr(p)), sport);
	assert_int_equal(get16(l4_hdr(p) + 2), dport);
	assert_true(ip_csum_ok(p));
	assert_true(l4_csum_ok(p));
}

/* Everything but the addresses, ports and checksums must be as sent. */
static void assert_same_elsewhere(const struct pkt *in, const struct pkt *out, bool same_macs)
{
	struct pkt a = *in, b = *out;
	size_t csum = ETH_HLEN + ip_hlen(in) + l4_csum_off(ip_proto(in));

	assert_int_equal(a.len, b.len);
	memset(a.data + ETH_HLEN + 10, 0, 10);	/* IP check, saddr, daddr */
	memset(b.data + ETH_HLEN + 10, 0, 10);
	memset(a.data + ETH_HLEN + ip_hlen(in), 0, 4);	/* ports */
	memset(b.data + ETH_HLEN + ip_hlen(in), 0, 4);
	memset(a.data + csum, 0, 2);
	memset(b.data + csum, 0, 2);
	if (!same_macs) {
		memset(a.data, 0, 2 * ETH_ALEN);
		memset(b.data, 0, 2 * ETH_ALEN);
	}
	assert_memory_equal(a.data, b.data, a.len);
}

struct fixture {
	struct dnsredir *skel;
};

static void config_set(struct dnsredir *skel, const struct dnsredir_config *cfg)
{
	__u32 zero = 0;

	assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, sizeof(zero),
					      cfg, sizeof(*cfg), BPF_ANY), 0);
}

static struct dnsredir_config test_config(void)
{
	return (struct dnsredir_config){
		.server_addr = htonl(SERVER_ADDR),
		.source_addr = htonl(SOURCE_ADDR),
		.server_port = htons(SERVER_PORT),
		.egress_ifindex = EGRESS_IFINDEX,
		.lo_ifindex = LO_IFINDEX,
	};
}

/* Sum of a per-CPU counter over all possible CPUs. */
static uint64_t counter(struct dnsredir *skel, enum dnsredir_counter which)
{
	int ncpus = libbpf_num_possible_cpus();
	__u32 key = which;
	uint64_t *values, sum = 0;

	assert_true(ncpus > 0);
	values = calloc(ncpus, sizeof(*values));
	assert_non_null(values);
	assert_int_equal(bpf_map__lookup_elem(skel->maps.counters, &key, sizeof(key),
					      values, ncpus * sizeof(*values), 0), 0);
	for (int i = 0; i < ncpus; i++)
		sum += values[i];
	free(values);
	return sum;
}

/* What identifies a flow in the table: protocol, client port, DNS id. */
struct flow_id {
	uint8_t proto;
	uint16_t client_port;
	uint16_t dns_id;
};

static struct flow_id flow_key(uint8_t proto, uint16_t client_port, uint16_t dns_id)
{
	return (struct flow_id){ .proto = proto, .client_port = client_port, .dns_id = dns_id };
}

/* Looks a flow up in its slot; false when the slot holds another flow or none. */
static bool flow_get(struct dnsredir *skel, const struct flow_id *id, struct dnsredir_flow *flow)
{
	__u32 slot = dnsredir_flow_slot(htons(id->client_port), htons(id->dns_id));

	assert_int_equal(bpf_map__lookup_elem(skel->maps.flows, &slot, sizeof(slot),
					      flow, sizeof(*flow), 0), 0);
	return flow->proto == id->proto && flow->client_port == htons(id->client_port) &&
	       flow->dns_id == htons(id->dns_id);
}

static void assert_no_flows(struct dnsredir *skel)
{
	struct dnsredir_flow flow;

	for (__u32 slot = 0; slot < DNSREDIR_FLOW_SLOTS; slot++) {
		assert_int_equal(bpf_map__lookup_elem(skel->maps.flows, &slot, sizeof(slot),
						      &flow, sizeof(flow), 0), 0);
		assert_int_equal(flow.proto, 0);
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct dnsredir_config cfg = test_config();

	if (!f)
		return -1;
	f->skel = dnsredir__open_and_load();
	if (!f->skel) {
		fprintf(stderr, "dnsredir__open_and_load: %s\n", strerror(errno));
		free(f);
		return -1;
	}
	config_set(f->skel, &cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dnsredir__destroy(f->skel);
	free(f);
	return 0;
}

/* Sends case 1's UDP query through dnsredir_query and checks the result. */
static void redirect_udp_query(struct dnsredir *skel, const struct pkt_spec *spec)
{
	struct pkt in = build_pkt(spec), out;
	struct flow_id key = flow_key(IPPROTO_UDP, spec->sport, spec->dns_id);
	struct dnsredir_flow flow;
	uint64_t before = counter(skel, DNSREDIR_QUERIES_REDIRECTED);

	assert_true(ip_csum_ok(&in));
	assert_int_equal(run_prog(skel->progs.dnsredir_query, &in, &out), TC_ACT_REDIRECT);
	assert_packet(&out, SOURCE_ADDR, spec->sport, SERVER_ADDR, SERVER_PORT);
	/* the MACs are bpf_redirect_neigh's to fill in, on the real path */
	assert_same_elsewhere(&in, &out, true);

	assert_true(flow_get(skel, &key, &flow));
	assert_int_equal(ntohl(flow.client_addr), spec->saddr);
	assert_int_equal(ntohs(flow.resolver_port), spec->dport);
	assert_int_equal(counter(skel, DNSREDIR_QUERIES_REDIRECTED), before + 1);
}

/* ------------------------------------------------------------------ tests */

/*
 * 0. The checksum checks themselves: a textbook IPv4 header, and a query whose
 * address changed without a checksum fix, which both checks must reject (the
 * L4 one through its pseudo-header).
 */
static void test_checksum_helpers(void **state)
{
	/* the well-known example header, checksum 0xb861 */
	static const uint8_t ref[20] = {
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	};
	struct pkt_spec spec = udp_query_spec();
	struct pkt p = { .len = ETH_HLEN + sizeof(ref) };
	uint8_t header[20];

	memcpy(p.data + ETH_HLEN, ref, sizeof(ref));
	assert_true(ip_csum_ok(&p));
	memcpy(header, ref, sizeof(ref));
	set_ip_csum(header, sizeof(header));
	assert_memory_equal(header, ref, sizeof(ref));

	p = build_pkt(&spec);
	assert_true(ip_csum_ok(&p) && l4_csum_ok(&p));
	put32(p.data + ETH_HLEN + 12, SOURCE_ADDR);
	assert_false(ip_csum_ok(&p));
	assert_false(l4_csum_ok(&p));
}

/* 1. A UDP query leaves from the container's address, to the server. */
static void test_udp_query_redirected(void **state)
{
	struct fixture *f = *state;
	struct pkt_spec spec = udp_query_spec();

	redirect_udp_query(f->skel, &spec);
}

/*
 * 2. A UDP query without a checksum (0). BPF_F_MARK_MANGLED_0 makes
 * bpf_l4_csum_replace skip a zero checksum, so it goes out as 0 ("none"),
 * which is valid UDP; a non-zero value here would be a wrong checksum.
 */
static void test_udp_query_no_checksum(void **state)
{
	struct fixture *f = *state;
	struct pkt_spec spec = udp_query_spec();
	struct pkt in, out;

	spec.udp_no_csum = true;
	in = build_pkt(&spec);
	assert_int_equal(l4_csum(&in), 0);
	assert_int_equal(run_prog(f->skel->progs.dnsredir_query, &in, &out), TC_ACT_REDIRECT);
	assert_int_equal(get32(ip_hdr(&out) + 12), SOURCE_ADDR);
	assert_int_equal(get32(ip_hdr(&out) + 16), SERVER_ADDR);
	assert_int_equal(get16(l4_hdr(&out) + 2), SERVER_PORT);
	assert_true(ip_csum_ok(&out));
	assert_int_equal(l4_csum(&out), 0);
}

/* 3. A TCP connection's SYN and data segment both go to the server. */
static void test_tcp_query_redirected(void **state)
{
	struct fixture *f = *state;
	struct flow_id key = flow_key(IPPROTO_TCP, CLIENT_PORT, 0);
	struct dnsredir_flow flow;
	const uint8_t segments[] = { TCP_SYN, TCP_ACK | TCP_PSH };

	for (size_t i = 0; i < sizeof(segments); i++) {
		struct pkt_spec spec = tcp_query_spec(segments[i]);
		struct pkt in = build_pkt(&spec), out;

		assert_true(l4_csum_ok(&in));
		assert_int_equal(run_prog(f->skel->progs.dnsredir_query, &in, &out),
				 TC_ACT_REDIRECT);
		assert_packet(&out, SOURCE_ADDR, CLIENT_PORT, SERVER_ADDR, SERVER_PORT);
		assert_same_elsewhere(&in, &out, true);

		/* one entry per connection, whatever DNS id the data carries */
		assert_true(flow_get(f->skel, &key, &flow));
		assert_int_equal(ntohl(flow.client_addr), CLIENT_ADDR);
		assert_int_equal(ntohs(flow.resolver_port), TCP_RESOLVER_PORT);
	}
	assert_int_equal(counter(f->skel, DNSREDIR_QUERIES_REDIRECTED), 2);
}

/* 4. The server's UDP answer becomes dockerd's answer, once. */
static void test_udp_reply_restored(void **state)
{
	struct fixture *f = *state;
	struct pkt_spec query = udp_query_spec(), reply = udp_reply_spec();
	struct flow_id key = flow_key(IPPROTO_UDP, CLIENT_PORT, DNS_ID);
	struct dnsredir_flow flow;
	struct pkt in, out;
	static const uint8_t zero_macs[2 * ETH_ALEN];

	redirect_udp_query(f->skel, &query);

	in = build_pkt(&reply);
	assert_int_equal(run_prog(f->skel->progs.dnsredir_reply, &in, &out), TC_ACT_REDIRECT);
	assert_packet(&out, RESOLVER_ADDR, UDP_RESOLVER_PORT, CLIENT_ADDR, CLIENT_PORT);
	/* lo's MAC is all zeroes: anything else is PACKET_OTHERHOST there */
	assert_memory_equal(out.data, zero_macs, sizeof(zero_macs));
	assert_same_elsewhere(&in, &out, false);
	assert_false(flow_get(f->skel, &key, &flow));
	assert_int_equal(counter(f->skel, DNSREDIR_REPLIES_RESTORED), 1);

	/* a duplicate (or a second spoofed answer) has nothing left to match */
	assert_untouched(f->skel->progs.dnsredir_reply, &in);
	assert_int_equal(counter(f->skel, DNSREDIR_REPLIES_RESTORED), 1);
	assert_int_equal(counter(f->skel, DNSREDIR_REPLIES_UNMATCHED), 1);
}

/*
 * 5. Replies that differ from the redirected query's flow in one field pass
 * untouched and leave the flow in place for the real answer.
 */
static void test_reply_without_flow_passes(void **state)
{
	struct fixture *f = *state;
	struct pkt_spec query = udp_query_spec();
	struct flow_id key = flow_key(IPPROTO_UDP, CLIENT_PORT, DNS_ID);
	struct dnsredir_flow flow;
	struct {
		const char *what;
		struct pkt_spec spec;
		bool from_server;	/* counted as an unmatched reply */
	} cases[] = {
		{ "other client port", udp_reply_spec(), true },
		{ "other DNS id", udp_reply_spec(), true },
		{ "other source address", udp_reply_spec(), false },
		{ "other source port", udp_reply_spec(), false },
		{ "other destination address", udp_reply_spec(), false },
		{ "TCP, no TCP flow", tcp_reply_spec(TCP_SYN | TCP_ACK), true },
	};
	uint64_t unmatched = 0;

	cases[0].spec.dport = CLIENT_PORT + 1;
	cases[1].spec.dns_id = DNS_ID + 1;
	cases[2].spec.saddr = IP4(192, 0, 2, 54);
	cases[3].spec.sport = 53;
	cases[4].spec.daddr = IP4(10, 0, 0, 3);

	redirect_udp_query(f->skel, &query);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt in = build_pkt(&cases[i].spec);

		print_message("reply with %s\n", cases[i].what);
		assert_untouched(f->skel->progs.dnsredir_reply, &in);
		unmatched += cases[i].from_server;
		assert_int_equal(counter(f->skel, DNSREDIR_REPLIES_UNMATCHED), unmatched);
		assert_true(flow_get(f->skel, &key, &flow));
	}
	assert_int_equal(counter(f->skel, DNSREDIR_REPLIES_RESTORED), 0);
}

/* 6. A TCP answer is restored, and the connection's flow stays for the next. */
static void test_tcp_reply_restored(void **state)
{
	struct fixture *f = *state;
	struct pkt_spec query = tcp_query_spec(TCP_SYN);
	struct flow_id key = flow_key(IPPROTO_TCP, CLIENT_PORT, 0);
	struct dnsredir_flow flow;
	const uint8_t segments[] = { TCP_SYN | TCP_ACK, TCP_ACK | TCP_PSH };
	struct pkt in = build_pkt(&query);

	assert_int_equal(run_prog(f->skel->progs.dnsredir_query, &in, NULL), TC_ACT_REDIRECT);
	for (size_t i = 0; i < sizeof(segments); i++) {
		struct pkt_spec reply = tcp_reply_spec(segments[i]);
		struct pkt out;

		in = build_pkt(&reply);
		assert_int_equal(run_prog(f->skel->progs.dnsredir_reply, &in, &out),
				 TC_ACT_REDIRECT);
		assert_packet(&out, RESOLVER_ADDR, TCP_RESOLVER_PORT, CLIENT_ADDR, CLIENT_PORT);
		assert_same_elsewhere(&in, &out, false);
		assert_true(flow_get(f->skel, &key, &flow));
	}
	assert_int_equal(counter(f->skel, DNSREDIR_REPLIES_RESTORED), 2);
}

/* 7. What the query program must never touch. */
static void test_query_passes_others(void **state)
{
	struct fixture *f = *state;
	struct bpf_program *prog = f->skel->progs.dnsredir_query;
	struct {
		const char *what;
		struct pkt_spec spec;
	} cases[] = {
		{ "IPv6 ethertype", udp_query_spec() },
		{ "ICMP to the resolver", udp_query_spec() },
		{ "UDP to 127.0.0.2", udp_query_spec() },
		{ "first fragment (MF)", udp_query_spec() },
		{ "non-first fragment", udp_query_spec() },
		{ "ihl 4", udp_query_spec() },
		{ "version 6 in IPv4", udp_query_spec() },
	};

	cases[0].spec.ethertype = ETH_P_IPV6;
	cases[1].spec.proto = IPPROTO_ICMP;
	cases[2].spec.daddr = IP4(127, 0, 0, 2);
	cases[3].spec.frag_off = IP_MF;
	cases[4].spec.frag_off = 185;	/* offset 1480 bytes, last fragment */
	cases[5].spec.ihl = 4;
	cases[6].spec.version = 6;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt in = build_pkt(&cases[i].spec);

		print_message("%s\n", cases[i].what);
		assert_untouched(prog, &in);
	}
	assert_no_flows(f->skel);
	assert_int_equal(counter(f->skel, DNSREDIR_QUERIES_REDIRECTED), 0);
}

/*
 * 7b. A query cut short anywhere before the DNS id the program reads: the
 * Ethernet header alone up to one byte short of the id.
 *
 * Newer kernels (6.18 here, not Debian 12's 6.1) refuse to test-run an IPv4
 * frame shorter than Ethernet + 20 bytes (EINVAL): those lengths are then not
 * testable, and accepted as refused.
 */
static void test_query_truncated_headers_pass(void **state)
{
	struct fixture *f = *state;
	struct pkt_spec spec = udp_query_spec();
	const struct pkt full = build_pkt(&spec);
	const uint32_t needed = ETH_HLEN + 20 + sizeof(struct udphdr) + 2;
	uint32_t refused = 0;

	for (uint32_t len = ETH_HLEN; len < needed; len++) {
		struct pkt in = full, out;
		uint32_t retval;
		int err;

		in.len = len;
		err = pkt_run(f->skel->progs.dnsredir_query, &in, &out, &retval);
		if (err == -EINVAL && len < ETH_HLEN + 20) {
			refused++;
			continue;
		}
		assert_int_equal(err, 0);
		assert_untouched_out(&in, &out, retval);
	}
	if (refused)
		print_message("the kernel refused to test-run %u frames shorter than %u bytes\n",
			      refused, ETH_HLEN + 20);
	assert_no_flows(f->skel);
}

/*
 * 7c. A query cut short after the DNS id, so shorter than its IP total
 * length. Such a packet is invalid (ip_rcv would drop it) and should pass
 * untouched for the kernel to drop; see the skip message when it does not.
 */
static void test_query_truncated_payload_passes(void **state)
{
	struct fixture *f = *state;
	struct pkt_spec spec = udp_query_spec();
	const struct pkt full = build_pkt(&spec);
	const uint32_t needed = ETH_HLEN + 20 + sizeof(struct udphdr) + 2;
	uint32_t redirected = 0;

	for (uint32_t len = needed; len < full.len; len++) {
		struct pkt in = full, out;
		uint32_t ret;

		in.len = len;
		ret = run_prog(f->skel->progs.dnsredir_query, &in, &out);
		if (ret == TC_ACT_OK) {
			assert_int_equal(out.len, in.len);
			assert_memory_equal(out.data, in.data, in.len);
		} else {
			assert_int_equal(ret, TC_ACT_REDIRECT);
			redirected++;
		}
	}
	assert_int_equal(redirected, 0);
}

/* 8. IP options move the transport header; the ports are read after them. */
static void test_query_with_ip_options(void **state)
{
	struct fixture *f = *state;
	struct pkt_spec spec = udp_query_spec();

	spec.ip_opt_words = 1;
	redirect_udp_query(f->skel, &spec);
}

/* 9. Without a configured server, queries are left to dockerd. */
static void test_query_unconfigured_passes(void **state)
{
	struct fixture *f = *state;
	struct dnsredir_config none;
	struct pkt_spec spec = udp_query_spec();
	struct pkt in = build_pkt(&spec);

	memset(&none, 0, sizeof(none));
	config_set(f->skel, &none);
	assert_untouched(f->skel->progs.dnsredir_query, &in);
	spec = tcp_query_spec(TCP_SYN);
	in = build_pkt(&spec);
	assert_untouched(f->skel->progs.dnsredir_query, &in);
	assert_no_flows(f->skel);
}

/*
 * Not a test: the programs' cost per packet, for information. The rewrite
 * path runs once per call because repeating it would re-run it on the
 * already-rewritten packet (which then passes); the pass path may repeat.
 */
static void bench_ns_per_packet(void **state)
{
	struct fixture *f = *state;
	struct pkt_spec query = udp_query_spec();
	struct pkt_spec other = udp_query_spec();
	struct pkt q, o, out;
	const int n = 2000;
	uint64_t total = 0;

	q = build_pkt(&query);
	other.daddr = IP4(127, 0, 0, 1);
	other.dport = 8080;
	o = build_pkt(&other);

	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = q.data, .data_size_in = q.len,
			.data_out = out.data, .data_size_out = sizeof(out.data),
			.repeat = 1,
		);

		assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(f->skel->progs.dnsredir_query),
							&opts), 0);
		assert_int_equal(opts.retval, TC_ACT_REDIRECT);
		total += opts.duration;
	}
	printf("dnsredir_query rewrite path: %.1f ns/packet (mean of %d runs, repeat=1)\n",
	       (double)total / n, n);

	/* the same way on the pass path, to show what one run alone costs */
	total = 0;
	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = o.data, .data_size_in = o.len,
			.repeat = 1,
		);

		assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(f->skel->progs.dnsredir_query),
							&opts), 0);
		total += opts.duration;
	}
	printf("dnsredir_query pass path:    %.1f ns/packet (mean of %d runs, repeat=1)\n",
	       (double)total / n, n);

	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = o.data, .data_size_in = o.len,
		.repeat = 1000,
	);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(f->skel->progs.dnsredir_query), &opts), 0);
	assert_int_equal(opts.retval, TC_ACT_OK);
	printf("dnsredir_query pass path:    %u ns/packet (repeat=1000, non-DNS UDP)\n",
	       opts.duration);
	fflush(stdout);
}

/* --------------------------------------------------------------- main */

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, args);
}

/* Exit 77 (skipped) when this process may not load BPF programs at all. */
static void skip_without_bpf(void)
{
	struct dnsredir *skel = dnsredir__open_and_load();

	if (skel) {
		dnsredir__destroy(skel);
		return;
	}
	if (errno == EPERM || geteuid() != 0) {
		printf("skip: cannot load BPF programs (%s); run as root\n", strerror(errno));
		exit(77);
	}
	/* anything else (a verifier rejection) is a failure the tests report */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_checksum_helpers),
		T(test_udp_query_redirected),
		T(test_udp_query_no_checksum),
		T(test_tcp_query_redirected),
		T(test_udp_reply_restored),
		T(test_reply_without_flow_passes),
		T(test_tcp_reply_restored),
		T(test_query_passes_others),
		T(test_query_truncated_headers_pass),
		T(test_query_truncated_payload_passes),
		T(test_query_with_ip_options),
		T(test_query_unconfigured_passes),
		T(bench_ns_per_packet),
	};

	libbpf_set_print(libbpf_print);
	skip_without_bpf();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
