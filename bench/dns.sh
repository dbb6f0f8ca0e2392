#!/usr/bin/env bash
# Part "dns": DNS throughput and latency seen from inside one real container,
# four ways to answer the container's 127.0.0.11:
#
#   dockerd   dockerd's embedded resolver forwarding to the upstream
#             (the container's --dns), nothing attached
#   dnsredir  dnsredir-agent attach --pid PID --server upstream
#   iptables  what an admin would write by hand in the container's netns:
#             nat OUTPUT DNAT udp+tcp 127.0.0.11:53 -> upstream:53 ahead of
#             Docker's DOCKER_OUTPUT jump, SNAT 127/8 -> the container's
#             address on eth0, and route_localnet=1 on eth0 (else the kernel
#             drops a 127.0.0.1 source leaving eth0, and the de-NATed reply
#             to 127.0.0.1 arriving on eth0 as martian)
#   direct    dnsperf straight to the upstream's address (the limit)
#
# Three measurements, each run for every variant in turn, the order rotated
# every round, BENCH_ROUNDS rounds; the table shows medians over the rounds:
#   tput   saturating: dnsperf $BENCH_TPUT_ARGS (-c 4 -T 2 -q 100)
#   ping   one query in flight, back to back: bench/dnsping.c (dnsperf -q 1
#          idles between queries here and yields too few samples, see there)
#   lat    one query in flight: dnsperf -c 1 -q 1 -v (percentiles from -v)
#   rate   a fixed moderate rate: dnsperf -c 1 -Q $BENCH_RATE_QPS -v
#
# The saturating and the one-in-flight runs are also sampled with perf
# (cpu-clock, whole machine, 999 Hz): CPU per query of the test's own
# processes, which unrelated work on this shared machine skews less than
# qps, and the kernel symbols where dnsredir spends more than direct.
#
# Every dnsperf run binds a new local port range (-x) so that no conntrack
# entry left by the previous variant (Docker's DNAT to dockerd, or ours)
# can steer the next one.
# shellcheck source-path=SCRIPTDIR source=../tests/lib/common.sh
source "$(dirname "$0")/../tests/lib/common.sh"
# shellcheck source=../tests/lib/docker.sh
source "$(dirname "$0")/../tests/lib/docker.sh"
PART=dns
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
TPUT_SECS=${BENCH_TPUT_SECS:-6}
LAT_SECS=${BENCH_LAT_SECS:-2}
RATE_SECS=${BENCH_RATE_SECS:-3}
RATE_QPS=${BENCH_RATE_QPS:-2000}
read -r -a TPUT_ARGS <<<"${BENCH_TPUT_ARGS:--c 4 -T 2 -q 100}"
VARIANTS=(dockerd dnsredir iptables direct)
KINDS=(tput ping lat rate)
PING_SECS=${BENCH_PING_SECS:-3}

need_root
need_cmd ip dig dnsmasq docker nsenter setsid flock iptables dnsperf
need_agent
DNSPING=$(bench_build_dnsping)
bench_docker_up
bench_container "drb${RUN_ID}-dns"
log "container pid $CPID address $CIP, upstream $UPSTREAM_ADDR (dnsmasq pid $UPSTREAM_PID)"

# ---------------------------------------------------------------------------
# The variants: on/off and where dnsperf sends.

DNAT_RULES=(
	"OUTPUT -d 127.0.0.11/32 -p udp --dport 53 -j DNAT --to-destination $UPSTREAM_ADDR:53"
	"OUTPUT -d 127.0.0.11/32 -p tcp --dport 53 -j DNAT --to-destination $UPSTREAM_ADDR:53"
	"POSTROUTING -s 127.0.0.0/8 -o eth0 -j SNAT --to-source $CIP"
)

