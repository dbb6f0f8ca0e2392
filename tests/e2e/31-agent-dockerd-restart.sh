#!/usr/bin/env bash
# dockerd going away and coming back: the agent started before dockerd waits
# for it; a dockerd restart with live-restore (new resolver ports, no container
# event) keeps the redirect working; the agent reconnects and redirects the
# containers started afterwards.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/docker.sh
source "$(dirname "$0")/../lib/docker.sh"

need_root
need_cmd ip dig dnsmasq docker dockerd nsenter setsid flock pkill
need_agent
lock_host docker
docker_up
upstream_up
network_up
# dockerd must be running again whatever happens below
cleanup_add "$TESTS_ROOT/tests/lib/dockerd-up.sh"

# The agent first, dockerd later.
dockerd_stop
agent_start
expect_log "event=docker-unavailable" "the agent says dockerd is unavailable"
agent_alive
docker_up
expect_log "event=connected" "the agent connects once dockerd is up"

run_container "dr${RUN_ID}-a" --label "dnsredir.server=$UPSTREAM_ADDR"
expect_log "container=dr${RUN_ID}-a .*event=attached" "attached after a late dockerd"
expect_answer "dr${RUN_ID}-a" "$UPSTREAM_ANSWER" "with the agent started before dockerd"

# dockerd restart with live-restore: its resolver comes back on new ports.
pid=$(container_pid "dr${RUN_ID}-a")
ports_before=$(grep ' 0B00007F:' "/proc/$pid/net/udp" | awk '{print $2}')
connects=$(grep -c 'event=connected' "$AGENT_LOG")
dockerd_restart
wait_until 20 bash -c "[ \$(grep -c 'event=connected' '$AGENT_LOG') -gt $connects ]" ||
	fail "the agent did not reconnect after the dockerd restart"
pass "the agent reconnected after the dockerd restart"
wait_until 10 grep -q ' 0B00007F:' "/proc/$pid/net/udp" || fail "no resolver after the restart"
ports_after=$(grep ' 0B00007F:' "/proc/$pid/net/udp" | awk '{print $2}')
log "resolver socket before: $ports_before after: $ports_after"
[ "$ports_before" != "$ports_after" ] || log "note: the resolver port did not change on this Docker"
expect_answer "dr${RUN_ID}-a" "$UPSTREAM_ANSWER" "after the dockerd restart (resolver $ports_before -> $ports_after)"

run_container "dr${RUN_ID}-b" --label "dnsredir.server=$UPSTREAM_ADDR"
expect_log "container=dr${RUN_ID}-b .*event=attached" "container started after the dockerd restart attached"
expect_answer "dr${RUN_ID}-b" "$UPSTREAM_ANSWER" "started after the dockerd restart"
agent_alive
echo "all checks passed"
