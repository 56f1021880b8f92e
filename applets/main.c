/* Entry point of the multicall binary: pick the applet by the name the
 * program was started as (a symlink such as pyro-portproxy), or by the
 * first argument when it names an applet (`pyro pyro-portproxy ...`). */
#include <stdio.h>
#include <string.h>

#include "../core/exitcodes.h"
#include "../core/log.h"
#include "applets.h"

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static void list_applets(FILE *out)
{
	for (size_t i = 0; i < applet_count; i++)
		fprintf(out, "%s%s", i ? ", " : "", applet_table[i].name);
}

static int run_applet(const struct applet *a, int argc, char **argv)
{
	int status = a->main(argc, argv);
	/* Output that could not be written is a failure (a full disk, a
	 * closed pipe), even when the applet had nothing else to report. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write to standard output\n", a->name);
		if (status == 0)
			status = PYRO_EXIT_FAILURE;
	}
	return status;
}

int main(int argc, char **argv)
{
	const char *self = argc > 0 && argv[0] ? base_name(argv[0]) : "pyro";
	/* The kernel starts the initramfs's /init (the only file in it): that
	 * is pyro-init, and it must never fall through to a usage error,
	 * because PID 1 exiting panics the kernel. */
	if (!strcmp(self, "init"))
		self = "pyro-init";
	const struct applet *a = applet_find(self);
	if (a && a->main != applet_pyro_main)
		return run_applet(a, argc, argv);
	/* `pyro APPLET ...`, or a renamed binary given an applet explicitly. */
	if (argc > 1) {
		const struct applet *named = applet_find(argv[1]);
		if (named)
			return run_applet(named, argc - 1, argv + 1);
	}
	if (a)
		return run_applet(a, argc, argv);
	log_set_prog("pyro");
	fprintf(stderr, "pyro: '%s' is not a pyro applet. Applets: ", self);
	list_applets(stderr);
	fprintf(stderr, ".\nRun the binary as 'pyro', or name the applet: '%s pyro --help'.\n",
		argv[0]);
	return PYRO_EXIT_USAGE;
}
