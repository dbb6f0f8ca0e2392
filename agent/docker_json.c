/*
 * JSON from dockerd, parsed with cJSON. Every field is optional and typed
 * loosely on the wire, so every access checks the type; missing or odd fields
 * give a refusal, never a crash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "docker_json.h"

bool docker_id_valid(const char *id)
{
	size_t i;

	for (i = 0; id[i]; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return i == DOCKER_ID_LEN;
}

static const char *get_string(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

static void copy_string(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static enum docker_action action_parse(const char *s)
{
	if (!s)
		return DOCKER_ACTION_OTHER;
	if (!strcmp(s, "create"))
		return DOCKER_ACTION_CREATE;
	if (!strcmp(s, "start"))
		return DOCKER_ACTION_START;
	if (!strcmp(s, "die"))
		return DOCKER_ACTION_DIE;
	if (!strcmp(s, "destroy"))
		return DOCKER_ACTION_DESTROY;
	return DOCKER_ACTION_OTHER;
}

/*
 * A network event: only "connect" matters, and it names the container in its
 * attributes. Connecting to "host" or "none" gives no endpoint of its own.
 */
static int network_event_read(const cJSON *root, const cJSON *attrs, struct docker_event *ev)
{
	const char *action = get_string(root, "Action"), *type = get_string(attrs, "type"), *id;

	if (!action || strcmp(action, "connect") || !type || !strcmp(type, "host") || !strcmp(type, "null"))
		return 0;	/* DOCKER_ACTION_OTHER */
	id = get_string(attrs, "container");
	if (!id || !docker_id_valid(id))
		return -EINVAL;
	strcpy(ev->id, id);
	ev->action = DOCKER_ACTION_CONNECT;
	return 0;
}

int docker_event_parse(const char *line, size_t len, struct docker_event *ev)
{
	const cJSON *actor, *attrs, *nano;
	const char *type, *id;
	cJSON *root;
	int err = -EINVAL;

	memset(ev, 0, sizeof(*ev));
	root = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(root))
		goto out;
	type = get_string(root, "Type");
	actor = cJSON_GetObjectItemCaseSensitive(root, "Actor");
	attrs = cJSON_GetObjectItemCaseSensitive(actor, "Attributes");
	if (type && !strcmp(type, "network")) {
		err = network_event_read(root, attrs, ev);
	} else if (type && !strcmp(type, "container")) {
		id = get_string(actor, "ID");
		if (!id || !docker_id_valid(id))
			goto out;
		strcpy(ev->id, id);
		ev->action = action_parse(get_string(root, "Action"));
		copy_string(ev->name, sizeof(ev->name), get_string(attrs, "name"));
		err = 0;
	}
	nano = cJSON_GetObjectItemCaseSensitive(root, "timeNano");
	/* converting a double out of long long's range (or NaN) is undefined */
	if (!err && cJSON_IsNumber(nano) && nano->valuedouble > 0 && nano->valuedouble < 9e18)
		ev->time_nano = (long long)nano->valuedouble;
out:
	cJSON_Delete(root);
	return err;
}

/*
 * cJSON decodes "\u0000" into a NUL that silently cuts the string short, so
 * "1.1.1.1\u0000junk" would read as a clean "1.1.1.1". Before parsing, every
 * escaped NUL is rewritten to an escaped 0x01 (same length), which cJSON keeps;
 * label_read turns those back into NULs, so the label holds its NULs at their
 * place, with its true length, and the label parser refuses it. Only real
 * escapes are rewritten ("\\u0000" is a backslash and the text u0000), and
 * only within len. A raw NUL byte (not valid JSON, but cJSON copies it into
 * the string all the same) is rewritten to a raw 0x01 for the same reason.
 */
static char *nul_escapes_rewritten(const char *body, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return NULL;
	memcpy(copy, body, len);
	copy[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (copy[i] == '\0')
			copy[i] = '\x01';
		if (copy[i] != '\\')
			continue;
		if (i + 6 <= len && !memcmp(copy + i, "\\u0000", 6))
			copy[i + 5] = '1';
		i++;	/* the escaped character */
	}
	return copy;
}

/* A label's value: what it holds, its true length (NULs included), truncated or not. */
struct label_value {
	char *buf;
	size_t size;
	size_t *len;
	bool *truncated;
};

