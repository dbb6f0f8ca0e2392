/*
 * libFuzzer target for agent/linebuf.c: the input is a byte stream fed in
 * chunks whose sizes come from the input itself, as libcurl hands the Docker
 * event stream over. Every line taken out is checked against a reference
 * splitter, and memory is checked to stay bounded.
 *
 * Input layout:
 *   byte 0       max_line selector
 *   then ops:    one control byte c, then (for an append) c bytes of stream
 *                c == 0xff: linebuf_reset (the stream was cut and reopened)
 *                c == 0xfe: append without draining, then drain
 *                otherwise: append c bytes (fewer at the end), then drain
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linebuf.h"
#include "fuzz.h"

/* The reference: what linebuf must produce for the bytes since the last reset. */
struct ref {
	uint8_t *line;		/* the current (unfinished) line, up to max_line bytes kept */
	size_t len;		/* its length so far */
	bool over;		/* longer than max_line: counted as dropped, not kept */
	unsigned long dropped;
};

/* Expected lines, produced by the reference, consumed by the checks. */
struct queue {
	struct { uint8_t *p; size_t n; } *v;
	size_t head, n, cap;
};

static void queue_push(struct queue *q, const uint8_t *p, size_t n)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 64;
		q->v = realloc(q->v, q->cap * sizeof(*q->v));
		CHECK(q->v);
	}
	q->v[q->n].p = malloc(n);
	CHECK(q->v[q->n].p);
	memcpy(q->v[q->n].p, p, n);
	q->v[q->n].n = n;
	q->n++;
}

static void ref_feed(struct ref *r, struct queue *q, const uint8_t *chunk, size_t len,
		     size_t max_line)
{
	for (size_t i = 0; i < len; i++) {
		if (chunk[i] != '\n') {
			if (r->len < max_line)
				r->line[r->len] = chunk[i];
			r->len++;
			if (r->len > max_line && !r->over) {
				r->over = true;
				r->dropped++;
			}
			continue;
		}
		if (!r->over) {
			size_t n = r->len;

			if (n && r->line[n - 1] == '\r')
				n--;
			if (n)
				queue_push(q, r->line, n);
		}
		r->len = 0;
		r->over = false;
	}
}

static void drain(struct linebuf *lb, struct queue *q, size_t max_line)
{
	char *line = NULL;
	long n;

	while ((n = linebuf_next(lb, &line)) >= 0) {
		CHECK(n > 0);
		CHECK((size_t)n <= max_line);
		CHECK(line);
		CHECK(line[n] == '\0');
		CHECK(!memchr(line, '\n', n));
		CHECK(q->head < q->n);
		CHECK(q->v[q->head].n == (size_t)n);
		CHECK(!memcmp(q->v[q->head].p, line, n));
		free(q->v[q->head].p);
		q->head++;
		free(line);
		line = NULL;
	}
	/* every complete line was taken: only the unfinished one is held */
	CHECK(q->head == q->n);
	CHECK(lb->start == 0);
	CHECK(lb->len == lb->tail);
	CHECK(lb->tail <= max_line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t max_lines[] = { 1, 2, 3, 7, 16, 64, 100, 4095, 4096, 65536 };
	struct queue q = {};
	struct ref r = {};
	struct linebuf lb;
	size_t max_line, max_chunk = 0, i = 1;
	uint8_t *copy;

	if (size < 1)
		return 0;
	max_line = max_lines[data[0] % (sizeof(max_lines) / sizeof(max_lines[0]))];
	/* a private copy of exactly size bytes: reading past it is caught */
	copy = malloc(size);
	CHECK(copy);
	memcpy(copy, data, size);
	r.line = malloc(max_line);
	CHECK(r.line);

	linebuf_init(&lb, max_line);
	while (i < size) {
		uint8_t c = copy[i++];
		size_t n;

		if (c == 0xff) {
			linebuf_reset(&lb);
			r.len = 0;
			r.over = false;
			CHECK(lb.len == 0 && lb.tail == 0 && !lb.discarding);
			continue;
		}
		if (c == 0xfe) {
			/* two appends back to back: lines pile up before the drain */
			size_t a = (size - i) / 2;

			CHECK(linebuf_append(&lb, (const char *)copy + i, a) == 0);
			CHECK(linebuf_append(&lb, (const char *)copy + i + a, size - i - a) == 0);
			ref_feed(&r, &q, copy + i, size - i, max_line);
			if (size - i > max_chunk)
				max_chunk = size - i;
			i = size;
		} else {
			n = c < size - i ? c : size - i;
			CHECK(linebuf_append(&lb, (const char *)copy + i, n) == 0);
			ref_feed(&r, &q, copy + i, n, max_line);
			if (n > max_chunk)
				max_chunk = n;
			i += n;
		}
		CHECK(lb.dropped == r.dropped);
		CHECK(lb.discarding == r.over);
		drain(&lb, &q, max_line);
		/* bounded: at most the unfinished line and one chunk, doubled */
		CHECK(lb.cap <= 4096 || lb.cap <= 2 * (max_line + max_chunk));
	}
	drain(&lb, &q, max_line);
	linebuf_free(&lb);
	CHECK(lb.data == NULL && lb.len == 0);
	free(q.v);
	free(r.line);
	free(copy);
	return 0;
}
