/* The catalog of official environments: names, versions, what is in them
 * and where they are published. One table (envcatalog.c); docs/environments.md
 * shows the same rows.
 *
 * Registry: each row names a repository; the registry host is
 * $PYRO_ENVIRONMENT_REGISTRY when set (HOST[:PORT], optionally with an
 * https:// or, for loopback mirrors only, http:// prefix), else the
 * project's default registry (ENV_DEFAULT_REGISTRY). */
#ifndef PYRO_ENVCATALOG_H
#define PYRO_ENVCATALOG_H

#include <stddef.h>

#include "err.h"

/* Where release/publish.sh publishes official bundles. */
#define ENV_DEFAULT_REGISTRY "registry.pyro-sandbox.dev"

struct env_catalog_entry {
	const char *name;                /* "debian:12" */
	const char *version;             /* the bundle version this pyro wants */
	const char *description;
	const char *distribution;        /* "debian" */
	const char *distribution_version;
	const char *const *default_packages; /* NULL-terminated */
	const char *repository;          /* "pyro/environment-debian-12" */
};

/* The catalog's own version: the pyro release that defines these rows. */
const char *env_catalog_version(void);

/* Rows in display order; *count set. */
const struct env_catalog_entry *env_catalog(size_t *count);

/* The row for name, or NULL after filling err (PYRO_EXIT_USAGE) with the
 * list of known names. */
const struct env_catalog_entry *env_catalog_find(const char *name, struct pyro_err *err);

/* The registry host pulls use now, with any scheme prefix from the env var
 * ("registry.pyro-sandbox.dev", "https://localhost:5000"). Fails on a
 * malformed $PYRO_ENVIRONMENT_REGISTRY. */
int env_registry(char *out, size_t cap, struct pyro_err *err);

/* "REGISTRY/REPOSITORY:VERSION" for an entry. */
int env_catalog_reference(const struct env_catalog_entry *e, char *out, size_t cap,
			  struct pyro_err *err);

#endif
