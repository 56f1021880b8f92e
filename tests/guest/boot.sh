#!/usr/bin/env bash
# Guest tier smoke test: boot the `test` environment under QEMU -M microvm
# with pyro's own initramfs and pyro's own QEMU command line, wait until
# pyro-init has started the agent, ask for a clean power-off, check QEMU
# exits 0.
#
#   tests/guest/boot.sh PYRO ENVDIR [COUNT]
#
# PYRO is the binary that goes into the initramfs as /init; the test tools
# mkinitramfs and qemuargs (tests/tools/, built into $(BUILD)/tests/) must
# sit in tests/ next to it. ENVDIR holds vmlinux and rootfs.ext4 (make
# env-test). COUNT boots in a row (default 1); every one must pass: a boot
# that fails once is a bug, never retried.
#
# Accel: kvm when /dev/kvm is usable, else tcg (slow, but the same path;
# qemuargs measures the host TSC kHz for tsc_early_khz). PYRO_ACCEL forces
# one.
#
# Power-off: QMP system_powerdown presses microvm's ACPI power button
# (acpi=on); the guest kernel's tiny power button driver sends SIGPWR to
# PID 1; pyro-init stops the agent, syncs and, with pyro.halt=poweroff,
# calls reboot(RB_POWER_OFF), which is ACPI S5 on microvm, and QEMU exits 0.
#
# Waiting is event-driven with deadlines: `tail -F` (inotify) on the
# console log piped to grep, and `wait` on QEMU with a watchdog; no fixed
# sleeps. Prints one line per boot and a summary:
#   boot N: agent started after S s, powered off after S s
#   boot: N/N booted; time to agent: median S s, max S s; total S s
set -u
PYRO=$(readlink -f "${1:?usage: boot.sh PYRO ENVDIR [COUNT]}")
ENVDIR=$(readlink -f "${2:?usage: boot.sh PYRO ENVDIR [COUNT]}")
COUNT=${3:-1}
TOOLS=$(dirname "$PYRO")/tests
MARKER='pyro-init: started the agent'
BOOT_DEADLINE=${PYRO_BOOT_DEADLINE:-60}
STOP_DEADLINE=${PYRO_STOP_DEADLINE:-30}

