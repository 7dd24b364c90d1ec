#!/usr/bin/env python3
"""A webhook receiver for the tests of mod_scep (python3 stdlib only).

How a receiver checks mod_scep's signature (the whole check; `secret` is
the shared secret as bytes, `body` the request's body exactly as received):

    import hashlib, hmac, re, time

    def signature_ok(secret, headers, body, max_skew=300):
        ts = headers.get("X-SCEP-Timestamp", "")
        sig = headers.get("X-SCEP-Signature", "")
        if not re.fullmatch(r"[0-9]{1,20}", ts) or abs(time.time() - int(ts)) > max_skew:
            return False
        mac = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(sig.encode(), ("sha256=" + mac).encode())

Usage:

    webhook-receiver.py --cert server.pem --key server.key --secret-file S \\
                        --log requests.jsonl --mode-file MODE [--port N] [--accept-unsigned]

An HTTPS server on 127.0.0.1 (port 0 or none: one the system picks); it
prints "listening <port>" once it accepts connections. The secret is the
file's bytes without a trailing newline. Every request is appended to --log
as one JSON line, before it is answered:

    {"path": "/validate", "method": "POST", "signature_ok": true,
     "body": <the body parsed as JSON, or null>, "time": <unix seconds>,
     "headers": {...}}            (and "body_raw" when the body is not JSON)

A request whose signature does not verify is answered 401 (unless
--accept-unsigned). Otherwise the answer follows the first line of
--mode-file, read again for every request (a missing or empty file is
"allow"):

    allow                        200 {"allow": true}
    deny <reason>                200 {"allow": false, "reason": "<reason>"}
    names <subject>|<san>,<san>  200 {"allow": true, "subject": .., "sans": [..]}
                                 (no subject before "|": none; no "|": no "sans")
    status <code>                that status, body {}
    garbage                      200 with a body that is not JSON
    sleep <seconds>              waits, then answers as "allow"
    down                         closes the connection without answering

Paths other than /validate (e.g. /events) are answered 200 {} unless the
mode is "status", "sleep" (then 200 {} after the wait) or "down".
"""
import argparse
import hashlib
import hmac
import json
import re
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def signature_ok(secret, headers, body, max_skew=300):
    ts = headers.get("X-SCEP-Timestamp", "")
    sig = headers.get("X-SCEP-Signature", "")
    if not re.fullmatch(r"[0-9]{1,20}", ts) or abs(time.time() - int(ts)) > max_skew:
        return False
    mac = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(sig.encode(), ("sha256=" + mac).encode())


def read_mode(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    word, _, arg = (lines[0].strip() if lines else "").partition(" ")
    return (word or "allow"), arg.strip()


def verdict(mode, arg):
    """The body of an answer to /validate in this mode."""
    if mode == "deny":
        return {"allow": False, "reason": arg} if arg else {"allow": False}
    if mode == "names":
        subject, bar, sans = arg.partition("|")
        out = {"allow": True}
        if subject:
            out["subject"] = subject
        if bar:
            out["sans"] = [s for s in sans.split(",") if s]
        return out
    return {"allow": True}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the log is --log
        pass

    def answer(self, status, body, ctype="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def record(self, body, ok):
        entry = {"path": self.path, "method": self.command, "signature_ok": ok,
                 "time": time.time(), "headers": dict(self.headers.items())}
        try:
            entry["body"] = json.loads(body)
        except ValueError:
            entry["body"] = None
            entry["body_raw"] = body.decode("utf-8", "replace")
        with self.server.log_lock, open(self.server.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        ok = signature_ok(self.server.secret, self.headers, body)
        self.record(body, ok)
        mode, arg = read_mode(self.server.mode_path)
        if not ok and not self.server.accept_unsigned:
            self.answer(401, {"error": "bad signature"})
        elif mode == "down":
            self.close_connection = True  # not a byte back
        elif mode == "status":
            self.answer(int(arg), b"{}")
        elif mode == "sleep":
            time.sleep(float(arg))
            self.answer(200, verdict("allow", "") if self.path == "/validate" else b"{}")
        elif self.path != "/validate":
            self.answer(200, b"{}")
        elif mode == "garbage":
            self.answer(200, b"this is not JSON", "text/plain")
        elif mode in ("allow", "deny", "names"):
            self.answer(200, verdict(mode, arg))
        else:
            self.answer(500, {"error": "unknown mode %r" % mode})

    do_GET = do_POST = do_PUT = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that went away (timeout) is a test, not an error


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--accept-unsigned", action="store_true")
    args = ap.parse_args()
    with open(args.secret_file, "rb") as f:
        secret = f.read()
    if secret.endswith(b"\r\n"):
        secret = secret[:-2]
    elif secret.endswith(b"\n"):
        secret = secret[:-1]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server = Server(("127.0.0.1", args.port), Handler)
    server.secret = secret
    server.log_path = args.log
    server.mode_path = args.mode_file
    server.accept_unsigned = args.accept_unsigned
    server.log_lock = threading.Lock()
    # the handshake happens in the handler's thread, not in accept()
    server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                    do_handshake_on_connect=False)
    print("listening %d" % server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
