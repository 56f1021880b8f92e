#ifndef PYRO_APPLETS_H
#define PYRO_APPLETS_H

#include <stddef.h>

#define APPLET(name, fn, summary) int fn(int argc, char **argv);
#include "applets.def"
#undef APPLET

struct applet {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

extern const struct applet applet_table[];
extern const size_t applet_count;

const struct applet *applet_find(const char *name);

/* Create DIR/<applet> symlinks to `target` for every applet. Writes one
 * line per link to stdout and problems to stderr. Returns an exit status. */
int applet_install_links(const char *dir, const char *target);

#endif
