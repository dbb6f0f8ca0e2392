#!/usr/bin/env bash
# The manual attach on a real Docker container (dockerd 20.10 here).
#
# The container is run with --dns DECOY, so dockerd's embedded resolver
# forwards to the decoy (and never off this machine). Before attach,
# 127.0.0.11 in the container answers with the decoy's 10.99.0.2; after
# 'attach --server UPSTREAM' with the upstream's 10.99.0.1, over UDP, TCP
# and from inside the container (busybox nslookup); after detach, 10.99.0.2 again.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/docker.sh
source "$(dirname "$0")/../lib/docker.sh"

CONTAINER=dr${RUN_ID}-c

check_before() {
	expect_answer "$CONTAINER" "$DECOY_ANSWER" "before attach (dockerd forwarding to the decoy)"
	assert_eq "$DECOY_ANSWER" "$(nslookup_in "$CONTAINER")" "nslookup in the container before attach"
}

check_attached() {
	agent_ok attach --pid "$PID" --server "$UPSTREAM_ADDR"
	expect_answer "$CONTAINER" "$UPSTREAM_ANSWER" "after attach"
	assert_eq "$UPSTREAM_ANSWER" "$(nslookup_in "$CONTAINER")" "nslookup in the container after attach"
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
	expect_answer "$CONTAINER" "$DECOY_ANSWER" "after detach"
	assert_eq "$DECOY_ANSWER" "$(nslookup_in "$CONTAINER")" "nslookup in the container after detach"
}

main() {
	need_root
	need_cmd ip dig dnsmasq docker nsenter setsid flock od
	need_agent
	# one run at a time: the host addresses are fixed, and other tests restart dockerd
	lock_host docker
	docker_up
	upstream_up
	network_up
	run_container "$CONTAINER"
	PID=$(container_pid "$CONTAINER")
	debug_hint "nsenter -n -t $PID   # the container's netns"
	# dockerd's resolver starts with the container; wait for its socket
	wait_until 10 grep -q ' 0B00007F:' "/proc/$PID/net/udp" ||
		fail "no resolver on 127.0.0.11 in $CONTAINER (pid $PID)"
	check_before
	check_attached
	check_detached
	echo "all checks passed"
}

main "$@"
