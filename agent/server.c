/* Parsing and checking the server a label or a flag names. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "server.h"

#define DNS_PORT 53

static int refuse(char *err, size_t err_size, const char *text, size_t len, const char *why)
{
	char quoted[SERVER_TEXT_MAX * 4 + 8];

	snprintf(err, err_size, "invalid server %s: %s",
		 log_quote(text, len, quoted, sizeof(quoted)), why);
	return -EINVAL;
}

/* Strict decimal port: digits only, no sign, no leading zeros, 1..65535. */
static bool port_parse(const char *s, size_t len, uint16_t *port)
{
	unsigned long value = 0;

	if (len == 0 || len > 5 || (s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		value = value * 10 + (s[i] - '0');
	}
	if (value == 0 || value > 65535)
		return false;
	*port = value;
	return true;
}

static const char *address_unusable(struct in_addr addr)
{
	uint32_t a = ntohl(addr.s_addr);

	if ((a >> 24) == 0)
		return "unspecified address (0.0.0.0/8)";
	if ((a >> 24) == 127)
		return "loopback address: queries would never leave the container";
	if (a == 0xffffffff)
		return "broadcast address";
	if ((a >> 28) == 0xe)
		return "multicast address";
	if ((a >> 28) == 0xf)
		return "reserved address (240.0.0.0/4)";
	return NULL;
}

int server_parse(const char *text, size_t len, struct dns_server *out, char *err, size_t err_size)
{
	char addr_text[INET_ADDRSTRLEN];
	const char *colon, *why;
	size_t addr_len;
	uint16_t port = DNS_PORT;
	struct in_addr addr;

	if (len == 0)
		return refuse(err, err_size, text, len, "empty value, expected IPv4[:PORT]");
	if (len > SERVER_TEXT_MAX)
		return refuse(err, err_size, text, len, "too long, expected IPv4[:PORT]");
	if (memchr(text, '\0', len))
		return refuse(err, err_size, text, len, "contains a NUL byte");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = text[i];

		if (c <= ' ' || c >= 0x7f)
			return refuse(err, err_size, text, len,
				      "contains whitespace or a control character, expected IPv4[:PORT]");
	}
	if (memchr(text, ',', len))
		return refuse(err, err_size, text, len, "only one server may be given");
	if (text[0] == '[' || memchr(text, ':', len) != memrchr(text, ':', len))
		return refuse(err, err_size, text, len, "IPv6 servers are not supported yet");

	colon = memchr(text, ':', len);
	addr_len = colon ? (size_t)(colon - text) : len;
	if (colon && !port_parse(colon + 1, len - addr_len - 1, &port))
		return refuse(err, err_size, text, len, "port must be a number from 1 to 65535");
	if (addr_len == 0 || addr_len >= sizeof(addr_text))
		return refuse(err, err_size, text, len, "not an IPv4 address");
	memcpy(addr_text, text, addr_len);
	addr_text[addr_len] = '\0';
	/* inet_pton takes only the full dotted quad: no names, no "1.1", no octal */
	if (inet_pton(AF_INET, addr_text, &addr) != 1)
		return refuse(err, err_size, text, len, "not an IPv4 address (names are not resolved)");
	why = address_unusable(addr);
	if (why)
		return refuse(err, err_size, text, len, why);

	out->addr = addr;
	out->port = port;
	return 0;
}

char *server_format(const struct dns_server *server, char *buf, size_t size)
{
	char addr[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &server->addr, addr, sizeof(addr));
	snprintf(buf, size, "%s:%u", addr, server->port);
	return buf;
}
