/*
 * Redirecting a labelled container before its command runs. Docker sends
 * "start" only once the command runs, but connects the container to its
 * networks before it creates the container's process, and says so: from
 * that network "connect" event (for a container known to be labelled, from
 * its create event or an earlier life) the agent looks for the container's
 * process (early.c), holds it at its exec (hold.c), and attaches as soon as
 * Docker has set up its netns, or at the exec at the latest. A "connect" is
 * never sent for a container that shares another's netns (--network
 * container:X), nor for host or none networks: a netns attached to early is
 * always the container's own.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "clock.h"
#include "early.h"
#include "fleet.h"

#define EARLY_WINDOW_MS 30000	/* after that, its start event takes over */
#define EARLY_SCAN_MS 10		/* how often /proc is searched for a starting container's process */
#define EARLY_SLOW_AFTER_MS 2000	/* a start this slow (a loaded host, a big burst): */
#define EARLY_SLOW_SCAN_MS 40		/* search less often; runc still takes longer than this */
#define EARLY_BATCH_MAX 64	/* containers looked for in one pass over /proc */
#define EARLY_PID_SLACK 500	/* PIDs handed out before we saw the create event */

/* The pending container whose process is pid, or NULL. */
static struct container *container_pending_by_pid(struct fleet *f, pid_t pid)
{
	for (size_t i = 0; i < f->containers.count; i++) {
		struct container *c = &f->containers.items[i];

		if (c->state == CONTAINER_PENDING && c->pid == pid)
			return c;
	}
	return NULL;
}

/* A held process reached its exec: its command runs as soon as this returns. */
static void prestart_at_exec(pid_t pid, void *arg)
{
	struct fleet *f = arg;
	struct container *c = container_pending_by_pid(f, pid);

	if (!c)
		return;
	c->held = true;
	/* Docker has finished with the netns: a failure is real, and the start event reports it */
	container_attach(f, c, pid, &c->server, c->event_nano, true);
}

void prestart_reap(struct fleet *f)
{
	hold_reap(&f->holds, prestart_at_exec, f);
}

/* c is being started: look for its process, to attach before its command runs. */
static void container_await(struct container *c, long long event_nano)
{
	pid_t last = early_last_pid();

	c->state = CONTAINER_PENDING;
	c->pid = 0;
	c->shim_pid = 0;
	c->held = false;
	c->early = false;
	if (!c->event_nano)
		c->event_nano = event_nano;
	c->pending_since_ms = now_ms();
	c->search_at_ms = 0;
	c->after_pid = last > EARLY_PID_SLACK ? last - EARLY_PID_SLACK : 0;
	/* its attach must be quick: load its programs now, while Docker sets it up */
	redir_prepare();
}

/* c is labelled and not running: nothing to do until its next start. */
static void container_stopped(struct fleet *f, struct container *c)
{
	if (c->pid)
		hold_release(&f->holds, c->pid);
	c->state = CONTAINER_STOPPED;
	c->pid = 0;
	c->held = false;
	c->early = false;
	c->event_nano = 0;
}

/*
 * A labelled container was created: remember it (its create event carries
 * the labels, its network connect will not). A bad or refused label is left
 * to the start event to report.
 */
void prestart_expect(struct fleet *f, const char *line, long len, const struct docker_event *ev)
{
	char value[DOCKER_LABEL_MAX], why[ATTACH_ERR_MAX];
	struct dns_server server;
	struct container *c;
	size_t value_len;

	if (f->cfg->early_attach == EARLY_ATTACH_OFF ||
	    docker_event_label(line, len, f->cfg->label, value, sizeof(value), &value_len) != 1 ||
	    server_parse(value, value_len, &server, why, sizeof(why)) ||
	    !config_server_allowed(f->cfg, &server))
		return;
	c = containers_get(&f->containers, ev->id);
	if (!c || c->state == CONTAINER_REDIRECTED)
		return;
	snprintf(c->name, sizeof(c->name), "%s", ev->name);
	c->server = server;
	container_stopped(f, c);
	c->event_nano = ev->time_nano;	/* since_event_us of an early attach counts from create */
}

/* Docker connected a container to a network of its own: its start has begun. */
void prestart_connected(struct fleet *f, struct container *c, long long event_nano)
{
	if (c->state == CONTAINER_STOPPED && f->cfg->early_attach != EARLY_ATTACH_OFF)
		container_await(c, event_nano);
}

/*
 * A labelled container died. A restart (docker restart, a restart policy,
 * docker start later) sends no create event: keep it, to catch its next
 * start by its network connect.
 */
