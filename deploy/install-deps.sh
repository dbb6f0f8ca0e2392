#!/usr/bin/env bash
# Installs the Debian packages dnsredir needs to build (build), to run (run)
# or to test (test). Idempotent: packages already present are not touched.
set -euo pipefail

build_pkgs=(make gcc libc6-dev clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev pkg-config
	libcurl4-openssl-dev libcjson-dev libsystemd-dev libinih-dev linux-libc-dev)
run_pkgs=(docker.io iproute2 iptables)
test_pkgs=(dnsutils dnsmasq-base dnsperf busybox-static debootstrap util-linux
	libcmocka-dev valgrind systemd libclang-rt-14-dev procps psmisc python3)

want=()
for set in "$@"; do
	case "$set" in
	build) want+=("${build_pkgs[@]}") ;;
	run) want+=("${build_pkgs[@]}" "${run_pkgs[@]}") ;;
	test) want+=("${build_pkgs[@]}" "${run_pkgs[@]}" "${test_pkgs[@]}") ;;
	*) echo "usage: $0 build|run|test ..." >&2; exit 2 ;;
	esac
done

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
