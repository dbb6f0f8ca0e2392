/*
 * Unit tests of agent/log.c: log_quote (untrusted values in log lines), the
 * level and target names, and the console lines log_msg writes.
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
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

#define CANARY 0xA5
#define GUARD 32

/*
 * Quotes into a buffer of out_size bytes followed by a guard, checks that
 * nothing was written past out_size and that the result is terminated, and
 * returns a copy of it (the caller frees).
 */
static char *quote(const char *in, size_t in_len, size_t out_size)
{
	unsigned char *buf = malloc(out_size + GUARD);
	char *ret, *copy;

	assert_non_null(buf);
	memset(buf, CANARY, out_size + GUARD);
	ret = log_quote(in, in_len, (char *)buf, out_size);
	assert_ptr_equal(ret, buf);
	for (size_t i = out_size; i < out_size + GUARD; i++)
		if (buf[i] != CANARY)
			fail_msg("log_quote(out_size %zu) wrote byte %zu", out_size, i);
	if (out_size == 0) {
		free(buf);
		return strdup("<nothing>");
	}
	assert_true(strnlen((char *)buf, out_size) < out_size);
	copy = strdup((char *)buf);
	free(buf);
	assert_non_null(copy);
	return copy;
}

static void assert_quote(const char *in, size_t in_len, size_t out_size, const char *want)
{
	char *got = quote(in, in_len, out_size);

	if (strcmp(got, want))
		fail_msg("log_quote(\"%.*s\", %zu): got [%s] want [%s]", (int)in_len, in, out_size, got, want);
	free(got);
}

static void test_plain(void **state)
{
	assert_quote("abc", 3, 64, "\"abc\"");
	assert_quote("", 0, 64, "\"\"");
	assert_quote("1.2.3.4:53", 10, 64, "\"1.2.3.4:53\"");
	assert_quote("a b=c'd", 7, 64, "\"a b=c'd\"");
	/* only in_len bytes are read */
	assert_quote("abcdef", 3, 64, "\"abc\"");
}

static void test_escapes_quotes_and_backslashes(void **state)
{
	assert_quote("a\"b", 3, 64, "\"a\\\"b\"");
	assert_quote("a\\b", 3, 64, "\"a\\\\b\"");
	assert_quote("\"\\\"", 3, 64, "\"\\\"\\\\\\\"\"");
	assert_quote("\\x41", 4, 64, "\"\\\\x41\"");
}

static void test_escapes_control_and_high_bytes(void **state)
{
	assert_quote("a\nb", 3, 64, "\"a\\x0ab\"");
	assert_quote("\r\t", 2, 64, "\"\\x0d\\x09\"");
	assert_quote("a\0b", 3, 64, "\"a\\x00b\"");
	assert_quote("\x1b[2J", 4, 64, "\"\\x1b[2J\"");
	assert_quote("\x1f\x20\x7e\x7f", 4, 64, "\"\\x1f ~\\x7f\"");
	assert_quote("\x80\xff", 2, 64, "\"\\x80\\xff\"");
	assert_quote("caf\xc3\xa9", 5, 64, "\"caf\\xc3\\xa9\"");
}

/* Every byte value: printable ASCII but '"' and '\' as is, the rest as \xNN. */
static void test_every_byte(void **state)
{
	for (int c = 0; c < 256; c++) {
		char in = (char)c, want[16];

		if (c == '"' || c == '\\')
			snprintf(want, sizeof(want), "\"\\%c\"", c);
		else if (c < 0x20 || c >= 0x7f)
			snprintf(want, sizeof(want), "\"\\x%02x\"", c);
		else
			snprintf(want, sizeof(want), "\"%c\"", c);
		assert_quote(&in, 1, 16, want);
	}
}

static void test_small_out_sizes(void **state)
{
	/* too small to hold even the quotes and "...": empty, but terminated */
	assert_quote("abcdefgh", 8, 0, "<nothing>");
	for (size_t size = 1; size < 8; size++) {
		assert_quote("abcdefgh", 8, size, "");
		assert_quote("", 0, size, "");
	}
	/* "abcdefgh" quoted needs 11 bytes: cut, with the most that fits */
	assert_quote("abcdefgh", 8, 8, "\"ab...\"");
	assert_quote("abcdefgh", 8, 9, "\"abc...\"");
	assert_quote("abcdefgh", 8, 10, "\"abcd...\"");
	assert_quote("", 0, 8, "\"\"");
	assert_quote("a", 1, 8, "\"a\"");
	assert_quote("\n\n\n", 3, 8, "\"...\"");
	assert_quote("\n\n\n", 3, 9, "\"...\"");
	assert_quote("\n\n\n", 3, 10, "\"\\x0a...\"");
}

