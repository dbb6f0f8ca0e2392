/* A Docker Engine API client over the unix socket (libcurl). */
#ifndef DNSREDIR_DOCKER_H
#define DNSREDIR_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>

#include "linebuf.h"

#define DOCKER_ERR_MAX 256
#define DOCKER_EVENT_LINE_MAX (64 * 1024)	/* a container event is ~1-4 KiB */
#define DOCKER_BODY_MAX (8 * 1024 * 1024)

struct docker {
	char configured_path[256];
	char socket_path[256];	/* in use: the configured one, or the host's (see docker.c) */
	int host_socket_fd;	/* O_PATH fd of the host's socket when that is in use, else -1 */
	char socket_via[64];	/* then the root it was found from ("/proc/PID/root"), else "" */
	char api_version[16];	/* negotiated from /_ping, e.g. "1.41" */
	CURL *easy;		/* reused for requests: keeps the connection */
	CURLM *multi;
	CURL *stream;		/* the event stream; NULL when not subscribed */
	struct linebuf lines;
	bool stream_bad;	/* refused by us: status or content type */
	bool (*interrupted)(void);	/* if set and true, a request under way is cut short */
	char stream_err[DOCKER_ERR_MAX];
};

int docker_init(struct docker *d, const char *socket_path);
void docker_fini(struct docker *d);

/*
 * GET /_ping: checks dockerd answers and takes its API version. Chooses the
 * socket the next requests use (see docker.c).
 */
int docker_ping(struct docker *d, char *err, size_t err_size);

/*
 * GET /vX/path (path starts with "/"). On 0 *body holds the NUL-terminated
 * answer (caller frees) and *status the HTTP status. Bodies over
 * DOCKER_BODY_MAX are refused.
 */
int docker_get(struct docker *d, const char *path, char **body, size_t *len, long *status,
	       char *err, size_t err_size);

/* Subscribes to GET /events with the given filters (JSON) and since (0: now). */
int docker_events_open(struct docker *d, const char *filters, long long since);
void docker_events_close(struct docker *d);

/*
 * Waits until event bytes arrive, fd (if >= 0) is readable, or timeout_ms
 * passes, and reads what came. Returns 0 while the stream is open, -EPIPE
 * once it ended (err says why), or another -errno.
 */
int docker_events_wait(struct docker *d, int fd, int timeout_ms, char *err, size_t err_size);

/* The next complete event line (caller frees), or -1. */
long docker_events_next(struct docker *d, char **line);

#endif
