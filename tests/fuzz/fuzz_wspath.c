/* Fuzz /workspace path normalisation, which takes paths straight from
 * agents and users. Properties: an accepted path is "/workspace" or starts
 * with "/workspace/", has no "." or ".." component, no "//", no NUL, and
 * maps under the host directory without escaping it. */
#include "fuzz.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/wspath.h"

static void check_normalized(const char *p)
{
	size_t root = strlen(WSPATH_ROOT);
	if (strncmp(p, WSPATH_ROOT, root) != 0 || (p[root] != '\0' && p[root] != '/'))
		abort();
	if (strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../"))
		abort();
	size_t len = strlen(p);
	if (len >= 2 && strcmp(p + len - 2, "/.") == 0)
		abort();
	if (len >= 3 && strcmp(p + len - 3, "/..") == 0)
		abort();
	if (len > 1 && p[len - 1] == '/')
		abort();
	const char *suffix = wspath_suffix(p);
	if (!suffix)
		abort();
	char host[8192];
	struct pyro_err err;
	if (wspath_join_host("/srv/ws", p, host, sizeof host, &err) == 0 &&
	    strncmp(host, "/srv/ws", 7) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char out[4096];
	struct pyro_err err;
	err.msg[0] = '\0';
	if (wspath_normalize_mem((const char *)data, size, NULL, out, sizeof out, &err) == 0)
		check_normalized(out);
	else if (err.msg[0] == '\0' || err.code != PYRO_EXIT_USAGE)
		abort();
	return 0;
}
