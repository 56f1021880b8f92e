/* Service processes: launching one, its supervisor thread, signalling its
 * process group, ending a run on purpose (stop_service, a readiness
 * timeout) and stopping them all at agent shutdown. The rules (hygiene,
 * supervision, grace periods, states and stop reasons) are in the notes at
 * the top of agent_service.c; the record table this file updates is there
 * too. Record fields are read and written under svc.lock; the two reads
 * outside it are of fields that cannot change meanwhile (a launching run's
 * command, a supervised run's pid). */
#include "agent_service.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/spawn.h"

/* At agent shutdown: one grace for all services between TERM and KILL. */
#define SHUTDOWN_GRACE_MS 5000

/* ---- the process --------------------------------------------------------- */

/* Start `sh -lc command` with spawn_run's child setup (see START at the top
 * of agent_service.c), stdin /dev/null, stdout/stderr on the given fds. The
 * pid, or -1. */
static pid_t start_process(const char *command, char **envp, const char *cwd, int out_fd,
			   int err_fd, struct pyro_err *err)
{
	const char *argv[] = { "/bin/sh", "-lc", command, NULL };
	char **cands = spawn_path_candidates(argv[0], (const char *const *)envp);
	int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int ep[2] = { -1, -1 };
	pid_t pid = -1;
	if (!cands || nullfd < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		pyro_err_sys(err, errno, "cannot start the service");
		goto out;
	}
	struct spawn_child_plan plan = {
		.src = { nullfd, out_fd, err_fd },
		.errfd = ep[1],
		.cwd = cwd,
		.candidates = cands,
		.argv = (char *const *)argv,
		.envp = envp,
	};
	/* Everything blocked across fork, so no handler runs in the child
	 * before spawn_child_exec resets the dispositions. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		spawn_child_exec(&plan);
	int fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(ep[1]);
	ep[1] = -1;
	if (pid < 0) {
		pyro_err_sys(err, fork_errno, "cannot start the service (fork)");
		goto out;
	}
	setpgid(pid, pid); /* also here, so a signal right now reaches the group */
	struct spawn_child_report rep;
	ssize_t n;
	do
		n = read(ep[0], &rep, sizeof rep);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof rep) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (rep.stage == SPAWN_STAGE_CHDIR)
			pyro_err_sys(err, rep.errnum, "cannot enter the service's cwd");
		else if (rep.stage == SPAWN_STAGE_EXEC)
			pyro_err_sys(err, rep.errnum, "cannot run /bin/sh for the service");
		else
			pyro_err_sys(err, rep.errnum, "cannot set up the service process");
		pid = -1;
	}
out:
	if (ep[0] >= 0)
		close(ep[0]);
	if (ep[1] >= 0)
		close(ep[1]);
	if (nullfd >= 0)
		close(nullfd);
	free(cands);
	return pid;
}

static void signal_group(const struct service *s, int sig)
{
	/* The leader is unreaped (alive or a zombie) while !leader_gone, so
	 * the group id still belongs to it. */
	if (s->pid > 1 && !s->leader_gone)
		kill(-s->pid, sig);
}

static void *supervise(void *arg)
{
	struct service *s = arg;
	pid_t pid = s->pid; /* fixed while supervised */
	siginfo_t si;
	int r;
	do {
		memset(&si, 0, sizeof si);
		r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
	} while (r < 0 && errno == EINTR);
	int wait_errno = r < 0 ? errno : 0;
	svc_lock();
	s->leader_gone = true;
	if (r == 0)
		kill(-pid, SIGKILL); /* what it left in its group ends with it */
	svc_unlock();
	int status = 0;
	pid_t w = -1;
	if (r == 0) {
		do
			w = waitpid(pid, &status, 0);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			wait_errno = errno;
	}

	struct svc_snapshot snap;
	svc_lock();
	s->ended_at = svc_epoch_now();
	if (w == pid) {
		s->has_exit = true;
		s->exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
			       : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
	}
	if (s->end_planned) {
		s->state = s->end_state;
		s->stop_reason = s->end_reason;
		snprintf(s->message, sizeof s->message, "%s", s->end_message);
	} else if (w != pid) {
		s->state = SVC_FAILED;
		s->stop_reason = "exited";
		snprintf(s->message, sizeof s->message, "lost track of the service process: %s",
			 strerror(wait_errno));
	} else if (s->state == SVC_STARTING) {
		s->state = SVC_FAILED;
		s->stop_reason = "exited";
		snprintf(s->message, sizeof s->message,
			 "service exited before it became ready (exit code %d)", s->exit_code);
	} else {
		s->state = SVC_STOPPED;
		s->stop_reason = "exited";
		snprintf(s->message, sizeof s->message, "service exited with code %d",
			 s->exit_code);
	}
	svc_changed(s, &snap);
	svc_unlock();
	svc_write_record(s, &snap);
	/* Only now may the record be reused or freed. */
	svc_lock();
	s->supervised = false;
	pthread_cond_broadcast(&svc.changed);
	svc_unlock();
	return NULL;
}

