/* Reading the Docker Engine API's JSON: events, container inspect, lists. */
#ifndef DNSREDIR_DOCKER_JSON_H
#define DNSREDIR_DOCKER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define DOCKER_ID_LEN 64
#define DOCKER_NAME_MAX 128
#define DOCKER_LABEL_MAX 256

enum docker_action {
	DOCKER_ACTION_OTHER,
	DOCKER_ACTION_CREATE,
	DOCKER_ACTION_START,
	DOCKER_ACTION_DIE,
	DOCKER_ACTION_DESTROY,
	DOCKER_ACTION_CONNECT,	/* a network event: the container got an endpoint of its own */
};

struct docker_event {
	enum docker_action action;
	char id[DOCKER_ID_LEN + 1];	/* the container's, for network events too */
	char name[DOCKER_NAME_MAX];
	long long time_nano;
};

struct container_info {
	char id[DOCKER_ID_LEN + 1];
	char name[DOCKER_NAME_MAX];	/* without Docker's leading '/' */
	bool running;
	pid_t pid;
	char network_mode[DOCKER_NAME_MAX];
	bool has_user_network;		/* attached to a network other than the default bridge */
	bool has_label;
	char label[DOCKER_LABEL_MAX];	/* the raw value; label_len bytes, may hold NULs */
	size_t label_len;
	bool label_truncated;
};

/* A container id is 64 lowercase hex digits; anything else is refused. */
bool docker_id_valid(const char *id);

/*
 * Reads a container event, or a network's "connect" (id: the container
 * connected; other network events: DOCKER_ACTION_OTHER). Returns 0, or
 * -EINVAL for a line that is neither.
 */
int docker_event_parse(const char *line, size_t len, struct docker_event *ev);

/*
 * A container event carries all the container's labels in Actor.Attributes:
 * reads the one named key into value (NUL-terminated; value_len is its true
 * length, NULs included). Returns 1, 0 when the event has no such label, or
 * -EINVAL.
 */
int docker_event_label(const char *line, size_t len, const char *key,
		       char *value, size_t size, size_t *value_len);

/* Parses GET /containers/ID/json. label_key selects the label to read. */
int docker_inspect_parse(const char *body, size_t len, const char *label_key,
			 struct container_info *info);

/*
 * Parses GET /containers/json: calls fn for each container id. Returns the
 * number of ids or -EINVAL.
 */
int docker_list_parse(const char *body, size_t len, void (*fn)(const char *id, void *arg), void *arg);

#endif
