/* Test helpers for the VM lifecycle tests (test_vmmanager.c,
 * test_vmstore.c): a private, host-only environment per test and small
 * lookups on the store and on payloads.
 *
 * VM_TEST(name) { ... } is TEST(name) run inside vmtest_with_env():
 * PYRO_STATE_DIR and PYRO_CACHE_DIR point into the test's own
 * test_tmpdir(), PYRO_BACKEND=host, and PYRO_QEMU / PYRO_FIRECRACKER name
 * missing binaries, so the host's own QEMU, firecracker and /dev/kvm never
 * matter (nor start a KVM probe). PYRO_MAX_ACTIVE_VMS, PYRO_ACCEL,
 * PYRO_ENVIRONMENT_CACHE_DIR and PYRO_UNIT_SECRET start unset. Every one of
 * them gets its previous value back afterwards, also when a CHECK ended the
 * body early. */
#ifndef PYRO_TEST_VMTEST_H
#define PYRO_TEST_VMTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/err.h"
#include "../../core/json.h"
#include "../../core/randid.h"
#include "test.h"

void vmtest_with_env(void (*body)(void));

#define VM_TEST(name)                         \
	static void body_##name(void);        \
	TEST(name)                            \
	{                                     \
		vmtest_with_env(body_##name); \
	}                                     \
	static void body_##name(void)

/* snprintf without gcc's truncation analysis: test paths are short. */
void vt_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* <state>/vms ("" when it cannot be named). */
void vt_vms_dir(char *out, size_t cap);
bool vt_vm_dir_exists(const char *id);
/* How many VM directories (12-hex names) the store holds. */
int vt_count_vm_dirs(void);

/* Create a host VM through vm_create ("test" environment; 0 = the
 * defaults); its id into id when id is not NULL. */
int vt_create(int vcpu, int mem, int ttl, bool host_compat, char id[RANDID_SIZE],
	      struct pyro_err *err);
/* Create and start one with the defaults. */
int vt_create_started(char id[RANDID_SIZE], struct pyro_err *err);
/* Rewrite a VM's times through vmrecord_load/vmrecord_save; a negative
 * value leaves that time alone. */
int vt_set_times(const char *id, double created_at, double expires_at);

double vt_now(void); /* CLOCK_REALTIME in seconds, as the records hold it */

/* Payload lookups: false/-1 when o is NULL, the key is missing or of
 * another type. */
bool vt_str_is(const struct json_value *o, const char *key, const char *want);
bool vt_int_is(const struct json_value *o, const char *key, int64_t want);
bool vt_bool_is(const struct json_value *o, const char *key, bool want);
double vt_num(const struct json_value *o, const char *key);

#endif
