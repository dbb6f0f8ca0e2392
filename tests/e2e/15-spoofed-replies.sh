#!/usr/bin/env bash
# Forged answers from the server's address never reach a client (topology:
# tests/lib/netns.sh, no Docker).
#
# After attach, a client in the client netns (tests/lib/dnsprobe.py listen)
# holds three sockets connected to 127.0.0.11:53: "held" sent a query with id
# X that the upstream never sees (an iptables rule there drops it, so its flow
# slot stays open), "idle" sent nothing, "answered" sent a query with id Z
# and got the upstream's real answer. From the upstream netns, answers are
# then forged on a raw socket from UPSTREAM_ADDR:53 (the dnsmasq there keeps
# its socket) to CLIENT_ADDR:
#   (a) held's port, id Y != X; idle's port, ids X and random
#   (b) held's port, id X, from source port 5353 instead of 53
#   (c) replays: answered's port and id Z; and held's X once more after the
#       control below
# and none of them may reach any socket. The control, held's port and id X
# from port 53, is exactly what a redirected query's answer looks like: it
# must arrive, once, from 127.0.0.11:53, which shows the forged ones would
# have been seen had they got through. The counters must say the same:
# replies_unmatched up by one per forged answer from the server's port,
# replies_restored up by one (the control). A genuine lookup still works after.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/netns.sh
source "$(dirname "$0")/../lib/netns.sh"

PROBE=$TESTS_ROOT/tests/lib/dnsprobe.py
SPOOF_ANSWER=10.66.6.6
QUIET_SECS=1	# how long a socket must stay silent after a forged answer

# counter NAME: its value from a fresh 'status'.
counter() {
	agent_ok status --pid "$CLIENT_PID"
	status_value "$1"
}

# forge SPORT DPORT ID: one answer from UPSTREAM_ADDR:SPORT to CLIENT_ADDR:DPORT.
forge() {
	ip netns exec "$NS_UPSTREAM" python3 "$PROBE" spoof --src "$UPSTREAM_ADDR" --sport "$1" \
		--dst "$CLIENT_ADDR" --dport "$2" --id "$3" --name "$DNS_NAME" --answer "$SPOOF_ANSWER"
}

received() { cat "$PROBE_DIR/received"; }
received_count() { grep -c . "$PROBE_DIR/received" || true; }

# expect_silence WHAT SPORT DPORT ID: forge one answer, and nothing may arrive.
expect_silence() {
	local what=$1 before
	shift
	before=$(received_count)
	forge "$@"
	sleep "$QUIET_SECS"
	[ "$(received_count)" = "$before" ] ||
		fail "$what: a client socket received it: $(received | tail -n +"$((before + 1))")"
	pass "$what: no client socket received anything"
}

port_of() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" "$PROBE_DIR/ports"; }

held_dropped() {
	ip netns exec "$NS_UPSTREAM" iptables -nvxL INPUT | awk '/dnsredir-held/ { print $1 }'
}

