#!/usr/bin/env python3
"""A fake Docker Engine API that misbehaves on purpose. Test-only.

    tests/fake/hostile-docker.py MODE SOCKET_PATH

Listens on the unix socket SOCKET_PATH (nothing else: no TCP) and answers

    /_ping, /vX/_ping             200 "OK" with an Api-Version header
    /vX/containers/json           a small list of containers
    /vX/containers/ID/json        an inspect answer (or 404 for unknown ids)
    /vX/events                    the event stream, hostile according to MODE

MODE is one of:

    normal              a well-behaved dockerd: one start event, then silence
    malformed-json      garbage lines (not JSON, binary, NULs, deep nesting,
                        wrong types, bad ids, a burst of blank lines), then
                        valid ones; the stream then ends
    huge-line           one 8 MiB line, then a valid line; the stream ends
    cut-mid-line        a valid line, then half a line, and the connection is
                        cut (alternately between two chunks and inside one);
                        the same on every reconnect
    slow-trickle        the first event stream trickles from its very first
                        byte (a status line of 50 bytes, then headers), later ones
                        answer at once and then trickle "{}\\n" lines; one
                        byte every 100 ms, forever
    wrong-content-type  events (and the list) answered as text/html
    http-500            every request answered 500
    huge-inspect        inspect answers of 50 MiB (valid JSON, a huge label)
    ping-no-version     /_ping answers without an Api-Version header
    hung-inspect        inspect requests are read and never answered (a hung
                        dockerd): the connection stays open, silent

The containers it knows all carry the label dnsredir.server=not-an-ip and
network mode "none", so an agent talking to it refuses them and never
touches a network namespace.

Every request and every notable thing it does is logged to stderr as one
"fake: ..." line, which the tests grep.
"""
import http.server
import json
import os
import re
import select
import socket
import socketserver
import sys
import threading
import time

API_VERSION = "1.41"
LABEL = "dnsredir.server"

ID_A = "a1" * 32  # listed
ID_B = "b2" * 32  # listed
ID_C = "c3" * 32  # only ever named by events
ID_D = "d4" * 32  # only in the lines that are cut: the agent must never ask for it
CONTAINERS = {ID_A: "hostile-a", ID_B: "hostile-b", ID_C: "hostile-c"}
LISTED = [ID_A, ID_B]

MODES = (
    "normal",
    "malformed-json",
    "huge-line",
    "cut-mid-line",
    "slow-trickle",
    "wrong-content-type",
    "http-500",
    "huge-inspect",
    "ping-no-version",
    "hung-inspect",
)

MiB = 1024 * 1024
HUGE_LINE = 8 * MiB
HUGE_INSPECT = 50 * MiB
TRICKLE_S = 0.1

_lock = threading.Lock()
_counts = {}


def log(msg):
    with _lock:
        sys.stderr.write("fake: %s\n" % msg)
        sys.stderr.flush()


def count(what):
    with _lock:
        _counts[what] = _counts.get(what, 0) + 1
        return _counts[what]


def event(action, cid, name=None, nano=None):
    if nano is None:
        nano = time.time_ns()
    return json.dumps({
        "status": action, "id": cid, "from": "hostile/image:1",
        "Type": "container", "Action": action,
        "Actor": {"ID": cid, "Attributes": {LABEL: "not-an-ip", "name": name or CONTAINERS.get(cid, "x")}},
        "scope": "local", "time": nano // 10**9, "timeNano": nano,
    }, separators=(",", ":")).encode()


def inspect_doc(cid):
    return {
        "Id": cid,
        "Name": "/" + CONTAINERS[cid],
        "State": {"Status": "running", "Running": True, "Pid": 999999},
        "HostConfig": {"NetworkMode": "none"},
        "NetworkSettings": {"Networks": {}},
        "Config": {"Labels": {LABEL: "not-an-ip"}},
    }


