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
	lb->len = lb->cap = lb->tail = 0;
	lb->discarding = false;
}

void linebuf_reset(struct linebuf *lb)
{
	lb->len = lb->tail = 0;
	lb->discarding = false;
}

int linebuf_append(struct linebuf *lb, const char *chunk, size_t len)
{
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
		char *nl = lb->len ? memchr(lb->data, '\n', lb->len) : NULL;
		size_t used, n;

		if (!nl)
			return -1;
		used = nl + 1 - lb->data;
		n = nl - lb->data;
		if (n && lb->data[n - 1] == '\r')
			n--;
		if (n) {
			*line = malloc(n + 1);
			if (!*line)
				return -1;
			memcpy(*line, lb->data, n);
			(*line)[n] = '\0';
		}
		memmove(lb->data, lb->data + used, lb->len - used);
		lb->len -= used;
		if (n)
			return n;
	}
}