static void test_truncation(void **state)
{
	char in[1000];
	char *got;

	memset(in, 'x', sizeof(in));
	got = quote(in, sizeof(in), 64);
	assert_int_equal(strlen(got), 63);
	assert_int_equal(got[0], '"');
	assert_string_equal(got + 58, "x...\"");
	assert_int_equal(strspn(got + 1, "x"), 58);
	free(got);

	/* an escape is never cut in half */
	memset(in, '\n', sizeof(in));
	for (size_t size = 8; size < 64; size++) {
		size_t n;

		got = quote(in, sizeof(in), size);
		n = strlen(got);
		assert_true(n >= 5);
		assert_int_equal(got[0], '"');
		assert_string_equal(got + n - 4, "...\"");
		assert_int_equal((n - 5) % 4, 0);
		for (size_t i = 1; i < n - 4; i += 4)
			assert_memory_equal(got + i, "\\x0a", 4);
		free(got);
	}
}

/* Unescapes log_quote's output; returns the length, sets *cut when it ends in "...". */
static size_t unquote(const char *q, char *out, bool *cut)
{
	size_t n = strlen(q), o = 0, end;

	assert_true(n >= 2);
	assert_int_equal(q[0], '"');
	assert_int_equal(q[n - 1], '"');
	end = n - 1;
	*cut = end >= 4 && !memcmp(q + end - 3, "...", 3);
	if (*cut)
		end -= 3;
	for (size_t i = 1; i < end; i++) {
		if (q[i] != '\\') {
			assert_true(q[i] >= 0x20 && q[i] < 0x7f && q[i] != '"');
			out[o++] = q[i];
		} else if (q[i + 1] == 'x') {
			unsigned int v;

			assert_int_equal(sscanf(q + i + 2, "%2x", &v), 1);
			out[o++] = (char)v;
			i += 3;
		} else {
			assert_true(q[i + 1] == '"' || q[i + 1] == '\\');
			out[o++] = q[++i];
		}
	}
	return o;
}

/*
 * For many inputs and sizes: the output unescapes to a prefix of the input,
 * all of it unless marked with "...", and never overruns.
 */
static void test_round_trip_all_sizes(void **state)
{
#define IN(s) { s, sizeof(s) - 1 }
	static const struct {
		const char *s;
		size_t len;
	} inputs[] = {
		IN("plain text"), IN("q\"u\\o\"te"), IN("\x01\x02\x03\x04\x05"), IN("mix\n\"\\\xff end"),
		IN("10.250.7.2\0junk"), IN(""),
	};
#undef IN

	for (size_t k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
		for (size_t size = 8; size < 80; size++) {
			const char *in = inputs[k].s;
			size_t len = inputs[k].len;
			char *got = quote(in, len, size);
			char back[128];
			bool cut;
			size_t n = unquote(got, back, &cut);

			assert_true(n <= len);
			assert_memory_equal(back, in, n);
			if (!cut)
				assert_int_equal(n, len);
			/* with room to spare for the whole escaped value, nothing is cut */
			if (size >= 4 * len + 8)
				assert_false(cut);
			free(got);
		}
	}
}

/*
 * Known bug (see the report): a value whose quoted form fits the buffer
 * exactly is still cut, because the room for "..." is kept even for the last
 * character. "abcde" quoted is 7 characters, which fit 8 bytes.
 */
static void test_exact_fit_not_cut(void **state)
{
	assert_quote("abcde", 5, 8, "\"abcde\"");
	assert_quote("abcdefgh", 8, 11, "\"abcdefgh\"");
	assert_quote("a\n", 2, 9, "\"a\\x0a\"");
}

