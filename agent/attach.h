/*
 * Redirecting the DNS of one process's network namespace, end to end: pin the
 * process, check dockerd's resolver is there, enter the netns, find the route
 * to the server, attach. Independent of what asked for it (the command line,
 * a start event, a resync).
 */
#ifndef DNSREDIR_ATTACH_H
#define DNSREDIR_ATTACH_H

#include <sys/types.h>

#include "redir.h"
#include "resolver.h"
#include "route.h"
#include "server.h"

#define ATTACH_ERR_MAX 256

struct attach_result {
	enum redir_outcome outcome;
	struct resolver_ports ports;
	struct route_info route;
	unsigned long long netns_inode;
};

/* 0 or -errno with a one-line reason in err. */
int attach_pid(pid_t pid, const struct dns_server *server, struct attach_result *res,
	       char *err, size_t err_size);
/* Number of filters removed (>= 0) or -errno with a reason in err. */
int detach_pid(pid_t pid, char *err, size_t err_size);
int status_pid(pid_t pid, struct redir_status *st, struct resolver_ports *ports,
	       char *err, size_t err_size);

#endif
