#!/usr/bin/env bash
# Part "bpf": what each TC program costs per packet on real redirected
# traffic, from the kernel's own accounting (kernel.bpf_stats_enabled=1, then
# run_time_ns / run_cnt of 'bpftool prog show'), plus the BPF_PROG_TEST_RUN
# figures of build/tests/test_datapath.
#
# Phases, each a dnsperf run inside one container with dnsredir attached:
#   saturating  -> 127.0.0.11, dnsperf $BENCH_TPUT_ARGS: every query is rewritten
#   rate        -> 127.0.0.11, dnsperf -c 1 -Q $BENCH_RATE_QPS: the same, unhurried
#   lo-pass     -> a dnsmasq on 127.0.0.1:5300 inside the container: queries and
#               answers both cross lo ingress on the pass path (not to
#               127.0.0.11), which calibrates what the lo program costs for
#               the restored replies that cross lo after the reply program
#               redirected them there.
#
# Per redirected packet:
#   query program: (run_time - (run_cnt - queries_redirected) * lo_pass_ns) / queries_redirected
#   reply program: run_time / replies_restored (all of its time charged to the
#                  replies it restored: an upper bound; little else reaches eth0)
# run_time_ns includes the accounting's own two clock reads per run: an empty
# program (bench/nop.bpf.c) on lo egress shows that floor. A last phase samples the whole machine with perf
# (cpu-clock) to see where inside and around the programs the time goes, and
# as a second opinion on ns/run that does not depend on bpf_stats.
# shellcheck source-path=SCRIPTDIR source=../tests/lib/common.sh
source "$(dirname "$0")/../tests/lib/common.sh"
# shellcheck source=../tests/lib/docker.sh
source "$(dirname "$0")/../tests/lib/docker.sh"
PART=bpf
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SECS=${BENCH_BPF_SECS:-5}
RATE_QPS=${BENCH_RATE_QPS:-2000}
read -r -a TPUT_ARGS <<<"${BENCH_TPUT_ARGS:--c 4 -T 2 -q 100}"
PASS_PORT=5300

need_root
need_cmd ip dig dnsmasq docker nsenter setsid flock dnsperf bpftool sysctl
need_agent
bench_docker_up
bench_container "drb${RUN_ID}-bpf"

"$DNSREDIR_AGENT" attach --pid "$CPID" --server "$UPSTREAM_ADDR" >/dev/null
[ "$(cdig 127.0.0.11)" = "$UPSTREAM_ANSWER" ] || fail "no answer through dnsredir: $(cdig 127.0.0.11)"
QID=$(status_get query_prog_id)
RID=$(status_get reply_prog_id)
if [ -z "$QID" ] || [ -z "$RID" ]; then fail "dnsredir-agent status shows no program ids"; fi
log "query prog id $QID, reply prog id $RID"
prog_size() { bpftool prog show id "$1" | awk '/xlated/ { print $2, "xlated,", $4, "jited"; exit }'; }

# the empty program on lo egress: every packet sent on lo crosses it (the
# queries, and both directions of the lo-pass phase; not the replies that
# dnsredir_reply redirects straight to lo ingress)
NOP_OBJ=$BENCH_OUT/nop.bpf.o
clang -O2 -g -Wall -target bpf -I"/usr/include/$(${CC:-cc} -print-multiarch)" -c "$BENCH_DIR/nop.bpf.c" -o "$NOP_OBJ" ||
	fail "cannot build bench/nop.bpf.c"
in_container tc filter add dev lo egress pref 2 handle 0xb bpf da obj "$NOP_OBJ" sec tc
NID=$(in_container tc filter show dev lo egress pref 2 | grep -o ' id [0-9]*' | awk '{ print $2; exit }')
[ -n "$NID" ] || fail "the empty program did not attach"

# the lo pass-path calibration server, inside the container's netns
bench_dnsmasq "" 127.0.0.1 "$PASS_PORT" 10.99.0.9 "nsenter -n -t $CPID"
wait_until 10 bash -c "[ \"\$(nsenter -n -t $CPID dig +short +time=1 +tries=1 -p $PASS_PORT @127.0.0.1 $DNS_NAME A)\" = 10.99.0.9 ]" ||
	fail "the dnsmasq on 127.0.0.1:$PASS_PORT in the container does not answer"

PREV_STATS=$(sysctl -n kernel.bpf_stats_enabled)
cleanup_add sysctl -qw "kernel.bpf_stats_enabled=$PREV_STATS"
sysctl -qw kernel.bpf_stats_enabled=1

# prog_stats ID: "run_time_ns run_cnt" (0 0 while stats never counted)
prog_stats() {
	bpftool prog show id "$1" -j | awk '{
		t = c = 0
		if (match($0, /"run_time_ns":[0-9]+/)) t = substr($0, RSTART + 14, RLENGTH - 14)
		if (match($0, /"run_cnt":[0-9]+/)) c = substr($0, RSTART + 10, RLENGTH - 10)
		print t, c }'
}

