/*
 * libFuzzer target for docker_inspect_parse() followed by what the agent does
 * with the label (server_parse on label/label_len), and docker_list_parse()
 * on the same bytes (both read dockerd's JSON answers).
 *
 * The first byte selects the label key; the rest is the body, in a buffer of
 * exactly its length (no NUL after it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker_json.h"
#include "server.h"
#include "fuzz.h"

static void list_one(const char *id, void *arg)
{
	size_t *count = arg;

	CHECK(docker_id_valid(id));
	(*count)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "dnsredir.server", "a", "dnsredir.server.x", "" };
	struct container_info info;
	struct dns_server server;
	const char *key;
	char err[256], *body;
	size_t n, count = 0;
	int ret;

	if (size < 1)
		return 0;
	key = keys[data[0] % 4];
	n = size - 1;
	body = malloc(n ? n : 1);
	CHECK(body);
	memcpy(body, data + 1, n);

	if (docker_inspect_parse(body, n, key, &info) == 0) {
		CHECK(strlen(info.id) == DOCKER_ID_LEN && docker_id_valid(info.id));
		CHECK(memchr(info.name, '\0', sizeof(info.name)));
		CHECK(memchr(info.network_mode, '\0', sizeof(info.network_mode)));
		CHECK(info.pid >= 0 && info.pid < 1 << 30);
		CHECK(info.label_len < sizeof(info.label));
		CHECK(info.label[info.label_len] == '\0');
		CHECK(info.has_label || info.label_len == 0);
		if (info.has_label) {
			/* as container_sync does */
			memset(err, 0x55, sizeof(err));
			ret = server_parse(info.label, info.label_len, &server, err, sizeof(err));
			if (ret == 0) {
				/* an accepted label holds no NUL, no control byte, nothing cut */
				CHECK(!info.label_truncated);
				CHECK(strlen(info.label) == info.label_len);
				CHECK(server.port != 0);
			} else {
				CHECK(memchr(err, '\0', sizeof(err)));
			}
		}
	}

	ret = docker_list_parse(body, n, list_one, &count);
	CHECK(ret < 0 || (size_t)ret == count);
	free(body);
	return 0;
}
