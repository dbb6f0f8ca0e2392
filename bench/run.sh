#!/usr/bin/env bash
# dnsredir benchmarks: 'make bench', or bench/run.sh [PART...]
#
#   dns    DNS qps and latency inside a real container: dockerd's resolver,
#          dnsredir, a hand-written iptables DNAT, and the upstream directly
#   bpf    per-packet cost of each TC program on real traffic (bpf_stats,
#          perf) and in BPF_PROG_TEST_RUN (build/tests/test_datapath)
#   agent  start-to-attached latency for sequential and burst container
#          starts; the agent's CPU time and memory
#   start  zero-leak start: first lookups redirected and 'docker run' time,
#          labelled and not, with and without the agent, per early-attach mode
#
# Default: all four, in that order. Needs root, dockerd (started by
# tests/lib/dockerd-up.sh when none runs), dnsperf, dig, dnsmasq, bpftool.
# Traffic stays on this machine: loopback, the containers, and namespaces
# the parts make (10.250.6.0/24); every container gets --dns of our own.
#
# Prints one table at the end and writes it to build/bench-results.txt; the
# raw material (dnsperf runs, agent log, perf report) is left in build/bench/.
#
# Knobs (environment), defaults in brackets:
#   BENCH_ROUNDS [3]  BENCH_TPUT_SECS [6]  BENCH_PING_SECS [3]  BENCH_LAT_SECS [2]
#   BENCH_RATE_SECS [3]  BENCH_RATE_QPS [2000]  BENCH_TPUT_ARGS ["-c 4 -T 2 -q 100"]
#   BENCH_BPF_SECS [5]  BENCH_PERF [1]  BENCH_PERF_HZ [10000]
#   BENCH_SEQ [100]  BENCH_BURST [200]  BENCH_BURST_PARALLEL [20]  BENCH_IDLE_SECS [30]
#   BENCH_START_ROUNDS [4]  BENCH_START_N [10]
#   (BENCH_SEQ=200 for 200+200 containers: about a minute more, over 10 in all here)
#   DNSREDIR_AGENT [build/dnsredir-agent]
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ALL_PARTS=(dns bpf agent start)
# a part that hangs is stopped (and cleans up after itself) after this long
declare -A LIMIT=([dns]=480 [bpf]=240 [agent]=900 [start]=900)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

parts=()
for a in "$@"; do
	case $a in
	-h | --help) usage; exit 0 ;;
	dns | bpf | agent | start) parts+=("$a") ;;
	*) echo "bench: unknown part '$a' (parts: ${ALL_PARTS[*]})" >&2; exit 2 ;;
	esac
