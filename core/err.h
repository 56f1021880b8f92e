/* The error convention of core/.
 *
 * Every core function that can fail returns 0 on success and -1 on failure,
 * and on failure fills a caller-provided `struct pyro_err` (when non-NULL)
 * with an exit-code class and one human sentence that names what failed, the
 * offending value and, where there is one, what to do about it. Core never
 * prints and never exits: only applet mains turn an error into stderr output
 * and an exit status. The MCP server turns it into a tool error result.
 *
 * `code` is one of enum pyro_exit (exitcodes.h): PYRO_EXIT_USAGE for bad
 * input the caller can fix by changing arguments, PYRO_EXIT_FAILURE for an
 * operation that failed, PYRO_EXIT_TIMEOUT for a deadline, ... `sys_errno`
 * keeps the errno that caused it (0 when there was none).
 */
#ifndef PYRO_ERR_H
#define PYRO_ERR_H

#include <stddef.h>

#define PYRO_ERR_MSG_MAX 1024

struct pyro_err {
	int code;
	int sys_errno;
	char msg[PYRO_ERR_MSG_MAX];
};

/* Set the error (when err != NULL) and return -1, so callers can write
 * `return pyro_err_set(err, PYRO_EXIT_USAGE, "bad value %s", v);`. The
 * message is truncated to fit; it never overflows. errno is preserved. */
int pyro_err_set(struct pyro_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like pyro_err_set, appending ": strerror(errnum)" and keeping errnum. */
int pyro_err_sys(struct pyro_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix an existing message with more context ("reading manifest: ..."). */
int pyro_err_wrap(struct pyro_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void pyro_err_clear(struct pyro_err *err);

#endif
