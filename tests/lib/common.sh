# shellcheck shell=bash
# Sourced by every end-to-end test: strict mode, skip/fail, a cleanup stack,
# polling, DNS helpers and a dnsmasq launcher.
#
# Exit status convention (tests/run.sh): 0 pass, 77 skip, anything else fail.
#
# Environment:
#   DNSREDIR_AGENT   the CLI under test (default: build/dnsredir-agent)
#   DEBUG_TEST=1     before teardown, print how to enter the test's namespaces
#                    and wait (Enter on the terminal, or SIGUSR1 / DEBUG_TEST_PAUSE
#                    seconds when there is no terminal)
#   RUN_ID           suffix of every name the test creates (default: random)
set -euo pipefail
# a failure inside $(...) ends the substitution too, not only the test
shopt -s inherit_errexit

TESTS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DNSREDIR_AGENT=${DNSREDIR_AGENT:-$TESTS_ROOT/build/dnsredir-agent}
TEST_NAME=$(basename "$0" .sh)

# Short enough that "dr${RUN_ID}x" still fits an interface name (15 chars),
# random so that two runs (or two people) never share a netns or a container.
RUN_ID=${RUN_ID:-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}

# Scratch space for pid files and daemon logs; removed by the cleanup stack.
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dnsredir-$TEST_NAME.XXXXXX")

log() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }

# Exit 77: tests/run.sh prints the last line of the log as the reason.
skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

pass() { printf 'ok: %s\n' "$*"; }

need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "needs the command '$c'"
	done
}

# The CLI is built by 'make'; without it there is nothing to test.
need_agent() {
	[ -x "$DNSREDIR_AGENT" ] || skip "no agent at $DNSREDIR_AGENT (run make)"
}

# agent_cli ARG...: runs the CLI (attach, detach, status); AGENT_RC,
# AGENT_OUT (stdout) and AGENT_ERR hold the result.
agent_cli() {
	AGENT_RC=0
	"$DNSREDIR_AGENT" "$@" >"$TEST_TMP/agent.out" 2>"$TEST_TMP/agent.err" || AGENT_RC=$?
	AGENT_OUT=$(cat "$TEST_TMP/agent.out")
	AGENT_ERR=$(cat "$TEST_TMP/agent.err")
}

# agent_ok ARG...: the CLI must succeed.
agent_ok() {
	agent_cli "$@"
	[ "$AGENT_RC" -eq 0 ] || fail "'dnsredir-agent $*' exited $AGENT_RC: $AGENT_ERR"
}

# status_value KEY: the value of KEY=... in the last command's output ('status').
status_value() { printf '%s\n' "$AGENT_OUT" | sed -n "s/^$1=//p"; }

# ---------------------------------------------------------------------------
# Cleanup stack: commands run in reverse order at exit, whatever the outcome.

_cleanup_cmds=()
_debug_hints=()

# cleanup_add CMD [ARG...]: the words are quoted now, run at exit.
cleanup_add() {
	local q
	printf -v q '%q ' "$@"
	_cleanup_cmds+=("$q")
}

# debug_hint TEXT: a line shown with DEBUG_TEST=1 before teardown, e.g. how to
# enter a namespace the test made.
debug_hint() { _debug_hints+=("$*"); }

_debug_pause() {
	local h
	[ "${DEBUG_TEST:-0}" = 1 ] || return 0
	{
		echo "DEBUG_TEST: the test's state is still up; to look around:"
		for h in "${_debug_hints[@]}"; do echo "    $h"; done
		echo "    scratch dir: $TEST_TMP"
	} >&2
	# run.sh gives tests /dev/null as stdin: ask the terminal, when there is one
	if { exec 3<>/dev/tty; } 2>/dev/null; then
		printf 'DEBUG_TEST: press Enter to tear down ' >&3
		read -r _ <&3 || true
		exec 3>&-
	else
		local secs=${DEBUG_TEST_PAUSE:-600}
		echo "DEBUG_TEST: no terminal; tearing down in ${secs}s or on 'kill -USR1 $$'" >&2
		trap 'true' USR1
		sleep "$secs" &
		wait $! || true
		kill "$!" 2>/dev/null || true
	fi
}

# On failure the daemons' logs (dnsmasq --log-queries) say what reached whom.
_show_logs() {
	local f
	for f in "$TEST_TMP"/*.log; do
		[ -s "$f" ] || continue
		printf -- '--- last lines of %s\n' "${f##*/}" >&2
		tail -n 15 "$f" >&2
	done
}

