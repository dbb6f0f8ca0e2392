/*
 * The attach module. Programs are loaded once per container netns from the
 * skeleton and attached at a fixed tc handle and priority with REPLACE, so
 * running it again is idempotent. Filters hold the only reference to the
 * programs and maps: they outlive the agent and die with the namespace. To
 * find them again (status, agent restart) we ask tc for the program at our
 * handle and follow its map ids.
 *
 * A clsact qdisc is created when missing and never destroyed: it may carry
 * other tools' filters, and an empty one costs nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "devconf.h"
#include "dnsredir.skel.h"
#include "redir.h"

#define LO_IFINDEX_NAME "lo"

/* One of our programs as found in the kernel. */
struct attached_prog {
	__u32 prog_id;
	char name[BPF_OBJ_NAME_LEN];
	__u32 config_map_id;
	__u32 counters_map_id;
};

const char *redir_outcome_name(enum redir_outcome outcome)
{
	switch (outcome) {
	case REDIR_ATTACHED: return "attached";
	case REDIR_REPLACED: return "replaced";
	case REDIR_UPDATED: return "updated";
	case REDIR_UNCHANGED: return "unchanged";
	}
	return "?";
}

const char *redir_counter_name(enum dnsredir_counter counter)
{
	static const char *const names[DNSREDIR_COUNTER_MAX] = {
		[DNSREDIR_QUERIES_REDIRECTED] = "queries_redirected",
		[DNSREDIR_REPLIES_RESTORED] = "replies_restored",
		[DNSREDIR_REPLIES_UNMATCHED] = "replies_unmatched",
		[DNSREDIR_PASSED] = "passed",
		[DNSREDIR_ERRORS] = "errors",
	};
	return counter < DNSREDIR_COUNTER_MAX ? names[counter] : "?";
}

static void hook_init(struct bpf_tc_hook *hook, int ifindex)
{
	memset(hook, 0, sizeof(*hook));
	hook->sz = sizeof(*hook);
	hook->ifindex = ifindex;
	hook->attach_point = BPF_TC_INGRESS;
}

static void opts_init(struct bpf_tc_opts *opts, int prog_fd, __u32 flags)
{
	memset(opts, 0, sizeof(*opts));
	opts->sz = sizeof(*opts);
	opts->handle = REDIR_TC_HANDLE;
	opts->priority = REDIR_TC_PRIORITY;
	opts->prog_fd = prog_fd;
	opts->flags = flags;
}

/* Fills *found from the program at our handle on ifindex's ingress; -ENOENT if none. */
static int attached_find(int ifindex, struct attached_prog *found)
{
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	__u32 map_ids[8] = {};
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;
	int err, prog_fd;

	memset(found, 0, sizeof(*found));
	hook_init(&hook, ifindex);
	opts_init(&opts, 0, 0);
	err = bpf_tc_query(&hook, &opts);
	if (err)
		return err == -EINVAL ? -ENOENT : err;	/* -EINVAL: no clsact at all */

	found->prog_id = opts.prog_id;
	prog_fd = bpf_prog_get_fd_by_id(opts.prog_id);
	if (prog_fd < 0)
		return -errno;
	info.nr_map_ids = sizeof(map_ids) / sizeof(map_ids[0]);
	info.map_ids = (__u64)(unsigned long)map_ids;
	err = bpf_obj_get_info_by_fd(prog_fd, &info, &info_len);
	close(prog_fd);
	if (err)
		return -errno;
	memcpy(found->name, info.name, sizeof(found->name));

	for (__u32 i = 0; i < info.nr_map_ids && i < sizeof(map_ids) / sizeof(map_ids[0]); i++) {
		struct bpf_map_info map_info = {};
		__u32 map_len = sizeof(map_info);
		int map_fd = bpf_map_get_fd_by_id(map_ids[i]);

		if (map_fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(map_fd, &map_info, &map_len)) {
			if (!strcmp(map_info.name, "config"))
				found->config_map_id = map_ids[i];
			else if (!strcmp(map_info.name, "counters"))
				found->counters_map_id = map_ids[i];
		}
		close(map_fd);
	}
	return 0;
}

