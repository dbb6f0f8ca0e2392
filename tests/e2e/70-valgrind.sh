#!/usr/bin/env bash
# The agent under valgrind (memcheck): the CLI commands in the netns topology
# (tests/lib/netns.sh), then the daemon against the real dockerd
# (tests/lib/docker.sh) through an attach on the initial sync, an attach on a
# start event, a refused label, timer resyncs (every second), a SIGHUP reload,
# a die event and SIGTERM. Every run must exit with its own status (valgrind
# exits 99 on any error, a definite leak included), and its log must have no
# invalid access, no use of uninitialised memory, no unhandled syscall and no
# definitely lost bytes. "Still reachable" memory (libcurl, gnutls) is allowed.
#
# Debian 12's valgrind (3.19) does not know pidfd_open (syscall 434): it
# answers ENOSYS, and the agent then checks the process by its start time, as
# on kernels older than 5.3; that one unhandled syscall is therefore allowed.
# The first of these that runs the agent is used, or the test is skipped:
#   $VALGRIND (a command), valgrind on PATH, /opt/valgrind-*/usr/bin/valgrind.bin
#   (a newer Debian package unpacked with dpkg -x; VALGRIND_LIB is set for it).
# tests/lib/pidfd-shim.c, preloaded, tells memcheck about the map ids the
# kernel writes for BPF_OBJ_GET_INFO_BY_FD.
# Known faults of libraries are suppressed in tests/lib/valgrind.supp, each
# with its reason.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/netns.sh
source "$(dirname "$0")/../lib/netns.sh"

SHIM_SRC=$TESTS_ROOT/tests/lib/pidfd-shim.c
SUPP=$TESTS_ROOT/tests/lib/valgrind.supp
VG=()

vg_opts() {
	printf '%s\n' --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
		--track-fds=no --num-callers=30 "--suppressions=$SUPP" "--log-file=$1"
}

# vg_cmd LOG CMD...: CMD under valgrind, the shim preloaded.
vg_cmd() {
	local logf=$1 opts
	shift
	mapfile -t opts < <(vg_opts "$logf")
	env LD_PRELOAD="$SHIM" "${VG[@]}" "${opts[@]}" "$@"
}

# vg_problems LOG: what is wrong in a valgrind log, one line each; empty if clean.
vg_problems() {
	local logf=$1
	grep -E 'Invalid (read|write|free)|uninitialised|Conditional jump|Mismatched free|unhandled .*syscall|Syscall param|Source and destination overlap|Process terminating' "$logf" |
		grep -v 'unhandled .*syscall: 434' || true
	grep -E 'definitely lost: ' "$logf" | grep -Ev 'definitely lost: 0 bytes' || true
	grep -q 'ERROR SUMMARY: 0 errors' "$logf" || echo "no 'ERROR SUMMARY: 0 errors' line"
}

# vg_check LOG WHAT: the log must be clean.
vg_check() {
	local problems
	problems=$(vg_problems "$1")
	if [ -n "$problems" ]; then
		cat "$1" >&2
		fail "$2: valgrind found: $problems"
	fi
	pass "$2: valgrind clean ($(grep -o 'total heap usage: .*' "$1" | head -n 1))"
}

# vg_agent NAME EXPECTED_RC ARG...: one CLI command under valgrind.
vg_agent() {
	local name=$1 want=$2 logf=$TEST_TMP/vg-$1.txt
	shift 2
	AGENT_RC=0
	vg_cmd "$logf" "$DNSREDIR_AGENT" "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || AGENT_RC=$?
	AGENT_OUT=$(cat "$TEST_TMP/out")
	AGENT_ERR=$(cat "$TEST_TMP/err")
	[ "$AGENT_RC" = "$want" ] || {
		cat "$logf" >&2
		fail "valgrind dnsredir-agent $*: exit $AGENT_RC, expected $want: $AGENT_ERR"
	}
	vg_check "$logf" "dnsredir-agent $* (exit $AGENT_RC)"
}

