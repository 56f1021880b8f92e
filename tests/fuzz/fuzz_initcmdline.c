/* Fuzz pyro-init's kernel command line parser. Properties: it never
 * crashes; it either succeeds or fails with a usage error that says
 * something; whatever it returns, the config holds only valid values
 * (prefix 1-32, at most 3 name servers, a non-empty host name, an agent
 * argv within bounds and NULL-terminated). */
#include "fuzz.h"
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../guest-init/init.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct init_config cfg;
	struct pyro_err err;
	err.msg[0] = '\0';
	int rc = init_cmdline_parse((const char *)data, size, &cfg, &err);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	if (rc < 0)
		FUZZ_ASSERT(err.code == PYRO_EXIT_USAGE && err.msg[0] != '\0');
	FUZZ_ASSERT(cfg.prefixlen >= 1 && cfg.prefixlen <= 32);
	FUZZ_ASSERT(cfg.ndns <= INIT_MAX_DNS);
	FUZZ_ASSERT(cfg.hostname[0] != '\0' && strlen(cfg.hostname) <= INIT_HOSTNAME_MAX);
	FUZZ_ASSERT(cfg.root[0] == '\0' || strncmp(cfg.root, "/dev/", 5) == 0);
	FUZZ_ASSERT(cfg.root_wait_s <= 600 && cfg.stop_grace_s <= 300);
	struct init_agent_argv a;
	init_agent_argv(&cfg, &a);
	FUZZ_ASSERT(a.argc >= 1 && a.argc <= INIT_MAX_AGENT_ARGS + 1);
	FUZZ_ASSERT(a.argv[a.argc] == NULL);
	for (size_t i = 0; i < a.argc; i++)
		FUZZ_ASSERT(a.argv[i][0] != '\0');
	return 0;
}
