/* Settings, parsed once with inih and read through struct config. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <ini.h>

#include "config.h"
#include "log.h"

#define CONFIG_SECTION "agent"

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->docker_host, "/var/run/docker.sock");
	strcpy(cfg->label, "dnsredir.server");
	cfg->resync_interval = 60;
	cfg->log_level = LOG_INFO;
	cfg->log_target = LOG_TARGET_AUTO;
}

static int bad(char *err, size_t err_size, const char *key, const char *value, const char *why)
{
	char quoted[128];

	snprintf(err, err_size, "invalid %s %s: %s", key,
		 log_quote(value, strlen(value), quoted, sizeof(quoted)), why);
	return -EINVAL;
}

static int set_docker_host(struct config *cfg, const char *value, char *err, size_t err_size)
{
	const char *path = value;

	if (!strncmp(value, "unix://", 7))
		path = value + 7;
	else if (strstr(value, "://"))
		return bad(err, err_size, "docker_host", value, "only unix:// sockets are supported");
	if (path[0] != '/')
		return bad(err, err_size, "docker_host", value, "expected unix:///absolute/path");
	if (strlen(path) >= sizeof(cfg->docker_host))
		return bad(err, err_size, "docker_host", value, "path too long");
	strcpy(cfg->docker_host, path);
	return 0;
}

static int set_label(struct config *cfg, const char *value, char *err, size_t err_size)
{
	size_t len = strlen(value);

	if (!len || len >= sizeof(cfg->label))
		return bad(err, err_size, "label", value, "must be 1 to 127 characters");
	for (size_t i = 0; i < len; i++)
		if (value[i] <= ' ' || value[i] >= 0x7f || value[i] == '=' || value[i] == '"')
			return bad(err, err_size, "label", value, "must be printable, without spaces, '=' or '\"'");
	strcpy(cfg->label, value);
	return 0;
}

static int set_uint(unsigned int *out, const char *key, const char *value, unsigned int max,
		    char *err, size_t err_size)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end || value[0] == '-' || v > max) {
		char why[64];

		snprintf(why, sizeof(why), "expected a whole number from 0 to %u", max);
		return bad(err, err_size, key, value, why);
	}
	*out = v;
	return 0;
}

static int set_bool(bool *out, const char *key, const char *value, char *err, size_t err_size)
{
	if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcmp(value, "1"))
		*out = true;
	else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") || !strcmp(value, "0"))
		*out = false;
	else
		return bad(err, err_size, key, value, "expected true or false");
	return 0;
}

/* One allow-list entry: IPv4, IPv4:PORT or IPv4/PREFIX. */
static int allowed_parse(const char *item, struct allowed_server *out, char *err, size_t err_size)
{
	const char *slash = strchr(item, '/');
	char addr[INET_ADDRSTRLEN];
	struct dns_server server;
	unsigned int prefix;

	if (!slash) {
		char why[CONFIG_ERR_MAX - 64];

		if (server_parse(item, strlen(item), &server, why, sizeof(why))) {
			snprintf(err, err_size, "allowed_servers: %s", why);
			return -EINVAL;
		}
		out->net = server.addr;
		out->prefix = 32;
		/* a bare address allows any port; IP:PORT only that port */
		out->port = strchr(item, ':') ? server.port : 0;
		return 0;
	}
	if ((size_t)(slash - item) >= sizeof(addr) ||
	    set_uint(&prefix, "allowed_servers prefix", slash + 1, 32, err, err_size))
		return bad(err, err_size, "allowed_servers", item, "expected IPv4[:PORT] or IPv4/PREFIX");
	memcpy(addr, item, slash - item);
	addr[slash - item] = '\0';
	if (inet_pton(AF_INET, addr, &out->net) != 1)
		return bad(err, err_size, "allowed_servers", item, "not an IPv4 network");
	out->prefix = prefix;
	out->port = 0;
	return 0;
}

