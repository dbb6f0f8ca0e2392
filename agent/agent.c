/*
 * The long-running agent. One thread, one loop: it waits on the Docker event
 * stream, its signals and the resync timer at once. Events are only buffered
 * by the stream callback and handled here, so slow work never makes dockerd
 * drop our events (it gives a subscriber 100 ms per event).
 *
 * Subscribe first, then list: a container started between the two shows up
 * in both, and handling is idempotent, so nothing falls in the gap.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "agent.h"
#include "attach.h"
#include "config.h"
#include "containers.h"
#include "docker.h"
#include "docker_json.h"
#include "early.h"
#include "hold.h"
#include "log.h"
#include "netns.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define HEALTHY_MS 30000	/* connected this long: the next failure starts over */
#define SUBSCRIBE_WAIT_MS 3000
#define EARLY_POLL_MS 5		/* while a created container waits for Docker to set it up */
#define EARLY_WINDOW_MS 30000	/* after that, its start event takes over */
#define EARLY_SCAN_MS 10		/* how often /proc is searched for a created container's process */
#define EARLY_SLOW_AFTER_MS 2000	/* created but not started yet (docker create, compose): */
#define EARLY_SLOW_SCAN_MS 40		/* search less often; runc still takes longer than this */
#define EARLY_BATCH_MAX 64	/* containers looked for in one pass over /proc */
#define EARLY_PID_SLACK 500	/* PIDs handed out before we saw the create event */
#define IDLE_WAIT_MS (3600 * 1000)	/* resync off: wake hourly, for nothing but the wait itself */

struct agent {
	struct config cfg;
	const char *config_path;
	bool config_required;
	int argc;
	char **argv;

	struct docker docker;
	struct container_table containers;
	struct hold_table holds;	/* created containers' processes held at exec */
	bool hold_refused;		/* ptrace refused once: said so, do not retry */
	unsigned long generation;
	long long last_event_sec;	/* replayed with since= after a reconnect */
	int sigfd;
	bool stop;
	bool reload;
};

static const char run_usage[] =
"Usage: dnsredir-agent [run] [OPTIONS]\n"
"\n"
"Watches Docker and keeps every running container labelled LABEL=IP[:PORT]\n"
"(default label: dnsredir.server) redirected to that DNS server.\n"
"\n"
"Options (each also a key of the config file):\n"
"  -c, --config PATH           config file (default " CONFIG_DEFAULT_PATH ",\n"
"                              used only if it exists)\n"
"  -H, --docker-host URI       Docker socket, unix:///path (default: $DOCKER_HOST,\n"
"                              else /var/run/docker.sock)\n"
"  -l, --label KEY             label naming the server (default dnsredir.server)\n"
"  -r, --resync-interval SECS  full resync period, 0 = off (default 60)\n"
"  -L, --log-level LEVEL       error, warn, info, debug (default info)\n"
"  -T, --log-target TARGET     auto, console, journal (default auto: the journal\n"
"                              when started by systemd, else stdout/stderr)\n"
"  -a, --allowed-servers LIST  comma-separated IPv4[:PORT] or IPv4/PREFIX that\n"
"                              labels may name (default: any)\n"
"  -e, --early-attach MODE     when a new labelled container is redirected:\n"
"                              created (default): once Docker has set up its\n"
"                              network, its command held at exec until then;\n"
"                              exec: while its command is held at exec; off:\n"
"                              after its start event (first lookups may leak)\n"
"  -d, --detach-on-exit        remove the redirects when stopping (default: they\n"
"                              stay, and DNS stays redirected while the agent is down)\n"
"  -h, --help                  this text\n"
"\n"
"Signals: SIGTERM/SIGINT stop; SIGHUP re-reads the config file and resyncs.\n";

static const struct option run_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "docker-host", required_argument, NULL, 'H' },
	{ "label", required_argument, NULL, 'l' },
	{ "resync-interval", required_argument, NULL, 'r' },
	{ "log-level", required_argument, NULL, 'L' },
	{ "log-target", required_argument, NULL, 'T' },
	{ "allowed-servers", required_argument, NULL, 'a' },
	{ "early-attach", required_argument, NULL, 'e' },
	{ "detach-on-exit", no_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{},
};

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static long long now_ms(void)
{
	return now_ns() / 1000000;
}

/* Docker stamps events with the wall clock. */
static long long wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

