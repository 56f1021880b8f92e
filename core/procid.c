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

/* Field 22 of /proc/PID/stat and the state letter (field 3). The command
 * name (field 2) is in parentheses and may itself hold ") ", so parsing
 * starts after the last ')'. */
static int read_stat(pid_t pid, uint64_t *start, char *state)
{
	char path[64], text[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	char *p = strrchr(text, ')');
	if (!p || p[1] != ' ')
		return -1;
	p += 2;
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
