#include "paths.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcodes.h"

static int fit(char *out, size_t cap, struct pyro_err *err, const char *a, const char *b)
{
	int n = snprintf(out, cap, "%s%s", a, b);
	if (n < 0 || (size_t)n >= cap)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "path too long: %s%s", a, b);
	return 0;
}

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	if (home && home[0] == '/')
		return home;
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

static int resolve(char *out, size_t cap, struct pyro_err *err, const char *own_var,
		   const char *xdg_var, const char *home_suffix)
{
	const char *own = getenv(own_var);
	if (own && *own) {
		if (own[0] != '/')
			return pyro_err_set(err, PYRO_EXIT_USAGE,
					    "%s must be an absolute path (got '%s')", own_var, own);
		return fit(out, cap, err, own, "");
	}
	const char *xdg = getenv(xdg_var);
	if (xdg && xdg[0] == '/')
		return fit(out, cap, err, xdg, "/pyro");
	const char *home = home_dir();
	if (!home)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "cannot find a home directory for %s; set %s or HOME",
				    own_var, own_var);
	return fit(out, cap, err, home, home_suffix);
}

int paths_cache_dir(char *out, size_t cap, struct pyro_err *err)
{
	return resolve(out, cap, err, "PYRO_CACHE_DIR", "XDG_CACHE_HOME", "/.cache/pyro");
}

int paths_state_dir(char *out, size_t cap, struct pyro_err *err)
{
	return resolve(out, cap, err, "PYRO_STATE_DIR", "XDG_STATE_HOME", "/.local/state/pyro");
}

int paths_environments_dir(char *out, size_t cap, struct pyro_err *err)
{
	char cache[4096];
	if (paths_cache_dir(cache, sizeof cache, err) < 0)
		return -1;
	return fit(out, cap, err, cache, "/environments");
}

void paths_probe_dir(const char *dir, struct path_access *out)
{
	struct stat st;
	memset(out, 0, sizeof *out);
	snprintf(out->nearest, sizeof out->nearest, "%s", dir);
	if (stat(dir, &st) == 0) {
		out->exists = true;
		out->is_dir = S_ISDIR(st.st_mode);
		out->writable = out->is_dir && access(dir, W_OK | X_OK) == 0;
		return;
	}
	/* Walk up to the nearest existing ancestor: creating the directory
	 * later needs write access there. */
	for (;;) {
		char *slash = strrchr(out->nearest, '/');
		if (!slash)
			return;
		if (slash == out->nearest)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(out->nearest, &st) == 0) {
			out->writable = S_ISDIR(st.st_mode) && access(out->nearest, W_OK | X_OK) == 0;
			return;
		}
		if (slash == out->nearest)
			return;
	}
}
