#!/usr/bin/python3
"""Drive `pyro mcp serve` with raw protocol lines, for what an SDK client
never sends: garbage, batches, oversize lines, odd ids.

    mcpraw.py PYRO [SERVE ARGS...] < script

The script on stdin is one item per line:
    send JSON-OR-TEXT     write that line (\\n added)
    sendbytes PYEXPR      write the bytes of a Python bytes expression
    expect N              read N answer lines and print each, compacted
    wait SECONDS          sleep
    close                 close the server's stdin, wait for it to exit
                          (at most 30 s) and print "exit CODE"
Anything else is an error. Every line the server writes must be one JSON
object; anything else is printed as "NOT JSON: ..." (and fails a test).
"""
import json
import subprocess
import sys
import time


def main():
    proc = subprocess.Popen(
        [sys.argv[1], "pyro", "mcp", "serve", *sys.argv[2:]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    for raw in sys.stdin:
        raw = raw.rstrip("\n")
        if not raw:
            continue
        cmd, _, arg = raw.partition(" ")
        if cmd == "send":
            proc.stdin.write(arg.encode() + b"\n")
            proc.stdin.flush()
        elif cmd == "sendbytes":
            proc.stdin.write(eval(arg))  # the test's own literal
            proc.stdin.flush()
        elif cmd == "expect":
            for _ in range(int(arg)):
                line = proc.stdout.readline()
                if not line:
                    print("EOF")
                    break
                try:
                    msg = json.loads(line)
                    if not isinstance(msg, dict):
                        raise ValueError
                    # Only the parts the tests compare: drop long texts.
                    if "result" in msg and isinstance(msg["result"], dict):
                        msg["result"] = {k: ("..." if k in ("instructions", "tools", "content", "structuredContent") else v)
                                         for k, v in msg["result"].items()}
                    print(json.dumps(msg, sort_keys=True, separators=(",", ":")))
                except ValueError:
                    print("NOT JSON: " + line[:200].decode(errors="replace"))
            sys.stdout.flush()
        elif cmd == "wait":
            time.sleep(float(arg))
        elif cmd == "close":
            proc.stdin.close()
            t0 = time.monotonic()
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = "timeout"
            rest = proc.stdout.read()
            for line in rest.splitlines():
                print("LATE: " + line[:200].decode(errors="replace"))
            print(f"exit {code}")
            if code != "timeout" and time.monotonic() - t0 > 25:
                print("slow exit")
            return
        else:
            sys.exit(f"mcpraw: unknown script line: {raw}")
    proc.stdin.close()
    proc.wait(timeout=30)


if __name__ == "__main__":
    main()
