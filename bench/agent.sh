#!/usr/bin/env bash
# Part "agent": how long a labelled container runs before the agent has
# redirected it, and what the agent costs in CPU and memory.
#
#   1. the agent daemon: run --config /dev/null --resync-interval 0 --log-level info
#   2. $BENCH_SEQ containers started one after the other (docker run -d)
#   3. $BENCH_BURST more started at once ($BENCH_BURST_PARALLEL docker runs at a time)
#   4. $BENCH_IDLE_SECS s with all of them running and nothing happening
#
# Start-to-attached = since_event_us of each 'event=attached' line: from the
# Docker event's own timestamp (timeNano of 'start') to the moment the
# filters were in place. CPU = utime+stime from /proc/PID/stat; memory =
# VmHWM (peak RSS; reset through /proc/PID/clear_refs before the burst) and
# VmRSS from /proc/PID/status.
#
# The containers carry a label key of this run's own (dnsredir.bench-RUNID.server,
# the agent gets --label): an agent some other run left behind on this host,
# watching dnsredir.server, must not race ours for them. Their --dns is a
# decoy in the upstream netns answering 10.99.0.2, their label names the
# upstream answering 10.99.0.1: an answer of 10.99.0.1 proves the redirect.
# shellcheck source-path=SCRIPTDIR source=../tests/lib/common.sh
source "$(dirname "$0")/../tests/lib/common.sh"
# shellcheck source=../tests/lib/docker.sh
source "$(dirname "$0")/../tests/lib/docker.sh"
PART=agent
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

N_SEQ=${BENCH_SEQ:-100}
N_BURST=${BENCH_BURST:-200}
PAR=${BENCH_BURST_PARALLEL:-20}
IDLE_SECS=${BENCH_IDLE_SECS:-30}
LABEL_KEY=${BENCH_LABEL_KEY:-dnsredir.bench-$RUN_ID.server}

need_root
need_cmd ip dig dnsmasq docker nsenter setsid flock xargs
need_agent
bench_docker_up
bench_decoy_up

AGENT_LOG=$TEST_TMP/agent.log
setsid "$DNSREDIR_AGENT" run --config /dev/null --resync-interval 0 --log-level info --log-target console \
	--label "$LABEL_KEY" >>"$AGENT_LOG" 2>&1 </dev/null &
AGENT_PID=$!
cleanup_add cp "$AGENT_LOG" "$BENCH_OUT/agent.log"
cleanup_add kill_group "$AGENT_PID"
wait_until 10 grep -q 'event=connected' "$AGENT_LOG" || { cat "$AGENT_LOG" >&2; fail "the agent did not connect to Docker"; }
log "agent pid $AGENT_PID, label $LABEL_KEY"

# run_one NAME: one labelled container; its output is the container id
run_one() {
	docker run -d --name "$1" --network "$NET" --dns "$DECOY_ADDR" --label "$BENCH_LABEL=$RUN_ID" \
		--label "$LABEL_KEY=$UPSTREAM_ADDR" "$IMAGE" sleep 100000
}
export -f run_one
export NET DECOY_ADDR BENCH_LABEL RUN_ID LABEL_KEY UPSTREAM_ADDR IMAGE

# stop_burst PID: at an early exit (Ctrl-C), no more docker runs, and the
# ones under way finish before the containers are removed by label.
stop_burst() {
	kill "$1" 2>/dev/null || return 0
	local i
	for i in $(seq 1 60); do
		pgrep -P "$1" >/dev/null 2>&1 || kill -0 "$1" 2>/dev/null || break
		[ "$i" -lt 60 ] && sleep 0.5
	done
	sleep 1
}

