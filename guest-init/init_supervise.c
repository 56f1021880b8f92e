/* The supervision loop of pyro-init: run the agent, restart it with
 * back-off, reap every zombie, and stop cleanly on request.
 *
 * Signals come through a self-pipe (the handler only sets a flag and
 * writes a byte) rather than a signalfd, so the loop works on any guest
 * kernel, even one configured without CONFIG_SIGNALFD, and cannot lose a
 * stop request: the flags, not the bytes, say what happened, and a full
 * pipe only means a wake-up is already pending. Not core/evloop either:
 * one fd and two deadlines need no watcher tables, and this loop must
 * never fail on an allocation.
 *
 * Ending the VM (init_end_vm): the default is reboot(RB_AUTOBOOT), because
 * it is the call that ends the VM under both VMMs. Firecracker exits when
 * the guest resets the CPU through the i8042 controller (the kernel's
 * reboot=k path), while an x86 Firecracker guest has no power-off path:
 * there the kernel turns RB_POWER_OFF into a halt and the VM would hang
 * instead of exiting. QEMU is started with -no-reboot, so a reboot exits
 * it too. pyro.halt=poweroff selects RB_POWER_OFF for a VMM with ACPI
 * power-off (QEMU microvm or pc with ACPI). */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void init_backoff_reset(struct init_backoff *b)
{
	b->next_ms = INIT_BACKOFF_MIN_MS;
}

unsigned init_backoff_next(struct init_backoff *b, int64_t uptime_ms)
{
	if (b->next_ms < INIT_BACKOFF_MIN_MS || uptime_ms >= INIT_BACKOFF_RESET_MS)
		b->next_ms = INIT_BACKOFF_MIN_MS;
	unsigned delay = b->next_ms > INIT_BACKOFF_MAX_MS ? INIT_BACKOFF_MAX_MS : b->next_ms;
	b->next_ms = delay >= INIT_BACKOFF_MAX_MS / 2 ? INIT_BACKOFF_MAX_MS : delay * 2;
	return delay;
}

/* ---- signals -------------------------------------------------------- */

static volatile sig_atomic_t got_child, got_stop;
static int wake_pipe[2] = { -1, -1 };

static void on_signal(int signo)
{
	int saved = errno;
	if (signo == SIGCHLD)
		got_child = 1;
	else
		got_stop = signo;
	if (wake_pipe[1] >= 0) {
		ssize_t ignored = write(wake_pipe[1], "", 1);
		(void)ignored;
	}
	errno = saved;
}

static const int stop_signals[] = { SIGTERM, SIGINT, SIGPWR, SIGUSR2 };

static int install_signals(void)
{
	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	for (size_t i = 0; i < sizeof stop_signals / sizeof *stop_signals; i++)
		sigaction(stop_signals[i], &sa, NULL);
	return 0;
}

static const char *signal_name(int signo)
{
	switch (signo) {
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT (ctrl-alt-del)";
	case SIGPWR: return "SIGPWR";
	case SIGUSR2: return "SIGUSR2";
	default: return "a signal";
	}
}

/* ---- the loop ------------------------------------------------------- */

struct sup {
	const struct init_config *cfg;
	const char *agent_path;
	int test_mode;
	pid_t agent;            /* 0: not running */
	int64_t agent_started;
	int64_t restart_at;     /* 0: no restart pending */
	struct init_backoff backoff;
	int stopping;
	int64_t stop_deadline;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void exec_agent(const struct sup *s, char *const argv[])
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &dfl, NULL);
	for (size_t i = 0; i < sizeof stop_signals / sizeof *stop_signals; i++)
		sigaction(stop_signals[i], &dfl, NULL);
	/* Its own session: the agent gives shells their controlling
	 * terminals, and at the end its whole group can be killed. */
	setsid();
	/* stdout and stderr stay PID 1's: the console. */
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null >= 0)
		dup2(null, 0);
	char *clean_env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			      "HOME=/root", NULL };
	execve(s->agent_path, argv, s->test_mode ? environ : clean_env);
	init_say_errno(errno, "cannot execute the agent %s", s->agent_path);
	_exit(127);
}

static void start_agent(struct sup *s)
{
	struct init_agent_argv a;
	init_agent_argv(s->cfg, &a);
	pid_t pid = fork();
	if (pid == 0)
		exec_agent(s, a.argv);
	if (pid < 0) {
		unsigned delay = init_backoff_next(&s->backoff, 0);
		init_say_errno(errno, "cannot start the agent (retrying in %u ms)", delay);
		s->restart_at = now_ms() + delay;
		return;
	}
	s->agent = pid;
	s->agent_started = now_ms();
	init_say("started the agent (pid %d)", (int)pid);
}

