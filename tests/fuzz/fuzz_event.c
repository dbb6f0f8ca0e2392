/*
 * libFuzzer target for docker_event_parse(): the input is an event stream,
 * each line (as linebuf hands it over: without its "\n", possibly holding
 * NULs) parsed on its own, from a buffer of exactly its length.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker_json.h"
#include "fuzz.h"

static void one_line(const uint8_t *p, size_t n)
{
	struct docker_event ev;
	char *line = malloc(n ? n : 1);	/* not NUL terminated: the length is all there is */

	CHECK(line);
	memcpy(line, p, n);
	if (docker_event_parse(line, n, &ev) == 0) {
		/* a network event other than connect names no container; anything else one valid id */
		CHECK(ev.id[0] || ev.action == DOCKER_ACTION_OTHER);
		CHECK(!ev.id[0] || (strlen(ev.id) == DOCKER_ID_LEN && docker_id_valid(ev.id)));
		CHECK(memchr(ev.name, '\0', sizeof(ev.name)));
		CHECK(ev.action >= DOCKER_ACTION_OTHER && ev.action <= DOCKER_ACTION_CONNECT);
		CHECK(ev.action != DOCKER_ACTION_CONNECT || !ev.name[0]);
	} else {
		/* a refusal leaves nothing half-filled behind */
		CHECK(ev.id[0] == '\0');
	}
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;

	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', end - p);
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		one_line(p, n);
		p += n + (nl ? 1 : 0);
	}
	return 0;
}
