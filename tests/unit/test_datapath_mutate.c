// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Mutation testing of the TC programs in bpf/dnsredir.bpf.c: about 20000
 * packets from a deterministic PRNG (random bytes, and valid UDP/TCP queries
 * and replies with bytes, bits, lengths, header fields, addresses, ports and
 * DNS ids changed), each run through both programs with BPF_PROG_TEST_RUN.
 *
 * A model written here, from the rules in the programs' comments and not
 * from their code, predicts every verdict:
 *
 *   query (lo ingress): TC_ACT_REDIRECT exactly for an IPv4 frame, version 4,
 *   ihl >= 5, not a fragment, with an IP total length that fits the frame,
 *   to 127.0.0.11, carrying UDP with at least 10 bytes of L4 (header + DNS
 *   id) or TCP with a full 20-byte header;
 *
 *   reply (egress ingress): the same shape, from the server's address and
 *   port to the container's source address, and a flow slot that matches
 *   (client port, DNS id, protocol), planted before through the flows map.
 *
 * Everything else must come back TC_ACT_OK and byte for byte as sent; a
 * redirected packet must have exactly the addresses and ports rewritten and
 * checksums that are still right when they were right before. No verdict but
 * OK, REDIRECT and SHOT may appear, and SHOT (a failed helper) never. A
 * shadow copy of the flow table, updated by the model, is compared with the
 * map as the run goes, and the counters with the model's counts at the end.
 *
 * The seed is fixed and printed; DNSREDIR_MUTATE_SEED and DNSREDIR_MUTATE_COUNT
 * change it and the number of packets, to reproduce or to go further. On a
 * failure the packet, its history of mutations and both verdicts are printed.
 *
 * Needs root (or CAP_BPF + CAP_NET_ADMIN); exits 77 (skipped) without it.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <cmocka.h>

#include "packet.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dnsredir.h"
#include "dnsredir.skel.h"

#define DEFAULT_SEED	0x5eed0d25dae5ULL
#define DEFAULT_COUNT	20000
#define RANDOM_LEN_MAX	200
#define HIST_MAX	12
#define SHADOW_EVERY	250	/* compare the whole flow table this often */

#define IP_OFF_MASK	0x3fff	/* MF and the fragment offset; DF and the reserved bit are not fragments */

/* ------------------------------------------------------------------ PRNG */

/* splitmix64: tiny, fast, and the same sequence on every machine. */
static uint64_t rng_state;

static uint64_t rnd64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint32_t rnd(uint32_t n)
{
	return n ? (uint32_t)(rnd64() % n) : 0;
}

/* True with probability pct/100. */
static bool chance(uint32_t pct)
{
	return rnd(100) < pct;
}

/* ---------------------------------------------------------------- packets */


/* What a generated packet is made from, for the history printed on failure. */
struct history {
	char steps[HIST_MAX][48];
	int n;
};

