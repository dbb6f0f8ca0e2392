/*
 * Splitting a byte stream (the Docker event stream, as libcurl hands it over
 * in arbitrary chunks) into lines, with a bound on memory.
 */
#ifndef DNSREDIR_LINEBUF_H
#define DNSREDIR_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>

struct linebuf {
	char *data;
	size_t start;		/* bytes at the front already taken by linebuf_next */
	size_t len;		/* bytes held, including those taken */
	size_t tail;		/* bytes of the unfinished last line */
	size_t cap;
	size_t max_line;	/* longer lines are dropped whole */
	bool discarding;	/* inside a line that was too long */
	unsigned long dropped;	/* lines dropped for length */
};

void linebuf_init(struct linebuf *lb, size_t max_line);
void linebuf_free(struct linebuf *lb);
void linebuf_reset(struct linebuf *lb);	/* forget a partial line (stream cut) */

/* Appends a chunk. Returns 0 or -ENOMEM. */
int linebuf_append(struct linebuf *lb, const char *chunk, size_t len);

/*
 * Takes the next complete line out, without its "\n" (or "\r\n"), NUL
 * terminated, into a buffer the caller frees. Returns the line length, or -1
 * when no complete line is held. Empty lines are skipped.
 */
long linebuf_next(struct linebuf *lb, char **line);

#endif
