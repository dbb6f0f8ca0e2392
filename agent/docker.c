/*
 * Docker Engine API over its unix socket. Requests are plain blocking GETs
 * with a timeout; the event stream is driven by a curl multi handle so the
 * agent's loop can wait on it, its signals and its timers at once, and never
 * blocks inside the stream callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "docker.h"

#define REQUEST_TIMEOUT_MS 15000
#define CONNECT_TIMEOUT_MS 3000

struct body {
	char *data;
	size_t len;
	size_t cap;
	bool too_big;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct body *b = user;
	size_t n = size * nmemb;
	char *grown;

	if (b->len + n > DOCKER_BODY_MAX) {
		b->too_big = true;
		return 0;	/* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		/* doubling: growing by each chunk copies an 8 MiB answer ~500 times */
		size_t cap = b->cap ? b->cap : 16384;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > DOCKER_BODY_MAX + 1)
			cap = DOCKER_BODY_MAX + 1;
		grown = realloc(b->data, cap);
		if (!grown)
			return 0;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static size_t version_header(char *buf, size_t size, size_t nitems, void *user)
{
	struct docker *d = user;
	size_t n = size * nitems;
	static const char name[] = "Api-Version:";
	char value[16];
	size_t i = sizeof(name) - 1, v = 0;

	if (n <= i || strncasecmp(buf, name, i))
		return n;
	while (i < n && buf[i] == ' ')
		i++;
	/* keep only "major.minor" digits: the value goes into our URLs */
	while (i < n && v < sizeof(value) - 1 && ((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.'))
		value[v++] = buf[i++];
	value[v] = '\0';
	if (v && strchr(value, '.'))
		snprintf(d->api_version, sizeof(d->api_version), "%s", value);
	return n;
}

static void easy_common(struct docker *d, CURL *easy)
{
	curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
}

/*
 * The socket file bind-mounted into the agent's container (-v
 * /var/run/docker.sock:...) keeps naming the socket dockerd had when the
 * container started: a dockerd restarted under it (live-restore keeps the
 * agent running) listens on a new one. With --pid=host the host's file is in
 * reach from the root of a process on the host: our parent (the container's
 * shim, which live-restore keeps too), else init. The path is resolved with
 * that root as "/" (openat2 RESOLVE_IN_ROOT: /var/run is an absolute
 * symlink, which a plain walk would follow into our own root), and the
 * socket reached through the O_PATH fd's /proc/self/fd link. Returns the fd
 * of the host's socket when it is another than ours, else -1.
 */
static int host_socket_open(const char *path, char *via, size_t via_size)
{
	pid_t hosts[] = { getppid(), 1 };
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	struct stat mine, host;
	bool have_mine = stat(path, &mine) == 0;

	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		char root_path[64];
		int root, fd;

		snprintf(root_path, sizeof(root_path), "/proc/%d/root", hosts[i]);
		root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (root < 0)
			continue;
		fd = syscall(SYS_openat2, root, path, &how, sizeof(how));
		close(root);
		if (fd < 0)
			continue;
		if (!fstat(fd, &host) && S_ISSOCK(host.st_mode) &&
		    (!have_mine || mine.st_ino != host.st_ino || mine.st_dev != host.st_dev)) {
			snprintf(via, via_size, "%s", root_path);
			return fd;
		}
		close(fd);
	}
	return -1;
}

static void host_socket_close(struct docker *d)
{
	if (d->host_socket_fd >= 0)
		close(d->host_socket_fd);
	d->host_socket_fd = -1;
	d->socket_via[0] = '\0';
}

int docker_init(struct docker *d, const char *socket_path)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->configured_path, sizeof(d->configured_path), "%s", socket_path);
	snprintf(d->socket_path, sizeof(d->socket_path), "%s", socket_path);
	d->host_socket_fd = -1;
	linebuf_init(&d->lines, DOCKER_EVENT_LINE_MAX);
	d->easy = curl_easy_init();
	d->multi = curl_multi_init();
	if (!d->easy || !d->multi) {
		docker_fini(d);
		return -ENOMEM;
	}
	return 0;
}

