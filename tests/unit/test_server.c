/*
 * Unit tests of agent/server.c: parsing the "IPv4[:PORT]" a label or a flag
 * names, the refusals and their messages, and server_format.
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
#include <arpa/inet.h>
#include <cmocka.h>

#include "server.h"

#define ERR_SIZE 512

/* A server that no test value parses to, to see that a refusal leaves out alone. */
static const struct dns_server untouched = { .addr = { .s_addr = 0x5a5a5a5a }, .port = 0x5a5a };

static void assert_untouched(const struct dns_server *s)
{
	assert_int_equal(s->addr.s_addr, untouched.addr.s_addr);
	assert_int_equal(s->port, untouched.port);
}

static void assert_accepts(const char *text, size_t len, const char *addr, uint16_t port)
{
	struct dns_server s = untouched;
	char err[ERR_SIZE] = "";
	struct in_addr want;
	int ret;

	assert_int_equal(inet_pton(AF_INET, addr, &want), 1);
	ret = server_parse(text, len, &s, err, sizeof(err));
	if (ret)
		fail_msg("server_parse(\"%.*s\") = %d, err \"%s\"", (int)len, text, ret, err);
	assert_int_equal(s.addr.s_addr, want.s_addr);
	assert_int_equal(s.port, port);
}

/* Every byte of a message is printable ASCII: nothing can forge a log line. */
static void assert_printable(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			fail_msg("byte 0x%02x at %zu in \"%s\"", (unsigned char)*p, (size_t)(p - s), s);
}

/*
 * Refused with -EINVAL, out untouched, and the one-line message names the
 * value (quoted as it should appear) and, when given, the reason.
 */
static void assert_refuses_len(const char *text, size_t len, const char *quoted, const char *reason)
{
	struct dns_server s = untouched;
	char err[ERR_SIZE];
	int ret;

	memset(err, 0, sizeof(err));
	ret = server_parse(text, len, &s, err, sizeof(err));
	if (ret != -EINVAL)
		fail_msg("server_parse(%s) = %d, want -EINVAL", quoted, ret);
	assert_untouched(&s);
	if (strncmp(err, "invalid server ", strlen("invalid server ")))
		fail_msg("err for %s is \"%s\"", quoted, err);
	if (!strstr(err, quoted))
		fail_msg("err \"%s\" does not quote the value as %s", err, quoted);
	if (reason && !strstr(err, reason))
		fail_msg("err \"%s\" does not give the reason \"%s\"", err, reason);
	assert_null(strchr(err, '\n'));
	assert_printable(err);
}

static void assert_refuses(const char *text, const char *quoted, const char *reason)
{
	assert_refuses_len(text, strlen(text), quoted, reason);
}

static void test_accepts_ipv4(void **state)
{
	assert_accepts("1.2.3.4", 7, "1.2.3.4", 53);
	assert_accepts("1.2.3.4:5353", 12, "1.2.3.4", 5353);
	assert_accepts("10.0.0.1:65535", 14, "10.0.0.1", 65535);
	assert_accepts("10.0.0.1:1", 10, "10.0.0.1", 1);
	assert_accepts("1.2.3.4:53", 10, "1.2.3.4", 53);
	assert_accepts("8.8.8.8", 7, "8.8.8.8", 53);
	assert_accepts("1.0.0.0", 7, "1.0.0.0", 53);
	assert_accepts("126.255.255.255", 15, "126.255.255.255", 53);
	assert_accepts("128.0.0.1", 9, "128.0.0.1", 53);
	assert_accepts("223.255.255.255:65535", 21, "223.255.255.255", 65535);
	assert_accepts("10.250.7.2", 10, "10.250.7.2", 53);
}

/* Only len bytes are read: the value need not be NUL-terminated. */
static void test_reads_only_len_bytes(void **state)
{
	assert_accepts("1.2.3.4:5353junk", 12, "1.2.3.4", 5353);
	assert_accepts("1.2.3.49", 7, "1.2.3.4", 53);
	assert_accepts("1.2.3.4:53:53", 10, "1.2.3.4", 53);

	char *heap = malloc(7);	/* exactly the value, no terminator (valgrind checks the reads) */

	assert_non_null(heap);
	memcpy(heap, "9.9.9.9", 7);
	assert_accepts(heap, 7, "9.9.9.9", 53);
	free(heap);
}

