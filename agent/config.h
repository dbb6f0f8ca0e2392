/* The agent's settings: defaults, the config file (INI), then flags. */
#ifndef DNSREDIR_CONFIG_H
#define DNSREDIR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "server.h"

#define CONFIG_DEFAULT_PATH "/etc/dnsredir/dnsredir.conf"
#define CONFIG_ALLOWED_MAX 64
#define CONFIG_ERR_MAX 512

struct allowed_server {
	struct in_addr net;
	unsigned int prefix;	/* 32 for a single address */
	uint16_t port;		/* 0: any port */
};

/* When a labelled container is redirected, relative to its command's first instruction. */
enum early_attach {
	EARLY_ATTACH_CREATED,	/* as soon as Docker has set up its netns; held at exec if later */
	EARLY_ATTACH_EXEC,	/* only while its command is held at exec */
	EARLY_ATTACH_OFF,	/* at the start event: its first lookups may reach dockerd */
};

struct config {
	char docker_host[256];		/* a socket path, "unix://" already stripped */
	char label[128];
	unsigned int resync_interval;	/* seconds; 0 = off */
	int log_level;			/* syslog priority */
	int log_target;			/* enum log_target */
	bool detach_on_exit;
	int early_attach;		/* enum early_attach */
	size_t allowed_count;		/* 0 = any server */
	struct allowed_server allowed[CONFIG_ALLOWED_MAX];
};

void config_defaults(struct config *cfg);
/*
 * Sets one setting by its config-file key from its text. Returns 0 or
 * -EINVAL with a message naming the key and the value in err.
 */
int config_set(struct config *cfg, const char *key, const char *value, char *err, size_t err_size);
/* Reads an INI file over cfg. A missing file is an error only if required. */
int config_load(struct config *cfg, const char *path, bool required, char *err, size_t err_size);
bool config_server_allowed(const struct config *cfg, const struct dns_server *server);
const char *config_early_attach_name(int mode);

#endif
