# shellcheck shell=bash
# shellcheck disable=SC2034  # variables set here are read by the parts
# Shared by the benchmark parts (bench/dns.sh, bpf.sh, agent.sh, start.sh).
# Source after tests/lib/common.sh and tests/lib/docker.sh: those give the
# cleanup stack, start_bg, docker_up, lock_host, network_up, container_pid.
#
#   host netns: dockerd, network dr$RUN_ID, the bench containers
#               drb${RUN_ID}h 10.250.6.1/24 --- upstream netns eth0 10.250.6.2
#                                                dnsmasq :53, no query log
#
# Every container gets --dns 10.250.6.2, so dockerd's resolver forwards only
# to the upstream made here. Nothing is sent anywhere else.
#
# Results: each part appends human-readable lines to $BENCH_OUT/$PART.txt and
# one line per target to $BENCH_OUT/targets.txt:
#   part|what|measured|target|PASS or MISS or N/A
# bench/run.sh prints them all at the end.

BENCH_DIR=$TESTS_ROOT/bench
BENCH_OUT=${BENCH_OUT:-$TESTS_ROOT/build/bench}
BENCH_LABEL=dnsredir.bench
PART=${PART:-$TEST_NAME}
mkdir -p "$BENCH_OUT"
: >"$BENCH_OUT/$PART.txt"

QFILE=$TEST_TMP/queries.txt
printf '%s A\n' "$DNS_NAME" >"$QFILE"

# out LINE...: a line of this part's section of the final table (also shown now).
out() {
	printf '%s\n' "$*" >>"$BENCH_OUT/$PART.txt"
	printf '%s\n' "$*" >&2
}

# target WHAT MEASURED TARGET VERDICT
target() {
	printf '%s|%s|%s|%s|%s\n' "$PART" "$1" "$2" "$3" "$4" >>"$BENCH_OUT/targets.txt"
}

# verdict VALUE OP LIMIT: PASS when "VALUE OP LIMIT" holds (OP: < <= > >=),
# MISS when not, N/A when VALUE is not a number.
verdict() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) { print "N/A"; exit }
		v += 0; l += 0
		ok = (op == "<" && v < l) || (op == "<=" && v <= l) || (op == ">" && v > l) || (op == ">=" && v >= l)
		print ok ? "PASS" : "MISS" }'
}

# ratio A B [DIGITS]: A/B, or "-" when either is missing or B is zero.
ratio() {
	awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
		if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) { print "-"; exit }
		printf "%." d "f\n", a / b }'
}

# median V...: of the numeric arguments ("-" ignored); "-" when none.
median() {
	printf '%s\n' "$@" | { grep -Ev '^-?$' || true; } | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "-"; exit }
			if (NR % 2) print v[(NR + 1) / 2]
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# percentiles FILE: "p50 p99 max n" of the numbers in FILE, one a line.
percentiles() {
	sort -g "$1" | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "- - - 0"; exit }
			p50 = v[int((NR - 1) * 0.50) + 1]
			p99 = v[int((NR - 1) * 0.99) + 1]
			print p50, p99, v[NR], NR
		}'
}

# p50_p90 FILE: "p50 p90 max n" of the numbers in FILE, one a line.
p50_p90() {
	sort -g "$1" | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "- - - 0"; exit }
			print v[int((NR - 1) * 0.50) + 1], v[int((NR - 1) * 0.90) + 1], v[NR], NR
		}'
}

# ---------------------------------------------------------------------------
# The upstream: one dnsmasq, answering test.dnsredir. itself (--address),
# forwarding nothing, logging nothing per query (--log-queries would make it
# write a line per query and measure the log, not the path).

NET_PREFIX=10.250.6
HOST_ADDR=$NET_PREFIX.1
UPSTREAM_ADDR=$NET_PREFIX.2

bench_dnsmasq() {
	local ns=$1 listen=$2 port=$3 answer=$4 prefix=${5:-}
	# shellcheck disable=SC2086  # prefix is a command prefix (nsenter ...) or empty
	start_bg "dnsmasq-$listen-$port" "$ns" $prefix dnsmasq --keep-in-foreground --no-resolv --no-hosts \
		--bind-interfaces --listen-address="$listen" --port="$port" \
		--address="/${DNS_NAME%.}/$answer" --cache-size=10000 \
		--pid-file="$TEST_TMP/dnsmasq-$listen-$port.pid" --log-facility=-
	DNSMASQ_PID=$BG_PID
}

bench_upstream_up() {
	upstream_link_up drb
	bench_dnsmasq "$NS_UPSTREAM" "$UPSTREAM_ADDR" 53 "$UPSTREAM_ANSWER"
	UPSTREAM_PID=$DNSMASQ_PID
	wait_until 10 bash -c "[ \"\$(dig +short +time=1 +tries=1 @$UPSTREAM_ADDR $DNS_NAME A)\" = $UPSTREAM_ANSWER ]" ||
		fail "the upstream dnsmasq on $UPSTREAM_ADDR does not answer"
}

