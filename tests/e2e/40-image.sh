#!/usr/bin/env bash
# The container image: built from the Dockerfile (on a debian:bookworm-slim made
# locally with debootstrap when it is missing, and kept as a cache), run with
# the documented least-privilege flags (tests/lib/image.sh), it redirects a
# labelled container found by the initial sync and one started later, the
# first lookup of containers that look a name up at once, a dockerd restart
# under the agent's container, and
# `docker stop` leaves the redirects in place.
#
# Left behind on purpose, as caches: debian:bookworm-slim and the
# dnsredir-agent:test image (the next run rebuilds it in seconds from Docker's
# layer cache; an older image under that tag is replaced and removed).
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/docker.sh
source "$(dirname "$0")/../lib/docker.sh"
# shellcheck source=../lib/image.sh
source "$(dirname "$0")/../lib/image.sh"

need_root
need_cmd ip dig dnsmasq docker nsenter setsid flock tc
docker_up
lock_host docker

# An agent container left by a run that was SIGKILLed would keep attaching
# labelled containers: only one agent may run during a test.
docker ps -aq --filter label=dnsredir.test-agent-image | xargs -r docker rm -f >/dev/null

base_image_ensure
old_id=$(docker image inspect -f '{{.Id}}' "$AGENT_IMAGE" 2>/dev/null || true)
start=$(date +%s)
agent_image_build
new_id=$(docker image inspect -f '{{.Id}}' "$AGENT_IMAGE")
pass "built $AGENT_IMAGE in $(($(date +%s) - start)) s, $(docker image inspect -f '{{.Size}}' "$AGENT_IMAGE" |
	awk '{ printf "%.1f MB", $1 / 1e6 }')"
# what earlier builds left: the image that had the tag, and all build-stage
# images but the newest (the one this build's cache lives in)
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
	docker rmi "$old_id" >/dev/null 2>&1 || true
fi
docker images -q --filter dangling=true --filter label=dnsredir.stage=build | tail -n +2 |
	xargs -r docker rmi >/dev/null 2>&1 || true

assert_eq dnsredir-agent "$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.title"}}' "$AGENT_IMAGE")" \
	"OCI title label"
assert_eq '[/usr/local/bin/dnsredir-agent] [run]' \
	"$(docker image inspect -f '{{.Config.Entrypoint}} {{.Config.Cmd}}' "$AGENT_IMAGE")" "entrypoint and command"
help=$(docker run --rm --network none "$AGENT_IMAGE" --help 2>&1) || fail "--help in the image: $help"
[[ $help == *dnsredir-agent* ]] || fail "the image's binary does not run: $help"
pass "the binary runs in the image with no privilege for --help"

upstream_up
network_up

# A label key of this run's own: an agent left running on the host by
# something else (it watches dnsredir.server) cannot redirect these containers
# and make the checks below pass for the wrong agent.
LABEL_KEY=dnsredir-${RUN_ID}.server
others=$(pgrep -x dnsredir-agent | xargs || true)
[ -z "$others" ] || log "note: other dnsredir-agent processes run on this host ($others); this test's label key keeps them out"

# Started before the agent: picked up by the initial sync.
run_container "dr${RUN_ID}-early" --label "$LABEL_KEY=$UPSTREAM_ADDR"
expect_answer "dr${RUN_ID}-early" "$DECOY_ANSWER" "before the agent runs"

AGENT_CTR=dr${RUN_ID}-agent
AGENT_LOG=$TEST_TMP/agent-container.log
cleanup_add docker rm -f "$AGENT_CTR"
debug_hint "docker logs $AGENT_CTR"
docker run -d --name "$AGENT_CTR" --label dnsredir.test-agent-image="$RUN_ID" \
	"${AGENT_RUN_FLAGS[@]}" "$AGENT_IMAGE" run --resync-interval 5 --label "$LABEL_KEY" >/dev/null

# The agent's log is the container's: copied where wait_log/expect_log and the
# failure report (common.sh shows $TEST_TMP/*.log) look for it.
agent_log_copy() { docker logs "$AGENT_CTR" >"$AGENT_LOG" 2>&1; }
agent_log_has() { agent_log_copy && grep -Eq -- "$1" "$AGENT_LOG"; }
wait_log() { wait_until "$1" agent_log_has "$2"; }
agent_running() { [ "$(docker inspect -f '{{.State.Running}}' "$AGENT_CTR")" = true ]; }

