/*
 * Exec holds with ptrace(2). Only PTRACE_O_TRACEEXEC is asked for, so a held
 * process stops for three reasons only: its exec (the point of it), a signal
 * sent to it (passed on at once), and our PTRACE_INTERRUPT when we let it go
 * early. Its real parent (runc, then containerd's shim) sees nothing of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "early.h"
#include "hold.h"

/* Whether another tracer (a debugger, strace -f on runc) has pid already. */
static bool traced(pid_t pid)
{
	char path[64], line[128];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, "TracerPid:", 10) && strtol(line + 10, NULL, 10) != 0;
	fclose(f);
	return found;
}

static struct hold *hold_find(const struct hold_table *t, pid_t pid)
{
	for (size_t i = 0; i < t->count; i++)
		if (t->items[i].pid == pid)
			return &t->items[i];
	return NULL;
}

bool hold_has(const struct hold_table *t, pid_t pid)
{
	return hold_find(t, pid) != NULL;
}

static void hold_drop(struct hold_table *t, struct hold *h)
{
	*h = t->items[--t->count];
}

int hold_take(struct hold_table *t, pid_t pid)
{
	struct hold *h;

	if (hold_find(t, pid))
		return 0;
	if (!early_is_runc_init(pid))
		return -ESTALE;
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct hold *grown = realloc(t->items, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		t->items = grown;
		t->cap = cap;
	}
	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)PTRACE_O_TRACEEXEC) < 0)
		return errno == EPERM && traced(pid) ? -EBUSY : -errno;
	h = &t->items[t->count++];
	*h = (struct hold){ .pid = pid };
	/* it may have exec'd between the check and the seize: then no exec stop comes */
	if (!early_is_runc_init(pid)) {
		hold_release(t, pid);
		return -ESTALE;
	}
	return 0;
}

void hold_release(struct hold_table *t, pid_t pid)
{
	struct hold *h = hold_find(t, pid);

	if (!h || h->releasing)
		return;
	h->releasing = true;
	/* a tracee must be stopped to be detached: stop it, detach at the stop */
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0 && errno == ESRCH)
		hold_drop(t, h);
}

/*
 * Handles one stop of a held process. Returns whether it is let go. at_exec
 * may take or release other holds: nothing here outlives its call but pid.
 */
static bool hold_stopped(struct hold_table *t, pid_t pid, int status,
			 void (*at_exec)(pid_t, void *), void *arg)
{
	int event = (unsigned int)status >> 16, sig = WSTOPSIG(status);
	bool releasing = hold_find(t, pid)->releasing;

	if (event == PTRACE_EVENT_EXEC) {
		if (!releasing)
			at_exec(pid, arg);
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return true;
	}
	if (event == PTRACE_EVENT_STOP) {
		/*
		 * Our interrupt, or a group stop (SIGSTOP and the like): detached
		 * in a group stop, it stays stopped, as it would untraced.
		 */
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return true;
	}
	/* a signal on its way to it: deliver it */
	if (releasing) {
		ptrace(PTRACE_DETACH, pid, NULL, (void *)(long)sig);
		return true;
	}
	ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	return false;
}

/* Collects the stops and exit of one held process. Returns whether it is let go. */
static bool hold_collect(struct hold_table *t, pid_t pid, void (*at_exec)(pid_t, void *), void *arg)
{
	int status;
	pid_t got;

	while ((got = waitpid(pid, &status, WNOHANG | __WALL)) != 0) {
		if (got < 0 || WIFEXITED(status) || WIFSIGNALED(status))
			return true;	/* exited, or no longer ours */
		if (WIFSTOPPED(status) && hold_stopped(t, pid, status, at_exec, arg))
			return true;
	}
	return false;
}

void hold_reap(struct hold_table *t, void (*at_exec)(pid_t pid, void *arg), void *arg)
{
	size_t n = t->count;
	pid_t *pids;

	if (!n)
		return;
	/* a snapshot: at_exec may change the table */
	pids = malloc(n * sizeof(*pids));
	if (!pids)
		return;		/* tried again at the next call */
	for (size_t i = 0; i < n; i++)
		pids[i] = t->items[i].pid;
	for (size_t i = 0; i < n; i++) {
		struct hold *h;

		if (!hold_find(t, pids[i]) || !hold_collect(t, pids[i], at_exec, arg))
			continue;
		h = hold_find(t, pids[i]);
		if (h)
			hold_drop(t, h);
	}
	free(pids);
}

void hold_free(struct hold_table *t)
{
	free(t->items);
	memset(t, 0, sizeof(*t));
}
