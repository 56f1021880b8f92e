/* Does KVM really work for QEMU here? /dev/kvm opening read-write is not
 * enough: nested or sandboxed hosts expose a /dev/kvm whose vCPUs cannot
 * take the MSRs QEMU sets (seen on this project's CI machines, inside a
 * Firecracker VM: "failed to set MSR 0x10a", then an abort), so a backend
 * chosen on the device alone would fail every boot.
 *
 * The probe starts QEMU with the same machine and CPU pyro boots
 * (microvm, -accel kvm -cpu host), paused (-S), and quits it through the
 * monitor on stdin. The vCPU registers and MSRs are pushed into KVM while
 * the machine is set up, before the monitor runs, so a broken KVM fails
 * right there (~30 ms) and a working one exits 0 (~50 ms). A failure counts
 * as "KVM broken" only when the same machine then runs under TCG; a QEMU
 * that fails either way, or a timeout, gives no verdict. A verdict is
 * kept per host boot and QEMU binary in <cache dir>/host/kvm-probe, since a working KVM
 * does not stop working until the host reboots (written only when the
 * cache dir exists already, so `pyro doctor` creates nothing). */
#ifndef PYRO_KVMPROBE_H
#define PYRO_KVMPROBE_H

#include <stdbool.h>
#include <stddef.h>

enum kvm_verdict {
	KVMPROBE_OK,      /* KVM guests run */
	KVMPROBE_BROKEN,  /* QEMU runs the machine under TCG but not under KVM */
	KVMPROBE_UNKNOWN, /* no verdict: QEMU failed either way, or timed out */
};

/* The verdict, with `why` for anything but OK (cached as described). */
enum kvm_verdict kvmprobe_verdict(const char *qemu, char *why, size_t cap, bool *cached);

/* True when qemu can run KVM guests (kvmprobe_verdict == KVMPROBE_OK). When false, `why` says what failed
 * (QEMU's own last words). cached (may be NULL) tells whether the verdict
 * came from the cache. */
bool kvmprobe_qemu(const char *qemu, char *why, size_t cap, bool *cached);

#endif
