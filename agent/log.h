/* Leveled logging to the console (key=value lines) or the systemd journal. */
#ifndef DNSREDIR_LOG_H
#define DNSREDIR_LOG_H

#include <stddef.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_AUTO,	/* the journal when stderr is connected to it, else the console */
	LOG_TARGET_CONSOLE,	/* errors and warnings on stderr, the rest on stdout */
	LOG_TARGET_JOURNAL,	/* native journal entries with fields */
};

/* What a line is about; every field may be NULL. */
struct log_subject {
	const char *container_id;	/* full id; lines show the 12-character short id */
	const char *container_name;
	const char *server;		/* "IP:PORT" */
};

int log_init(enum log_target target, int max_priority);
void log_set_priority(int max_priority);
int log_parse_level(const char *s);		/* syslog priority or -EINVAL */
int log_parse_target(const char *s);		/* enum log_target or -EINVAL */

void log_msg(int priority, const struct log_subject *subject, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(subj, ...) log_msg(LOG_ERR, subj, __VA_ARGS__)
#define log_warn(subj, ...) log_msg(LOG_WARNING, subj, __VA_ARGS__)
#define log_info(subj, ...) log_msg(LOG_INFO, subj, __VA_ARGS__)
#define log_debug(subj, ...) log_msg(LOG_DEBUG, subj, __VA_ARGS__)

/*
 * Writes an untrusted value as a double-quoted string that is safe in a log
 * line: quotes, backslashes and bytes outside printable ASCII are escaped, and
 * a value longer than fits is cut and marked with "...". Returns out.
 */
char *log_quote(const char *in, size_t in_len, char *out, size_t out_size);

#endif
