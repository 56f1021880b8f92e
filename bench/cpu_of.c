/* cpu_of: what the pyro processes of one command cost the host, the VMM
 * left out. For bench/vm-run.sh.
 *
 *   cpu_of [--vmm-cmdline FILE] -- COMMAND [ARG...]
 *
 * Runs COMMAND (`pyro run test -- true`), waits until it and every
 * process it orphaned have exited, and prints one line of key=value:
 *
 *   wall_us     from just before the fork of COMMAND to its exit
 *   status      COMMAND's exit status (128+N for signal N)
 *   run_cpu_us  user+sys of COMMAND and of the children it reaped: `pyro
 *               run` and the middle process of the supervisor's double fork
 *   run_rss_kb  ru_maxrss of the same (the largest of them)
 *   orphans     how many orphans were reaped here: 1, the supervisor
 *   sup_cpu_us  user+sys of the orphans themselves (pyro-vmm, all its
 *               threads), without their children
 *   sup_rss_kb  the orphans' largest VmHWM, sampled every SAMPLE_MS
 *   vmm_cpu_us  user+sys of the children the orphans reaped: QEMU
 *
 * How:
 *  - pyro double-forks the supervisor away from its starter, so it is
 *    re-parented to the nearest child subreaper. This process is one
 *    (PR_SET_CHILD_SUBREAPER): the supervisor becomes its child, where
 *    getrusage(RUSAGE_CHILDREN) of any caller would never see it.
 *  - An exited child is first waited for with WNOWAIT, which leaves it a
 *    zombie whose CPU clock (clock_getcpuclockid) still reads the runtime
 *    of all its threads, without its children's. wait4 then reaps it: its
 *    rusage is itself plus everything it reaped, which for the supervisor
 *    is QEMU; QEMU's share is the difference.
 *  - These are the scheduler's own runtime sums (ns), not 10 ms ticks:
 *    the split into user and sys is estimated from ticks, their sum is not.
 *  - Memory: a zombie has no memory map left, and the supervisor's wait4
 *    ru_maxrss is the larger of its own and QEMU's. So its VmHWM (a
 *    high-water mark) is sampled while it runs; a new peak in its last
 *    SAMPLE_MS would be missed.
 *
 * --vmm-cmdline FILE writes the command line of the supervisor's child
 * (the VMM, once it has exec'd), NUL-separated as in /proc/PID/cmdline, so
 * a baseline can replay exactly what pyro ran.
 *
 * Exit status: 0 when the figures were printed (whatever COMMAND
 * returned), 1 when they could not be taken, 2 on a bad command line. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/procid.h"

#define SAMPLE_MS 5
/* After COMMAND exits, how long its orphans get to follow it. */
#define ORPHAN_WAIT_MS 60000
#define MAX_ORPHANS 8

struct orphan {
	pid_t pid;
	long hwm_kb;
	bool reaped; /* its pid may be someone else's now */
};

