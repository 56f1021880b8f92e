/* Network slots shared by every pyro process on the host (netplan.h). */
#include "netplan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "exitcodes.h"
#include "randid.h"

/* The claim's content in a private temporary ".claim-<random>" in dir:
 * hard-linking it to <dir>/<N> publishes it whole. */
static int write_claim(const char *dir, const char *vm_id, char *tmp, size_t cap,
		       struct pyro_err *err)
{
	char id[RANDID_SIZE];
	if (randid_generate(id, err))
		return -1;
	if ((size_t)snprintf(tmp, cap, "%s/.claim-%s", dir, id) >= cap)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "network slot directory path is too "
				    "long: %.200s", dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return pyro_err_sys(err, errno, "cannot create a network slot claim in %s", dir);
	char line[NETPLAN_VM_ID_MAX + 2];
	int n = snprintf(line, sizeof line, "%s\n", vm_id);
	int rc = atomicfile_write_all(fd, line, (size_t)n);
	int e = errno;
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc < 0) {
		unlink(tmp);
		return pyro_err_sys(err, e, "cannot write a network slot claim in %s", dir);
	}
	return 0;
}

int netplan_slot_claim(const char *dir, const char *vm_id, unsigned *slot, struct pyro_err *err)
{
	struct net_config probe;
	static const char *const no_dns[] = { NULL };
	/* The same id rules as the addresses (the id names the TAP). */
	if (netplan_config(0, vm_id, no_dns, 0, &probe, err))
		return -1;
	char tmp[PATH_MAX], path[PATH_MAX];
	if (write_claim(dir, vm_id, tmp, sizeof tmp, err))
		return -1;
	int rc = -1;
	bool full = true;
	for (unsigned n = 0; n < NETPLAN_SLOTS && rc < 0 && full; n++) {
		snprintf(path, sizeof path, "%s/%u", dir, n);
		if (link(tmp, path) == 0) {
			*slot = n;
			rc = 0;
		} else if (errno != EEXIST) {
			pyro_err_sys(err, errno, "cannot claim network slot %s", path);
			full = false;
		}
	}
	if (rc < 0 && full)
		pyro_err_set(err, PYRO_EXIT_FAILURE,
			     "all %d network slots in %s are taken; delete VMs you no longer "
			     "need, or run without --network", NETPLAN_SLOTS, dir);
	unlink(tmp);
	return rc;
}

int netplan_slot_release(const char *dir, unsigned slot, struct pyro_err *err)
{
	char path[PATH_MAX];
	if (slot >= NETPLAN_SLOTS)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "network slot must be 0-%d (got %u)",
				    NETPLAN_SLOTS - 1, slot);
	if ((size_t)snprintf(path, sizeof path, "%s/%u", dir, slot) >= sizeof path)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "network slot directory path is too "
				    "long: %.200s", dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return pyro_err_sys(err, errno, "cannot release network slot %s", path);
	return 0;
}
