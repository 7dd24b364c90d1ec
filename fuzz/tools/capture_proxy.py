#!/usr/bin/env python3
"""Logging HTTP proxy for capturing what SCEP clients send (fuzz seeds).

    capture_proxy.py LISTEN_PORT UPSTREAM_PORT OUT_DIR

Listens on 127.0.0.1:LISTEN_PORT, forwards every GET/POST unchanged to
127.0.0.1:UPSTREAM_PORT and writes, per request N:
    OUT_DIR/N.query     the raw query string (as sent, still %-escaped)
    OUT_DIR/N.body      the request body (POST only)
    OUT_DIR/N.resp      the response body
and a line "N METHOD STATUS CONTENT-TYPE PATH" to OUT_DIR/index.
"""
import http.client
import http.server
import os
import sys
import threading

LISTEN, UPSTREAM, OUT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(OUT, exist_ok=True)
lock = threading.Lock()
counter = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forward(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            counter[0] += 1
            n = counter[0]
        path, _, query = self.path.partition("?")
        with open(os.path.join(OUT, "%03d.query" % n), "w") as f:
            f.write(query)
        if method == "POST":
            with open(os.path.join(OUT, "%03d.body" % n), "wb") as f:
                f.write(body)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "content-length")}
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        conn.request(method, self.path, body=body if method == "POST" else None,
                     headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        ctype = resp.getheader("Content-Type", "-")
        with open(os.path.join(OUT, "%03d.resp" % n), "wb") as f:
            f.write(data)
        with lock, open(os.path.join(OUT, "index"), "a") as f:
            f.write("%03d %s %d %s %s\n" % (n, method, resp.status, ctype, path))
        self.send_response(resp.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._forward("GET")

    def do_POST(self):
        self._forward("POST")

    def log_message(self, fmt, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Handler).serve_forever()
