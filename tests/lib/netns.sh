# shellcheck shell=bash
# A container without Docker, for the namespace tests and the benchmarks.
# Source after common.sh, then call topo_up.
#
#   client netns ("the container")             router netns            upstream netns
#   eth0 10.250.1.2/24  ---------------- r-client 10.250.1.1/24
#   default via 10.250.1.1                  r-upstream 10.250.2.1/24 ---- eth0 10.250.2.2/24
#   lo: "dockerd" = dnsmasq on 127.0.0.11      ip_forward=1                default via 10.250.2.1
#       (UDP port, TCP port) + Docker's NAT                                dnsmasq :53 (the "upstream")
#   sleep infinity  -> CLIENT_PID
#
# The upstream is off-link on purpose: the redirected query must go through a
# gateway, as it does from a real container. Every address lives only inside
# these namespaces, so nothing here can reach a real network.
#
# Set before topo_up to change them; read after it:
#   CLIENT_ADDR ROUTER_CLIENT_ADDR ROUTER_UPSTREAM_ADDR UPSTREAM_ADDR (no prefix; /24)
#   DNS_NAME          the name both servers answer (test.dnsredir.)
#   UPSTREAM_ANSWER   what the upstream answers (10.99.0.1)
#   RESOLVER_ANSWER   what the "dockerd" resolver answers (10.99.0.2)
# Set by topo_up:
#   NS_CLIENT NS_ROUTER NS_UPSTREAM  netns names
#   CLIENT_IF                        the client's interface toward the router (eth0)
#   CLIENT_PID                       a process in the client netns, for --pid
#   RESOLVER_UDP_PORT RESOLVER_TCP_PORT  where Docker's NAT sends 127.0.0.11:53

CLIENT_ADDR=${CLIENT_ADDR:-10.250.1.2}
ROUTER_CLIENT_ADDR=${ROUTER_CLIENT_ADDR:-10.250.1.1}
ROUTER_UPSTREAM_ADDR=${ROUTER_UPSTREAM_ADDR:-10.250.2.1}
UPSTREAM_ADDR=${UPSTREAM_ADDR:-10.250.2.2}
DNS_NAME=${DNS_NAME:-test.dnsredir.}
UPSTREAM_ANSWER=${UPSTREAM_ANSWER:-10.99.0.1}
RESOLVER_ANSWER=${RESOLVER_ANSWER:-10.99.0.2}
RESOLVER_ADDR=127.0.0.11
CLIENT_IF=eth0

# netns_add NAME: a fresh netns with lo up, deleted at cleanup.
netns_add() {
	ip netns add "$1"
	cleanup_add ip netns del "$1"
	ip -n "$1" link set lo up
	debug_hint "ip netns exec $1 bash"
}

# veth_link NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth pair made directly in
# the two namespaces, so that nothing, not even for a moment, appears in the
# host's namespace under a name that could collide.
veth_link() {
	ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$4" addr add "$6/24" dev "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

topo_links() {
	netns_add "$NS_CLIENT"
	netns_add "$NS_ROUTER"
	netns_add "$NS_UPSTREAM"
	veth_link "$NS_CLIENT" "$CLIENT_IF" "$CLIENT_ADDR" "$NS_ROUTER" r-client "$ROUTER_CLIENT_ADDR"
	veth_link "$NS_UPSTREAM" eth0 "$UPSTREAM_ADDR" "$NS_ROUTER" r-upstream "$ROUTER_UPSTREAM_ADDR"
	ip -n "$NS_CLIENT" route add default via "$ROUTER_CLIENT_ADDR"
	ip -n "$NS_UPSTREAM" route add default via "$ROUTER_UPSTREAM_ADDR"
	ip netns exec "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1
}

# Two distinct unprivileged ports; the client netns is fresh, so they are free.
pick_ports() {
	RESOLVER_UDP_PORT=$((RANDOM % 25000 + 35000))
	RESOLVER_TCP_PORT=$((RESOLVER_UDP_PORT + 1 + RANDOM % 1000))
}

# Docker's NAT rules for the embedded resolver, as dockerd 20.10 writes them
# (iptables-save -t nat inside a container on a user-defined network): queries
# to 127.0.0.11:53 are DNATed to the resolver's random ports, one for UDP and
# one for TCP, and the answers' source port is SNATed back to 53.
docker_nat_rules() {
	local u=$RESOLVER_UDP_PORT t=$RESOLVER_TCP_PORT
	ip netns exec "$NS_CLIENT" iptables-restore <<-EOF
		*nat
		:PREROUTING ACCEPT [0:0]
		:INPUT ACCEPT [0:0]
		:OUTPUT ACCEPT [0:0]
		:POSTROUTING ACCEPT [0:0]
		:DOCKER_OUTPUT - [0:0]
		:DOCKER_POSTROUTING - [0:0]
		-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT
		-A POSTROUTING -d 127.0.0.11/32 -j DOCKER_POSTROUTING
		-A DOCKER_OUTPUT -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.11:$t
		-A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:$u
		-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p tcp -m tcp --sport $t -j SNAT --to-source :53
		-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p udp -m udp --sport $u -j SNAT --to-source :53
		COMMIT
	EOF
}

# The stand-in for dockerd's resolver: one dnsmasq per port, as dockerd has
# one socket per protocol (each dnsmasq also listens on the other protocol;
# the NAT rules only ever send it one).
fake_dockerd() {
	pick_ports
	dnsmasq_start "$NS_CLIENT" "$RESOLVER_ADDR" "$RESOLVER_UDP_PORT" "$DNS_NAME" "$RESOLVER_ANSWER"
	dnsmasq_start "$NS_CLIENT" "$RESOLVER_ADDR" "$RESOLVER_TCP_PORT" "$DNS_NAME" "$RESOLVER_ANSWER"
	docker_nat_rules
}

# netns_sleeper NETNS: a process that lives in NETNS until cleanup; sets BG_PID.
netns_sleeper() {
	start_bg "sleep-$1" "$1" sleep infinity
	# 'ip netns exec' enters the netns just after the fork: wait for it
	wait_until 5 pid_in_netns "$BG_PID" "$1" || fail "sleep $BG_PID never entered $1"
}

pid_in_netns() { [ "$(ip netns identify "$1")" = "$2" ]; }

topo_up() {
	NS_CLIENT=dr${RUN_ID}-client
	NS_ROUTER=dr${RUN_ID}-router
	NS_UPSTREAM=dr${RUN_ID}-upstream
	topo_links
	dnsmasq_start "$NS_UPSTREAM" "$UPSTREAM_ADDR" 53 "$DNS_NAME" "$UPSTREAM_ANSWER"
	fake_dockerd
	netns_sleeper "$NS_CLIENT"
	CLIENT_PID=$BG_PID
	debug_hint "nsenter -n -t $CLIENT_PID   # the client netns by PID, as the agent sees it"
	debug_hint "ip netns exec $NS_CLIENT tc filter show dev lo ingress"
	log "topology up: client $NS_CLIENT (pid $CLIENT_PID), resolver udp $RESOLVER_UDP_PORT tcp $RESOLVER_TCP_PORT, upstream $UPSTREAM_ADDR"
}
