/* The DNS server a container's queries are sent to: parsing "IP[:PORT]". */
#ifndef DNSREDIR_SERVER_H
#define DNSREDIR_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define SERVER_TEXT_MAX 64	/* longest value worth parsing; longer is refused */
#define SERVER_STR_LEN sizeof("255.255.255.255:65535")

struct dns_server {
	struct in_addr addr;
	uint16_t port;		/* host byte order */
};

/*
 * Parses "IPv4[:PORT]" (port 53 when absent). Refuses anything that is not
 * exactly that, and addresses a query can never usefully go to: unspecified,
 * loopback (it would loop back into the container), multicast, broadcast,
 * reserved. On error returns -EINVAL and writes a one-line reason that quotes
 * the value (escaped) into err.
 */
int server_parse(const char *text, size_t len, struct dns_server *out, char *err, size_t err_size);

/* "IP:PORT" into buf of at least SERVER_STR_LEN bytes. Returns buf. */
char *server_format(const struct dns_server *server, char *buf, size_t size);

#endif
