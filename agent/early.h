/*
 * Finding a container's init process before Docker reports its PID, so the
 * redirect can be in place before the container's first instruction runs.
 */
#ifndef DNSREDIR_EARLY_H
#define DNSREDIR_EARLY_H

#include <sys/types.h>

/* The last PID the kernel handed out: processes started later have higher ones. */
pid_t early_last_pid(void);

/*
 * Looks for the processes containerd runs for the containers ids[0..count):
 * each the child of the shim started with "-id <id>" (runc init, which later
 * execs the container's command under the same PID). The full 64-digit id in
 * the shim's command line identifies it positively. Only processes above
 * after_pid are looked at (0: all), which keeps the one pass over /proc
 * cheap. Fills pids[i] for each found (entries already non-zero are left
 * alone). Returns 0 or -errno.
 */
int early_find_inits(const char *const *ids, size_t count, pid_t after_pid, pid_t *pids);

#endif