static void test_parse_level(void **state)
{
	assert_int_equal(log_parse_level("error"), LOG_ERR);
	assert_int_equal(log_parse_level("warn"), LOG_WARNING);
	assert_int_equal(log_parse_level("warning"), LOG_WARNING);
	assert_int_equal(log_parse_level("info"), LOG_INFO);
	assert_int_equal(log_parse_level("debug"), LOG_DEBUG);
	assert_int_equal(log_parse_level("DEBUG"), LOG_DEBUG);
	assert_int_equal(log_parse_level("Warning"), LOG_WARNING);
	assert_int_equal(log_parse_level("notice"), -EINVAL);
	assert_int_equal(log_parse_level("emerg"), -EINVAL);
	assert_int_equal(log_parse_level("crit"), -EINVAL);
	assert_int_equal(log_parse_level("err"), -EINVAL);
	assert_int_equal(log_parse_level("info "), -EINVAL);
	assert_int_equal(log_parse_level(""), -EINVAL);
	assert_int_equal(log_parse_level("6"), -EINVAL);
}

static void test_parse_target(void **state)
{
	assert_int_equal(log_parse_target("auto"), LOG_TARGET_AUTO);
	assert_int_equal(log_parse_target("console"), LOG_TARGET_CONSOLE);
	assert_int_equal(log_parse_target("journal"), LOG_TARGET_JOURNAL);
	assert_int_equal(log_parse_target("syslog"), -EINVAL);
	assert_int_equal(log_parse_target(""), -EINVAL);
	assert_int_equal(log_parse_target("journald"), -EINVAL);
}

/* Captures what log_msg writes to stdout and stderr while fn runs. */
struct capture {
	char out[8192], err[8192];
};

static void read_all(FILE *f, char *buf, size_t size)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
}

static void capture(struct capture *c, void (*fn)(void))
{
	FILE *out = tmpfile(), *err = tmpfile();
	int saved_out, saved_err;

	assert_non_null(out);
	assert_non_null(err);
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	assert_true(saved_out >= 0 && saved_err >= 0);
	assert_true(dup2(fileno(out), STDOUT_FILENO) >= 0);
	assert_true(dup2(fileno(err), STDERR_FILENO) >= 0);
	fn();
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	read_all(out, c->out, sizeof(c->out));
	read_all(err, c->err, sizeof(c->err));
	fclose(out);
	fclose(err);
}

static const char long_id[] = "b007c8ea23ade1a03251867cd4cdba02cd4592a6240a461a8d5d85a8b4b10ea5";

static void log_some(void)
{
	const struct log_subject subj = {
		.container_id = long_id, .container_name = "web", .server = "10.250.7.2:53",
	};

	log_init(LOG_TARGET_CONSOLE, LOG_INFO);
	log_info(&subj, "event=attached n=%d", 3);
	log_warn(NULL, "event=refused why=%s", "x");
	log_err(&(struct log_subject){ .container_name = "db" }, "event=failed");
	log_debug(&subj, "event=hidden");
	log_set_priority(LOG_DEBUG);
	log_debug(NULL, "event=shown");
	log_set_priority(LOG_ERR);
	log_warn(NULL, "event=hidden-too");
	log_info(NULL, "event=hidden-three");
}

static void test_console_lines(void **state)
{
	struct capture c;

	capture(&c, log_some);
	assert_string_equal(c.out,
		"level=info container=web id=b007c8ea23ad server=10.250.7.2:53 event=attached n=3\n"
		"level=debug event=shown\n");
	assert_string_equal(c.err,
		"level=warn event=refused why=x\n"
		"level=error container=db event=failed\n");
}

static void log_long(void)
{
	char name[4000];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	log_init(LOG_TARGET_CONSOLE, LOG_INFO);
	log_info(&(struct log_subject){ .container_name = name, .container_id = long_id },
		 "event=long %s", name);
	log_info(NULL, "event=after");
}

/* A line longer than the log's buffer is cut, not overrun, and ends with a newline. */
static void test_long_line_cut(void **state)
{
	struct capture c;
	char *nl;

	capture(&c, log_long);
	nl = strchr(c.out, '\n');
	assert_non_null(nl);
	assert_true(nl - c.out < 4096);
	assert_true(nl - c.out > 1000);
	assert_true(strncmp(c.out, "level=info container=nnnn", 25) == 0);
	assert_string_equal(nl + 1, "level=info event=after\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_escapes_quotes_and_backslashes),
		cmocka_unit_test(test_escapes_control_and_high_bytes),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_small_out_sizes),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_round_trip_all_sizes),
		cmocka_unit_test(test_exact_fit_not_cut),
		cmocka_unit_test(test_parse_level),
		cmocka_unit_test(test_parse_target),
		cmocka_unit_test(test_console_lines),
		cmocka_unit_test(test_long_line_cut),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