variant_on() {
	local r chain rest
	case $1 in
	dnsredir)
		"$DNSREDIR_AGENT" attach --pid "$CPID" --server "$UPSTREAM_ADDR" >/dev/null ;;
	iptables)
		in_container sysctl -qw net.ipv4.conf.eth0.route_localnet=1
		# inserted at the top of their chains, in order: before DOCKER_OUTPUT
		for ((r = ${#DNAT_RULES[@]} - 1; r >= 0; r--)); do
			read -r chain rest <<<"${DNAT_RULES[r]}"
			# shellcheck disable=SC2086
			in_container iptables -t nat -I "$chain" 1 $rest
		done ;;
	esac
}

variant_off() {
	local r
	case $1 in
	dnsredir)
		"$DNSREDIR_AGENT" detach --pid "$CPID" >/dev/null ;;
	iptables)
		for r in "${DNAT_RULES[@]}"; do
			# shellcheck disable=SC2086
			in_container iptables -t nat -D $r
		done
		in_container sysctl -qw net.ipv4.conf.eth0.route_localnet=0 ;;
	esac
}

variant_server() { if [ "$1" = direct ]; then echo "$UPSTREAM_ADDR"; else echo 127.0.0.11; fi; }

dnat_hits() { in_container iptables -t nat -L OUTPUT 1 -v -x -n | awk '{ print $1; exit }'; }

# Each variant must answer, over UDP and TCP, before anything is timed; and
# the path must be the one we think (counters of dnsredir / of our rule).
verify_variants() {
	local v a t before after
	for v in "${VARIANTS[@]}"; do
		variant_on "$v"
		before=0
		[ "$v" != dnsredir ] || before=$(status_get replies_restored)
		[ "$v" != iptables ] || before=$(dnat_hits)
		a=$(cdig "$(variant_server "$v")")
		t=$(cdig "$(variant_server "$v")" +tcp)
		after=0
		[ "$v" != dnsredir ] || after=$(status_get replies_restored)
		[ "$v" != iptables ] || after=$(dnat_hits)
		variant_off "$v"
		[ "$a" = "$UPSTREAM_ANSWER" ] || fail "$v: UDP answer '$a', expected $UPSTREAM_ANSWER"
		[ "$t" = "$UPSTREAM_ANSWER" ] || fail "$v: TCP answer '$t', expected $UPSTREAM_ANSWER"
		case $v in
		dnsredir) [ "$((after - before))" -ge 1 ] || fail "dnsredir: the dig answers did not come through the reply program (replies_restored $before -> $after)" ;;
		iptables) [ "$((after - before))" -ge 1 ] || fail "iptables: the DNAT rule saw no packet" ;;
		esac
		log "verified $v: UDP and TCP answer $a"
	done
}

# ---------------------------------------------------------------------------
# One dnsperf run, with what the machine did meanwhile.

NEXT_PORT=${BENCH_PORT_BASE:-20000}
RESULTS=$TEST_TMP/results.txt	# variant kind round qps lost% avg p50 p99 n up_cpu% busy% counters% bad_rcodes net_rx/answer
: >"$RESULTS"

