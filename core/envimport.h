/* Install a local environment bundle (a directory, or a tar / tar.gz /
 * tar.zst of one) into the cache, after checking every sha256. The bundle
 * must be a catalog environment at the catalog's version. */
#ifndef PYRO_ENVIMPORT_H
#define PYRO_ENVIMPORT_H

#include "envstore.h"

int envstore_import(const struct envstore *st, const char *path, struct env_install *out,
		    struct pyro_err *err);

#endif
