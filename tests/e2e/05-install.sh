#!/usr/bin/env bash
# `make install` puts the binary, the default config and the systemd unit in
# place, and the unit passes `systemd-analyze verify`.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

need_cmd make systemd-analyze
root=$TEST_TMP/root
make -s -C "$TESTS_ROOT" install DESTDIR="$root" PREFIX=/usr/local >/dev/null
for f in usr/local/bin/dnsredir-agent etc/dnsredir/dnsredir.conf lib/systemd/system/dnsredir-agent.service; do
	[ -e "$root/$f" ] || fail "make install did not install /$f"
	pass "installed /$f"
done
# whole output first: grep -q would close the pipe early, and the binary die of SIGPIPE
help=$("$root/usr/local/bin/dnsredir-agent" --help 2>&1) || fail "installed binary: --help failed: $help"
[[ $help == *'dnsredir-agent attach'* ]] || fail "installed binary has no --help: $help"

# verify looks for the ExecStart binary on this system: point it at the installed one
unit=$TEST_TMP/dnsredir-agent.service
sed "s|/usr/local/bin/dnsredir-agent|$root/usr/local/bin/dnsredir-agent|g; s|/etc/dnsredir/|$root/etc/dnsredir/|g" \
	"$root/lib/systemd/system/dnsredir-agent.service" >"$unit"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
# docker.service is not installed everywhere: only warnings about it are fine
problems=$(printf '%s\n' "$out" | grep -v -e 'docker.service' -e '^$' || true)
[ -z "$problems" ] || fail "systemd-analyze verify: $problems"
pass "systemd-analyze verify"

# the shipped config loads: the agent refuses bad configs before doing anything
bad=$TEST_TMP/bad.conf
printf '[agent]\nresync_interval = soon\n' >"$bad"
if out=$("$root/usr/local/bin/dnsredir-agent" run --config "$bad" 2>&1); then
	fail "a bad config was accepted"
fi
[[ $out == *"resync_interval"*"soon"* ]] || fail "bad config message does not name the key and value: $out"
pass "bad config refused: $out"