done
[ ${#parts[@]} -gt 0 ] || parts=("${ALL_PARTS[@]}")

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
export DNSREDIR_AGENT=${DNSREDIR_AGENT:-$ROOT/build/dnsredir-agent}
[ -x "$DNSREDIR_AGENT" ] || { echo "bench: no agent at $DNSREDIR_AGENT (run make)" >&2; exit 1; }

export BENCH_OUT=$ROOT/build/bench
rm -rf "$BENCH_OUT"
mkdir -p "$BENCH_OUT"
: >"$BENCH_OUT/targets.txt"
RESULTS=$ROOT/build/bench-results.txt

# Ctrl-C reaches a part through its 'timeout' (which has a process group of
# its own, and passes the signal on): the part then tears down what it built.
interrupted=0
child=
# shellcheck disable=SC2317  # called by the trap
on_signal() {
	interrupted=1
	[ -z "$child" ] || kill -INT "$child" 2>/dev/null || true
}
trap on_signal INT TERM

secs_since() { echo $(($(date +%s) - $1)); }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

"$ROOT/tests/lib/dockerd-up.sh" >&2 || echo "bench: dockerd-up.sh failed; the parts will skip" >&2

start_all=$(date +%s)
load_start=$(loadavg)
declare -A RC DUR
for part in "${parts[@]}"; do
	printf '\n=== %s\n' "$part" >&2
	t=$(date +%s)
	timeout -k 30 "${LIMIT[$part]}" bash "$ROOT/bench/$part.sh" </dev/null &
	child=$!
	rc=0
	# a signal interrupts 'wait': wait again until the part is really gone
	while :; do
		wait "$child"
		rc=$?
		kill -0 "$child" 2>/dev/null || break
	done
	child=
	RC[$part]=$rc
	DUR[$part]=$(secs_since "$t")
	[ "$interrupted" = 0 ] || { echo "bench: interrupted during '$part'" >&2; exit 130; }
done
total=$(secs_since "$start_all")

# ---------------------------------------------------------------------------
# The table.

machine_info() {
	local cpu docker_v dnsperf_v git_v
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	[ -n "$cpu" ] || cpu=$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }')
	docker_v=$(docker version --format 'server {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}' 2>/dev/null || echo "?")
	dnsperf_v=$(dnsperf -h 2>&1 | awk '/^Version/ { print $2; exit }')
	git_v=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "?")
	echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "kernel:   $(uname -r) ($(uname -m))"
	echo "cpu:      ${cpu:-?}, $(nproc) CPUs$(grep -q hypervisor /proc/cpuinfo && echo ', virtual machine')"
	echo "memory:   $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "docker:   $docker_v"
	echo "dnsperf:  ${dnsperf_v:-?}; dnsmasq $(dnsmasq --version 2>/dev/null | awk 'NR == 1 { print $3 }')"
	echo "agent:    $DNSREDIR_AGENT, built $(date -u -r "$DNSREDIR_AGENT" '+%Y-%m-%d %H:%M:%S UTC'), tree $git_v"
	echo "load avg: $load_start at start, $(loadavg) at the end (1/5/15 min): the machine is shared"
}

{
	echo "================================================================================================"
	echo "dnsredir benchmarks"
	echo "================================================================================================"
	machine_info
	for part in "${parts[@]}"; do
		echo
		case ${RC[$part]} in
		0) status="" ;;
		77) status=" (SKIPPED)" ;;
		124 | 137) status=" (TIMED OUT after ${LIMIT[$part]} s)" ;;
		*) status=" (FAILED, exit ${RC[$part]})" ;;
		esac
		echo "--- $part: ${DUR[$part]} s$status ------------------------------------------------------------"
		if [ -s "$BENCH_OUT/$part.txt" ]; then
			cat "$BENCH_OUT/$part.txt"
		else
			echo "  (no results; see the output above)"
		fi
	done
	echo
	echo "--- targets ------------------------------------------------------------------------------------"
	if [ -s "$BENCH_OUT/targets.txt" ]; then
		awk -F'|' '{ printf "  %-5s %-4s  %-66s %-14s %s\n", $1, $5, $2, $3, "(" $4 ")" }' "$BENCH_OUT/targets.txt"
		echo "  $(grep -c '|PASS$' "$BENCH_OUT/targets.txt") PASS, $(grep -c '|MISS$' "$BENCH_OUT/targets.txt") MISS, $(grep -c '|N/A$' "$BENCH_OUT/targets.txt") N/A"
	else
		echo "  (none measured)"
	fi
	if [ -s "$BENCH_OUT/notes.txt" ]; then
		echo
		echo "--- notes --------------------------------------------------------------------------------------"
		sed 's/^/  /' "$BENCH_OUT/notes.txt"
	fi
	echo
	echo "total: ${total} s ($(for p in "${parts[@]}"; do printf '%s %s s; ' "$p" "${DUR[$p]}"; done | sed 's/; $//'))"
	echo "raw material: $BENCH_OUT/"
} | tee "$RESULTS"

rc=0
for part in "${parts[@]}"; do
	case ${RC[$part]} in 0 | 77) ;; *) rc=1 ;; esac
done
exit "$rc"