void docker_fini(struct docker *d)
{
	docker_events_close(d);
	host_socket_close(d);
	if (d->multi)
		curl_multi_cleanup(d->multi);
	if (d->easy)
		curl_easy_cleanup(d->easy);
	linebuf_free(&d->lines);
	d->multi = NULL;
	d->easy = NULL;
}

/* Called by libcurl at least once a second while a request waits: a non-zero return aborts it. */
static int progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct docker *d = user;

	return d->interrupted && d->interrupted();
}

static int request(struct docker *d, const char *url, struct body *b, long *status,
		   char *err, size_t err_size)
{
	CURLcode rc;

	curl_easy_reset(d->easy);
	easy_common(d, d->easy);
	curl_easy_setopt(d->easy, CURLOPT_URL, url);
	curl_easy_setopt(d->easy, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
	curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(d->easy, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(d->easy, CURLOPT_HEADERFUNCTION, version_header);
	curl_easy_setopt(d->easy, CURLOPT_HEADERDATA, d);
	curl_easy_setopt(d->easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(d->easy, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(d->easy, CURLOPT_XFERINFODATA, d);
	rc = curl_easy_perform(d->easy);
	if (rc != CURLE_OK) {
		snprintf(err, err_size, "%s: %s", url + strlen("http://docker"),
			 b->too_big ? "answer too large" : curl_easy_strerror(rc));
		return b->too_big ? -EMSGSIZE : -ECONNREFUSED;
	}
	curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

static int ping(struct docker *d, char *err, size_t err_size)
{
	struct body b = {};
	long status = 0;
	int ret;

	d->api_version[0] = '\0';
	ret = request(d, "http://docker/_ping", &b, &status, err, err_size);
	free(b.data);
	if (ret)
		return ret;
	if (status != 200) {
		snprintf(err, err_size, "/_ping answered HTTP %ld", status);
		return -EPROTO;
	}
	if (!d->api_version[0]) {
		snprintf(err, err_size, "/_ping gave no Api-Version header");
		return -EPROTO;
	}
	return 0;
}

int docker_ping(struct docker *d, char *err, size_t err_size)
{
	int ret;

	host_socket_close(d);
	snprintf(d->socket_path, sizeof(d->socket_path), "%s", d->configured_path);
	ret = ping(d, err, err_size);
	if (ret != -ECONNREFUSED)
		return ret;
	d->host_socket_fd = host_socket_open(d->configured_path, d->socket_via, sizeof(d->socket_via));
	if (d->host_socket_fd < 0)
		return ret;
	snprintf(d->socket_path, sizeof(d->socket_path), "/proc/self/fd/%d", d->host_socket_fd);
	if (!ping(d, err, err_size))
		return 0;
	/* the first failure says more: it is about the path the user gave */
	host_socket_close(d);
	snprintf(d->socket_path, sizeof(d->socket_path), "%s", d->configured_path);
	return ping(d, err, err_size);
}

int docker_get(struct docker *d, const char *path, char **body, size_t *len, long *status,
	       char *err, size_t err_size)
{
	struct body b = {};
	char url[1024];
	int ret;

	snprintf(url, sizeof(url), "http://docker/v%s%s", d->api_version, path);
	ret = request(d, url, &b, status, err, err_size);
	if (ret) {
		free(b.data);
		return ret;
	}
	*body = b.data ? b.data : strdup("");
	*len = b.len;
	return *body ? 0 : -ENOMEM;
}

static size_t stream_write(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct docker *d = user;
	size_t n = size * nmemb;
	char *type = NULL;
	long status = 0;

	curl_easy_getinfo(d->stream, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(d->stream, CURLINFO_CONTENT_TYPE, &type);
	if (status != 200) {
		snprintf(d->stream_err, sizeof(d->stream_err), "events answered HTTP %ld", status);
		d->stream_bad = true;
		return 0;
	}
	if (!type || strncasecmp(type, "application/json", 16)) {
		char shown[41] = "none";
		size_t i;

		/* dockerd's text goes into a log line's error="...": no quotes, nothing unprintable */
		for (i = 0; type && type[i] && i < sizeof(shown) - 1; i++)
			shown[i] = type[i] < ' ' || type[i] >= 0x7f || type[i] == '"' || type[i] == '\\' ? '?' : type[i];
		if (type)
			shown[i] = '\0';
		snprintf(d->stream_err, sizeof(d->stream_err), "events answered content type '%s'", shown);
		d->stream_bad = true;
		return 0;
	}
	/* only buffering here: the lines are handled by the agent's loop */
	return linebuf_append(&d->lines, ptr, n) ? 0 : n;
}

int docker_events_open(struct docker *d, const char *filters, long long since)
{
	char url[1024], *escaped;

	docker_events_close(d);
	escaped = curl_easy_escape(NULL, filters, 0);
	if (!escaped)
		return -ENOMEM;
	if (since > 0)
		snprintf(url, sizeof(url), "http://docker/v%s/events?since=%lld&filters=%s",
			 d->api_version, since, escaped);
	else
		snprintf(url, sizeof(url), "http://docker/v%s/events?filters=%s", d->api_version, escaped);
	curl_free(escaped);

	d->stream = curl_easy_init();
	if (!d->stream)
		return -ENOMEM;
	easy_common(d, d->stream);
	curl_easy_setopt(d->stream, CURLOPT_URL, url);
	curl_easy_setopt(d->stream, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(d->stream, CURLOPT_WRITEDATA, d);
	/* a stream open for days must not be cut by a forgotten limit */
	curl_easy_setopt(d->stream, CURLOPT_TIMEOUT_MS, 0L);
	d->stream_bad = false;
	d->stream_err[0] = '\0';
	linebuf_reset(&d->lines);
	if (curl_multi_add_handle(d->multi, d->stream) != CURLM_OK) {
		curl_easy_cleanup(d->stream);
		d->stream = NULL;
		return -ENOMEM;
	}
	return 0;
}

void docker_events_close(struct docker *d)
{
	if (!d->stream)
		return;
	curl_multi_remove_handle(d->multi, d->stream);
	curl_easy_cleanup(d->stream);
	d->stream = NULL;
}

int docker_events_wait(struct docker *d, int fd, int timeout_ms, char *err, size_t err_size)
{
	struct curl_waitfd extra = { .fd = fd, .events = CURL_WAIT_POLLIN };
	int running = 0, queued;
	CURLMcode mc;
	CURLMsg *msg;

	if (!d->stream) {
		snprintf(err, err_size, "not subscribed");
		return -EPIPE;
	}
	mc = curl_multi_poll(d->multi, fd >= 0 ? &extra : NULL, fd >= 0 ? 1 : 0, timeout_ms, NULL);
	if (mc == CURLM_OK)
		mc = curl_multi_perform(d->multi, &running);
	if (mc != CURLM_OK) {
		snprintf(err, err_size, "event stream: %s", curl_multi_strerror(mc));
		return -EIO;
	}
	while ((msg = curl_multi_info_read(d->multi, &queued))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		if (d->stream_bad)
			snprintf(err, err_size, "%s", d->stream_err);
		else if (msg->data.result != CURLE_OK)
			snprintf(err, err_size, "event stream: %s", curl_easy_strerror(msg->data.result));
		else
			snprintf(err, err_size, "event stream ended");
		return -EPIPE;
	}
	return 0;
}

long docker_events_next(struct docker *d, char **line)
{
	return linebuf_next(&d->lines, line);
}