perf_run() {
	local v=$1 kind=$2 round=$3 server f secs args=() up0 up1 m0 m1 t0 t1 r0=0 r1=0 q0=0 q1=0 u0=0 u1=0 s0 s1
	server=$(variant_server "$v")
	f=$TEST_TMP/$kind-$v-$round.out
	case $kind in
	tput) secs=$TPUT_SECS args=("${TPUT_ARGS[@]}") ;;
	ping) secs=$PING_SECS ;;
	lat) secs=$LAT_SECS args=(-c 1 -q 1 -v) ;;
	rate) secs=$RATE_SECS args=(-c 1 -Q "$RATE_QPS" -v) ;;
	esac
	if [ "$v" = dnsredir ]; then
		q0=$(status_get queries_redirected)
		r0=$(status_get replies_restored)
		u0=$(status_get replies_unmatched)
	fi
	up0=$(proc_cpu_ticks "$UPSTREAM_PID")
	m0=$(machine_ticks)
	s0=$(net_rx_softirqs)
	t0=$(date +%s%N)
	local client_pid pw0 pw1
	if [ "$kind" = ping ]; then
		in_container timeout $((secs + 30)) "$DNSPING" "$server" "$DNS_NAME" "$secs" "$f.lat" >"$f" 2>&1 &
		client_pid=$!
	else
		in_container timeout $((secs + 30)) dnsperf -s "$server" -d "$QFILE" -x "$NEXT_PORT" -l "$secs" \
			"${args[@]}" >"$f" 2>&1 &
		client_pid=$!
	fi
	if { [ "$kind" = tput ] || [ "$kind" = ping ]; } && [ "$PERF" = 1 ] && [ "$secs" -ge 2 ]; then
		# sample the whole machine for the middle of the run: who spends the CPU
		sleep 0.5
		pw0=$(date +%s%N)
		perf record -a -e cpu-clock -F "$PERF_HZ" -o "$f.perf" -- sleep $((secs - 1)) >/dev/null 2>&1 || true
		pw1=$(date +%s%N)
	fi
	wait "$client_pid" || true
	[ "$kind" = ping ] || { grep '^> ' "$f" | awk '{ printf "%.1f\n", $NF * 1e6 }' >"$f.lat" || true; }
	t1=$(date +%s%N)
	m1=$(machine_ticks)
	s1=$(net_rx_softirqs)
	up1=$(proc_cpu_ticks "$UPSTREAM_PID")
	NEXT_PORT=$((NEXT_PORT + 16))
	if [ "$v" = dnsredir ]; then
		q1=$(status_get queries_redirected)
		r1=$(status_get replies_restored)
		u1=$(status_get replies_unmatched)
	fi
	local pct
	pct=$(percentiles "$f.lat")
	awk -v v="$v" -v k="$kind" -v r="$round" -v up="$((up1 - up0))" -v hz="$CLK_TCK" \
		-v wall="$((t1 - t0))" -v m0="$m0" -v m1="$m1" -v dq="$((q1 - q0))" -v dr="$((r1 - r0))" -v du="$((u1 - u0))" -v sirq="$((s1 - s0))" -v pct="$pct" '
		/^> / && $2 != "NOERROR" { bad++ }
		/Queries sent:/ { sent = $3 }
		/Queries completed:/ { done = $3 }
		/Queries lost:/ { lost = $4; gsub(/[()%]/, "", lost) }
		/Queries per second:/ { qps = $4 }
		/Average Latency/ { avg = $4 * 1e6 }
		/^sent=/ {	# dnsping
			for (i = 1; i <= NF; i++) { split($i, kv, "="); d[kv[1]] = kv[2] }
			sent = d["sent"]; done = d["answered"]
			lost = sent ? sprintf("%.2f", 100 * d["lost"] / sent) : "-"
			qps = done / (wall / 1e9); avg = d["avg_us"]
		}
		END {
			split(m0, a, " "); split(m1, b, " "); split(pct, p, " ")
			busy = (b[2] > a[2]) ? 100 * (b[1] - a[1]) / (b[2] - a[2]) : 0
			upcpu = 100 * up / hz / (wall / 1e9)
			via = "-"
			if (v == "dnsredir" && sent > 0) via = sprintf("%.2f/%.2f/%.2f", 100 * dq / sent, 100 * dr / (done ? done : 1), 100 * du / sent)
			if (qps == "") qps = avg = lost = "-"
			else avg = sprintf("%.1f", avg)
			printf "%s %s %s %s %s %s %s %s %d %.0f %.0f %s %d %.2f\n", v, k, r, qps, lost, avg, p[1], p[2], p[4], upcpu, busy, via, bad, done ? sirq / done : 0
		}' "$f" >>"$RESULTS"
	if [ -s "$f.perf" ]; then
		perf_split "$f.perf" "$(tail -n 1 "$RESULTS" | awk '{ print $4 }')" "$((pw1 - pw0))" "$v" "$kind" >>"$CPU_RESULTS"
		rm -f "$f.perf"
	fi
	log "$(tail -n 1 "$RESULTS")"
	grep -Eq 'Queries per second|^sent=.* answered=[1-9]' "$f" || { cat "$f" >&2; fail "$kind ($v) printed no statistics"; }
}

