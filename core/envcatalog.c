/* The catalog table and the registry each entry is pulled from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "envcatalog.h"
#include "exitcodes.h"

static const char *const base_packages[] = { "bash", "coreutils", "procps", NULL };
static const char *const debian_packages[] = { "bash", "coreutils", "git", "python3",
					       "ca-certificates", NULL };
static const char *const build_packages[] = { "bash", "coreutils", "git", "python3",
					      "build-essential", "make", "pkg-config", "curl",
					      NULL };
static const char *const test_packages[] = { "busybox-static", NULL };

static const struct env_catalog_entry catalog[] = {
	{ "debian:12", "1.0.0",
	  "Debian 12 environment with Git preinstalled for common agent workflows.",
	  "debian", "12", debian_packages, "pyro/environment-debian-12" },
	{ "debian:12-base", "1.0.0",
	  "Minimal Debian 12 environment for shell and core Unix tooling.",
	  "debian", "12", base_packages, "pyro/environment-debian-12-base" },
	{ "debian:12-build", "1.0.0",
	  "Debian 12 environment with Git and common build tools preinstalled.",
	  "debian", "12", build_packages, "pyro/environment-debian-12-build" },
	{ "test", "1.0.0",
	  "Tiny busybox environment that boots fast, for pyro's own guest tests.",
	  "busybox", "1.35", test_packages, "pyro/environment-test" },
};

const char *env_catalog_version(void)
{
	return PYRO_VERSION;
}

const struct env_catalog_entry *env_catalog(size_t *count)
{
	*count = sizeof catalog / sizeof catalog[0];
	return catalog;
}

const struct env_catalog_entry *env_catalog_find(const char *name, struct pyro_err *err)
{
	for (size_t i = 0; i < sizeof catalog / sizeof catalog[0]; i++)
		if (strcmp(catalog[i].name, name) == 0)
			return &catalog[i];
	struct buf names = BUF_INIT;
	for (size_t i = 0; i < sizeof catalog / sizeof catalog[0]; i++)
		buf_printf(&names, "%s%s", i ? ", " : "", catalog[i].name);
	pyro_err_set(err, PYRO_EXIT_USAGE, "unknown environment '%.100s'; the catalog has: %s",
		     name, names.data ? names.data : "");
	buf_release(&names);
	return NULL;
}

int env_registry(char *out, size_t cap, struct pyro_err *err)
{
	const char *v = getenv("PYRO_ENVIRONMENT_REGISTRY");
	if (!v || !*v)
		v = ENV_DEFAULT_REGISTRY;
	const char *host = v;
	if (strncmp(host, "https://", 8) == 0)
		host += 8;
	else if (strncmp(host, "http://", 7) == 0)
		host += 7;
	size_t n = strlen(host);
	while (n && host[n - 1] == '/')
		n--;
	if (n == 0 || memchr(host, '/', n) || strcspn(host, " \t\r\n") < n)
		return pyro_err_set(err, PYRO_EXIT_USAGE,
				    "PYRO_ENVIRONMENT_REGISTRY='%.200s' is not a registry host: "
				    "use HOST[:PORT], e.g. localhost:5000", v);
	int w = snprintf(out, cap, "%.*s%.*s", (int)(host - v), v, (int)n, host);
	if (w < 0 || (size_t)w >= cap)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "PYRO_ENVIRONMENT_REGISTRY is too long");
	return 0;
}

int env_catalog_reference(const struct env_catalog_entry *e, char *out, size_t cap,
			  struct pyro_err *err)
{
	char registry[300];
	if (env_registry(registry, sizeof registry, err) < 0)
		return -1;
	int w = snprintf(out, cap, "%s/%s:%s", registry, e->repository, e->version);
	if (w < 0 || (size_t)w >= cap)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "image reference too long");
	return 0;
}