main() {
	local held idle answered x y z u0 r0 rand
	need_root
	need_cmd ip tc dig dnsmasq iptables iptables-restore setsid od python3
	need_agent
	topo_up

	agent_ok attach --pid "$CLIENT_PID" --server "$UPSTREAM_ADDR:53"
	pass "attached: $AGENT_OUT"
	assert_eq "$UPSTREAM_ANSWER" "$(dns_a "$NS_CLIENT" "$RESOLVER_ADDR" "$DNS_NAME")" "genuine UDP lookup after attach"

	x=$((0x1000 + RANDOM % 0x7000))
	y=$((x ^ 0x5a5a))
	z=$(((x + 0x4321) % 0x10000))
	rand=$(((x + 0x8888) % 0x10000))
	# the upstream never sees the held query: its flow slot stays open
	ip netns exec "$NS_UPSTREAM" iptables -I INPUT -p udp --dport 53 \
		-m u32 --u32 "0>>22&0x3C@8>>16=$(printf '0x%04x' "$x")" \
		-m comment --comment dnsredir-held -j DROP

	PROBE_DIR=$TEST_TMP/probe
	mkdir -p "$PROBE_DIR"
	: >"$PROBE_DIR/received"
	cleanup_add touch "$PROBE_DIR/stop"
	start_bg probe "$NS_CLIENT" python3 "$PROBE" listen --dir "$PROBE_DIR" --name "$DNS_NAME" \
		--held-id "$x" --answered-id "$z"
	wait_until 10 test -s "$PROBE_DIR/ports" || fail "the probe client never started: $(cat "$TEST_TMP/probe.log")"
	held=$(port_of held) idle=$(port_of idle) answered=$(port_of answered)
	log "client sockets: $(cat "$PROBE_DIR/ports"); held id $(printf '%#x' "$x"), answered id $(printf '%#x' "$z")"

	wait_until 5 grep -q "^answered 127.0.0.11 53 id=$(printf '0x%04x' "$z") answer=$UPSTREAM_ANSWER\$" "$PROBE_DIR/received" ||
		fail "the answered socket got no real answer through the redirect: $(received)"
	pass "a query from the probe client is answered through the redirect"
	wait_until 5 test "$(held_dropped)" -ge 1 ||
		fail "the held query never reached the upstream netns (dropped $(held_dropped))"
	assert_eq 1 "$(held_dropped)" "held queries dropped at the upstream"
	assert_eq 1 "$(received_count)" "datagrams received before any forged answer"

	u0=$(counter replies_unmatched)
	r0=$(counter replies_restored)
	log "before the forged answers: replies_unmatched=$u0 replies_restored=$r0"

	# (a) wrong id, or a socket that asked nothing
	expect_silence "(a) held's port, wrong id" 53 "$held" "$y"
	expect_silence "(a) idle socket's port, the held id" 53 "$idle" "$x"
	expect_silence "(a) idle socket's port, another id" 53 "$idle" "$rand"
	# (b) the right port and id from another source port
	expect_silence "(b) held's port and id, source port 5353" 5353 "$held" "$x"
	# (c) a replay of an answer already delivered
	expect_silence "(c) replay of the answered query's answer" 53 "$answered" "$z"
	assert_eq "$((u0 + 4))" "$(counter replies_unmatched)" "replies_unmatched after 4 forged answers from port 53"
	assert_eq "$r0" "$(counter replies_restored)" "replies_restored after the forged answers"

	# the control: port and id right, from the server's port
	forge 53 "$held" "$x"
	wait_until 5 test "$(received_count)" -ge 2 || fail "the control answer never arrived: $(received)"
	sleep "$QUIET_SECS"
	assert_eq "held 127.0.0.11 53 id=$(printf '0x%04x' "$x") answer=$SPOOF_ANSWER" "$(received | tail -n +2)" \
		"what the held socket received for the control answer"
	assert_eq "$((r0 + 1))" "$(counter replies_restored)" "replies_restored after the control answer"

	# (c) once answered, the same answer again is a replay
	expect_silence "(c) replay of the control answer" 53 "$held" "$x"
	assert_eq "$((u0 + 5))" "$(counter replies_unmatched)" "replies_unmatched after the replay"
	assert_eq "$((r0 + 1))" "$(counter replies_restored)" "replies_restored after the replay"
	assert_eq 0 "$(counter errors)" "errors"

	touch "$PROBE_DIR/stop"
	assert_eq "$UPSTREAM_ANSWER" "$(dns_a "$NS_CLIENT" "$RESOLVER_ADDR" "$DNS_NAME")" "genuine UDP lookup after the forged answers"
	assert_eq "$UPSTREAM_ANSWER" "$(dns_a "$NS_CLIENT" "$RESOLVER_ADDR" "$DNS_NAME" +tcp)" "genuine TCP lookup after the forged answers"
	echo "all checks passed"
}

main "$@"
