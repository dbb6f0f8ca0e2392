#!/usr/bin/env bash
# The redirect end to end without Docker (topology: tests/lib/netns.sh).
#
# Before attach, 127.0.0.11 in the client netns answers with what the
# "dockerd" resolver says (10.99.0.2); after 'dnsredir-agent attach' the same
# queries, UDP and TCP, get the upstream's answer (10.99.0.1) through exactly
# one dnsredir_query filter on lo ingress and one dnsredir_reply filter on
# eth0 ingress, which outlive the attaching process; after 'detach' the netns
# is as it was. Bad input is refused with a one-line reason and attaches nothing.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/netns.sh
source "$(dirname "$0")/../lib/netns.sh"

LOOKUPS=20
# A filter of someone else's on eth0, in a clsact made before the agent came:
# detach must leave both alone. Classic BPF "return 0": never matches anything.
FOREIGN_PREF=49000

# ---------------------------------------------------------------------------
# Helpers

# ask [DIG_OPT...]: what the client's resolver address answers for DNS_NAME.
ask() { dns_a "$NS_CLIENT" "$RESOLVER_ADDR" "$DNS_NAME" "$@"; }

# expect_answer ADDR WHEN: both protocols get exactly ADDR.
expect_answer() {
	assert_eq "$1" "$(ask)" "UDP answer $2"
	assert_eq "$1" "$(ask +tcp)" "TCP answer $2"
}

# Everything TC in a netns the agent could touch: qdiscs and filters of lo
# and of the interface toward the upstream (WHAT: qdiscs, filters or both).
tc_state() {
	local ns=$1 dev=${2:-} what=${3:-both} d hook
	for d in lo $dev; do
		if [ "$what" != filters ]; then
			echo "== $d qdiscs"
			tc_qdiscs "$ns" "$d"
		fi
		[ "$what" != qdiscs ] || continue
		for hook in ingress egress; do
			echo "== $d $hook"
			tc_filters "$ns" "$d" "$hook"
		done
	done
}

# tc_section qdiscs|filters: that part of a tc_state "both" on stdin.
tc_section() {
	awk -v want="$1" '
		/^== / { keep = (want == "qdiscs") == ($NF == "qdiscs") }
		keep'
}

expect_filters() {
	assert_eq "dnsredir_query" "$(filter_names "$NS_CLIENT" lo ingress)" "filters on lo ingress $1"
	assert_eq "cbpf dnsredir_reply" "$(filter_names "$NS_CLIENT" "$CLIENT_IF" ingress)" \
		"filters on $CLIENT_IF ingress $1"
	assert_eq "" "$(filter_names "$NS_CLIENT" lo egress)" "filters on lo egress $1"
	assert_eq "" "$(filter_names "$NS_CLIENT" "$CLIENT_IF" egress)" "filters on $CLIENT_IF egress $1"
}

# The PIDs of every process running the agent binary right now.
agent_processes() {
	local exe p
	exe=$(readlink -f "$DNSREDIR_AGENT")
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$exe" ] && echo "${p#/proc/}"
	done
	return 0
}

# ---------------------------------------------------------------------------
# Checks

check_before() {
	expect_answer "$RESOLVER_ANSWER" "before attach (the resolver)"
	# the upstream is reachable from the client, or the redirect could never work
	assert_eq "$UPSTREAM_ANSWER" "$(dns_a "$NS_CLIENT" "$UPSTREAM_ADDR" "$DNS_NAME")" \
		"upstream answer, asked directly from the client"
}

add_foreign_filter() {
	ip netns exec "$NS_CLIENT" tc qdisc add dev "$CLIENT_IF" clsact
	ip netns exec "$NS_CLIENT" tc filter add dev "$CLIENT_IF" ingress pref "$FOREIGN_PREF" \
		bpf bytecode '1,6 0 0 0,'
}

# expect_refused WHAT_STDERR_MUST_MATCH ARG...: the CLI fails, says why in
# one line that matches the regex (case-insensitive), and TC is untouched.
expect_refused() {
	local pattern=$1 before after
	shift
	before=$(tc_state "$NS_CLIENT" "$CLIENT_IF")
	agent_cli "$@"
	after=$(tc_state "$NS_CLIENT" "$CLIENT_IF")
	[ "$AGENT_RC" -ne 0 ] || fail "'dnsredir-agent $*' succeeded; it must refuse"
	[ "$(printf '%s\n' "$AGENT_ERR" | grep -c .)" -eq 1 ] ||
		fail "'dnsredir-agent $*': stderr must be one line, got: $AGENT_ERR"
	printf '%s\n' "$AGENT_ERR" | grep -Eqi -- "$pattern" ||
		fail "'dnsredir-agent $*': stderr does not match /$pattern/: $AGENT_ERR"
	[ "$before" = "$after" ] || fail "'dnsredir-agent $*' changed TC: before: $before; after: $after"
	pass "refused: dnsredir-agent $* (exit $AGENT_RC: $AGENT_ERR)"
}

# Regex matching a literal string.
literal() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }

