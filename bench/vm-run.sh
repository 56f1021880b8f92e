#!/usr/bin/env bash
# VM run overhead: `pyro run test -- true` against a raw QEMU boot of the
# same guest, both measured in the same run, rounds interleaved.
#
#   bench/vm-run.sh build/pyro build/env/test build/bench/cpu_of build/bench/boot_marker
#
# BENCH_ROUNDS rounds of each (default 10), after one unmeasured warm-up of
# each (it builds pyro's initramfs and fills the page cache). Private
# PYRO_STATE_DIR and PYRO_CACHE_DIR (the bundle is imported into the
# latter); PYRO_BACKEND=qemu; PYRO_ACCEL=tcg unless BENCH_ACCEL=kvm.
#
# Baseline: the QEMU command line pyro itself ran in the warm-up, read from
# /proc (bench/cpu_of.c --vmm-cmdline), so machine type, accel, memory,
# vCPUs, kernel, pyro's initramfs, the rootfs as a snapshot drive and the
# kernel command line are pyro's by construction, not by a copy of its
# defaults. Only the console file is a new path, and the agent line's fd
# is one end of a socketpair nobody answers on. bench/boot_marker.c runs
# it and times exec to the console line MARKER (pyro-init has started the
# agent), then kills QEMU. So the baseline is the boot alone; `pyro run`'s
# time also holds creating the VM record, the supervisor, the agent
# handshake, running `true` and tearing the VM down. Medians are printed,
# with min and max.
#
# pyro's own CPU per run (bench/cpu_of.c): `pyro run` (rusage from wait4)
# plus the pyro-vmm supervisor without its child QEMU. The supervisor is
# double-forked away from `pyro run`; cpu_of is a child subreaper, so it
# ends up as cpu_of's child, and its own CPU is read from its CPU clock
# while it is a zombie (WNOWAIT), before reaping it. These are the
# scheduler's runtime sums at ns resolution, not 10 ms ticks; the figure
# is the total over all rounds divided by the rounds. QEMU's CPU (what
# the supervisor reaped) is shown for scale.
#
# Peak RSS: `pyro run` from wait4's ru_maxrss (exact); the supervisor's
# VmHWM sampled every 5 ms while it runs (a zombie has no memory left to
# read, and its ru_maxrss would be QEMU's), so a peak in its last 5 ms
# would be missed. The largest over the rounds.
#
# Targets (ratio <= 1.10, CPU <= 20 ms per run) are reported, not
# enforced: these machines are noisy. A failing run or boot fails the
# benchmark; a missed target does not.
set -euo pipefail
usage="usage: vm-run.sh PATH/TO/pyro ENV_BUNDLE_DIR PATH/TO/cpu_of PATH/TO/boot_marker"
die() { printf 'vm-run.sh: %s\n' "$*" >&2; exit 1; }
(($# == 4)) || die "$usage"
PYRO=$(readlink -f "$1")
BUNDLE=$(readlink -f "$2")
CPU_OF=$(readlink -f "$3")
BOOT_MARKER=$(readlink -f "$4")
ROUNDS=${BENCH_ROUNDS:-10}
MARKER='pyro-init: started the agent'
TARGET_RATIO=1.10
TARGET_CPU_MS=20

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer (got '$ROUNDS')"
for t in "$PYRO" "$CPU_OF" "$BOOT_MARKER"; do
	[[ -x $t ]] || die "$t is missing: make BUILD=... bench builds it"
done
for f in vmlinux rootfs.ext4 manifest.json; do
	[[ -f $BUNDLE/$f ]] || die "$BUNDLE/$f is missing: make BUILD=... env-test builds the bundle"
done
qemu=${PYRO_QEMU:-$(command -v qemu-system-x86_64 || true)}
[[ -n $qemu && -x $qemu ]] ||
	die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86, or set PYRO_QEMU)"

W=$(mktemp -d "${TMPDIR:-/tmp}/pyro-bench-vm.XXXXXX")
export PYRO_STATE_DIR=$W/state PYRO_CACHE_DIR=$W/cache PYRO_BACKEND=qemu
export PYRO_ACCEL=${BENCH_ACCEL:-tcg}
# A VM left by an interrupted round: stop its supervisor (which stops its
# QEMU) by the pid it wrote, when that pid is still a supervisor of ours.
cleanup() {
	local f pid
	for f in "$W"/state/vms/*/supervisor.pid; do
		[[ -f $f ]] || continue
		read -r pid _ <"$f" || continue
		if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--dir $W/state/"; then
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PYRO" env import "$BUNDLE" >"$W/import.log" 2>&1 || { cat "$W/import.log" >&2; die "pyro env import $BUNDLE failed"; }

# One `pyro run` under cpu_of; its key=value figures go to $W/runs.
pyro_round() {
	local out
	if ! out=$("$CPU_OF" "$@" -- "$PYRO" run test -- true 2>"$W/run.log"); then
		cat "$W/run.log" >&2
		die "cpu_of failed"
	fi
	case " $out " in
	*' status=0 '*' orphans=1 '*) ;;
	*) cat "$W/run.log" >&2; die "pyro run test -- true did not end cleanly: $out" ;;
	esac
	echo "$out"
}
pyro_round --vmm-cmdline "$W/vmm.cmdline" >/dev/null

# The baseline's argv: pyro's, with its own console file and agent line.
mapfile -d '' -t qargs <"$W/vmm.cmdline"
[[ " ${qargs[*]} " == *' -M microvm'* ]] || die "the captured VMM command line is not QEMU -M microvm: ${qargs[*]}"
mkdir -p "$W/raw"
fdopt=()
for i in "${!qargs[@]}"; do
	case ${qargs[i]} in
	file,id=console,path=*) qargs[i]="file,id=console,path=$W/raw/console.log" ;;
	socket,id=agent,*fd=*)
		fd=${qargs[i]#*fd=}
		fdopt=(--fd "${fd%%,*}")
		;;
	socket,id=agent,*path=*) qargs[i]="socket,id=agent,path=$W/raw/agent.sock,server=on,wait=off" ;;
	esac
done
for a in "${qargs[@]}"; do
	[[ $a != *"$W/state"* ]] || die "the captured command line still names the VM dir ($a): teach vm-run.sh about it"
done
raw_round() {
	rm -f "$W/raw/agent.sock"
	TMPDIR=$W/raw "$BOOT_MARKER" "${fdopt[@]}" "$W/raw/console.log" "$MARKER" -- "${qargs[@]}" ||
		die "the raw QEMU boot did not reach '$MARKER'"
}
raw_round >/dev/null

for ((r = 1; r <= ROUNDS; r++)); do
	raw_round >>"$W/raws"
	pyro_round >>"$W/runs"
done

# Column NAME of the key=value lines in FILE, one value a line.
col() { tr ' ' '\n' <"$2" | sed -n "s/^$1=//p"; }
# median min max of the numbers on stdin
stats() { sort -n | awk '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; print m, a[1], a[NR] }'; }
sum() { awk '{ s += $1 } END { print s + 0 }'; }

read -r raw_med raw_min raw_max < <(col marker_us "$W/raws" | stats)
read -r run_med run_min run_max < <(col wall_us "$W/runs" | stats)
run_cpu=$(col run_cpu_us "$W/runs" | sum)
sup_cpu=$(col sup_cpu_us "$W/runs" | sum)
vmm_cpu=$(col vmm_cpu_us "$W/runs" | sum)
read -r _ cpu_min cpu_max < <(paste -d' ' <(col run_cpu_us "$W/runs") <(col sup_cpu_us "$W/runs") | awk '{ print $1 + $2 }' | stats)
run_rss=$(col run_rss_kb "$W/runs" | sort -n | tail -1)
sup_rss=$(col sup_rss_kb "$W/runs" | sort -n | tail -1)

arg_after() { local i; for i in "${!qargs[@]}"; do [[ ${qargs[i]} == "$1" ]] && { echo "${qargs[i + 1]}"; return; }; done; echo '?'; }
awk -v rounds="$ROUNDS" -v accel="$(arg_after -accel)" -v smp="$(arg_after -smp)" -v mem="$(arg_after -m)" \
	-v bundle="$BUNDLE" -v marker="$MARKER" \
	-v raw_med="$raw_med" -v raw_min="$raw_min" -v raw_max="$raw_max" \
	-v run_med="$run_med" -v run_min="$run_min" -v run_max="$run_max" \
	-v run_cpu="$run_cpu" -v sup_cpu="$sup_cpu" -v vmm_cpu="$vmm_cpu" \
	-v cpu_min="$cpu_min" -v cpu_max="$cpu_max" -v run_rss="$run_rss" -v sup_rss="$sup_rss" \
	-v target_ratio="$TARGET_RATIO" -v target_cpu="$TARGET_CPU_MS" '
function met(ok) { return ok ? "met" : "NOT met" }
BEGIN {
	ratio = run_med / raw_med
	cpu = (run_cpu + sup_cpu) / rounds / 1000
	printf "vm run, %s, QEMU -M microvm accel %s, %s vCPU, %s MiB, median of %d (min-max):\n", bundle, accel, smp, mem, rounds
	row = "  %-48s %7.3f s  (%.3f-%.3f)  %s\n"
	printf row, "raw QEMU boot to \"" marker "\"", raw_med / 1e6, raw_min / 1e6, raw_max / 1e6, "baseline"
	printf row, "pyro run test -- true", run_med / 1e6, run_min / 1e6, run_max / 1e6, sprintf("ratio %.3f; target <= %.2f: %s", ratio, target_ratio, met(ratio <= target_ratio))
	printf "  %-48s %7.1f ms (%.1f-%.1f)  target <= %d ms: %s\n", "pyro CPU per run (user+sys, QEMU excluded)", cpu, cpu_min / 1000, cpu_max / 1000, target_cpu, met(cpu <= target_cpu)
	printf "    pyro run %.1f ms + pyro-vmm %.1f ms, total over %d runs / %d (scheduler runtime, ns resolution)\n", run_cpu / rounds / 1000, sup_cpu / rounds / 1000, rounds, rounds
	printf "    QEMU, for scale: %.0f ms per run\n", vmm_cpu / rounds / 1000
	printf "  peak RSS: pyro run %.1f MiB (ru_maxrss), pyro-vmm %.1f MiB (VmHWM sampled every 5 ms)\n", run_rss / 1024, sup_rss / 1024
}'
