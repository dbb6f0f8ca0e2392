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
 * Looks for the process containerd runs for container_id: the child of the
 * shim started with "-id <container_id>" (runc init, which later execs the
 * container's command under the same PID). The full 64-digit id in the
 * shim's command line identifies it positively. Only processes above
 * after_pid are looked at (0: all), which keeps the scan of /proc cheap.
 * Returns the PID, 0 when there is none yet, or -errno.
 */
pid_t early_find_init(const char *container_id, pid_t after_pid);

#endif
