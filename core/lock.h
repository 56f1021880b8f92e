/* Advisory locks between pyro processes: flock(2) on a lock file.
 *
 * lock_acquire() opens (creating it, mode 0600 before umask, when missing)
 * the lock file with O_CLOEXEC and takes a shared or exclusive flock on it.
 * The lock belongs to that open file description, so:
 *  - two lock_acquire() calls conflict with each other even in one process
 *    (each opens the file anew); a handle is not re-entrant;
 *  - the lock is dropped when the handle is released, and by the kernel
 *    when the holding process dies, however it dies: no stale lock files;
 *  - a child forked while the lock is held shares it until the child exits
 *    or execs (O_CLOEXEC); lock_release() only closes this process's
 *    descriptor, it does not unlock on the child's behalf.
 * The lock file itself is never deleted (deleting it would let a second
 * process lock a new file while the first still holds the old one).
 *
 * timeout_ms: 0 tries once; > 0 retries with LOCK_NB, sleeping 1 ms and
 * doubling up to 50 ms between tries, until the deadline (CLOCK_MONOTONIC;
 * one last try is made at the deadline); < 0 waits as long as it takes in a
 * blocking flock (no polling). No signal handlers or alarms are used; EINTR
 * is retried, so a signal does not abort the wait unless it kills the
 * process.
 *
 * Errors (all PYRO_EXIT_FAILURE, lk->fd stays -1):
 *  - busy until the timeout: sys_errno EWOULDBLOCK, and a message naming
 *    the lock file and saying another pyro process holds it. A busy lock
 *    is a failure of this operation, not a command timeout, so it is not
 *    PYRO_EXIT_TIMEOUT (124 means a guest command was killed);
 *  - the lock file cannot be opened (missing directory, a directory in its
 *    place, permissions) or flock fails otherwise: sys_errno from the call.
 */
#ifndef PYRO_LOCK_H
#define PYRO_LOCK_H

#include "err.h"

enum lock_kind { LOCK_KIND_SHARED, LOCK_KIND_EXCLUSIVE };

/* A held lock: fd >= 0 while held, -1 otherwise. Initialise with
 * PYRO_LOCK_INIT. The caller owns it and must lock_release() it. */
struct pyro_lock {
	int fd;
};
#define PYRO_LOCK_INIT { -1 }

/* Take the lock on `path`. On success lk->fd >= 0; on error lk->fd == -1. */
int lock_acquire(struct pyro_lock *lk, const char *path, enum lock_kind kind,
		 long timeout_ms, struct pyro_err *err);

/* Drop the lock (close the descriptor) and set lk->fd to -1. Safe to call
 * on a released or never-acquired handle, and with NULL. */
void lock_release(struct pyro_lock *lk);

#endif
