/*
 * Unit tests of agent/linebuf.c: splitting a byte stream that arrives in
 * arbitrary chunks into lines, with over-long lines dropped whole and memory
 * bounded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "linebuf.h"

/* Lines taken out of a linebuf, in order. */
struct lines {
	char **v;
	size_t *len;
	size_t n, cap;
};

static void lines_push(struct lines *l, char *line, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		l->len = realloc(l->len, l->cap * sizeof(*l->len));
		assert_non_null(l->v);
		assert_non_null(l->len);
	}
	l->v[l->n] = line;
	l->len[l->n] = len;
	l->n++;
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->len);
	memset(l, 0, sizeof(*l));
}

/* Takes every complete line out of lb. */
static void drain(struct linebuf *lb, struct lines *out)
{
	char *line = NULL;
	long n;

	while ((n = linebuf_next(lb, &line)) >= 0) {
		assert_true(n > 0);
		assert_non_null(line);
		assert_int_equal(line[n], '\0');
		lines_push(out, line, n);
		line = NULL;
	}
	assert_null(line);
}

static void append(struct linebuf *lb, const char *data, size_t len)
{
	assert_int_equal(linebuf_append(lb, data, len), 0);
}

static void append_str(struct linebuf *lb, const char *s)
{
	append(lb, s, strlen(s));
}

static void assert_lines(const struct lines *got, const char *const *want, size_t n)
{
	if (got->n != n)
		fail_msg("got %zu lines, want %zu", got->n, n);
	for (size_t i = 0; i < n; i++) {
		if (got->len[i] != strlen(want[i]) || strcmp(got->v[i], want[i]))
			fail_msg("line %zu: got \"%s\" (%zu), want \"%s\"", i, got->v[i], got->len[i], want[i]);
	}
}

/* The reference split: lines of s, without "\n" or one "\r" before it, empty ones skipped. */
static void reference_split(const char *s, size_t max_line, struct lines *out, unsigned long *dropped)
{
	const char *p = s, *nl;

	*dropped = 0;
	while ((nl = strchr(p, '\n'))) {
		size_t raw = nl - p, n = raw;

		if (n && p[n - 1] == '\r')
			n--;
		if (raw > max_line)
			(*dropped)++;
		else if (n)
			lines_push(out, strndup(p, n), n);
		p = nl + 1;
	}
}

static void assert_same_lines(const struct lines *got, const struct lines *want)
{
	if (got->n != want->n)
		fail_msg("got %zu lines, want %zu", got->n, want->n);
	for (size_t i = 0; i < got->n; i++)
		if (got->len[i] != want->len[i] || memcmp(got->v[i], want->v[i], got->len[i]))
			fail_msg("line %zu: got \"%s\", want \"%s\"", i, got->v[i], want->v[i]);
}

