/* The guest half of pyro linked on its own, without BearSSL: `make
 * guest-check` builds this and fails if any code pyro-init or the guest
 * agent reaches needs TLS (guest code must stay small and host-free). */
#include <string.h>

#include "../../guest-init/agent.h"
#include "../../guest-init/init.h"

int main(int argc, char **argv)
{
	const char *self = argc > 0 ? strrchr(argv[0], '/') : NULL;
	self = self ? self + 1 : (argc > 0 ? argv[0] : "");
	if (!strcmp(self, "init") || !strcmp(self, "pyro-init"))
		return pyro_init_main(argc, argv);
	return pyro_guest_agent_main(argc, argv);
}
