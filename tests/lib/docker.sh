# shellcheck shell=bash
# A real dockerd, a test upstream and decoy, labelled containers and the agent.
# Source after common.sh.
#
#   host netns: dockerd, user-defined network(s), the containers, the agent
#               drXXXXXXh $NET_PREFIX.1/24 --- upstream netns eth0:
#                      $NET_PREFIX.2:53   dnsmasq -> 10.99.0.1 (UPSTREAM_ANSWER)
#                      $NET_PREFIX.2:5353 dnsmasq -> 10.99.0.3 (UPSTREAM_PORT_ANSWER)
#                      $NET_PREFIX.3:53   dnsmasq -> 10.99.0.2 (DECOY_ANSWER)
#
# Containers get --dns DECOY: dockerd's resolver forwards there (never off
# this machine), so an answer of 10.99.0.2 means "not redirected".

NET_PREFIX=${NET_PREFIX:-10.250.4}
HOST_ADDR=$NET_PREFIX.1
UPSTREAM_ADDR=$NET_PREFIX.2
DECOY_ADDR=$NET_PREFIX.3
UPSTREAM_PORT=5353
DNS_NAME=test.dnsredir.
UPSTREAM_ANSWER=10.99.0.1
DECOY_ANSWER=10.99.0.2
UPSTREAM_PORT_ANSWER=10.99.0.3
IMAGE=dnsredir-test/busybox:1
AGENT_LOG=