/* Option letter to config key; NULL for options that are not settings. */
static const char *option_key(int opt)
{
	switch (opt) {
	case 'H': return "docker_host";
	case 'l': return "label";
	case 'r': return "resync_interval";
	case 'L': return "log_level";
	case 'T': return "log_target";
	case 'a': return "allowed_servers";
	case 'e': return "early_attach";
	}
	return NULL;
}

/*
 * Builds the settings from scratch: defaults, $DOCKER_HOST, the config file,
 * then the flags. Also used by SIGHUP, so a reload sees the same precedence.
 */
static int config_build(struct agent *a, struct config *cfg, char *err, size_t err_size)
{
	const char *env = getenv("DOCKER_HOST");
	int opt;

	config_defaults(cfg);
	if (env && *env && config_set(cfg, "docker_host", env, err, err_size))
		return -EINVAL;
	if (config_load(cfg, a->config_path, a->config_required, err, err_size))
		return -EINVAL;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(a->argc, a->argv, ":c:H:l:r:L:T:a:e:dh", run_options, NULL)) != -1) {
		const char *key = option_key(opt);

		if (key && config_set(cfg, key, optarg, err, err_size))
			return -EINVAL;
		if (opt == 'd')
			cfg->detach_on_exit = true;
	}
	return 0;
}