/* Reads labels[key]; returns false when there is no such label. */
static bool label_read(const cJSON *labels, const char *key, const struct label_value *out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(labels, key);
	size_t max = out->size - 1, len;

	if (!item)
		return false;
	if (!cJSON_IsString(item)) {
		copy_string(out->buf, out->size, "<not a string>");
		*out->len = strlen(out->buf);
		return true;
	}
	len = strlen(item->valuestring);
	*out->truncated = len > max - 1;
	if (*out->truncated)
		len = max - 1;
	for (size_t i = 0; i < len; i++)
		out->buf[i] = item->valuestring[i] == '\x01' ? '\0' : item->valuestring[i];
	out->buf[len] = '\0';
	*out->len = len;
	return true;
}

int docker_event_label(const char *line, size_t len, const char *key,
		       char *value, size_t size, size_t *value_len)
{
	bool truncated = false;
	struct label_value out = { .buf = value, .size = size, .len = value_len, .truncated = &truncated };
	const cJSON *attrs;
	cJSON *root;
	char *copy;
	int ret = -EINVAL;

	copy = nul_escapes_rewritten(line, len);
	if (!copy)
		return -ENOMEM;
	root = cJSON_ParseWithLength(copy, len);
	attrs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "Actor"), "Attributes");
	if (cJSON_IsObject(attrs))
		ret = label_read(attrs, key, &out) ? 1 : 0;
	cJSON_Delete(root);
	free(copy);
	return ret;
}

static void networks_read(const cJSON *settings, struct container_info *info)
{
	const cJSON *networks = cJSON_GetObjectItemCaseSensitive(settings, "Networks");
	const cJSON *net;

	cJSON_ArrayForEach(net, networks) {
		if (net->string && strcmp(net->string, "bridge") && strcmp(net->string, "host") &&
		    strcmp(net->string, "none"))
			info->has_user_network = true;
	}
}

int docker_inspect_parse(const char *body, size_t len, const char *label_key,
			 struct container_info *info)
{
	const cJSON *state, *config, *host_config, *pid, *running;
	const char *id, *name, *mode;
	cJSON *root;
	char *copy;
	int err = -EINVAL;

	memset(info, 0, sizeof(*info));
	copy = nul_escapes_rewritten(body, len);
	if (!copy)
		return -ENOMEM;
	root = cJSON_ParseWithLength(copy, len);
	if (!cJSON_IsObject(root))
		goto out;
	id = get_string(root, "Id");
	if (!id || !docker_id_valid(id))
		goto out;
	strcpy(info->id, id);
	name = get_string(root, "Name");
	copy_string(info->name, sizeof(info->name), name && name[0] == '/' ? name + 1 : name);

	state = cJSON_GetObjectItemCaseSensitive(root, "State");
	running = cJSON_GetObjectItemCaseSensitive(state, "Running");
	pid = cJSON_GetObjectItemCaseSensitive(state, "Pid");
	info->running = cJSON_IsTrue(running);
	if (cJSON_IsNumber(pid) && pid->valuedouble > 0 && pid->valuedouble < 1 << 30)
		info->pid = (pid_t)pid->valuedouble;

	host_config = cJSON_GetObjectItemCaseSensitive(root, "HostConfig");
	mode = get_string(host_config, "NetworkMode");
	copy_string(info->network_mode, sizeof(info->network_mode), mode);
	networks_read(cJSON_GetObjectItemCaseSensitive(root, "NetworkSettings"), info);

	config = cJSON_GetObjectItemCaseSensitive(root, "Config");
	info->has_label = label_read(cJSON_GetObjectItemCaseSensitive(config, "Labels"), label_key,
				     &(struct label_value){ .buf = info->label, .size = sizeof(info->label),
							    .len = &info->label_len,
							    .truncated = &info->label_truncated });
	err = 0;
out:
	cJSON_Delete(root);
	free(copy);
	return err;
}

int docker_list_parse(const char *body, size_t len, void (*fn)(const char *id, void *arg), void *arg)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *item;
	int count = 0;

	if (!cJSON_IsArray(root)) {
		cJSON_Delete(root);
		return -EINVAL;
	}
	cJSON_ArrayForEach(item, root) {
		const char *id = get_string(item, "Id");

		if (id && docker_id_valid(id)) {
			fn(id, arg);
			count++;
		}
	}
	cJSON_Delete(root);
	return count;
}
