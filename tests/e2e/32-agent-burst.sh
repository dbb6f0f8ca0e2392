#!/usr/bin/env bash
# 50 labelled containers started at once: every one is redirected.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/docker.sh
source "$(dirname "$0")/../lib/docker.sh"

COUNT=${BURST_COUNT:-50}

docker_test_up
RESYNC=0 agent_start	# no periodic resync: the events alone must do it

names=()
for i in $(seq 1 "$COUNT"); do
	names+=("dr${RUN_ID}-b$i")
	cleanup_add docker rm -f "dr${RUN_ID}-b$i"
done
runs=()
for name in "${names[@]}"; do
	docker run -d --name "$name" --network "$NET" --dns "$DECOY_ADDR" \
		--label "dnsredir.test=$RUN_ID" --label "dnsredir.server=$UPSTREAM_ADDR" "$IMAGE" sleep 100000 >/dev/null &
	runs+=($!)
done
# only the docker runs: a bare 'wait' would wait for the agent too
wait "${runs[@]}"
wait_until 60 bash -c "[ \$(grep -c 'event=attached' '$AGENT_LOG') -ge $COUNT ]" || true

redirected=0
for name in "${names[@]}"; do
	if [ "$(ask "$name")" = "$UPSTREAM_ANSWER" ]; then
		redirected=$((redirected + 1))
	else
		log "$name: not redirected ($(ask "$name"))"
	fi
done
echo "redirected: $redirected of $COUNT"
assert_eq "$COUNT" "$redirected" "containers redirected after a burst of $COUNT starts"
agent_alive