docker_up() {
	"$TESTS_ROOT/tests/lib/dockerd-up.sh" >&2 || skip "docker cannot run here (tests/lib/dockerd-up.sh failed)"
	[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || sysctl -qw net.ipv4.ip_forward=1
}

# Stops dockerd (containers live on: it runs with --live-restore).
dockerd_stop() {
	pkill -TERM -x dockerd || true
	wait_until 30 bash -c '! pgrep -x dockerd' || fail "dockerd did not stop"
	rm -f /var/run/docker.pid
}

dockerd_restart() {
	dockerd_stop
	docker_up
}

# upstream_link_up [NAME_PREFIX]: the upstream netns, linked to the host by a
# veth pair whose far end is made directly inside the netns, holding
# UPSTREAM_ADDR; no server yet. Sets NS_UPSTREAM and HOST_IF.
upstream_link_up() {
	local prefix=${1:-dr} used
	used=$(ip -4 -o addr show to "$NET_PREFIX.0/24")
	[ -z "$used" ] || fail "$NET_PREFIX.0/24 is already in use on this host: $used"
	NS_UPSTREAM=${prefix}${RUN_ID}-up
	HOST_IF=${prefix}${RUN_ID}h
	ip netns add "$NS_UPSTREAM"
	cleanup_add ip netns del "$NS_UPSTREAM"
	debug_hint "ip netns exec $NS_UPSTREAM bash"
	ip -n "$NS_UPSTREAM" link set lo up
	ip link add "$HOST_IF" type veth peer name eth0 netns "$NS_UPSTREAM"
	cleanup_add ip link del "$HOST_IF"
	ip addr add "$HOST_ADDR/24" dev "$HOST_IF"
	ip link set "$HOST_IF" up
	ip -n "$NS_UPSTREAM" addr add "$UPSTREAM_ADDR/24" dev eth0
	ip -n "$NS_UPSTREAM" link set eth0 up
	ip -n "$NS_UPSTREAM" route add default via "$HOST_ADDR"
}

# The upstream netns with the three servers.
upstream_up() {
	upstream_link_up
	ip -n "$NS_UPSTREAM" addr add "$DECOY_ADDR/24" dev eth0
	dnsmasq_start "$NS_UPSTREAM" "$UPSTREAM_ADDR" 53 "$DNS_NAME" "$UPSTREAM_ANSWER"
	dnsmasq_start "$NS_UPSTREAM" "$UPSTREAM_ADDR" "$UPSTREAM_PORT" "$DNS_NAME" "$UPSTREAM_PORT_ANSWER"
	dnsmasq_start "$NS_UPSTREAM" "$DECOY_ADDR" 53 "$DNS_NAME" "$DECOY_ANSWER"
}

# network_up: a user-defined network (with the embedded resolver) in $NET.
network_up() {
	NET=dr${RUN_ID}
	docker network create "$NET" >/dev/null
	cleanup_add docker network rm "$NET"
}

# run_container NAME [DOCKER_RUN_OPT...]: a sleeping busybox on $NET unless
# the options say otherwise; removed at cleanup.
run_container() {
	local name=$1
	shift
	cleanup_add docker rm -f "$name"
	docker run -d --name "$name" --network "$NET" --dns "$DECOY_ADDR" \
		--label "dnsredir.test=$RUN_ID" "$@" "$IMAGE" sleep 100000 >/dev/null
}

container_pid() { docker inspect -f '{{.State.Pid}}' "$1"; }

# ask CONTAINER [DIG_OPT...]: what 127.0.0.11 answers in the container's netns.
ask() {
	local pid
	pid=$(container_pid "$1")
	shift
	nsenter -n -t "$pid" dig +short +time=2 +tries=1 "$@" @127.0.0.11 "$DNS_NAME" A 2>&1 || true
}

# expect_answer CONTAINER ANSWER WHAT: over UDP and TCP.
expect_answer() {
	assert_eq "$2" "$(ask "$1")" "$1: UDP answer $3"
	assert_eq "$2" "$(ask "$1" +tcp)" "$1: TCP answer $3"
}

# wait_answer SECS CONTAINER ANSWER WHAT: the redirect may come a little later.
wait_answer() {
	wait_until "$1" answer_is "$2" "$3" || true
	assert_eq "$3" "$(ask "$2")" "$2: UDP answer $4"
}

answer_is() { [ "$(ask "$1")" = "$2" ]; }

# filter_count CONTAINER DEV: our filters on DEV's ingress in the container's netns.
filter_count() {
	local pid
	pid=$(container_pid "$1")
	nsenter -n -t "$pid" tc filter show dev "$2" ingress | grep -c ' dnsredir_' || true
}

# docker_test_up [CMD...]: how every agent test against dockerd begins: the
# tools it needs (and CMDs), the agent, the host's docker lock, dockerd, the
# upstream netns with its two dnsmasqs, and a network of the test's own.
docker_test_up() {
	need_root
	need_cmd ip dig dnsmasq docker nsenter setsid flock "$@"
	need_agent
	lock_host docker
	docker_up
	upstream_up
	network_up
}

# agent_start [OPT...]: the agent in the background, logging to $AGENT_LOG.
agent_start() {
	AGENT_LOG=$TEST_TMP/agent.log
	setsid "$DNSREDIR_AGENT" run --config /dev/null --resync-interval "${RESYNC:-2}" "$@" \
		>>"$AGENT_LOG" 2>&1 </dev/null 9>&- &
	AGENT_PID=$!
	cleanup_add kill_group "$AGENT_PID"
	debug_hint "agent log: $AGENT_LOG"
	wait_log 10 'event=connected' || true
}

# agent_kill SIGNAL: and reap it.
agent_kill() {
	kill "-$1" "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null || true
}

# wait_log SECS PATTERN: until the agent's log has a line matching PATTERN (ERE).
wait_log() { wait_until "$1" grep -Eq -- "$2" "$AGENT_LOG"; }

# expect_log PATTERN WHAT
expect_log() {
	wait_log 10 "$1" || { cat "$AGENT_LOG" >&2; fail "agent log: no line matching '$1' ($2)"; }
	pass "agent log: $2"
}

agent_alive() { kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent died; log:$(cat "$AGENT_LOG")"; }

# nslookup_in CONTAINER: the A answers busybox nslookup gets inside the
# container. nslookup also asks for AAAA and exits 1 on its empty answer: the
# exit status says nothing here, the addresses do.
nslookup_in() {
	local out
	out=$(docker exec "$1" nslookup "$DNS_NAME" 2>&1) || true
	printf '%s\n' "$out" | awk '/^Name:/ { f = 1; next } f && /^Address/ { print $NF }' | sort -u | xargs
}

# first_lookups COUNT [DOCKER-RUN-FLAGS...]: runs COUNT containers, one after
# the other, whose command is a lookup (busybox nslookup, the container's very
# first act) and prints "UPSTREAM DECOY OTHER": how many got each answer.
# Flags go to docker run (the label naming the server, for one).
first_lookups() {
	local count=$1 i out up=0 decoy=0 other=0
	shift
	for i in $(seq 1 "$count"); do
		out=$(docker run --rm --network "$NET" --dns "$DECOY_ADDR" --label "dnsredir.test=$RUN_ID" \
			"$@" "$IMAGE" nslookup -type=a "$DNS_NAME" 2>&1) || true
		case $out in
		*"$UPSTREAM_ANSWER"*) up=$((up + 1)) ;;
		*"$DECOY_ANSWER"*) decoy=$((decoy + 1)); log "container $i: first lookup reached dockerd's resolver" ;;
		*) other=$((other + 1)); log "container $i: $out" ;;
		esac
	done
	echo "$up $decoy $other"
}