/* First pass over argv: --help, --config and unknown options. */
static int args_scan(struct agent *a)
{
	int opt;

	a->config_path = CONFIG_DEFAULT_PATH;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(a->argc, a->argv, ":c:H:l:r:L:T:a:e:dh", run_options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->config_path = optarg;
			a->config_required = true;
			break;
		case 'h':
			fputs(run_usage, stdout);
			exit(0);
		case ':':
			fprintf(stderr, "dnsredir-agent: option %s needs a value\n", a->argv[optind - 1]);
			return -EINVAL;
		case '?':
			fprintf(stderr, "dnsredir-agent: unknown option \"%s\" (see --help)\n", a->argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < a->argc) {
		fprintf(stderr, "dnsredir-agent: unexpected argument \"%s\" (see --help)\n", a->argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static void subject_of(const struct container *c, struct log_subject *subj, char *srv, size_t srv_size)
{
	subj->container_id = c->id;
	subj->container_name = c->name[0] ? c->name : NULL;
	subj->server = c->server.addr.s_addr ? server_format(&c->server, srv, srv_size) : NULL;
}

/* Logs a refusal once per reason, and remembers it. */
static void container_refuse(struct container *c, enum container_state state, int priority, const char *reason)
{
	char srv[SERVER_STR_LEN], quoted[sizeof(c->reason) * 2];
	struct log_subject subj;

	if (c->state == state && !strcmp(c->reason, reason))
		return;
	c->state = state;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	subject_of(c, &subj, srv, sizeof(srv));
	log_msg(priority, &subj, "event=%s reason=%s", state == CONTAINER_SKIPPED ? "skipped" : "failed",
		log_quote(reason, strlen(reason), quoted, sizeof(quoted)));
}

/* Why a container cannot have a redirect, from its network settings; NULL if it can. */
static const char *network_refusal(const struct container_info *info, char *buf, size_t size)
{
	if (!strcmp(info->network_mode, "host"))
		return "host network: the container has no network namespace of its own";
	if (!strcmp(info->network_mode, "none"))
		return "network none: the container has no network";
	if (!strncmp(info->network_mode, "container:", 10)) {
		snprintf(buf, size, "shares the network namespace of %.80s: label that container instead",
			 info->network_mode + 10);
		return buf;
	}
	if (!info->has_user_network)
		return "only on the default bridge network, which has no embedded DNS resolver (use a user-defined network)";
	return NULL;
}

/* Removes c from the table, letting its process go if it is held. */
static void container_drop(struct agent *a, struct container *c)
{
	if (c->pid)
		hold_release(&a->holds, c->pid);
	containers_remove(&a->containers, c);
}

/* Says that a redirected container no longer is. */
static void container_forget_log(struct container *c, const char *why)
{
	struct log_subject subj;
	char srv[SERVER_STR_LEN];

	if (c->state == CONTAINER_REDIRECTED) {
		subject_of(c, &subj, srv, sizeof(srv));
		log_info(&subj, "event=forgotten reason=%s", why);
	}
}

static void container_forget(struct agent *a, struct container *c, const char *why)
{
	container_forget_log(c, why);
	container_drop(a, c);
}

/*
 * Applies a validated server to the netns of a container's process. Early
 * (before start) a netns that is not ready yet is not an error: the caller
 * tries again. Returns attach_pid()'s result.
 */
static int container_attach(struct agent *a, struct container *c, pid_t pid,
			    const struct dns_server *server, long long event_nano, bool early)
{
	char err[ATTACH_ERR_MAX], srv[SERVER_STR_LEN], src[INET_ADDRSTRLEN];
	char since_event[48] = "";
	struct attach_result res;
	struct log_subject subj;
	long long start = now_ns();
	int ret;

	ret = attach_pid(pid, server, &res, err, sizeof(err));
	if (ret && early)
		return ret;	/* failures are the start event's to report */
	c->server = *server;
	c->pid = pid;
	if (ret == -ESRCH && c->state == CONTAINER_REDIRECTED) {
		container_drop(a, c);	/* redirected early, already gone */
		return ret;
	}
	if (ret == -ESRCH && !netns_host_pids()) {
		snprintf(err, sizeof(err), "its process (pid %d) is not visible: the agent runs in a PID namespace "
			 "of its own (run its container with --pid=host)", pid);
		container_refuse(c, CONTAINER_FAILED, LOG_ERR, err);
		return ret;
	}
	if (ret == -ESRCH) {
		/* it stopped under us: its die event follows */
		subject_of(c, &subj, srv, sizeof(srv));
		log_info(&subj, "event=skipped reason=\"container exited before the redirect was attached\"");
		container_drop(a, c);
		return ret;
	}
	if (ret) {
		container_refuse(c, CONTAINER_FAILED, LOG_WARNING, err);
		return ret;
	}
	hold_release(&a->holds, pid);
	subject_of(c, &subj, srv, sizeof(srv));
	inet_ntop(AF_INET, &res.route.source, src, sizeof(src));
	if (event_nano > 0)
		snprintf(since_event, sizeof(since_event), " since_event_us=%lld",
			 (wall_ns() - event_nano) / 1000);
	log_msg(res.outcome == REDIR_UNCHANGED ? LOG_DEBUG : LOG_INFO, &subj,
		"event=%s pid=%d iface=%s source=%s resolver_udp=%u resolver_tcp=%u took_us=%lld%s early=%s held=%s",
		redir_outcome_name(res.outcome), pid, res.route.ifname, src,
		res.ports.udp, res.ports.tcp, (now_ns() - start) / 1000, since_event,
		early ? "yes" : "no", c->held ? "yes" : "no");
	c->early = early;
	c->state = CONTAINER_REDIRECTED;
	c->held = false;
	c->reason[0] = '\0';
	return 0;
}

/*
 * Brings one container in line with its label: the one path for every
 * trigger. event_nano is the wall-clock time of the event that asked for it
 * (0 for a resync), to log how long the container went unredirected.
 */
static void container_sync(struct agent *a, const char *id, long long event_nano)
{
	char err[DOCKER_ERR_MAX], path[128], why[ATTACH_ERR_MAX], buf[512];
	struct container_info info;
	struct dns_server server;
	struct container *c;
	const char *refusal;
	size_t len;
	long status;
	char *body;

	snprintf(path, sizeof(path), "/containers/%s/json", id);
	if (docker_get(&a->docker, path, &body, &len, &status, err, sizeof(err))) {
		log_warn(&(struct log_subject){ .container_id = id }, "event=inspect-failed error=\"%s\"", err);
		return;
	}
	c = containers_find(&a->containers, id);
	if (status == 404) {
		if (c)
			container_forget(a, c, "removed");
		free(body);
		return;
	}
	if (status != 200 || docker_inspect_parse(body, len, a->cfg.label, &info) || strcmp(info.id, id)) {
		log_warn(&(struct log_subject){ .container_id = id },
			 "event=inspect-failed error=\"HTTP %ld or unreadable answer\"", status);
		free(body);
		return;
	}
	free(body);

	if (!info.running || !info.has_label || !info.pid) {
		if (c)
			container_forget(a, c, info.running ? "label gone" : "stopped");
		return;
	}
	c = containers_get(&a->containers, id);
	if (!c)
		return;
	snprintf(c->name, sizeof(c->name), "%s", info.name);
	c->generation = a->generation;

	if (server_parse(info.label, info.label_len, &server, why, sizeof(why))) {
		snprintf(buf, sizeof(buf), "label %s: %s", a->cfg.label, why);
		container_refuse(c, CONTAINER_SKIPPED, LOG_WARNING, buf);
		return;
	}
	if (!config_server_allowed(&a->cfg, &server)) {
		char srv[SERVER_STR_LEN];

		snprintf(buf, sizeof(buf), "label %s: server %s is not in allowed_servers", a->cfg.label,
			 server_format(&server, srv, sizeof(srv)));
		container_refuse(c, CONTAINER_SKIPPED, LOG_WARNING, buf);
		return;
	}
	refusal = network_refusal(&info, buf, sizeof(buf));
	if (refusal) {
		c->server = server;
		container_refuse(c, CONTAINER_SKIPPED, LOG_INFO, refusal);
		return;
	}
	container_attach(a, c, info.pid, &server, event_nano, false);
}

/* The pending container whose process is pid, or NULL. */
static struct container *container_pending_by_pid(struct agent *a, pid_t pid)
{
	for (size_t i = 0; i < a->containers.count; i++) {
		struct container *c = &a->containers.items[i];

		if (c->state == CONTAINER_PENDING && c->pid == pid)
			return c;
	}
	return NULL;
}

/* A held process reached its exec: its command runs as soon as this returns. */
static void container_at_exec(pid_t pid, void *arg)
{
	struct agent *a = arg;
	struct container *c = container_pending_by_pid(a, pid);

	if (!c || !c->connected)
		return;	/* not a netns of its own (or not known yet): left to its start event */
	c->held = true;
	/* Docker has finished with the netns: a failure is real, and the start event reports it */
	container_attach(a, c, pid, &c->server, c->event_nano, true);
}

static void holds_reap(struct agent *a)
{
	hold_reap(&a->holds, container_at_exec, a);
}

static void list_one(const char *id, void *arg)
{
	struct agent *a = arg;

	/* a resync can take a while: do not keep a held container waiting for it */
	holds_reap(a);
	container_sync(a, id, 0);
}

/* Lists running labelled containers and syncs each; forgets the ones gone. */
static int resync(struct agent *a, const char *why)
{
	char err[DOCKER_ERR_MAX], path[512], *body, *filters, *escaped;
	size_t redirected = 0, skipped = 0, failed = 0, len;
	long long start = now_ms();
	cJSON *root;
	long status;
	int n, ret;

	root = cJSON_CreateObject();
	cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "label"), cJSON_CreateString(a->cfg.label));
	filters = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	escaped = filters ? curl_easy_escape(NULL, filters, 0) : NULL;
	free(filters);
	if (!escaped)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/containers/json?filters=%s", escaped);
	curl_free(escaped);

	ret = docker_get(&a->docker, path, &body, &len, &status, err, sizeof(err));
	if (ret) {
		log_warn(NULL, "event=resync-failed error=\"%s\"", err);
		return ret;
	}
	a->generation++;
	n = status == 200 ? docker_list_parse(body, len, list_one, a) : -EPROTO;
	free(body);
	if (n < 0) {
		log_warn(NULL, "event=resync-failed error=\"container list: HTTP %ld or unreadable answer\"", status);
		return -EPROTO;
	}
	for (size_t i = a->containers.count; i-- > 0;) {
		struct container *c = &a->containers.items[i];

		if (c->state == CONTAINER_PENDING)
			continue;
		if (c->generation != a->generation) {
			container_forget(a, c, "not running");
			continue;
		}
		redirected += c->state == CONTAINER_REDIRECTED;
		skipped += c->state == CONTAINER_SKIPPED;
		failed += c->state == CONTAINER_FAILED;
	}
	log_msg(!strcmp(why, "timer") ? LOG_DEBUG : LOG_INFO, NULL,
		"event=resync trigger=%s containers=%d redirected=%zu skipped=%zu failed=%zu took_ms=%lld",
		why, n, redirected, skipped, failed, now_ms() - start);
	return 0;
}

/* From now on, look for c's process, to attach before its command runs. */
static void container_await(struct container *c, long long event_nano)
{
	pid_t last = early_last_pid();

	c->state = CONTAINER_PENDING;
	c->pid = 0;
	c->shim_pid = 0;
	c->held = false;
	c->early = false;
	c->connected = false;
	c->event_nano = event_nano;
	c->pending_since_ms = now_ms();
	c->search_at_ms = 0;
	c->after_pid = last > EARLY_PID_SLACK ? last - EARLY_PID_SLACK : 0;
	/* its attach must be quick: load its programs now, while Docker sets it up */
	redir_prepare();
}

/*
 * A labelled container was created: look for its process until it starts,
 * to attach before its command runs (its first query must not leak). A bad
 * or refused label is left to the start event to report.
 */
static void container_expect(struct agent *a, const char *line, long len, const struct docker_event *ev)
{
	char value[DOCKER_LABEL_MAX], why[ATTACH_ERR_MAX];
	struct dns_server server;
	struct container *c;
	size_t value_len;

	if (a->cfg.early_attach == EARLY_ATTACH_OFF ||
	    docker_event_label(line, len, a->cfg.label, value, sizeof(value), &value_len) != 1 ||
	    server_parse(value, value_len, &server, why, sizeof(why)) ||
	    !config_server_allowed(&a->cfg, &server))
		return;
	c = containers_get(&a->containers, ev->id);
	if (!c || c->state == CONTAINER_REDIRECTED)
		return;
	snprintf(c->name, sizeof(c->name), "%s", ev->name);
	c->server = server;
	container_await(c, ev->time_nano);
}

/*
 * A redirected container died. A restart (docker restart, a restart policy)
 * sends no create event, only start once the command runs: expect it now,
 * until the container is destroyed or the wait runs out.
 */
static void container_died(struct agent *a, struct container *c, long long event_nano)
{
	bool expect_restart = c->state == CONTAINER_REDIRECTED && a->cfg.early_attach != EARLY_ATTACH_OFF;

	if (!expect_restart) {
		container_forget(a, c, "died");
		return;
	}
	container_forget_log(c, "died");
	hold_release(&a->holds, c->pid);
	container_await(c, event_nano);
}

/* Holds a created container's process at its exec, unless ptrace is refused us. */
static void container_hold(struct agent *a, struct container *c)
{
	char srv[SERVER_STR_LEN];
	struct log_subject subj;
	int ret;

	if (a->hold_refused)
		return;
	ret = hold_take(&a->holds, c->pid);
	subject_of(c, &subj, srv, sizeof(srv));
	log_debug(&subj, "event=found pid=%d shim=%d held=%s", c->pid, c->shim_pid,
		  ret ? strerror(-ret) : "yes");
	if (ret == -EPERM || ret == -ENOSYS) {
		a->hold_refused = true;
		log_warn(&subj, "event=hold-refused error=\"ptrace: %s\" note=\"needs CAP_SYS_PTRACE: "
			 "a container's first lookups may reach dockerd before the redirect is attached\"",
			 strerror(-ret));
	}
}

/* Finds the shims of created containers that have none yet: one pass over /proc for all. */
static void early_find(struct agent *a)
{
	char ids[EARLY_BATCH_MAX][DOCKER_ID_LEN + 1];
	const char *id_ptrs[EARLY_BATCH_MAX];
	pid_t shims[EARLY_BATCH_MAX] = {}, after_pid = 0;
	size_t n = 0;

	for (size_t i = 0; i < a->containers.count && n < EARLY_BATCH_MAX; i++) {
		struct container *c = &a->containers.items[i];

		if (c->state != CONTAINER_PENDING || c->shim_pid || now_ms() < c->search_at_ms)
			continue;
		if (!n || c->after_pid < after_pid)
			after_pid = c->after_pid;
		snprintf(ids[n], sizeof(ids[n]), "%s", c->id);
		id_ptrs[n] = ids[n];
		n++;
	}
	if (!n || early_find_shims(id_ptrs, n, after_pid, shims))
		return;
	for (size_t i = 0; i < n; i++) {
		struct container *c = containers_find(&a->containers, ids[i]);

		if (c && shims[i])
			c->shim_pid = shims[i];
	}
}

/* One step for one created container: find its process, hold it, attach once Docker is done. */
static void early_step(struct agent *a, struct container *c, bool search)
{
	int ret;

	if (!c->pid && c->shim_pid && search && kill(c->shim_pid, 0) < 0 && errno == ESRCH)
		c->shim_pid = 0;	/* the shim of its last run (a restart), gone: look again */
	if (!c->pid && c->shim_pid && search) {
		c->pid = early_shim_init(c->shim_pid);
		if (c->pid)
			container_hold(a, c);
	}
	/*
	 * Never before Docker has connected it to a network: until then, its
	 * process may be in another container's netns (--network container:X).
	 */
	if (!c->pid || !c->connected)
		return;
	/* attached when it reaches its exec, unless it could not be held */
	if (a->cfg.early_attach == EARLY_ATTACH_EXEC && hold_has(&a->holds, c->pid))
		return;
	/* the resolver starts last: until then, a look at one file is all it takes */
	if (resolver_find(c->pid, &(struct resolver_ports){}) == -ENOENT)
		return;
	ret = container_attach(a, c, c->pid, &c->server, c->event_nano, true);
	if (!ret)
		redir_prepare();	/* for the next one in a burst */
	else if (ret == -ESRCH || ret == -EEXIST)
		container_drop(a, c);	/* gone, or host network */
	/* else no resolver or no route yet: Docker is still setting it up */
}

/*
 * Works on created containers until their process is found, held and, once
 * Docker has set up the netns, redirected. Returns how many still wait.
 */
static size_t early_poll(struct agent *a)
{
	char ids[EARLY_BATCH_MAX][DOCKER_ID_LEN + 1];
	bool search[EARLY_BATCH_MAX];
	size_t n = 0, waiting = 0;
	long long now = now_ms();

	for (size_t i = a->containers.count; i-- > 0;) {
		struct container *c = &a->containers.items[i];

		if (c->state != CONTAINER_PENDING)
			continue;
		if (now - c->pending_since_ms > EARLY_WINDOW_MS) {
			container_drop(a, c);	/* its start event takes over */
			continue;
		}
		if (n == EARLY_BATCH_MAX) {
			waiting++;	/* the rest at the next tick */
			continue;
		}
		snprintf(ids[n], sizeof(ids[0]), "%s", c->id);
		search[n++] = now >= c->search_at_ms;
	}
	if (!n)
		return waiting;
	/* searching /proc costs more than the rest: every EARLY_SCAN_MS, not every tick */
	early_find(a);
	/* attaching moves entries of the table: act through ids, not pointers */
	for (size_t i = 0; i < n; i++) {
		struct container *c = containers_find(&a->containers, ids[i]);

		if (!c || c->state != CONTAINER_PENDING)
			continue;
		if (search[i])
			c->search_at_ms = now + (now - c->pending_since_ms < EARLY_SLOW_AFTER_MS ?
						 EARLY_SCAN_MS : EARLY_SLOW_SCAN_MS);
		early_step(a, c, search[i]);
		c = containers_find(&a->containers, ids[i]);
		waiting += c && c->state == CONTAINER_PENDING;
	}
	return waiting;
}

/* Whether a container event carries our label (a bad value counts: it is reported). */
static bool event_has_label(struct agent *a, const char *line, long len)
{
	char value[DOCKER_LABEL_MAX];
	size_t value_len;

	return docker_event_label(line, len, a->cfg.label, value, sizeof(value), &value_len) == 1;
}

static void event_handle(struct agent *a, const char *line, long len)
{
	struct docker_event ev;
	struct container *c;

	if (docker_event_parse(line, len, &ev)) {
		char quoted[160];

		log_warn(NULL, "event=bad-event line=%s", log_quote(line, len, quoted, sizeof(quoted)));
		return;
	}
	if (ev.time_nano > 0)
		a->last_event_sec = ev.time_nano / 1000000000LL;
	switch (ev.action) {
	case DOCKER_ACTION_CREATE:
		container_expect(a, line, len, &ev);
		break;
	case DOCKER_ACTION_START:
		c = containers_find(&a->containers, ev.id);
		/* redirected while it was created: nothing left to do, no need to ask dockerd */
		if (c && c->state == CONTAINER_REDIRECTED && c->early)
			break;
		if (c || event_has_label(a, line, len))
			container_sync(a, ev.id, ev.time_nano);
		break;
	case DOCKER_ACTION_CONNECT:
		/* an endpoint of its own: the netns its process is in is its own too */
		c = containers_find(&a->containers, ev.id);
		if (c && c->state == CONTAINER_PENDING)
			c->connected = true;
		break;
	case DOCKER_ACTION_DIE:
	case DOCKER_ACTION_DESTROY:
		/* the kernel drops the filters with the netns: only our state goes */
		c = containers_find(&a->containers, ev.id);
		if (c && ev.action == DOCKER_ACTION_DIE)
			container_died(a, c, ev.time_nano);
		else if (c)
			container_forget(a, c, "destroyed");
		break;
	case DOCKER_ACTION_OTHER:
		break;
	}
}

/*
 * Containers' create, start, die and destroy, and networks' connect. Not
 * filtered by label: a network event carries no container labels, and the
 * container events are checked for the label here (they carry all of them).
 */
static char *events_filters(const struct agent *a)
{
	static const char *const events[] = { "create", "start", "die", "destroy", "connect" };
	cJSON *root = cJSON_CreateObject(), *types, *list;
	char *out;

	types = cJSON_AddArrayToObject(root, "type");
	cJSON_AddItemToArray(types, cJSON_CreateString("container"));
	cJSON_AddItemToArray(types, cJSON_CreateString("network"));
	list = cJSON_AddArrayToObject(root, "event");
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		cJSON_AddItemToArray(list, cJSON_CreateString(events[i]));
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}

static void signals_read(struct agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			a->reload = true;
		else if (si.ssi_signo == SIGCHLD)
			holds_reap(a);	/* a held process stopped or exited */
		else
			a->stop = true;
	}
}

/* Sleeps up to ms, waking early for a signal. */
static void pause_ms(struct agent *a, int ms)
{
	struct pollfd pfd = { .fd = a->sigfd, .events = POLLIN };

	if (poll(&pfd, 1, ms) > 0)
		signals_read(a);
}

static int backoff_next(int current)
{
	int next = current ? current * 2 : BACKOFF_MIN_MS;

	if (next > BACKOFF_MAX_MS)
		next = BACKOFF_MAX_MS;
	/* jitter of +-25% so that agents on many hosts do not reconnect in step */
	return next * 3 / 4 + rand() % (next / 2 + 1);
}

static void config_reload(struct agent *a)
{
	char err[CONFIG_ERR_MAX];
	struct config fresh;

	a->reload = false;
	if (config_build(a, &fresh, err, sizeof(err))) {
		log_err(NULL, "event=reload-failed error=\"%s\" note=\"keeping the previous settings\"", err);
		return;
	}
	a->cfg = fresh;
	log_set_priority(a->cfg.log_level);
	log_info(NULL, "event=reloaded config=%s", a->config_path);
}

/* Subscribes and waits until dockerd has answered, so the list that follows misses nothing. */
static int subscribe(struct agent *a, char *err, size_t err_size)
{
	char *filters = events_filters(a);
	long long deadline = now_ms() + SUBSCRIBE_WAIT_MS;
	long code = 0;
	int ret;

	if (!filters)
		return -ENOMEM;
	ret = docker_events_open(&a->docker, filters, a->last_event_sec);
	free(filters);
	if (ret)
		return ret;
	while (!code && now_ms() < deadline) {
		ret = docker_events_wait(&a->docker, -1, 50, err, err_size);
		if (ret)
			return ret;
		curl_easy_getinfo(a->docker.stream, CURLINFO_RESPONSE_CODE, &code);
	}
	if (code != 200) {
		snprintf(err, err_size, "event stream: %s", code ? "refused" : "no answer from dockerd");
		return -ETIMEDOUT;
	}
	return 0;
}

/* One connected stretch: subscribe, resync, then follow events until the stream ends. */
static int session(struct agent *a, const char *why)
{
	char err[DOCKER_ERR_MAX], *line;
	unsigned long dropped = a->docker.lines.dropped;
	size_t early_waiting = 0;
	long long next_resync;
	int ret;
	long n;

	ret = docker_ping(&a->docker, err, sizeof(err));
	if (!ret)
		ret = subscribe(a, err, sizeof(err));
	if (ret) {
		log_warn(NULL, "event=docker-unavailable socket=%s error=\"%s\"", a->cfg.docker_host, err);
		docker_events_close(&a->docker);
		return ret;
	}
	log_info(NULL, "event=connected socket=%s api=%s label=%s", a->cfg.docker_host,
		 a->docker.api_version, a->cfg.label);
	resync(a, why);
	next_resync = now_ms() + a->cfg.resync_interval * 1000LL;

	while (!a->stop) {
		int timeout = IDLE_WAIT_MS;

		if (a->cfg.resync_interval) {
			long long left = next_resync - now_ms();

			timeout = left < 0 ? 0 : left;
		}
		if (early_waiting && timeout > EARLY_POLL_MS)
			timeout = EARLY_POLL_MS;
		ret = docker_events_wait(&a->docker, a->sigfd, timeout, err, sizeof(err));
		while ((n = docker_events_next(&a->docker, &line)) >= 0) {
			event_handle(a, line, n);
			free(line);
		}
		early_waiting = early_poll(a);
		if (a->docker.lines.dropped != dropped) {
			/* an event lost: the next resync repairs what it was about */
			log_warn(NULL, "event=bad-event error=\"event line too large (over %d bytes), dropped\" count=%lu",
				 DOCKER_EVENT_LINE_MAX, a->docker.lines.dropped - dropped);
			dropped = a->docker.lines.dropped;
		}
		signals_read(a);
		if (ret) {
			log_warn(NULL, "event=disconnected error=\"%s\"", err);
			break;
		}
		if (a->reload) {
			char old_host[sizeof(a->cfg.docker_host)], old_label[sizeof(a->cfg.label)];

			strcpy(old_host, a->cfg.docker_host);
			strcpy(old_label, a->cfg.label);
			config_reload(a);
			if (strcmp(old_host, a->cfg.docker_host) || strcmp(old_label, a->cfg.label)) {
				ret = -EAGAIN;	/* resubscribe with the new settings */
				break;
			}
			resync(a, "reload");
			next_resync = now_ms() + a->cfg.resync_interval * 1000LL;
		}
		if (a->cfg.resync_interval && now_ms() >= next_resync) {
			resync(a, "timer");
			next_resync = now_ms() + a->cfg.resync_interval * 1000LL;
		}
	}
	docker_events_close(&a->docker);
	return a->stop ? 0 : ret;
}

static void detach_all(struct agent *a)
{
	for (size_t i = 0; i < a->containers.count; i++) {
		struct container *c = &a->containers.items[i];
		char err[ATTACH_ERR_MAX], srv[SERVER_STR_LEN];
		struct log_subject subj;

		if (c->state != CONTAINER_REDIRECTED)
			continue;
		subject_of(c, &subj, srv, sizeof(srv));
		if (detach_pid(c->pid, err, sizeof(err)) < 0)
			log_warn(&subj, "event=detach-failed error=\"%s\"", err);
		else
			log_info(&subj, "event=detached");
	}
}

static int signals_open(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);	/* from the processes held at exec */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int agent_main(int argc, char **argv)
{
	struct agent a = { .argc = argc, .argv = argv, .sigfd = -1 };
	char err[CONFIG_ERR_MAX];
	long long connected_at;
	int backoff = 0, ret;
	const char *why = "start";

	if (args_scan(&a))
		return 2;
	if (config_build(&a, &a.cfg, err, sizeof(err))) {
		fprintf(stderr, "dnsredir-agent: %s\n", err);
		return 2;
	}
	log_init(a.cfg.log_target, a.cfg.log_level);
	srand(getpid() ^ time(NULL));
	a.sigfd = signals_open();
	/* only a unix socket, never TLS: skip initialising the TLS library */
	if (a.sigfd < 0 || curl_global_init(CURL_GLOBAL_NOTHING) ||
	    docker_init(&a.docker, a.cfg.docker_host)) {
		log_err(NULL, "event=init-failed error=\"%s\"", strerror(errno));
		return 1;
	}
	log_info(NULL, "event=starting socket=%s label=%s resync_interval=%u early_attach=%s detach_on_exit=%s",
		 a.cfg.docker_host, a.cfg.label, a.cfg.resync_interval,
		 config_early_attach_name(a.cfg.early_attach), a.cfg.detach_on_exit ? "true" : "false");

	while (!a.stop) {
		connected_at = now_ms();
		ret = session(&a, why);
		if (a.stop)
			break;
		if (ret == -EAGAIN) {
			/* settings changed: start over with the new socket */
			docker_fini(&a.docker);
			if (docker_init(&a.docker, a.cfg.docker_host))
				break;
			backoff = 0;
			why = "reload";
			continue;
		}
		if (now_ms() - connected_at > HEALTHY_MS)
			backoff = 0;
		backoff = backoff_next(backoff);
		log_info(NULL, "event=reconnecting in_ms=%d", backoff);
		pause_ms(&a, backoff);
		if (a.reload)
			config_reload(&a);
		why = "reconnect";
	}

	if (a.cfg.detach_on_exit)
		detach_all(&a);
	log_info(NULL, "event=stopped containers=%zu filters=%s", a.containers.count,
		 a.cfg.detach_on_exit ? "removed" : "left in place");
	docker_fini(&a.docker);
	redir_release();
	containers_free(&a.containers);
	hold_free(&a.holds);	/* the kernel lets held processes go as we exit */
	curl_global_cleanup();
	close(a.sigfd);
	return 0;
}
