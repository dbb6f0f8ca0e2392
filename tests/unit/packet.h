/*
 * Packets for the datapath tests, which build and check them byte by byte,
 * independently of the kernel's code: byte order and RFC 1071 checksum
 * helpers, and one run of a program over a packet with BPF_PROG_TEST_RUN.
 */
#ifndef DNSREDIR_TEST_PACKET_H
#define DNSREDIR_TEST_PACKET_H

#include <stddef.h>
#include <stdint.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define PKT_MAX 512

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

/* The container both tests put the programs in; addresses and ports in host order. */
#define CLIENT_ADDR	IP4(127, 0, 0, 1)
#define RESOLVER_ADDR	IP4(127, 0, 0, 11)
#define SERVER_ADDR	IP4(192, 0, 2, 53)
#define SOURCE_ADDR	IP4(10, 0, 0, 2)	/* the container's address */
#define SERVER_PORT	5353
#define EGRESS_IFINDEX	2
#define LO_IFINDEX	1

#define TCP_SYN		0x02
#define TCP_PSH		0x08
#define TCP_ACK		0x10

struct pkt {
	uint8_t data[PKT_MAX];
	uint32_t len;
};

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* One's-complement sum of big-endian 16-bit words, odd byte padded with 0. */
static inline uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (; len > 1; p += 2, len -= 2)
		sum += get16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static inline uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * Runs prog once on in: 0 or the test run's -errno (the kernel refuses
 * frames too short to be Ethernet + IPv4); the verdict in *retval and what
 * the program left in out.
 */
static inline int pkt_run(struct bpf_program *prog, const struct pkt *in, struct pkt *out, uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in->data,
		.data_size_in = in->len,
		.data_out = out->data,
		.data_size_out = sizeof(out->data),
		.repeat = 1,
	);
	int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);

	out->len = opts.data_size_out;
	*retval = opts.retval;
	return err;
}

#endif
