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
#include <unistd.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "agent.h"
#include "clock.h"
#include "config.h"
#include "docker.h"
#include "fleet.h"
#include "log.h"
#include "redir.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define HEALTHY_MS 1000	/* connected this long: the next failure starts over */
#define SUBSCRIBE_WAIT_MS 3000
#define IDLE_WAIT_MS (3600 * 1000)	/* resync off: wake hourly, for nothing but the wait itself */

struct agent {
	struct config cfg;
	const char *config_path;
	bool config_required;
	int argc;
	char **argv;

	struct docker docker;
	struct fleet fleet;
	long long last_event_sec;	/* replayed with since= after a reconnect */
	long long connected_ms;		/* when the last session got connected; 0: it did not */
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
			prestart_reap(&a->fleet);	/* a held process stopped or exited */
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
	a->connected_ms = now_ms();
	log_info(NULL, "event=connected socket=%s%s%s api=%s label=%s", a->cfg.docker_host,
		 a->docker.socket_via[0] ? " via=" : "", a->docker.socket_via,
		 a->docker.api_version, a->cfg.label);
	fleet_resync(&a->fleet, why);
	next_resync = now_ms() + a->cfg.resync_interval * 1000LL;

	while (!a->stop) {
		int timeout = IDLE_WAIT_MS;

		if (a->cfg.resync_interval) {
			long long left = next_resync - now_ms();

			timeout = left < 0 ? 0 : left;
		}
		if (early_waiting && timeout > PRESTART_POLL_MS)
			timeout = PRESTART_POLL_MS;
		ret = docker_events_wait(&a->docker, a->sigfd, timeout, err, sizeof(err));
		while ((n = docker_events_next(&a->docker, &line)) >= 0) {
			long long t = fleet_event(&a->fleet, line, n);

			if (t > 0)
				a->last_event_sec = t / 1000000000LL;
			free(line);
		}
		early_waiting = prestart_poll(&a->fleet);
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
			fleet_resync(&a->fleet, "reload");
			next_resync = now_ms() + a->cfg.resync_interval * 1000LL;
		}
		if (a->cfg.resync_interval && now_ms() >= next_resync) {
			fleet_resync(&a->fleet, "timer");
			next_resync = now_ms() + a->cfg.resync_interval * 1000LL;
		}
	}
	docker_events_close(&a->docker);
	return a->stop ? 0 : ret;
}

/*
 * Whether SIGTERM or SIGINT waits to be read: a request to a hung dockerd
 * must not hold the agent's stop for its whole timeout.
 */
static bool stop_pending(void)
{
	sigset_t pending;

	return !sigpending(&pending) && (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
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

	a.fleet.cfg = &a.cfg;
	a.fleet.docker = &a.docker;
	char err[CONFIG_ERR_MAX];
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
	a.docker.interrupted = stop_pending;
	log_info(NULL, "event=starting socket=%s label=%s resync_interval=%u early_attach=%s detach_on_exit=%s",
		 a.cfg.docker_host, a.cfg.label, a.cfg.resync_interval,
		 config_early_attach_name(a.cfg.early_attach), a.cfg.detach_on_exit ? "true" : "false");

	while (!a.stop) {
		a.connected_ms = 0;
		ret = session(&a, why);
		if (a.stop)
			break;
		if (ret == -EAGAIN) {
			/* settings changed: start over with the new socket */
			docker_fini(&a.docker);
			if (docker_init(&a.docker, a.cfg.docker_host))
				break;
			a.docker.interrupted = stop_pending;
			backoff = 0;
			why = "reload";
			continue;
		}
		/*
		 * A dockerd that was there (a restart, an upgrade) is retried at
		 * once; one that keeps failing, or dropping us as soon as we are
		 * in, is retried less and less often.
		 */
		if (a.connected_ms && now_ms() - a.connected_ms >= HEALTHY_MS)
			backoff = 0;
		backoff = backoff_next(backoff);
		log_info(NULL, "event=reconnecting in_ms=%d", backoff);
		pause_ms(&a, backoff);
		if (a.reload)
			config_reload(&a);
		why = "reconnect";
	}

	if (a.cfg.detach_on_exit)
		fleet_detach_all(&a.fleet);
	log_info(NULL, "event=stopped containers=%zu filters=%s", a.fleet.containers.count,
		 a.cfg.detach_on_exit ? "removed" : "left in place");
	docker_fini(&a.docker);
	redir_release();
	fleet_free(&a.fleet);
	curl_global_cleanup();
	close(a.sigfd);
	return 0;
}
