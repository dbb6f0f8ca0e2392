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

/* The "-id" argument of a containerd shim's command line, or NULL. */
static const char *shim_id(const char *cmd, ssize_t len)
{
	const char *end = cmd + len;

	if (!strstr(cmd, "containerd-shim"))	/* argv[0] */
		return NULL;
	for (const char *arg = cmd; arg < end; arg += strlen(arg) + 1) {
		const char *next = arg + strlen(arg) + 1;

		if (!strcmp(arg, "-id") && next < end)
			return next;
	}
	return NULL;
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

/* The shim's child that is the container, from /proc/SHIM/task/SHIM/children. */
static pid_t shim_child(pid_t shim)
{
	char path[64], list[256], cmd[CMDLINE_MAX], *save = NULL, *tok;
	pid_t found = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", shim, shim);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, list, sizeof(list) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	list[n] = '\0';
	for (tok = strtok_r(list, " \n", &save); tok && !found; tok = strtok_r(NULL, " \n", &save)) {
		ssize_t len = cmdline_read(tok, cmd, sizeof(cmd));

		if (len > 0 && !is_runc_tool(cmd, len))
			found = atoi(tok);
	}
	return found;
}

int early_find_inits(const char *const *ids, size_t count, pid_t after_pid, pid_t *pids)
{
	char cmd[CMDLINE_MAX];
	struct dirent *de;
	size_t left = 0;
	DIR *proc;

	for (size_t i = 0; i < count; i++)
		left += !pids[i];
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
			if (pids[i] || strcmp(id, ids[i]) || !shim_trusted(de->d_name))
				continue;
			pids[i] = shim_child(atoi(de->d_name));
			left -= pids[i] != 0;
		}
	}
	closedir(proc);
	return 0;
}
