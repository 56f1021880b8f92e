/* Fault injection for tests (in the spirit of SQLite's malloc tests).
 *
 * Core code allocates and does raw I/O through these wrappers. In a normal
 * run they are thin pass-throughs. A unit test may arm one kind of fault with
 * fault_arm(kind, n): the n-th following call of that kind (1 = the next one)
 * fails as the real call would (NULL + ENOMEM, or -1 + the given errno), so
 * error paths that are otherwise unreachable get exercised. */
#ifndef PYRO_FAULT_H
#define PYRO_FAULT_H

#include <stddef.h>
#include <sys/types.h>

enum fault_kind { FAULT_ALLOC, FAULT_READ, FAULT_WRITE, FAULT_FSYNC, FAULT_KIND_COUNT };

void fault_arm(enum fault_kind kind, long nth, int errnum);
void fault_disarm_all(void);

void *pyro_malloc(size_t n);
void *pyro_calloc(size_t n, size_t size);
void *pyro_realloc(void *p, size_t n);
char *pyro_strdup(const char *s);
ssize_t pyro_read(int fd, void *dst, size_t n);
ssize_t pyro_write(int fd, const void *src, size_t n);
int pyro_fsync(int fd);

#endif
