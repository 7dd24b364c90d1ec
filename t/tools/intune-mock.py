#!/usr/bin/env python3
"""A local HTTPS stand-in for the three Microsoft services that Intune SCEP
challenge validation talks to (docs/intune.md has the contract and where it
was read):

  POST /<tenant>/oauth2/v2.0/token          Entra ID, client credentials
  GET  /v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints
                                            Microsoft Graph, service discovery
  POST /ScepRequestValidationFEService/ScepActions/validateRequest
                                   .../successNotification, .../failureNotification

Everything on one port; the discovery answer points at this server itself.
Python 3 standard library only.

  intune-mock.py --port 0 --cert srv.pem --key srv.key [--log FILE]
                 [--state FILE] [--tenant T] [--client-id ID] [--secret S]

Prints "listening <port>" once it accepts connections (--port 0: any free
port). --log gets one JSON line per request (method, path, the headers that
matter, the parsed body with the client secret replaced by whether it
matched, the status and code answered). --state is read again for every
request; one directive a line, '#' starts a comment:

  valid <challenge>        a challengePassword Intune takes (Success)
  deny <challenge> <code>  a challengePassword answered with that code
  token secret <s>         the client secret Entra ID accepts (else --secret)
  token client <id>        the client ID Entra ID knows (else --client-id)
  token lifetime <s>       expires_in of new tokens (default 3599)
  token expire-next        the next ScepActions call's token is expired: 401
                           once (armed again when the file changes)
  token fail <status>      the token endpoint answers that status
  discovery fail [status]  Graph answers that status (default 503; 403 comes
                           with Authorization_RequestDenied)
  discovery missing        Graph lists no ScepRequestValidationFEService
  service fail <status>    the ScepActions answer that status
  notify refuse <code>     the notifications answer that code, not Success
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import json
import os
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INTUNE_APP_ID = "0000000a-0000-0000-c000-000000000000"
INTUNE_SCOPE = "https://api.manage.microsoft.com//.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
SERVICE = "ScepRequestValidationFEService"
API_VERSION = "2018-02-20"
CHALLENGE_OID = bytes.fromhex("2a864886f70d010907")   # 1.2.840.113549.1.9.7
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
LOGGED_HEADERS = ("authorization", "content-type", "api-version", "client-request-id",
                  "useragent", "user-agent")


# ---- the state a test scripts ---------------------------------------------

class State:
    """The --state file as read for one request."""

    def __init__(self, args, text):
        self.valid, self.deny = set(), {}
        self.secret, self.client = args.secret, args.client_id
        self.lifetime, self.token_fail = 3599, None
        self.expire_next, self.discovery_fail, self.discovery_missing = False, None, False
        self.service_fail, self.notify_refuse = None, None
        for line in text.splitlines():
            w = line.split("#", 1)[0].split()
            if not w:
                continue
            if w[0] == "valid" and len(w) == 2:
                self.valid.add(w[1])
            elif w[0] == "deny" and len(w) == 3:
                self.deny[w[1]] = w[2]
            elif w[:2] == ["token", "secret"] and len(w) == 3:
                self.secret = w[2]
            elif w[:2] == ["token", "client"] and len(w) == 3:
                self.client = w[2]
            elif w[:2] == ["token", "lifetime"] and len(w) == 3:
                self.lifetime = int(w[2])
            elif w == ["token", "expire-next"]:
                self.expire_next = True
            elif w[:2] == ["token", "fail"] and len(w) == 3:
                self.token_fail = int(w[2])
            elif w[:2] == ["discovery", "fail"]:
                self.discovery_fail = int(w[2]) if len(w) > 2 else 503
            elif w == ["discovery", "missing"]:
                self.discovery_missing = True
            elif w[:2] == ["service", "fail"] and len(w) == 3:
                self.service_fail = int(w[2])
            elif w[:2] == ["notify", "refuse"] and len(w) == 3:
                self.notify_refuse = w[2]
            else:
                sys.stderr.write("intune-mock: state line not understood: %r\n" % line)


class Mock:
    """What the services remember between requests."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.tokens = {}             # token -> (audience, expiry)
        self.state_key = None        # what the --state file was when last read
        self.expire_used = False     # token expire-next was spent on this state

    def state(self):
        text, key = "", None
        if self.args.state and os.path.exists(self.args.state):
            st = os.stat(self.args.state)
            with open(self.args.state, encoding="utf-8") as f:
                text = f.read()
            key = (st.st_mtime_ns, text)
        with self.lock:
            if key != self.state_key:
                self.state_key, self.expire_used = key, False
        return State(self.args, text)

    def issue(self, audience, lifetime):
        token = "mock-%s-%s" % (audience, secrets.token_hex(16))
        with self.lock:
            self.tokens[token] = (audience, time.time() + lifetime)
        return token

    def check(self, token, audience):
        with self.lock:
            aud, exp = self.tokens.get(token, (None, 0))
        return aud == audience and time.time() < exp

    def expire(self, token):
        """token expire-next: once per state, the token shown is dead."""
        with self.lock:
            if self.expire_used:
                return False
            self.expire_used = True
            self.tokens.pop(token, None)
        return True

    def log(self, record):
        if not self.args.log:
            return
        with self.lock, open(self.args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")


# ---- the CSR: its challengePassword, by a minimal DER walk -----------------

def der_item(buf, pos):
    """(tag, contents, next position) of the DER item at pos."""
    if pos + 2 > len(buf):
        raise ValueError("truncated")
    tag, n = buf[pos], buf[pos + 1]
    pos += 2
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag number")
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or pos + k > len(buf):
            raise ValueError("bad length")
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + n > len(buf):
        raise ValueError("truncated")
    return tag, buf[pos:pos + n], pos + n


def string_value(tag, raw):
    if tag == 0x1E:                                   # BMPString
        return raw.decode("utf-16-be")
    if tag in (0x0C, 0x13, 0x14, 0x16):               # UTF8, Printable, T61, IA5
        return raw.decode("utf-8" if tag == 0x0C else "latin-1")
    raise ValueError("challengePassword is not a string")


def challenge_password(der):
    """The request's challengePassword, None when it has none; ValueError
    when der is no PKCS#10 request."""
    tag, req, end = der_item(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a SEQUENCE")
    tag, info, _ = der_item(req, 0)
    pos = 0
    for want in (0x02, 0x30, 0x30):                   # version, subject, SPKI
        t, _, pos = der_item(info, pos)
        if t != want:
            raise ValueError("not a CertificationRequestInfo")
    if pos >= len(info):
        return None
    tag, attrs, _ = der_item(info, pos)
    if tag != 0xA0:
        raise ValueError("no attributes")
    pos = 0
    while pos < len(attrs):
        _, attr, pos = der_item(attrs, pos)
        t, oid, q = der_item(attr, 0)
        if t == 0x06 and oid == CHALLENGE_OID:
            _, values, _ = der_item(attr, q)
            return string_value(*der_item(values, 0)[:2])
    return None


# ---- the request handler ----------------------------------------------------

def entra_error(status, error, code, text):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    return status, {"error": error,
                    "error_description": "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: "
                                         "%s\r\nTimestamp: %s" % (code, text, trace, corr, now),
                    "error_codes": [code], "timestamp": now, "trace_id": trace,
                    "correlation_id": corr}


def is_str(v, empty_ok=False):
    return isinstance(v, str) and (empty_ok or v != "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "intune-mock/1"
    disable_nagle_algorithm = True                # headers and body leave at once

    def log_message(self, fmt, *args):            # the --log file says it all
        pass

    def setup(self):
        self.request.do_handshake()               # in this thread, not in accept()
        super().setup()

    # -- plumbing

    def body_bytes(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def answer(self, status, obj, record, extra=None):
        data = json.dumps(obj).encode()
        record["status"] = status
        if isinstance(obj, dict) and "code" in obj:
            record["code"] = obj["code"]
        # logged before the answer leaves: a client that reads the log after
        # its call returns finds the call there
        self.server.mock.log(record)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def record(self, body):
        url = urllib.parse.urlsplit(self.path)
        return {"time": time.time(), "method": self.command, "path": url.path,
                "query": url.query,
                "headers": {h: self.headers[h] for h in LOGGED_HEADERS if h in self.headers},
                "body": body}

    def bearer(self, audience):
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            return None, False
        token = auth[7:].strip()
        return token, self.server.mock.check(token, audience)

    # -- routing

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        rec = self.record(None)
        if path == "/v1.0/servicePrincipals/appId=%s/endpoints" % INTUNE_APP_ID:
            return self.discovery(rec)
        self.answer(404, {"error": {"code": "NotFound", "message": "no such resource"}}, rec)

    def do_POST(self):
        raw = self.body_bytes()
        path = urllib.parse.urlsplit(self.path).path
        m = re.match(r"^/([^/]+)/oauth2/v2\.0/token$", path)
        if m:
            return self.token(m.group(1), raw)
        m = re.match(r"^/%s/ScepActions/(validateRequest|successNotification|"
                     r"failureNotification)$" % SERVICE, path)
        if m:
            return self.scep_action(m.group(1), raw)
        self.answer(404, {"error": {"code": "NotFound", "message": "no such resource"}},
                    self.record(None))

    # -- Entra ID

    def token(self, tenant, raw):
        state, mock = self.server.mock.state(), self.server.mock
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace"),
                                                           keep_blank_values=True).items()}
        shown = dict(form)
        if "client_secret" in shown:
            shown["client_secret"] = {"matches": form["client_secret"] == state.secret}
        rec = self.record(shown)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if state.token_fail:
            return self.answer(*entra_error(state.token_fail, "temporarily_unavailable", 50001,
                                            "The service is temporarily unavailable."), rec)
        if tenant != mock.args.tenant:
            return self.answer(*entra_error(400, "invalid_request", 90002,
                                            "Tenant '%s' not found." % tenant), rec)
        if ctype != "application/x-www-form-urlencoded":
            return self.answer(*entra_error(400, "invalid_request", 900144, "The request body "
                                            "must contain the following parameter: "
                                            "'grant_type'."), rec)
        for p in ("grant_type", "client_id", "scope"):
            if not form.get(p):
                return self.answer(*entra_error(400, "invalid_request", 900144, "The request "
                                                "body must contain the following parameter: "
                                                "'%s'." % p), rec)
        if form["grant_type"] != "client_credentials":
            return self.answer(*entra_error(400, "unsupported_grant_type", 70003, "The app "
                                            "requested an unsupported grant type."), rec)
        if form["client_id"] != state.client:
            return self.answer(*entra_error(400, "unauthorized_client", 700016, "Application "
                                            "with identifier '%s' was not found in the "
                                            "directory '%s'." % (form["client_id"], tenant)),
                               rec)
        if form.get("client_secret") != state.secret:
            return self.answer(*entra_error(401, "invalid_client", 7000215, "Invalid client "
                                            "secret provided."), rec)
        audience = {INTUNE_SCOPE: "intune", GRAPH_SCOPE: "graph"}.get(form["scope"])
        if not audience:
            return self.answer(*entra_error(400, "invalid_scope", 1002012, "The provided value "
                                            "for scope %s is not valid." % form["scope"]), rec)
        token = mock.issue(audience, state.lifetime)
        self.answer(200, {"token_type": "Bearer", "expires_in": state.lifetime,
                          "ext_expires_in": state.lifetime, "access_token": token}, rec)

    # -- Microsoft Graph

    def discovery(self, rec):
        state = self.server.mock.state()
        token, ok = self.bearer("graph")
        if not ok:
            return self.answer(401, {"error": {"code": "InvalidAuthenticationToken",
                                               "message": "Access token validation failure."}},
                               rec, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if state.discovery_fail == 403:
            return self.answer(403, {"error": {"code": "Authorization_RequestDenied",
                                               "message": "Insufficient privileges to complete "
                                                          "the operation."}}, rec)
        if state.discovery_fail:
            return self.answer(state.discovery_fail, {"error": {"code": "ServiceUnavailable",
                                                                "message": "Try again."}}, rec)
        base = "https://%s" % self.headers.get("Host", "127.0.0.1")
        value = [{"id": str(uuid.uuid4()), "deletedDateTime": None, "capability": "Intune",
                  "providerId": None, "providerName": name, "providerResourceId": None,
                  "uri": "%s/%s" % (base, name)}
                 for name in ("PolicyService", "StatelessIWService")
                 + (() if state.discovery_missing else (SERVICE,))]
        self.answer(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#"
                                            "servicePrincipals('appId%3D" + INTUNE_APP_ID
                                            + "')/endpoints", "value": value}, rec)

    # -- Intune: ScepActions

    def scep_action(self, action, raw):
        state, mock = self.server.mock.state(), self.server.mock
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = None
        rec = self.record(body)
        token, ok = self.bearer("intune")
        if ok and state.expire_next and mock.expire(token):
            ok = False
        if not ok:
            return self.answer(401, {"error": {"code": "Unauthorized", "message": "The access "
                                               "token is missing, invalid or expired."}}, rec,
                               {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if state.service_fail:
            return self.answer(state.service_fail, {"error": {"code": "ServiceUnavailable",
                                                              "message": "Try again."}}, rec)
        problem = self.scep_headers() or self.scep_body(action, body)
        if problem:
            return self.answer(400, {"error": {"code": "BadRequest", "message": problem}}, rec)
        inner = body["request" if action == "validateRequest" else "notification"]
        if action == "validateRequest":
            code, text = self.validate(inner, state)
        elif state.notify_refuse:
            code, text = state.notify_refuse, "The notification was refused (scripted)."
        else:
            code, text = "Success", ""
        self.answer(200, {"code": code, "errorDescription": text}, rec)

    def scep_headers(self):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return "Content-Type must be application/json"
        if self.headers.get("api-version") != API_VERSION:
            return "api-version must be %s" % API_VERSION
        if not GUID.match(self.headers.get("client-request-id") or ""):
            return "client-request-id must be a GUID"
        return None

    @staticmethod
    def scep_body(action, body):
        wrapper = "request" if action == "validateRequest" else "notification"
        if not isinstance(body, dict) or not isinstance(body.get(wrapper), dict):
            return "the body must be a JSON object with an object '%s'" % wrapper
        inner = body[wrapper]
        need = ["transactionId", "certificateRequest", "callerInfo"]
        if action == "successNotification":
            need += ["certificateThumbprint", "certificateSerialNumber",
                     "certificateExpirationDateUtc", "issuingCertificateAuthority"]
        if action == "failureNotification":
            need += ["errorDescription"]
        for k in need:
            if not is_str(inner.get(k)):
                return "%s.%s must be a non-empty string" % (wrapper, k)
        try:
            base64.b64decode(inner["certificateRequest"], validate=True)
        except (binascii.Error, ValueError):
            return "%s.certificateRequest must be base64" % wrapper
        if action == "successNotification":
            for k in ("caConfiguration", "certificateAuthority"):
                if inner.get(k) is not None and not is_str(inner[k], True):
                    return "%s.%s must be a string or null" % (wrapper, k)
            if not re.match(r"^[0-9A-Fa-f]{40}$", inner["certificateThumbprint"]):
                return "certificateThumbprint must be a SHA-1 in hex"
            if not ISO_UTC.match(inner["certificateExpirationDateUtc"]):
                return "certificateExpirationDateUtc must be an ISO 8601 date-time"
        if action == "failureNotification":
            h = inner.get("hResult")
            if not isinstance(h, int) or isinstance(h, bool):
                return "notification.hResult must be an integer"
            if len(inner["errorDescription"]) > 255:
                return "notification.errorDescription is longer than 255 characters"
        return None

    @staticmethod
    def validate(inner, state):
        try:
            der = base64.b64decode(inner["certificateRequest"], validate=True)
            challenge = challenge_password(der)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return "CertificateRequestDecodingFailed", "The certificate request could not " \
                                                      "be decoded."
        if challenge is None:
            return "ChallengePasswordMissing", "The certificate request has no challenge."
        if challenge in state.deny:
            return state.deny[challenge], "The challenge was refused (scripted)."
        if challenge in state.valid:
            return "Success", ""
        # fingerprint only: the log must not show the challenge itself
        fp = hashlib.sha256(challenge.encode()).hexdigest()[:8]
        return "ChallengeDecryptionError", "The challenge (sha256 %s...) could not be " \
                                           "decrypted." % fp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log")
    ap.add_argument("--state")
    ap.add_argument("--tenant", default="contoso.onmicrosoft.com")
    ap.add_argument("--client-id", default="11111111-2222-3333-4444-555555555555")
    ap.add_argument("--secret", default="mock-secret")
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    httpd = ThreadingHTTPServer((args.bind, args.port), Handler)
    httpd.daemon_threads = True
    # the handshake happens in the handler's thread, not in accept()
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True,
                                   do_handshake_on_connect=False)
    httpd.mock = Mock(args)
    print("listening %d" % httpd.server_address[1], flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
