// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * LD_PRELOAD shim for running the agent under valgrind (tests/e2e/70-valgrind.sh).
 *
 * The agent checks that a process is alive with pidfd_send_signal(pidfd, 0)
 * (agent/netns.c). Valgrind, up to 3.27 at least, does not implement that
 * syscall on amd64 and fails it with ENOSYS, so under valgrind every process
 * looks dead and nothing can be attached. This shim answers that one call,
 * with signal 0 and no siginfo, from poll() on the same pidfd instead, which
 * valgrind does implement: a pidfd polls readable once its process has
 * exited. It is slightly stricter (a zombie counts as gone, where signal 0
 * still reaches it), which changes nothing for the agent, whose next step,
 * opening /proc/PID/ns/net, fails for a zombie anyway. Every other syscall()
 * goes to libc's unchanged.
 *
 * It also tells memcheck what the kernel writes where valgrind's bpf()
 * wrapper does not know it: BPF_OBJ_GET_INFO_BY_FD on a program fills the
 * array that info.map_ids points to (agent/redir.c attached_find() reads the
 * map ids from it), and valgrind only marks the info struct itself as
 * written. Without this every map id, and all that follows from it, looks
 * uninitialised. (Only with valgrind's memcheck.h at build time; elsewhere a
 * no-op.)
 *
 * Built by the test itself: cc -shared -fPIC -o pidfd-shim.so pidfd-shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

typedef long (*syscall_fn)(long, ...);

static bool fd_is_bpf_prog(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:bpf-prog");
}

/* BPF_OBJ_GET_INFO_BY_FD, then the program's map ids marked as written. */
static long prog_info(syscall_fn real, long *a)
{
	union bpf_attr *attr = (union bpf_attr *)a[1];
	struct bpf_prog_info *info = NULL;
	__u32 want = 0;
	__u64 ids = 0;
	long ret;

	if (attr && fd_is_bpf_prog((int)attr->info.bpf_fd) &&
	    attr->info.info_len >= offsetof(struct bpf_prog_info, map_ids) + sizeof(info->map_ids)) {
		info = (struct bpf_prog_info *)(unsigned long)attr->info.info;
		want = info->nr_map_ids;
		ids = info->map_ids;
	}
	ret = real(SYS_bpf, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (ret == 0 && info && want && ids) {
		__u32 n = info->nr_map_ids < want ? info->nr_map_ids : want;

		VALGRIND_MAKE_MEM_DEFINED((void *)(unsigned long)ids, n * sizeof(__u32));
	}
	return ret;
}

long syscall(long number, ...)
{
	static syscall_fn real;
	long a[6];
	va_list ap;

	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);

	if (number == SYS_pidfd_send_signal && a[1] == 0 && a[2] == 0 && a[3] == 0) {
		struct pollfd pfd = { .fd = (int)a[0], .events = POLLIN };
		int n = poll(&pfd, 1, 0);

		if (n < 0)
			return -1;
		if (pfd.revents & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
		if (n > 0 && (pfd.revents & (POLLIN | POLLHUP))) {
			errno = ESRCH;
			return -1;
		}
		return 0;
	}
	if (!real)
		real = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	if (number == SYS_bpf && a[0] == BPF_OBJ_GET_INFO_BY_FD)
		return prog_info(real, a);
	return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
