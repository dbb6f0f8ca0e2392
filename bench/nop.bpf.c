// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * An empty TC program, for bench/bpf.sh: attached in the container on lo
 * egress, it runs on every packet sent on lo, and its run_time_ns
 * / run_cnt is what any program costs there on this machine (the call, and
 * the clock reads of kernel.bpf_stats_enabled): the floor the others stand on.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int bench_nop(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
