#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"

#define BACKOFF_MAX_MS 50

static const char *kind_name(enum lock_kind kind)
{
	return kind == LOCK_KIND_EXCLUSIVE ? "exclusive" : "shared";
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL); /* an early wake-up only means an early retry */
}

static int open_lock_file(const char *path, struct pyro_err *err)
{
	int fd;
	do
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	while (fd < 0 && errno == EINTR);
	/* An existing lock file we may read but not write still locks. */
	if (fd < 0 && errno == EACCES)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		return pyro_err_sys(err, errno,
				    "cannot create lock file \"%s\" because its "
				    "directory does not exist",
				    path);
	return pyro_err_sys(err, errno, "cannot open lock file \"%s\"", path);
}

/* flock, retrying EINTR. */
static int do_flock(int fd, int op)
{
	int rc;
	do
		rc = flock(fd, op);
	while (rc < 0 && errno == EINTR);
	return rc;
}

int lock_acquire(struct pyro_lock *lk, const char *path, enum lock_kind kind,
		 long timeout_ms, struct pyro_err *err)
{
	lk->fd = -1;
	if (!path || !*path)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "cannot take a lock without a lock file path");
	int fd = open_lock_file(path, err);
	if (fd < 0)
		return -1;
	int op = kind == LOCK_KIND_EXCLUSIVE ? LOCK_EX : LOCK_SH;

	if (timeout_ms < 0) {
		if (do_flock(fd, op) < 0)
			goto failed;
		lk->fd = fd;
		return 0;
	}

	long long deadline = now_ms() + timeout_ms;
	long delay = 1;
	for (;;) {
		if (do_flock(fd, op | LOCK_NB) == 0) {
			lk->fd = fd;
			return 0;
		}
		if (errno != EWOULDBLOCK)
			goto failed;
		long long left = deadline - now_ms();
		if (left <= 0)
			break;
		sleep_ms(delay < left ? delay : (long)left);
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	}
	close(fd);
	pyro_err_set(err, PYRO_EXIT_FAILURE,
		     "lock \"%s\" is busy: another pyro process holds it, so the %s "
		     "lock was not taken after waiting %ld ms; retry when that "
		     "process has finished",
		     path, kind_name(kind), timeout_ms);
	if (err)
		err->sys_errno = EWOULDBLOCK;
	return -1;

failed:;
	int e = errno;
	close(fd);
	return pyro_err_sys(err, e, "cannot take the %s lock on \"%s\"",
			    kind_name(kind), path);
}

void lock_release(struct pyro_lock *lk)
{
	if (lk && lk->fd >= 0) {
		close(lk->fd);
		lk->fd = -1;
	}
}
