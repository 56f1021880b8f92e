/* Where pyro keeps things on the host.
 *
 *  cache  environments (kernels, root filesystems) and other re-creatable
 *         data: $PYRO_CACHE_DIR, else $XDG_CACHE_HOME/pyro, else
 *         ~/.cache/pyro
 *  state  VM and workspace records, sockets, logs: $PYRO_STATE_DIR, else
 *         $XDG_STATE_HOME/pyro, else ~/.local/state/pyro
 *
 * Relative XDG values are ignored, as the XDG spec says. Functions write
 * into a caller buffer and fail with PYRO_EXIT_USAGE when PYRO_CACHE_DIR or
 * PYRO_STATE_DIR is not absolute, and with PYRO_EXIT_FAILURE when no home
 * directory can be found or the path does not fit. */
#ifndef PYRO_PATHS_H
#define PYRO_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

int paths_cache_dir(char *out, size_t cap, struct pyro_err *err);
int paths_state_dir(char *out, size_t cap, struct pyro_err *err);

/* Where environments live inside the cache dir. */
int paths_environments_dir(char *out, size_t cap, struct pyro_err *err);

struct path_access {
	bool exists;
	bool is_dir;
	bool writable;        /* the dir, or the nearest existing parent when missing */
	char nearest[4096];   /* the existing ancestor that was checked */
};

/* Describe whether `dir` exists and whether pyro could write there (or
 * create it). Never creates anything. */
void paths_probe_dir(const char *dir, struct path_access *out);

#endif