static int set_allowed(struct config *cfg, const char *value, char *err, size_t err_size)
{
	char *copy = strdup(value), *save = NULL, *item;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	cfg->allowed_count = 0;
	for (item = strtok_r(copy, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
		if (cfg->allowed_count == CONFIG_ALLOWED_MAX) {
			ret = bad(err, err_size, "allowed_servers", value, "too many entries (at most 64)");
			break;
		}
		ret = allowed_parse(item, &cfg->allowed[cfg->allowed_count], err, err_size);
		if (ret)
			break;
		cfg->allowed_count++;
	}
	free(copy);
	return ret;
}

static const char *const early_attach_names[] = {
	[EARLY_ATTACH_CREATED] = "created",
	[EARLY_ATTACH_EXEC] = "exec",
	[EARLY_ATTACH_OFF] = "off",
};

const char *config_early_attach_name(int mode)
{
	return early_attach_names[mode];
}

static int set_early_attach(struct config *cfg, const char *value, char *err, size_t err_size)
{
	for (size_t i = 0; i < sizeof(early_attach_names) / sizeof(early_attach_names[0]); i++) {
		if (!strcasecmp(value, early_attach_names[i])) {
			cfg->early_attach = i;
			return 0;
		}
	}
	return bad(err, err_size, "early_attach", value, "expected created, exec or off");
}

int config_set(struct config *cfg, const char *key, const char *value, char *err, size_t err_size)
{
	int v;

	if (!strcmp(key, "docker_host"))
		return set_docker_host(cfg, value, err, err_size);
	if (!strcmp(key, "label"))
		return set_label(cfg, value, err, err_size);
	if (!strcmp(key, "resync_interval"))
		return set_uint(&cfg->resync_interval, key, value, 86400, err, err_size);
	if (!strcmp(key, "log_level")) {
		v = log_parse_level(value);
		if (v < 0)
			return bad(err, err_size, key, value, "expected error, warn, info or debug");
		cfg->log_level = v;
		return 0;
	}
	if (!strcmp(key, "log_target")) {
		v = log_parse_target(value);
		if (v < 0)
			return bad(err, err_size, key, value, "expected auto, console or journal");
		cfg->log_target = v;
		return 0;
	}
	if (!strcmp(key, "allowed_servers"))
		return set_allowed(cfg, value, err, err_size);
	if (!strcmp(key, "detach_on_exit"))
		return set_bool(&cfg->detach_on_exit, key, value, err, err_size);
	if (!strcmp(key, "early_attach"))
		return set_early_attach(cfg, value, err, err_size);
	snprintf(err, err_size, "unknown setting \"%.64s\"", key);
	return -EINVAL;
}

struct load_ctx {
	struct config *cfg;
	const char *path;
	char *err;
	size_t err_size;
	int failed;
};

static int config_ini_line(void *user, const char *section, const char *key, const char *value)
{
	struct load_ctx *ctx = user;
	char why[CONFIG_ERR_MAX - 128];

	if (ctx->failed)
		return 0;
	if (section[0] && strcmp(section, CONFIG_SECTION)) {
		snprintf(ctx->err, ctx->err_size, "%s: unknown section [%.64s]", ctx->path, section);
		ctx->failed = 1;
		return 0;
	}
	if (config_set(ctx->cfg, key, value, why, sizeof(why))) {
		snprintf(ctx->err, ctx->err_size, "%s: %s", ctx->path, why);
		ctx->failed = 1;
		return 0;
	}
	return 1;
}

/*
 * inih reads a line into a fixed buffer (INI_MAX_LINE, 200 bytes in the
 * packaged library) and parses whatever does not fit as further lines, which
 * can silently replace a long allowed_servers list with its tail. This reader
 * hands inih whole lines only: it notes the first line that is too long (a
 * comment may be as long as it likes) and skips the rest of it.
 */
struct ini_reader {
	FILE *f;
	int line;
	int too_long;	/* first line too long, 0 if none */
};

static char *ini_read_line(char *buf, int size, void *stream)
{
	struct ini_reader *r = stream;
	char *s = fgets(buf, size, r->f);
	size_t n;
	int c;

	if (!s)
		return NULL;
	r->line++;
	n = strlen(s);
	if (n + 1 < (size_t)size || s[n - 1] == '\n')
		return s;
	while ((c = getc(r->f)) != EOF && c != '\n')
		;
	s += strspn(s, " \t");
	if (*s != '#' && *s != ';' && !r->too_long)
		r->too_long = r->line;
	buf[0] = '\0';
	return buf;
}

int config_load(struct config *cfg, const char *path, bool required, char *err, size_t err_size)
{
	struct load_ctx ctx = { .cfg = cfg, .path = path, .err = err, .err_size = err_size };
	struct ini_reader reader = {};
	struct stat st;
	int ret;

	reader.f = fopen(path, "re");
	if (!reader.f) {
		ret = -errno;
		if (ret == -ENOENT && !required)
			return 0;
		snprintf(err, err_size, "cannot read config file %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fileno(reader.f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(reader.f);
		snprintf(err, err_size, "cannot read config file %s: is a directory", path);
		return -EINVAL;
	}
	ret = ini_parse_stream(ini_read_line, &reader, config_ini_line, &ctx);
	if (ferror(reader.f) && !ctx.failed) {
		snprintf(err, err_size, "cannot read config file %s: %s", path, strerror(errno));
		ctx.failed = 1;
	}
	fclose(reader.f);
	if (ctx.failed)
		return -EINVAL;
	if (reader.too_long && (!ret || reader.too_long <= ret)) {
		snprintf(err, err_size, "%s: line %d: longer than %d characters", path, reader.too_long,
			 INI_MAX_LINE - 2);
		return -EINVAL;
	}
	if (ret) {
		snprintf(err, err_size, "%s: line %d: syntax error", path, ret);
		return -EINVAL;
	}
	return 0;
}

bool config_server_allowed(const struct config *cfg, const struct dns_server *server)
{
	if (!cfg->allowed_count)
		return true;
	for (size_t i = 0; i < cfg->allowed_count; i++) {
		const struct allowed_server *a = &cfg->allowed[i];
		uint32_t mask = a->prefix ? htonl(~0U << (32 - a->prefix)) : 0;

		if ((server->addr.s_addr & mask) == (a->net.s_addr & mask) &&
		    (!a->port || a->port == server->port))
			return true;
	}
	return false;
}