# bench_decoy_up: a second dnsmasq in the upstream netns, on $DECOY_ADDR,
# answering $DECOY_ANSWER: the containers' --dns, so an answer says which
# path a query took (the labelled upstream's, or dockerd's).
DECOY_ADDR=$NET_PREFIX.3
bench_decoy_up() {
	ip -n "$NS_UPSTREAM" addr add "$DECOY_ADDR/24" dev eth0
	bench_dnsmasq "$NS_UPSTREAM" "$DECOY_ADDR" 53 "$DECOY_ANSWER"
	wait_until 10 bash -c "[ \"\$(dig +short +time=1 +tries=1 @$DECOY_ADDR $DNS_NAME A)\" = $DECOY_ANSWER ]" ||
		fail "the decoy dnsmasq on $DECOY_ADDR does not answer"
}

# The bench's containers carry $BENCH_LABEL=$RUN_ID: removed by label at exit
# (also after Ctrl-C, and those a 'docker run' was still creating then).
bench_rm_containers() {
	local pass ids t0=$SECONDS n=0
	for pass in 1 2; do
		ids=$(docker ps -aq --filter "label=$BENCH_LABEL=$RUN_ID") || return 0
		[ -n "$ids" ] || { [ "$pass" = 2 ] && break; sleep 1; continue; }
		n=$((n + $(printf '%s\n' "$ids" | wc -l)))
		printf '%s\n' "$ids" | xargs -r -n 25 -P 4 docker rm -f >/dev/null 2>&1 || true
		sleep 1
	done
	# the cleanup stack silences its commands: leave a note for run.sh
	[ "$n" -le 5 ] || echo "$PART: removed $n containers in $((SECONDS - t0)) s at cleanup" >>"$BENCH_OUT/notes.txt"
}

# The network goes last; dockerd may still be releasing endpoints. dockerd
# 20.10 sometimes keeps a stale endpoint count after many parallel starts
# and removals ("has active endpoints" with no container left): say so.
bench_rm_network() {
	local err
	for _ in $(seq 1 15); do
		err=$(docker network rm "$1" 2>&1 >/dev/null) && return 0
		sleep 1
	done
	echo "$PART: LEFT BEHIND docker network $1: $err (dockerd kept a stale endpoint count; 'docker network rm $1' works after a dockerd restart)" |
		tee -a "$BENCH_OUT/notes.txt" >&2
	return 1
}

bench_docker_up() {
	local t0=$SECONDS
	docker_up
	# the e2e tests restart dockerd and burst containers: not while we measure
	lock_host docker "${BENCH_LOCK_WAIT:-600}"
	[ $((SECONDS - t0)) -lt 5 ] ||
		echo "$PART: waited $((SECONDS - t0)) s for the host's docker lock (an e2e test held it)" >>"$BENCH_OUT/notes.txt"
	bench_upstream_up
	NET=dr${RUN_ID}
	docker network create --label "$BENCH_LABEL=$RUN_ID" "$NET" >/dev/null
	cleanup_add bench_rm_network "$NET"
	cleanup_add bench_rm_containers
}

# bench_container NAME [DOCKER_RUN_OPT...]: a sleeping busybox on $NET whose
# dockerd resolver forwards to the upstream; sets CPID (its host PID).
bench_container() {
	local name=$1
	shift
	docker run -d --name "$name" --network "$NET" --dns "$UPSTREAM_ADDR" \
		--label "$BENCH_LABEL=$RUN_ID" "$@" "$IMAGE" sleep 100000 >/dev/null
	CPID=$(container_pid "$name")
	CIP=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
}

# in_container CMD...: in the bench container's netns.
in_container() { nsenter -n -t "$CPID" "$@"; }

# cdig SERVER [DIG_OPT...]: the A answer to test.dnsredir. from the container.
cdig() {
	local server=$1
	shift
	in_container dig +short +time=2 +tries=1 "$@" "@$server" "$DNS_NAME" A 2>&1 || true
}

# status_get KEY: one value of 'dnsredir-agent status' for the container.
status_get() {
	"$DNSREDIR_AGENT" status --pid "$CPID" 2>/dev/null | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# CPU seconds (user+system) a process used so far, from /proc/PID/stat.
proc_cpu_ticks() {
	# the comm field may contain spaces: count from the closing parenthesis
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
CLK_TCK=$(getconf CLK_TCK)

# Busy jiffies and total jiffies of the whole machine, from /proc/stat.
machine_ticks() {
	awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}

# Compiles bench/dnsping.c into $BENCH_OUT when needed; prints its path.
bench_build_dnsping() {
	local bin=$BENCH_OUT/dnsping
	if [ ! -x "$bin" ] || [ "$BENCH_DIR/dnsping.c" -nt "$bin" ]; then
		${CC:-cc} -O2 -Wall -Wextra -Werror -o "$bin" "$BENCH_DIR/dnsping.c" >&2 || fail "cannot build dnsping"
	fi
	echo "$bin"
}

# NET_RX softirqs run so far, all CPUs together.
net_rx_softirqs() { awk '$1 == "NET_RX:" { for (i = 2; i <= NF; i++) t += $i; print t; exit }' /proc/softirqs; }