static void note(struct history *h, const char *fmt, ...)
{
	va_list ap;

	if (h->n >= HIST_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(h->steps[h->n++], sizeof(h->steps[0]), fmt, ap);
	va_end(ap);
}

/* The fields of a valid packet before it is mutated. */
struct base {
	bool reply;		/* server -> source; else client -> 127.0.0.11 */
	uint8_t proto;
	uint8_t opt_words;	/* IP options, in 32-bit words of NOPs */
	uint32_t saddr, daddr;
	uint16_t sport, dport, dns_id;
	uint8_t tcp_flags;
	bool udp_no_csum;
};

static size_t put_dns(uint8_t *p, uint16_t id, bool reply)
{
	static const uint8_t question[] = {
		7, 't', 'e', 's', 't', 'i', 'n', 'g', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
	};
	static const uint8_t answer[] = {
		0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 99, 0, 1,
	};
	size_t len = 12;

	put16(p, id);
	put16(p + 2, reply ? 0x8180 : 0x0100);
	put16(p + 4, 1);
	put16(p + 6, reply ? 1 : 0);
	memset(p + 8, 0, 4);
	memcpy(p + len, question, sizeof(question));
	len += sizeof(question);
	if (reply) {
		memcpy(p + len, answer, sizeof(answer));
		len += sizeof(answer);
	}
	return len;
}

static void set_ip_csum(uint8_t *iph, size_t hlen)
{
	put16(iph + 10, 0);
	put16(iph + 10, (uint16_t)~fold(sum16(iph, hlen, 0)));
}

static size_t csum_field(uint8_t proto)
{
	return proto == IPPROTO_TCP ? 16 : 6;
}

/* Sum of the pseudo-header and the L4 bytes tot_len says there are (within the frame). */
static uint32_t l4_sum(const struct pkt *p, size_t ihl_len, size_t l4_len)
{
	const uint8_t *iph = p->data + ETH_HLEN;
	uint8_t pseudo[12];

	memcpy(pseudo, iph + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = iph[9];
	put16(pseudo + 10, (uint16_t)l4_len);
	return sum16(iph + ihl_len, l4_len, sum16(pseudo, sizeof(pseudo), 0));
}

static struct pkt build(const struct base *b)
{
	struct pkt p = { .len = 0 };
	uint8_t *eth = p.data, *iph = eth + ETH_HLEN, *l4;
	size_t ihl = 5 + b->opt_words, len;
	uint16_t csum;

	for (int i = 0; i < 2 * ETH_ALEN; i++)
		eth[i] = (uint8_t)(0x02 + i);
	put16(eth + 2 * ETH_ALEN, ETH_P_IP);
	memset(iph + 20, 0x01, b->opt_words * 4);
	l4 = iph + ihl * 4;
	put16(l4, b->sport);
	put16(l4 + 2, b->dport);
	if (b->proto == IPPROTO_UDP) {
		len = 8 + put_dns(l4 + 8, b->dns_id, b->reply);
		put16(l4 + 4, (uint16_t)len);
	} else {
		put32(l4 + 4, (uint32_t)rnd64());
		put32(l4 + 8, b->tcp_flags & TCP_ACK ? (uint32_t)rnd64() : 0);
		l4[12] = 5 << 4;
		l4[13] = b->tcp_flags;
		put16(l4 + 14, 65535);
		len = 20;
		if (!(b->tcp_flags & TCP_SYN)) {
			size_t dns = put_dns(l4 + 22, b->dns_id, b->reply);

			put16(l4 + 20, (uint16_t)dns);
			len += 2 + dns;
		}
	}
	iph[0] = (uint8_t)(0x40 | ihl);
	iph[1] = 0;
	put16(iph + 2, (uint16_t)(ihl * 4 + len));
	put16(iph + 4, (uint16_t)rnd64());
	put16(iph + 6, chance(50) ? 0x4000 : 0);	/* DF: not a fragment */
	iph[8] = 64;
	iph[9] = b->proto;
	put32(iph + 12, b->saddr);
	put32(iph + 16, b->daddr);
	set_ip_csum(iph, ihl * 4);
	p.len = (uint32_t)(ETH_HLEN + ihl * 4 + len);

	put16(l4 + csum_field(b->proto), 0);
	csum = (uint16_t)~fold(l4_sum(&p, ihl * 4, len));
	if (b->proto == IPPROTO_UDP && (b->udp_no_csum || csum == 0))
		csum = b->udp_no_csum ? 0 : 0xffff;
	put16(l4 + csum_field(b->proto), csum);
	return p;
}

/* ---------------------------------------------------------- the model */

/* The flow table as the model expects it, slot by slot. */
static struct dnsredir_flow shadow[DNSREDIR_FLOW_SLOTS];

static uint32_t slot_of(uint16_t client_port, uint16_t dns_id)
{
	return dnsredir_flow_slot(htons(client_port), htons(dns_id));
}

/* What the model reads out of a frame, without trusting any of it. */
struct shape {
	bool ipv4;		/* ethertype IPv4 and a whole 20-byte IP header in the frame */
	bool well_formed;	/* the rest: version, ihl, not a fragment, lengths, L4 */
	uint32_t saddr, daddr;
	uint8_t proto;
	size_t ihl_len, l4_len;	/* l4_len: what tot_len leaves for L4 */
	uint16_t sport, dport, dns_id;
	bool l4_past_tot_len;	/* the L4 fields are in the frame, but past tot_len */
	const char *why;	/* why it is not well formed */
};

static struct shape inspect(const struct pkt *p)
{
	const uint8_t *iph = p->data + ETH_HLEN;
	struct shape s = { .why = "ok" };
	size_t tot_len, l4_need;
	uint16_t frag;

	if (p->len < ETH_HLEN || get16(p->data + 2 * ETH_ALEN) != ETH_P_IP) {
		s.why = "not IPv4";
		return s;
	}
	if (p->len < ETH_HLEN + 20) {
		s.why = "IP header cut";
		return s;
	}
	s.ipv4 = true;
	s.saddr = get32(iph + 12);
	s.daddr = get32(iph + 16);
	s.proto = iph[9];
	s.ihl_len = (iph[0] & 0x0f) * 4u;
	tot_len = get16(iph + 2);
	frag = get16(iph + 6);

	if (iph[0] >> 4 != 4) {
		s.why = "version";
		return s;
	}
	if (s.ihl_len < 20) {
		s.why = "ihl < 5";
		return s;
	}
	if (frag & IP_OFF_MASK) {
		s.why = "fragment";
		return s;
	}
	if (tot_len < s.ihl_len || ETH_HLEN + tot_len > p->len) {
		s.why = "tot_len";
		return s;
	}
	s.l4_len = tot_len - s.ihl_len;
	/* for the failure messages: the fields as the programs would read them */
	if (ETH_HLEN + s.ihl_len + 4 <= p->len) {
		s.sport = get16(iph + s.ihl_len);
		s.dport = get16(iph + s.ihl_len + 2);
	}
	if (s.proto == IPPROTO_UDP && ETH_HLEN + s.ihl_len + 10 <= p->len)
		s.dns_id = get16(iph + s.ihl_len + 8);
	if (s.proto == IPPROTO_UDP)
		l4_need = 8 + 2;	/* the header and the DNS id */
	else if (s.proto == IPPROTO_TCP)
		l4_need = 20;
	else {
		s.why = "protocol";
		return s;
	}
	if (ETH_HLEN + s.ihl_len + l4_need > p->len) {
		s.why = "L4 cut by the frame";
		return s;
	}
	/*
	 * and in the IP packet: a frame may be longer than tot_len (Ethernet
	 * pads to 60 bytes), and what lies past tot_len is not the packet's
	 */
	if (s.l4_len < l4_need) {
		s.why = "L4 cut by tot_len";
		s.l4_past_tot_len = true;
		return s;
	}
	s.sport = get16(iph + s.ihl_len);
	s.dport = get16(iph + s.ihl_len + 2);
	s.dns_id = s.proto == IPPROTO_UDP ? get16(iph + s.ihl_len + 8) : 0;
	s.well_formed = true;
	return s;
}

enum verdict_class { V_OK, V_REDIRECT, V_SHOT, V_OTHER, V_EINVAL, V_MAX };
static const char *const class_names[V_MAX] = { "TC_ACT_OK", "TC_ACT_REDIRECT", "TC_ACT_SHOT",
						 "other", "EINVAL (frame too short to run)" };

struct stats {
	uint64_t verdicts[2][V_MAX];	/* [0] query, [1] reply */
	uint64_t source[8];
	/* counter predictions */
	uint64_t redirected, restored, unmatched, passed;
	uint64_t l4_past_tot_len;	/* addressed packets whose L4 fields lie past tot_len */
	uint64_t csum_checked_ip, csum_checked_l4;
};

/* ------------------------------------------------------------- kernel */

static struct dnsredir *skel;
static struct stats st;

static int counter_read(enum dnsredir_counter which, uint64_t *sum)
{
	int ncpus = libbpf_num_possible_cpus();
	__u32 key = which;
	uint64_t values[1024];

	if (ncpus <= 0 || ncpus > 1024)
		return -1;
	if (bpf_map__lookup_elem(skel->maps.counters, &key, sizeof(key), values,
				 ncpus * sizeof(uint64_t), 0))
		return -1;
	*sum = 0;
	for (int i = 0; i < ncpus; i++)
		*sum += values[i];
	return 0;
}

static void flow_write(uint32_t slot, const struct dnsredir_flow *flow)
{
	assert_int_equal(bpf_map__update_elem(skel->maps.flows, &slot, sizeof(slot), flow,
					      sizeof(*flow), BPF_ANY), 0);
	shadow[slot] = *flow;
}

static void flow_read(uint32_t slot, struct dnsredir_flow *flow)
{
	assert_int_equal(bpf_map__lookup_elem(skel->maps.flows, &slot, sizeof(slot), flow,
					      sizeof(*flow), 0), 0);
}

/* The whole flow table against the shadow, slot by slot. */
static void shadow_compare(void)
{
	static struct dnsredir_flow table[DNSREDIR_FLOW_SLOTS];
	static __u32 keys[DNSREDIR_FLOW_SLOTS];
	__u32 count = DNSREDIR_FLOW_SLOTS, out_batch = 0;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int err, fd = bpf_map__fd(skel->maps.flows);

	err = bpf_map_lookup_batch(fd, NULL, &out_batch, keys, table, &count, &opts);
	if (err && errno != ENOENT) {
		/* no batch op: one by one */
		for (__u32 slot = 0; slot < DNSREDIR_FLOW_SLOTS; slot++)
			flow_read(slot, &table[slot]);
		count = DNSREDIR_FLOW_SLOTS;
		for (__u32 slot = 0; slot < DNSREDIR_FLOW_SLOTS; slot++)
			keys[slot] = slot;
	}
	assert_int_equal(count, DNSREDIR_FLOW_SLOTS);
	for (__u32 i = 0; i < count; i++) {
		if (memcmp(&table[i], &shadow[keys[i]], sizeof(table[i]))) {
			print_error("flow slot %u differs from the model: proto %u port %u id %#x, expected proto %u port %u id %#x\n",
				    keys[i], table[i].proto, ntohs(table[i].client_port),
				    ntohs(table[i].dns_id), shadow[keys[i]].proto,
				    ntohs(shadow[keys[i]].client_port), ntohs(shadow[keys[i]].dns_id));
			fail();
		}
	}
}

/* --------------------------------------------------------- generation */

static uint32_t pick_addr(void)
{
	static const uint32_t addrs[] = {
		CLIENT_ADDR, RESOLVER_ADDR, SERVER_ADDR, SOURCE_ADDR, IP4(127, 0, 0, 12),
		IP4(10, 0, 0, 3), IP4(192, 0, 2, 54), 0,
	};

	return chance(80) ? addrs[rnd(sizeof(addrs) / sizeof(addrs[0]))] : (uint32_t)rnd64();
}

static uint16_t pick_port(const struct base *b)
{
	static const uint16_t ports[] = { SERVER_PORT, 53, 0, 65535 };

	switch (rnd(4)) {
	case 0: return b->sport;
	case 1: return b->dport;
	case 2: return ports[rnd(sizeof(ports) / sizeof(ports[0]))];
	}
	return (uint16_t)rnd64();
}

/* One valid query or reply, with a flow planted for a reply most of the time. */
static struct pkt make_base(struct base *b, struct history *h)
{
	memset(b, 0, sizeof(*b));
	b->reply = chance(50);
	b->proto = chance(60) ? IPPROTO_UDP : IPPROTO_TCP;
	b->opt_words = chance(20) ? (uint8_t)(1 + rnd(3)) : 0;
	b->dns_id = (uint16_t)rnd64();
	b->tcp_flags = chance(30) ? TCP_SYN | (b->reply ? TCP_ACK : 0) : TCP_ACK | TCP_PSH;
	b->udp_no_csum = b->proto == IPPROTO_UDP && chance(10);
	if (b->reply) {
		b->saddr = SERVER_ADDR;
		b->daddr = SOURCE_ADDR;
		b->sport = SERVER_PORT;
		b->dport = (uint16_t)(1024 + rnd(64512));
	} else {
		b->saddr = chance(90) ? CLIENT_ADDR : IP4(127, 0, 0, 1 + rnd(254));
		b->daddr = RESOLVER_ADDR;
		b->sport = (uint16_t)(1024 + rnd(64512));
		b->dport = (uint16_t)(30000 + rnd(30000));
	}
	note(h, "%s %s%s id=%#x %u->%u opt=%u", b->reply ? "reply" : "query",
	     b->proto == IPPROTO_UDP ? "udp" : "tcp", b->udp_no_csum ? "(no csum)" : "",
	     b->dns_id, b->sport, b->dport, b->opt_words);

	if (b->reply) {
		uint16_t id = b->proto == IPPROTO_UDP ? b->dns_id : 0;
		uint32_t slot = slot_of(b->dport, id);
		struct dnsredir_flow flow = {
			.client_port = htons(b->dport),
			.dns_id = htons(id),
			.proto = b->proto,
			.resolver_port = htons((uint16_t)(30000 + rnd(30000))),
			.client_addr = htonl(chance(90) ? CLIENT_ADDR : (uint32_t)rnd64()),
		};
		uint32_t r = rnd(100);

		if (r < 70) {
			note(h, "plant flow slot %u", slot);
			flow_write(slot, &flow);
		} else if (r < 85) {
			/* a near miss in the same slot */
			switch (rnd(3)) {
			case 0: flow.proto = b->proto == IPPROTO_UDP ? IPPROTO_TCP : IPPROTO_UDP; break;
			case 1: flow.client_port = htons(b->dport ^ 1); break;
			default: flow.dns_id = htons(id ^ 0x100); break;
			}
			note(h, "plant near-miss slot %u", slot);
			flow_write(slot, &flow);
		} else if (r < 92) {
			flow.proto = 0;	/* freed */
			note(h, "free slot %u", slot);
			flow_write(slot, &flow);
		}
	}
	return build(b);
}

static void mutate(struct pkt *p, const struct base *b, struct history *h)
{
	uint8_t *iph = p->data + ETH_HLEN;
	size_t ihl_len = (iph[0] & 0x0f) * 4u;
	uint8_t *l4 = iph + ihl_len;
	uint32_t pos;

	switch (rnd(16)) {
	case 0:
		if (!p->len)
			break;
		pos = rnd(p->len);
		p->data[pos] ^= (uint8_t)(1 << rnd(8));
		note(h, "flip bit in byte %u", pos);
		break;
	case 1:
		if (!p->len)
			break;
		pos = rnd(p->len);
		p->data[pos] = (uint8_t)rnd64();
		note(h, "byte %u = %#x", pos, p->data[pos]);
		break;
	case 2:
		p->len = rnd(p->len + 1);
		note(h, "truncate to %u", p->len);
		break;
	case 3: {
		uint32_t n = rnd(RANDOM_LEN_MAX + 1);

		for (uint32_t i = p->len; i < n; i++)
			p->data[i] = chance(50) ? 0 : (uint8_t)rnd64();
		if (n > p->len)
			p->len = n;
		note(h, "pad to %u", p->len);
		break;
	}
	case 4:
		iph[0] = (uint8_t)((iph[0] & 0xf0) | rnd(16));
		if (chance(50))
			set_ip_csum(iph, 20);
		note(h, "ihl %u", iph[0] & 0x0f);
		break;
	case 5:
		iph[0] = (uint8_t)((iph[0] & 0x0f) | rnd(16) << 4);
		note(h, "version %u", iph[0] >> 4);
		break;
	case 6: {
		uint16_t tot = get16(iph + 2);
		int delta = (int)rnd(41) - 20;

		switch (rnd(3)) {
		case 0: tot = (uint16_t)(tot + delta); break;
		case 1: tot = (uint16_t)rnd64(); break;
		default: tot = (uint16_t)(ihl_len + rnd(24)); break;	/* short L4 */
		}
		put16(iph + 2, tot);
		if (chance(50))
			set_ip_csum(iph, ihl_len <= 60 ? ihl_len : 20);
		note(h, "tot_len %u", tot);
		break;
	}
	case 7: {
		static const uint16_t frags[] = { 0x2000, 0x0001, 0x00b9, 0x1fff, 0x4000, 0x8000, 0x6000, 0x2001 };
		uint16_t f = chance(70) ? frags[rnd(8)] : (uint16_t)rnd64();

		put16(iph + 6, f);
		note(h, "frag_off %#x", f);
		break;
	}
	case 8: {
		static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP, IPPROTO_ICMP, IPPROTO_UDPLITE, 0, 255 };

		iph[9] = chance(70) ? protos[rnd(6)] : (uint8_t)rnd64();
		note(h, "protocol %u", iph[9]);
		break;
	}
	case 9: {
		uint32_t a = pick_addr();

		put32(iph + 12, a);
		note(h, "saddr %#x", a);
		break;
	}
	case 10: {
		uint32_t a = pick_addr();

		put32(iph + 16, a);
		note(h, "daddr %#x", a);
		break;
	}
	case 11: {
		uint16_t port = pick_port(b);

		if ((size_t)(l4 + 2 - p->data) <= sizeof(p->data))
			put16(l4, port);
		note(h, "sport %u", port);
		break;
	}
	case 12: {
		uint16_t port = pick_port(b);

		if ((size_t)(l4 + 4 - p->data) <= sizeof(p->data))
			put16(l4 + 2, port);
		note(h, "dport %u", port);
		break;
	}
	case 13: {
		uint16_t id = chance(50) ? (uint16_t)(b->dns_id + rnd(3) - 1) : (uint16_t)rnd64();
		size_t off = b->proto == IPPROTO_UDP ? 8 : 22;

		if ((size_t)(l4 + off + 2 - p->data) <= sizeof(p->data))
			put16(l4 + off, id);
		note(h, "dns id %#x", id);
		break;
	}
	case 14: {
		static const uint16_t types[] = { ETH_P_IPV6, ETH_P_ARP, ETH_P_8021Q, 0x0801, 0x0008, 0x0000 };
		uint16_t t = chance(70) ? types[rnd(6)] : (uint16_t)rnd64();

		if (p->len >= ETH_HLEN) {
			put16(p->data + 2 * ETH_ALEN, t);
			note(h, "ethertype %#x", t);
		}
		break;
	}
	default:
		/* the other packet's direction: a query from the server, a reply to 127.0.0.11 */
		put32(iph + 12, b->reply ? CLIENT_ADDR : SERVER_ADDR);
		put32(iph + 16, b->reply ? RESOLVER_ADDR : SOURCE_ADDR);
		note(h, "swap direction");
		break;
	}
}

/* Random bytes, or random bytes dressed as IPv4 toward one of the programs. */
static struct pkt make_random(struct history *h)
{
	struct pkt p;
	uint32_t kind = rnd(4);

	p.len = rnd(RANDOM_LEN_MAX + 1);
	for (uint32_t i = 0; i < sizeof(p.data); i++)
		p.data[i] = (uint8_t)rnd64();
	if (kind >= 1 && p.len >= ETH_HLEN)
		put16(p.data + 2 * ETH_ALEN, ETH_P_IP);
	if (kind >= 2 && p.len >= ETH_HLEN + 20) {
		uint8_t *iph = p.data + ETH_HLEN;

		iph[0] = chance(80) ? 0x45 : (uint8_t)(0x40 | rnd(16));
		put16(iph + 6, chance(70) ? 0 : (uint16_t)rnd64());
		if (chance(80))
			put16(iph + 2, (uint16_t)(p.len - ETH_HLEN - rnd(8)));
		iph[9] = chance(50) ? IPPROTO_UDP : IPPROTO_TCP;
		if (kind == 2) {
			put32(iph + 16, RESOLVER_ADDR);
		} else {
			put32(iph + 12, SERVER_ADDR);
			put32(iph + 16, SOURCE_ADDR);
			if (p.len >= ETH_HLEN + 24 && chance(70))
				put16(iph + (iph[0] & 0x0f) * 4, SERVER_PORT);
		}
	}
	note(h, "random bytes kind %u len %u", kind, p.len);
	return p;
}

/* ------------------------------------------------------------- checks */

static void dump(const char *what, const struct pkt *p)
{
	char line[3 * 16 + 1];

	print_error("%s (%u bytes):\n", what, p->len);
	for (uint32_t i = 0; i < p->len; i += 16) {
		size_t n = 0;

		for (uint32_t j = i; j < p->len && j < i + 16; j++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %02x", p->data[j]);
		print_error("  %04x:%s\n", i, line);
	}
}

static uint64_t packet_no, seed_used;

static void explain(const struct history *h, const struct pkt *in, const struct shape *s,
		    const char *prog, uint32_t retval, int err, const char *problem)
{
	print_error("seed %#" PRIx64 ", packet %" PRIu64 ", %s: %s\n", seed_used, packet_no, prog, problem);
	print_error("test_run %d, verdict %u; model: ipv4=%d well_formed=%d (%s) src %#x dst %#x proto %u %u->%u id %#x\n",
		    err, retval, s->ipv4, s->well_formed, s->why,
		    s->saddr, s->daddr, s->proto, s->sport, s->dport, s->dns_id);
	for (int i = 0; i < h->n; i++)
		print_error("  step %d: %s\n", i, h->steps[i]);
	dump("input", in);
}

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			char _msg[200];					\
			snprintf(_msg, sizeof(_msg), __VA_ARGS__);	\
			explain(h, in, s, prog, retval, err, _msg);	\
			fail();						\
		}							\
	} while (0)

