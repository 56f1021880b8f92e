/* Helpers for the VM lifecycle tests (vmtest.h). */
#include "vmtest.h"

#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../core/vmmanager.h"
#include "../../core/vmrecord.h"

static const char *const vars[] = {
	"PYRO_STATE_DIR", "PYRO_CACHE_DIR", "PYRO_BACKEND",
	"PYRO_QEMU", "PYRO_FIRECRACKER", "PYRO_MAX_ACTIVE_VMS",
	"PYRO_ACCEL", "PYRO_ENVIRONMENT_CACHE_DIR", "PYRO_UNIT_SECRET",
};
#define NVARS (sizeof vars / sizeof vars[0])

void vt_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

void vmtest_with_env(void (*body)(void))
{
	char *saved[NVARS];
	for (size_t i = 0; i < NVARS; i++) {
		const char *v = getenv(vars[i]);
		saved[i] = v ? strdup(v) : NULL;
		unsetenv(vars[i]);
	}
	char state[PATH_MAX], cache[PATH_MAX];
	vt_fmt(state, sizeof state, "%s/state", test_tmpdir());
	vt_fmt(cache, sizeof cache, "%s/cache", test_tmpdir());
	setenv("PYRO_STATE_DIR", state, 1);
	setenv("PYRO_CACHE_DIR", cache, 1);
	setenv("PYRO_BACKEND", "host", 1);
	setenv("PYRO_QEMU", "/nonexistent/qemu-system-x86_64", 1);
	setenv("PYRO_FIRECRACKER", "/nonexistent/firecracker", 1);
	body();
	for (size_t i = 0; i < NVARS; i++) {
		if (saved[i])
			setenv(vars[i], saved[i], 1);
		else
			unsetenv(vars[i]);
		free(saved[i]);
	}
}

void vt_vms_dir(char *out, size_t cap)
{
	if (vmstore_dir(out, cap, NULL) < 0)
		out[0] = '\0';
}

bool vt_vm_dir_exists(const char *id)
{
	char vms[PATH_MAX], dir[PATH_MAX + 16];
	struct stat st;
	vt_vms_dir(vms, sizeof vms);
	vt_fmt(dir, sizeof dir, "%s/%s", vms, id);
	return stat(dir, &st) == 0;
}

int vt_count_vm_dirs(void)
{
	char vms[PATH_MAX];
	vt_vms_dir(vms, sizeof vms);
	DIR *d = opendir(vms);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += randid_valid(de->d_name);
	closedir(d);
	return n;
}

int vt_create(int vcpu, int mem, int ttl, bool host_compat, char id[RANDID_SIZE],
	      struct pyro_err *err)
{
	struct vm_create_opts o = { .environment = "test", .vcpu_count = vcpu, .mem_mib = mem,
				    .ttl_seconds = ttl, .allow_host_compat = host_compat };
	struct vm_record r;
	if (id)
		id[0] = '\0';
	if (vm_create(&o, NULL, &r, NULL, NULL, err) < 0)
		return -1;
	if (id)
		snprintf(id, RANDID_SIZE, "%s", r.vm_id);
	return 0;
}

int vt_create_started(char id[RANDID_SIZE], struct pyro_err *err)
{
	struct vm_record r;
	if (vt_create(0, 0, 0, true, id, err) < 0)
		return -1;
	return vm_start(id, NULL, &r, NULL, NULL, err);
}

int vt_set_times(const char *id, double created_at, double expires_at)
{
	char vms[PATH_MAX];
	struct vm_record r;
	struct pyro_err err;
	vt_vms_dir(vms, sizeof vms);
	if (vmrecord_load(vms, id, &r, &err) < 0)
		return -1;
	if (created_at >= 0)
		r.created_at = created_at;
	if (expires_at >= 0)
		r.expires_at = expires_at;
	return vmrecord_save(&r, &err);
}

double vt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

bool vt_str_is(const struct json_value *o, const char *key, const char *want)
{
	const char *s = o ? json_get_str(o, key) : NULL;
	return s && strcmp(s, want) == 0;
}

bool vt_int_is(const struct json_value *o, const char *key, int64_t want)
{
	int64_t v;
	return o && json_get_int(o, key, &v) && v == want;
}

bool vt_bool_is(const struct json_value *o, const char *key, bool want)
{
	bool b;
	return o && json_get_bool(o, key, &b) && b == want;
}

double vt_num(const struct json_value *o, const char *key)
{
	const struct json_value *v = o ? json_get(o, key) : NULL;
	return v && v->type == JSON_NUMBER ? v->u.number.d : -1;
}
