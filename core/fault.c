#include "fault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* countdown[k] > 0: the call that brings it to 0 fails. 0: disarmed. */
static struct {
	long countdown[FAULT_KIND_COUNT];
	int errnum[FAULT_KIND_COUNT];
} fault;

void fault_arm(enum fault_kind kind, long nth, int errnum)
{
	fault.countdown[kind] = nth;
	fault.errnum[kind] = errnum;
}

void fault_disarm_all(void)
{
	memset(&fault, 0, sizeof fault);
}

/* True when this call must fail; sets errno. */
static int should_fail(enum fault_kind kind)
{
	if (fault.countdown[kind] <= 0)
		return 0;
	if (--fault.countdown[kind] != 0)
		return 0;
	errno = fault.errnum[kind];
	return 1;
}

void *pyro_malloc(size_t n)
{
	return should_fail(FAULT_ALLOC) ? NULL : malloc(n ? n : 1);
}

void *pyro_calloc(size_t n, size_t size)
{
	return should_fail(FAULT_ALLOC) ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *pyro_realloc(void *p, size_t n)
{
	return should_fail(FAULT_ALLOC) ? NULL : realloc(p, n ? n : 1);
}

char *pyro_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *copy = pyro_malloc(n);
	if (copy)
		memcpy(copy, s, n);
	return copy;
}

ssize_t pyro_read(int fd, void *dst, size_t n)
{
	return should_fail(FAULT_READ) ? -1 : read(fd, dst, n);
}

ssize_t pyro_write(int fd, const void *src, size_t n)
{
	return should_fail(FAULT_WRITE) ? -1 : write(fd, src, n);
}

int pyro_fsync(int fd)
{
	return should_fail(FAULT_FSYNC) ? -1 : fsync(fd);
}
