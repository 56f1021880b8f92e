/* Random identifiers: 12 lowercase hex characters (48 bits) from the
 * kernel's CSPRNG, used for workspace ids, temporary file names and the
 * like.
 *
 * Randomness comes from getrandom(2) with flags 0 (called through
 * syscall(SYS_getrandom), so it works with any libc that knows the syscall
 * number); EINTR is retried and short reads are continued. Only when the
 * kernel does not have getrandom (ENOSYS) is /dev/urandom read instead
 * (opened O_CLOEXEC, reads through pyro_read so tests can inject failures).
 * With flags 0 getrandom blocks until the kernel's pool is first
 * initialised, which happens early in boot on any machine pyro runs on.
 *
 * Failures (practically impossible) are PYRO_EXIT_INTERNAL with sys_errno.
 * Nothing is allocated; the caller owns every buffer.
 */
#ifndef PYRO_RANDID_H
#define PYRO_RANDID_H

#include <stddef.h>

#include "err.h"

#define RANDID_LEN 12                  /* hex characters */
#define RANDID_SIZE (RANDID_LEN + 1)   /* with the NUL */

/* Write a fresh id and its NUL into out[RANDID_SIZE]. On failure out is "". */
int randid_generate(char out[RANDID_SIZE], struct pyro_err *err);

/* Fill buf[n] with random bytes (getrandom, /dev/urandom on ENOSYS). */
int randid_bytes(void *buf, size_t n, struct pyro_err *err);

/* The /dev/urandom fallback on its own (exposed so tests reach it). */
int randid_bytes_urandom(void *buf, size_t n, struct pyro_err *err);

/* 1 when s is exactly RANDID_LEN characters of [0-9a-f], else 0 (NULL too).
 * Use it on ids read back from users before they reach a path. */
int randid_valid(const char *s);

#endif
