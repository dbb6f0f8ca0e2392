/*
 * dnsping: one DNS query in flight, back to back, for the benchmarks.
 *
 *   dnsping SERVER[:PORT] NAME SECONDS [RAWFILE]
 *
 * Sends an A query for NAME over UDP from a connected socket (so, like a stub
 * resolver, it only accepts answers from the address it asked), waits for the
 * answer with the same id, and sends the next one at once. Prints one line:
 *
 *   sent=N answered=N lost=N avg_us=X p50_us=X p90_us=X p99_us=X min_us=X max_us=X
 *
 * and, with RAWFILE, every latency in microseconds, one a line.
 *
 * dnsperf -c 1 -q 1 would do the same, but dnsperf 2.10's sender sleeps on a
 * condition variable while a query is outstanding and is often woken late:
 * on this machine it manages from 15 to 900 queries a second, erratically,
 * which leaves too few samples for percentiles. The latency of each query it
 * does send is right; this tool only sends more of them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES (4u << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* A query for NAME (A, IN, RD) in buf; returns its length, 0 if NAME is bad. */
static size_t build_query(uint8_t *buf, size_t size, const char *name)
{
	size_t len = 12;
	const char *p = name;

	memset(buf, 0, 12);
	buf[2] = 0x01;	/* RD */
	buf[5] = 1;	/* QDCOUNT */
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		if (l == 0 || l > 63 || len + l + 1 + 5 > size)
			return 0;
		buf[len++] = l;
		memcpy(buf + len, p, l);
		len += l;
		p += l;
		if (*p == '.')
			p++;
	}
	buf[len++] = 0;
	buf[len++] = 0;
	buf[len++] = 1;	/* A */
	buf[len++] = 0;
	buf[len++] = 1;	/* IN */
	return len;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
	uint8_t q[512], r[4096];
	uint32_t *lat, n = 0, lost = 0, sent = 0;
	uint64_t end, sum = 0;
	char host[64], *colon;
	size_t qlen;
	uint16_t id;
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: dnsping SERVER[:PORT] NAME SECONDS [RAWFILE]\n");
		return 2;
	}
	snprintf(host, sizeof(host), "%s", argv[1]);
	colon = strchr(host, ':');
	if (colon) {
		*colon = '\0';
		sa.sin_port = htons(atoi(colon + 1));
	}
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "dnsping: bad server address %s\n", host);
		return 2;
	}
	qlen = build_query(q, sizeof(q), argv[2]);
	if (!qlen) {
		fprintf(stderr, "dnsping: bad name %s\n", argv[2]);
		return 2;
	}
	lat = malloc(MAX_SAMPLES * sizeof(*lat));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (!lat || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("dnsping");
		return 1;
	}
	id = (uint16_t)(now_ns() >> 10);
	end = now_ns() + (uint64_t)(atof(argv[3]) * 1e9);
	while (n < MAX_SAMPLES) {
		uint64_t t0 = now_ns(), t1;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int answered = 0;

		if (t0 >= end)
			break;
		id++;
		q[0] = id >> 8;
		q[1] = id & 0xff;
		if (send(fd, q, qlen, 0) != (ssize_t)qlen) {
			perror("dnsping: send");
			return 1;
		}
		sent++;
		/* wait for our id; a late answer to an earlier one is skipped */
		while (!answered) {
			int left = 1000 - (int)((now_ns() - t0) / 1000000);
			ssize_t got;

			if (left <= 0 || poll(&pfd, 1, left) <= 0)
				break;
			got = recv(fd, r, sizeof(r), 0);
			if (got < 12)
				continue;	/* ECONNREFUSED and runts: keep waiting */
			answered = r[0] == q[0] && r[1] == q[1] && (r[2] & 0x80) && (r[3] & 0x0f) == 0;
		}
		t1 = now_ns();
		if (!answered) {
			lost++;
			continue;
		}
		lat[n] = (t1 - t0 + 500) / 1000;
		sum += t1 - t0;
		n++;
	}
	if (argc > 4) {
		FILE *f = fopen(argv[4], "w");

		if (!f) {
			perror(argv[4]);
			return 1;
		}
		for (uint32_t i = 0; i < n; i++)
			fprintf(f, "%u\n", lat[i]);
		fclose(f);
	}
	if (!n) {
		printf("sent=%u answered=0 lost=%u avg_us=- p50_us=- p90_us=- p99_us=- min_us=- max_us=-\n", sent, lost);
		return 1;
	}
	qsort(lat, n, sizeof(*lat), cmp_u32);
	printf("sent=%u answered=%u lost=%u avg_us=%.1f p50_us=%u p90_us=%u p99_us=%u min_us=%u max_us=%u\n",
	       sent, n, lost, sum / 1000.0 / n, lat[(n - 1) / 2], lat[(uint64_t)(n - 1) * 90 / 100],
	       lat[(uint64_t)(n - 1) * 99 / 100], lat[0], lat[n - 1]);
	return 0;
}