static bool is_ours(const struct attached_prog *prog, const char *name)
{
	return !strcmp(prog->name, name) && prog->config_map_id;
}

static void config_from_spec(const struct redir_spec *spec, struct dnsredir_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->server_addr = spec->server.addr.s_addr;
	cfg->server_port = htons(spec->server.port);
	cfg->source_addr = spec->source.s_addr;
	cfg->egress_ifindex = spec->egress_ifindex;
	cfg->lo_ifindex = spec->lo_ifindex;
}

static void spec_from_config(const struct dnsredir_config *cfg, struct redir_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->server.addr.s_addr = cfg->server_addr;
	spec->server.port = ntohs(cfg->server_port);
	spec->source.s_addr = cfg->source_addr;
	spec->egress_ifindex = cfg->egress_ifindex;
	spec->lo_ifindex = cfg->lo_ifindex;
}

static int config_read(__u32 map_id, struct dnsredir_config *cfg)
{
	__u32 zero = 0;
	int fd, err;

	fd = bpf_map_get_fd_by_id(map_id);
	if (fd < 0)
		return -errno;
	err = bpf_map_lookup_elem(fd, &zero, cfg) ? -errno : 0;
	close(fd);
	return err;
}

static int config_write(__u32 map_id, const struct dnsredir_config *cfg)
{
	__u32 zero = 0;
	int fd, err;

	fd = bpf_map_get_fd_by_id(map_id);
	if (fd < 0)
		return -errno;
	err = bpf_map_update_elem(fd, &zero, cfg, BPF_ANY) ? -errno : 0;
	close(fd);
	return err;
}

static int filter_attach(int ifindex, int prog_fd)
{
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;
	int err;

	hook_init(&hook, ifindex);
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	opts_init(&opts, prog_fd, BPF_TC_F_REPLACE);
	return bpf_tc_attach(&hook, &opts);
}

static int filter_detach(int ifindex)
{
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;

	hook_init(&hook, ifindex);
	opts_init(&opts, 0, 0);
	return bpf_tc_detach(&hook, &opts);
}

/*
 * Removes our reply filters from every interface but keep_ifindex (0: none
 * kept), and with with_query our query filter on lo too. Returns how many.
 */
static int filters_remove(int keep_ifindex, bool with_query)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int removed = 0;

	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index; i++) {
		struct attached_prog prog;

		if ((int)i->if_index == keep_ifindex || attached_find(i->if_index, &prog))
			continue;
		if (!is_ours(&prog, "dnsredir_reply") && !(with_query && is_ours(&prog, "dnsredir_query")))
			continue;
		if (!filter_detach(i->if_index))
			removed++;
	}
	if_freenameindex(ifs);
	return removed;
}

/*
 * A loaded pair kept ready: loading and verifying takes milliseconds, which a
 * container that is about to start does not have. Programs do not belong to
 * a netns, so it can be loaded anywhere, ahead of time.
 */
static struct dnsredir *spare;

int redir_prepare(void)
{
	if (spare)
		return 0;
	spare = dnsredir__open_and_load();
	return spare ? 0 : -errno;
}

void redir_release(void)
{
	dnsredir__destroy(spare);
	spare = NULL;
}

