"""Talk to a pyro guest agent over its UNIX socket (test helper).

  agentcall.py SOCK 'JSON'              one request, print the answer line
  agentcall.py SOCK 'JSON' --body FILE  send FILE as the request body
  agentcall.py SOCK --raw               send stdin's bytes as they are, print
                                        every answer line until the agent closes
  agentcall.py SOCK --seq 'JSON' 'JSON' several requests on one connection
  agentcall.py SOCK @FILE               the request is in FILE
"""
import json
import os
import socket
import sys


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    return s


def read_line(f):
    line = f.readline()
    if not line:
        return None
    return line.decode("utf-8")


def main():
    sock, rest = sys.argv[1], sys.argv[2:]
    if rest and rest[0] == "--raw":
        s = connect(sock)
        s.sendall(sys.stdin.buffer.read())
        s.shutdown(socket.SHUT_WR)
        f = s.makefile("rb")
        while True:
            line = read_line(f)
            if line is None:
                break
            sys.stdout.write(line)
        return
    if rest and rest[0] == "--seq":
        s = connect(sock)
        f = s.makefile("rb")
        for req in rest[1:]:
            s.sendall(req.encode("utf-8") + b"\n")
            sys.stdout.write(read_line(f) or "<closed>\n")
        return
    if rest[0].startswith("@"):
        with open(rest[0][1:], encoding="utf-8") as fh:
            rest[0] = fh.read()
    req = json.loads(rest[0])
    body = b""
    if len(rest) > 2 and rest[1] == "--body":
        with open(rest[2], "rb") as fh:
            body = fh.read()
        req["body_size"] = len(body)
    s = connect(sock)
    s.sendall(json.dumps(req).encode("utf-8") + b"\n" + body)
    f = s.makefile("rb")
    line = read_line(f)
    if line is None:
        print("<closed>")
        return
    sys.stdout.write(line)
    head = json.loads(line)
    size = head.get("body_size", 0)
    if size and os.environ.get("AGENTCALL_BODY_OUT"):
        with open(os.environ["AGENTCALL_BODY_OUT"], "wb") as out:
            while size:
                chunk = f.read(min(size, 65536))
                if not chunk:
                    raise SystemExit("body ended early")
                out.write(chunk)
                size -= len(chunk)


if __name__ == "__main__":
    main()
