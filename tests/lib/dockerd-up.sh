#!/usr/bin/env bash
# Makes sure a Docker engine answers on /var/run/docker.sock, starting
# dockerd in the background when none does, and that the tiny busybox image
# the tests run ("dnsredir-test/busybox:1") exists, unless --no-image. Idempotent.
set -euo pipefail

sock=/var/run/docker.sock
log=${DNSREDIR_DOCKERD_LOG:-/var/log/dnsredir-test-dockerd.log}

docker_ok() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if ! docker_ok; then
	command -v dockerd >/dev/null || { echo "dockerd-up: dockerd is not installed" >&2; exit 1; }
	echo "dockerd-up: starting dockerd (log: $log)"
	# live-restore lets the tests restart dockerd under running containers
	setsid dockerd --live-restore >"$log" 2>&1 </dev/null &
	for _ in $(seq 1 150); do
		docker_ok && break
		sleep 0.2
	done
	docker_ok || { echo "dockerd-up: dockerd did not come up; last log lines:" >&2; tail -20 "$log" >&2; exit 1; }
fi

[ "${1:-}" = --no-image ] && exit 0

if ! docker image inspect dnsredir-test/busybox:1 >/dev/null 2>&1; then
	root=$(mktemp -d)
	trap 'rm -rf "$root"' EXIT
	mkdir -p "$root/bin" "$root/etc" "$root/tmp"
	cp /bin/busybox "$root/bin/busybox"
	for app in $("$root/bin/busybox" --list); do
		[ "$app" = busybox ] || ln -sf busybox "$root/bin/$app"
	done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
	tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' - dnsredir-test/busybox:1 >/dev/null
	echo "dockerd-up: imported dnsredir-test/busybox:1"
fi
