/*
 * The container table: a plain array, searched linearly. Hosts run hundreds
 * of containers, not millions, and events are rare: simplicity wins.
 */
#include <stdlib.h>
#include <string.h>

#include "containers.h"

struct container *containers_find(struct container_table *t, const char *id)
{
	for (size_t i = 0; i < t->count; i++)
		if (!strcmp(t->items[i].id, id))
			return &t->items[i];
	return NULL;
}

struct container *containers_get(struct container_table *t, const char *id)
{
	struct container *c = containers_find(t, id);

	if (c)
		return c;
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct container *grown = realloc(t->items, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		t->items = grown;
		t->cap = cap;
	}
	c = &t->items[t->count++];
	memset(c, 0, sizeof(*c));
	strncpy(c->id, id, DOCKER_ID_LEN);
	return c;
}

void containers_remove(struct container_table *t, struct container *c)
{
	size_t i = c - t->items;

	if (i >= t->count)
		return;
	t->items[i] = t->items[--t->count];
}

void containers_free(struct container_table *t)
{
	free(t->items);
	memset(t, 0, sizeof(*t));
}
