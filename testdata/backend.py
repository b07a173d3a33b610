#!/usr/bin/env python3
"""A tiny HTTP backend for trying dnslb's health checks and policies by hand.

    python3 testdata/backend.py ADDRESS PORT [LOAD] [DELAY_MS]

Answers every GET with 200 "ok", an X-Load header of LOAD (for the
least_load policy) and after DELAY_MS (for the fastest policy)."""
import http.server
import socket
import sys
import time

addr, port = sys.argv[1], int(sys.argv[2])
load = sys.argv[3] if len(sys.argv) > 3 else "0"
delay = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(delay)
        self.send_response(200)
        self.send_header("X-Load", load)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET


Server((addr, port), Handler).serve_forever()