# perf_split PERF_DATA QPS WINDOW_NS VARIANT: CPU per answered query by who
# spent it, from cpu-clock samples of the whole machine. The test's own: dnsperf
# (the client, with the kernel work done in its context: its packets' softirq
# mostly runs there), dnsmasq (the upstream), dockerd (its resolver), the
# ksoftirqd threads. Everything else (other work on this shared machine) is
# "others", in % of the machine; idle is left out. Also appends per-symbol
# ns/query of the test's own processes to $SYM_RESULTS.
# Prints: VARIANT KIND client_us upstream_us dockerd_us ksoftirqd_us total_us others_pct
perf_split() {
	local data=$1 qps=$2 window=$3 v=$4 kind=$5
	perf report -i "$data" -n --sort comm,sym --stdio 2>/dev/null | awk -v qps="$qps" -v w="$window" -v v="$v" -v k="$kind" \
		-v hz="$PERF_HZ" -v ncpu="$(nproc)" -v symfile="$SYM_RESULTS" '
		/^#/ || NF < 5 { next }
		{
			n = $2; comm = $3; sym = $5
			all += n
			if (comm == "dnsperf" || comm == "dnsping") c = "client"
			else if (comm == "dnsmasq") c = "upstream"
			else if (comm == "dockerd") c = "dockerd"
			else if (comm ~ /^ksoftirqd/) c = "ksoftirqd"
			else if (comm == "swapper") c = (sym ~ /halt|idle|mwait/) ? "idle" : "ksoftirqd"
			else c = "others"
			cat[c] += n
			if (c != "idle" && c != "others") s[sym] += n
		}
		END {
			q = qps * w / 1e9	# queries answered in the window
			ns = 1e9 / hz		# one sample, ns
			if (q <= 0 || all == 0) { print v, k, "- - - - - -"; exit }
			for (x in s) printf "%s %s %s %.1f\n", v, k, x, s[x] * ns / q >>symfile
			t = cat["client"] + cat["upstream"] + cat["dockerd"] + cat["ksoftirqd"]
			printf "%s %s %.1f %.1f %.1f %.1f %.1f %.0f\n", v, k, cat["client"] * ns / q / 1000, cat["upstream"] * ns / q / 1000,
				cat["dockerd"] * ns / q / 1000, cat["ksoftirqd"] * ns / q / 1000, t * ns / q / 1000,
				100 * cat["others"] / (w / 1e9 * hz * ncpu)
		}'
}
PERF=0
PERF_HZ=${BENCH_PERF_HZ_DNS:-999}
if [ "${BENCH_PERF:-1}" = 1 ] && command -v perf >/dev/null && [ "$TPUT_SECS" -ge 3 ]; then PERF=1; fi
CPU_RESULTS=$TEST_TMP/cpu.txt	# variant kind client_us upstream_us dockerd_us ksoftirqd_us total_us others%
SYM_RESULTS=$TEST_TMP/sym.txt	# variant kind symbol ns/query
: >"$CPU_RESULTS"
: >"$SYM_RESULTS"

verify_variants

start=$(date +%s)
for round in $(seq 1 "$ROUNDS"); do
	for kind in "${KINDS[@]}"; do
		for i in 0 1 2 3; do
			v=${VARIANTS[(i + round - 1) % 4]}
			variant_on "$v"
			perf_run "$v" "$kind" "$round"
			variant_off "$v"
		done
	done
done
log "measured in $(($(date +%s) - start)) s"
cp "$RESULTS" "$BENCH_OUT/dns-raw.txt"
cp "$CPU_RESULTS" "$BENCH_OUT/dns-cpu.txt"
cp "$SYM_RESULTS" "$BENCH_OUT/dns-symbols.txt"

# ---------------------------------------------------------------------------
# Medians over the rounds.

# med VARIANT KIND COLUMN (1-based in $RESULTS)
med() {
	# shellcheck disable=SC2046
	median $(awk -v v="$1" -v k="$2" -v c="$3" '$1 == v && $2 == k { print $c }' "$RESULTS")
}

