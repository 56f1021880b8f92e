/* Process identity by pid + start time (procid.h). */
#include "procid.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

ssize_t procid_read(pid_t pid, const char *file, char *buf, size_t cap)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || cap == 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return n;
}

const char *procid_stat_after_name(const char *text)
{
	const char *p = strrchr(text, ')');
	return p && p[1] == ' ' ? p + 2 : NULL;
}

/* Field 22 of /proc/PID/stat and the state letter (field 3). */
static int read_stat(pid_t pid, uint64_t *start, char *state)
{
	char text[1024];
	if (procid_read(pid, "stat", text, sizeof text) < 0)
		return -1;
	const char *p = procid_stat_after_name(text);
	if (!p)
		return -1;
	*state = *p;
	/* p is at field 3; field 22 is 19 fields further. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno || end == p)
		return -1;
	*start = v;
	return 0;
}

int procid_of(pid_t pid, struct proc_id *out)
{
	char state;
	out->pid = 0;
	out->start_ticks = 0;
	if (pid <= 0 || read_stat(pid, &out->start_ticks, &state) < 0)
		return -1;
	out->pid = pid;
	return 0;
}

bool procid_alive(const struct proc_id *id)
{
	uint64_t start;
	char state;
	if (!id || id->pid <= 0 || read_stat(id->pid, &start, &state) < 0)
		return false;
	return start == id->start_ticks && state != 'Z' && state != 'X';
}

int procid_pidfd(const struct proc_id *id)
{
	if (!id || id->pid <= 0)
		return -1;
	int fd = (int)syscall(SYS_pidfd_open, id->pid, 0);
	if (fd < 0)
		return -1;
	/* The pidfd names whatever has the pid now: only keep it when that is
	 * still our process (checked after opening, so no reuse can slip in
	 * between the check and the open). */
	if (!procid_alive(id)) {
		close(fd);
		return -1;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

int procid_kill(const struct proc_id *id, int sig)
{
	/* Through a checked pidfd when the kernel has one: the signal then
	 * cannot reach a process that took the pid after the check. */
	int fd = procid_pidfd(id);
	if (fd >= 0) {
		int rc = (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
		int e = errno;
		close(fd);
		errno = e;
		return rc < 0 ? -1 : 0;
	}
	if (!procid_alive(id)) {
		errno = ESRCH;
		return -1;
	}
	return kill(id->pid, sig);
}
