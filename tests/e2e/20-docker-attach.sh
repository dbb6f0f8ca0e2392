#!/usr/bin/env bash
# The redirect on a real Docker container (dockerd 20.10 here).
#
#   host netns: dockerd, a user-defined network, the container
#               drXXXXXXh 10.250.3.1/24 ---- upstream netns eth0 10.250.3.2/24 dnsmasq: 10.99.0.1
#                                                              10.250.3.3/24 dnsmasq: 10.99.0.2 (decoy)
#
# The container is run with --dns 10.250.3.3, so dockerd's embedded resolver
# forwards to the decoy (and never off this machine). Its traffic reaches the
# upstream netns routed by the host and MASQUERADEd by Docker. Before attach,
# 127.0.0.11 in the container answers with the decoy's 10.99.0.2; after
# 'attach --server 10.250.3.2' with the upstream's 10.99.0.1, over UDP, TCP
# and from inside the container (busybox nslookup); after detach, 10.99.0.2 again.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

NET_PREFIX=${DNSREDIR_TEST_DOCKER_NET:-10.250.3}
HOST_ADDR=$NET_PREFIX.1
UPSTREAM_ADDR=$NET_PREFIX.2
DECOY_ADDR=$NET_PREFIX.3
DNS_NAME=test.dnsredir.
UPSTREAM_ANSWER=10.99.0.1
DECOY_ANSWER=10.99.0.2
IMAGE=dnsredir-test/busybox:1

# ---------------------------------------------------------------------------
# Helpers

docker_up() {
	"$TESTS_ROOT/tests/lib/dockerd-up.sh" >&2 || skip "docker cannot run here (tests/lib/dockerd-up.sh failed)"
}

# Routing from containers to the test netns goes through the host.
check_forwarding() {
	[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] ||
		fail "net.ipv4.ip_forward is 0 on the host: Docker normally sets it; containers cannot reach $UPSTREAM_ADDR"
}

# The test's host addresses must not be in use by anything else.
check_subnet_free() {
	local used
	used=$(ip -4 -o addr show to "$NET_PREFIX.0/24"; ip -4 route show to match "$UPSTREAM_ADDR" | grep -v '^default' || true)
	[ -z "$used" ] || fail "$NET_PREFIX.0/24 is already in use on this host (set DNSREDIR_TEST_DOCKER_NET): $used"
}

# The upstream netns with both servers, linked to the host by a veth pair
# whose far end is made directly inside the netns.
upstream_up() {
	NS_UPSTREAM=dr${RUN_ID}-up
	HOST_IF=dr${RUN_ID}h
	ip netns add "$NS_UPSTREAM"
	cleanup_add ip netns del "$NS_UPSTREAM"
	debug_hint "ip netns exec $NS_UPSTREAM bash"
	ip -n "$NS_UPSTREAM" link set lo up
	ip link add "$HOST_IF" type veth peer name eth0 netns "$NS_UPSTREAM"
	cleanup_add ip link del "$HOST_IF"
	ip addr add "$HOST_ADDR/24" dev "$HOST_IF"
	ip link set "$HOST_IF" up
	ip -n "$NS_UPSTREAM" addr add "$UPSTREAM_ADDR/24" dev eth0
	ip -n "$NS_UPSTREAM" addr add "$DECOY_ADDR/24" dev eth0
	ip -n "$NS_UPSTREAM" link set eth0 up
	# answers go back to the masqueraded host address, on-link; the default
	# route only matters if a network disables masquerading
	ip -n "$NS_UPSTREAM" route add default via "$HOST_ADDR"
	dnsmasq_start "$NS_UPSTREAM" "$UPSTREAM_ADDR" 53 "$DNS_NAME" "$UPSTREAM_ANSWER"
	dnsmasq_start "$NS_UPSTREAM" "$DECOY_ADDR" 53 "$DNS_NAME" "$DECOY_ANSWER"
}