/* xorshift: reproducible chunk sizes, independent of libc's rand() */
static uint32_t rng_next(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Docker event lines as dockerd 20.10 sends them, and the odd cases between them. */
static const char event_stream[] =
	"{\"status\":\"start\",\"id\":\"01812410f034b561ae958c2acc93e161c98a6d4f339369bcdb9437dbc5ae0da8\","
	"\"from\":\"dnsredir-test/busybox:1\",\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":"
	"\"01812410f034b561ae958c2acc93e161c98a6d4f339369bcdb9437dbc5ae0da8\",\"Attributes\":{\"image\":"
	"\"dnsredir-test/busybox:1\",\"name\":\"dnsredir-unit-fixture-host\"}},\"scope\":\"local\",\"time\":"
	"1795757772,\"timeNano\":1795757772668899635}\n"
	"\n"
	"{\"Type\":\"network\",\"Action\":\"connect\"}\r\n"
	"\r\n"
	"x\n"
	"short line\n"
	"{\"status\":\"die\",\"id\":\"d11fa694870e782eade9fa3fed3e27c137c1585a2792dee501848ad34bee234a\"}\n"
	"\n\n\n"
	"tail line with \"quotes\" and \\ backslash\n";

static const char *const event_lines[] = {
	"{\"status\":\"start\",\"id\":\"01812410f034b561ae958c2acc93e161c98a6d4f339369bcdb9437dbc5ae0da8\","
	"\"from\":\"dnsredir-test/busybox:1\",\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":"
	"\"01812410f034b561ae958c2acc93e161c98a6d4f339369bcdb9437dbc5ae0da8\",\"Attributes\":{\"image\":"
	"\"dnsredir-test/busybox:1\",\"name\":\"dnsredir-unit-fixture-host\"}},\"scope\":\"local\",\"time\":"
	"1795757772,\"timeNano\":1795757772668899635}",
	"{\"Type\":\"network\",\"Action\":\"connect\"}",
	"x",
	"short line",
	"{\"status\":\"die\",\"id\":\"d11fa694870e782eade9fa3fed3e27c137c1585a2792dee501848ad34bee234a\"}",
	"tail line with \"quotes\" and \\ backslash",
};
#define N_EVENT_LINES (sizeof(event_lines) / sizeof(event_lines[0]))

static void test_one_chunk(void **state)
{
	struct linebuf lb;
	struct lines got = {};

	linebuf_init(&lb, 4096);
	append(&lb, event_stream, strlen(event_stream));
	drain(&lb, &got);
	assert_lines(&got, event_lines, N_EVENT_LINES);
	assert_int_equal(lb.dropped, 0);
	assert_int_equal(lb.len, 0);
	lines_free(&got);
	linebuf_free(&lb);
}

static void test_byte_by_byte(void **state)
{
	size_t len = strlen(event_stream);

	/* taking lines out after every byte, and only at the end */
	for (int drain_each = 0; drain_each < 2; drain_each++) {
		struct linebuf lb;
		struct lines got = {};

		linebuf_init(&lb, 4096);
		for (size_t i = 0; i < len; i++) {
			append(&lb, event_stream + i, 1);
			if (drain_each)
				drain(&lb, &got);
		}
		drain(&lb, &got);
		assert_lines(&got, event_lines, N_EVENT_LINES);
		assert_int_equal(lb.dropped, 0);
		lines_free(&got);
		linebuf_free(&lb);
	}
}

/* Every split of the stream in two, at every byte. */
static void test_every_split(void **state)
{
	size_t len = strlen(event_stream);

	for (size_t cut = 0; cut <= len; cut++) {
		struct linebuf lb;
		struct lines got = {};

		linebuf_init(&lb, 4096);
		append(&lb, event_stream, cut);
		drain(&lb, &got);
		append(&lb, event_stream + cut, len - cut);
		drain(&lb, &got);
		assert_lines(&got, event_lines, N_EVENT_LINES);
		lines_free(&got);
		linebuf_free(&lb);
	}
}

/*
 * A generated stream of lines of every length around max_line (some over it),
 * CRLF and empty lines, fed in random chunk sizes: the same lines come out as
 * a plain split gives, and the over-long ones are counted.
 */
static void test_random_chunks(void **state)
{
	const size_t max_line = 100;
	uint32_t seed = 0x2545f491;
	size_t cap = 256 * 1024, len = 0;
	char *stream = malloc(cap);
	struct lines want = {};
	unsigned long want_dropped;

	assert_non_null(stream);
	while (len < cap - 400) {
		uint32_t r = rng_next(&seed);
		size_t n = r % 5 == 0 ? max_line - 2 + r % 6 : r % 160;	/* plenty near the limit */

		for (size_t i = 0; i < n; i++)
			stream[len++] = 'a' + (rng_next(&seed) % 26);
		if (r % 7 == 0)
			stream[len++] = '\r';
		stream[len++] = '\n';
	}
	stream[len] = '\0';
	reference_split(stream, max_line, &want, &want_dropped);
	assert_true(want.n > 1000);
	assert_true(want_dropped > 100);

	for (int round = 0; round < 20; round++) {
		size_t max_chunk = round < 10 ? 8 : round < 15 ? 300 : 5000;
		struct linebuf lb;
		struct lines got = {};

		linebuf_init(&lb, max_line);
		for (size_t off = 0; off < len;) {
			size_t n = 1 + rng_next(&seed) % max_chunk;

			if (n > len - off)
				n = len - off;
			append(&lb, stream + off, n);
			off += n;
			if (rng_next(&seed) % 3)
				drain(&lb, &got);
		}
		drain(&lb, &got);
		assert_same_lines(&got, &want);
		assert_int_equal(lb.dropped, want_dropped);
		assert_int_equal(lb.len, 0);
		lines_free(&got);
		linebuf_free(&lb);
	}
	lines_free(&want);
	free(stream);
}

static void test_partial_line_waits(void **state)
{
	struct linebuf lb;
	char *line = NULL;

	linebuf_init(&lb, 64);
	append_str(&lb, "abc");
	assert_int_equal(linebuf_next(&lb, &line), -1);
	assert_null(line);
	append_str(&lb, "def\r");
	assert_int_equal(linebuf_next(&lb, &line), -1);
	append_str(&lb, "\nghi");
	assert_int_equal(linebuf_next(&lb, &line), 6);
	assert_string_equal(line, "abcdef");
	free(line);
	line = NULL;
	assert_int_equal(linebuf_next(&lb, &line), -1);
	append_str(&lb, "\n");
	assert_int_equal(linebuf_next(&lb, &line), 3);
	assert_string_equal(line, "ghi");
	free(line);
	linebuf_free(&lb);
}

static void test_crlf_and_empty(void **state)
{
	struct linebuf lb;
	struct lines got = {};
	static const char *const want[] = { "a", "b", "c\rd", "e\r", "\rf" };

	linebuf_init(&lb, 64);
	append_str(&lb, "\n\r\n\n\r\na\r\nb\n\r\n\nc\rd\r\ne\r\r\n\rf\n\r\n\n");
	drain(&lb, &got);
	assert_lines(&got, want, 5);
	assert_int_equal(lb.len, 0);
	lines_free(&got);

	/* only empty lines: nothing comes out, nothing is kept */
	append_str(&lb, "\n\n\r\n\r\n\n");
	drain(&lb, &got);
	assert_int_equal(got.n, 0);
	assert_int_equal(lb.len, 0);
	linebuf_free(&lb);
}

/* A NUL inside a line is kept and counted in the length. */
static void test_nul_in_line(void **state)
{
	struct linebuf lb;
	char *line = NULL;

	linebuf_init(&lb, 64);
	append(&lb, "a\0b\n", 4);
	assert_int_equal(linebuf_next(&lb, &line), 3);
	assert_memory_equal(line, "a\0b", 4);
	free(line);
	linebuf_free(&lb);
}

static void test_long_line_dropped(void **state)
{
	static const char *const want[] = { "before", "exactly-sixteen!", "after" };
	struct linebuf lb;
	struct lines got = {};

	linebuf_init(&lb, 16);
	append_str(&lb, "before\nseventeen-chars!!\nexactly-sixteen!\nafter\n");
	drain(&lb, &got);
	assert_lines(&got, want, 3);
	assert_int_equal(lb.dropped, 1);
	lines_free(&got);

	/* two in a row, and one at the very start of a stream */
	linebuf_free(&lb);
	linebuf_init(&lb, 16);
	append_str(&lb, "0123456789abcdefXXXX\n0123456789abcdefYYYY\nbefore\n");
	append_str(&lb, "0123456789abcdef0123456789abcdef\nexactly-sixteen!\nafter\n");
	drain(&lb, &got);
	assert_lines(&got, want, 3);
	assert_int_equal(lb.dropped, 3);
	lines_free(&got);
	linebuf_free(&lb);
}

/* The long line arrives over many chunks, with its neighbours in the same chunks. */
static void test_long_line_over_chunks(void **state)
{
	static const char *const want[] = { "before", "middle", "after" };
	const size_t max_line = 32;
	char stream[4096];
	size_t len;

	len = (size_t)snprintf(stream, sizeof(stream), "before\n");
	memset(stream + len, 'L', 1000);
	len += 1000;
	len += snprintf(stream + len, sizeof(stream) - len, "\nmiddle\r\n");
	memset(stream + len, 'M', 33);
	len += 33;
	len += snprintf(stream + len, sizeof(stream) - len, "\r\nafter\n");

	for (size_t chunk = 1; chunk <= 64; chunk++) {
		for (int drain_each = 0; drain_each < 2; drain_each++) {
			struct linebuf lb;
			struct lines got = {};

			linebuf_init(&lb, max_line);
			for (size_t off = 0; off < len; off += chunk) {
				append(&lb, stream + off, off + chunk > len ? len - off : chunk);
				if (drain_each)
					drain(&lb, &got);
				/* never more held than the line limit plus one chunk of complete lines */
				assert_true(lb.len <= max_line + 1 + chunk + 16);
			}
			drain(&lb, &got);
			assert_lines(&got, want, 3);
			assert_int_equal(lb.dropped, 2);
			assert_false(lb.discarding);
			lines_free(&got);
			linebuf_free(&lb);
		}
	}
}

/*
 * A short line already held but not yet taken survives when the partial line
 * after it turns out too long.
 */
static void test_long_tail_keeps_complete_lines(void **state)
{
	static const char *const want[] = { "kept", "next" };
	struct linebuf lb;
	struct lines got = {};

	linebuf_init(&lb, 8);
	append_str(&lb, "kept\n1234");
	append_str(&lb, "5678");
	append_str(&lb, "9");
	append_str(&lb, "abc\nnext\n");
	drain(&lb, &got);
	assert_lines(&got, want, 2);
	assert_int_equal(lb.dropped, 1);
	lines_free(&got);
	linebuf_free(&lb);
}

/* 10 MB without a newline: memory stays bounded and the stream recovers. */
static void test_memory_bounded(void **state)
{
	static const struct {
		size_t max_line, chunk;
	} cases[] = {
		{ 1024, 4096 }, { 65536, 100 }, { 65536, 16384 }, { 100000, 1 << 20 }, { 4096, 1 },
	};
	const size_t total = 10 * 1024 * 1024;
	char *chunk = malloc(1 << 20);

	assert_non_null(chunk);
	memset(chunk, 'x', 1 << 20);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		size_t max_line = cases[k].max_line, n = cases[k].chunk;
		size_t bound = 2 * max_line + n;
		struct linebuf lb;
		struct lines got = {};
		static const char *const want[] = { "first", "recovered" };

		if (bound < 4096 * 2)
			bound = 4096 * 2;
		linebuf_init(&lb, max_line);
		append_str(&lb, "first\n");
		drain(&lb, &got);
		/* a 1-byte chunk over 10 MB is slow under valgrind: 1 MB makes the point */
		for (size_t fed = 0; fed < (n == 1 ? total / 10 : total); fed += n) {
			append(&lb, chunk, n);
			if (lb.cap > bound)
				fail_msg("max_line %zu chunk %zu: cap %zu after %zu bytes", max_line, n, lb.cap, fed);
			assert_true(lb.len <= max_line);
		}
		assert_int_equal(lb.dropped, 1);
		assert_true(lb.discarding);
		drain(&lb, &got);
		append_str(&lb, "still the long line\nrecovered\n");
		drain(&lb, &got);
		assert_lines(&got, want, 2);
		assert_int_equal(lb.dropped, 1);
		assert_true(lb.cap <= bound);
		lines_free(&got);
		linebuf_free(&lb);
	}
	free(chunk);
}

