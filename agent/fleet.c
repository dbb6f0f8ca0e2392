/*
 * Containers brought in line with their labels: one path (container_sync)
 * for every trigger, the start event and the resync alike, idempotent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "attach.h"
#include "clock.h"
#include "fleet.h"
#include "netns.h"

void container_subject(const struct container *c, struct log_subject *subj, char *srv, size_t srv_size)
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
	container_subject(c, &subj, srv, sizeof(srv));
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
void container_drop(struct fleet *f, struct container *c)
{
	if (c->pid)
		hold_release(&f->holds, c->pid);
	containers_remove(&f->containers, c);
}

/* Says that a redirected container no longer is. */
void container_forget_log(struct container *c, const char *why)
{
	struct log_subject subj;
	char srv[SERVER_STR_LEN];

	if (c->state == CONTAINER_REDIRECTED) {
		container_subject(c, &subj, srv, sizeof(srv));
		log_info(&subj, "event=forgotten reason=%s", why);
	}
}

void container_forget(struct fleet *f, struct container *c, const char *why)
{
	container_forget_log(c, why);
	container_drop(f, c);
}

/*
 * Applies a validated server to the netns of a container's process. Early
 * (before start) a netns that is not ready yet is not an error: the caller
 * tries again. Returns attach_pid()'s result.
 */
