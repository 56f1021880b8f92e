/* Fuzz the resolv.conf reader behind a Firecracker guest's name servers
 * (netplan_dns_from_resolv: the host's /etc/resolv.conf is outside input).
 * Properties: it never crashes; it returns 0..max servers; each is an
 * IPv4 address in dotted form that is neither loopback nor 0.0.0.0; no
 * server appears twice. The input reaches it as a file (a memfd). */
#include "fuzz.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../core/netplan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("resolv.conf", MFD_CLOEXEC);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	char out[NETPLAN_MAX_DNS][46];
	int n = netplan_dns_from_resolv(path, out, NETPLAN_MAX_DNS);
	close(fd);
	FUZZ_ASSERT(n >= 0 && n <= NETPLAN_MAX_DNS);
	for (int i = 0; i < n; i++) {
		struct in_addr a;
		FUZZ_ASSERT(inet_pton(AF_INET, out[i], &a) == 1);
		uint32_t h = ntohl(a.s_addr);
		FUZZ_ASSERT(h != 0 && h >> 24 != 127);
		for (int j = 0; j < i; j++)
			FUZZ_ASSERT(strcmp(out[i], out[j]) != 0);
	}
	return 0;
}