static void describe_status(int status, char *out, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(out, cap, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, cap, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(out, cap, "ended (wait status %#x)", (unsigned)status);
}

static void agent_ended(struct sup *s, int status)
{
	char what[64];
	int64_t now = now_ms(), up = now - s->agent_started;
	describe_status(status, what, sizeof what);
	s->agent = 0;
	if (s->stopping) {
		init_say("the agent %s", what);
		return;
	}
	unsigned delay = init_backoff_next(&s->backoff, up);
	init_say("the agent %s after %lld ms; restarting it in %u ms", what, (long long)up, delay);
	s->restart_at = now + delay;
}

/* Orphans are reparented to PID 1 (or to us as subreaper in test mode):
 * collect every one, whoever it was. */
static void reap_all(struct sup *s)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		if (pid == s->agent)
			agent_ended(s, status);
	}
}

static void begin_stop(struct sup *s, int signo)
{
	if (s->stopping) {
		init_say("%s received; already stopping", signal_name(signo));
		return;
	}
	s->stopping = 1;
	s->restart_at = 0;
	s->stop_deadline = now_ms() + (int64_t)s->cfg->stop_grace_s * 1000;
	if (s->agent) {
		init_say("%s received: stopping the agent (it has %u s)", signal_name(signo),
			 s->cfg->stop_grace_s);
		kill(s->agent, SIGTERM);
	} else {
		init_say("%s received: stopping", signal_name(signo));
	}
}

/* Kill what is left, collect it (bounded: a process stuck in the kernel
 * must not keep the VM alive), and end. */
static int finish(struct sup *s)
{
	if (s->agent)
		init_say("the agent did not stop within %u s; killing everything", s->cfg->stop_grace_s);
	if (s->test_mode) {
		if (s->agent) {
			kill(-s->agent, SIGKILL);
			kill(s->agent, SIGKILL);
		}
	} else {
		kill(-1, SIGKILL);
	}
	for (int waited = 0; waited < 2000; waited += 10) {
		reap_all(s);
		if (!s->agent && (s->test_mode || (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)))
			break;
		sleep_ms(10);
	}
	if (s->test_mode) {
		init_say("stopped (test mode: not ending anything)");
		return 0;
	}
	init_end_vm(s->cfg);
}

void init_end_vm(const struct init_config *cfg)
{
	sync();
	int poweroff = cfg->halt == INIT_HALT_POWEROFF;
	init_say("%s to end the VM", poweroff ? "powering off" : "rebooting");
	reboot(poweroff ? RB_POWER_OFF : RB_AUTOBOOT);
	init_say_errno(errno, "reboot() failed; halting here");
	/* Returning would exit PID 1 and panic the kernel; sleep instead. */
	for (;;)
		pause();
}

static int poll_timeout(const struct sup *s)
{
	int64_t now = now_ms(), due = INT64_MAX;
	if (s->restart_at)
		due = s->restart_at;
	if (s->stopping && s->stop_deadline < due)
		due = s->stop_deadline;
	if (due == INT64_MAX)
		return -1;
	if (due <= now)
		return 0;
	return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

int init_supervise(const struct init_config *cfg, const char *agent_path, int test_mode)
{
	struct sup s = { .cfg = cfg, .agent_path = agent_path, .test_mode = test_mode };
	init_backoff_reset(&s.backoff);
	got_child = got_stop = 0;
	if (install_signals() < 0)
		init_say_errno(errno, "cannot create the signal pipe; polling every 100 ms instead");
	start_agent(&s);
	for (;;) {
		struct pollfd p = { .fd = wake_pipe[0], .events = POLLIN };
		int timeout = poll_timeout(&s);
		/* Without the pipe (its creation failed) wake up regularly. */
		if (wake_pipe[0] < 0 && (timeout < 0 || timeout > 100))
			timeout = 100;
		if (poll(&p, 1, timeout) < 0 && errno != EINTR) {
			init_say_errno(errno, "poll failed");
			sleep_ms(100);
		}
		char drain[64];
		while (wake_pipe[0] >= 0 && read(wake_pipe[0], drain, sizeof drain) > 0)
			;
		/* Reap on every wake-up, not only on SIGCHLD: a lost signal
		 * must not leave zombies. */
		got_child = 0;
		reap_all(&s);
		if (got_stop) {
			int signo = got_stop;
			got_stop = 0;
			begin_stop(&s, signo);
		}
		int64_t now = now_ms();
		if (s.stopping) {
			if (!s.agent || now >= s.stop_deadline)
				break;
		} else if (s.restart_at && now >= s.restart_at) {
			s.restart_at = 0;
			start_agent(&s);
		}
	}
	int rc = finish(&s);
	/* Only reached in test mode: leave the process as it was. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &dfl, NULL);
	for (size_t i = 0; i < sizeof stop_signals / sizeof *stop_signals; i++)
		sigaction(stop_signals[i], &dfl, NULL);
	if (wake_pipe[0] >= 0) {
		close(wake_pipe[0]);
		close(wake_pipe[1]);
		wake_pipe[0] = wake_pipe[1] = -1;
	}
	return rc;
}
