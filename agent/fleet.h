/*
 * The labelled containers the agent keeps redirected, and what each trigger
 * does to them: a Docker event, a resync, a held process reaching its exec.
 * fleet.c brings containers in line with their labels once they run;
 * prestart.c redirects them before their command runs.
 */
#ifndef DNSREDIR_FLEET_H
#define DNSREDIR_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "containers.h"
#include "docker.h"
#include "docker_json.h"
#include "hold.h"
#include "log.h"

#define PRESTART_POLL_MS 10	/* while a starting container waits for Docker to set it up */

struct fleet {
	const struct config *cfg;	/* the agent's: a reload shows through */
	struct docker *docker;
	struct container_table containers;
	struct hold_table holds;	/* starting containers' processes held at exec */
	bool hold_refused;		/* ptrace refused once: said so, do not retry */
	unsigned long generation;	/* resyncs so far */
};

/* Acts on one line of the event stream. Returns the event's time (ns; 0 if it has none), -1 if unreadable. */
long long fleet_event(struct fleet *f, const char *line, long len);
/* Lists the running labelled containers and syncs each; forgets the ones gone. */
int fleet_resync(struct fleet *f, const char *why);
/* Removes every redirect the agent made. */
void fleet_detach_all(struct fleet *f);
void fleet_free(struct fleet *f);

/* prestart.c: collects what happened to held processes (call on SIGCHLD). */
void prestart_reap(struct fleet *f);
/* prestart.c: works on starting containers; returns how many still wait. */
size_t prestart_poll(struct fleet *f);

/* Between fleet.c and prestart.c. */
void container_subject(const struct container *c, struct log_subject *subj, char *srv, size_t srv_size);
int container_attach(struct fleet *f, struct container *c, pid_t pid,
		     const struct dns_server *server, long long event_nano, bool early);
void container_drop(struct fleet *f, struct container *c);
void container_forget_log(struct container *c, const char *why);
void container_forget(struct fleet *f, struct container *c, const char *why);
void prestart_expect(struct fleet *f, const char *line, long len, const struct docker_event *ev);
void prestart_connected(struct fleet *f, struct container *c, long long event_nano);
void prestart_died(struct fleet *f, struct container *c, const char *name);

#endif
