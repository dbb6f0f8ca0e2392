/* Finding dockerd's embedded resolver (127.0.0.11) in a container's netns. */
#ifndef DNSREDIR_RESOLVER_H
#define DNSREDIR_RESOLVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct resolver_ports {
	uint16_t udp;	/* 0 when not found */
	uint16_t tcp;
};

/*
 * Parses one line of /proc/net/udp or /proc/net/tcp. Returns true and the
 * port when it is a socket bound to 127.0.0.11 (for TCP: listening).
 */
bool resolver_parse_proc_line(const char *line, bool tcp, uint16_t *port);

/*
 * Reads the resolver's ports from /proc/PID/net/{udp,tcp}, which show the
 * netns of PID without entering it. Returns 0 (the UDP port is then set),
 * -ENOENT when no resolver listens there, or -errno.
 */
int resolver_find(pid_t pid, struct resolver_ports *ports);

#endif
