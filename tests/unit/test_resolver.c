/*
 * Unit tests of agent/resolver.c: finding dockerd's embedded resolver
 * (127.0.0.11) in /proc/PID/net/{udp,tcp} lines.
 *
 * The fixtures tests/fixtures/proc-net-{udp,tcp}-container.txt were read from
 * /proc/PID/net/{udp,tcp} of a container on a user-defined network (Docker 20.10),
 * with a TCP query to 127.0.0.11 just made (the TIME_WAIT line).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "fixtures.h"

#include "resolver.h"

#define NO_PORT 0xbeef

/* Real lines, as the kernel prints them (trailing spaces included). */
static const char udp_header[] =
	"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n";
static const char udp_resolver[] =
	"10812: 0B00007F:897C 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 49667 2 00000000fa7c113a 0         \n";
static const char tcp_header[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n";
static const char tcp_listen[] =
	"   0: 0B00007F:95FD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 49668 1 00000000ac900bf0 100 0 0 10 0                     \n";
/* a client's connection to the resolver: 127.0.0.1 -> 127.0.0.11:53, TIME_WAIT */
static const char tcp_client[] =
	"   1: 0100007F:872E 0B00007F:0035 06 00000000:00000000 03:0000173A 00000000     0        0 0 3 00000000cb733bb5                                      \n";
/* the resolver's side of an accepted connection: ESTABLISHED, not listening */
static const char tcp_established[] =
	"   2: 0B00007F:95FD 0100007F:872E 01 00000000:00000000 00:00000000 00000000     0        0 49700 1 00000000ac900bf1 20 4 30 10 -1                    \n";
/* the host's own sockets */
static const char tcp_host_listen[] =
	"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1151 1 0000000062bac17f 100 0 0 10 0                      \n";
static const char udp_loopback[] =
	"  527: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 20811 2 0000000000000000 0         \n";
static const char udp_any[] =
	"  993: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 19875 2 0000000000000000 0         \n";

static bool parse(const char *line, bool tcp, uint16_t *port)
{
	*port = NO_PORT;
	return resolver_parse_proc_line(line, tcp, port);
}

static void assert_found(const char *line, bool tcp, uint16_t want)
{
	uint16_t port;

	if (!parse(line, tcp, &port))
		fail_msg("not found in \"%s\"", line);
	assert_int_equal(port, want);
}

static void assert_not_found(const char *line, bool tcp)
{
	uint16_t port;

	if (parse(line, tcp, &port))
		fail_msg("found port %u in \"%s\"", port, line);
	assert_int_equal(port, NO_PORT);	/* untouched */
}

static void test_udp_resolver(void **state)
{
	assert_found(udp_resolver, false, 0x897C);
	assert_found("  0: 0B00007F:CF0B 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 1 2 0 0\n",
		     false, 0xCF0B);
	/* lowercase hex, no trailing newline, no trailing fields after the state */
	assert_found("0: 0b00007f:cf0b 00000000:0000 07", false, 0xCF0B);
	assert_found("  0: 0B00007F:0001 00000000:0000 07", false, 1);
	assert_found("  0: 0B00007F:FFFF 00000000:0000 07", false, 65535);
}

static void test_udp_others(void **state)
{
	assert_not_found(udp_header, false);
	assert_not_found(udp_loopback, false);
	assert_not_found(udp_any, false);
	/* 127.0.0.11 in network order would read 7F00000B: a different address here */
	assert_not_found("  0: 7F00000B:CF0B 00000000:0000 07", false);
	assert_not_found("  0: 0C00007F:CF0B 00000000:0000 07", false);
	assert_not_found("  0: 0B00007E:CF0B 00000000:0000 07", false);
	/* the resolver as the remote end is not the resolver's socket */
	assert_not_found("  0: 0100007F:CF0B 0B00007F:0035 01", false);
	/* port 0 is no port */
	assert_not_found("  0: 0B00007F:0000 00000000:0000 07", false);
}

static void test_tcp_listen_only(void **state)
{
	assert_found(tcp_listen, true, 0x95FD);
	assert_not_found(tcp_header, true);
	assert_not_found(tcp_established, true);
	assert_not_found(tcp_client, true);
	assert_not_found(tcp_host_listen, true);
	for (unsigned int st = 1; st <= 0x0B; st++) {
		char line[128];

		snprintf(line, sizeof(line), "   0: 0B00007F:95FD 00000000:0000 %02X 00000000:00000000", st);
		if (st == 0x0A)
			assert_found(line, true, 0x95FD);
		else
			assert_not_found(line, true);
	}
	/* for UDP the state column is not a listen state and does not matter */
	assert_found(tcp_listen, false, 0x95FD);
	assert_found(tcp_established, false, 0x95FD);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"garbage",
		"0B00007F:CF0B 00000000:0000 07",		/* no slot */
		"  0: 0B00007F:CF0B",				/* cut after the local address */
		"  0: 0B00007F:CF0B 00000000:0000",		/* cut before the state */
		"  0: 0B00007F:CF0B 00000000:0000 ",
		"  0: 0B00007F 00000000:0000 07",		/* no port */
		"  0: 0B00007F: 00000000:0000 07",
		"  0: 0B00007F:XYZ1 00000000:0000 07",
		"  0: 0B00007F0:CF0B 00000000:0000 07",	/* nine hex digits */
		"  0: 00B00007F:CF0B 00000000:0000 07",
		"  0: B00007F:CF0B 00000000:0000 07",		/* seven */
		"  0: 0G00007F:CF0B 00000000:0000 07",
		"  0: 0B00007F:CF0B0 00000000:0000 07",	/* five port digits */
		"  0: 0B00007F:CF0B 00000000:0000 ZZ",
		"  x: 0B00007F:CF0B 00000000:0000 07",
		"  0 0B00007F:CF0B 00000000:0000 07",
		"  0: 00000000000000000000FFFF0B00007F:CF0B 00000000000000000000000000000000:0000 07",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_not_found(bad[i], false);
		assert_not_found(bad[i], true);
	}
}


