/*
 * dnsredir-agent: steer Docker containers' DNS to the server their label
 * names, with a pair of TC-BPF programs in each container's netns.
 *
 *   dnsredir-agent [run] [options]       watch Docker (the long-running agent)
 *   dnsredir-agent attach --pid PID --server IP[:PORT]
 *   dnsredir-agent detach --pid PID
 *   dnsredir-agent status --pid PID
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "agent.h"
#include "attach.h"
#include "log.h"

static const char usage_text[] =
"Usage: dnsredir-agent [run] [OPTIONS]\n"
"       dnsredir-agent attach --pid PID --server IP[:PORT]\n"
"       dnsredir-agent detach --pid PID\n"
"       dnsredir-agent status --pid PID\n"
"\n"
"Sends the DNS queries of Docker containers labelled dnsredir.server=IP[:PORT]\n"
"straight to that server, bypassing dockerd's embedded resolver (127.0.0.11),\n"
"with two TC-BPF programs inside each container's network namespace.\n"
"\n"
"Commands:\n"
"  run (default)  watch Docker and keep every labelled container redirected\n"
"  attach         redirect the network namespace of one process by hand\n"
"  detach         remove the redirect from the network namespace of PID\n"
"  status         show what is attached in the netns of PID, with counters\n"
"\n"
"Run 'dnsredir-agent run --help' for the agent's options.\n";

static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX) {
		fprintf(stderr, "dnsredir-agent: invalid --pid \"%s\": expected a positive process id\n", s);
		return -EINVAL;
	}
	*pid = v;
	return 0;
}

/* Parses --pid and, when server is not NULL, --server. */
static int parse_manual_args(int argc, char **argv, pid_t *pid, struct dns_server *server)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char err[ATTACH_ERR_MAX];
	bool have_pid = false, have_server = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:s:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_pid(optarg, pid))
				return -EINVAL;
			have_pid = true;
			break;
		case 's':
			if (!server)
				goto usage;
			if (server_parse(optarg, strlen(optarg), server, err, sizeof(err))) {
				fprintf(stderr, "dnsredir-agent: %s\n", err);
				return -EINVAL;
			}
			have_server = true;
			break;
		case 'v':
			log_set_priority(LOG_DEBUG);
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			goto usage;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dnsredir-agent: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (have_pid && (have_server || !server))
		return 0;
usage:
	fprintf(stderr, "dnsredir-agent: %s needs --pid PID%s\n", argv[0], server ? " and --server IP[:PORT]" : "");
	return -EINVAL;
}

static int cmd_attach(int argc, char **argv)
{
	char err[ATTACH_ERR_MAX], srv[SERVER_STR_LEN], src[INET_ADDRSTRLEN];
	struct attach_result res;
	struct dns_server server;
	pid_t pid;

	if (parse_manual_args(argc, argv, &pid, &server))
		return 2;
	if (attach_pid(pid, &server, &res, err, sizeof(err))) {
		fprintf(stderr, "dnsredir-agent: %s\n", err);
		return 1;
	}
	inet_ntop(AF_INET, &res.route.source, src, sizeof(src));
	printf("%s pid=%d netns=%llu server=%s iface=%s ifindex=%d source=%s resolver_udp=%u resolver_tcp=%u\n",
	       redir_outcome_name(res.outcome), pid, res.netns_inode,
	       server_format(&server, srv, sizeof(srv)), res.route.ifname, res.route.ifindex, src,
	       res.ports.udp, res.ports.tcp);
	return 0;
}

static int cmd_detach(int argc, char **argv)
{
	char err[ATTACH_ERR_MAX];
	pid_t pid;
	int removed;

	if (parse_manual_args(argc, argv, &pid, NULL))
		return 2;
	removed = detach_pid(pid, err, sizeof(err));
	if (removed < 0) {
		fprintf(stderr, "dnsredir-agent: %s\n", err);
		return 1;
	}
	printf("detached pid=%d filters_removed=%d\n", pid, removed);
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	char err[ATTACH_ERR_MAX], srv[SERVER_STR_LEN], src[INET_ADDRSTRLEN];
	struct resolver_ports ports = {};
	struct redir_status st;
	pid_t pid;

	if (parse_manual_args(argc, argv, &pid, NULL))
		return 2;
	if (status_pid(pid, &st, &ports, err, sizeof(err))) {
		fprintf(stderr, "dnsredir-agent: %s\n", err);
		return 1;
	}
	printf("pid=%d\nattached=%s\n", pid, st.query_attached && st.reply_attached ? "yes" :
	       st.query_attached ? "partial" : "no");
	printf("resolver_udp=%u\nresolver_tcp=%u\n", ports.udp, ports.tcp);
	if (!st.query_attached)
		return 0;
	inet_ntop(AF_INET, &st.spec.source, src, sizeof(src));
	printf("server=%s\nsource=%s\niface=%s\nifindex=%d\nquery_prog_id=%u\nreply_prog_id=%u\n",
	       server_format(&st.spec.server, srv, sizeof(srv)), src, st.egress_name,
	       st.spec.egress_ifindex, st.query_prog_id, st.reply_prog_id);
	for (int i = 0; i < DNSREDIR_COUNTER_MAX; i++)
		printf("%s=%llu\n", redir_counter_name(i), (unsigned long long)st.counters[i]);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "run";

	log_init(LOG_TARGET_AUTO, LOG_INFO);
	if (!strcmp(cmd, "attach"))
		return cmd_attach(argc - 1, argv + 1);
	if (!strcmp(cmd, "detach"))
		return cmd_detach(argc - 1, argv + 1);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return agent_main(argc - 1, argv + 1);
	if (cmd[0] == '-')
		return agent_main(argc, argv);
	fprintf(stderr, "dnsredir-agent: unknown command \"%s\"\n%s", cmd, usage_text);
	return 2;
}
