#!/usr/bin/env bash
# Runs dnsredir's tests and ends with one summary line: "N passed, N failed, N skipped".
#
#   tests/run.sh              every test: unit binaries, then the end-to-end scripts
#   tests/run.sh PATTERN...   only the tests whose name contains one of the patterns
#
# A test passes with exit 0, is skipped with exit 77 (a missing prerequisite),
# and fails otherwise. Each test's output goes to $DNSREDIR_TEST_LOGS/NAME.log and
# is printed when it fails. DNSREDIR_BUILD selects the build folder (build-san
# for the sanitizer build).
set -u
cd "$(dirname "$0")/.."
export DNSREDIR_BUILD=${DNSREDIR_BUILD:-build}
export DNSREDIR_AGENT=$PWD/$DNSREDIR_BUILD/dnsredir-agent
logs=${DNSREDIR_TEST_LOGS:-$PWD/$DNSREDIR_BUILD/test-logs}
mkdir -p "$logs"
rm -f "$logs/summary"

tests=()
for t in "$DNSREDIR_BUILD"/tests/test_* tests/e2e/[0-9]*.sh; do
	[ -x "$t" ] || continue
	if [ $# -gt 0 ]; then
		match=0
		for p in "$@"; do [[ $t == *"$p"* ]] && match=1; done
		[ $match = 1 ] || continue
	fi
	tests+=("$t")
done

passed=0 failed=0 skipped=0 failures=()
for t in "${tests[@]}"; do
	name=$(basename "$t")
	log=$logs/${name%.sh}.log
	start=$(date +%s)
	"$t" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(($(date +%s) - start))
	case $rc in
	0) passed=$((passed + 1)); printf 'PASS  %-40s %4ss\n' "$name" "$secs" ;;
	77) skipped=$((skipped + 1)); printf 'SKIP  %-40s %s\n' "$name" "$(tail -n 1 "$log")" ;;
	*) failed=$((failed + 1)); failures+=("$name")
	   printf 'FAIL  %-40s %4ss (exit %s)\n' "$name" "$secs" "$rc"
	   sed 's/^/    | /' "$log" | tail -n 60 ;;
	esac
done
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped" | tee "$logs/summary"
[ "$failed" -eq 0 ]
