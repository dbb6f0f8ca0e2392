# dnsredir-agent in a container.
#
#   docker build -t dnsredir-agent .
#   docker run -d --name dnsredir-agent --restart unless-stopped \
#     --cap-drop ALL --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add SYS_PTRACE \
#     --security-opt apparmor=unconfined \
#     --security-opt no-new-privileges --pid=host --network none --read-only \
#     -v /var/run/docker.sock:/var/run/docker.sock dnsredir-agent
#
# Why each flag (tests/lib/image.sh has the same list, and tests/e2e/40-image.sh
# runs the image with it):
#   SYS_ADMIN    setns() into containers' netns; bpf() (it also counts as
#                CAP_BPF + CAP_PERFMON); Docker's seccomp profile allows
#                setns/bpf once it is granted, so seccomp can stay on
#   NET_ADMIN    tc clsact/filters over netlink, SCHED_CLS program load
#   SYS_PTRACE   open /proc/PID/ns/net of processes holding capabilities the
#                agent lacks; hold a created container's process at its exec
#   apparmor=unconfined     docker-default limits ptrace to its own peers
#                (hosts with AppArmor)
#   --pid=host   the PIDs Docker reports are host PIDs
#   docker.sock  the Docker API (whoever holds it is root on the host anyway)
# On hosts where it works, --privileged instead of the capability and
# security-opt flags does too.

FROM debian:bookworm-slim AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY deploy/install-deps.sh deploy/
# the same package list as a build on the host
RUN ./deploy/install-deps.sh build \
	&& rm -rf /var/lib/apt/lists/*
COPY Makefile ./
COPY config/ config/
COPY deploy/ deploy/
COPY bpf/ bpf/
COPY agent/ agent/
RUN make -j"$(nproc)" \
	&& make install DESTDIR=/out PREFIX=/usr/local \
	&& strip /out/usr/local/bin/dnsredir-agent \
	&& readelf -d /out/usr/local/bin/dnsredir-agent \
	   | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' \
	   | while read -r so; do dpkg -S "*/$so"; done \
	   | cut -d: -f1 | sort -u >/out/runtime-packages \
	&& cat /out/runtime-packages
# marks the (untagged) build-stage image, so that old ones can be found and removed
LABEL dnsredir.stage=build

FROM debian:bookworm-slim
ARG VERSION=""
ARG REVISION=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="dnsredir-agent" \
      org.opencontainers.image.description="Watches the Docker API and redirects the DNS of containers labelled dnsredir.server=IP[:PORT] to that server with TC-BPF programs in their network namespaces" \
      org.opencontainers.image.base.name="debian:bookworm-slim" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="NOASSERTION"
# only the packages of the libraries the binary links (found by the build stage)
COPY --from=build /out/runtime-packages /tmp/
RUN apt-get update -qq \
	&& xargs -a /tmp/runtime-packages apt-get install -y -qq --no-install-recommends >/dev/null \
	&& rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt/* /var/log/dpkg.log /tmp/runtime-packages
COPY --from=build /out/usr/local/bin/dnsredir-agent /usr/local/bin/dnsredir-agent
COPY --from=build /out/etc/dnsredir/dnsredir.conf /etc/dnsredir/dnsredir.conf
# fails the build if a library is missing
RUN ! ldd /usr/local/bin/dnsredir-agent | grep 'not found' && dnsredir-agent --help >/dev/null

# No HEALTHCHECK: the agent has no health endpoint or status socket, and a
# check that only asks "is the process there" adds nothing to what Docker
# already knows (the container exits when the agent does; use a restart policy).
# SIGTERM (docker stop) ends it within a second; the redirects stay in place.
ENTRYPOINT ["/usr/local/bin/dnsredir-agent"]
CMD ["run"]
