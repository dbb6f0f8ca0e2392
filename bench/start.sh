#!/usr/bin/env bash
# Part "start": what zero-leak start costs and gives, side by side.
#
# Each container's command is a lookup, its very first act (busybox nslookup
# as PID 1). Variants, interleaved in $BENCH_START_ROUNDS rounds of
# $BENCH_START_N containers each (docker run --rm, one after the other):
#
#   plain     unlabelled, no agent running           (the baseline)
#   plain+a   unlabelled, the agent running          (must not be slower)
#   created   labelled, agent --early-attach created (the default)
#   exec      labelled, agent --early-attach exec
#   off       labelled, agent --early-attach off     (attach on 'start' only)
#
# Per variant: the time a 'docker run' takes (create, start, the lookup,
# exit, removal), p50 and p90 in ms and as a ratio to plain from the same
# rounds; how many first lookups got the labelled server's answer; the
# agent's CPU time per container. The agent restarts between variants (its
# start-up is outside the timed docker runs).
# shellcheck source-path=SCRIPTDIR source=../tests/lib/common.sh
source "$(dirname "$0")/../tests/lib/common.sh"
# shellcheck source=../tests/lib/docker.sh
source "$(dirname "$0")/../tests/lib/docker.sh"
PART=start
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_START_ROUNDS:-4}
N=${BENCH_START_N:-10}
VARIANTS=(plain plain+a created exec off)
LABEL_KEY=dnsredir.bench-$RUN_ID.server

need_root
need_cmd ip dig dnsmasq docker nsenter setsid flock
need_agent
bench_docker_up
bench_decoy_up

AGENT_PID=
# agent_up MODE VARIANT
agent_up() {
	AGENT_LOG=$TEST_TMP/agent-$2.log
	setsid "$DNSREDIR_AGENT" run --config /dev/null --resync-interval 0 --log-target console \
		--label "$LABEL_KEY" --early-attach "$1" >>"$AGENT_LOG" 2>&1 </dev/null &
	AGENT_PID=$!
	wait_until 10 grep -q 'event=connected' "$AGENT_LOG" || fail "the agent did not connect: $(cat "$AGENT_LOG")"
}
agent_down() {
	[ -n "$AGENT_PID" ] || return 0
	kill_group "$AGENT_PID"
	AGENT_PID=
}
cleanup_add agent_down

# one VARIANT: one docker run; appends its ms to VARIANT.ms and its answer to VARIANT.answers
one() {
	local labels=(--label "$BENCH_LABEL=$RUN_ID") t0 t1 out
	[[ $1 == plain* ]] || labels+=(--label "$LABEL_KEY=$UPSTREAM_ADDR")
	t0=$(date +%s%N)
	out=$(docker run --rm --network "$NET" --dns "$DECOY_ADDR" "${labels[@]}" "$IMAGE" \
		nslookup -type=a "$DNS_NAME" 2>&1) || true
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000)) | awk '{ printf "%.1f\n", $1 / 1000 }' >>"$TEST_TMP/$1.ms"
	case $out in
	*"$UPSTREAM_ANSWER"*) echo upstream ;;
	*"$DECOY_ANSWER"*) echo dockerd ;;
	*) echo other ;;
	esac >>"$TEST_TMP/$1.answers"
}

declare -A CPU
for v in "${VARIANTS[@]}"; do CPU[$v]=0; done
for r in $(seq 1 "$ROUNDS"); do
	# each round starts with another variant: no variant always runs first
	for k in $(seq 0 $((${#VARIANTS[@]} - 1))); do
		v=${VARIANTS[$(((r + k) % ${#VARIANTS[@]}))]}
		case $v in
		plain) ;;
		plain+a) agent_up created "$v" ;;
		*) agent_up "$v" "$v" ;;
		esac
		c0=0
		[ -z "$AGENT_PID" ] || c0=$(proc_cpu_ticks "$AGENT_PID")
		for _ in $(seq 1 "$N"); do one "$v"; done
		[ -z "$AGENT_PID" ] || CPU[$v]=$((CPU[$v] + $(proc_cpu_ticks "$AGENT_PID") - c0))
		agent_down
	done
	log "round $r of $ROUNDS done"
done

read -r base50 base90 _ _ < <(p50_p90 "$TEST_TMP/plain.ms")
out "Zero-leak start: $ROUNDS interleaved rounds x $N 'docker run --rm' per variant; each container's first act is a lookup"
out "$(printf '  %-9s %8s %8s %9s %9s %18s %6s %14s' variant p50_ms p90_ms p50/plain p90/plain "first lookup: srv" held agent_cpu_ms/c)"
for v in "${VARIANTS[@]}"; do
	read -r p50 p90 _ n < <(p50_p90 "$TEST_TMP/$v.ms")
	up=$(grep -c '^upstream$' "$TEST_TMP/$v.answers" || true)
	cpu=$(awk -v t="${CPU[$v]}" -v hz="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.1f\n", n ? 1000 * t / hz / n : 0 }')
	[[ $v == plain ]] && cpu=-
	lookups="$up/$n"
	[[ $v == plain* ]] && lookups="(unlabelled)"
	held=-
	[ ! -f "$TEST_TMP/agent-$v.log" ] || held=$(grep -c 'event=attached .*held=yes' "$TEST_TMP/agent-$v.log" || true)
	out "$(printf '  %-9s %8s %8s %9s %9s %18s %6s %14s' "$v" "$p50" "$p90" "$(ratio "$p50" "$base50")" "$(ratio "$p90" "$base90")" "$lookups" "$held" "$cpu")"
	declare "R_${v//+/_}=$(ratio "$p50" "$base50")"
	declare "UP_${v//+/_}=$up"
done
out "  srv = first lookups answered by the labelled server (the rest reached dockerd's resolver);"
out "  held = containers whose command waited at its exec for the attach (the rest were attached before)"
total=$((ROUNDS * N))
target "unlabelled docker run with the agent / without (p50 ratio)" "$R_plain_a" "<= 1.05" "$(verdict "$R_plain_a" '<=' 1.05)"
target "first lookups redirected, default mode (of $total)" "$UP_created" ">= 99%" "$(verdict "$UP_created" '>=' $(((total * 99 + 99) / 100)))"
target "first lookups redirected, exec mode (of $total)" "$UP_exec" ">= 99%" "$(verdict "$UP_exec" '>=' $(((total * 99 + 99) / 100)))"
