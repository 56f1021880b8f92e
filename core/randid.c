#include "randid.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "exitcodes.h"
#include "fault.h"

/* getrandom(2) through syscall(2): -1 + ENOSYS when the kernel or the
 * headers do not know it. */
static long sys_getrandom(void *buf, size_t n)
{
#ifdef SYS_getrandom
	return syscall(SYS_getrandom, buf, n, 0u);
#else
	(void)buf, (void)n;
	errno = ENOSYS;
	return -1;
#endif
}

int randid_bytes_urandom(void *buf, size_t n, struct pyro_err *err)
{
	int fd;
	do
		fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		pyro_err_sys(err, errno, "cannot open /dev/urandom for random bytes "
			     "(the kernel has no getrandom either)");
		if (err)
			err->code = PYRO_EXIT_INTERNAL;
		return -1;
	}
	unsigned char *p = buf;
	size_t got = 0;
	while (got < n) {
		ssize_t r = pyro_read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			close(fd);
			pyro_err_sys(err, e, "cannot read %zu random bytes from /dev/urandom", n);
			if (err)
				err->code = PYRO_EXIT_INTERNAL;
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	return 0;
}

int randid_bytes(void *buf, size_t n, struct pyro_err *err)
{
	unsigned char *p = buf;
	size_t got = 0;
	while (got < n) {
		long r = sys_getrandom(p + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOSYS)
				return randid_bytes_urandom(p + got, n - got, err);
			pyro_err_sys(err, errno, "getrandom failed for %zu random bytes", n);
			if (err)
				err->code = PYRO_EXIT_INTERNAL;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

int randid_generate(char out[RANDID_SIZE], struct pyro_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[RANDID_LEN / 2];
	out[0] = '\0';
	if (randid_bytes(raw, sizeof raw, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof raw; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[RANDID_LEN] = '\0';
	return 0;
}

int randid_valid(const char *s)
{
	if (!s)
		return 0;
	for (size_t i = 0; i < RANDID_LEN; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0; /* also stops at the NUL of a short string */
	}
	return s[RANDID_LEN] == '\0';
}
