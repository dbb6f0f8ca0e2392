#!/usr/bin/env python3
"""DNS clients that watch what they receive, and a sender of forged answers,
for the end-to-end tests (tests/e2e/15-spoofed-replies.sh). Standard library
only; every address is given by the caller (the tests' own namespaces).

  dnsprobe.py listen --dir DIR --name NAME --held-id X --answered-id Z
      In the client netns. Three UDP sockets bound to 127.0.0.1:
        held      connected to 127.0.0.11:53, sends a query with id X (which
                  the test keeps from being answered) and waits
        idle      connected to 127.0.0.11:53, sends nothing and waits
        answered  connected to 127.0.0.11:53, sends a query with id Z, which
                  is answered, and waits on
      Writes DIR/ports ("held=P idle=P answered=P", atomically) once the
      queries are sent, then logs every datagram any socket receives to
      DIR/received, one line each:
        SOCKET SRC_ADDR SRC_PORT id=0xID answer=A.B.C.D|-
      until DIR/stop exists (or 300 s).

  dnsprobe.py spoof --src ADDR --sport P --dst ADDR --dport P --id X
                    --name NAME --answer A.B.C.D
      One forged UDP DNS answer, written on a raw socket so that it can carry
      any source port, even one a server is bound to (the kernel adds the IP
      header; the UDP checksum is computed here).
"""
import argparse
import os
import select
import socket
import struct
import sys
import time


def qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(ident, name):
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname(name) + struct.pack("!HH", 1, 1)


def answer(ident, name, addr):
    rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(addr)
    return (struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + qname(name) +
            struct.pack("!HH", 1, 1) + rr)


def first_a(msg):
    """The first A record of an answer, or '-'."""
    try:
        qd, an = struct.unpack("!HH", msg[4:8])
        pos = 12
        for _ in range(qd):
            while msg[pos]:
                pos += 1 + msg[pos]
            pos += 5
        for _ in range(an):
            if msg[pos] & 0xC0 == 0xC0:
                pos += 2
            else:
                while msg[pos]:
                    pos += 1 + msg[pos]
                pos += 1
            rtype, _, _, rdlen = struct.unpack("!HHIH", msg[pos:pos + 10])
            pos += 10
            if rtype == 1 and rdlen == 4:
                return socket.inet_ntoa(msg[pos:pos + 4])
            pos += rdlen
    except (IndexError, struct.error):
        pass
    return "-"


def listen(args):
    socks = {}
    for role in ("held", "idle", "answered"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.connect(("127.0.0.11", 53))
        socks[role] = s
    socks["held"].send(query(args.held_id, args.name))
    socks["answered"].send(query(args.answered_id, args.name))
    ports = " ".join("%s=%d" % (r, s.getsockname()[1]) for r, s in socks.items())
    tmp = os.path.join(args.dir, "ports.tmp")
    with open(tmp, "w") as f:
        f.write(ports + "\n")
    os.rename(tmp, os.path.join(args.dir, "ports"))

    by_fd = {s.fileno(): r for r, s in socks.items()}
    stop = os.path.join(args.dir, "stop")
    deadline = time.monotonic() + 300
    with open(os.path.join(args.dir, "received"), "a", buffering=1) as log:
        while not os.path.exists(stop) and time.monotonic() < deadline:
            ready, _, _ = select.select(list(by_fd), [], [], 0.1)
            for fd in ready:
                role = by_fd[fd]
                try:
                    msg, (addr, port) = socks[role].recvfrom(4096)
                except ConnectionRefusedError:
                    log.write("%s icmp-refused\n" % role)
                    continue
                ident = struct.unpack("!H", msg[:2])[0] if len(msg) >= 2 else -1
                log.write("%s %s %d id=0x%04x answer=%s\n" % (role, addr, port, ident, first_a(msg)))
    return 0


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def spoof(args):
    payload = answer(args.id, args.name, args.answer)
    length = 8 + len(payload)
    udp = struct.pack("!HHHH", args.sport, args.dport, length, 0) + payload
    pseudo = socket.inet_aton(args.src) + socket.inet_aton(args.dst) + struct.pack("!BBH", 0, 17, length)
    csum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    # the kernel's IP header takes its source from the route: it must be --src,
    # or the checksum computed above is wrong
    s.bind((args.src, 0))
    s.sendto(udp, (args.dst, 0))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("listen")
    lp.add_argument("--dir", required=True)
    lp.add_argument("--name", required=True)
    lp.add_argument("--held-id", type=lambda v: int(v, 0), required=True)
    lp.add_argument("--answered-id", type=lambda v: int(v, 0), required=True)
    sp = sub.add_parser("spoof")
    sp.add_argument("--src", required=True)
    sp.add_argument("--sport", type=int, required=True)
    sp.add_argument("--dst", required=True)
    sp.add_argument("--dport", type=int, required=True)
    sp.add_argument("--id", type=lambda v: int(v, 0), required=True)
    sp.add_argument("--name", required=True)
    sp.add_argument("--answer", required=True)
    args = p.parse_args()
    return listen(args) if args.cmd == "listen" else spoof(args)


if __name__ == "__main__":
    sys.exit(main())
