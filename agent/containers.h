/* What the agent knows of each labelled container it has seen. */
#ifndef DNSREDIR_CONTAINERS_H
#define DNSREDIR_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "docker_json.h"
#include "server.h"

enum container_state {
	CONTAINER_NEW,		/* just added: nothing done yet */
	CONTAINER_REDIRECTED,
	CONTAINER_SKIPPED,	/* refused for a reason that needs a change to the container */
	CONTAINER_FAILED,	/* attaching failed; retried at the next resync */
	CONTAINER_PENDING,	/* being started: its process is being looked for */
	CONTAINER_STOPPED,	/* labelled, not running (created, or died): waits for its next start */
};

struct container {
	char id[DOCKER_ID_LEN + 1];
	char name[DOCKER_NAME_MAX];
	enum container_state state;
	struct dns_server server;
	pid_t pid;
	char reason[512];		/* last reason logged, so a resync does not repeat it */
	unsigned long generation;	/* last resync that saw it running */
	long long event_nano;		/* PENDING, STOPPED: its create event's time, else 0 */
	long long pending_since_ms;	/* PENDING: when its start began (its network connect) */
	long long search_at_ms;		/* PENDING: next look for its processes */
	pid_t after_pid;		/* PENDING: its processes have higher PIDs */
	pid_t shim_pid;			/* PENDING: its containerd shim, once found */
	bool held;			/* PENDING: stopped at its exec until attached */
	bool early;			/* REDIRECTED before its start event */
};

struct container_table {
	struct container *items;
	size_t count;
	size_t cap;
};

struct container *containers_find(struct container_table *t, const char *id);
/* Finds or adds (zeroed but for the id); NULL on ENOMEM. */
struct container *containers_get(struct container_table *t, const char *id);
void containers_remove(struct container_table *t, struct container *c);
void containers_free(struct container_table *t);

#endif