static void test_refuses_malformed(void **state)
{
	assert_refuses("", "\"\"", "empty");
	assert_refuses("1.2.3", "\"1.2.3\"", "not an IPv4 address");
	assert_refuses("1.1", "\"1.1\"", "not an IPv4 address");
	assert_refuses("1.2.3.4.5", "\"1.2.3.4.5\"", "not an IPv4 address");
	assert_refuses("01.2.3.4", "\"01.2.3.4\"", "not an IPv4 address");
	assert_refuses("1.2.3.04", "\"1.2.3.04\"", "not an IPv4 address");
	assert_refuses("1.2.3.256", "\"1.2.3.256\"", "not an IPv4 address");
	assert_refuses("0x1.2.3.4", "\"0x1.2.3.4\"", "not an IPv4 address");
	assert_refuses("a.b.c.d", "\"a.b.c.d\"", "not an IPv4 address");
	assert_refuses("dns.google", "\"dns.google\"", "names are not resolved");
	assert_refuses("dns.google:53", "\"dns.google:53\"", "not an IPv4 address");
	assert_refuses(":53", "\":53\"", "not an IPv4 address");
	assert_refuses("1.2.3.4,5.6.7.8", "\"1.2.3.4,5.6.7.8\"", "only one server");
	assert_refuses("1.2.3.4:53,5.6.7.8", "\"1.2.3.4:53,5.6.7.8\"", NULL);
}

static void test_refuses_bad_port(void **state)
{
	const char *why = "port must be a number from 1 to 65535";

	assert_refuses("1.2.3.4:0", "\"1.2.3.4:0\"", why);
	assert_refuses("1.2.3.4:65536", "\"1.2.3.4:65536\"", why);
	assert_refuses("1.2.3.4:99999", "\"1.2.3.4:99999\"", why);
	assert_refuses("1.2.3.4:123456", "\"1.2.3.4:123456\"", why);
	assert_refuses("1.2.3.4:", "\"1.2.3.4:\"", why);
	assert_refuses("1.2.3.4:+53", "\"1.2.3.4:+53\"", why);
	assert_refuses("1.2.3.4:-53", "\"1.2.3.4:-53\"", why);
	assert_refuses("1.2.3.4:053", "\"1.2.3.4:053\"", why);
	assert_refuses("1.2.3.4:00053", "\"1.2.3.4:00053\"", why);
	assert_refuses("1.2.3.4:0x35", "\"1.2.3.4:0x35\"", why);
	assert_refuses("1.2.3.4:dns", "\"1.2.3.4:dns\"", why);
	assert_refuses("1.2.3.4:5.3", "\"1.2.3.4:5.3\"", why);
}

static void test_refuses_whitespace_and_control(void **state)
{
	const char *why = "whitespace or a control character";

	assert_refuses(" 1.2.3.4", "\" 1.2.3.4\"", why);
	assert_refuses("1.2.3.4 ", "\"1.2.3.4 \"", why);
	assert_refuses("1.2.3.4\n", "\"1.2.3.4\\x0a\"", why);
	assert_refuses("1.2.3.4\r", "\"1.2.3.4\\x0d\"", why);
	assert_refuses("1.2.3.4\t", "\"1.2.3.4\\x09\"", why);
	assert_refuses("1.2.3.4 :53", "\"1.2.3.4 :53\"", why);
	assert_refuses("\x1b[31m1.2.3.4", "\"\\x1b[31m1.2.3.4\"", why);
	assert_refuses("1.2.3.4\x7f", "\"1.2.3.4\\x7f\"", why);
	assert_refuses("1.2.3.4\xff", "\"1.2.3.4\\xff\"", why);
	assert_refuses("\xc2\xa0" "1.2.3.4", "\"\\xc2\\xa01.2.3.4\"", why);
	/* a forged log line stays on one line, quotes escaped */
	assert_refuses("1.1.1.1\nlevel=info msg=\"ok\"", "\"1.1.1.1\\x0alevel=info msg=\\\"ok\\\"\"", why);
	assert_refuses("\"1.2.3.4\"", "\"\\\"1.2.3.4\\\"\"", NULL);
	assert_refuses("1.2.3.4\\", "\"1.2.3.4\\\\\"", NULL);
}