declare -A M
for v in "${VARIANTS[@]}"; do
	for kind in "${KINDS[@]}"; do
		M[$v.$kind.qps]=$(med "$v" "$kind" 4)
		M[$v.$kind.lost]=$(med "$v" "$kind" 5)
		M[$v.$kind.avg]=$(med "$v" "$kind" 6)
		M[$v.$kind.p50]=$(med "$v" "$kind" 7)
		M[$v.$kind.p99]=$(med "$v" "$kind" 8)
		M[$v.$kind.n]=$(med "$v" "$kind" 9)
		M[$v.$kind.up]=$(med "$v" "$kind" 10)
		M[$v.$kind.busy]=$(med "$v" "$kind" 11)
		M[$v.$kind.sirq]=$(med "$v" "$kind" 14)
	done
done

fmt() { awk -v x="$1" -v d="${2:-1}" 'BEGIN { if (x == "-" || x == "") print "-"; else printf "%." d "f\n", x }'; }

out "DNS from inside one container (dnsperf in its netns -> 127.0.0.11; direct -> $UPSTREAM_ADDR),"
out "upstream: one dnsmasq in a netns via the host; median of $ROUNDS rounds, variants interleaved, order rotated"
out ""
out "  saturating: dnsperf ${TPUT_ARGS[*]} -l $TPUT_SECS"
out "$(printf '  %-10s %9s %7s %9s %12s %10s' variant qps lost% avg_us upstream_cpu machine_busy)"
for v in "${VARIANTS[@]}"; do
	out "$(printf '  %-10s %9s %7s %9s %11s%% %9s%%' "$v" "$(fmt "${M[$v.tput.qps]}" 0)" "${M[$v.tput.lost]}" \
		"${M[$v.tput.avg]}" "$(fmt "${M[$v.tput.up]}" 0)" "$(fmt "${M[$v.tput.busy]}" 0)")"
done
# cmed VARIANT KIND COLUMN: median over the rounds of a column of $CPU_RESULTS
cmed() {
	# shellcheck disable=SC2046
	median $(awk -v v="$1" -v k="$2" -v c="$3" '$1 == v && $2 == k { print $c }' "$CPU_RESULTS")
}
# symdiff KIND: the symbols costing dnsredir more than direct, ns per query
symdiff() {
	awk -v r="$ROUNDS" -v k="$1" '$2 != k { next } $1 == "dnsredir" { d[$3] += $4 } $1 == "direct" { b[$3] += $4 }
		END { for (x in d) printf "%.0f %s %.0f %.0f\n", (d[x] - b[x]) / r, x, b[x] / r, d[x] / r
		      for (x in b) if (!(x in d)) printf "%.0f %s %.0f 0\n", -b[x] / r, x, b[x] / r }' "$SYM_RESULTS" |
		sort -rn | head -n "${2:-10}" | awk '{ printf "    %+6d  %-44s (direct %d, dnsredir %d)\n", $1, $2, $3, $4 }'
}
if [ "$PERF" = 1 ] && [ -s "$CPU_RESULTS" ]; then
	out ""
	out "  CPU per answered query, us (perf cpu-clock samples of the whole machine at ${PERF_HZ} Hz, middle of each run):"
	out "  the test's own processes only, which other work on the machine does not change the way it changes qps;"
	out "  others% = CPU taken by unrelated work meanwhile"
	out "$(printf '  %-10s %-11s %8s %9s %8s %10s %8s %8s' variant run client upstream dockerd ksoftirqd total others%)"
	for kind in tput ping; do
		for v in "${VARIANTS[@]}"; do
			out "$(printf '  %-10s %-11s %8s %9s %8s %10s %8s %8s' "$v" "$([ "$kind" = tput ] && echo saturating || echo one-flight)" \
				"$(cmed "$v" "$kind" 3)" "$(cmed "$v" "$kind" 4)" "$(cmed "$v" "$kind" 5)" "$(cmed "$v" "$kind" 6)" \
				"$(cmed "$v" "$kind" 7)" "$(cmed "$v" "$kind" 8)")"
			M[$v.$kind.cpu]=$(cmed "$v" "$kind" 7)
		done
	done
	out "  symbols costing dnsredir more than direct, saturating, ns per query (mean of the rounds):"
	while IFS= read -r l; do out "$l"; done < <(symdiff tput 10)
	out "  the same, one query in flight (dnsping):"
	while IFS= read -r l; do out "$l"; done < <(symdiff ping 10)
