/* Console output of pyro-init: one "pyro-init: ..." line per event, each
 * written with a single write(2) so lines from the agent on the same
 * console do not cut into them. No stdio: PID 1 must not block on or lose
 * a buffer, and nothing here allocates. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int console_fd = 2;

int init_console_set_fd(int fd)
{
	int old = console_fd;
	console_fd = fd;
	return old;
}

static void say_line(int errnum, const char *fmt, va_list ap)
{
	char msg[1024], line[1200];
	if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
		snprintf(msg, sizeof msg, "(unformattable message)");
	int n = snprintf(line, sizeof line, "pyro-init: %s%s%s\n", msg, errnum ? ": " : "",
			 errnum ? strerror(errnum) : "");
	if (n < 0)
		return;
	size_t used = (size_t)n;
	if (used >= sizeof line) {
		/* Cut, but still one whole line. */
		used = sizeof line - 1;
		line[used - 1] = '\n';
	}
	if (console_fd < 0)
		return;
	for (size_t off = 0; off < used;) {
		ssize_t w = write(console_fd, line + off, used - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

void init_say(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	say_line(0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void init_say_errno(int errnum, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	say_line(errnum, fmt, ap);
	va_end(ap);
	errno = saved;
}

void init_console_setup(void)
{
	int con = -1;
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* The lowest free fd is taken, so the first open may land on
		 * exactly the fd being repaired. */
		if (con < 0)
			con = open("/dev/console", O_RDWR | O_NOCTTY);
		if (con < 0)
			con = open("/dev/null", O_RDWR);
		if (con < 0)
			return;
		if (con != fd)
			dup2(con, fd);
	}
	if (con > 2)
		close(con);
}