expect_log 'event=connected' "the agent in the container reaches Docker through the mounted socket"
expect_log "container=dr${RUN_ID}-early .*event=attached" "the early container is attached by the initial sync"
expect_answer "dr${RUN_ID}-early" "$UPSTREAM_ANSWER" "redirected by the agent in a container"

# Started after: attached on its start event.
run_container "dr${RUN_ID}-late" --label "$LABEL_KEY=$UPSTREAM_ADDR"
expect_log "container=dr${RUN_ID}-late .*event=attached" "the late container is attached on start"
expect_answer "dr${RUN_ID}-late" "$UPSTREAM_ANSWER" "redirected on start"

# Zero-leak start from the container too: its ptrace holds work under Docker's
# seccomp profile and the documented capabilities.
read -r up decoy other < <(first_lookups 10 --label "$LABEL_KEY=$UPSTREAM_ADDR")
assert_eq "10 0 0" "$up $decoy $other" "first lookups of 10 containers (upstream, dockerd, other)"
# dockerd restarted under the agent's container (live-restore keeps it running):
# the socket file mounted into it is dockerd's old one; the agent must find the new.
dockerd_restart
wait_log 30 'event=connected .* via=/proc/[0-9]+/root' ||
	fail "the agent in its container did not reconnect after a dockerd restart: $(tail -n 5 "$AGENT_LOG")"
pass "after a dockerd restart the agent reconnected, through the host's socket ($(grep -o 'via=[^ ]*' "$AGENT_LOG" | tail -1))"
run_container "dr${RUN_ID}-after" --label "$LABEL_KEY=$UPSTREAM_ADDR"
expect_log "container=dr${RUN_ID}-after .*event=attached" "a container started after the dockerd restart is attached"
expect_answer "dr${RUN_ID}-after" "$UPSTREAM_ANSWER" "redirected after the dockerd restart"
agent_log_copy
# dockerd's restart was logged as warnings; none other is expected
if grep -E 'level=(warn|error)' "$AGENT_LOG" | grep -Evq 'event=(docker-unavailable|disconnected)'; then
	cat "$AGENT_LOG" >&2
	fail "the agent in the container logged warnings or errors"
fi
pass "no warning or error in the agent's log"
agent_running || fail "the agent container stopped: $(cat "$AGENT_LOG")"

# docker stop: SIGTERM, a clean exit, and the redirects stay.
start=$(date +%s%N)
docker stop -t 10 "$AGENT_CTR" >/dev/null
took=$((($(date +%s%N) - start) / 1000000))
[ "$took" -lt 5000 ] || fail "docker stop took ${took} ms"
assert_eq 0 "$(docker inspect -f '{{.State.ExitCode}}' "$AGENT_CTR")" "exit code after docker stop (${took} ms)"
expect_log "event=stopped .*filters=left in place" "clean stop logged"
expect_answer "dr${RUN_ID}-early" "$UPSTREAM_ANSWER" "after the agent container stopped"
expect_answer "dr${RUN_ID}-late" "$UPSTREAM_ANSWER" "after the agent container stopped"
# Without --pid=host the agent cannot see the containers' processes: it says so.
AGENT_CTR=dr${RUN_ID}-agent-nopid
cleanup_add docker rm -f "$AGENT_CTR"
flags=()
for f in "${AGENT_RUN_FLAGS[@]}"; do [ "$f" = --pid=host ] || flags+=("$f"); done
docker run -d --name "$AGENT_CTR" --label dnsredir.test-agent-image="$RUN_ID" \
	"${flags[@]}" "$AGENT_IMAGE" run --resync-interval 5 --label "$LABEL_KEY" >/dev/null
expect_log 'event=connected' "the agent without --pid=host connects"
run_container "dr${RUN_ID}-nopid" --label "$LABEL_KEY=$UPSTREAM_ADDR"
expect_log "container=dr${RUN_ID}-nopid .*event=failed .*run its container with --pid=host" \
	"without --pid=host, the agent says what is missing"
echo "all checks passed"
