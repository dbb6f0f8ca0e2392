#!/usr/bin/env bash
# Early attach: labelled containers whose very first command looks a name up
# get the upstream's answer, because the agent attaches while the container
# is being created, before its command runs. Counted over many containers
# (the machine is noisy); the figure is printed. Without early attach none
# gets it (0 of 30 measured); the goal is 99 of 100, and what is reached
# today is ~88%, so this guards against losing it: at least 60%.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/docker.sh
source "$(dirname "$0")/../lib/docker.sh"

COUNT=${FIRST_LOOKUP_COUNT:-60}
NEED=$(((COUNT * ${FIRST_LOOKUP_PERCENT:-60} + 99) / 100))

need_root
need_cmd ip dig dnsmasq docker nsenter setsid flock
need_agent
lock_host docker
docker_up
upstream_up
network_up
RESYNC=0 agent_start

upstream=0 decoy=0 other=0
for i in $(seq 1 "$COUNT"); do
	out=$(docker run --rm --network "$NET" --dns "$DECOY_ADDR" --label "dnsredir.test=$RUN_ID" \
		--label "dnsredir.server=$UPSTREAM_ADDR" "$IMAGE" nslookup -type=a "$DNS_NAME" 2>&1) || true
	case $out in
	*"$UPSTREAM_ANSWER"*) upstream=$((upstream + 1)) ;;
	*"$DECOY_ANSWER"*) decoy=$((decoy + 1)); log "container $i: first lookup leaked to dockerd" ;;
	*) other=$((other + 1)); log "container $i: $out" ;;
	esac
done
echo "first lookup answered by the upstream: $upstream of $COUNT (leaked to dockerd: $decoy, other: $other)"
early=$(grep -c 'event=attached .*early=yes' "$AGENT_LOG" || true)
echo "attached before start: $early"
[ "$upstream" -ge "$NEED" ] || fail "only $upstream of $COUNT first lookups redirected (need $NEED)"
pass "$upstream of $COUNT first lookups redirected"
agent_alive
