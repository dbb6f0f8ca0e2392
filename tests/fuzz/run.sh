#!/usr/bin/env bash
# Runs the libFuzzer targets built by 'make fuzz-build' (build/fuzz/fuzz_*),
# all at once, each for SECONDS, and fails if any of them finds a crash, a
# leak, undefined behaviour, a timeout or a broken invariant.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]     (default: every target)
#
# Each target starts from its seeds (tests/fuzz/corpus/TARGET, read only) and
# keeps what it learns in build/fuzz/corpus/TARGET, so later runs go deeper.
# Findings are written to build/fuzz/artifacts/TARGET-crash-...; replay one
# with: build/fuzz/fuzz_TARGET build/fuzz/artifacts/TARGET-crash-...
# Logs: build/fuzz/logs/TARGET.log. FUZZ_JOBS caps how many run at once
# (default: the number of CPUs). Extra libFuzzer flags: FUZZ_FLAGS.
set -u
cd "$(dirname "$0")/../.." || exit 2
secs=${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}
shift
out=build/fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linebuf event inspect server config)
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$out/logs" "$out/artifacts"

run_one() {
	local t=$1
	mkdir -p "$out/corpus/$t"
	# -timeout: one input taking over 10 s is a hang; -rss_limit_mb: memory
	# the parsers use must stay small whatever they are given.
	# shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
	"$out/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
		-max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$t-" ${FUZZ_FLAGS:-} \
		"$out/corpus/$t" "tests/fuzz/corpus/$t" >"$out/logs/$t.log" 2>&1
	echo $? >"$out/logs/$t.rc"
}

failed=()
for t in "${targets[@]}"; do
	[ -x "$out/fuzz_$t" ] || { echo "no $out/fuzz_$t (run make fuzz-build)" >&2; exit 2; }
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
	printf '  FUZZ     %-8s %ss\n' "$t" "$secs"
	rm -f "$out/logs/$t.rc"
	run_one "$t" &
done
wait
for t in "${targets[@]}"; do
	if [ "$(cat "$out/logs/$t.rc" 2>/dev/null)" = 0 ]; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/logs/$t.log")
		cov=$(grep -o 'cov: [0-9]*' "$out/logs/$t.log" | tail -n 1)
		printf '  ok       %-8s %s runs, %s\n' "$t" "${execs:-?}" "${cov:-cov: ?}"
	else
		failed+=("$t")
		printf '  FAILED   %-8s (log: %s/logs/%s.log)\n' "$t" "$out" "$t"
		grep -E 'ERROR|SUMMARY|check failed|runtime error|Test unit written' "$out/logs/$t.log" | head -n 20 | sed 's/^/    | /'
	fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: findings in: ${failed[*]}"; exit 1; }
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no findings"
