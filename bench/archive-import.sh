#!/usr/bin/env bash
# Archive import throughput: a FILES-file, TOTAL_MB tree sent to the guest
# agent's extract_archive over a UNIX socket, against `tar cf - | tar xf -`
# of the same tree in the same run (the baseline). Both sides include
# creating the tar stream; both write to the same filesystem.
#
#   bench/archive-import.sh build/pyro build/bench/agent_upload [FILES] [TOTAL_MB] [ROUNDS]
#
# agent_upload (bench/agent_upload.c) is the host's own client
# (core/agentclient.h), streaming the tar file as the request body.
# Prints MB/s for each side (best of ROUNDS) and the ratio.
set -euo pipefail
usage="usage: archive-import.sh PATH/TO/pyro PATH/TO/agent_upload [FILES] [TOTAL_MB] [ROUNDS]"
PYRO=$(readlink -f "${1:?$usage}")
UPLOAD=$(readlink -f "${2:?$usage}")
FILES=${3:-10000}
TOTAL_MB=${4:-100}
ROUNDS=${5:-3}
W=$(mktemp -d "${TMPDIR:-/tmp}/pyro-bench.XXXXXX")
trap 'kill "${agent_pid:-0}" 2>/dev/null || true; rm -rf "$W"' EXIT

# The tree: FILES files of equal size in 100 directories, incompressible.
python3 - "$W/tree" "$FILES" "$TOTAL_MB" <<'PY'
import os, sys
root, files, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) << 20
size = total // files
blob = os.urandom(size + 4096)
for i in range(files):
    d = os.path.join(root, f"d{i % 100:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
        f.write(blob[i % 4096 : i % 4096 + size])
PY
bytes=$(du -sb "$W/tree" | cut -f1)

mkdir -p "$W/root/workspace"
"$PYRO" pyro-guest-agent --unix "$W/sock" --root "$W/root" 2>"$W/agent.log" &
agent_pid=$!
for _ in $(seq 100); do [[ -S $W/sock ]] && break; sleep 0.05; done

now() { date +%s.%N; }
best_tar=999999 best_agent=999999
for r in $(seq "$ROUNDS"); do
	rm -rf "$W/dest" && mkdir -p "$W/dest" && sync
	t0=$(now)
	tar cf - -C "$W/tree" . | tar xf - -C "$W/dest"
	t1=$(now)
	best_tar=$(awk -v a="$t0" -v b="$t1" -v m="$best_tar" 'BEGIN { d = b - a; print (d < m) ? d : m }')

	rm -rf "$W/root/workspace/dest" && sync
	t0=$(now)
	tar cf "$W/t.tar" -C "$W/tree" .
	out=$("$UPLOAD" "$W/sock" "$W/t.tar" /workspace/dest)
	t1=$(now)
	rm -f "$W/t.tar"
	case $out in *'"entry_count"'*) ;; *) echo "extract failed: $out" >&2; exit 1 ;; esac
	best_agent=$(awk -v a="$t0" -v b="$t1" -v m="$best_agent" 'BEGIN { d = b - a; print (d < m) ? d : m }')
done
diff -r "$W/tree" "$W/root/workspace/dest" >/dev/null || { echo "trees differ" >&2; exit 1; }

mbs() { awk -v n="$bytes" -v t="$1" 'BEGIN { printf "%.1f", n / 1048576 / t }'; }
printf 'archive import, %d files, %s MB, best of %d:\n' "$FILES" "$(awk -v n="$bytes" 'BEGIN { printf "%.1f", n / 1048576 }')" "$ROUNDS"
printf '  tar cf - | tar xf -            %8.3f s  %8s MB/s  (baseline)\n' "$best_tar" "$(mbs "$best_tar")"
printf '  agent extract_archive (UNIX)   %8.3f s  %8s MB/s  ratio %.2f of baseline\n' \
	"$best_agent" "$(mbs "$best_agent")" "$(awk -v a="$best_tar" -v b="$best_agent" 'BEGIN { print a / b }')"
