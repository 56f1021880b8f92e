/* Tests for core/procid.c: a process named by pid + start time. The other
 * processes are forked children, held on a pipe until the test lets them
 * go; every child is reaped before the test ends. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../core/procid.h"
#include "test.h"

/* A child that waits until *release is closed (then exits 0), or dies of
 * a signal. -1 when it could not be made. */
static pid_t hold_child(int *release, const char *name)
{
	int p[2], ready[2];
	if (pipe(p) < 0)
		return -1;
	if (pipe(ready) < 0) {
		close(p[0]), close(p[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]), close(p[1]), close(ready[0]), close(ready[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[1]);
		close(ready[0]);
		if (name)
			prctl(PR_SET_NAME, name, 0, 0, 0);
		(void)!write(ready[1], "r", 1);
		char c;
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	close(ready[1]);
	char c;
	(void)!read(ready[0], &c, 1); /* the name is set */
	close(ready[0]);
	*release = p[1];
	return pid;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

TEST(procid_of_self_is_alive)
{
	struct proc_id me;
	CHECK(procid_of(getpid(), &me) == 0);
	CHECK(me.pid == getpid());
	CHECK(me.start_ticks > 0);
	CHECK(procid_alive(&me));
	/* Stable: asking again names the same process. */
	struct proc_id again;
	CHECK(procid_of(getpid(), &again) == 0);
	CHECK(again.start_ticks == me.start_ticks);
	/* The parent started no later than we did. */
	struct proc_id parent;
	CHECK(procid_of(getppid(), &parent) == 0);
	CHECK(parent.start_ticks <= me.start_ticks);
}

TEST(procid_of_nothing)
{
	struct proc_id id = { 99, 99 };
	CHECK(procid_of(0, &id) == -1);
	CHECK(id.pid == 0 && id.start_ticks == 0);
	CHECK(procid_of(-1, &id) == -1);
	CHECK(procid_of(INT_MAX, &id) == -1); /* above any pid_max */
	CHECK(id.pid == 0);
	struct proc_id none = { 0, 0 };
	CHECK(!procid_alive(&none));
	CHECK(!procid_alive(NULL));
	CHECK(procid_pidfd(&none) == -1);
	CHECK(procid_pidfd(NULL) == -1);
	errno = 0;
	CHECK(procid_kill(&none, 0) == -1);
	CHECK(errno == ESRCH);
	struct proc_id negative = { -1, 0 };
	errno = 0;
	CHECK(procid_kill(&negative, 0) == -1);
	CHECK(errno == ESRCH);
}

TEST(procid_exited_and_reaped_child_is_gone)
{
	int release;
	pid_t pid = hold_child(&release, NULL);
	CHECK(pid > 0);
	struct proc_id id;
	int rc = procid_of(pid, &id);
	bool alive = procid_alive(&id);
	close(release);
	int st;
	pid_t w = waitpid(pid, &st, 0);
	CHECK(rc == 0 && id.pid == pid);
	CHECK(alive);
	CHECK(w == pid && WIFEXITED(st));
	CHECK(!procid_alive(&id));
	CHECK(procid_pidfd(&id) == -1);
	errno = 0;
	CHECK(procid_kill(&id, SIGTERM) == -1);
	CHECK(errno == ESRCH);
	struct proc_id again;
	CHECK(procid_of(pid, &again) == -1 || again.start_ticks != id.start_ticks);
}

TEST(procid_zombie_is_not_alive)
{
	int release;
	pid_t pid = hold_child(&release, NULL);
	CHECK(pid > 0);
	struct proc_id id;
	int rc = procid_of(pid, &id);
	close(release);
	/* Wait for the exit without reaping it. */
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int w = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
	bool zombie_alive = procid_alive(&id);
	int fd = procid_pidfd(&id);
	errno = 0;
	int krc = procid_kill(&id, SIGKILL);
	int kerr = errno;
	/* /proc still has it: the zombie's own identity is unchanged. */
	struct proc_id z;
	int zrc = procid_of(pid, &z);
	int st;
	pid_t reaped = waitpid(pid, &st, 0);
	if (fd >= 0)
		close(fd);
	CHECK(rc == 0);
	CHECK(w == 0 && si.si_pid == pid);
	CHECK(!zombie_alive);
	CHECK(fd == -1);
	CHECK(krc == -1 && kerr == ESRCH);
	CHECK(zrc == 0 && z.start_ticks == id.start_ticks);
	CHECK(reaped == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(procid_wrong_start_time_is_someone_else)
{
	int release;
	pid_t pid = hold_child(&release, NULL);
	CHECK(pid > 0);
	struct proc_id id, other;
	int rc = procid_of(pid, &id);
	/* Same pid, another start time: a recycled pid. */
	other = id;
	other.start_ticks = id.start_ticks + 1;
	bool other_alive = procid_alive(&other);
	int fd = procid_pidfd(&other);
	errno = 0;
	int krc = procid_kill(&other, SIGTERM);
	int kerr = errno;
	other.start_ticks = id.start_ticks ? id.start_ticks - 1 : 12345;
	errno = 0;
	int krc2 = procid_kill(&other, SIGKILL);
	int kerr2 = errno;
	sleep_ms(50);
	/* The real process got nothing and still runs. */
	int st = 0;
	pid_t early = waitpid(pid, &st, WNOHANG);
	bool still = procid_alive(&id);
	close(release);
	pid_t w = early == pid ? pid : waitpid(pid, &st, 0);
	if (fd >= 0)
		close(fd);
	CHECK(rc == 0);
	CHECK(!other_alive);
	CHECK(fd == -1);
	CHECK(krc == -1 && kerr == ESRCH);
	CHECK(krc2 == -1 && kerr2 == ESRCH);
	CHECK(early == 0);
	CHECK(still);
	CHECK(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(procid_kill_reaches_the_named_process)
{
	int release;
	pid_t pid = hold_child(&release, NULL);
	CHECK(pid > 0);
	struct proc_id id;
	int rc = procid_of(pid, &id);
	int krc0 = procid_kill(&id, 0);
	int krc = procid_kill(&id, SIGTERM);
	int st = 0;
	pid_t w = waitpid(pid, &st, 0);
	close(release);
	CHECK(rc == 0);
	CHECK(krc0 == 0);
	CHECK(krc == 0);
	CHECK(w == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}

TEST(procid_pidfd_becomes_readable_at_exit)
{
	int release;
	pid_t pid = hold_child(&release, NULL);
	CHECK(pid > 0);
	struct proc_id id;
	int rc = procid_of(pid, &id);
	int fd = procid_pidfd(&id);
	int fd_errno = errno;
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int before = fd >= 0 ? poll(&pf, 1, 50) : -1;
	int cloexec = fd >= 0 ? fcntl(fd, F_GETFD) & FD_CLOEXEC : 0;
	close(release);
	pf.revents = 0;
	int after = fd >= 0 ? poll(&pf, 1, 5000) : -1;
	short revents = pf.revents;
	int st;
	pid_t w = waitpid(pid, &st, 0);
	if (fd >= 0)
		close(fd);
	CHECK(rc == 0);
	CHECK(w == pid);
	if (fd < 0 && fd_errno == ENOSYS) {
		fprintf(stderr, "    (no pidfd_open in this kernel: skipped)\n");
		return;
	}
	CHECK(fd >= 0);
	CHECK(cloexec);
	CHECK(before == 0);
	CHECK(after == 1 && (revents & POLLIN));
}

/* The command name may hold ") " and digits; the start time comes from
 * after the last ')'. */
TEST(procid_odd_command_name)
{
	int release;
	pid_t pid = hold_child(&release, "a) 1 2 (3) ) 4");
	CHECK(pid > 0);
	struct proc_id me, id;
	int rc_me = procid_of(getpid(), &me);
	int rc = procid_of(pid, &id);
	bool alive = procid_alive(&id);
	char comm[64] = "";
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
	int cfd = open(path, O_RDONLY | O_CLOEXEC);
	if (cfd >= 0) {
		ssize_t n = read(cfd, comm, sizeof comm - 1);
		comm[n > 0 ? n : 0] = '\0';
		close(cfd);
	}
	close(release);
	int st;
	pid_t w = waitpid(pid, &st, 0);
	CHECK(w == pid);
	CHECK(rc_me == 0);
	CHECK(rc == 0);
	CHECK(alive);
	CHECK(strstr(comm, ") ") != NULL);
	/* The child started after us, and not in the future. */
	CHECK(id.start_ticks >= me.start_ticks);
	long hz = sysconf(_SC_CLK_TCK);
	struct timespec up;
	clock_gettime(CLOCK_BOOTTIME, &up);
	CHECK(hz > 0);
	CHECK(id.start_ticks <= (uint64_t)(up.tv_sec + 1) * (uint64_t)hz);
}
