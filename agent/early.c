/*
 * Early PIDs from /proc. dockerd creates the container's netns and starts
 * containerd's shim, whose child (runc init) joins that netns; Docker's own
 * hook then configures the interface and the embedded resolver, and only then
 * is the container's command exec'd and the start event sent. The child's PID
 * is the container's PID for its whole life, so the usual attach path, with
 * its pidfd pinning, works on it unchanged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "early.h"

#define CMDLINE_MAX 4096

/* Reads /proc/PID/cmdline (NUL-separated); returns its length or -1. */
static ssize_t cmdline_read(const char *pid, char *buf, size_t size)
{
	char path[300];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/*
 * The "-id" argument of a running containerd shim's command line, or NULL.
 * "containerd-shim-runc-v2 ... start" (and "delete") are short-lived runs
 * of the same binary, with the same id: the first starts the shim that stays.
 */
static const char *shim_id(const char *cmd, ssize_t len)
{
	const char *end = cmd + len, *id = NULL, *last = cmd;

	if (!strstr(cmd, "containerd-shim"))	/* argv[0] */
		return NULL;
	for (const char *arg = cmd; arg < end; arg += strlen(arg) + 1) {
		const char *next = arg + strlen(arg) + 1;

		if (!strcmp(arg, "-id") && next < end)
			id = next;
		last = arg;
	}
	if (!strcmp(last, "start") || !strcmp(last, "delete"))
		return NULL;
	return id;
}

/*
 * A command line is only a claim: the shim must also run as root from a
 * containerd-shim executable, or any process could name itself after a
 * container and have its own netns taken for the container's.
 */
static bool shim_trusted(const char *pid)
{
	char path[300], exe[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%s", pid);
	if (stat(path, &st) < 0 || st.st_uid != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%s/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	return strstr(exe, "/containerd-shim") != NULL;
}

/* runc itself (create, start, ...) rather than "runc init" or the container's command. */
static bool is_runc_tool(const char *cmd, ssize_t len)
{
	const char *base = strrchr(cmd, '/');
	size_t argv0_len = strlen(cmd);

	base = base ? base + 1 : cmd;
	if (strcmp(base, "runc"))
		return false;
	return (ssize_t)argv0_len + 1 >= len || strcmp(cmd + argv0_len + 1, "init");
}

pid_t early_last_pid(void)
{
	char buf[32] = "";
	int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : 0;
}

/* Whether /proc/PID/comm (less its newline) is want. */
static bool comm_is(pid_t pid, const char *want)
{
	char path[64], comm[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n > 0 && comm[n - 1] == '\n')
		comm[n - 1] = '\0';
	return !strcmp(comm, want);
}

/*
 * The first child of any thread of pid that match() accepts, or 0. Go
 * programs (the shim, runc) fork from whichever thread they run on, so
 * every thread's children file has to be read.
 */
static pid_t child_find(pid_t pid, pid_t (*match)(pid_t child))
{
	char path[64], list[1024], *save = NULL, *tok;
	struct dirent *de;
	pid_t found = 0;
	DIR *tasks;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	tasks = opendir(path);
	if (!tasks)
		return 0;
	while (!found && (de = readdir(tasks))) {
		ssize_t n;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, atoi(de->d_name));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, list, sizeof(list) - 1);
		close(fd);
		if (n <= 0)
			continue;
		list[n] = '\0';
		for (tok = strtok_r(list, " \n", &save); tok && !found; tok = strtok_r(NULL, " \n", &save))
			found = match(atoi(tok));
	}
	closedir(tasks);
	return found;
}

bool early_is_runc_init(pid_t pid)
{
	return comm_is(pid, EARLY_RUNC_INIT_COMM);
}

static pid_t match_runc_init(pid_t pid)
{
	return early_is_runc_init(pid) ? pid : 0;
}

/* Whether two processes are in different mount namespaces. */
static bool mnt_ns_differ(pid_t a, pid_t b)
{
	char path[64];
	struct stat sa, sb;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", a);
	if (stat(path, &sa) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", b);
	if (stat(path, &sb) < 0)
		return false;
	return sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev;
}

static pid_t shim_of_match;	/* the shim whose children match_shim_child() looks at */

/*
 * A shim's child that is the container: runc's init handed over to the
 * shim once "runc create" is done, or the container's command it has become
 * (in the container's mount namespace, unlike a fork of the shim that has
 * not exec'd runc yet); or, through "runc create", the init still its child.
 */
static pid_t match_shim_child(pid_t pid)
{
	char path[32], cmd[CMDLINE_MAX];
	ssize_t len;

	if (early_is_runc_init(pid))
		return pid;
	snprintf(path, sizeof(path), "%d", pid);
	len = cmdline_read(path, cmd, sizeof(cmd));
	if (len <= 0)
		return 0;
	if (is_runc_tool(cmd, len))
		return child_find(pid, match_runc_init);
	return mnt_ns_differ(pid, shim_of_match) ? pid : 0;
}

pid_t early_shim_init(pid_t shim)
{
	shim_of_match = shim;
	return child_find(shim, match_shim_child);
}

int early_find_shims(const char *const *ids, size_t count, pid_t after_pid, pid_t *shims)
{
	char cmd[CMDLINE_MAX];
	struct dirent *de;
	size_t left = 0;
	DIR *proc;

	for (size_t i = 0; i < count; i++)
		left += !shims[i];
	proc = opendir("/proc");
	if (!proc)
		return -errno;
	/* one pass over /proc for every container waiting, however many */
	while (left && (de = readdir(proc))) {
		const char *id;
		ssize_t len;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || atoi(de->d_name) <= after_pid)
			continue;
		len = cmdline_read(de->d_name, cmd, sizeof(cmd));
		id = len > 0 ? shim_id(cmd, len) : NULL;
		for (size_t i = 0; id && i < count; i++) {
			if (shims[i] || strcmp(id, ids[i]) || !shim_trusted(de->d_name))
				continue;
			shims[i] = atoi(de->d_name);
			left--;
		}
	}
	closedir(proc);
	return 0;
}
