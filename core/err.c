#include "err.h"
#include "exitcodes.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void format_into(char *dst, size_t cap, const char *fmt, va_list ap)
{
	int n = vsnprintf(dst, cap, fmt, ap);
	if (n < 0)
		snprintf(dst, cap, "(unformattable error message)");
}

int pyro_err_set(struct pyro_err *err, int code, const char *fmt, ...)
{
	int saved = errno;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		format_into(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->code = code;
		err->sys_errno = 0;
	}
	errno = saved;
	return -1;
}

int pyro_err_sys(struct pyro_err *err, int errnum, const char *fmt, ...)
{
	int saved = errno;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		format_into(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		size_t used = strlen(err->msg);
		snprintf(err->msg + used, sizeof err->msg - used, ": %s",
			 strerror(errnum));
		err->code = PYRO_EXIT_FAILURE;
		err->sys_errno = errnum;
	}
	errno = saved;
	return -1;
}

int pyro_err_wrap(struct pyro_err *err, const char *fmt, ...)
{
	int saved = errno;
	if (err) {
		char prefix[PYRO_ERR_MSG_MAX];
		va_list ap;
		va_start(ap, fmt);
		format_into(prefix, sizeof prefix, fmt, ap);
		va_end(ap);
		/* Shift the old message right to make room for "prefix: ",
		 * dropping its tail when the two do not fit together. */
		size_t cap = sizeof err->msg - 1;
		size_t plen = strlen(prefix);
		if (plen > cap - 2)
			plen = cap - 2;
		size_t head = plen + 2;
		size_t olen = strlen(err->msg);
		if (olen > cap - head)
			olen = cap - head;
		memmove(err->msg + head, err->msg, olen);
		memcpy(err->msg, prefix, plen);
		memcpy(err->msg + plen, ": ", 2);
		err->msg[head + olen] = '\0';
	}
	errno = saved;
	return -1;
}

void pyro_err_clear(struct pyro_err *err)
{
	if (err) {
		err->code = 0;
		err->sys_errno = 0;
		err->msg[0] = '\0';
	}
}
