/*
 * Logging. One line per event, "key=value" so that both people and log
 * tools can read it. On the console, warnings and errors go to stderr and the
 * rest to stdout, which Docker's journald log driver maps to priorities 3 and
 * 6. Under systemd, entries go to the journal natively, with their real
 * priority and the container as fields (CONTAINER_ID, CONTAINER_NAME,
 * DNS_SERVER) that journalctl can filter on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_LINE_MAX 2048

static struct {
	bool journal;
	int max_priority;
} log_state = { .journal = false, .max_priority = LOG_INFO };

static const char *const priority_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error", [LOG_WARNING] = "warn", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* systemd sets JOURNAL_STREAM to "dev:ino" of the stream it connected to stderr. */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int priority = level == LIBBPF_WARN ? LOG_WARNING :
		       level == LIBBPF_INFO ? LOG_INFO : LOG_DEBUG;
	char line[LOG_LINE_MAX];
	size_t len;

	/*
	 * libbpf's info lines are chatty, and looking for a filter that is not
	 * there (a normal question) makes it print the kernel's complaint.
	 */
	if (priority == LOG_INFO || strstr(fmt, "Kernel error message"))
		priority = LOG_DEBUG;
	if (priority > log_state.max_priority)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len && line[len - 1] == '\n')
		line[--len] = '\0';
	log_msg(priority, NULL, "event=libbpf msg=\"%s\"", line);
	return 0;
}

int log_init(enum log_target target, int max_priority)
{
	if (target == LOG_TARGET_AUTO)
		log_state.journal = stderr_is_journal();
	else
		log_state.journal = target == LOG_TARGET_JOURNAL;
	log_state.max_priority = max_priority;
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print);
	return 0;
}

void log_set_priority(int max_priority)
{
	log_state.max_priority = max_priority;
}

int log_parse_level(const char *s)
{
	for (int p = LOG_ERR; p <= LOG_DEBUG; p++)
		if (p != LOG_NOTICE && !strcasecmp(s, priority_names[p]))
			return p;
	if (!strcasecmp(s, "warning"))
		return LOG_WARNING;
	return -EINVAL;
}

int log_parse_target(const char *s)
{
	if (!strcmp(s, "auto"))
		return LOG_TARGET_AUTO;
	if (!strcmp(s, "console"))
		return LOG_TARGET_CONSOLE;
	if (!strcmp(s, "journal"))
		return LOG_TARGET_JOURNAL;
	return -EINVAL;
}

static size_t quoted_len(unsigned char c)
{
	return c == '"' || c == '\\' ? 2 : c < 0x20 || c >= 0x7f ? 4 : 1;
}

char *log_quote(const char *in, size_t in_len, char *out, size_t out_size)
{
	size_t o = 0, whole = 2;	/* the quotes */
	bool cut;

	if (out_size < 8) {
		if (out_size)
			out[0] = '\0';
		return out;
	}
	for (size_t i = 0; i < in_len && whole < out_size; i++)
		whole += quoted_len(in[i]);
	cut = whole + 1 > out_size;	/* only a value that does not fit is cut */
	out[o++] = '"';
	for (size_t i = 0; i < in_len; i++) {
		unsigned char c = in[i];
		char esc[5];
		int n;

		if (c == '"' || c == '\\')
			n = snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			n = snprintf(esc, sizeof(esc), "\\x%02x", c);
		else
			n = snprintf(esc, sizeof(esc), "%c", c);
		/* keep room for the closing quote, "..." and the NUL */
		if (cut && o + n + 5 > out_size) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

static void log_journal(int priority, const struct log_subject *subject, const char *line)
{
	struct iovec iov[6];
	char *fields[6] = {};
	int n = 0;

	if (asprintf(&fields[n], "MESSAGE=%s", line) >= 0)
		n++;
	if (asprintf(&fields[n], "PRIORITY=%d", priority) >= 0)
		n++;
	if (subject && subject->container_id && asprintf(&fields[n], "CONTAINER_ID=%.12s", subject->container_id) >= 0)
		n++;
	if (subject && subject->container_id && asprintf(&fields[n], "CONTAINER_ID_FULL=%s", subject->container_id) >= 0)
		n++;
	if (subject && subject->container_name && asprintf(&fields[n], "CONTAINER_NAME=%s", subject->container_name) >= 0)
		n++;
	if (subject && subject->server && asprintf(&fields[n], "DNS_SERVER=%s", subject->server) >= 0)
		n++;
	for (int i = 0; i < n; i++)
		iov[i] = (struct iovec){ .iov_base = fields[i], .iov_len = strlen(fields[i]) };
	if (sd_journal_sendv(iov, n) < 0)
		fprintf(stderr, "%s\n", line);
	for (int i = 0; i < n; i++)
		free(fields[i]);
}

void log_msg(int priority, const struct log_subject *subject, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t len;
	va_list ap;

	if (priority > log_state.max_priority)
		return;

	len = snprintf(line, sizeof(line), "level=%s ", priority_names[priority & 7]);
	if (subject && subject->container_name && len < sizeof(line))
		len += snprintf(line + len, sizeof(line) - len, "container=%s ", subject->container_name);
	if (subject && subject->container_id && len < sizeof(line))
		len += snprintf(line + len, sizeof(line) - len, "id=%.12s ", subject->container_id);
	if (subject && subject->server && len < sizeof(line))
		len += snprintf(line + len, sizeof(line) - len, "server=%s ", subject->server);
	if (len < sizeof(line)) {
		va_start(ap, fmt);
		vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		va_end(ap);
	}

	if (log_state.journal) {
		log_journal(priority, subject, line);
		return;
	}
	fprintf(priority <= LOG_WARNING ? stderr : stdout, "%s\n", line);
}
