/*
 * Unit tests of agent/hold.c against the real kernel: a child named like
 * runc's init is held, then execs; the hold must stop it at its exec (after
 * the new program is loaded, before it runs), pass signals on, let go when
 * asked, and leave it running when the holder dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "early.h"
#include "hold.h"

#define WAIT_MS 5000

/* A child that names itself like runc's init, then execs "sh -c 'exit 7'" once go is written to. */
struct child {
	pid_t pid;
	int go;		/* write a byte: exec */
	int said;	/* what its signal handler reports */
};

static int said_fd = -1;

static void on_usr1(int sig)
{
	(void)!write(said_fd, "u", 1);
}

static void proc_comm(pid_t pid, char *buf, size_t size);

/* Waits until the child has renamed itself. */
static void child_named(pid_t pid, const char *comm)
{
	char now[32];

	for (int ms = 0; ms < WAIT_MS; ms++) {
		proc_comm(pid, now, sizeof(now));
		if (!strcmp(now, comm))
			return;
		usleep(1000);
	}
	fail_msg("child %d never named itself %s", pid, comm);
}

static struct child child_start(const char *comm)
{
	int go[2], said[2];
	struct child c;
	char b;

	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(said, O_CLOEXEC), 0);
	c.pid = fork();
	assert_true(c.pid >= 0);
	if (!c.pid) {
		struct sigaction sa = { .sa_handler = on_usr1 };

		said_fd = said[1];
		sigaction(SIGUSR1, &sa, NULL);
		prctl(PR_SET_NAME, comm);
		while (read(go[0], &b, 1) < 0 && errno == EINTR)
			;
		execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	close(said[1]);
	c.go = go[1];
	c.said = said[0];
	child_named(c.pid, comm);
	return c;
}

static void child_go(struct child *c)
{
	assert_int_equal(write(c->go, "g", 1), 1);
}

/* The child's exit status, waiting up to WAIT_MS; -1 if it did not exit. */
static int child_exit(struct child *c)
{
	int status;

	for (int ms = 0; ms < WAIT_MS; ms += 5) {
		pid_t got = waitpid(c->pid, &status, WNOHANG | __WALL);

		if (got == c->pid && WIFEXITED(status)) {
			close(c->go);
			close(c->said);
			return WEXITSTATUS(status);
		}
		usleep(5000);
	}
	kill(c->pid, SIGKILL);
	return -1;
}

/* A field of /proc/PID/status ("TracerPid", ...), as a number. */
static long proc_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	long value = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			value = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return value;
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] ? p[2] : '?';
}

static void proc_comm(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, buf, size - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n - 1 : 0] = '\0';
}

/* What at_exec saw. */
struct seen {
	int calls;
	pid_t pid;
	char state;
	char comm[32];
};

static void record_exec(pid_t pid, void *arg)
{
	struct seen *s = arg;

	s->calls++;
	s->pid = pid;
	s->state = proc_state(pid);
	proc_comm(pid, s->comm, sizeof(s->comm));
}

/* Reaps until the table is empty or WAIT_MS passed. */
static void reap_until_empty(struct hold_table *t, struct seen *seen)
{
	for (int ms = 0; ms < WAIT_MS && t->count; ms += 2) {
		hold_reap(t, record_exec, seen);
		usleep(2000);
	}
}

static void stops_at_exec_after_the_new_program_is_loaded(void **state)
{
	struct hold_table t = {};
	struct seen seen = {};
	struct child c = child_start(EARLY_RUNC_INIT_COMM);

	assert_int_equal(hold_take(&t, c.pid), 0);
	assert_int_equal(proc_status(c.pid, "TracerPid"), getpid());
	assert_true(hold_has(&t, c.pid));
	hold_reap(&t, record_exec, &seen);
	assert_int_equal(seen.calls, 0);	/* nothing happens before the exec */
	assert_int_not_equal(proc_state(c.pid), 't');	/* and it is not stopped */

	child_go(&c);
	reap_until_empty(&t, &seen);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.pid, c.pid);
	assert_int_equal(seen.state, 't');	/* stopped while at_exec ran */
	assert_string_equal(seen.comm, "sh");	/* the new program, not yet run */
	assert_int_equal(t.count, 0);
	assert_int_equal(child_exit(&c), 7);
	hold_free(&t);
}

static void refuses_a_process_that_is_not_runc_init(void **state)
{
	struct hold_table t = {};
	struct child c = child_start("busybox");

	assert_int_equal(hold_take(&t, c.pid), -ESTALE);
	assert_int_equal(proc_status(c.pid, "TracerPid"), 0);
	assert_int_equal(t.count, 0);
	child_go(&c);
	assert_int_equal(child_exit(&c), 7);
	hold_free(&t);
}

