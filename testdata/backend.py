#!/usr/bin/env python3
"""A tiny HTTP backend for trying dnslb's health checks and policies by hand.

    python3 testdata/backend.py ADDRESS PORT [REPORT] [DELAY_MS]

Answers every GET after DELAY_MS (default 0; the fastest policy measures it
as the health check's round-trip time) with 200 "ok" and an X-Load header
for the least_load policy (the check's load_header). REPORT says what X-Load
carries:

    a number   that number, fixed (default 0)
    conns      least connections: the connections open at the moment,
               not counting the health check's own
    mbps       least bandwidth: megabits per second sent over the last 10 s
               (GET /blob?mb=N sends N MB, default 1, to make some)
    rt         least response time, as the backend sees it: the mean time in
               milliseconds it took to answer its last 100 requests

PORT 0 picks a free port; the address and port served are printed first."""
import collections
import http.server
import socket
import sys
import threading
import time
import urllib.parse

addr, port = sys.argv[1], int(sys.argv[2])
report = sys.argv[3] if len(sys.argv) > 3 else "0"
delay = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.0
if report not in ("conns", "mbps", "rt"):
    float(report)  # a fixed figure must be a number

WINDOW = 10.0  # seconds of traffic that mbps averages over
lock = threading.Lock()
open_conns = 0
sent = collections.deque()  # (time, bytes) of bodies sent within WINDOW
times = collections.deque(maxlen=100)  # seconds taken by the last requests


def figure():
    """The X-Load value, from the counters (caller holds lock)."""
    if report == "conns":
        return str(max(open_conns - 1, 0))  # not the health check itself
    if report == "mbps":
        now = time.monotonic()
        while sent and sent[0][0] < now - WINDOW:
            sent.popleft()
        return "%.3f" % (sum(b for _, b in sent) * 8 / WINDOW / 1e6)
    if report == "rt":
        return "%.1f" % (1000 * sum(times) / len(times) if times else 0)
    return report


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a connection stays open

    def setup(self):
        global open_conns
        with lock:
            open_conns += 1
        super().setup()

    def finish(self):
        global open_conns
        super().finish()
        with lock:
            open_conns -= 1

    def do_GET(self):
        start = time.monotonic()
        time.sleep(delay)
        url = urllib.parse.urlsplit(self.path)
        body = b"ok\n"
        if url.path == "/blob":
            mb = float(urllib.parse.parse_qs(url.query).get("mb", ["1"])[0])
            body = b"x" * int(mb * 1e6)
        with lock:
            load = figure()
            if url.path == "/blob":
                sent.append((time.monotonic(), len(body)))
        try:
            self.send_response(200)
            self.send_header("X-Load", load)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            return  # a health check that read the status and hung up
        with lock:
            times.append(time.monotonic() - start)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    daemon_threads = True


srv = Server((addr, port), Handler)
print("serving %s port %d" % (addr, srv.server_address[1]), flush=True)
srv.serve_forever()