static void test_refuses_embedded_nul(void **state)
{
	assert_refuses_len("1.2.3.4\0x", 9, "\"1.2.3.4\\x00x\"", "NUL");
	assert_refuses_len("1.2.3.4\0", 8, "\"1.2.3.4\\x00\"", "NUL");
	assert_refuses_len("\0" "1.2.3.4", 8, "\"\\x001.2.3.4\"", "NUL");
	assert_refuses_len("1.2.3.4:53\0", 11, "\"1.2.3.4:53\\x00\"", "NUL");
}

static void test_refuses_ipv6(void **state)
{
	const char *why = "IPv6";

	assert_refuses("::1", "\"::1\"", why);
	assert_refuses("[2001:db8::1]:53", "\"[2001:db8::1]:53\"", why);
	assert_refuses("2001:db8::1", "\"2001:db8::1\"", why);
	assert_refuses("[::1]", "\"[::1]\"", why);
	assert_refuses("::ffff:1.2.3.4", "\"::ffff:1.2.3.4\"", why);
	assert_refuses("fe80::1", "\"fe80::1\"", why);
}

static void test_refuses_unusable_addresses(void **state)
{
	assert_refuses("0.0.0.0", "\"0.0.0.0\"", "unspecified");
	assert_refuses("0.0.0.0:53", "\"0.0.0.0:53\"", "unspecified");
	assert_refuses("0.1.2.3", "\"0.1.2.3\"", "unspecified");
	assert_refuses("127.0.0.1", "\"127.0.0.1\"", "loopback");
	assert_refuses("127.0.0.11:53", "\"127.0.0.11:53\"", "loopback");
	assert_refuses("127.255.255.254", "\"127.255.255.254\"", "loopback");
	assert_refuses("224.0.0.1", "\"224.0.0.1\"", "multicast");
	assert_refuses("239.255.255.250:1900", "\"239.255.255.250:1900\"", "multicast");
	assert_refuses("255.255.255.255", "\"255.255.255.255\"", "broadcast");
	assert_refuses("240.0.0.1", "\"240.0.0.1\"", "reserved");
	assert_refuses("254.1.2.3", "\"254.1.2.3\"", "reserved");
}

static void test_long_value_bounded(void **state)
{
	size_t len = 10 * 1024;
	char *big = malloc(len);
	struct dns_server s = untouched;
	char err[ERR_SIZE];
	size_t n;

	assert_non_null(big);
	for (size_t i = 0; i < len; i++)
		big[i] = "1.2.3.4:"[i % 8];
	memset(err, 'Z', sizeof(err));
	assert_int_equal(server_parse(big, len, &s, err, sizeof(err)), -EINVAL);
	assert_untouched(&s);
	n = strnlen(err, sizeof(err));
	assert_true(n < sizeof(err));
	/* the quoted value is cut short with "..." then the reason */
	assert_true(n < SERVER_TEXT_MAX * 4 + 100);
	assert_non_null(strstr(err, "...\": "));
	assert_non_null(strstr(err, "too long"));
	assert_true(strncmp(err, "invalid server \"1.2.3.4:1.2.3.4:", 32) == 0);
	assert_printable(err);

	/* a value of control bytes, each escaped to 4 characters, still fits */
	memset(big, '\x01', len);
	memset(err, 'Z', sizeof(err));
	assert_int_equal(server_parse(big, len, &s, err, sizeof(err)), -EINVAL);
	n = strnlen(err, sizeof(err));
	assert_true(n < sizeof(err));
	assert_non_null(strstr(err, "\\x01...\": "));
	assert_printable(err);

	/* and a small err buffer is filled, cut and terminated, never overrun */
	char small[40];

	memset(small, 'Z', sizeof(small));
	assert_int_equal(server_parse(big, len, &s, small, 32), -EINVAL);
	assert_int_equal(strnlen(small, 32), 31);
	for (size_t i = 32; i < sizeof(small); i++)
		assert_int_equal(small[i], 'Z');
	free(big);
}

