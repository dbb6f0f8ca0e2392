/* Newline-delimited stream splitting, bounded. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

void linebuf_init(struct linebuf *lb, size_t max_line)
{
	memset(lb, 0, sizeof(*lb));
	lb->max_line = max_line;
}

void linebuf_free(struct linebuf *lb)
{
	free(lb->data);
	lb->data = NULL;
	lb->start = lb->len = lb->cap = lb->tail = 0;
	lb->discarding = false;
}

void linebuf_reset(struct linebuf *lb)
{
	lb->start = lb->len = lb->tail = 0;
	lb->discarding = false;
}

/* Moves what is not taken yet to the front: once per drain, not once per line. */
static void compact(struct linebuf *lb)
{
	if (!lb->start)
		return;
	memmove(lb->data, lb->data + lb->start, lb->len - lb->start);
	lb->len -= lb->start;
	lb->start = 0;
}

int linebuf_append(struct linebuf *lb, const char *chunk, size_t len)
{
	compact(lb);
	while (len) {
		const char *nl = memchr(chunk, '\n', len);
		size_t take = nl ? (size_t)(nl + 1 - chunk) : len;
		size_t line_len = lb->tail + take - (nl ? 1 : 0);

		if (lb->discarding || line_len > lb->max_line) {
			/* drop the oversized line whole, up to its newline */
			if (!lb->discarding)
				lb->dropped++;
			lb->len -= lb->tail;
			lb->tail = 0;
			lb->discarding = !nl;
		} else {
			if (lb->len + take > lb->cap) {
				size_t cap = lb->cap ? lb->cap : 4096;
				char *grown;

				while (cap < lb->len + take)
					cap *= 2;
				grown = realloc(lb->data, cap);
				if (!grown)
					return -ENOMEM;
				lb->data = grown;
				lb->cap = cap;
			}
			memcpy(lb->data + lb->len, chunk, take);
			lb->len += take;
			lb->tail = nl ? 0 : lb->tail + take;
		}
		len -= take;
		chunk += take;
	}
	return 0;
}

long linebuf_next(struct linebuf *lb, char **line)
{
	for (;;) {
		char *p = lb->start < lb->len ? lb->data + lb->start : NULL;
		char *nl = p ? memchr(p, '\n', lb->len - lb->start) : NULL;
		size_t used, n;

		if (!nl) {
			compact(lb);
			return -1;
		}
		used = nl + 1 - p;
		n = nl - p;
		if (n && p[n - 1] == '\r')
			n--;
		if (n) {
			*line = malloc(n + 1);
			if (!*line)
				return -1;
			memcpy(*line, p, n);
			(*line)[n] = '\0';
		}
		/* no memmove per line: a burst of short lines would cost its size squared */
		lb->start += used;
		if (n)
			return n;
	}
}
