#!/usr/bin/env python3
"""A token server for tests, in the style of Docker distribution's token auth.

    token_server.py --port N --cert C --key K --sign-key SK --sign-cert SC
                    --issuer I [--user USER:PASS] [--log FILE]

Serves GET /token?service=S&scope=repository:NAME:pull,push over HTTPS (C,
K) and answers {"token": JWT, "access_token": JWT, "expires_in": 300,
"issued_at": ...}. The JWT is RS256, signed by running `openssl dgst
-sha256 -sign SK`; its header carries SC (DER, base64) in `x5c`, which the
registry checks against its rootcertbundle. Everyone gets the actions they
ask for; with --user, only a request with those basic credentials gets a
token (others get 401). Standard library only. Prints "ready PORT" on
stdout once listening (PORT is the real port when --port is 0).
"""

import argparse
import base64
import datetime
import http.server
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def der_of_pem(path):
    lines = open(path, encoding="ascii").read().splitlines()
    body = []
    inside = False
    for line in lines:
        if line.startswith("-----BEGIN CERTIFICATE"):
            inside = True
        elif line.startswith("-----END CERTIFICATE"):
            break
        elif inside:
            body.append(line.strip())
    return base64.b64decode("".join(body))


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "pyro-test-token/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if self.server.opts.log:
            with open(self.server.opts.log, "a", encoding="utf-8") as f:
                f.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))

    def reply(self, code, obj, extra=()):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
            return
        opts = self.server.opts
        account = ""
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                account = base64.b64decode(auth[6:].strip()).decode().split(":", 1)[0]
                given = base64.b64decode(auth[6:].strip()).decode()
            except Exception:
                given = None
        else:
            given = None
        if opts.user and given != opts.user:
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad or missing credentials"}]},
                       [("WWW-Authenticate", 'Basic realm="pyro-test-token"')])
            return
        q = urllib.parse.parse_qs(url.query)
        service = q.get("service", [""])[0]
        access = []
        for scope in q.get("scope", []):
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) < 3:
                    self.reply(400, {"errors": [{"code": "INVALID_SCOPE", "message": "bad scope %r" % one}]})
                    return
                typ, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
                access.append({"type": typ, "name": name, "actions": [a for a in actions.split(",") if a]})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(self.server.x5c).decode()]}
        claims = {
            "iss": opts.issuer,
            "sub": account,
            "aud": service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": b64url(os.urandom(12)),
            "access": access,
        }
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", opts.sign_key],
                             input=signing_input.encode(), stdout=subprocess.PIPE, check=True).stdout
        token = signing_input + "." + b64url(sig)
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.server.issued += 1
        self.reply(200, {"token": token, "access_token": token, "expires_in": 300, "issued_at": issued})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--sign-key", required=True)
    ap.add_argument("--sign-cert", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--user", default="")
    ap.add_argument("--log", default="")
    opts = ap.parse_args()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    srv.daemon_threads = True
    srv.opts = opts
    srv.issued = 0
    srv.x5c = der_of_pem(opts.sign_cert)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