static void test_reset_drops_partial_line(void **state)
{
	static const char *const want[] = { "line" };
	struct linebuf lb;
	struct lines got = {};

	linebuf_init(&lb, 16);
	append_str(&lb, "partial");
	linebuf_reset(&lb);
	append_str(&lb, "line\n");
	drain(&lb, &got);
	assert_lines(&got, want, 1);
	lines_free(&got);

	/* also in the middle of a line being dropped for length */
	append_str(&lb, "0123456789abcdefghij");
	assert_true(lb.discarding);
	linebuf_reset(&lb);
	assert_false(lb.discarding);
	append_str(&lb, "line\n");
	drain(&lb, &got);
	assert_lines(&got, want, 1);
	assert_int_equal(lb.dropped, 1);
	lines_free(&got);

	/* a partial CRLF line */
	append_str(&lb, "abc\r");
	linebuf_reset(&lb);
	append_str(&lb, "\nline\n");
	drain(&lb, &got);
	assert_lines(&got, want, 1);
	lines_free(&got);
	linebuf_free(&lb);
}

/* After linebuf_free the buffer is empty and usable again. */
static void test_free_then_reuse(void **state)
{
	static const char *const want[] = { "again" };
	struct linebuf lb;
	struct lines got = {};
	char *line = NULL;

	linebuf_init(&lb, 16);
	assert_int_equal(linebuf_next(&lb, &line), -1);
	append_str(&lb, "held\npartial");
	linebuf_free(&lb);
	assert_null(lb.data);
	assert_int_equal(lb.len, 0);
	assert_int_equal(linebuf_next(&lb, &line), -1);
	append_str(&lb, "again\n");
	drain(&lb, &got);
	assert_lines(&got, want, 1);
	lines_free(&got);
	linebuf_free(&lb);
	linebuf_free(&lb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_chunk),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_random_chunks),
		cmocka_unit_test(test_partial_line_waits),
		cmocka_unit_test(test_crlf_and_empty),
		cmocka_unit_test(test_nul_in_line),
		cmocka_unit_test(test_long_line_dropped),
		cmocka_unit_test(test_long_line_over_chunks),
		cmocka_unit_test(test_long_tail_keeps_complete_lines),
		cmocka_unit_test(test_memory_bounded),
		cmocka_unit_test(test_reset_drops_partial_line),
		cmocka_unit_test(test_free_then_reuse),
	};

	return cmocka_run_group_tests_name("linebuf", tests, NULL, NULL);
}
