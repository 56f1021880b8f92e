/* boot_marker: how long a command takes to write a marker into a file.
 * The baseline of bench/vm-run.sh: QEMU started by hand, the marker the
 * line pyro-init prints on the serial console once the agent runs.
 *
 *   boot_marker [--fd N] [--timeout S] FILE MARKER -- COMMAND [ARG...]
 *
 * FILE is truncated and watched with inotify before COMMAND starts; the
 * clock runs from just before the fork to the moment the marker is read
 * back from FILE. Then COMMAND is killed (SIGKILL: a guest needs no clean
 * end, its disk is a snapshot overlay) and reaped. With --fd N, COMMAND
 * gets one end of a socketpair as fd N, the way pyro hands QEMU the agent
 * line; this process holds the other end, unread, until the end.
 *
 * Prints "marker_us=N" and exits 0; exits 1 with FILE's tail on stderr
 * when COMMAND ends or the timeout (default 120 s) passes first, 2 on a
 * bad command line. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/buf.h"
#include "../core/exitcodes.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#define FILE_MAX (16 << 20)

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int usage(void)
{
	fprintf(stderr, "usage: boot_marker [--fd N] [--timeout S] FILE MARKER -- COMMAND [ARG...]\n");
	return PYRO_EXIT_USAGE;
}

/* Append what FILE gained since the last call; true once it holds the
 * marker. Only the new bytes and the marker's length before them are
 * searched. */
static int read_more(int fd, struct buf *seen, const char *marker)
{
	size_t mlen = strlen(marker), before = seen->len;
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (buf_append(seen, chunk, (size_t)n) < 0)
			return 0;
	size_t from = before >= mlen ? before - mlen + 1 : 0;
	return seen->len >= mlen &&
	       memmem(seen->data + from, seen->len - from, marker, mlen) != NULL;
}

/* The command has exited (left a zombie for the final waitpid). */
static int ended(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

static void show_tail(const char *path, const struct buf *seen)
{
	size_t from = seen->len > 2000 ? seen->len - 2000 : 0;
	fprintf(stderr, "boot_marker: %s ends with:\n%s\n", path, seen->data + from);
}

int main(int argc, char **argv)
{
	int line_fd = -1, timeout_s = 120, i = 1;
	for (; i + 1 < argc && argv[i][0] == '-' && strcmp(argv[i], "--"); i += 2) {
		if (!strcmp(argv[i], "--fd"))
			line_fd = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--timeout"))
			timeout_s = atoi(argv[i + 1]);
		else
			return usage();
	}
	if (argc - i < 4 || strcmp(argv[i + 2], "--") || timeout_s <= 0 ||
	    (line_fd != -1 && line_fd < 3))
		return usage();
	const char *path = argv[i], *marker = argv[i + 1];
	char **cmd = argv + i + 3;
	if (!*marker)
		return usage();

	int fd = open(path, O_RDONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0 || ino < 0 || inotify_add_watch(ino, path, IN_MODIFY) < 0) {
		fprintf(stderr, "boot_marker: cannot watch %s: %s\n", path, strerror(errno));
		return PYRO_EXIT_FAILURE;
	}
	int sp[2] = { -1, -1 };
	if (line_fd >= 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		perror("boot_marker: socketpair");
		return PYRO_EXIT_FAILURE;
	}

	pid_t parent = getpid();
	long long t0 = mono_us();
	pid_t pid = fork();
	if (pid < 0) {
		perror("boot_marker: fork");
		return PYRO_EXIT_FAILURE;
	}
	if (pid == 0) {
		/* The VMM must not outlive this process (killed by a signal). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(PYRO_EXIT_INTERNAL);
		if (sp[1] >= 0) {
			if (sp[1] == line_fd)
				fcntl(line_fd, F_SETFD, 0);
			else if (dup2(sp[1], line_fd) < 0)
				_exit(PYRO_EXIT_INTERNAL);
		}
		execvp(cmd[0], cmd);
		fprintf(stderr, "boot_marker: cannot run %s: %s\n", cmd[0], strerror(errno));
		_exit(PYRO_EXIT_NOTFOUND);
	}
	if (sp[1] >= 0)
		close(sp[1]);
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);

	struct buf seen;
	buf_init(&seen, FILE_MAX);
	long long deadline = t0 + (long long)timeout_s * 1000000, t1 = -1;
	const char *why = NULL;
	for (;;) {
		if (read_more(fd, &seen, marker)) {
			t1 = mono_us();
			break;
		}
		long long left = deadline - mono_us();
		if (left <= 0) {
			why = "timed out";
			break;
		}
		struct pollfd p[2] = { { ino, POLLIN, 0 }, { pfd, POLLIN, 0 } };
		/* Without a pidfd the command's end is looked for every 100 ms. */
		int ms = (int)(left / 1000) + 1;
		if (pfd < 0 && ms > 100)
			ms = 100;
		if (poll(p, 2, ms) < 0 && errno != EINTR) {
			why = "poll failed";
			break;
		}
		char events[4096];
		while (read(ino, events, sizeof events) > 0)
			;
		if ((pfd >= 0 && (p[1].revents & POLLIN)) || (pfd < 0 && ended(pid))) {
			if (read_more(fd, &seen, marker))
				t1 = mono_us();
			else
				why = "the command ended first";
			break;
		}
	}
	kill(pid, SIGKILL);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (t1 < 0) {
		fprintf(stderr, "boot_marker: no '%s' in %s: %s (after %d s at most)\n", marker, path,
			why ? why : "?", timeout_s);
		show_tail(path, &seen);
		return PYRO_EXIT_FAILURE;
	}
	printf("marker_us=%lld\n", t1 - t0);
	buf_release(&seen);
	return PYRO_EXIT_OK;
}
