#!/usr/bin/env python3
"""bench_receiver.py - the webhook bench's receiver (scripts/bench_webhooks.sh): answers 200 to
every POST and appends "<receipt epoch ms> <path> <webhook-id> <data.ts_ms>" per request to
OUT. Usage: bench_receiver.py PORT OUT"""
import http.server
import json
import sys
import threading
import time

OUT = open(sys.argv[2], "a", buffering=1)
LOCK = threading.Lock()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(n)
        now = int(time.time() * 1000)
        ts = json.loads(body).get("data", {}).get("ts_ms", 0)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
        with LOCK:
            OUT.write(f"{now} {self.path} {self.headers.get('webhook-id')} {ts}\n")

    def log_message(self, *a):
        pass


class S(http.server.ThreadingHTTPServer):
    request_queue_size = 1024  # the default 5 drops connections of a burst (1 s SYN retry)
    daemon_threads = True


S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
