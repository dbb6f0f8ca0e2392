#!/usr/bin/env bash
# The agent against a real dockerd: containers started before and after it,
# an explicit port, TCP, an unlabelled container, a bad label, host network,
# docker restart, and the agent killed and restarted under running containers.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/docker.sh
source "$(dirname "$0")/../lib/docker.sh"

docker_test_up tc

# Started before the agent: picked up by the initial sync.
run_container "dr${RUN_ID}-early" --label "dnsredir.server=$UPSTREAM_ADDR"
expect_answer "dr${RUN_ID}-early" "$DECOY_ANSWER" "before the agent runs"

agent_start
expect_log "container=dr${RUN_ID}-early .*event=attached" "the early container is attached by the initial sync"
expect_answer "dr${RUN_ID}-early" "$UPSTREAM_ANSWER" "redirected after the initial sync"

# Started after: attached on its start event.
run_container "dr${RUN_ID}-late" --label "dnsredir.server=$UPSTREAM_ADDR"
expect_log "container=dr${RUN_ID}-late .*event=attached" "the late container is attached on start"
expect_answer "dr${RUN_ID}-late" "$UPSTREAM_ANSWER" "redirected on start"
assert_eq "$UPSTREAM_ANSWER" "$(nslookup_in "dr${RUN_ID}-late")" "nslookup run inside the container"

# An explicit port.
run_container "dr${RUN_ID}-port" --label "dnsredir.server=$UPSTREAM_ADDR:$UPSTREAM_PORT"
expect_log "container=dr${RUN_ID}-port .*server=$UPSTREAM_ADDR:$UPSTREAM_PORT event=attached" "explicit port attached"
expect_answer "dr${RUN_ID}-port" "$UPSTREAM_PORT_ANSWER" "with the server's explicit port"

# No label: untouched, and no filter in its netns.
run_container "dr${RUN_ID}-plain"
sleep 1
expect_answer "dr${RUN_ID}-plain" "$DECOY_ANSWER" "unlabelled, untouched"
assert_eq 0 "$(filter_count "dr${RUN_ID}-plain" lo)" "no filter on lo of the unlabelled container"

# A bad label: untouched, named in the log, the agent lives on.
run_container "dr${RUN_ID}-bad" --label "dnsredir.server=not-an-ip"
expect_log "level=warn container=dr${RUN_ID}-bad .*event=skipped .*not-an-ip" "bad label logged with the container and the value"
expect_answer "dr${RUN_ID}-bad" "$DECOY_ANSWER" "bad label, untouched"
assert_eq 0 "$(filter_count "dr${RUN_ID}-bad" lo)" "no filter with a bad label"
agent_alive

# Host network: skipped with a reason.
cleanup_add docker rm -f "dr${RUN_ID}-host"
docker run -d --name "dr${RUN_ID}-host" --network host --label "dnsredir.server=$UPSTREAM_ADDR" "$IMAGE" sleep 100000 >/dev/null
expect_log "container=dr${RUN_ID}-host .*event=skipped reason=\"host network" "host network skipped"

# docker restart: a new netns, attached again.
docker restart -t 1 "dr${RUN_ID}-late" >/dev/null
wait_answer 10 "dr${RUN_ID}-late" "$UPSTREAM_ANSWER" "after docker restart"
expect_answer "dr${RUN_ID}-late" "$UPSTREAM_ANSWER" "after docker restart"

# Agent SIGKILLed: the filters stay in the kernel and keep redirecting.
agent_kill KILL
expect_answer "dr${RUN_ID}-early" "$UPSTREAM_ANSWER" "while the agent is down"
run_container "dr${RUN_ID}-down" --label "dnsredir.server=$UPSTREAM_ADDR"

# Restarted: adopts what is there (one filter per hook), catches up on the rest.
agent_start
wait_log 10 "container=dr${RUN_ID}-down .*event=attached" || fail "container started while the agent was down not attached"
pass "container started while the agent was down attached on restart"
expect_answer "dr${RUN_ID}-down" "$UPSTREAM_ANSWER" "started while the agent was down"
expect_answer "dr${RUN_ID}-early" "$UPSTREAM_ANSWER" "after the agent restart"
assert_eq 1 "$(filter_count "dr${RUN_ID}-early" lo)" "one filter on lo after the restart"
assert_eq 1 "$(filter_count "dr${RUN_ID}-early" eth0)" "one filter on eth0 after the restart"

# SIGTERM: exits quickly, and leaves the redirect in place.
start=$(date +%s%N)
agent_kill TERM
took=$((($(date +%s%N) - start) / 1000000))
[ "$took" -lt 1500 ] || fail "SIGTERM took ${took} ms"
pass "SIGTERM exit in ${took} ms"
expect_log "event=stopped .*filters=left in place" "clean stop logged"
expect_answer "dr${RUN_ID}-early" "$UPSTREAM_ANSWER" "after the agent stopped"
echo "all checks passed"
