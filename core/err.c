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
		char old[PYRO_ERR_MSG_MAX];
		va_list ap;
		va_start(ap, fmt);
		format_into(prefix, sizeof prefix, fmt, ap);
		va_end(ap);
		memcpy(old, err->msg, sizeof old);
		snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
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