# A valgrind that runs 'status' of a netns process cleanly: VG, or skip.
find_valgrind() {
	local candidates=() c dir v
	[ -n "${VALGRIND:-}" ] && candidates+=("$VALGRIND")
	command -v valgrind >/dev/null && candidates+=(valgrind)
	mapfile -t -O "${#candidates[@]}" candidates < <(
		printf '%s\n' /opt/valgrind-*/usr/bin/valgrind.bin | grep -v '\*' | sort -rV)
	[ ${#candidates[@]} -gt 0 ] || skip "no valgrind"
	for c in "${candidates[@]}"; do
		dir=$(dirname "$c")
		if [ "${c##*/}" = valgrind.bin ] && [ -d "$dir/../libexec/valgrind" ]; then
			VG=(env "VALGRIND_LIB=$(cd "$dir/../libexec/valgrind" && pwd)" "$c")
		else
			read -r -a VG <<<"$c"
		fi
		v=$("${VG[@]}" --version 2>/dev/null) || continue
		vg_cmd "$TEST_TMP/vg-probe.txt" "$DNSREDIR_AGENT" status --pid "$CLIENT_PID" >/dev/null 2>&1 || true
		if ! grep 'unhandled .*syscall' "$TEST_TMP/vg-probe.txt" | grep -qv 'syscall: 434'; then
			log "using $v: ${VG[*]}"
			return 0
		fi
		log "$v ($c) cannot run the agent: $(grep -m 1 -o 'unhandled .*syscall: [0-9]*' "$TEST_TMP/vg-probe.txt")"
	done
	skip "no valgrind here implements the syscalls the agent needs (pidfd_open, 434: valgrind >= 3.24); set VALGRIND or unpack one under /opt/valgrind-*"
}

ask_client() { dns_a "$NS_CLIENT" "$RESOLVER_ADDR" "$DNS_NAME"; }

check_cli() {
	vg_agent status-before 0 status --pid "$CLIENT_PID"
	assert_eq "attached=no" "$(grep '^attached=' <<<"$AGENT_OUT")" "status before attach"
	vg_agent attach 0 attach --pid "$CLIENT_PID" --server "$UPSTREAM_ADDR:53"
	assert_eq "$UPSTREAM_ANSWER" "$(ask_client)" "answer after attach under valgrind"
	vg_agent attach-again 0 attach --pid "$CLIENT_PID" --server "$UPSTREAM_ADDR:53"
	vg_agent attach-update 0 attach --pid "$CLIENT_PID" --server "$UPSTREAM_ADDR:5353"
	vg_agent attach-back 0 attach --pid "$CLIENT_PID" --server "$UPSTREAM_ADDR"
	assert_eq "$UPSTREAM_ANSWER" "$(ask_client)" "answer after attach, update and back"
	vg_agent status 0 status --pid "$CLIENT_PID"
	assert_eq "attached=yes" "$(grep '^attached=' <<<"$AGENT_OUT")" "status after attach"
	# the error paths
	vg_agent attach-no-pid 1 attach --pid 999999999 --server "$UPSTREAM_ADDR"
	vg_agent attach-bad-server 2 attach --pid "$CLIENT_PID" --server 300.1.1.1
	vg_agent attach-host 1 attach --pid $$ --server "$UPSTREAM_ADDR"
	vg_agent detach 0 detach --pid "$CLIENT_PID"
	assert_eq "$RESOLVER_ANSWER" "$(ask_client)" "answer after detach under valgrind"
	vg_agent detach-again 0 detach --pid "$CLIENT_PID"
}

# The daemon, under valgrind, logging to AGENT_LOG.
vg_daemon_start() {
	local opts
	AGENT_LOG=$TEST_TMP/agent.log
	VG_DAEMON_LOG=$TEST_TMP/vg-daemon.txt
	mapfile -t opts < <(vg_opts "$VG_DAEMON_LOG")
	setsid env LD_PRELOAD="$SHIM" "${VG[@]}" "${opts[@]}" "$DNSREDIR_AGENT" run --config /dev/null \
		--resync-interval 1 --log-level debug >>"$AGENT_LOG" 2>&1 </dev/null &
	AGENT_PID=$!
	cleanup_add kill_group "$AGENT_PID"
	debug_hint "agent log: $AGENT_LOG; valgrind log: $VG_DAEMON_LOG"
}

# expect_log_within SECS PATTERN WHAT (valgrind is slow)
expect_log_within() {
	wait_log "$1" "$2" || { cat "$AGENT_LOG" >&2; fail "agent log: no line matching '$2' ($3)"; }
	pass "agent log: $3"
}

timer_resyncs() { grep -c 'event=resync trigger=timer' "$AGENT_LOG" || true; }
timer_resyncs_at_least() { [ "$(timer_resyncs)" -ge "$1" ]; }

check_daemon() {
	local early=dr${RUN_ID}-early late=dr${RUN_ID}-late bad=dr${RUN_ID}-bad timers rc=0
	run_container "$early" --label "dnsredir.server=$UPSTREAM_ADDR"
	vg_daemon_start
	expect_log_within 120 'event=connected' "connected to dockerd"
	expect_log_within 120 "container=$early .*event=attached" "the early container attached by the initial sync"
	expect_answer "$early" "$UPSTREAM_ANSWER" "redirected by the agent under valgrind"

	run_container "$late" --label "dnsredir.server=$UPSTREAM_ADDR"
	expect_log_within 120 "container=$late .*event=attached" "the late container attached on its start event"
	expect_answer "$late" "$UPSTREAM_ANSWER" "redirected on start"
	run_container "$bad" --label "dnsredir.server=not-an-ip"
	expect_log_within 60 "container=$bad .*event=skipped" "a bad label refused"

	wait_until 60 timer_resyncs_at_least 2 || fail "fewer than 2 timer resyncs: $(timer_resyncs)"
	pass "timer resyncs: $(timer_resyncs)"

	kill -HUP "$AGENT_PID"
	expect_log_within 60 'event=reloaded' "SIGHUP reloads"
	expect_log_within 60 'event=resync trigger=reload' "SIGHUP resyncs"

	docker stop -t 1 "$late" >/dev/null
	expect_log_within 60 "container=$late .*event=forgotten reason=died" "the die event handled"
	timers=$(timer_resyncs)
	wait_until 60 timer_resyncs_at_least "$((timers + 1))" || fail "no timer resync after the die event"
	kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent died under valgrind: $(tail -n 20 "$AGENT_LOG")"

	kill -TERM "$AGENT_PID"
	# the leak check at exit takes valgrind a while
	wait_until 120 exited "$AGENT_PID" || fail "the agent under valgrind did not exit within 120 s of SIGTERM"
	wait "$AGENT_PID" || rc=$?
	expect_log_within 5 'event=stopped' "clean stop logged"
	[ "$rc" -eq 0 ] || { cat "$VG_DAEMON_LOG" >&2; fail "the daemon under valgrind exited $rc"; }
	pass "the daemon under valgrind exited 0"
	vg_check "$VG_DAEMON_LOG" "the daemon"
	expect_answer "$early" "$UPSTREAM_ANSWER" "after the agent stopped"
}

main() {
	need_root
	need_cmd ip tc dig dnsmasq iptables-restore setsid od cc docker nsenter flock
	need_agent
	SHIM=$TEST_TMP/pidfd-shim.so
	cc -O2 -Wall -Werror -shared -fPIC -o "$SHIM" "$SHIM_SRC" -ldl || fail "cannot build $SHIM_SRC"

	topo_up
	find_valgrind
	check_cli

	# the daemon part: docker.sh's own addresses and upstream from here on
	# shellcheck source=../lib/docker.sh
	source "$TESTS_ROOT/tests/lib/docker.sh"
	docker_up
	lock_host docker
	upstream_up
	network_up
	check_daemon
	echo "all checks passed"
}

main "$@"