# attached_count PREFIX: containers named PREFIX<n> the agent logged as attached
attached_count() { grep -cE "container=${1}[0-9]+ .*event=attached" "$AGENT_LOG" || true; }
wait_attached() {
	local prefix=$1 n=$2
	wait_until "$3" bash -c "[ \$(grep -cE 'container=${prefix}[0-9]+ .*event=attached' '$AGENT_LOG') -ge $n ]" || true
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
agent_alive() { kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent died; log: $(tail -n 20 "$AGENT_LOG")"; }

# api_probe_start FILE: times GET /containers/ID/json of a running container
# every 0.2 s (what the agent asks dockerd for each start event), until stopped.
PROBE_ID=$(docker run -d --name "drb${RUN_ID}-probe" --network "$NET" --dns "$DECOY_ADDR" \
	--label "$BENCH_LABEL=$RUN_ID" "$IMAGE" sleep 100000)
api_probe_start() {
	(
		while :; do
			curl -s -o /dev/null -w '%{time_total}\n' --unix-socket /var/run/docker.sock \
				"http://localhost/containers/$PROBE_ID/json" | awk '{ printf "%.3f\n", $1 * 1000 }'
			sleep 0.2
		done
	) >"$1" 2>/dev/null &
	PROBE_PID=$!
}
api_probe_stop() { kill "$PROBE_PID" 2>/dev/null; wait "$PROBE_PID" 2>/dev/null || true; }

phase_t=$(date +%s)
phase_log() { log "$* (+$(($(date +%s) - phase_t)) s)"; phase_t=$(date +%s); }

# ---------------------------------------------------------------------------
SEQ=drb${RUN_ID}-s
BURST=drb${RUN_ID}-b

# Docker's own timestamps of create and start, to put the agent's
# since_event_us on one time line: it counts from the event that triggered
# the attach, the start event, or for an attach made before the start
# ("early=yes" in the log line) the create event.
docker events --since "$(($(date +%s) - 1))" --filter type=container --filter "label=$BENCH_LABEL=$RUN_ID" \
	--filter event=create --filter event=start --format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}' \
	>"$TEST_TMP/events.txt" 2>/dev/null &
EVENTS_PID=$!
kill_quiet() { kill "$@" 2>/dev/null || true; }
cleanup_add kill_quiet "$EVENTS_PID"

api_probe_start "$TEST_TMP/api-seq.ms"
cpu0=$(proc_cpu_ticks "$AGENT_PID")
t0=$(date +%s%N)
for i in $(seq 1 "$N_SEQ"); do
	run_one "$SEQ$i" >/dev/null || log "docker run $SEQ$i failed"
done
t1=$(date +%s%N)
wait_attached "$SEQ" "$N_SEQ" 60
cpu1=$(proc_cpu_ticks "$AGENT_PID")
api_probe_stop
seq_hwm=$(status_kb "$AGENT_PID" VmHWM)
seq_secs=$(((t1 - t0) / 1000000))
phase_log "sequential: $N_SEQ docker runs in $((seq_secs / 1000)) s, attached $(attached_count "$SEQ")"
agent_alive

echo 5 >"/proc/$AGENT_PID/clear_refs"	# VmHWM := VmRSS: the burst's own peak
api_probe_start "$TEST_TMP/api-burst.ms"
cpu2=$(proc_cpu_ticks "$AGENT_PID")
t2=$(date +%s%N)
# shellcheck disable=SC2016  # $1 is for the inner bash
seq 1 "$N_BURST" | xargs -P "$PAR" -I{} bash -c 'run_one "$1" >/dev/null || echo "docker run $1 failed" >&2' _ "$BURST{}" &
xargs_pid=$!
cleanup_add stop_burst "$xargs_pid"
# only the docker runs: a bare 'wait' would wait for the agent too
wait "$xargs_pid" || true
t3=$(date +%s%N)
wait_attached "$BURST" "$N_BURST" 60
t4=$(date +%s%N)
cpu3=$(proc_cpu_ticks "$AGENT_PID")
api_probe_stop
burst_hwm=$(status_kb "$AGENT_PID" VmHWM)
burst_secs=$(((t3 - t2) / 1000000))
phase_log "burst: $N_BURST docker runs, $PAR at a time, in $((burst_secs / 1000)) s, attached $(attached_count "$BURST")"
agent_alive

lines0=$(wc -l <"$AGENT_LOG")
cpu4=$(proc_cpu_ticks "$AGENT_PID")
sleep "$IDLE_SECS" &
wait $!	# interruptible: Ctrl-C tears down at once
cpu5=$(proc_cpu_ticks "$AGENT_PID")
lines1=$(wc -l <"$AGENT_LOG")
idle_rss=$(status_kb "$AGENT_PID" VmRSS)
idle_hwm=$(status_kb "$AGENT_PID" VmHWM)
pss=$(awk '$1 == "Pss:" { p = $2 } $1 == "Pss_Anon:" { a = $2 } $1 == "Pss_File:" { f = $2 }
	END { printf "PSS %.1f MiB (anon %.1f, file %.1f)", p / 1024, a / 1024, f / 1024 }' "/proc/$AGENT_PID/smaps_rollup" 2>/dev/null)
mem_split="RssAnon $(status_kb "$AGENT_PID" RssAnon) kB, RssFile $(status_kb "$AGENT_PID" RssFile) kB, RssShmem $(status_kb "$AGENT_PID" RssShmem) kB"
# the biggest mappings by resident size: shared libraries count in RSS too
top_maps=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { f = (NF >= 6) ? $6 : "[anon]"; sub(/.*\//, "", f) } /^Rss:/ { r[f] += $2 }
	END { for (f in r) if (r[f] > 0) print r[f], f }' "/proc/$AGENT_PID/smaps" | sort -rn | head -n 8 |
	awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 } END { print "" }')
threads=$(status_kb "$AGENT_PID" Threads)
fds=$(find "/proc/$AGENT_PID/fd" -mindepth 1 2>/dev/null | wc -l)
agent_alive

# Is each container really redirected? Its pid is in the log line.
redirected_ok() {
	local prefix=$1 ok=0 pid
	while read -r pid; do
		[ "$(nsenter -n -t "$pid" dig +short +time=2 +tries=1 @127.0.0.11 "$DNS_NAME" A 2>&1)" != "$UPSTREAM_ANSWER" ] ||
			ok=$((ok + 1))
	done < <(grep -E "container=${prefix}[0-9]+ .*event=attached" "$AGENT_LOG" | grep -o ' pid=[0-9]*' | cut -d= -f2)
	echo "$ok"
}
seq_ok=$(redirected_ok "$SEQ")
burst_ok=$(redirected_ok "$BURST")
phase_log "checked the answers of every container"

# Where the agent spends its time per container: strace -f -T on the running
# agent while $TRACE_N more containers start one by one; the time inside each
# syscall (bpf() split by command), summed, per container. strace slows every
# syscall down: compare the shares and counts, not the totals with the above.
TRACE_N=${BENCH_TRACE_N:-3}
trace_summary=
if command -v strace >/dev/null && [ "$TRACE_N" -gt 0 ]; then
	TRACE=drb${RUN_ID}-t
	strace -f -T -qq -p "$AGENT_PID" -o "$TEST_TMP/agent.strace" 2>/dev/null &
	strace_pid=$!
	sleep 0.5
	for i in $(seq 1 "$TRACE_N"); do run_one "$TRACE$i" >/dev/null || true; done
	wait_attached "$TRACE" "$TRACE_N" 20
	sleep 0.5
	kill -INT "$strace_pid" 2>/dev/null || true
	wait "$strace_pid" 2>/dev/null || true
	trace_summary=$(awk -v n="$TRACE_N" '
		match($0, /<[0-9.]+>$/) {
			t = substr($0, RSTART + 1, RLENGTH - 2) * 1e6
			name = $0; sub(/^[0-9]+ +/, "", name); sub(/\(.*/, "", name)
			if (name == "bpf" && match($0, /bpf\(BPF_[A-Z_]+/)) name = substr($0, RSTART + 4, RLENGTH - 4)
			# waiting for something to happen is not work
			if (name ~ /^(poll|ppoll|epoll_wait|epoll_pwait|select|pselect6|restart_syscall|nanosleep|clock_nanosleep|<\.\.\.)$/) next
			sum[name] += t; cnt[name]++
		}
		END { for (x in sum) printf "%d %s %d\n", sum[x] / n, x, cnt[x] / n }' "$TEST_TMP/agent.strace" |
		sort -rn | head -n 8 | awk '{ printf "%s%s %d us (%dx)", (NR > 1 ? ", " : ""), $2, $1, $3 } END { print "" }')
	gzip -c "$TEST_TMP/agent.strace" >"$BENCH_OUT/agent.strace.gz" 2>/dev/null || true
fi

# field PREFIX KEY: the values of KEY= on PREFIX's attached lines, in ms
field_ms() {
	grep -E "container=${1}[0-9]+ .*event=attached" "$AGENT_LOG" | grep -o " $2=[0-9]*" |
		awk -F= '{ printf "%.3f\n", $2 / 1000 }' >"$TEST_TMP/$1.$2"
	percentiles "$TEST_TMP/$1.$2"
}
# rel_ms PREFIX WHICH: for PREFIX's containers, attached time minus the
# start event's (WHICH=start; negative: attached before it started) or minus
# the create event's (WHICH=create), in ms
rel_ms() {
	awk -v prefix="$1" -v which="$2" '
		FNR == NR { t[$3 "." $2] = $1; next }	# events: ns action name
		$0 ~ "container=" prefix "[0-9]+ " && / event=attached / {
			name = since = ""; early = "no"
			for (i = 1; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "container") name = kv[2]
				else if (kv[1] == "since_event_us") since = kv[2]
				else if (kv[1] == "early") early = kv[2]
			}
			base = t[name "." (early == "yes" ? "create" : "start")]
			ref = t[name "." which]
			if (since == "" || base == "" || ref == "") { missing++; next }
			printf "%.3f\n", (base + since * 1000 - ref) / 1e6
		}' "$TEST_TMP/events.txt" "$AGENT_LOG" >"$TEST_TMP/$1.$2"
	percentiles "$TEST_TMP/$1.$2"
}
kill "$EVENTS_PID" 2>/dev/null || true
read -r s50 s99 smax sn < <(rel_ms "$SEQ" start)
read -r b50 b99 bmax bn < <(rel_ms "$BURST" start)
read -r sc50 sc99 _ _ < <(rel_ms "$SEQ" create)
read -r bc50 bc99 _ _ < <(rel_ms "$BURST" create)
s_early=$(grep -cE "container=${SEQ}[0-9]+ .*event=attached.* early=yes" "$AGENT_LOG" || true)
b_early=$(grep -cE "container=${BURST}[0-9]+ .*event=attached.* early=yes" "$AGENT_LOG" || true)
s_before=$(awk '$1 < 0' "$TEST_TMP/$SEQ.start" | wc -l)
b_before=$(awk '$1 < 0' "$TEST_TMP/$BURST.start" | wc -l)
read -r st50 st99 _ _ < <(field_ms "$SEQ" took_us)
read -r bt50 bt99 _ _ < <(field_ms "$BURST" took_us)
failed=$(grep -cE "container=drb${RUN_ID}-[sb][0-9]+ .*event=(failed|skipped)" "$AGENT_LOG" || true)
warns=$(grep -cE '^level=(warn|error)' "$AGENT_LOG" || true)
running=$(docker ps -q --filter "label=$BENCH_LABEL=$RUN_ID" | wc -l)

cpu_ms() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f\n", 1000 * t / hz }'; }
per_c() { awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { if (n == 0) print "-"; else printf "%.2f\n", 1000 * t / hz / n }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "") print "-"; else printf "%.1f\n", k / 1024 }'; }

out "The agent under container starts (run --resync-interval 0 --log-level info, one dockerd, $(nproc) CPUs)"
out "start-to-attached: Docker's 'start' event timestamp -> filters in place, ms, from the agent's since_event_us"
out "(negative: in place before Docker reported the start; the agent's 'early=yes' attaches count from 'create')"
out ""
out "$(printf '  %-26s %6s %8s %8s %8s %7s %10s %10s %8s %8s %8s' phase attached p50_ms p99_ms max_ms before create_p50 create_p99 took_p50 took_p99 dns_ok)"
out "$(printf '  %-26s %6s %8s %8s %8s %7s %10s %10s %8s %8s %8s' "sequential ($N_SEQ)" "$sn" "$s50" "$s99" "$smax" "$s_before" "$sc50" "$sc99" "$st50" "$st99" "$seq_ok/$N_SEQ")"
out "$(printf '  %-26s %6s %8s %8s %8s %7s %10s %10s %8s %8s %8s' "burst ($N_BURST, $PAR at a time)" "$bn" "$b50" "$b99" "$bmax" "$b_before" "$bc50" "$bc99" "$bt50" "$bt99" "$burst_ok/$N_BURST")"
out "  before = attached before the start event; create_* = create event -> attached; early=yes lines: $s_early + $b_early;"
out "  docker runs took $((seq_secs / 1000)) s (sequential) and $((burst_secs / 1000)) s (burst)"
out "  took_* = took_us (the agent's own work per container: netns, resolver ports, route, tc attach), ms;"
out "  dns_ok = containers whose 127.0.0.11 answered from the labelled server, checked afterwards"
out "  failed/skipped lines: $failed, warn/error lines: $warns, containers still running: $running"
out ""
out "  agent CPU: sequential $(cpu_ms $((cpu1 - cpu0))) ms ($(per_c $((cpu1 - cpu0)) "$N_SEQ") ms/container)," \
	"burst $(cpu_ms $((cpu3 - cpu2))) ms ($(per_c $((cpu3 - cpu2)) "$N_BURST") ms/container)," \
	"idle ${IDLE_SECS} s: $(cpu_ms $((cpu5 - cpu4))) ms, $((lines1 - lines0)) log lines"
out "  agent memory: peak RSS (VmHWM) $(mib "$seq_hwm") MiB through the sequential phase, $(mib "$burst_hwm") MiB in the burst;"
out "  after ${IDLE_SECS} s idle with $running containers: VmRSS $(mib "$idle_rss") MiB ($mem_split); threads $threads, fds $fds"
out "  $pss; largest resident mappings (kB): $top_maps"
read -r a50 a99 amax an < <(percentiles "$TEST_TMP/api-seq.ms")
read -r c50 c99 cmax cn < <(percentiles "$TEST_TMP/api-burst.ms")
out "  dockerd's answer time to GET /containers/ID/json (what the agent asks per start event), every 0.2 s:"
out "    sequential p50 $a50 p99 $a99 max $amax ms ($an probes); burst p50 $c50 p99 $c99 max $cmax ms ($cn probes)"
if [ -n "$trace_summary" ]; then
	out "  the agent's syscalls per container (strace -f -T on it over $TRACE_N more starts; waits left out), by time in them:"
	out "    $trace_summary"
fi
out "  (burst drained $((t4 - t3 > 0 ? (t4 - t3) / 1000000 : 0)) ms after the last docker run returned)"

peak=$(awk -v a="$seq_hwm" -v b="$burst_hwm" -v c="$idle_hwm" 'BEGIN { m = a; if (b > m) m = b; if (c > m) m = c; printf "%.1f\n", m / 1024 }')
target "p99 start-to-attached, sequential (ms)" "$s99" "< 20" "$(verdict "$s99" '<' 20)"
target "p99 start-to-attached, burst (ms)" "$b99" "< 100" "$(verdict "$b99" '<' 100)"
target "agent peak RSS (MiB, VmHWM)" "$peak" "< 10" "$(verdict "$peak" '<' 10)"
n_ok=$((seq_ok + burst_ok))
target "containers redirected (of $((N_SEQ + N_BURST)))" "$n_ok" "= all" "$(verdict "$n_ok" '>=' $((N_SEQ + N_BURST)))"
