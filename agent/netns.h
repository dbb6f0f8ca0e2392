/* Entering a process's network namespace without racing its exit. */
#ifndef DNSREDIR_NETNS_H
#define DNSREDIR_NETNS_H

#include <stdbool.h>
#include <sys/types.h>

struct netns {
	pid_t pid;
	int pidfd;	/* the process itself: tells whether it is still alive, whatever its PID now names */
	unsigned long long start_time;	/* without pidfds (kernel < 5.3): the same, by start time */
	int nsfd;	/* pins the namespace itself */
	unsigned long long inode;
};

/*
 * Opens the network namespace of pid. The PID is pinned with a pidfd first,
 * the namespace opened, then the pidfd checked again: had the process exited
 * in between, the namespace we opened could be another process's under a
 * reused PID. Returns 0, -ESRCH (no such process, or it exited), -EEXIST
 * (it shares our own network namespace, e.g. host network), or -errno.
 */
int netns_open(pid_t pid, struct netns *ns);
void netns_close(struct netns *ns);
bool netns_alive(const struct netns *ns);

/*
 * Whether we run in the host's (initial) PID namespace, where the PIDs
 * Docker reports name processes.
 */
bool netns_host_pids(void);

/* Moves the calling thread into ns; netns_leave() returns to where it was. */
int netns_enter(const struct netns *ns);
int netns_leave(void);

#endif
