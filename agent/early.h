/*
 * Finding a container's init process before Docker reports its PID, so the
 * redirect can be in place before the container's first instruction runs.
 */
#ifndef DNSREDIR_EARLY_H
#define DNSREDIR_EARLY_H

#include <stdbool.h>
#include <sys/types.h>

/* The last PID the kernel handed out: processes started later have higher ones. */
pid_t early_last_pid(void);

/* The name runc gives its init process until it execs the container's command. */
#define EARLY_RUNC_INIT_COMM "runc:[2:INIT]"

/* Whether pid is runc's init, not yet the container's command. */
bool early_is_runc_init(pid_t pid);

/*
 * Looks for the containerd shims of the containers ids[0..count): the
 * processes started with "-id <id>". The full 64-digit id in the shim's
 * command line identifies it positively. Only processes above after_pid are
 * looked at (0: all), which keeps the one pass over /proc cheap. Fills
 * shims[i] for each found (entries already non-zero are left alone).
 * Returns 0 or -errno.
 */
int early_find_shims(const char *const *ids, size_t count, pid_t after_pid, pid_t *shims);

/*
 * The container's process under its shim, or 0 if there is none yet: runc's
 * init, from the moment "runc create" starts it (before Docker configures
 * its netns) until it execs the container's command under the same PID.
 */
pid_t early_shim_init(pid_t shim);

#endif
