/*
 * libFuzzer target for server_parse() with an explicit length (labels may
 * hold NULs): whatever it accepts must format back to text that parses to the
 * same server, and whatever it refuses must leave a terminated reason, for
 * any size of the reason buffer.
 *
 * The first byte selects the size of the error buffer; the rest is the value.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t err_sizes[] = { 1, 2, 7, 8, 9, 16, 64, 256, 512 };
	struct dns_server server = {}, again = {};
	char fmt[SERVER_STR_LEN], *err, *text;
	size_t err_size, n;
	int ret;

	if (size < 1)
		return 0;
	err_size = err_sizes[data[0] % (sizeof(err_sizes) / sizeof(err_sizes[0]))];
	n = size - 1;
	text = malloc(n ? n : 1);	/* exactly n bytes: no NUL after the value */
	err = malloc(err_size);
	CHECK(text && err);
	memcpy(text, data + 1, n);
	memset(err, 0x55, err_size);

	ret = server_parse(text, n, &server, err, err_size);
	if (ret == 0) {
		uint32_t a = ntohl(server.addr.s_addr);

		CHECK(n <= SERVER_TEXT_MAX);
		CHECK(!memchr(text, '\0', n));
		for (size_t i = 0; i < n; i++)
			CHECK((text[i] >= '0' && text[i] <= '9') || text[i] == '.' || text[i] == ':');
		CHECK(server.port != 0);
		CHECK((a >> 24) != 0 && (a >> 24) != 127 && (a >> 28) < 0xe);
		/* round trip */
		server_format(&server, fmt, sizeof(fmt));
		CHECK(server_parse(fmt, strlen(fmt), &again, err, err_size) == 0);
		CHECK(again.addr.s_addr == server.addr.s_addr && again.port == server.port);
	} else {
		CHECK(ret < 0);
		CHECK(memchr(err, '\0', err_size));
	}
	free(text);
	free(err);
	return 0;
}