void prestart_died(struct fleet *f, struct container *c, const char *name)
{
	bool keep = (c->state == CONTAINER_REDIRECTED || c->state == CONTAINER_PENDING ||
		     c->state == CONTAINER_STOPPED) && f->cfg->early_attach != EARLY_ATTACH_OFF;

	if (!keep) {
		container_forget(f, c, "died");
		return;
	}
	container_forget_log(c, "died");
	container_stopped(f, c);
	if (name[0])
		snprintf(c->name, sizeof(c->name), "%s", name);	/* it may have been renamed */
}

/* Holds a starting container's process at its exec, unless ptrace is refused us. */
static void container_hold(struct fleet *f, struct container *c)
{
	char srv[SERVER_STR_LEN];
	struct log_subject subj;
	int ret;

	if (f->hold_refused)
		return;
	ret = hold_take(&f->holds, c->pid);
	container_subject(c, &subj, srv, sizeof(srv));
	log_debug(&subj, "event=found pid=%d shim=%d held=%s", c->pid, c->shim_pid,
		  ret ? strerror(-ret) : "yes");
	if (ret == -EPERM || ret == -ENOSYS) {
		f->hold_refused = true;
		log_warn(&subj, "event=hold-refused error=\"ptrace: %s\" note=\"needs CAP_SYS_PTRACE: "
			 "a container's first lookups may reach dockerd before the redirect is attached\"",
			 strerror(-ret));
	}
}

/*
 * Finds the shims of the containers ids[i] due a search (search[i]) that
 * have none yet: one pass over /proc for all of them.
 */
static void early_find(struct fleet *f, char (*ids)[DOCKER_ID_LEN + 1], const bool *search, size_t n)
{
	const char *want[EARLY_BATCH_MAX];
	pid_t shims[EARLY_BATCH_MAX] = {}, after_pid = 0;
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		struct container *c = containers_find(&f->containers, ids[i]);

		if (!search[i] || !c || c->shim_pid)
			continue;
		if (!m || c->after_pid < after_pid)
			after_pid = c->after_pid;
		want[m++] = ids[i];
	}
	if (!m || early_find_shims(want, m, after_pid, shims))
		return;
	for (size_t i = 0; i < m; i++) {
		struct container *c = containers_find(&f->containers, want[i]);

		if (c && shims[i])
			c->shim_pid = shims[i];
	}
}

/* One step for one starting container: find its process, hold it, attach once Docker is done. */
static void early_step(struct fleet *f, struct container *c, bool search)
{
	int ret;

	if (!c->pid && c->shim_pid && search && kill(c->shim_pid, 0) < 0 && errno == ESRCH)
		c->shim_pid = 0;	/* the shim of its last run (a restart), gone: look again */
	if (!c->pid && c->shim_pid && search) {
		c->pid = early_shim_init(c->shim_pid);
		if (c->pid)
			container_hold(f, c);
	}
	if (!c->pid)
		return;
	/* attached when it reaches its exec, unless it could not be held */
	if (f->cfg->early_attach == EARLY_ATTACH_EXEC && hold_has(&f->holds, c->pid))
		return;
	/* the resolver starts last: until then, a look at one file is all it takes */
	if (resolver_find(c->pid, &(struct resolver_ports){}) == -ENOENT)
		return;
	ret = container_attach(f, c, c->pid, &c->server, c->event_nano, true);
	if (!ret)
		redir_prepare();	/* for the next one in a burst */
	else if (ret == -ESRCH || ret == -EEXIST)
		container_drop(f, c);	/* gone, or host network */
	/* else no resolver or no route yet: Docker is still setting it up */
}

/*
 * Works on starting containers until their process is found, held and, once
 * Docker has set up the netns, redirected. Returns how many still wait.
 */
size_t prestart_poll(struct fleet *f)
{
	char ids[EARLY_BATCH_MAX][DOCKER_ID_LEN + 1];
	bool search[EARLY_BATCH_MAX];
	size_t n = 0, waiting = 0;
	long long now = now_ms();

	for (size_t i = f->containers.count; i-- > 0;) {
		struct container *c = &f->containers.items[i];

		if (c->state != CONTAINER_PENDING)
			continue;
		if (now - c->pending_since_ms > EARLY_WINDOW_MS) {
			container_stopped(f, c);	/* its start event takes over */
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
	early_find(f, ids, search, n);
	/* attaching moves entries of the table: act through ids, not pointers */
	for (size_t i = 0; i < n; i++) {
		struct container *c = containers_find(&f->containers, ids[i]);

		if (!c || c->state != CONTAINER_PENDING)
			continue;
		if (search[i])
			c->search_at_ms = now + (now - c->pending_since_ms < EARLY_SLOW_AFTER_MS ?
						 EARLY_SCAN_MS : EARLY_SLOW_SCAN_MS);
		early_step(f, c, search[i]);
		c = containers_find(&f->containers, ids[i]);
		waiting += c && c->state == CONTAINER_PENDING;
	}
	return waiting;
}