int container_attach(struct fleet *f, struct container *c, pid_t pid,
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
		container_drop(f, c);	/* redirected early, already gone */
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
		container_subject(c, &subj, srv, sizeof(srv));
		log_info(&subj, "event=skipped reason=\"container exited before the redirect was attached\"");
		container_drop(f, c);
		return ret;
	}
	if (ret) {
		container_refuse(c, CONTAINER_FAILED, LOG_WARNING, err);
		return ret;
	}
	hold_release(&f->holds, pid);
	container_subject(c, &subj, srv, sizeof(srv));
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
static void container_sync(struct fleet *f, const char *id, long long event_nano)
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
	if (docker_get(f->docker, path, &body, &len, &status, err, sizeof(err))) {
		log_warn(&(struct log_subject){ .container_id = id }, "event=inspect-failed error=\"%s\"", err);
		return;
	}
	c = containers_find(&f->containers, id);
	if (status == 404) {
		if (c)
			container_forget(f, c, "removed");
		free(body);
		return;
	}
	if (status != 200 || docker_inspect_parse(body, len, f->cfg->label, &info) || strcmp(info.id, id)) {
		log_warn(&(struct log_subject){ .container_id = id },
			 "event=inspect-failed error=\"HTTP %ld or unreadable answer\"", status);
		free(body);
		return;
	}
	free(body);

	if (c && !info.running && info.has_label) {
		prestart_died(f, c, info.name);	/* gone again already: kept for its next start */
		return;
	}
	if (!info.running || !info.has_label || !info.pid) {
		if (c)
			container_forget(f, c, info.running ? "label gone" : "stopped");
		return;
	}
	c = containers_get(&f->containers, id);
	if (!c)
		return;
	snprintf(c->name, sizeof(c->name), "%s", info.name);
	c->generation = f->generation;

	if (server_parse(info.label, info.label_len, &server, why, sizeof(why))) {
		snprintf(buf, sizeof(buf), "label %s: %s", f->cfg->label, why);
		container_refuse(c, CONTAINER_SKIPPED, LOG_WARNING, buf);
		return;
	}
	if (!config_server_allowed(f->cfg, &server)) {
		char srv[SERVER_STR_LEN];

		snprintf(buf, sizeof(buf), "label %s: server %s is not in allowed_servers", f->cfg->label,
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
	container_attach(f, c, info.pid, &server, event_nano, false);
}

static void list_one(const char *id, void *arg)
{
	struct fleet *f = arg;

	/* a resync can take a while: do not keep a held container waiting for it */
	prestart_reap(f);
	container_sync(f, id, 0);
}

/* Lists running labelled containers and syncs each; forgets the ones gone. */
int fleet_resync(struct fleet *f, const char *why)
{
	char err[DOCKER_ERR_MAX], path[512], *body, *filters, *escaped;
	size_t redirected = 0, skipped = 0, failed = 0, len;
	long long start = now_ms();
	cJSON *root;
	long status;
	int n, ret;

	root = cJSON_CreateObject();
	cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "label"), cJSON_CreateString(f->cfg->label));
	filters = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	escaped = filters ? curl_easy_escape(NULL, filters, 0) : NULL;
	free(filters);
	if (!escaped)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/containers/json?filters=%s", escaped);
	curl_free(escaped);

	ret = docker_get(f->docker, path, &body, &len, &status, err, sizeof(err));
	if (ret) {
		log_warn(NULL, "event=resync-failed error=\"%s\"", err);
		return ret;
	}
	f->generation++;
	n = status == 200 ? docker_list_parse(body, len, list_one, f) : -EPROTO;
	free(body);
	if (n < 0) {
		log_warn(NULL, "event=resync-failed error=\"container list: HTTP %ld or unreadable answer\"", status);
		return -EPROTO;
	}
	for (size_t i = f->containers.count; i-- > 0;) {
		struct container *c = &f->containers.items[i];

		if (c->state == CONTAINER_PENDING || c->state == CONTAINER_STOPPED)
			continue;	/* not running (yet): the list has running ones only */
		if (c->generation != f->generation) {
			container_forget(f, c, "not running");
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

/* Whether a container event carries our label (a bad value counts: it is reported). */
static bool event_has_label(struct fleet *f, const char *line, long len)
{
	char value[DOCKER_LABEL_MAX];
	size_t value_len;

	return docker_event_label(line, len, f->cfg->label, value, sizeof(value), &value_len) == 1;
}

long long fleet_event(struct fleet *f, const char *line, long len)
{
	struct docker_event ev;
	struct container *c;

	if (docker_event_parse(line, len, &ev)) {
		char quoted[160];

		log_warn(NULL, "event=bad-event line=%s", log_quote(line, len, quoted, sizeof(quoted)));
		return -1;
	}
	switch (ev.action) {
	case DOCKER_ACTION_CREATE:
		prestart_expect(f, line, len, &ev);
		break;
	case DOCKER_ACTION_START:
		c = containers_find(&f->containers, ev.id);
		/* redirected while it was created: nothing left to do, no need to ask dockerd */
		if (c && c->state == CONTAINER_REDIRECTED && c->early)
			break;
		if (c || event_has_label(f, line, len))
			container_sync(f, ev.id, ev.time_nano);
		break;
	case DOCKER_ACTION_CONNECT:
		c = containers_find(&f->containers, ev.id);
		if (c)
			prestart_connected(f, c, ev.time_nano);
		break;
	case DOCKER_ACTION_DIE:
	case DOCKER_ACTION_DESTROY:
		/* the kernel drops the filters with the netns: only our state goes */
		c = containers_find(&f->containers, ev.id);
		if (c && ev.action == DOCKER_ACTION_DIE)
			prestart_died(f, c, ev.name);
		else if (c)
			container_forget(f, c, "destroyed");
		break;
	case DOCKER_ACTION_OTHER:
		break;
	}
	return ev.time_nano;
}

void fleet_detach_all(struct fleet *f)
{
	for (size_t i = 0; i < f->containers.count; i++) {
		struct container *c = &f->containers.items[i];
		char err[ATTACH_ERR_MAX], srv[SERVER_STR_LEN];
		struct log_subject subj;

		if (c->state != CONTAINER_REDIRECTED)
			continue;
		container_subject(c, &subj, srv, sizeof(srv));
		if (detach_pid(c->pid, err, sizeof(err)) < 0)
			log_warn(&subj, "event=detach-failed error=\"%s\"", err);
		else
			log_info(&subj, "event=detached");
	}
}

void fleet_free(struct fleet *f)
{
	containers_free(&f->containers);
	hold_free(&f->holds);	/* the kernel lets held processes go as we exit */
}
