#!/usr/bin/python3
"""MCP server latency and memory: `pyro mcp serve` driven over stdio.

    bench/mcp.py PATH/TO/pyro [ROUNDS]

Prints, each against a baseline measured in the same run:
  - tools/list round trip vs ping round trip (the cheapest request: what
    framing, dispatch and a write cost), medians of ROUNDS (default 200);
  - tools/call vm_run on the host backend (create, start, run
    `echo hi` under bash -lc, delete: the whole lifecycle minus the VM)
    vs running `bash -lc 'echo hi'` directly, medians of ROUNDS/10;
  - the server's resident memory (VmRSS) idle after initialize and
    tools/list, and its peak (VmHWM) at the end.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    pyro = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    state = tempfile.mkdtemp(prefix="pyro-bench-mcp.")
    env = dict(os.environ, PYRO_BACKEND="host", PYRO_STATE_DIR=state)
    proc = subprocess.Popen([pyro, "mcp", "serve", "--profile", "workspace-full"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    next_id = [0]

    def call(method, params=None):
        msg = {"jsonrpc": "2.0", "id": next_id[0], "method": method}
        if params is not None:
            msg["params"] = params
        next_id[0] += 1
        t0 = time.perf_counter()
        proc.stdin.write((json.dumps(msg) + "\n").encode())
        proc.stdin.flush()
        while True:
            line = proc.stdout.readline()
            if not line:
                sys.exit("bench/mcp.py: the server closed its stdout")
            answer = json.loads(line)
            if answer.get("id") == msg["id"]:
                break
        dt = time.perf_counter() - t0
        if "error" in answer or answer.get("result", {}).get("isError"):
            sys.exit(f"bench/mcp.py: {method} failed: {line[:300]!r}")
        return dt

    def rss(field):
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
        return 0.0

    call("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": "bench", "version": "1"}})
    call("tools/list")
    time.sleep(0.2)
    idle = rss("VmRSS")
    ping = statistics.median(call("ping") for _ in range(rounds))
    lst = statistics.median(call("tools/list") for _ in range(rounds))
    args = {"environment": "test", "command": "echo hi", "allow_host_compat": True}
    n = max(rounds // 10, 5)
    run = statistics.median(call("tools/call", {"name": "vm_run", "arguments": args})
                            for _ in range(n))

    # The same environment pyro gives a host-compat command: PATH, and a
    # HOME with no profile in it.
    direct_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": state}

    def direct():
        t0 = time.perf_counter()
        subprocess.run(["bash", "-lc", "echo hi"], stdout=subprocess.DEVNULL, check=True,
                       env=direct_env, cwd=state)
        return time.perf_counter() - t0
    base = statistics.median(direct() for _ in range(n))
    peak = rss("VmHWM")
    proc.stdin.close()
    proc.wait(timeout=30)
    subprocess.run(["rm", "-rf", state])
    print(f"mcp server, stdio, medians ({rounds} requests; {n} tool calls):")
    print(f"  ping round trip                     {ping * 1e3:8.3f} ms  (baseline)")
    print(f"  tools/list round trip (10 tools)    {lst * 1e3:8.3f} ms  ratio {lst / ping:.2f}")
    print(f"  bash -lc 'echo hi' run directly     {base * 1e3:8.3f} ms  (baseline, same env)")
    print(f"  tools/call vm_run, host backend     {run * 1e3:8.3f} ms  ratio {run / base:.2f}")
    print(f"  server RSS idle {idle:.1f} MiB, peak {peak:.1f} MiB")


if __name__ == "__main__":
    main()