fi
out ""
out "  one query in flight, back to back: bench/dnsping -l $PING_SECS (connected UDP socket, us)"
out "$(printf '  %-10s %9s %9s %9s %9s %8s %13s' variant avg_us p50_us p99_us samples qps NET_RX/query)"
for v in "${VARIANTS[@]}"; do
	out "$(printf '  %-10s %9s %9s %9s %9s %8s %13s' "$v" "${M[$v.ping.avg]}" "${M[$v.ping.p50]}" "${M[$v.ping.p99]}" \
		"$(fmt "${M[$v.ping.n]}" 0)" "$(fmt "${M[$v.ping.qps]}" 0)" "$(fmt "${M[$v.ping.sirq]}" 2)")"
done
out "  NET_RX/query: NET_RX softirqs run on the machine per answered query (/proc/softirqs): each pass"
out "  through a backlog (lo, veth, a bpf_redirect to ingress) can cost one"
out ""
out "  one query in flight: dnsperf -c 1 -q 1 -l $LAT_SECS -v (few samples: dnsperf idles between queries)"
out "$(printf '  %-10s %9s %9s %9s %9s %8s' variant avg_us p50_us p99_us samples qps)"
for v in "${VARIANTS[@]}"; do
	out "$(printf '  %-10s %9s %9s %9s %9s %8s' "$v" "${M[$v.lat.avg]}" "${M[$v.lat.p50]}" "${M[$v.lat.p99]}" \
		"$(fmt "${M[$v.lat.n]}" 0)" "$(fmt "${M[$v.lat.qps]}" 0)")"
done
out ""
out "  fixed rate: dnsperf -c 1 -Q $RATE_QPS -l $RATE_SECS (us)"
out "$(printf '  %-10s %9s %9s %9s %7s %9s' variant avg_us p50_us p99_us lost% qps)"
for v in "${VARIANTS[@]}"; do
	out "$(printf '  %-10s %9s %9s %9s %7s %9s' "$v" "${M[$v.rate.avg]}" "${M[$v.rate.p50]}" "${M[$v.rate.p99]}" \
		"${M[$v.rate.lost]}" "$(fmt "${M[$v.rate.qps]}" 0)")"
done
out ""
out "  ratios dnsredir / other (qps: higher is better; latency: lower is better)"
out "$(printf '  %-10s %7s %10s %10s %10s %10s %10s %10s' "vs" qps ping_avg ping_p50 ping_p99 perf1_avg "@${RATE_QPS}avg" "@${RATE_QPS}p99")"
for o in direct dockerd iptables; do
	out "$(printf '  %-10s %7s %10s %10s %10s %10s %10s %10s' "$o" \
		"$(ratio "${M[dnsredir.tput.qps]}" "${M[$o.tput.qps]}")" \
		"$(ratio "${M[dnsredir.ping.avg]}" "${M[$o.ping.avg]}")" \
		"$(ratio "${M[dnsredir.ping.p50]}" "${M[$o.ping.p50]}")" \
		"$(ratio "${M[dnsredir.ping.p99]}" "${M[$o.ping.p99]}")" \
		"$(ratio "${M[dnsredir.lat.avg]}" "${M[$o.lat.avg]}")" \
		"$(ratio "${M[dnsredir.rate.avg]}" "${M[$o.rate.avg]}")" \
		"$(ratio "${M[dnsredir.rate.p99]}" "${M[$o.rate.p99]}")")"