/* Every line of a real file, as resolver_find reads it: one match, the right port. */
static void scan_fixture(const char *name, bool tcp, uint16_t want)
{
	char *path = fixture_path(name), line[512];
	FILE *f = fopen(path, "re");
	int found = 0, lines = 0;
	uint16_t port;

	if (!f)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		lines++;
		if (parse(line, tcp, &port)) {
			found++;
			assert_int_equal(port, want);
		}
	}
	fclose(f);
	free(path);
	assert_true(lines >= 2);
	assert_int_equal(found, 1);
}

static void test_real_files(void **state)
{
	scan_fixture("proc-net-udp-container.txt", false, 0x897C);
	scan_fixture("proc-net-tcp-container.txt", true, 0x95FD);
}

static void test_find_errors(void **state)
{
	struct resolver_ports ports = { .udp = 1, .tcp = 1 };

	/* a process that cannot exist (beyond any pid_max) */
	assert_int_equal(resolver_find(0x7ffffff0, &ports), -ESRCH);
	assert_int_equal(ports.udp, 0);
	assert_int_equal(ports.tcp, 0);
}

/* tcp_sock ADDR PORT: a TCP socket bound to ADDR:PORT, listening or not */
static int tcp_sock(const char *addr, uint16_t port, bool listening)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (listening)
		assert_int_equal(listen(fd, 1), 0);
	return fd;
}

/*
 * sock_diag in a netns of our own: only a socket listening on 127.0.0.11
 * counts, not one on another address, nor a bound one that does not listen.
 */
static void test_tcp_port_in_netns(void **state)
{
	int fds[3], ret;
	uint16_t port = 1;

	if (unshare(CLONE_NEWNET) < 0)
		skip();	/* not root: the end-to-end tests cover it */
	assert_int_equal(system("ip link set lo up"), 0);
	assert_int_equal(resolver_tcp_port(&port), -ENOENT);
	assert_int_equal(port, 0);
	fds[0] = tcp_sock("127.0.0.1", 40001, true);
	fds[1] = tcp_sock("127.0.0.11", 40002, false);
	assert_int_equal(resolver_tcp_port(&port), -ENOENT);
	fds[2] = tcp_sock("127.0.0.11", 40003, true);
	ret = resolver_tcp_port(&port);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	assert_int_equal(ret, 0);
	assert_int_equal(port, 40003);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_resolver),
		cmocka_unit_test(test_udp_others),
		cmocka_unit_test(test_tcp_listen_only),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_real_files),
		cmocka_unit_test(test_find_errors),
		/* last: it leaves the process in a netns of its own */
		cmocka_unit_test(test_tcp_port_in_netns),
	};

	return cmocka_run_group_tests_name("resolver", tests, NULL, NULL);
}