# snapshot: q_time q_cnt r_time r_cnt nop_time nop_cnt redirected restored unmatched passed
snapshot() {
	echo "$(prog_stats "$QID") $(prog_stats "$RID") $(prog_stats "$NID") $(status_get queries_redirected) \
$(status_get replies_restored) $(status_get replies_unmatched) $(status_get passed)"
}

declare -A D	# PHASE.FIELD -> delta
phase() {
	local name=$1 a b f i fields=(qt qc rt rc nt nc red res unm pas)
	shift
	a=$(snapshot)
	in_container timeout $((SECS + 30)) dnsperf -d "$QFILE" -l "$SECS" "$@" >"$TEST_TMP/$name.out" 2>&1 &
	local perf_pid=$!	# dnsperf, for the profile phase
	if [ "$name" = profile ]; then
		# a second behind the start, a second ahead of the end: the steady part
		sleep 1
		a=$(snapshot)
		perf record -a -g -e cpu-clock -F "$PERF_HZ" -o "$TEST_TMP/perf.data" -- sleep $((SECS - 2)) >/dev/null 2>&1 || true
		b=$(snapshot)
		wait "$perf_pid" || true
	else
		wait "$perf_pid" || true
		b=$(snapshot)
	fi
	grep -q 'Queries per second' "$TEST_TMP/$name.out" || { cat "$TEST_TMP/$name.out" >&2; fail "dnsperf ($name) failed"; }
	read -r -a A <<<"$a"
	read -r -a B <<<"$b"
	for i in "${!fields[@]}"; do
		f=${fields[i]}
		D[$name.$f]=$((B[i] - A[i]))
	done
	D[$name.qps]=$(awk '/Queries per second/ { printf "%.0f", $4 }' "$TEST_TMP/$name.out")
	log "$name: qps ${D[$name.qps]}, query prog ${D[$name.qt]} ns / ${D[$name.qc]} runs," \
		"reply prog ${D[$name.rt]} ns / ${D[$name.rc]} runs, redirected ${D[$name.red]} restored ${D[$name.res]}"
}

phase saturating -s 127.0.0.11 "${TPUT_ARGS[@]}"
phase rate -s 127.0.0.11 -c 1 -Q "$RATE_QPS"
phase lo-pass -s 127.0.0.1 -p "$PASS_PORT" "${TPUT_ARGS[@]}"
PERF_HZ=${BENCH_PERF_HZ:-10000}
PROFILE=0
if [ "${BENCH_PERF:-1}" = 1 ] && command -v perf >/dev/null && [ "$SECS" -ge 4 ]; then
	phase profile -s 127.0.0.11 "${TPUT_ARGS[@]}"
	[ -s "$TEST_TMP/perf.data" ] && PROFILE=1
fi
sysctl -qw "kernel.bpf_stats_enabled=$PREV_STATS"

div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.0f\n", a / b }'; }
PASS_NS=$(div "${D[lo-pass.qt]}" "${D[lo-pass.qc]}")

out "In-kernel cost of each program on real traffic (kernel.bpf_stats_enabled=1, bpftool run_time_ns/run_cnt),"
out "dnsperf inside one container with dnsredir attached, ${SECS} s per phase; ns per run include the stats' own clock reads"
out ""
out "$(printf '  %-11s %-15s %7s %9s %9s %10s %9s %12s' phase program qps run_cnt ns/run rewritten other ns/rewritten)"
for p in saturating rate lo-pass; do
	q_other=$((D[$p.qc] - D[$p.red]))
	r_other=$((D[$p.rc] - D[$p.res]))
	if [ "$p" = lo-pass ]; then
		q_est=- r_est=-
	else
		# the lo program's other runs are the restored replies, on the pass path
		q_est=$(awk -v t="${D[$p.qt]}" -v o="$q_other" -v pass="$PASS_NS" -v n="${D[$p.red]}" \
			'BEGIN { if (n == 0 || pass == "-") print "-"; else printf "%.0f\n", (t - o * pass) / n }')
		r_est=$(div "${D[$p.rt]}" "${D[$p.res]}")
	fi
	out "$(printf '  %-11s %-15s %7s %9s %9s %10s %9s %12s' "$p" dnsredir_query "${D[$p.qps]}" "${D[$p.qc]}" \
		"$(div "${D[$p.qt]}" "${D[$p.qc]}")" "${D[$p.red]}" "$q_other" "$q_est")"
	out "$(printf '  %-11s %-15s %7s %9s %9s %10s %9s %12s' "" dnsredir_reply "" "${D[$p.rc]}" \
		"$(div "${D[$p.rt]}" "${D[$p.rc]}")" "${D[$p.res]}" "$r_other" "$r_est")"
	out "$(printf '  %-11s %-15s %7s %9s %9s %10s %9s %12s' "" "(empty prog)" "" "${D[$p.nc]}" \
		"$(div "${D[$p.nt]}" "${D[$p.nc]}")" - - -)"
	[ "$p" != saturating ] || { SAT_Q=$q_est SAT_R=$r_est; }
	[ "$p" != rate ] || { RATE_Q=$q_est RATE_R=$r_est; }
