/*
 * Holding a starting container's process at the exec of its command, until
 * its redirect is in place: the last line of defence for "the very first
 * query is already redirected" when attaching during creation was too slow.
 *
 * A hold is a ptrace(2) PTRACE_SEIZE with PTRACE_O_TRACEEXEC on runc's init
 * process: it runs untouched until execve() has loaded the container's
 * command, then stops before the command's first instruction. The agent
 * attaches and lets it go. A seized process is never stopped otherwise, and
 * when the agent exits or is killed the kernel detaches it and it runs on:
 * a hold can delay a container by the time an attach takes, never wedge it.
 */
#ifndef DNSREDIR_HOLD_H
#define DNSREDIR_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct hold {
	pid_t pid;
	bool releasing;		/* interrupted: let go at its next stop */
};

struct hold_table {
	struct hold *items;
	size_t count;
	size_t cap;
};

/*
 * Holds pid, which must still be runc's init (not yet the container's
 * command). Returns 0, -ESTALE if it already runs the command (too late to
 * hold), -EBUSY if another tracer has it, -ENOMEM, or ptrace's -errno
 * (EPERM: no CAP_SYS_PTRACE).
 */
int hold_take(struct hold_table *t, pid_t pid);

/* Lets pid go (at once if it is stopped, else at its next stop). */
void hold_release(struct hold_table *t, pid_t pid);

/* Whether pid is held. */
bool hold_has(const struct hold_table *t, pid_t pid);

/*
 * Collects what happened to the held processes (call on SIGCHLD). For each
 * that reached its exec, at_exec(pid, arg) runs while it is stopped there;
 * then it is let go. Signals sent to a held process are passed on to it.
 */
void hold_reap(struct hold_table *t, void (*at_exec)(pid_t pid, void *arg), void *arg);

/* Forgets the table; the kernel lets every held process go when we exit. */
void hold_free(struct hold_table *t);

#endif