def garbage_lines():
    """Lines a confused or hostile dockerd could send, none of them an event we act on."""
    lines = [
        b"this is not json",
        b"{",
        b"}",
        b"[]",
        b"null",
        b"\"just a string\"",
        b"12345",
        b"{\"Type\":\"container\"",  # cut
        b"\x00\x01\x02\xff\xfe binary \x00 with NULs",
        b"\xc3\x28 invalid utf-8 \xed\xa0\x80",
        b"[" * 5000 + b"]" * 5000,  # deeper than cJSON's nesting limit
        b"{\"a\":" * 2000 + b"1" + b"}" * 2000,
        b"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"" + ID_C.upper().encode() + b"\"}}",
        b"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"" + ID_C[:63].encode() + b"\"}}",
        b"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"" + (ID_C + "0").encode() + b"\"}}",
        b"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"../../etc/passwd\"}}",
        b"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":[\"" + ID_C.encode() + b"\"]}",
        b"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":7}}",
        b"{\"Type\":7,\"Action\":\"start\",\"Actor\":{\"ID\":\"" + ID_C.encode() + b"\"}}",
        b"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"" + ID_C[:32].encode() + b"\\u0000" + ID_C[33:].encode() + b"\"}}",
        b"{\"Type\":\"container\",\"Action\":{\"x\":1},\"Actor\":{\"ID\":\"" + ID_D.encode() + b"\",\"Attributes\":[1,2]},\"timeNano\":1e400}",
        b"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"" + ID_D.encode() + b"\",\"Attributes\":{\"name\":" + b"\"n\"" + b"}},\"timeNano\":-1e30}",
        b"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"" + ID_D.encode() + b"\",\"Attributes\":{\"name\":\"" + b"N" * 5000 + b"\"}},\"timeNano\":\"soon\"}",
        b"\x1b[31mterminal escape\x1b[0m \r in the middle",
    ]
    return lines


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile-docker/1"
    mode = "normal"

    def log_message(self, fmt, *args):  # the default wants a TCP peer address
        pass

    # ---- plain answers -------------------------------------------------
    def answer(self, status, body, ctype="application/json", api_version=True):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if api_version and self.mode != "ping-no-version":
            self.send_header("Api-Version", API_VERSION)
        self.end_headers()
        self.wfile.write(body)

    # ---- chunked stream helpers ----------------------------------------
    def stream_headers(self, ctype="application/json"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Api-Version", API_VERSION)
        self.end_headers()
        self.close_connection = True

    def chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def stream_end(self):
        self.wfile.write(b"0\r\n\r\n")

    def client_closed(self, timeout):
        """Waits up to timeout; True once the client has closed its end."""
        r, _, _ = select.select([self.connection], [], [], timeout)
        if not r:
            return False
        try:
            return self.connection.recv(4096, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def hang_until_closed(self, limit=3600):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if self.client_closed(1.0):
                return
            time.sleep(0.05)  # data pending (a pipelined request): just wait

    # ---- routing -------------------------------------------------------
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        n = count("request")
        log("request %d GET %s" % (n, self.path))
        try:
            if self.mode == "http-500":
                self.answer(500, {"message": "hostile: every request fails"})
                return
            if re.fullmatch(r"(/v[0-9.]+)?/_ping", path):
                self.answer(200, b"OK", "text/plain; charset=utf-8")
                return
            if re.fullmatch(r"/v[0-9.]+/containers/json", path):
                self.containers_list()
                return
            m = re.fullmatch(r"/v[0-9.]+/containers/([^/]+)/json", path)
            if m:
                self.inspect(m.group(1))
                return
            if re.fullmatch(r"/v[0-9.]+/events", path):
                self.events()
                return
            self.answer(404, {"message": "page not found"})
        except (BrokenPipeError, ConnectionResetError) as e:
            log("request %d: client went away (%s)" % (n, e.__class__.__name__))
            self.close_connection = True

    def containers_list(self):
        if self.mode == "wrong-content-type":
            self.answer(200, b"<html><body>not the Docker API</body></html>", "text/html")
            return
        self.answer(200, [{"Id": cid, "Names": ["/" + CONTAINERS[cid]], "State": "running",
                           "Labels": {LABEL: "not-an-ip"}} for cid in LISTED])

    def inspect(self, cid):
        if cid not in CONTAINERS:
            log("inspect of unknown container %s" % cid)
            self.answer(404, {"message": "No such container: %s" % cid})
            return
        if self.mode == "wrong-content-type":
            self.answer(200, b"<html><body>not the Docker API</body></html>", "text/html")
            return
        if self.mode == "huge-inspect":
            self.huge_inspect(cid)
            return
        if self.mode == "hung-inspect":
            log("inspect of %s: hanging" % cid)
            self.hang_until_closed()
            log("inspect of %s: the client went away" % cid)
            self.close_connection = True
            return
        self.answer(200, inspect_doc(cid))

    def huge_inspect(self, cid):
        # valid JSON of HUGE_INSPECT bytes: the label value is the filler
        doc = json.dumps(inspect_doc(cid)).encode()
        head, tail = doc.split(b'"not-an-ip"', 1)
        head += b'"'
        tail = b'"' + tail
        filler = HUGE_INSPECT - len(head) - len(tail)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(HUGE_INSPECT))
        self.send_header("Api-Version", API_VERSION)
        self.end_headers()
        self.close_connection = True
        sent = 0
        block = b"A" * MiB
        try:
            self.wfile.write(head)
            sent += len(head)
            while filler > 0:
                part = block if filler >= len(block) else block[:filler]
                self.wfile.write(part)
                sent += len(part)
                filler -= len(part)
            self.wfile.write(tail)
            sent += len(tail)
            log("huge inspect of %s: all %d bytes sent" % (cid, sent))
        except (BrokenPipeError, ConnectionResetError):
            log("huge inspect of %s: cut by the client after %d bytes" % (cid, sent))

    # ---- the event stream ----------------------------------------------
    def events(self):
        n = count("events")
        log("events stream %d opened (%s)" % (n, self.mode))
        getattr(self, "events_" + self.mode.replace("-", "_"), self.events_normal)(n)

    def events_normal(self, n):
        self.stream_headers()
        self.chunk(event("start", ID_C) + b"\n")
        self.hang_until_closed()
        log("events stream %d closed by the client" % n)

    def events_ping_no_version(self, n):
        self.events_normal(n)

    def events_malformed_json(self, n):
        self.stream_headers()
        for line in garbage_lines():
            self.chunk(line + b"\n")
        # a burst of blank lines (skipped, but they must not stall the reader)
        blank = b"\r\n\n" * (64 * 1024 // 3)
        for _ in range(32):
            self.chunk(blank)
        log("events stream %d: garbage sent" % n)
        self.chunk(event("start", ID_C) + b"\n")
        self.chunk(event("die", ID_A) + b"\n")
        log("events stream %d: valid lines sent" % n)
        time.sleep(0.3)
        self.stream_end()
        log("events stream %d ended" % n)

    def events_huge_line(self, n):
        self.stream_headers()
        block = b"x" * (64 * 1024)
        for _ in range(HUGE_LINE // len(block)):
            self.chunk(block)
        log("events stream %d: %d bytes without a newline sent" % (n, HUGE_LINE))
        self.chunk(b"\n" + event("start", ID_C) + b"\n")
        log("events stream %d: valid line sent" % n)
        time.sleep(0.5)
        self.stream_end()
        log("events stream %d ended" % n)

    def events_cut_mid_line(self, n):
        self.stream_headers()
        self.chunk(event("start", ID_C) + b"\n")
        partial = event("start", ID_D)
        partial = partial[: len(partial) // 2]
        time.sleep(0.1)
        if n % 2:
            # the half line is a whole chunk; the stream's end never comes
            self.chunk(partial)
            how = "between chunks"
        else:
            # a chunk announced longer than what is sent
            self.wfile.write(b"%x\r\n%s" % (len(partial) * 2, partial))
            how = "inside a chunk"
        time.sleep(0.1)
        self.connection.shutdown(socket.SHUT_RDWR)
        log("events stream %d cut mid-line (%s)" % (n, how))

    def events_slow_trickle(self, n):
        self.close_connection = True
        try:
            if n == 1:
                # everything trickles, the status line first; its reason
                # phrase is long enough that the status takes over 5 s
                head = ("HTTP/1.1 200 OK, but one byte every 100 ms, forever\r\n"
                        "Content-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\nApi-Version: %s\r\n\r\n" % API_VERSION).encode()
                for i in range(len(head)):
                    self.wfile.write(head[i:i + 1])
                    time.sleep(TRICKLE_S)
                log("events stream %d: headers trickled out" % n)
            else:
                self.stream_headers()
            sent = 0
            while True:
                self.chunk(b"{}\n"[sent % 3:sent % 3 + 1])
                sent += 1
                time.sleep(TRICKLE_S)
        except (BrokenPipeError, ConnectionResetError):
            log("events stream %d: client went away while trickling" % n)

    def events_wrong_content_type(self, n):
        # quotes are allowed in a MIME parameter: they must not break the agent's log line
        self.stream_headers('text/html; charset="utf-8"')
        # the body comes a little later, once the agent has seen the status
        time.sleep(0.3)
        self.chunk(b"<html><body>\n<h1>It works!</h1>\n</body></html>\n")
        time.sleep(0.5)
        self.stream_end()
        log("events stream %d ended" % n)

    def events_huge_inspect(self, n):
        self.stream_headers()
        self.chunk(event("start", ID_C) + b"\n")
        time.sleep(1.0)
        self.stream_end()
        log("events stream %d ended" % n)


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in MODES:
        sys.stderr.write("usage: hostile-docker.py MODE SOCKET_PATH\nmodes: %s\n" % " ".join(MODES))
        return 2
    mode, path = sys.argv[1], sys.argv[2]
    Handler.mode = mode
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    with Server(path, Handler) as server:
        log("listening on %s, mode %s" % (path, mode))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