container_up() {
	NET=dr${RUN_ID}
	CONTAINER=dr${RUN_ID}-c
	docker network create "$NET" >/dev/null
	cleanup_add docker network rm "$NET"
	# the label says who made it, should anything be left behind
	docker run -d --network "$NET" --dns "$DECOY_ADDR" --name "$CONTAINER" \
		--label "dnsredir.test=$RUN_ID" "$IMAGE" sleep 1000 >/dev/null
	cleanup_add docker rm -f "$CONTAINER"
	PID=$(docker inspect -f '{{.State.Pid}}' "$CONTAINER")
	[[ $PID =~ ^[1-9][0-9]*$ ]] || fail "no PID for $CONTAINER: '$PID'"
	debug_hint "nsenter -n -t $PID   # the container's netns"
	debug_hint "docker exec -it $CONTAINER sh"
	# dockerd's resolver starts with the container; wait for its socket
	wait_until 10 grep -q ' 0B00007F:' "/proc/$PID/net/udp" ||
		fail "no resolver on 127.0.0.11 in $CONTAINER (pid $PID)"
	log "container $CONTAINER pid $PID on network $NET"
}

# ask [DIG_OPT...]: what 127.0.0.11 answers inside the container's netns.
ask() {
	nsenter -n -t "$PID" dig +short +time=2 +tries=1 "$@" @127.0.0.11 "$DNS_NAME" A 2>&1 || true
}

expect_answer() {
	assert_eq "$1" "$(ask)" "UDP answer in the container's netns $2"
	assert_eq "$1" "$(ask +tcp)" "TCP answer in the container's netns $2"
}

# The addresses busybox nslookup prints for the name (not the server's).
# nslookup also asks for AAAA and exits 1 on its empty answer: the exit status
# says nothing here, the A answer does.
nslookup_in_container() {
	local out
	out=$(docker exec "$CONTAINER" nslookup "$DNS_NAME" 2>&1) || true
	printf '%s\n' "$out" >&2
	printf '%s\n' "$out" |
		awk '/^Name:/ { found = 1; next } found && /^Address/ { print $NF }' | sort -u | xargs
}

agent_ok() {
	local out
	out=$("$DNSREDIR_AGENT" "$@" 2>&1) || fail "'dnsredir-agent $*' failed: $out"
	AGENT_OUT=$out
	pass "dnsredir-agent $* exits 0"
}

status_value() { printf '%s\n' "$AGENT_OUT" | sed -n "s/^$1=//p"; }

# ---------------------------------------------------------------------------

check_before() {
	expect_answer "$DECOY_ANSWER" "before attach (dockerd forwarding to the decoy)"
	assert_eq "$DECOY_ANSWER" "$(nslookup_in_container)" "nslookup in the container before attach"
}

check_attached() {
	agent_ok attach --pid "$PID" --server "$UPSTREAM_ADDR"
	expect_answer "$UPSTREAM_ANSWER" "after attach"
	assert_eq "$UPSTREAM_ANSWER" "$(nslookup_in_container)" "nslookup in the container after attach"
	agent_ok status --pid "$PID"
	printf '%s\n' "$AGENT_OUT"
	assert_eq yes "$(status_value attached)" "status attached"
	assert_eq "$UPSTREAM_ADDR:53" "$(status_value server)" "status server"
	[ "$(status_value queries_redirected)" -gt 0 ] 2>/dev/null ||
		fail "status queries_redirected = '$(status_value queries_redirected)', expected > 0"
	pass "status queries_redirected = $(status_value queries_redirected) > 0"
}

check_detached() {
	agent_ok detach --pid "$PID"
	expect_answer "$DECOY_ANSWER" "after detach"
	assert_eq "$DECOY_ANSWER" "$(nslookup_in_container)" "nslookup in the container after detach"
}

main() {
	need_root
	need_cmd ip dig dnsmasq docker nsenter setsid flock od
	need_agent
	# one run at a time: the host addresses are fixed, and other tests
	# restart dockerd while they hold this lock
	lock_host docker
	docker_up
	check_forwarding
	check_subnet_free
	upstream_up
	container_up
	check_before
	check_attached
	check_detached
	echo "all checks passed"
}

main "$@"
