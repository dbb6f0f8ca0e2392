#!/usr/bin/env bash
# The agent against a fake Docker API that misbehaves (tests/fake/hostile-docker.py):
# garbage and oversized event lines, streams cut mid-line, a stream that
# trickles, the wrong content type, HTTP 500, 50 MiB inspect answers, a /_ping
# without Api-Version, and a socket that appears only after the agent started.
# In every case the agent must stay alive, keep its memory small, say what is
# wrong in its log, keep reconnecting, and stop promptly on SIGTERM.
#
# No dockerd and nothing privileged: the fake's containers all have an invalid
# label and network mode "none", so the agent never enters a netns. Everything
# goes over unix sockets in $TEST_TMP.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

need_cmd python3 setsid
need_agent

FAKE=$TESTS_ROOT/tests/fake/hostile-docker.py
# The agent's peak RSS (VmHWM) must stay under this, whatever dockerd sends.
RSS_MAX_KB=${RSS_MAX_KB:-32768}
# The fake's ids (see hostile-docker.py).
ID_C=$(printf 'c3%.0s' {1..32})
ID_D=$(printf 'd4%.0s' {1..32})

check_rss=1
if grep -qaE '__asan_init|AddressSanitizer' "$DNSREDIR_AGENT"; then
	# ASan's quarantine and shadow memory make RSS meaningless
	check_rss=0
	log "sanitizer build: not checking RSS"
fi

# fake_start MODE SOCKET
fake_start() {
	start_bg "fake-$1" "" python3 "$FAKE" "$1" "$2"
	FAKE_PID=$BG_PID
	FAKE_LOG=$TEST_TMP/fake-$1.log
	wait_until 10 grep -q '^fake: listening' "$FAKE_LOG" || fail "the fake docker ($1) did not start"
}

# agent_run NAME SOCKET: the agent as a service would run it, against SOCKET.
agent_run() {
	start_bg "agent-$1" "" "$DNSREDIR_AGENT" run --config /dev/null \
		--docker-host "unix://$2" --resync-interval 1
	AGENT_PID=$BG_PID
	AGENT_LOG=$TEST_TMP/agent-$1.log
	CASE=$1
}

# count FILE ERE: matching lines.
count() { grep -Ec -- "$2" "$1" || true; }

# at_least N FILE ERE
at_least() { [ "$(count "$2" "$3")" -ge "$1" ]; }

# expect SECS N FILE ERE WHAT: waits until FILE has N lines matching ERE.
expect() {
	local secs=$1 n=$2 file=$3 re=$4 what=$5
	if ! wait_until "$secs" at_least "$n" "$file" "$re"; then
		printf -- '--- %s\n' "$file" >&2
		tail -n 40 "$file" >&2
		fail "$CASE: $what: wanted $n lines matching '$re' within ${secs}s, got $(count "$file" "$re")"
	fi
	pass "$CASE: $what ($(count "$file" "$re") lines)"
}

# expect_none FILE ERE WHAT
expect_none() {
	local n
	n=$(count "$1" "$2")
	[ "$n" -eq 0 ] || { grep -E -- "$2" "$1" | head -n 5 >&2; fail "$CASE: $3: $n lines match '$2'"; }
	pass "$CASE: $3"
}

alive() {
	exited "$AGENT_PID" && { cat "$AGENT_LOG" >&2; fail "$CASE: the agent died"; }
	pass "$CASE: agent alive"
}

# Peak RSS over the agent's whole life so far.
rss_check() {
	local hwm
	[ "$check_rss" = 1 ] || return 0
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$AGENT_PID/status")
	[ -n "$hwm" ] || fail "$CASE: no VmHWM for the agent"
	[ "$hwm" -lt "$RSS_MAX_KB" ] || fail "$CASE: the agent's peak RSS is ${hwm} kB (limit ${RSS_MAX_KB} kB)"
	pass "$CASE: peak RSS ${hwm} kB < ${RSS_MAX_KB} kB"
}

# Stops the agent, which must stop promptly and cleanly.
stop_agent() {
	local start took
	alive
	rss_check
	start=$(date +%s%N)
	kill -TERM "$AGENT_PID"
	wait_until 5 exited "$AGENT_PID" || fail "$CASE: the agent did not stop within 5 s of SIGTERM"
	took=$((($(date +%s%N) - start) / 1000000))
	wait "$AGENT_PID" || fail "$CASE: the agent exited with status $?"
	grep -q 'event=stopped' "$AGENT_LOG" || fail "$CASE: no event=stopped in the log"
	pass "$CASE: stopped in ${took} ms"
}

# Stops the agent, then the fake.
stop_all() {
	stop_agent
	kill_group "$FAKE_PID"
}

# One mode: fake on a socket of its own, the agent against it.
start_case() {
	SOCK=$TEST_TMP/$1.sock
	fake_start "$1" "$SOCK"
	agent_run "$1" "$SOCK"
	log "case $1"
}

# --- garbage lines, then valid ones --------------------------------------
start_case malformed-json
expect 15 1 "$AGENT_LOG" 'container=hostile-c .*event=skipped reason=.*not-an-ip' \
	"the valid start event after the garbage is handled"
