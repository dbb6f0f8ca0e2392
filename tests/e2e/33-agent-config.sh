#!/usr/bin/env bash
# Settings from the config file: an allow-list refuses a server outside it
# (container untouched, log names it); SIGHUP re-reads the file and resyncs,
# after which the newly allowed container is redirected. A bad file on reload
# keeps the old settings.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/docker.sh
source "$(dirname "$0")/../lib/docker.sh"

docker_test_up

conf=$TEST_TMP/dnsredir.conf
cat >"$conf" <<CONF
[agent]
# only port 53 of the upstream
allowed_servers = $UPSTREAM_ADDR:53
resync_interval = 0
CONF

AGENT_LOG=$TEST_TMP/agent.log
setsid "$DNSREDIR_AGENT" run --config "$conf" >>"$AGENT_LOG" 2>&1 </dev/null 9>&- &
AGENT_PID=$!
cleanup_add kill_group "$AGENT_PID"
expect_log 'event=connected' "connected"

run_container "dr${RUN_ID}-ok" --label "dnsredir.server=$UPSTREAM_ADDR"
run_container "dr${RUN_ID}-other" --label "dnsredir.server=$UPSTREAM_ADDR:$UPSTREAM_PORT"
expect_log "container=dr${RUN_ID}-ok .*event=attached" "allowed server attached"
expect_log "level=warn container=dr${RUN_ID}-other .*event=skipped .*$UPSTREAM_ADDR:$UPSTREAM_PORT is not in allowed_servers" \
	"server outside the allow-list refused"
expect_answer "dr${RUN_ID}-ok" "$UPSTREAM_ANSWER" "allowed server"
expect_answer "dr${RUN_ID}-other" "$DECOY_ANSWER" "refused server, untouched"

# a broken file on SIGHUP: refused, old settings kept, agent alive
printf '[agent]\nallowed_servers = nonsense\n' >"$conf"
kill -HUP "$AGENT_PID"
expect_log 'level=error event=reload-failed .*allowed_servers' "bad config on reload refused"
agent_alive

# widen the allow-list and reload: the resync redirects the refused container
printf '[agent]\nallowed_servers = %s/32\nresync_interval = 0\n' "$UPSTREAM_ADDR" >"$conf"
kill -HUP "$AGENT_PID"
expect_log 'event=reloaded' "config reloaded"
expect_log "container=dr${RUN_ID}-other .*event=attached" "allowed after the reload"
expect_answer "dr${RUN_ID}-other" "$UPSTREAM_PORT_ANSWER" "after the reload"
agent_alive
echo "all checks passed"
