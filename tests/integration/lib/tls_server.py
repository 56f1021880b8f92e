#!/usr/bin/env python3
"""Test server for tests/integration/https.test: HTTPS (or plain HTTP when
no --cert is given) on 127.0.0.1, a random free port written to --port-file.

Options: --tls13-only refuses TLS 1.2 and older.

Modes:
  serve   answer the paths below
  silent  accept connections and never say anything (timeout tests)

Paths (serve mode):
  /cl                 200, body with Content-Length
  /big                200, 300000 bytes with Content-Length
  /chunked            200, chunked body with extensions and a trailer
  /close-notify       200, body delimited by the close, with TLS close_notify
  /close-unclean      200, body delimited by the close, no close_notify
  /truncated          Content-Length 100, 10 bytes sent, then close
  /truncated-chunked  a chunk cut short, then close
  /stall              Content-Length 100, 10 bytes, then silence
  /echo               200, body "method=M auth=A host=H ua=U body=B"
  /redirect?to=URL&code=N   N (default 302) with Location: URL
  /loop               302 to /loop, forever
"""
import argparse
import os
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    clean_close = False

    def log_message(self, fmt, *args):
        pass

    def raw(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def respond(self, status, body, headers=()):
        head = "HTTP/1.1 %d X\r\nContent-Length: %d\r\n" % (status, len(body))
        for h in headers:
            head += h + "\r\n"
        self.raw(head.encode() + b"\r\n" + body)

    def handle_any(self):
        self.close_connection = True
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        p = url.path
        if p == "/cl":
            self.respond(200, b"hello over tls\n")
        elif p == "/big":
            self.respond(200, bytes(i % 251 for i in range(300000)))
        elif p == "/chunked":
            self.raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"6;ext=1\r\nhello \r\n7\r\nchunked\r\n1\r\n\n\r\n"
                     b"0\r\nX-Trailer: yes\r\n\r\n")
        elif p in ("/close-notify", "/close-unclean"):
            self.raw(b"HTTP/1.1 200 OK\r\n\r\nuntil close\n")
            self.clean_close = p == "/close-notify"
        elif p == "/truncated":
            self.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        elif p == "/truncated-chunked":
            self.raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly")
        elif p == "/stall":
            self.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            time.sleep(5)
        elif p == "/echo":
            text = "method=%s auth=%s host=%s ua=%s body=%s\n" % (
                self.command, self.headers.get("Authorization", "none"),
                self.headers.get("Host"), self.headers.get("User-Agent"),
                body.decode(errors="replace"))
            if self.command == "HEAD":
                self.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
            else:
                self.respond(200, text.encode())
        elif p == "/redirect":
            code = int(q.get("code", ["302"])[0])
            self.respond(code, b"moved\n", ["Location: " + q["to"][0]])
        elif p == "/loop":
            self.respond(302, b"", ["Location: /loop"])
        else:
            self.respond(404, b"not found\n")

    do_GET = do_HEAD = do_POST = do_PUT = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    ctx = None

    def finish_request(self, request, client_address):
        if self.ctx:
            try:
                request.settimeout(10)
                request = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        h = self.RequestHandlerClass(request, client_address, self)
        if self.ctx:
            if h.clean_close:
                try:
                    request.unwrap()  # sends close_notify
                except (ssl.SSLError, OSError):
                    pass
            request.close()  # without unwrap: no close_notify


def silent(sock):
    held = []
    while True:
        c, _ = sock.accept()
        held.append(c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--mode", default="serve", choices=["serve", "silent"])
    ap.add_argument("--tls13-only", action="store_true",
                    help="refuse TLS 1.2 and older (BearSSL cannot connect)")
    a = ap.parse_args()
    if a.mode == "silent":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        open(a.port_file + ".tmp", "w").write(str(s.getsockname()[1]))
        os.rename(a.port_file + ".tmp", a.port_file)
        silent(s)
        return
    srv = Server(("127.0.0.1", 0), Handler)
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        if a.tls13_only:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        srv.ctx = ctx
    open(a.port_file + ".tmp", "w").write(str(srv.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