expect 5 1 "$FAKE_LOG" "containers/$ID_C/json" "the container of that event inspected"
expect 10 20 "$AGENT_LOG" 'level=warn event=bad-event' "garbage lines logged as bad events"
expect 10 2 "$AGENT_LOG" 'event=disconnected error="event stream ended"' "stream end noticed"
expect 10 2 "$AGENT_LOG" 'event=connected' "reconnected"
expect_none "$FAKE_LOG" "containers/$ID_D/json" "no inspect of an id from a line that is not a start event"
stop_all

# --- one 8 MiB line ------------------------------------------------------
start_case huge-line
expect 15 1 "$AGENT_LOG" 'event=bad-event .*too large' "the oversized line is reported"
expect 15 1 "$AGENT_LOG" 'container=hostile-c .*event=skipped' "the valid line after it is handled"
expect 10 2 "$AGENT_LOG" 'event=connected' "reconnected"
stop_all

# --- streams cut mid-line ------------------------------------------------
start_case cut-mid-line
expect 10 3 "$AGENT_LOG" 'event=disconnected error="event stream: ' "cut streams reported"
expect 10 3 "$AGENT_LOG" 'event=connected' "reconnected after each cut"
expect 5 1 "$AGENT_LOG" 'container=hostile-c .*event=skipped' "the complete line before the cut is handled"
expect_none "$AGENT_LOG" 'event=bad-event' "half lines are never glued to the next stream"
expect_none "$FAKE_LOG" "containers/$ID_D/json" "the half line is never acted on"
stop_all

# --- one byte every 100 ms -----------------------------------------------
start_case slow-trickle
expect 10 1 "$AGENT_LOG" 'event=docker-unavailable .*no answer from dockerd' "a stream that never answers is given up"
expect 10 1 "$AGENT_LOG" 'event=connected' "connected to the next, trickling, stream"
expect 10 3 "$AGENT_LOG" 'event=bad-event line="\{\}"' "lines put together from 1-byte chunks"
lists=$(count "$FAKE_LOG" 'GET /v[0-9.]+/containers/json')
expect 10 $((lists + 2)) "$FAKE_LOG" 'GET /v[0-9.]+/containers/json' "resyncs go on while the stream trickles"
stop_all

# --- text/html -----------------------------------------------------------
start_case wrong-content-type
# refused while subscribing (docker-unavailable) or just after (disconnected),
# depending on when the body comes; the value quoted without breaking the line
expect 10 2 "$AGENT_LOG" "error=\"events answered content type 'text/html; charset=\\?utf-8\\?'\"\$" \
	"the content type is refused"
expect 10 1 "$AGENT_LOG" 'event=resync-failed .*unreadable answer' "the HTML container list is refused"
expect 10 2 "$AGENT_LOG" 'event=reconnecting' "retried"
stop_all

# --- HTTP 500 ------------------------------------------------------------
start_case http-500
expect 10 3 "$AGENT_LOG" 'event=docker-unavailable .*HTTP 500' "HTTP 500 reported"
expect 10 3 "$AGENT_LOG" 'event=reconnecting' "retried"
stop_all

# --- 50 MiB inspect answers ----------------------------------------------
start_case huge-inspect
expect 15 3 "$AGENT_LOG" 'event=inspect-failed .*answer too large' "oversized inspect answers refused"
expect 15 2 "$AGENT_LOG" 'event=connected' "reconnected"
expect 5 1 "$FAKE_LOG" 'cut by the client' "the agent stops reading early"
stop_all

# --- /_ping without Api-Version ------------------------------------------
start_case ping-no-version
expect 10 3 "$AGENT_LOG" 'event=docker-unavailable .*no Api-Version' "the missing API version reported"
expect 10 3 "$AGENT_LOG" 'event=reconnecting' "retried"
stop_all

# --- a hung dockerd: inspect never answers ------------------------------
# (a resync is blocked in a request: SIGTERM must still stop the agent at once)
start_case hung-inspect
expect 10 1 "$FAKE_LOG" 'inspect of .*: hanging' "the agent is waiting for an inspect"
stop_agent
expect 5 1 "$FAKE_LOG" 'inspect of .*: the client went away' "the hung request was dropped"
kill_group "$FAKE_PID"

# --- the socket appears after the agent started --------------------------
SOCK=$TEST_TMP/late.sock
agent_run late "$SOCK"
expect 5 1 "$AGENT_LOG" 'event=docker-unavailable socket=.*late\.sock' "no socket yet: docker-unavailable"
expect_none "$AGENT_LOG" 'event=connected' "not connected while there is no socket"
fake_start normal "$SOCK"
expect 10 1 "$AGENT_LOG" 'event=connected socket=.*late\.sock api=1\.41' "connected once the socket appears"
expect 5 1 "$AGENT_LOG" 'event=resync trigger=reconnect containers=2' "resynced the listed containers"
expect 5 1 "$AGENT_LOG" 'container=hostile-c .*event=skipped' "the start event handled"
stop_all

echo "all checks passed"