_cleanup_run() {
	local rc=$? i
	set +e
	trap - EXIT INT TERM ERR
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		_show_logs
	fi
	_debug_pause
	for ((i = ${#_cleanup_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_cleanup_cmds[i]}" >/dev/null 2>&1 ||
			printf 'cleanup: failed: %s\n' "${_cleanup_cmds[i]}" >&2
	done
	rm -rf "$TEST_TMP"
	exit "$rc"
}

trap _cleanup_run EXIT
# set -e exits silently: say which command ended the test, and where
set -E
trap 'printf "error: %s:%s: \"%s\" exited %s\n" "${BASH_SOURCE[0]##*/}" "$LINENO" "$BASH_COMMAND" "$?" >&2' ERR
# a signal must still tear down what the test built
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Polling and assertions.

# wait_until TIMEOUT_SECS CMD [ARG...]: 0 once CMD succeeds, 1 after the timeout.
wait_until() {
	local timeout=$1 deadline
	shift
	deadline=$(($(date +%s%N) + timeout * 1000000000))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
	pass "$3 = '$1'"
}

# lock_host NAME [TIMEOUT_SECS]: serialises tests that use host-wide resources
# (host addresses, dockerd itself) so that two runs on one machine do not
# collide; held until cleanup. The lock is held by a helper process, not by a
# descriptor of this shell: a descriptor would be inherited by every child,
# and a dockerd started meanwhile would hold the lock forever. The helper also
# lets go when this shell dies without cleanup (SIGKILL).
lock_host() {
	local name=$1 timeout=${2:-300} dir=/run/lock file held
	[ -d "$dir" ] || dir=${TMPDIR:-/tmp}
	file=$dir/dnsredir-e2e-$name.flock
	held=$TEST_TMP/lock-$name.held
	# shellcheck disable=SC2016  # expanded by the helper's sh
	start_bg "lock-$name" "" flock -w "$timeout" "$file" \
		sh -c 'touch "$1" && while kill -0 "$2" 2>/dev/null; do sleep 1; done' sh "$held" "$$"
	until [ -e "$held" ]; do
		! exited "$BG_PID" || fail "could not take the '$name' lock ($file) within ${timeout}s"
		sleep 0.1
	done
}

# ---------------------------------------------------------------------------
# Namespaces and DNS.

# in_netns NETNS_OR_EMPTY CMD...: run CMD in a named netns, or here when empty.
in_netns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@"
	else
		"$@"
	fi
}

# dns_a NETNS_OR_EMPTY SERVER NAME [DIG_OPT...]: the A answers, one a line;
# what dig says on failure ends up in the output too, so comparisons fail loudly.
dns_a() {
	local ns=$1 server=$2 name=$3
	shift 3
	in_netns "$ns" dig +short +time=2 +tries=1 "$@" "@$server" "$name" A 2>&1 || true
}

# start_bg NAME NETNS_OR_EMPTY CMD...: starts CMD in the background, in a
# process group of its own (setsid), with its output in $TEST_TMP/NAME.log;
# the whole group is killed at cleanup.
# Sets BG_PID: 'ip netns exec' and setsid both exec, so it is CMD itself.
start_bg() {
	local name=$1 ns=$2
	shift 2
	if [ -n "$ns" ]; then
		setsid ip netns exec "$ns" "$@" >"$TEST_TMP/$name.log" 2>&1 </dev/null &
	else
		setsid "$@" >"$TEST_TMP/$name.log" 2>&1 </dev/null &
	fi
	BG_PID=$!
	cleanup_add kill_group "$BG_PID"
}

# Ends a process group we started (its leader is our child), politely then
# firmly, and reaps the leader.
kill_group() {
	local pgid=$1
	kill -TERM -- "-$pgid" 2>/dev/null || return 0
	wait_until 3 exited "$pgid" || kill -KILL -- "-$pgid" 2>/dev/null || true
	wait "$pgid" 2>/dev/null || true
}

# True once PID is gone or a zombie waiting to be reaped.
exited() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$state" ] || [ "$state" = Z ]
}

# dnsmasq_start NETNS_OR_EMPTY LISTEN_ADDR PORT NAME ADDR
# An authoritative-only dnsmasq (UDP and TCP on PORT) that answers NAME with
# the A record ADDR and forwards nothing: --no-resolv and no server=, so no
# query ever leaves the test's namespaces. Waits until it answers over UDP and
# TCP. Sets DNSMASQ_PID.
dnsmasq_start() {
	local ns=$1 listen=$2 port=$3 name=$4 addr=$5
	local tag="dnsmasq-${ns:-host}-$listen-$port"

	start_bg "$tag" "$ns" dnsmasq --keep-in-foreground --no-resolv --no-hosts \
		--bind-interfaces --listen-address="$listen" --port="$port" \
		--address="/${name%.}/$addr" --pid-file="$TEST_TMP/$tag.pid" \
		--log-facility=- --log-queries
	# shellcheck disable=SC2034  # for the caller
	DNSMASQ_PID=$BG_PID
	if ! wait_until 10 dnsmasq_answers "$ns" "$listen" "$port" "$name" "$addr"; then
		cat "$TEST_TMP/$tag.log" >&2 || true
		fail "dnsmasq on $listen:$port${ns:+ in $ns} does not answer $name with $addr"
	fi
}

dnsmasq_answers() {
	local ns=$1 listen=$2 port=$3 name=$4 addr=$5
	[ "$(dns_a "$ns" "$listen" "$name" -p "$port")" = "$addr" ] &&
		[ "$(dns_a "$ns" "$listen" "$name" -p "$port" +tcp)" = "$addr" ]
}

# Filters on one TC hook of a netns, one "pref N handle H NAME" per filter, so
# that a test can count them and see their names. Empty when there are none
# (also when there is no clsact).
tc_filters() {
	local ns=$1 dev=$2 hook=$3
	in_netns "$ns" tc filter show dev "$dev" "$hook" |
		awk '/ handle / {
			name = "?"
			for (i = 1; i <= NF; i++) {
				if ($i == "pref") pref = $(i + 1)
				if ($i == "handle") handle = $(i + 1)
				if ($i ~ /^dnsredir_/) name = $i
				if ($i == "bytecode") name = "cbpf"
			}
			print "pref " pref " handle " handle " " name
		}'
}

# filter_names NETNS DEV HOOK: the names of the filters on one hook, sorted, on one line.
filter_names() { tc_filters "$1" "$2" "$3" | awk '{ print $NF }' | sort | xargs; }

# The qdiscs of a device, normalised: refcnt changes when tc filters come and go.
tc_qdiscs() {
	in_netns "$1" tc qdisc show dev "$2" | sed 's/ refcnt [0-9]*//'
}
