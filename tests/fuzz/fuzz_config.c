/*
 * libFuzzer target for the agent's settings: config_load() reads the input as
 * a config file (from a memfd), then config_set() gets a key chosen by the
 * first byte and the rest of the input as its value, and config_server_allowed()
 * is asked about a server taken from the input.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "fuzz.h"

static void check_config(const struct config *cfg)
{
	size_t len;

	CHECK(memchr(cfg->docker_host, '\0', sizeof(cfg->docker_host)));
	CHECK(cfg->docker_host[0] == '/');
	len = strlen(cfg->label);
	CHECK(len > 0 && len < sizeof(cfg->label));
	for (size_t i = 0; i < len; i++)
		CHECK(cfg->label[i] > ' ' && cfg->label[i] < 0x7f && cfg->label[i] != '=' &&
		      cfg->label[i] != '"');
	CHECK(cfg->resync_interval <= 86400);
	CHECK(cfg->log_level >= LOG_ERR && cfg->log_level <= LOG_DEBUG);
	CHECK(cfg->log_target >= LOG_TARGET_AUTO && cfg->log_target <= LOG_TARGET_JOURNAL);
	CHECK(cfg->early_attach >= EARLY_ATTACH_CREATED && cfg->early_attach <= EARLY_ATTACH_OFF);
	CHECK(cfg->allowed_count <= CONFIG_ALLOWED_MAX);
	for (size_t i = 0; i < cfg->allowed_count; i++)
		CHECK(cfg->allowed[i].prefix <= 32);
}

static void ask_allowed(const struct config *cfg, const uint8_t *data, size_t size)
{
	struct dns_server server = {};
	uint32_t a = 0;

	for (size_t i = 0; i < 4 && i < size; i++)
		a = a << 8 | data[size - 1 - i];
	server.addr.s_addr = htonl(a);
	server.port = size > 5 ? (uint16_t)(data[4] << 8 | data[5]) : 53;
	(void)config_server_allowed(cfg, &server);
	/* with an empty list every server is allowed */
	if (!cfg->allowed_count)
		CHECK(config_server_allowed(cfg, &server));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
		"docker_host", "label", "resync_interval", "log_level", "log_target",
		"allowed_servers", "detach_on_exit", "no_such_key", "early_attach",
	};
	static int fd = -1;
	static char path[64];
	struct config cfg;
	char err[CONFIG_ERR_MAX], *value;
	int ret;

	if (fd < 0) {
		fd = memfd_create("fuzz_config", 0);
		CHECK(fd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

	/* the whole input as a config file */
	config_defaults(&cfg);
	memset(err, 0x55, sizeof(err));
	ret = config_load(&cfg, path, true, err, sizeof(err));
	if (ret)
		CHECK(memchr(err, '\0', sizeof(err)));
	check_config(&cfg);
	ask_allowed(&cfg, data, size);

	/* one setting: key from the first byte, the rest as the value */
	if (size < 1)
		return 0;
	value = malloc(size);
	CHECK(value);
	memcpy(value, data + 1, size - 1);
	value[size - 1] = '\0';
	config_defaults(&cfg);
	memset(err, 0x55, sizeof(err));
	ret = config_set(&cfg, keys[data[0] % (sizeof(keys) / sizeof(keys[0]))], value, err, sizeof(err));
	if (ret)
		CHECK(memchr(err, '\0', sizeof(err)));
	check_config(&cfg);
	ask_allowed(&cfg, data, size);
	free(value);
	return 0;
}
