# shellcheck shell=bash
# The agent's container image: the Debian base the Dockerfile builds FROM,
# the build itself, and the least-privilege `docker run` flags.
# Source after common.sh (and docker.sh).

BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
AGENT_IMAGE=${AGENT_IMAGE:-dnsredir-agent:test}

# The least privilege the agent needs in a container (measured on Docker
# 20.10, kernel 6.18, no AppArmor; tests/e2e/40-image.sh runs with exactly this).
# Each line says what fails without it.
# shellcheck disable=SC2034  # used by the scripts that source this
AGENT_RUN_FLAGS=(
	# nothing is granted that is not listed here
	--cap-drop ALL
	# setns() into the containers' netns (nothing else grants it); bpf() prog
	# load and map ops, incl. the verifier's pointer rules (CAP_SYS_ADMIN counts
	# as CAP_BPF + CAP_PERFMON); Docker's seccomp profile opens setns/bpf with it
	--cap-add SYS_ADMIN
	# tc qdisc/filter changes over netlink, and loading a SCHED_CLS program
	--cap-add NET_ADMIN
	# open /proc/PID/ns/net of processes whose capabilities are not a subset of
	# the agent's (every container's default set, once ALL is dropped), and
	# hold a created container's process at its exec (ptrace)
	--cap-add SYS_PTRACE
	# AppArmor's docker-default profile limits ptrace to its own peers (runc's
	# init is not one); harmless where AppArmor is off (as on the machine this
	# was measured on, so its need is not measured here)
	--security-opt apparmor=unconfined
	# State.Pid is a host PID: /proc/PID/ns/net and pidfd_open() need the host's PID namespace
	--pid=host
	# the Docker API: events, container list/inspect
	-v /var/run/docker.sock:/var/run/docker.sock
	# hardening that costs nothing: the agent talks to Docker over the unix
	# socket only, writes no file, and never needs setuid
	--network none
	--read-only
	--security-opt no-new-privileges
)

# base_image_ensure: $BASE_IMAGE, made locally with debootstrap when it is not
# there (no registry is reachable from the test machines). Kept afterwards as
# a cache. Made like the official -slim images: no docs, man pages or locales.
base_image_ensure() {
	local root
	docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return 0
	[ "$BASE_IMAGE" = debian:bookworm-slim ] || fail "no image $BASE_IMAGE, and only debian:bookworm-slim can be made here"
	command -v debootstrap >/dev/null || skip "no $BASE_IMAGE image and no debootstrap to make it"
	log "making $BASE_IMAGE with debootstrap (about a minute)"
	root=$TEST_TMP/rootfs
	debootstrap --variant=minbase bookworm "$root" >"$TEST_TMP/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$TEST_TMP/debootstrap.log" >&2; fail "debootstrap failed"; }
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<-'EOF'
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/groff/*
		path-exclude /usr/share/info/*
		path-exclude /usr/share/linda/*
		path-exclude /usr/share/lintian/*
		path-exclude /usr/share/locale/*
		path-include /usr/share/locale/locale.alias
		path-exclude /usr/share/man/*
	EOF
	cat >"$root/etc/apt/apt.conf.d/docker-clean" <<-'EOF'
		DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
		APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
		Dir::Cache::pkgcache "";
		Dir::Cache::srcpkgcache "";
	EOF
	echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
	# the host's apt settings for its mirror (e.g. a snapshot whose Release is past Valid-Until)
	cp /etc/apt/apt.conf.d/99artifact-registry "$root/etc/apt/apt.conf.d/" 2>/dev/null || true
	find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/man/* \
		"$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/log/apt/*
	tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
	rm -rf "$root"
	log "imported $BASE_IMAGE"
}

# agent_image_build: builds $AGENT_IMAGE from the repo's Dockerfile (always:
# Docker's layer cache makes an unchanged rebuild take seconds, and an older
# image under the same tag is simply replaced).
agent_image_build() {
	local rev
	rev=$(git -C "$TESTS_ROOT" rev-parse HEAD 2>/dev/null || true)
	docker build --network host --build-arg "REVISION=$rev" -t "$AGENT_IMAGE" "$TESTS_ROOT" \
		>"$TEST_TMP/docker-build.log" 2>&1 ||
		{ tail -n 40 "$TEST_TMP/docker-build.log" >&2; fail "docker build failed"; }
}