/*
 * The frame lengths the kernel refuses to test-run at all: shorter than
 * Ethernet, or an IPv4/IPv6 ethertype with less than its base header
 * (newer kernels only). Anything else refused is a failure.
 */
static bool refusal_ok(const struct pkt *in)
{
	uint16_t type;

	if (in->len < ETH_HLEN)
		return true;
	type = get16(in->data + 2 * ETH_ALEN);
	return (type == ETH_P_IP && in->len < ETH_HLEN + 20) ||
	       (type == ETH_P_IPV6 && in->len < ETH_HLEN + 40);
}

/* Everything outside [from, from + n) of two equally long frames is the same. */
static bool same_except(const struct pkt *a, const struct pkt *b, const size_t *holes, size_t nholes)
{
	for (uint32_t i = 0; i < a->len; i++) {
		bool hole = false;

		for (size_t k = 0; k < nholes; k++)
			hole |= i >= holes[2 * k] && i < holes[2 * k] + holes[2 * k + 1];
		if (!hole && a->data[i] != b->data[i])
			return false;
	}
	return true;
}

/*
 * A redirected packet: the expected addresses and port, nothing else changed
 * but the two checksums (and the MACs for a reply), and each checksum still
 * right if it was right before.
 */
static void check_rewrite(const struct history *h, const struct pkt *in, const struct shape *s,
			  const char *prog, uint32_t retval, int err, const struct pkt *out,
			  bool reply, const struct dnsredir_flow *flow)
{
	const uint8_t *oip = out->data + ETH_HLEN, *ol4 = oip + s->ihl_len;
	size_t l4 = ETH_HLEN + s->ihl_len, csum = l4 + csum_field(s->proto);
	size_t holes[] = {
		ETH_HLEN + 10, 10,	/* IP checksum, saddr, daddr */
		l4, 4,			/* ports */
		csum, 2,
		0, 2 * ETH_ALEN,	/* MACs, for a reply */
	};
	bool udp_none = s->proto == IPPROTO_UDP && get16(in->data + csum) == 0;

	CHECK(out->len == in->len, "redirected frame is %u bytes, sent %u", out->len, in->len);
	if (reply) {
		static const uint8_t zero[2 * ETH_ALEN];

		CHECK(get32(oip + 12) == RESOLVER_ADDR, "restored source %#x", get32(oip + 12));
		CHECK(get32(oip + 16) == ntohl(flow->client_addr), "restored destination %#x", get32(oip + 16));
		CHECK(get16(ol4) == ntohs(flow->resolver_port), "restored source port %u", get16(ol4));
		CHECK(get16(ol4 + 2) == s->dport, "restored destination port %u", get16(ol4 + 2));
		CHECK(!memcmp(out->data, zero, sizeof(zero)), "restored reply's MACs are not zero");
	} else {
		CHECK(get32(oip + 12) == SOURCE_ADDR, "redirected source %#x", get32(oip + 12));
		CHECK(get32(oip + 16) == SERVER_ADDR, "redirected destination %#x", get32(oip + 16));
		CHECK(get16(ol4) == s->sport, "redirected source port %u", get16(ol4));
		CHECK(get16(ol4 + 2) == SERVER_PORT, "redirected destination port %u", get16(ol4 + 2));
	}
	CHECK(same_except(in, out, holes, reply ? 4 : 3), "bytes changed outside addresses, ports and checksums");

	if (fold(sum16(in->data + ETH_HLEN, s->ihl_len, 0)) == 0xffff) {
		st.csum_checked_ip++;
		CHECK(fold(sum16(oip, s->ihl_len, 0)) == 0xffff, "IP checksum was right, is wrong");
	}
	if (udp_none) {
		CHECK(get16(out->data + csum) == 0, "UDP checksum 0 (none) became %#x", get16(out->data + csum));
	} else if (s->l4_len >= csum_field(s->proto) + 2 &&
		   fold(l4_sum(in, s->ihl_len, s->l4_len)) == 0xffff) {
		st.csum_checked_l4++;
		CHECK(fold(l4_sum(out, s->ihl_len, s->l4_len)) == 0xffff, "L4 checksum was right, is wrong");
	}
}

