/* One process's netns, from PID to attached filters. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "attach.h"
#include "netns.h"

static void open_ns_error(pid_t pid, int ret, char *err, size_t err_size)
{
	if (ret == -ESRCH)
		snprintf(err, err_size, "no such process: pid %d (exited, or not in our PID namespace: run with --pid=host)", pid);
	else if (ret == -EEXIST)
		snprintf(err, err_size, "pid %d shares the agent's network namespace (host network?): nothing to redirect", pid);
	else if (ret)
		snprintf(err, err_size, "cannot open the network namespace of pid %d: %s", pid, strerror(-ret));
}

static int open_ns(pid_t pid, struct netns *ns, char *err, size_t err_size)
{
	int ret = netns_open(pid, ns);

	if (ret)
		open_ns_error(pid, ret, err, err_size);
	return ret;
}

/* Runs in the target netns: route, then attach. */
static int attach_inside(const struct dns_server *server, struct attach_result *res,
			 char *err, size_t err_size)
{
	struct redir_spec spec = { .server = *server };
	char addr[INET_ADDRSTRLEN];
	int ret;

	inet_ntop(AF_INET, &server->addr, addr, sizeof(addr));
	ret = route_lookup(server->addr, server->port, &res->route);
	if (ret) {
		snprintf(err, err_size, "no usable route to server %s from the container's network namespace: %s",
			 addr, ret == -EADDRNOTAVAIL ? "it would leave through lo" : strerror(-ret));
		return ret;
	}
	/* informational (the datapath learns ports per flow): a failure is not one */
	resolver_tcp_port(&res->ports.tcp);
	spec.source = res->route.source;
	spec.egress_ifindex = res->route.ifindex;
	spec.lo_ifindex = if_nametoindex("lo");
	if (!spec.lo_ifindex) {
		snprintf(err, err_size, "no lo interface in the container's network namespace");
		return -ENODEV;
	}
	ret = redir_attach(&spec);
	if (ret < 0) {
		snprintf(err, err_size, "attaching the TC programs on lo and %s failed: %s",
			 res->route.ifname, strerror(-ret));
		return ret;
	}
	res->outcome = ret;
	return 0;
}

int attach_pid(pid_t pid, const struct dns_server *server, struct attach_result *res,
	       char *err, size_t err_size)
{
	struct netns ns;
	int ret, leave;

	memset(res, 0, sizeof(*res));
	ret = open_ns(pid, &ns, err, err_size);
	if (ret)
		return ret;
	res->netns_inode = ns.inode;
	ret = resolver_find(pid, &res->ports);
	/* that looked the PID up again: it must still be the process we pinned */
	if (!ret && !netns_alive(&ns))
		ret = -ESRCH;
	if (ret == -ESRCH) {
		open_ns_error(pid, -ESRCH, err, err_size);
		goto out;
	} else if (ret == -ENOENT) {
		snprintf(err, err_size, "no Docker embedded DNS resolver (127.0.0.11) in the network namespace of pid %d: "
			 "only containers on user-defined networks have one", pid);
		goto out;
	} else if (ret) {
		snprintf(err, err_size, "cannot read the sockets of pid %d: %s", pid, strerror(-ret));
		goto out;
	}

	ret = netns_enter(&ns);
	if (ret) {
		snprintf(err, err_size, "cannot enter the network namespace of pid %d: %s", pid, strerror(-ret));
		goto out;
	}
	ret = attach_inside(server, res, err, err_size);
	leave = netns_leave();
	if (leave && !ret) {
		snprintf(err, err_size, "cannot return to the agent's network namespace: %s", strerror(-leave));
		ret = leave;
	}
out:
	netns_close(&ns);
	return ret;
}

int detach_pid(pid_t pid, char *err, size_t err_size)
{
	struct netns ns;
	int ret, leave;

	ret = open_ns(pid, &ns, err, err_size);
	if (ret)
		return ret;
	ret = netns_enter(&ns);
	if (!ret) {
		ret = redir_detach();
		leave = netns_leave();
		if (ret >= 0 && leave)
			ret = leave;
	}
	if (ret < 0)
		snprintf(err, err_size, "detaching in the network namespace of pid %d failed: %s", pid, strerror(-ret));
	netns_close(&ns);
	return ret;
}

int status_pid(pid_t pid, struct redir_status *st, struct resolver_ports *ports,
	       char *err, size_t err_size)
{
	struct netns ns;
	int ret, leave;

	ret = open_ns(pid, &ns, err, err_size);
	if (ret)
		return ret;
	resolver_find(pid, ports);
	ret = netns_enter(&ns);
	if (!ret) {
		resolver_tcp_port(&ports->tcp);
		ret = redir_status(st);
		leave = netns_leave();
		if (!ret && leave)
			ret = leave;
	}
	if (ret < 0)
		snprintf(err, err_size, "reading the state in the network namespace of pid %d failed: %s", pid, strerror(-ret));
	netns_close(&ns);
	return ret;
}
