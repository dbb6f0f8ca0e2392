/*
 * Attaching, finding and removing the dnsredir TC programs in the network
 * namespace of the calling thread (see netns_enter()).
 */
#ifndef DNSREDIR_REDIR_H
#define DNSREDIR_REDIR_H

#include <stdbool.h>
#include <linux/types.h>
#include <net/if.h>

#include "dnsredir.h"
#include "server.h"

/* Fixed filter identity: attaching again replaces, never stacks. */
#define REDIR_TC_HANDLE 0xd25
#define REDIR_TC_PRIORITY 1

struct redir_spec {
	struct dns_server server;
	struct in_addr source;	/* the container's address toward the server */
	int egress_ifindex;
	int lo_ifindex;
};

enum redir_outcome {
	REDIR_ATTACHED,		/* nothing of ours was there */
	REDIR_REPLACED,		/* ours was there but incomplete: loaded anew */
	REDIR_UPDATED,		/* ours was there: its settings changed in place */
	REDIR_UNCHANGED,	/* ours was there with these very settings */
};

struct redir_status {
	bool query_attached;
	bool reply_attached;
	struct redir_spec spec;
	char egress_name[IF_NAMESIZE];
	__u32 query_prog_id, reply_prog_id;
	__u64 counters[DNSREDIR_COUNTER_MAX];
};

/* Returns an enum redir_outcome or -errno; on error nothing new is left attached. */
int redir_attach(const struct redir_spec *spec);
/*
 * Loads a pair ahead of time for the next redir_attach() that needs a fresh
 * one (used when a container is about to start). redir_release() frees it.
 */
int redir_prepare(void);
void redir_release(void);
/* Removes every dnsredir filter in the netns. Returns how many, or -errno. */
int redir_detach(void);
int redir_status(struct redir_status *status);

const char *redir_outcome_name(enum redir_outcome outcome);
const char *redir_counter_name(enum dnsredir_counter counter);

#endif
