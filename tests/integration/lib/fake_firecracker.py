#!/usr/bin/python3
"""A stand-in for the firecracker binary, for testing pyro's Firecracker
backend on hosts that cannot run Firecracker.

It takes Firecracker's command line (--no-api --config-file F --log-path L
--level Info, or --version), checks the config file's shape against
Firecracker's documented schema, copies it to $FAKE_FC_DUMP (when set),
prints a line of "console" on stdout, and then plays Firecracker's hybrid
vsock: it listens on vsock.uds_path, answers "CONNECT <port>\n" with
"OK <n>\n" and relays the connection to the real guest agent, which the
test runs on the host at $FAKE_FC_AGENT (a UNIX socket). SIGTERM ends it,
as it ends Firecracker.
"""
import json
import os
import signal
import socket
import sys
import threading


def fail(msg):
    print(f"fake-firecracker: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def check_config(cfg):
    for key in ("boot-source", "drives", "machine-config"):
        if key not in cfg:
            fail(f"config lacks {key}")
    bs = cfg["boot-source"]
    if not os.path.isfile(bs.get("kernel_image_path", "")):
        fail("boot-source.kernel_image_path is not a file")
    if "initrd_path" in bs and not os.path.isfile(bs["initrd_path"]):
        fail("boot-source.initrd_path is not a file")
    if "pyro.agent=--vsock,5005" not in bs.get("boot_args", ""):
        fail("boot_args lack the agent key")
    roots = [d for d in cfg["drives"] if d.get("is_root_device")]
    if len(roots) != 1 or not os.path.isfile(roots[0]["path_on_host"]):
        fail("there must be exactly one root drive, and it must exist")
    mc = cfg["machine-config"]
    if not (1 <= mc.get("vcpu_count", 0) <= 32) or mc.get("mem_size_mib", 0) < 128:
        fail("machine-config is out of range")
    if "vsock" not in cfg or cfg["vsock"].get("guest_cid", 0) < 3:
        fail("vsock with guest_cid >= 3 is required")


def relay(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(conn, agent_path):
    line = b""
    while not line.endswith(b"\n") and len(line) < 64:
        c = conn.recv(1)
        if not c:
            conn.close()
            return
        line += c
    parts = line.decode().split()
    if len(parts) != 2 or parts[0] != "CONNECT" or parts[1] != "5005":
        conn.close()  # Firecracker closes on a port nobody listens on
        return
    agent = socket.socket(socket.AF_UNIX)
    try:
        agent.connect(agent_path)
    except OSError:
        conn.close()
        return
    conn.sendall(b"OK 1073741824\n")
    t = threading.Thread(target=relay, args=(agent, conn), daemon=True)
    t.start()
    relay(conn, agent)
    t.join()
    conn.close()
    agent.close()


def main():
    args = sys.argv[1:]
    if args == ["--version"]:
        print("Firecracker v1.7.0 (fake)")
        return
    if "--no-api" not in args or "--config-file" not in args:
        fail(f"unexpected command line {args}")
    cfg_path = args[args.index("--config-file") + 1]
    if "--log-path" in args and not os.path.exists(args[args.index("--log-path") + 1]):
        fail("the log file must exist before firecracker starts")
    with open(cfg_path) as f:
        cfg = json.load(f)
    check_config(cfg)
    if os.environ.get("FAKE_FC_DUMP"):
        with open(os.environ["FAKE_FC_DUMP"], "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
    if os.environ.get("FAKE_FC_DIE"):
        print("fake-firecracker: dying as asked", file=sys.stderr, flush=True)
        sys.exit(3)
    uds = cfg["vsock"]["uds_path"]
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(uds)
    srv.listen(16)
    print("fake guest console: booted", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    agent_path = os.environ["FAKE_FC_AGENT"]
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, agent_path), daemon=True).start()


if __name__ == "__main__":
    main()
