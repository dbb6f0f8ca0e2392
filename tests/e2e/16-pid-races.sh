#!/usr/bin/env bash
# 'attach --pid' against processes that are gone, going, or in the wrong
# netns (topology: tests/lib/netns.sh, no Docker).
#
#   1. a process of the client netns that has exited: refused ("no such
#      process: pid N"), nothing attached anywhere
#   2. RACE_ROUNDS processes started with 'ip netns exec CLIENT sleep 0.0x'
#      (every third one first sleeps a little in the host netns, then moves
#      to the client's under the same PID) and attached at once, while they
#      enter the netns, run, exit: each
#      attach either succeeds with both filters in the client netns, or fails
#      with one known line and nothing attached; never a filter in the host
#      netns or in a decoy netns
#   3. a process of the host netns: refused ("shares the agent's network
#      namespace"), for attach and detach, nothing attached to the host
#
# So that a wrong attach could actually succeed where it must not (and these
# checks can fail), the host netns and the decoy netns each get a UDP socket
# on 127.0.0.11, which is what the agent takes for dockerd's resolver, and
# the decoy a route to the server. The host's is bound to loopback and sees
# no traffic.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/netns.sh
source "$(dirname "$0")/../lib/netns.sh"

RACE_ROUNDS=${RACE_ROUNDS:-50}
# holds a UDP socket on 127.0.0.11 until killed
FAKE_RESOLVER='import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.11", 0))
open(__import__("sys").argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(100000)'

# Every dnsredir filter of a netns ("" for the host's), any interface, any hook.
our_filters() {
	in_netns "$1" bpftool net show | grep -o '^[^ ]*(.*dnsredir_[a-z]*' || true
}

# Nothing of ours in the host netns (lo's ingress looked at with tc itself
# too) nor in the decoy.
expect_none_elsewhere() {
	local what=$1 host decoy
	host=$(our_filters "")
	[ -z "$host" ] || fail "$what: dnsredir filters in the host netns: $host"
	tc filter show dev lo ingress | grep -q dnsredir && fail "$what: dnsredir filter on the host's lo ingress"
	decoy=$(our_filters "$NS_DECOY")
	[ -z "$decoy" ] || fail "$what: dnsredir filters in the decoy netns: $decoy"
	return 0
}

expect_client_clean() {
	local left
	left=$(our_filters "$NS_CLIENT")
	[ -z "$left" ] || fail "$1: dnsredir filters left in the client netns: $left"
}

expect_client_attached() {
	if [ "$(filter_names "$NS_CLIENT" lo ingress)" != dnsredir_query ] ||
		[ "$(filter_names "$NS_CLIENT" "$CLIENT_IF" ingress)" != dnsredir_reply ]; then
		fail "$1: attach said yes, but the client netns has: $(our_filters "$NS_CLIENT")"
	fi
}

# One line of stderr, matching the regex.
expect_err() {
	[ "$(printf '%s\n' "$AGENT_ERR" | grep -c .)" -eq 1 ] || fail "$2: stderr is not one line: $AGENT_ERR"
	printf '%s\n' "$AGENT_ERR" | grep -Eq -- "$1" || fail "$2: stderr does not match /$1/: $AGENT_ERR"
}

# Removes any dnsredir filter from the host netns, should a failed check have left one.
host_scrub() {
	local dev
	for dev in $(bpftool net show | sed -n 's/^\([^ (]*\)(.*dnsredir_.*/\1/p' | sort -u); do
		tc filter del dev "$dev" ingress pref 1 handle 0xd25 bpf 2>/dev/null || true
	done
}

fake_resolver() {
	local ns=$1 port_file=$TEST_TMP/resolver-${1:-host}.port
	start_bg "resolver-${ns:-host}" "$ns" python3 -c "$FAKE_RESOLVER" "$port_file"
	wait_until 5 test -s "$port_file" || fail "no fake resolver socket in ${ns:-the host netns}"
}

decoy_up() {
	NS_DECOY=dr${RUN_ID}-decoy
	netns_add "$NS_DECOY"
	# a veth pair with both ends inside: an interface that is up, going nowhere
	ip -n "$NS_DECOY" link add eth0 type veth peer name eth1
	ip -n "$NS_DECOY" addr add 10.250.9.2/24 dev eth0
	ip -n "$NS_DECOY" link set eth1 up
	ip -n "$NS_DECOY" link set eth0 up
	ip -n "$NS_DECOY" route add default dev eth0
	fake_resolver "$NS_DECOY"
	netns_sleeper "$NS_DECOY"
	DECOY_PID=$BG_PID
	# the decoy would take a redirect: proof that finding none there means something
	agent_cli attach --pid "$DECOY_PID" --server "$UPSTREAM_ADDR:53"
	[ "$AGENT_RC" -eq 0 ] || fail "the decoy netns does not take an attach: $AGENT_ERR"
	[ -n "$(our_filters "$NS_DECOY")" ] || fail "attach to the decoy left no filter there"
	agent_cli detach --pid "$DECOY_PID"
	[ "$AGENT_RC" -eq 0 ] || fail "detach from the decoy: $AGENT_ERR"
	[ -z "$(our_filters "$NS_DECOY")" ] || fail "detach from the decoy left: $(our_filters "$NS_DECOY")"
	pass "the decoy netns takes an attach (and is clean again)"
}

check_exited() {
	local pid
	for _ in 1 2 3; do
		ip netns exec "$NS_CLIENT" sleep 0.1 &
		pid=$!
		wait "$pid"
		[ ! -e "/proc/$pid" ] || continue	# reused already: try another
		agent_cli attach --pid "$pid" --server "$UPSTREAM_ADDR:53"
		[ ! -e "/proc/$pid" ] || continue
		[ "$AGENT_RC" -ne 0 ] || fail "attach to exited pid $pid succeeded: $AGENT_OUT"
		expect_err "^dnsredir-agent: no such process: pid $pid " "attach to exited pid $pid"
		expect_client_clean "attach to exited pid $pid"
		expect_none_elsewhere "attach to exited pid $pid"
		pass "attach to exited pid $pid refused: $AGENT_ERR"
		return 0
	done
	fail "the PID of an exited process was reused three times in a row"
}

check_races() {
	local i pid delay ok=0 outcome
	declare -A outcomes=()
	for ((i = 1; i <= RACE_ROUNDS; i++)); do
		if ((i % 3 == 0)); then
			# a process that starts in the host netns and moves to the
			# client's a moment later, under the same PID
			sh -c 'sleep "$1"; exec ip netns exec "$2" sleep 0.05' sh "0.0$((i % 4 + 1))" "$NS_CLIENT" &
		else
			ip netns exec "$NS_CLIENT" sleep "0.0$((i % 10))" &
		fi
		pid=$!
		# sweep attach across the process's life: before it has entered the
		# netns, while it sleeps there, as it exits
		delay=$((i % 5 * 5))
		[ "$delay" -eq 0 ] || sleep "0.0$(printf '%02d' "$delay")"
		agent_cli attach --pid "$pid" --server "$UPSTREAM_ADDR:53"
		wait "$pid" || true
		expect_none_elsewhere "round $i (pid $pid)"
		if [ "$AGENT_RC" -eq 0 ]; then
			expect_client_attached "round $i (pid $pid)"
			outcome=attached
			ok=$((ok + 1))
			agent_cli detach --pid "$CLIENT_PID"
			[ "$AGENT_RC" -eq 0 ] || fail "round $i: detach: $AGENT_ERR"
		else
			expect_err "^dnsredir-agent: (no such process: pid $pid |pid $pid shares the agent's network namespace|cannot read the sockets of pid $pid: No such process)" \
				"round $i (pid $pid)"
			outcome=$(printf '%s\n' "$AGENT_ERR" | sed -E 's/^dnsredir-agent: //; s/[0-9]+//g; s/ \(.*//')
		fi
		expect_client_clean "round $i (pid $pid), after detach"
		outcomes[$outcome]=$((${outcomes[$outcome]:-0} + 1))
	done
	for outcome in "${!outcomes[@]}"; do
		log "race outcome: ${outcomes[$outcome]} x $outcome"
	done
	[ "$ok" -gt 0 ] || fail "no attach to a short-lived process succeeded in $RACE_ROUNDS rounds"
	pass "$RACE_ROUNDS attaches racing their process: $ok attached in the client netns, the rest refused cleanly, none elsewhere"
}

check_host_process() {
	local pid before
	start_bg sleep-host "" sleep 100
	pid=$BG_PID
	before=$(tc_state_host)
	agent_cli attach --pid "$pid" --server "$UPSTREAM_ADDR:53"
	[ "$AGENT_RC" -ne 0 ] || fail "attach to host process $pid succeeded: $AGENT_OUT"
	expect_err "^dnsredir-agent: pid $pid shares the agent's network namespace" "attach to a host process"
	expect_none_elsewhere "attach to a host process"
	assert_eq "$before" "$(tc_state_host)" "TC on the host's lo after attach to a host process"
	agent_cli detach --pid "$pid"
	[ "$AGENT_RC" -ne 0 ] || fail "detach with host process $pid succeeded: $AGENT_OUT"
	expect_err "^dnsredir-agent: pid $pid shares the agent's network namespace" "detach with a host process"
	pass "host process $pid refused: $AGENT_ERR"

	# pid 1 too, when this sandbox lets us see its netns and it is ours
	if [ "$(readlink /proc/1/ns/net 2>/dev/null)" = "$(readlink /proc/self/ns/net)" ]; then
		agent_cli attach --pid 1 --server "$UPSTREAM_ADDR:53"
		[ "$AGENT_RC" -ne 0 ] || fail "attach to pid 1 succeeded"
		expect_err "^dnsredir-agent: pid 1 shares the agent's network namespace" "attach to pid 1"
		expect_none_elsewhere "attach to pid 1"
		pass "pid 1 refused: $AGENT_ERR"
	else
		log "pid 1's netns is not readable or not ours here: not tried"
	fi
}

tc_state_host() {
	tc qdisc show dev lo | sed 's/ refcnt [0-9]*//'
	tc filter show dev lo ingress
}

main() {
	need_root
	need_cmd ip tc dig dnsmasq iptables-restore setsid od python3 bpftool
	need_agent
	topo_up
	[ -z "$(our_filters "")" ] || skip "the host netns already has dnsredir filters: $(our_filters "")"
	cleanup_add host_scrub
	fake_resolver ""
	decoy_up
	expect_client_clean "before the checks"
	check_exited
	check_races
	check_host_process
	# the client still works after all this
	agent_cli attach --pid "$CLIENT_PID" --server "$UPSTREAM_ADDR:53"
	[ "$AGENT_RC" -eq 0 ] || fail "final attach: $AGENT_ERR"
	assert_eq "$UPSTREAM_ANSWER" "$(dns_a "$NS_CLIENT" "$RESOLVER_ADDR" "$DNS_NAME")" "lookup after the races"
	echo "all checks passed"
}

main "$@"