done
NOP_NS=$(div "${D[lo-pass.nt]}" "${D[lo-pass.nc]}")
net() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "") print "-"; else printf "%.0f\n", a - b }'; }
out "  rewritten = queries_redirected (query) / replies_restored (reply); other = the rest of the runs"
out "  sizes: dnsredir_query $(prog_size "$QID"), dnsredir_reply $(prog_size "$RID")"
out "  (empty prog) = bench/nop.bpf.c on lo egress: the floor any TC program pays here, the clock reads"
out "  of bpf_stats included: ${NOP_NS} ns/run in lo-pass. Net of it, saturating: query $(net "$SAT_Q" "$NOP_NS") ns/rewritten,"
out "  reply $(net "$SAT_R" "$NOP_NS") ns/rewritten, lo pass path $(net "$PASS_NS" "$NOP_NS") ns"
out "  (lo: restored replies crossing lo again, pass path, charged at the lo-pass ns/run = ${PASS_NS} ns)"
out "  unmatched replies (not restored; dnsperf still counts them): saturating ${D[saturating.unm]}, rate ${D[rate.unm]}"

# Where the time goes: perf's cpu-clock samples over the whole machine during
# the profile phase. "incl" counts samples anywhere under the program (its
# helpers too), self only its own instructions; ns/run = sampled time / runs.
if [ "$PROFILE" = 1 ]; then
	perf report -i "$TEST_TMP/perf.data" --children --sort sym --stdio -g none >"$TEST_TMP/perf-children.txt" 2>/dev/null || true
	total_ns=$(awk '/Event count/ { print $NF; exit }' "$TEST_TMP/perf-children.txt")
	cp "$TEST_TMP/perf-children.txt" "$BENCH_OUT/bpf-perf-report.txt"
	out ""
	out "  perf, cpu-clock sampling at ${PERF_HZ} Hz on all CPUs, $((SECS - 2)) s of a saturating run (qps ${D[profile.qps]}):"
	for prog in query reply; do
		line=$(grep -E "bpf_prog_[0-9a-f]+_dnsredir_$prog\$" "$TEST_TMP/perf-children.txt" | head -n 1)
		incl=$(awk '{ sub(/%/, "", $1); print $1 }' <<<"$line")
		self=$(awk '{ sub(/%/, "", $2); print $2 }' <<<"$line")
		if [ "$prog" = query ]; then runs=${D[profile.qc]} rw=${D[profile.red]}; else runs=${D[profile.rc]} rw=${D[profile.res]}; fi
		bs=$(if [ "$prog" = query ]; then div "${D[profile.qt]}" "${D[profile.qc]}"; else div "${D[profile.rt]}" "${D[profile.rc]}"; fi)
		pn=$(awk -v p="$incl" -v t="$total_ns" -v n="$runs" 'BEGIN { if (p == "" || n == 0) print "-"; else printf "%.0f\n", p / 100 * t / n }')
		pr=$(awk -v p="$incl" -v t="$total_ns" -v n="$rw" 'BEGIN { if (p == "" || n == 0) print "-"; else printf "%.0f\n", p / 100 * t / n }')
		out "    dnsredir_$prog: ${incl:-0}% of all samples incl. helpers, ${self:-0}% self: ${pn} ns/run sampled vs ${bs} ns/run"
		out "      by bpf_stats ($runs runs); all its samples charged to the $rw rewritten packets: ${pr} ns each (upper bound)"
		callees=$(perf report -i "$TEST_TMP/perf.data" --no-children --parent "bpf_prog_.*_dnsredir_$prog" \
			--sort parent,sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '\[other\]' |
			awk 'NF >= 3 { s = $NF; if (s ~ /^bpf_prog_/) s = "(own code)"; printf "%s %s, ", s, $1 }' | head -c 400)
		out "      split: ${callees%, }"
	done
fi

# BPF_PROG_TEST_RUN figures from the unit test
TD=$TESTS_ROOT/build/tests/test_datapath
if [ ! -x "$TD" ]; then
	make -C "$TESTS_ROOT" --no-print-directory build/tests/test_datapath >&2 || true
fi
out ""
if [ -x "$TD" ]; then
	td_out=$("$TD" 2>&1 || true)
	out "  build/tests/test_datapath (BPF_PROG_TEST_RUN, synthetic packets):"
	while IFS= read -r line; do out "    $line"; done < <(printf '%s\n' "$td_out" | grep 'ns/packet' || echo "(no ns/packet lines)")
else
	out "  build/tests/test_datapath: not built (make units)"
fi

target "query program ns per redirected query (saturating; rate: $RATE_Q)" "$SAT_Q" "<= 250" "$(verdict "$SAT_Q" '<=' 250)"
target "reply program ns per restored reply (saturating; rate: $RATE_R)" "$SAT_R" "<= 250" "$(verdict "$SAT_R" '<=' 250)"
