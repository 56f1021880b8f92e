/* The expanded applet table and `--install-links`. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/log.h"
#include "applets.h"

const struct applet applet_table[] = {
#define APPLET(name, fn, summary) { name, fn, summary },
#include "applets.def"
#undef APPLET
};

const size_t applet_count = sizeof applet_table / sizeof applet_table[0];

const struct applet *applet_find(const char *name)
{
	for (size_t i = 0; i < applet_count; i++)
		if (strcmp(applet_table[i].name, name) == 0)
			return &applet_table[i];
	return NULL;
}

/* Point DIR/NAME at target, replacing an older symlink atomically, and
 * never clobbering a regular file that is not the pyro binary itself. */
static int install_one(const char *dir, const char *name, const char *target,
		       const struct stat *self)
{
	char link_path[PATH_MAX], tmp[PATH_MAX];
	if (snprintf(link_path, sizeof link_path, "%s/%s", dir, name) >= (int)sizeof link_path ||
	    snprintf(tmp, sizeof tmp, "%s/.%s.tmp%ld", dir, name, (long)getpid()) >=
		    (int)sizeof tmp) {
		log_error("install-links: path too long under %s", dir);
		return -1;
	}
	struct stat st;
	if (lstat(link_path, &st) == 0) {
		if (!S_ISLNK(st.st_mode)) {
			if (st.st_dev == self->st_dev && st.st_ino == self->st_ino) {
				printf("%s (the pyro binary itself, kept)\n", link_path);
				return 0;
			}
			log_error("install-links: %s exists and is not a symlink; "
				  "move it away or pick another directory", link_path);
			return -1;
		}
	}
	unlink(tmp);
	if (symlink(target, tmp) < 0) {
		log_error("install-links: cannot create %s: %s", link_path, strerror(errno));
		return -1;
	}
	if (rename(tmp, link_path) < 0) {
		log_error("install-links: cannot create %s: %s", link_path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	printf("%s -> %s\n", link_path, target);
	return 0;
}

int applet_install_links(const char *dir, const char *target)
{
	struct stat dir_st, self;
	if (stat(dir, &dir_st) < 0 || !S_ISDIR(dir_st.st_mode)) {
		log_error("install-links: %s is not a directory; create it first", dir);
		return PYRO_EXIT_FAILURE;
	}
	if (stat(target, &self) < 0) {
		log_error("install-links: cannot find the pyro binary at %s: %s", target,
			  strerror(errno));
		return PYRO_EXIT_FAILURE;
	}
	int failed = 0;
	for (size_t i = 0; i < applet_count; i++)
		if (install_one(dir, applet_table[i].name, target, &self) < 0)
			failed = 1;
	return failed ? PYRO_EXIT_FAILURE : PYRO_EXIT_OK;
}
