#!/usr/bin/env bash
# The unit tests and the end-to-end tests that drive the agent's parsers and
# attach path, run again against an ASan+UBSan build (make SAN=1, in
# build-san/): any sanitizer report fails the test it happens in.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

need_root
need_cmd make
[ "${DNSREDIR_BUILD:-build}" = build-san ] && skip "already the sanitizer build"
make -s -C "$TESTS_ROOT" SAN=1 all units >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# 34 (holds at exec, restarts, shared netns) on fewer containers: the count is not the point here
DNSREDIR_BUILD=build-san DNSREDIR_TEST_LOGS=$TEST_TMP/logs FIRST_LOOKUP_COUNT=10 \
	"$TESTS_ROOT/tests/run.sh" test_ 05-install 10-netns 16-pid 30-agent 33-agent 34-agent 60-hostile