/* Loads a fresh pair (or takes the spare) and attaches reply side first, so no answer is lost. */
static int attach_fresh(const struct redir_spec *spec)
{
	struct dnsredir_config cfg;
	struct dnsredir *skel = spare;
	__u32 zero = 0;
	int err;

	spare = NULL;
	if (!skel)
		skel = dnsredir__open_and_load();
	if (!skel)
		return -errno;
	config_from_spec(spec, &cfg);
	err = bpf_map__update_elem(skel->maps.config, &zero, sizeof(zero), &cfg, sizeof(cfg), BPF_ANY);
	if (err)
		goto out;
	err = filter_attach(spec->egress_ifindex, bpf_program__fd(skel->progs.dnsredir_reply));
	if (err)
		goto out;
	err = filter_attach(spec->lo_ifindex, bpf_program__fd(skel->progs.dnsredir_query));
	if (err)
		filter_detach(spec->egress_ifindex);
out:
	/* the filters keep the programs and maps alive after this */
	dnsredir__destroy(skel);
	return err;
}

int redir_attach(const struct redir_spec *spec)
{
	struct attached_prog query, reply;
	struct dnsredir_config want, have;
	bool had_query;
	int err;

	/*
	 * A restored reply enters lo from tc without a route attached, so the
	 * kernel routes it like any received packet and, by default, drops
	 * 127.0.0.0/8 sources as martians. route_localnet on lo lets it
	 * through; only packets injected on lo are affected, and those come
	 * from this host anyway.
	 */
	err = devconf_route_localnet(spec->lo_ifindex);
	if (err)
		return err;
	config_from_spec(spec, &want);
	had_query = !attached_find(spec->lo_ifindex, &query) && is_ours(&query, "dnsredir_query");
	if (had_query && !attached_find(spec->egress_ifindex, &reply) &&
	    is_ours(&reply, "dnsredir_reply") && reply.config_map_id == query.config_map_id &&
	    !config_read(query.config_map_id, &have)) {
		/* adopt: a running pair keeps its flows in flight and its counters */
		filters_remove(spec->egress_ifindex, false);
		if (!memcmp(&have, &want, sizeof(want)))
			return REDIR_UNCHANGED;
		err = config_write(query.config_map_id, &want);
		return err ? err : REDIR_UPDATED;
	}

	err = attach_fresh(spec);
	if (err)
		return err;
	filters_remove(spec->egress_ifindex, false);
	return had_query ? REDIR_REPLACED : REDIR_ATTACHED;
}

int redir_detach(void)
{
	return filters_remove(0, true);
}

static int counters_read(__u32 map_id, __u64 *totals)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *values;
	int fd, err = 0;

	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	fd = bpf_map_get_fd_by_id(map_id);
	if (fd < 0)
		return -errno;
	values = calloc(ncpus, sizeof(*values));
	if (!values) {
		close(fd);
		return -ENOMEM;
	}
	for (__u32 key = 0; key < DNSREDIR_COUNTER_MAX; key++) {
		totals[key] = 0;
		if (bpf_map_lookup_elem(fd, &key, values)) {
			err = -errno;
			break;
		}
		for (int cpu = 0; cpu < ncpus; cpu++)
			totals[key] += values[cpu];
	}
	free(values);
	close(fd);
	return err;
}

int redir_status(struct redir_status *st)
{
	struct attached_prog query, reply;
	struct dnsredir_config cfg;
	int lo = if_nametoindex(LO_IFINDEX_NAME);
	int err;

	memset(st, 0, sizeof(*st));
	if (!lo)
		return -errno;
	err = attached_find(lo, &query);
	if (err == -ENOENT || (!err && !is_ours(&query, "dnsredir_query")))
		return 0;
	if (err)
		return err;
	st->query_attached = true;
	st->query_prog_id = query.prog_id;
	err = config_read(query.config_map_id, &cfg);
	if (err)
		return err;
	spec_from_config(&cfg, &st->spec);
	if (!if_indextoname(cfg.egress_ifindex, st->egress_name))
		strcpy(st->egress_name, "?");
	if (!attached_find(cfg.egress_ifindex, &reply) && is_ours(&reply, "dnsredir_reply")) {
		st->reply_attached = true;
		st->reply_prog_id = reply.prog_id;
	}
	if (query.counters_map_id)
		return counters_read(query.counters_map_id, st->counters);
	return 0;
}