die() { printf 'boot.sh: %s\n' "$*" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
command -v python3 >/dev/null || die "python3 is missing (the QMP client here is 20 lines of it)"
for t in mkinitramfs qemuargs; do
	[[ -x $TOOLS/$t ]] || die "$TOOLS/$t is missing: make BUILD=... $TOOLS/$t"
done
for f in vmlinux rootfs.ext4; do
	[[ -f $ENVDIR/$f ]] || die "$ENVDIR/$f is missing: make env-test"
done
accel=${PYRO_ACCEL:-}
if [[ -z $accel ]]; then
	if [[ -r /dev/kvm && -w /dev/kvm ]]; then accel=kvm; else accel=tcg; fi
fi

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/pyro-boot.XXXXXX")
qpid=
cleanup() {
	[[ -n $qpid ]] && kill "$qpid" 2>/dev/null
	rm -rf "$SCRATCH"
}
trap cleanup EXIT

# The initramfs cache is the scratch dir's, so the first boot builds it and
# the others must find it (the cache-hit path is tested too).
initrd_for_boot() {
	local out
	out=$("$TOOLS/mkinitramfs" "$PYRO" "$SCRATCH/cache") || die "mkinitramfs failed"
	INITRD=${out% *}
	INITRD_HOW=${out##* }
}

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

# QMP: capabilities, then one command; prints the command's answer.
qmp() {
	python3 - "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())  # greeting
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while True:
        msg = json.loads(f.readline())
        if "return" in msg or "error" in msg:
            break
print(json.dumps(msg))
sys.exit(0 if "return" in msg else 1)
PY
}

# Wait for QEMU to exit, at most $1 seconds; sets qrc (124 on timeout).
wait_qemu() {
	local limit=$1 dog
	(sleep "$limit" && kill -KILL "$qpid" 2>/dev/null && echo timeout >"$SCRATCH/dog") &
	dog=$!
	wait "$qpid"
	qrc=$?
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null
	[[ -f $SCRATCH/dog ]] && qrc=124
	rm -f "$SCRATCH/dog"
	qpid=
}

one_boot() {
	local n=$1 d=$SCRATCH/vm$1 start seen stopped
	mkdir -p "$d"
	initrd_for_boot
	if ((n == 1)) && [[ $INITRD_HOW != built ]]; then die "boot 1: initramfs was $INITRD_HOW, want built"; fi
	if ((n > 1)) && [[ $INITRD_HOW != reused ]]; then die "boot $n: initramfs was $INITRD_HOW, want reused"; fi
	local args=()
	mapfile -t args < <("$TOOLS/qemuargs" --accel "$accel" --acpi --vcpus 1 --mem 256 \
		--kernel "$ENVDIR/vmlinux" --initrd "$INITRD" --rootfs "$ENVDIR/rootfs.ext4" \
		--console "$d/console.log" --agent-socket "$d/agent.sock" --qmp-socket "$d/qmp.sock" \
		pyro.halt=poweroff pyro.stop_grace=5 pyro.agent=--unix,/run/pyro/agent.sock)
	((${#args[@]} > 10)) || die "qemuargs gave no command line"
	if ((n == 1)); then
		printf 'boot: command:'
		printf ' %q' "${args[@]}"
		echo
	fi
	: >"$d/console.log"
	start=$(now)
	"${args[@]}" </dev/null >"$d/qemu.out" 2>&1 &
	qpid=$!
	# tail -F follows the log by inotify and ends when QEMU does, so an
	# early exit is seen at once instead of at the deadline.
	if ! timeout "$BOOT_DEADLINE" grep -q -m1 -F "$MARKER" \
		< <(tail -n +1 -F --pid="$qpid" "$d/console.log" 2>/dev/null); then
		echo "boot $n: FAILED: no '$MARKER' within ${BOOT_DEADLINE}s; console tail:" >&2
		tail -n 25 "$d/console.log" >&2
		cat "$d/qemu.out" >&2
		return 1
	fi
	seen=$(now)
	local t_agent
	t_agent=$(elapsed "$start" "$seen")
	if ! qmp "$d/qmp.sock" system_powerdown >"$d/qmp.out" 2>&1; then
		echo "boot $n: FAILED: QMP system_powerdown: $(cat "$d/qmp.out")" >&2
		return 1
	fi
	wait_qemu "$STOP_DEADLINE"
	stopped=$(now)
	if ((qrc != 0)); then
		echo "boot $n: FAILED: QEMU exit status $qrc after system_powerdown (124: no exit within ${STOP_DEADLINE}s); console tail:" >&2
		tail -n 15 "$d/console.log" >&2
		cat "$d/qemu.out" >&2
		return 1
	fi
	if ! grep -q 'pyro-init: powering off to end the VM' "$d/console.log"; then
		echo "boot $n: FAILED: QEMU exited 0 but pyro-init did not power off; console tail:" >&2
		tail -n 15 "$d/console.log" >&2
		return 1
	fi
	# The first boot shows what pyro-init said, the way it ended included.
	((n == 1)) && grep -a '^pyro-init:' "$d/console.log" | sed 's/^/  console: /'
	echo "boot $n: agent started after ${t_agent}s, powered off after $(elapsed "$seen" "$stopped")s"
	echo "$t_agent" >>"$SCRATCH/times"
	rm -rf "$d"
}

echo "boot: $COUNT boot(s), accel $accel, $ENVDIR"
t0=$(now)
ok=0
for ((i = 1; i <= COUNT; i++)); do
	one_boot "$i" && ok=$((ok + 1))
done
t1=$(now)
python3 - "$ok" "$COUNT" "$(elapsed "$t0" "$t1")" "$SCRATCH/times" <<'PY'
import statistics, sys
ok, count, total, path = sys.argv[1:]
try:
    times = [float(x) for x in open(path)]
except FileNotFoundError:
    times = []
if times:
    print(f"boot: {ok}/{count} booted; time to agent: median {statistics.median(times):.2f}s, "
          f"max {max(times):.2f}s; total {total}s")
else:
    print(f"boot: {ok}/{count} booted; total {total}s")
PY
((ok == COUNT))
