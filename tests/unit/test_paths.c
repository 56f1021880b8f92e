#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/exitcodes.h"
#include "../../core/paths.h"
#include "test.h"

/* Save/restore the variables these tests change. */
static const char *const vars[] = { "PYRO_CACHE_DIR", "PYRO_STATE_DIR", "XDG_CACHE_HOME",
				    "XDG_STATE_HOME", "HOME" };
static char *saved[5];

static void save_env(void)
{
	for (int i = 0; i < 5; i++) {
		const char *v = getenv(vars[i]);
		saved[i] = v ? strdup(v) : NULL;
		unsetenv(vars[i]);
	}
}

static void restore_env(void)
{
	for (int i = 0; i < 5; i++) {
		if (saved[i])
			setenv(vars[i], saved[i], 1);
		else
			unsetenv(vars[i]);
		free(saved[i]);
		saved[i] = NULL;
	}
}

TEST(paths_follow_overrides_then_xdg_then_home)
{
	char out[4096];
	struct pyro_err err;
	save_env();
	setenv("HOME", "/home/u", 1);
	CHECK(paths_cache_dir(out, sizeof out, &err) == 0);
	CHECK_STR(out, "/home/u/.cache/pyro");
	CHECK(paths_state_dir(out, sizeof out, &err) == 0);
	CHECK_STR(out, "/home/u/.local/state/pyro");
	setenv("XDG_CACHE_HOME", "/xdg/cache", 1);
	setenv("XDG_STATE_HOME", "relative/ignored", 1);
	CHECK(paths_cache_dir(out, sizeof out, &err) == 0);
	CHECK_STR(out, "/xdg/cache/pyro");
	CHECK(paths_state_dir(out, sizeof out, &err) == 0);
	CHECK_STR(out, "/home/u/.local/state/pyro");
	setenv("PYRO_CACHE_DIR", "/srv/pyro-cache", 1);
	CHECK(paths_cache_dir(out, sizeof out, &err) == 0);
	CHECK_STR(out, "/srv/pyro-cache");
	CHECK(paths_environments_dir(out, sizeof out, &err) == 0);
	CHECK_STR(out, "/srv/pyro-cache/environments");
	setenv("PYRO_STATE_DIR", "rel", 1);
	CHECK(paths_state_dir(out, sizeof out, &err) == -1);
	CHECK(err.code == PYRO_EXIT_USAGE);
	CHECK_CONTAINS(err.msg, "PYRO_STATE_DIR must be an absolute path (got 'rel')");
	char small[8];
	CHECK(paths_cache_dir(small, sizeof small, &err) == -1);
	CHECK_CONTAINS(err.msg, "path too long");
	restore_env();
}

TEST(paths_probe_describes_missing_and_existing_dirs)
{
	struct path_access a;
	char dir[512];
	snprintf(dir, sizeof dir, "%s/exists", test_tmpdir());
	CHECK(mkdir(dir, 0700) == 0);
	paths_probe_dir(dir, &a);
	CHECK(a.exists && a.is_dir && a.writable);
	char missing[600];
	snprintf(missing, sizeof missing, "%s/not/yet/there", dir);
	paths_probe_dir(missing, &a);
	CHECK(!a.exists && a.writable);
	CHECK_STR(a.nearest, dir);
	if (geteuid() != 0) { /* root can write anywhere */
		chmod(dir, 0500);
		paths_probe_dir(missing, &a);
		CHECK(!a.writable);
		chmod(dir, 0700);
	}
	char file[600];
	snprintf(file, sizeof file, "%s/f", dir);
	FILE *f = fopen(file, "w");
	CHECK(f);
	fclose(f);
	paths_probe_dir(file, &a);
	CHECK(a.exists && !a.is_dir && !a.writable);
}
