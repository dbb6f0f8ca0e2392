/* Network namespaces by PID, pinned against PID reuse. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "netns.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Our own namespace, opened on first use so that we can always return to it. */
static int home_nsfd = -1;

static int home_open(void)
{
	if (home_nsfd >= 0)
		return 0;
	home_nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	return home_nsfd < 0 ? -errno : 0;
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
static unsigned long long start_time_of(pid_t pid)
{
	unsigned long long start = 0;
	char path[64], buf[1024], *paren;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	/* "pid (comm) state ...": comm may hold spaces and parentheses */
	if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')')))
		sscanf(paren + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		       &start);
	fclose(f);
	return start;
}

/*
 * A pidfd becomes readable when its process exits. Without pidfds, the same
 * PID with the same start time is the same process.
 */
bool netns_alive(const struct netns *ns)
{
	struct pollfd pfd = { .fd = ns->pidfd, .events = POLLIN };

	if (ns->pidfd < 0)
		return ns->start_time && start_time_of(ns->pid) == ns->start_time;
	return poll(&pfd, 1, 0) == 0;
}

int netns_open(pid_t pid, struct netns *ns)
{
	char path[PATH_MAX];
	struct stat st, home;
	int err;

	ns->pid = pid;
	ns->pidfd = ns->nsfd = -1;
	ns->start_time = 0;
	err = home_open();
	if (err)
		return err;
	if (pid <= 0)
		return -ESRCH;

	ns->pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (ns->pidfd < 0 && errno != ENOSYS)
		return -errno;
	if (ns->pidfd < 0) {
		ns->start_time = start_time_of(pid);
		if (!ns->start_time)
			return -ESRCH;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	ns->nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (ns->nsfd < 0) {
		err = errno == ENOENT ? -ESRCH : -errno;
		goto fail;
	}
	if (!netns_alive(ns)) {
		err = -ESRCH;
		goto fail;
	}
	if (fstat(ns->nsfd, &st) < 0 || fstat(home_nsfd, &home) < 0) {
		err = -errno;
		goto fail;
	}
	if (st.st_ino == home.st_ino && st.st_dev == home.st_dev) {
		err = -EEXIST;
		goto fail;
	}
	ns->inode = st.st_ino;
	return 0;
fail:
	netns_close(ns);
	return err;
}

void netns_close(struct netns *ns)
{
	if (ns->nsfd >= 0)
		close(ns->nsfd);
	if (ns->pidfd >= 0)
		close(ns->pidfd);
	ns->nsfd = ns->pidfd = -1;
}

int netns_enter(const struct netns *ns)
{
	int err = home_open();

	if (err)
		return err;
	return setns(ns->nsfd, CLONE_NEWNET) < 0 ? -errno : 0;
}

int netns_leave(void)
{
	return setns(home_nsfd, CLONE_NEWNET) < 0 ? -errno : 0;
}

bool netns_host_pids(void)
{
	struct stat st;

	/* the initial PID namespace has a fixed inode number (PROC_PID_INIT_INO) */
	return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == 0xEFFFFFFCU;
}