static void release_lets_it_go_untouched(void **state)
{
	struct hold_table t = {};
	struct seen seen = {};
	struct child c = child_start(EARLY_RUNC_INIT_COMM);

	assert_int_equal(hold_take(&t, c.pid), 0);
	hold_release(&t, c.pid);
	reap_until_empty(&t, &seen);
	assert_int_equal(t.count, 0);
	assert_int_equal(proc_status(c.pid, "TracerPid"), 0);
	child_go(&c);	/* its blocked read was interrupted and restarted: it still waits for this */
	assert_int_equal(child_exit(&c), 7);
	assert_int_equal(seen.calls, 0);
	hold_free(&t);
}

static void signals_reach_the_held_process(void **state)
{
	struct hold_table t = {};
	struct seen seen = {};
	struct child c = child_start(EARLY_RUNC_INIT_COMM);
	struct pollfd pfd = { .fd = c.said, .events = POLLIN };
	char b = 0;

	assert_int_equal(hold_take(&t, c.pid), 0);
	assert_int_equal(kill(c.pid, SIGUSR1), 0);
	for (int ms = 0; ms < WAIT_MS && !poll(&pfd, 1, 0); ms += 2) {
		hold_reap(&t, record_exec, &seen);
		usleep(2000);
	}
	assert_int_equal(read(c.said, &b, 1), 1);
	assert_int_equal(b, 'u');
	assert_true(hold_has(&t, c.pid));	/* still held */
	child_go(&c);
	reap_until_empty(&t, &seen);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(child_exit(&c), 7);
	hold_free(&t);
}

/* A process of its own holding a child, reporting on a pipe: 'h' held, 's' at exec, 'e' hold over. */
struct holder {
	pid_t pid;
	int report[2];
};

static struct holder holder_start(struct child *c, void (*at_exec)(pid_t, void *))
{
	struct holder h;

	assert_int_equal(pipe(h.report), 0);
	h.pid = fork();
	assert_true(h.pid >= 0);
	if (!h.pid) {
		struct hold_table t = {};

		if (hold_take(&t, c->pid))
			_exit(1);
		(void)!write(h.report[1], "h", 1);
		while (t.count) {
			hold_reap(&t, at_exec, &h.report[1]);
			usleep(1000);
		}
		(void)!write(h.report[1], "e", 1);
		_exit(0);
	}
	return h;
}

static void holder_end(struct holder *h)
{
	int status;

	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	close(h->report[0]);
	close(h->report[1]);
}

static char read_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char b = 0;

	if (poll(&pfd, 1, WAIT_MS) != 1 || read(fd, &b, 1) != 1)
		return 0;
	return b;
}

static void nothing_at_exec(pid_t pid, void *arg)
{
}

static void exit_before_exec_ends_the_hold(void **state)
{
	struct child c = child_start(EARLY_RUNC_INIT_COMM);
	struct holder h = holder_start(&c, nothing_at_exec);
	int status;

	assert_int_equal(read_byte(h.report[0]), 'h');
	kill(c.pid, SIGKILL);
	assert_int_equal(read_byte(h.report[0]), 'e');	/* the holder saw it go */
	assert_int_equal(waitpid(c.pid, &status, 0), c.pid);	/* and its parent still gets its exit */
	assert_true(WIFSIGNALED(status));
	close(c.go);
	close(c.said);
	holder_end(&h);
}

static void another_tracer_is_not_a_refusal(void **state)
{
	struct child c = child_start(EARLY_RUNC_INIT_COMM);
	struct holder h = holder_start(&c, nothing_at_exec);
	struct hold_table t = {};

	assert_int_equal(read_byte(h.report[0]), 'h');
	/* EBUSY: this process only; EPERM would mean ptrace is refused to us at all */
	assert_int_equal(hold_take(&t, c.pid), -EBUSY);
	assert_int_equal(t.count, 0);
	child_go(&c);
	assert_int_equal(read_byte(h.report[0]), 'e');
	assert_int_equal(child_exit(&c), 7);
	holder_end(&h);
	hold_free(&t);
}

static void die_at_exec(pid_t pid, void *arg)
{
	(void)!write(*(int *)arg, "s", 1);
	pause();	/* killed here, holding pid stopped at its exec */
}

static void a_dead_holder_leaves_it_running(void **state)
{
	struct child c = child_start(EARLY_RUNC_INIT_COMM);
	struct holder h = holder_start(&c, die_at_exec);

	assert_int_equal(read_byte(h.report[0]), 'h');
	child_go(&c);
	assert_int_equal(read_byte(h.report[0]), 's');	/* the holder has it stopped at its exec */
	assert_int_equal(proc_state(c.pid), 't');
	kill(h.pid, SIGKILL);
	assert_int_equal(child_exit(&c), 7);	/* the kernel let it go */
	holder_end(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stops_at_exec_after_the_new_program_is_loaded),
		cmocka_unit_test(refuses_a_process_that_is_not_runc_init),
		cmocka_unit_test(release_lets_it_go_untouched),
		cmocka_unit_test(signals_reach_the_held_process),
		cmocka_unit_test(exit_before_exec_ends_the_hold),
		cmocka_unit_test(another_tracer_is_not_a_refusal),
		cmocka_unit_test(a_dead_holder_leaves_it_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