check_bad_servers() {
	local s
	for s in 300.1.1.1 10.250.2.2:0 10.250.2.2:70000 127.0.0.1 0.0.0.0 224.0.0.1 255.255.255.255; do
		expect_refused "$(literal "$s")" attach --pid "$CLIENT_PID" --server "$s"
	done
	expect_refused 'IPv6.*(not supported|unsupported)' attach --pid "$CLIENT_PID" --server ::1
}

check_bad_pids() {
	local ns_empty state
	expect_refused 999999999 attach --pid 999999999 --server "$UPSTREAM_ADDR"

	# a live process whose netns has no resolver on 127.0.0.11
	ns_empty=dr${RUN_ID}-empty
	netns_add "$ns_empty"
	netns_sleeper "$ns_empty"
	state=$(tc_state "$ns_empty")
	expect_refused "$BG_PID" attach --pid "$BG_PID" --server "$UPSTREAM_ADDR"
	assert_eq "$state" "$(tc_state "$ns_empty")" "TC in the netns without a resolver"
}

# 'attach' returns, and the filters keep working without any agent process.
check_attach() {
	local procs_before
	procs_before=$(agent_processes)
	agent_ok attach --pid "$CLIENT_PID" --server "$UPSTREAM_ADDR:53"
	assert_eq "$procs_before" "$(agent_processes)" "agent processes left behind by attach"
	expect_answer "$UPSTREAM_ANSWER" "after attach"
	expect_filters "after attach"
}

check_attach_again() {
	agent_ok attach --pid "$CLIENT_PID" --server "$UPSTREAM_ADDR:53"
	expect_filters "after a second attach"
	expect_answer "$UPSTREAM_ANSWER" "after a second attach"
	# a refused attach must not disturb the working one either
	expect_refused "$(literal 300.1.1.1)" attach --pid "$CLIENT_PID" --server 300.1.1.1
	expect_answer "$UPSTREAM_ANSWER" "after a refused attach"
}

check_lookups() {
	local i answer
	for ((i = 1; i <= LOOKUPS; i++)); do
		answer=$(ask)
		[ "$answer" = "$UPSTREAM_ANSWER" ] || fail "UDP lookup $i/$LOOKUPS: got '$answer'"
		answer=$(ask +tcp)
		[ "$answer" = "$UPSTREAM_ANSWER" ] || fail "TCP lookup $i/$LOOKUPS: got '$answer'"
	done
	pass "$LOOKUPS UDP and $LOOKUPS TCP lookups answered $UPSTREAM_ANSWER"
}

# At least one redirected query and one restored reply per UDP lookup since
# the last attach (TCP adds more: every segment counts).
check_status_attached() {
	local n
	agent_ok status --pid "$CLIENT_PID"
	printf '%s\n' "$AGENT_OUT"
	assert_eq yes "$(status_value attached)" "status attached"
	assert_eq "$UPSTREAM_ADDR:53" "$(status_value server)" "status server"
	for n in queries_redirected replies_restored; do
		[[ "$(status_value "$n")" =~ ^[0-9]+$ ]] || fail "status $n is not a number: '$(status_value "$n")'"
		[ "$(status_value "$n")" -ge "$LOOKUPS" ] ||
			fail "status $n = $(status_value "$n"), expected >= $LOOKUPS"
		pass "status $n = $(status_value "$n") >= $LOOKUPS"
	done
}

check_detach() {
	agent_ok detach --pid "$CLIENT_PID"
	expect_answer "$RESOLVER_ANSWER" "after detach"
	# every filter of ours gone, the foreign one kept
	assert_eq "$(printf '%s\n' "$TC_BEFORE" | tc_section filters)" \
		"$(tc_state "$NS_CLIENT" "$CLIENT_IF" filters)" "TC filters after detach (as before attach)"
	agent_ok status --pid "$CLIENT_PID"
	assert_eq no "$(status_value attached)" "status attached after detach"
	# by design detach removes only our filters, never a clsact qdisc (one may
	# carry other tools' filters): the foreign one on eth0 must still be there
	tc_qdiscs "$NS_CLIENT" "$CLIENT_IF" | grep -q clsact || fail "the foreign clsact on $CLIENT_IF is gone"
	pass "the foreign clsact on $CLIENT_IF is kept"
}

main() {
	need_root
	need_cmd ip tc dig dnsmasq iptables-restore setsid od
	need_agent
	topo_up
	add_foreign_filter
	TC_BEFORE=$(tc_state "$NS_CLIENT" "$CLIENT_IF")
	check_before
	check_bad_servers
	check_bad_pids
	check_attach
	check_attach_again
	check_lookups
	check_status_attached
	check_detach
	echo "all checks passed"
}

main "$@"