static enum verdict_class classify(int err, uint32_t retval)
{
	if (err == -EINVAL)
		return V_EINVAL;
	if (err)
		return V_OTHER;
	switch (retval) {
	case TC_ACT_OK: return V_OK;
	case TC_ACT_REDIRECT: return V_REDIRECT;
	case TC_ACT_SHOT: return V_SHOT;
	}
	return V_OTHER;
}

/* Runs one program on one packet and holds the verdict against the model. */
static void check_one(bool reply, const struct pkt *in, const struct history *h)
{
	struct bpf_program *bprog = reply ? skel->progs.dnsredir_reply : skel->progs.dnsredir_query;
	const char *prog = reply ? "dnsredir_reply" : "dnsredir_query";
	struct shape shape = inspect(in), *s = &shape;
	struct dnsredir_flow flow = {}, kflow;
	bool addressed, expect_redirect, slot_known = false;
	uint32_t retval = 0, slot = 0;
	enum verdict_class v;
	struct pkt out;
	int err;

	if (reply)
		addressed = s->ipv4 && s->saddr == SERVER_ADDR && s->daddr == SOURCE_ADDR;
	else
		addressed = s->ipv4 && s->daddr == RESOLVER_ADDR;
	expect_redirect = addressed && s->well_formed;
	if (expect_redirect && reply) {
		expect_redirect = s->sport == SERVER_PORT;
		if (expect_redirect) {
			slot = slot_of(s->dport, s->dns_id);
			slot_known = true;
			/* the map first, then the model: the model must say what the kernel holds */
			flow_read(slot, &kflow);
			flow = shadow[slot];
			err = 0;
			CHECK(!memcmp(&kflow, &flow, sizeof(flow)), "flow slot %u before the run is not the model's", slot);
			expect_redirect = flow.proto == s->proto && flow.client_port == htons(s->dport) &&
					  flow.dns_id == htons(s->dns_id);
		}
	}

	err = pkt_run(bprog, in, &out, &retval);
	v = classify(err, retval);
	st.verdicts[reply][v]++;

	if (v == V_EINVAL) {
		CHECK(refusal_ok(in), "the kernel refused to run a %u-byte frame", in->len);
		return;
	}
	CHECK(v != V_OTHER, "test_run failed or gave an unknown verdict");
	CHECK(v != V_SHOT, "TC_ACT_SHOT on generated input");

	st.l4_past_tot_len += addressed && s->l4_past_tot_len;
	CHECK(v == (expect_redirect ? V_REDIRECT : V_OK), "expected %s%s",
	      expect_redirect ? "TC_ACT_REDIRECT" : "TC_ACT_OK, untouched",
	      v == V_REDIRECT && s->l4_past_tot_len ?
	      " (the L4 fields it read lie past the IP total length, in the frame's padding)" : "");

	/* the counters, predicted packet by packet */
	if (addressed && !s->well_formed && s->ipv4)
		st.passed++;
	if (v == V_REDIRECT)
		reply ? st.restored++ : st.redirected++;
	else if (reply && addressed && s->well_formed && s->sport == SERVER_PORT)
		st.unmatched++;

	if (v == V_OK) {
		CHECK(out.len == in->len && !memcmp(out.data, in->data, in->len),
		      "TC_ACT_OK but the packet was changed");
		return;
	}

	check_rewrite(h, in, s, prog, retval, err, &out, reply, &flow);
	/* the flow table, as the model changes it */
	if (reply) {
		if (flow.proto == IPPROTO_UDP)
			shadow[slot].proto = 0;
	} else {
		slot = slot_of(s->sport, s->dns_id);
		slot_known = true;
		shadow[slot].client_port = htons(s->sport);
		shadow[slot].dns_id = htons(s->dns_id);
		shadow[slot].proto = s->proto;
		shadow[slot].resolver_port = htons(s->dport);
		shadow[slot].client_addr = htonl(s->saddr);
	}
	if (slot_known) {
		flow_read(slot, &kflow);
		CHECK(!memcmp(&kflow, &shadow[slot], sizeof(kflow)), "flow slot %u after the run is not the model's", slot);
	}
}

