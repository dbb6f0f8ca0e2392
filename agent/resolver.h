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
 * Reads the resolver's UDP port from /proc/PID/net/udp, which shows the netns
 * of PID without entering it (ports->tcp is set to 0). Returns 0, -ENOENT
 * when no resolver listens there, or -errno.
 */
int resolver_find(pid_t pid, struct resolver_ports *ports);

/*
 * The port of the TCP socket listening on 127.0.0.11 in the calling thread's
 * netns. Returns 0, -ENOENT when there is none, or -errno.
 */
int resolver_tcp_port(uint16_t *port);

#endif
