#!/usr/bin/env python3
"""A small HTTPS server for the unit tests of scep_http (python3 stdlib only).

    https-echo.py --cert server.pem --key server.key [--port N]

Listens on 127.0.0.1 (port 0: one the system picks) and prints
"listening <port>" once it accepts connections. Paths:

    /echo          200, JSON: method, path, headers, body (as text)
    /status/N      status N, body "status N"
    /sleep/S       sleeps S seconds, then 200 "slept"
    /big/N         200 with N bytes and a Content-Length
    /stream/N      200 with N bytes and no Content-Length (ends with the connection)
    /redirect      302 to /echo
"""
import argparse
import json
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the unit tests' output is Check's
        pass

    def answer(self, status, body, ctype="text/plain", length=True, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in headers:
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        parts = self.path.split("/")
        arg = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0
        if parts[1] == "echo":
            out = {"method": self.command, "path": self.path,
                   "headers": {k: v for k, v in self.headers.items()},
                   "body": body.decode("utf-8", "replace")}
            self.answer(200, json.dumps(out).encode(), "application/json")
        elif parts[1] == "status":
            self.answer(arg, b"status %d" % arg)
        elif parts[1] == "sleep":
            time.sleep(arg)
            self.answer(200, b"slept")
        elif parts[1] == "big":
            self.answer(200, b"x" * arg)
        elif parts[1] == "stream":
            self.answer(200, b"x" * arg, length=False)
        elif parts[1] == "redirect":
            self.answer(302, b"moved", headers=[("Location", "/echo")])
        else:
            self.answer(404, b"no such path")

    do_GET = do_POST = do_PUT = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that refuses our certificate is a test, not an error


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server = Server(("127.0.0.1", args.port), Handler)
    # the handshake happens in the handler's thread, not in accept()
    server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                    do_handshake_on_connect=False)
    print("listening %d" % server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