static struct {
	pid_t run;
	struct orphan orphans[MAX_ORPHANS];
	int n_orphans;
	const char *vmm_cmdline; /* NULL: not wanted, or written */
} S;

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long tv_us(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The parent pid from /proc/PID/stat (field 4, after the last ')' since
 * the command name may hold one); -1 when the process is gone. */
static pid_t ppid_of(pid_t pid)
{
	char text[512];
	if (procid_read(pid, "stat", text, sizeof text) < 0)
		return -1;
	const char *p = procid_stat_after_name(text);
	long ppid;
	if (!p || sscanf(p, "%*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

/* Live children of `parent` other than `skip`, from a walk of /proc
 * (no /proc/PID/task/TID/children on every kernel). */
static int children_of(pid_t parent, pid_t skip, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == skip)
			continue;
		if (ppid_of((pid_t)pid) == parent)
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

static long vmhwm_kb(pid_t pid)
{
	char text[4096];
	if (procid_read(pid, "status", text, sizeof text) < 0)
		return -1;
	const char *p = strstr(text, "\nVmHWM:");
	return p ? strtol(p + 7, NULL, 10) : -1;
}

static struct orphan *orphan_find(pid_t pid)
{
	for (int i = 0; i < S.n_orphans; i++)
		if (S.orphans[i].pid == pid)
			return &S.orphans[i];
	return NULL;
}

/* The VMM is the supervisor's child once it runs something other than
 * pyro (before its exec it is a copy of the supervisor). */
static void capture_vmm_cmdline(pid_t sup)
{
	pid_t kids[4];
	int n = children_of(sup, 0, kids, 4);
	for (int i = 0; i < n; i++) {
		char path[64], exe[4096], text[16384];
		snprintf(path, sizeof path, "/proc/%ld/exe", (long)kids[i]);
		ssize_t len = readlink(path, exe, sizeof exe - 1);
		if (len <= 0)
			continue;
		exe[len] = '\0';
		if (!strstr(exe, "qemu") && !strstr(exe, "firecracker"))
			continue;
		snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)kids[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t got = read(fd, text, sizeof text);
		close(fd);
		if (got <= 0 || got == (ssize_t)sizeof text)
			continue;
		FILE *f = fopen(S.vmm_cmdline, "we");
		if (!f || fwrite(text, 1, (size_t)got, f) != (size_t)got || fclose(f) != 0) {
			fprintf(stderr, "cpu_of: cannot write %s: %s\n", S.vmm_cmdline,
				strerror(errno));
			exit(PYRO_EXIT_FAILURE);
		}
		S.vmm_cmdline = NULL;
		return;
	}
}

/* One look at the running processes: new orphans, their VmHWM, and the
 * VMM's command line while it is wanted. */
static void sample(void)
{
	/* Walking /proc costs CPU next to the run being measured: it stops
	 * once the supervisor (and the VMM's command line) has been found.
	 * A later orphan is still reaped and counted, its memory not. */
	if (!S.n_orphans || S.vmm_cmdline) {
		pid_t kids[MAX_ORPHANS];
		int n = children_of(getpid(), S.run, kids, MAX_ORPHANS);
		for (int i = 0; i < n && S.n_orphans < MAX_ORPHANS; i++)
			if (!orphan_find(kids[i]))
				S.orphans[S.n_orphans++] = (struct orphan){ kids[i], 0, false };
	}
	for (int i = 0; i < S.n_orphans; i++) {
		if (S.orphans[i].reaped)
			continue;
		long kb = vmhwm_kb(S.orphans[i].pid);
		if (kb > S.orphans[i].hwm_kb)
			S.orphans[i].hwm_kb = kb;
		if (S.vmm_cmdline)
			capture_vmm_cmdline(S.orphans[i].pid);
	}
}

/* Own CPU of an exited, not yet reaped child (a zombie), in µs. */
static long long zombie_cpu_us(pid_t pid)
{
	clockid_t clk;
	struct timespec ts;
	if (clock_getcpuclockid(pid, &clk) != 0 || clock_gettime(clk, &ts) != 0)
		return -1;
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	int first = 1;
	if (argc > 2 && !strcmp(argv[1], "--vmm-cmdline")) {
		S.vmm_cmdline = argv[2];
		first = 3;
	}
	if (first >= argc || strcmp(argv[first], "--") || first + 1 >= argc) {
		fprintf(stderr, "usage: cpu_of [--vmm-cmdline FILE] -- COMMAND [ARG...]\n");
		return PYRO_EXIT_USAGE;
	}
	char **cmd = argv + first + 1;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		perror("cpu_of: PR_SET_CHILD_SUBREAPER");
		return PYRO_EXIT_FAILURE;
	}
	/* SIGCHLD stays blocked and is waited for with a timeout, which is
	 * also the sampling clock. */
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);

	long long t0 = mono_us();
	S.run = fork();
	if (S.run < 0) {
		perror("cpu_of: fork");
		return PYRO_EXIT_FAILURE;
	}
	if (S.run == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(cmd[0], cmd);
		fprintf(stderr, "cpu_of: cannot run %s: %s\n", cmd[0], strerror(errno));
		_exit(PYRO_EXIT_NOTFOUND);
	}

	long long wall_us = -1, run_cpu = 0, run_rss = 0, sup_cpu = 0, vmm_cpu = 0;
	long long run_end = 0;
	int status = -1, reaped_orphans = 0;
	bool bad = false, killed = false;
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
			break; /* ECHILD: everyone is reaped */
		if (si.si_pid != 0) {
			pid_t pid = si.si_pid;
			struct rusage ru;
			int st;
			if (pid == S.run) {
				long long end = mono_us();
				if (wait4(pid, &st, 0, &ru) != pid)
					return PYRO_EXIT_FAILURE;
				wall_us = end - t0;
				run_end = end;
				status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				run_cpu = tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
				run_rss = ru.ru_maxrss;
			} else {
				long long own = zombie_cpu_us(pid);
				if (wait4(pid, &st, 0, &ru) != pid)
					return PYRO_EXIT_FAILURE;
				long long all = tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
				if (own < 0) {
					fprintf(stderr, "cpu_of: cannot read the CPU clock of pid %ld\n",
						(long)pid);
					bad = true;
					own = all;
				}
				sup_cpu += own;
				vmm_cpu += all > own ? all - own : 0;
				reaped_orphans++;
				struct orphan *o = orphan_find(pid);
				if (o)
					o->reaped = true;
			}
			continue;
		}
		if (run_end && !killed && mono_us() - run_end > ORPHAN_WAIT_MS * 1000LL) {
			fprintf(stderr, "cpu_of: processes left by the command still run %d s after it "
					"ended; stopping them\n", ORPHAN_WAIT_MS / 1000);
			for (int i = 0; i < S.n_orphans; i++)
				if (!S.orphans[i].reaped)
					kill(S.orphans[i].pid, SIGKILL);
			bad = killed = true;
		}
		sample();
		struct timespec tick = { 0, SAMPLE_MS * 1000000L };
		sigtimedwait(&chld, NULL, &tick);
	}
	long sup_rss = 0;
	for (int i = 0; i < S.n_orphans; i++)
		if (S.orphans[i].hwm_kb > sup_rss)
			sup_rss = S.orphans[i].hwm_kb;
	printf("wall_us=%lld status=%d run_cpu_us=%lld run_rss_kb=%lld orphans=%d sup_cpu_us=%lld "
	       "sup_rss_kb=%ld vmm_cpu_us=%lld\n",
	       wall_us, status, run_cpu, run_rss, reaped_orphans, sup_cpu, sup_rss, vmm_cpu);
	if (S.vmm_cmdline) {
		fprintf(stderr, "cpu_of: the VMM's command line was never seen\n");
		bad = true;
	}
	return bad ? PYRO_EXIT_FAILURE : PYRO_EXIT_OK;
}