static void make_service_dir(void)
{
	const char *dirs[] = { "/run", AGENT_SERVICE_DIR };
	for (size_t i = 0; i < 2; i++) {
		char p[PATH_MAX];
		if (agent_path(p, dirs[i], NULL) == 0)
			mkdir(p, 0755);
	}
}

static int open_log(const char *name, const char *ext, struct pyro_err *err)
{
	char path[PATH_MAX];
	if (svc_file(path, name, ext, err) < 0)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		pyro_err_sys(err, errno, "cannot create the service log %s", path);
	return fd;
}

/* ---- launch and end ------------------------------------------------------ */

int svc_launch(struct service *s, char **envp, const char *cwd_host, bool probing,
	       struct pyro_err *err)
{
	make_service_dir();
	int out = open_log(s->name, "stdout", err);
	int errfd = out >= 0 ? open_log(s->name, "stderr", err) : -1;
	pid_t pid = -1;
	if (errfd >= 0)
		pid = start_process(s->command, envp, cwd_host, out, errfd, err);
	if (out >= 0)
		close(out);
	if (errfd >= 0)
		close(errfd);

	struct svc_snapshot snap;
	svc_lock();
	s->launching = false;
	if (pid > 0) {
		s->pid = pid;
		s->started_at = svc_epoch_now();
		s->state = probing ? SVC_STARTING : SVC_RUNNING;
		s->ready_at = probing ? 0 : s->started_at;
		s->supervised = true;
		if (agent_start_thread(NULL, supervise, s) != 0) {
			s->supervised = false;
			kill(-pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			s->leader_gone = true;
			s->has_exit = true;
			s->exit_code = 128 + SIGKILL;
			pyro_err_set(err, PYRO_EXIT_INTERNAL,
				     "cannot start a thread to supervise the service");
			pid = -1;
		}
	}
	if (pid < 0) {
		s->state = SVC_FAILED;
		s->stop_reason = "start_failed";
		s->ended_at = svc_epoch_now();
		snprintf(s->message, sizeof s->message, "%s", err->msg);
	}
	svc_changed(s, &snap);
	svc_unlock();
	svc_write_record(s, &snap);
	return pid > 0 ? 0 : -1;
}

void svc_end(struct service *s, uint64_t gen, enum svc_state state, const char *reason,
	     const char *message, int64_t grace_ms)
{
	svc_lock();
	int64_t dl = svc_mono_ms() + LAUNCH_WAIT_MS;
	while (s->gen == gen && s->launching && svc_mono_ms() < dl)
		svc_wait_change(dl);
	if (s->gen != gen || !s->supervised) {
		svc_unlock();
		return;
	}
	if (!s->end_planned) {
		s->end_planned = true;
		s->end_state = state;
		s->end_reason = reason;
		snprintf(s->end_message, sizeof s->end_message, "%s", message);
		pthread_cond_broadcast(&svc.changed); /* a probing start gives up */
	}
	signal_group(s, SIGTERM);
	signal_group(s, SIGCONT);
	dl = svc_mono_ms() + grace_ms;
	while (s->gen == gen && s->supervised && svc_mono_ms() < dl)
		svc_wait_change(dl);
	if (s->gen == gen && s->supervised) {
		signal_group(s, SIGKILL);
		dl = svc_mono_ms() + KILL_WAIT_MS;
		while (s->gen == gen && s->supervised && svc_mono_ms() < dl)
			svc_wait_change(dl);
	}
	svc_unlock();
}

/* ---- agent shutdown ------------------------------------------------------ */

void agent_services_shutdown(void)
{
	svc_lock();
	svc.shutting_down = true;
	int64_t dl = svc_mono_ms() + LAUNCH_WAIT_MS;
	for (;;) {
		bool busy = false;
		for (struct service *s = svc.list; s; s = s->next)
			busy |= s->launching;
		if (!busy || svc_mono_ms() >= dl)
			break;
		svc_wait_change(dl);
	}
	for (struct service *s = svc.list; s; s = s->next) {
		if (!s->supervised)
			continue;
		if (!s->end_planned) {
			s->end_planned = true;
			s->end_state = SVC_STOPPED;
			s->end_reason = "agent_shutdown";
			snprintf(s->end_message, sizeof s->end_message, "the agent shut down");
		}
		signal_group(s, SIGTERM);
		signal_group(s, SIGCONT);
	}
	pthread_cond_broadcast(&svc.changed);
	for (int round = 0; round < 2; round++) {
		dl = svc_mono_ms() + (round == 0 ? SHUTDOWN_GRACE_MS : KILL_WAIT_MS);
		for (;;) {
			bool alive = false;
			for (struct service *s = svc.list; s; s = s->next)
				alive |= s->supervised;
			if (!alive || svc_mono_ms() >= dl)
				break;
			svc_wait_change(dl);
		}
		if (round == 0)
			for (struct service *s = svc.list; s; s = s->next)
				if (s->supervised)
					signal_group(s, SIGKILL);
	}
	svc_unlock();
}