done
diff_us() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "") print "-"; else printf "%+.1f\n", a - b }'; }
ping_diff_avg=$(diff_us "${M[dnsredir.ping.avg]}" "${M[direct.ping.avg]}")
ping_diff_p50=$(diff_us "${M[dnsredir.ping.p50]}" "${M[direct.ping.p50]}")
ipt_diff_p50=$(diff_us "${M[dnsredir.ping.p50]}" "${M[iptables.ping.p50]}")
lat_diff_avg=$(diff_us "${M[dnsredir.lat.avg]}" "${M[direct.lat.avg]}")
rate_diff_p50=$(diff_us "${M[dnsredir.rate.p50]}" "${M[direct.rate.p50]}")
out "  dnsredir - direct, one in flight: dnsping avg ${ping_diff_avg} us, p50 ${ping_diff_p50} us; dnsperf -q 1 avg ${lat_diff_avg} us;"
out "  at ${RATE_QPS} qps p50 ${rate_diff_p50} us.  dnsredir - iptables, dnsping p50: ${ipt_diff_p50} us"
out "  dnsredir counters per run, % (queries_redirected/sent, replies_restored/completed, replies_unmatched/sent):"
for kind in "${KINDS[@]}"; do
	out "    $(printf '%-5s' "$kind") $(awk -v k="$kind" '$1 == "dnsredir" && $2 == k { printf "%s  ", $12 }' "$RESULTS")"
done
out "    (dnsperf takes any answer to its id on its unconnected socket, also one the reply program did not"
out "    restore; a stub resolver, like dnsping's connected socket, drops it and asks again after a timeout)"

# Who is the bottleneck at saturation? (the direct runs: nothing but client,
# upstream and the network stack between them)
up=$(fmt "${M[direct.tput.up]}" 0)
busy=$(fmt "${M[direct.tput.busy]}" 0)
client=-
[ "$PERF" != 1 ] || client=$(awk -v c="$(cmed direct tput 3)" -v q="${M[direct.tput.qps]}" \
	'BEGIN { if (c == "-" || q == "-") print "-"; else printf "%.0f\n", c * q / 1e4 }')
if [ "$up" != - ] && [ "$up" -ge 90 ]; then
	out "  bottleneck: the single-threaded upstream dnsmasq used ${up}% of a CPU in the direct runs: it is the ceiling"
elif [ "$busy" != - ] && [ "$busy" -ge 80 ]; then
	out "  bottleneck: the machine: its $(nproc) CPUs were ${busy}% busy in the direct runs, shared by dnsperf (${client}% of"
	out "  a CPU with its kernel work), the upstream dnsmasq (${up}%), and other work on this host; not dnsmasq alone"
else
	out "  bottleneck: neither the upstream (${up}% of a CPU) nor the CPUs (${busy}% busy) were saturated in the direct runs"
fi

# ---------------------------------------------------------------------------
# Targets.

r=$(ratio "${M[dnsredir.tput.qps]}" "${M[direct.tput.qps]}")
target "qps dnsredir/direct" "$r" ">= 0.95" "$(verdict "$r" '>=' 0.95)"
if [ "$PERF" = 1 ]; then
	out "  CPU per query, saturating: dnsredir/direct $(ratio "${M[dnsredir.tput.cpu]:-}" "${M[direct.tput.cpu]:-}")," \
		"dnsredir/iptables $(ratio "${M[dnsredir.tput.cpu]:-}" "${M[iptables.tput.cpu]:-}")," \
		"dnsredir/dockerd $(ratio "${M[dnsredir.tput.cpu]:-}" "${M[dockerd.tput.cpu]:-}");" \
		"one in flight: dnsredir - direct $(diff_us "${M[dnsredir.ping.cpu]:-}" "${M[direct.ping.cpu]:-}") us"
fi
r=$(ratio "${M[dnsredir.tput.qps]}" "${M[dockerd.tput.qps]}")
target "qps dnsredir/dockerd" "$r" ">= 4" "$(verdict "$r" '>=' 4)"
target "single-flight latency dnsredir - direct, us (dnsping p50; avg)" "$ping_diff_p50 ($ping_diff_avg)" "<= 5" \
	"$(verdict "${ping_diff_p50#+}" '<=' 5)"
r=$(ratio "${M[dnsredir.ping.p50]}" "${M[dockerd.ping.p50]}" 3)
ra=$(ratio "${M[dnsredir.ping.avg]}" "${M[dockerd.ping.avg]}" 3)
target "single-flight latency dnsredir/dockerd (dnsping p50; avg)" "$r ($ra)" "< 0.2" "$(verdict "$r" '<' 0.2)"