/* One byte over SERVER_TEXT_MAX is "too long"; at the limit the other checks speak. */
static void test_length_limit(void **state)
{
	char text[SERVER_TEXT_MAX + 2];
	char err[ERR_SIZE];
	struct dns_server s;

	memset(text, '1', sizeof(text));
	assert_int_equal(server_parse(text, SERVER_TEXT_MAX + 1, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too long"));
	assert_int_equal(server_parse(text, SERVER_TEXT_MAX, &s, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "too long"));
	assert_non_null(strstr(err, "not an IPv4 address"));
}

static void test_small_err_buffers(void **state)
{
	struct dns_server s;
	char err[16];

	memset(err, 'Z', sizeof(err));
	assert_int_equal(server_parse("dns.google", 10, &s, err, 1), -EINVAL);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'Z');

	memset(err, 'Z', sizeof(err));
	assert_int_equal(server_parse("dns.google", 10, &s, err, 0), -EINVAL);
	assert_int_equal(err[0], 'Z');

	memset(err, 'Z', sizeof(err));
	assert_int_equal(server_parse("dns.google", 10, &s, err, 10), -EINVAL);
	assert_string_equal(err, "invalid s");
	assert_int_equal(err[10], 'Z');
}

static void test_format_round_trip(void **state)
{
	static const struct {
		const char *in, *formatted;
	} cases[] = {
		{ "1.2.3.4", "1.2.3.4:53" },
		{ "1.2.3.4:5353", "1.2.3.4:5353" },
		{ "10.0.0.1:65535", "10.0.0.1:65535" },
		{ "223.255.255.255:65535", "223.255.255.255:65535" },
		{ "192.0.2.53:1", "192.0.2.53:1" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dns_server a, b;
		char buf[SERVER_STR_LEN], err[ERR_SIZE];

		assert_int_equal(server_parse(cases[i].in, strlen(cases[i].in), &a, err, sizeof(err)), 0);
		assert_ptr_equal(server_format(&a, buf, sizeof(buf)), buf);
		assert_string_equal(buf, cases[i].formatted);
		assert_int_equal(server_parse(buf, strlen(buf), &b, err, sizeof(err)), 0);
		assert_int_equal(a.addr.s_addr, b.addr.s_addr);
		assert_int_equal(a.port, b.port);
	}

	/* the longest value fits SERVER_STR_LEN exactly */
	struct dns_server longest = { .port = 65535 };
	char buf[SERVER_STR_LEN + 4];

	assert_int_equal(inet_pton(AF_INET, "255.255.255.255", &longest.addr), 1);
	memset(buf, 'Z', sizeof(buf));
	server_format(&longest, buf, SERVER_STR_LEN);
	assert_string_equal(buf, "255.255.255.255:65535");
	assert_int_equal(buf[SERVER_STR_LEN], 'Z');

	/* a short buffer is cut and terminated */
	memset(buf, 'Z', sizeof(buf));
	server_format(&longest, buf, 8);
	assert_string_equal(buf, "255.255");
	assert_int_equal(buf[8], 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_ipv4),
		cmocka_unit_test(test_reads_only_len_bytes),
		cmocka_unit_test(test_refuses_malformed),
		cmocka_unit_test(test_refuses_bad_port),
		cmocka_unit_test(test_refuses_whitespace_and_control),
		cmocka_unit_test(test_refuses_embedded_nul),
		cmocka_unit_test(test_refuses_ipv6),
		cmocka_unit_test(test_refuses_unusable_addresses),
		cmocka_unit_test(test_long_value_bounded),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_small_err_buffers),
		cmocka_unit_test(test_format_round_trip),
	};

	return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