/* ------------------------------------------------------------------ test */

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static void test_mutations(void **state)
{
	static const char *const sources[] = { "random bytes", "valid, unmutated", "mutated" };
	uint64_t seed = env_u64("DNSREDIR_MUTATE_SEED", DEFAULT_SEED);
	uint64_t n = env_u64("DNSREDIR_MUTATE_COUNT", DEFAULT_COUNT);
	struct dnsredir_config cfg = {
		.server_addr = htonl(SERVER_ADDR),
		.source_addr = htonl(SOURCE_ADDR),
		.server_port = htons(SERVER_PORT),
		.egress_ifindex = EGRESS_IFINDEX,
		.lo_ifindex = LO_IFINDEX,
	};
	struct timespec t0, t1;
	uint64_t value;
	__u32 zero = 0;

	assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, sizeof(zero), &cfg,
					      sizeof(cfg), BPF_ANY), 0);
	printf("seed %#" PRIx64 " (DNSREDIR_MUTATE_SEED), %" PRIu64 " packets (DNSREDIR_MUTATE_COUNT)\n",
	       seed, n);
	fflush(stdout);
	rng_state = seed_used = seed;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	for (packet_no = 0; packet_no < n; packet_no++) {
		struct history h = { .n = 0 };
		struct base b;
		struct pkt p;
		uint32_t r = rnd(100), src;

		if (r < 25) {
			src = 0;
			p = make_random(&h);
		} else {
			p = make_base(&b, &h);
			src = r < 30 ? 1 : 2;
			if (src == 2) {
				uint32_t steps = 1 + rnd(chance(70) ? 2 : 5);

				for (uint32_t i = 0; i < steps; i++)
					mutate(&p, &b, &h);
			}
		}
		st.source[src]++;
		/* both programs, in the order a packet could meet them */
		check_one(false, &p, &h);
		check_one(true, &p, &h);
		if (packet_no % SHADOW_EVERY == SHADOW_EVERY - 1)
			shadow_compare();
	}
	shadow_compare();
	clock_gettime(CLOCK_MONOTONIC, &t1);

	printf("%" PRIu64 " packets in %.2f s: ", n,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	for (int i = 0; i < 3; i++)
		printf("%s%s %" PRIu64, i ? ", " : "", sources[i], st.source[i]);
	printf("\n");
	for (int prog = 0; prog < 2; prog++) {
		printf("%-15s", prog ? "dnsredir_reply" : "dnsredir_query");
		for (int v = 0; v < V_MAX; v++)
			printf("  %s %" PRIu64, class_names[v], st.verdicts[prog][v]);
		printf("\n");
	}
	printf("checksums followed through a rewrite: IP %" PRIu64 ", L4 %" PRIu64 "\n",
	       st.csum_checked_ip, st.csum_checked_l4);
	printf("addressed frames whose L4 fields lie past the IP total length: %" PRIu64 "\n",
	       st.l4_past_tot_len);
	fflush(stdout);

	/* no verdict but these, and never SHOT */
	for (int prog = 0; prog < 2; prog++) {
		assert_int_equal(st.verdicts[prog][V_SHOT], 0);
		assert_int_equal(st.verdicts[prog][V_OTHER], 0);
	}
	/* the run exercised what it claims: both verdicts on both programs, often */
	for (int prog = 0; prog < 2 && n >= DEFAULT_COUNT; prog++) {
		assert_true(st.verdicts[prog][V_REDIRECT] >= n / 50);
		assert_true(st.verdicts[prog][V_OK] >= n / 4);
	}
	if (n >= DEFAULT_COUNT) {
		assert_true(st.unmatched >= n / 200);
		assert_true(st.passed >= n / 200);
		assert_true(st.csum_checked_l4 >= n / 50);
	}

	/* the counters agree with the model */
	assert_int_equal(counter_read(DNSREDIR_QUERIES_REDIRECTED, &value), 0);
	assert_int_equal(value, st.redirected);
	assert_int_equal(counter_read(DNSREDIR_REPLIES_RESTORED, &value), 0);
	assert_int_equal(value, st.restored);
	assert_int_equal(counter_read(DNSREDIR_REPLIES_UNMATCHED, &value), 0);
	assert_int_equal(value, st.unmatched);
	assert_int_equal(counter_read(DNSREDIR_PASSED, &value), 0);
	assert_int_equal(value, st.passed);
	assert_int_equal(counter_read(DNSREDIR_ERRORS, &value), 0);
	assert_int_equal(value, 0);
	printf("counters: redirected %" PRIu64 " restored %" PRIu64 " unmatched %" PRIu64
	       " passed %" PRIu64 " errors 0, as the model predicts\n",
	       st.redirected, st.restored, st.unmatched, st.passed);
}

/* ------------------------------------------------------------------ main */

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, args);
}

static int setup(void **state)
{
	skel = dnsredir__open_and_load();
	if (!skel) {
		fprintf(stderr, "dnsredir__open_and_load: %s\n", strerror(errno));
		return -1;
	}
	memset(shadow, 0, sizeof(shadow));
	memset(&st, 0, sizeof(st));
	return 0;
}

static int teardown(void **state)
{
	dnsredir__destroy(skel);
	skel = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mutations, setup, teardown),
	};
	struct dnsredir *probe;

	libbpf_set_print(libbpf_print);
	probe = dnsredir__open_and_load();
	if (!probe) {
		if (errno == EPERM || geteuid() != 0) {
			printf("skip: cannot load BPF programs (%s); run as root\n", strerror(errno));
			return 77;
		}
	} else {
		dnsredir__destroy(probe);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
