/* The per-VM supervisor process (vmsup.h): the pyro-vmm applet. */
#include "vmsup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "buf.h"
#include "exitcodes.h"
#include "fsutil.h"
#include "lock.h"
#include "log.h"
#include "netplan.h"
#include "qemu_args.h"
#include "vmlaunch.h"
#include "vmux_host.h"

/* How long the VMM gets to exit after SIGTERM before SIGKILL. QEMU exits
 * at once on SIGTERM; the grace is for a wedged one. */
#define VMM_TERM_GRACE_MS 3000
/* After a line loss with the VMM still alive, wait this long before the
 * next session, so a persistent fault cannot spin. */
#define RESESSION_BACKOFF_MS 200

struct sup {
	struct vm_record rec;
	const char *initrd;
	int status_fd;              /* -1 once closed (only the main thread closes it) */
	bool reported;              /* "ready" or "error" was written */
	int wake;                   /* eventfd: the vmux thread reported "ready" */
	pthread_mutex_t status_mu;
	pid_t vmm_pid;
	int line_fd;                /* our end of the agent line */
	int vmux_stop;              /* eventfd: tells the vmux thread to return */
	volatile int stopping;
	pthread_t vmux_thread;
	bool vmux_running;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One line to the starter; after a final one ("ready"/"error") nothing
 * more is written. The fd is closed only by the main thread (status_close):
 * it may be in the main thread's poll set, and closing it from the vmux
 * thread could let a new socket take its number mid-poll. */
static void status_line(struct sup *s, bool final, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void status_line(struct sup *s, bool final, const char *fmt, ...)
{
	char line[PYRO_ERR_MSG_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[n++] = '\n';
	pthread_mutex_lock(&s->status_mu);
	if (s->status_fd >= 0 && !s->reported) {
		/* A failed write (EPIPE: the starter is gone) is not "reported":
		 * the main loop then sees the pipe's error and stops the VM. */
		if (atomicfile_write_all(s->status_fd, line, (size_t)n) == 0 && final)
			s->reported = true;
	}
	pthread_mutex_unlock(&s->status_mu);
}

/* Main thread only: EOF for the starter once the final line is out. */
static void status_close(struct sup *s)
{
	pthread_mutex_lock(&s->status_mu);
	if (s->status_fd >= 0 && s->reported) {
		close(s->status_fd);
		s->status_fd = -1;
	}
	pthread_mutex_unlock(&s->status_mu);
}

static void on_session_up(void *ctx)
{
	struct sup *s = ctx;
	log_msg(LOG_INFO, "vm %s: the guest agent is up", s->rec.vm_id);
	status_line(s, true, "ready");
	uint64_t one = 1;
	(void)!write(s->wake, &one, sizeof one);
}

static void *vmux_main(void *arg)
{
	struct sup *s = arg;
	char sock[PATH_MAX];
	struct pyro_err err = { 0 };
	if (vm_path(&s->rec, "agent.sock", sock, sizeof sock, &err) < 0) {
		log_msg(LOG_ERROR, "%s", err.msg);
		return NULL;
	}
	while (!s->stopping) {
		struct vmux_host_opts o = {
			.stop_fd = s->vmux_stop,
			.keepalive_ms = 0,
			.session_up = on_session_up,
			.session_ctx = s,
		};
		if (vmux_host_serve(s->line_fd, sock, &o, &err) == 0)
			break;
		if (s->stopping)
			break;
		/* The line broke (framing, a guest reboot): the supervisor
		 * still owns both ends, so a new session resynchronises. */
		log_msg(LOG_WARN, "vm %s: %s; starting a new session", s->rec.vm_id, err.msg);
		struct pollfd p = { s->vmux_stop, POLLIN, 0 };
		if (poll(&p, 1, RESESSION_BACKOFF_MS) > 0)
			break;
	}
	return NULL;
}

static void describe_status(int status, char *out, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(out, cap, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, cap, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, cap, "ended (wait status %d)", status);
}

static void write_exit(struct sup *s, const char *reason, const char *detail)
{
	struct json_doc *doc = json_doc_new();
	struct json_value *o = doc ? json_object(doc) : NULL;
	struct buf text = BUF_INIT;
	char path[PATH_MAX];
	struct pyro_err err = { 0 };
	if (o && json_set_str(doc, o, "reason", reason) == 0 &&
	    json_set_str(doc, o, "detail", detail) == 0 &&
	    json_object_set(doc, o, "at", json_double(doc, now_s())) == 0 &&
	    json_emit(&text, o, JSON_EMIT_PRETTY) == 0 && buf_append_char(&text, '\n') == 0 &&
	    vm_path(&s->rec, "vmm-exit.json", path, sizeof path, &err) == 0)
		(void)atomicfile_write(path, text.data, text.len, 0600, &err);
	buf_release(&text);
	json_doc_free(doc);
}

/* Wait for the VMM child to be reaped, through the signalfd (SIGCHLD),
 * for at most ms. True when it was reaped (status in *status). */
static bool reap_vmm(struct sup *s, int sfd, int ms, int *status)
{
	long long deadline = (long long)(now_s() * 1000) + ms;
	for (;;) {
		pid_t w = waitpid(s->vmm_pid, status, WNOHANG);
		if (w == s->vmm_pid)
			return true;
		if (w < 0 && errno == ECHILD)
			return true;
		long long left = deadline - (long long)(now_s() * 1000);
		if (left <= 0)
			return false;
		struct pollfd p = { sfd, POLLIN, 0 };
		if (poll(&p, 1, (int)left) > 0) {
			struct signalfd_siginfo si;
			(void)!read(sfd, &si, sizeof si);
		}
	}
}

static void stop_vmm(struct sup *s, int sfd, int *status)
{
	if (s->vmm_pid <= 0)
		return;
	kill(s->vmm_pid, SIGTERM);
	if (!reap_vmm(s, sfd, VMM_TERM_GRACE_MS, status)) {
		log_msg(LOG_WARN, "vm %s: the VMM ignored SIGTERM for %d ms; killing it",
			s->rec.vm_id, VMM_TERM_GRACE_MS);
		kill(s->vmm_pid, SIGKILL);
		reap_vmm(s, sfd, 60000, status);
	}
	s->vmm_pid = 0;
}

static void stop_vmux(struct sup *s)
{
	s->stopping = 1;
	if (s->vmux_running) {
		uint64_t one = 1;
		(void)!write(s->vmux_stop, &one, sizeof one);
		pthread_join(s->vmux_thread, NULL);
		s->vmux_running = false;
	}
}

/* The owner is gone: nobody will ever use or delete this VM, so it goes
 * entirely, under its lock (a concurrent delete then finds nothing). */
static void delete_own_vm(struct sup *s)
{
	char lockpath[PATH_MAX];
	struct pyro_err err = { 0 };
	struct pyro_lock lk = PYRO_LOCK_INIT;
	if (vm_path(&s->rec, "lock", lockpath, sizeof lockpath, &err) == 0)
		(void)lock_acquire(&lk, lockpath, LOCK_KIND_EXCLUSIVE, 10000, &err);
	if (fs_remove_tree(s->rec.dir) < 0)
		log_msg(LOG_WARN, "vm %s: cannot remove %s: %s", s->rec.vm_id, s->rec.dir,
			strerror(errno));
	/* Its TAP network slot goes back too (vmmanager.c keeps them next to
	 * the VMs, in .network-slots). */
	if (s->rec.net.enabled && s->rec.net.slot >= 0) {
		char slots[PATH_MAX];
		snprintf(slots, sizeof slots, "%s", s->rec.dir);
		char *slash = strrchr(slots, '/');
		if (slash && (size_t)(slash - slots) + 16 < sizeof slots) {
			strcpy(slash, "/.network-slots");
			netplan_slot_release(slots, (unsigned)s->rec.net.slot, NULL);
		}
	}
	lock_release(&lk);
}

static int write_pidfile(struct sup *s, struct pyro_err *err)
{
	struct proc_id me;
	char path[PATH_MAX], line[64];
	if (procid_of(getpid(), &me) < 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "cannot read /proc/self/stat");
	int n = snprintf(line, sizeof line, "%ld %llu\n", (long)me.pid,
			 (unsigned long long)me.start_ticks);
	if (vm_path(&s->rec, "supervisor.pid", path, sizeof path, err) < 0)
		return -1;
	return atomicfile_write(path, line, (size_t)n, 0600, err);
}

static int parse_args(int argc, char **argv, const char **dir, int *status_fd,
		      const char **initrd)
{
	/* Options come in pairs: --name VALUE. */
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return -1;
		if (!strcmp(a, "--dir"))
			*dir = v;
		else if (!strcmp(a, "--status-fd"))
			*status_fd = atoi(v);
		else if (!strcmp(a, "--initrd"))
			*initrd = v;
		else
			return -1;
	}
	return *dir && *status_fd > 2 ? 0 : -1;
}

static int load_record(struct sup *s, const char *dir, struct pyro_err *err)
{
	char vms[PATH_MAX];
	snprintf(vms, sizeof vms, "%s", dir);
	char *slash = strrchr(vms, '/');
	if (!slash)
		return pyro_err_set(err, PYRO_EXIT_USAGE, "--dir must be a VM directory path");
	*slash = '\0';
	return vmrecord_load(vms, slash + 1, &s->rec, err);
}

int vmsup_main(int argc, char **argv)
{
	log_set_prog("pyro-vmm");
	static const char usage[] =
		"usage: pyro-vmm --dir VM_DIR --status-fd N [--initrd PATH]\n"
		"The per-VM supervisor: pyro starts one for each VM it boots (docs/vms.md).\n"
		"It owns the VMM, serves VM_DIR/agent.sock, reports readiness on fd N and\n"
		"stops the VM on SIGTERM, when its owner dies or when its ttl runs out.\n"
		"Not meant to be run by hand.\n";
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return PYRO_EXIT_OK;
	}
	const char *dir = NULL, *initrd = NULL;
	int status_fd = -1;
	if (parse_args(argc, argv, &dir, &status_fd, &initrd) < 0) {
		fputs(usage, stderr);
		return PYRO_EXIT_USAGE;
	}
	static struct sup s; /* big (paths): not on the stack */
	s.status_fd = status_fd;
	pthread_mutex_init(&s.status_mu, NULL);
	s.initrd = initrd;
	s.line_fd = -1;
	struct pyro_err err = { 0 };
	fcntl(status_fd, F_SETFD, FD_CLOEXEC);
	if (load_record(&s, dir, &err) < 0) {
		status_line(&s, true, "error %s", err.msg);
		return PYRO_EXIT_FAILURE;
	}
	/* Findable before the record names us: a starter that is interrupted
	 * mid-boot (or crashes) still knows whom to stop. */
	if (write_pidfile(&s, &err) < 0) {
		status_line(&s, true, "error %s", err.msg);
		return PYRO_EXIT_FAILURE;
	}
	/* Signals arrive on a signalfd; SIGPIPE is just an EPIPE. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	signal(SIGPIPE, SIG_IGN);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	s.vmux_stop = eventfd(0, EFD_CLOEXEC);
	s.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sfd < 0 || s.vmux_stop < 0 || s.wake < 0) {
		status_line(&s, true, "error the VM supervisor cannot make its signalfd/eventfd: %s",
			    strerror(errno));
		return PYRO_EXIT_FAILURE;
	}

	struct vm_launch launch;
	if (vmlaunch_start(&s.rec, initrd, &launch, &err) < 0) {
		status_line(&s, true, "error %s", err.msg);
		write_exit(&s, "launch_failed", err.msg);
		vmlaunch_cleanup(&s.rec, &launch); /* a TAP made before the failure */
		return PYRO_EXIT_FAILURE;
	}
	s.vmm_pid = launch.vmm_pid;
	s.line_fd = launch.line_fd;
	struct proc_id me, vmm;
	procid_of(getpid(), &me);
	procid_of(s.vmm_pid, &vmm);
	status_line(&s, false, "pids %ld %llu %ld %llu", (long)me.pid,
		    (unsigned long long)me.start_ticks, (long)vmm.pid,
		    (unsigned long long)vmm.start_ticks);
	log_msg(LOG_INFO, "vm %s: %s started (pid %ld)", s.rec.vm_id, s.rec.backend,
		(long)s.vmm_pid);

	if (s.line_fd >= 0) {
		if (pthread_create(&s.vmux_thread, NULL, vmux_main, &s) != 0) {
			status_line(&s, true, "error cannot start the agent line thread");
			int st;
			stop_vmm(&s, sfd, &st);
			return PYRO_EXIT_FAILURE;
		}
		s.vmux_running = true;
	}
	int owner_fd = s.rec.owner.pid > 0 ? procid_pidfd(&s.rec.owner) : -1;
	if (s.line_fd < 0) {
		/* No line to hold (Firecracker): ask the agent until it answers,
		 * waking for signals and the owner meanwhile; whatever stopped
		 * the wait is then handled by the loop below. */
		int watch[2] = { sfd, owner_fd };
		long boot_s = getenv("PYRO_BOOT_TIMEOUT_SECONDS")
				      ? strtol(getenv("PYRO_BOOT_TIMEOUT_SECONDS"), NULL, 10)
				      : 60;
		if (boot_s <= 0 || boot_s > 3600)
			boot_s = 60;
		if (vmlaunch_wait_ready(&s.rec, s.vmm_pid, watch, 2, (int)boot_s * 1000, &err) == 0)
			status_line(&s, true, "ready");
		else if (strncmp(err.msg, "stopped while", 13) != 0)
			status_line(&s, true, "error %s", err.msg); /* the starter stops us */
		else
			log_msg(LOG_INFO, "vm %s: %s", s.rec.vm_id, err.msg);
	}
	if (s.rec.owner.pid > 0 && owner_fd < 0 && !procid_alive(&s.rec.owner)) {
		log_msg(LOG_INFO, "vm %s: its owner is already gone", s.rec.vm_id);
	}
	const char *reason = NULL;
	char detail[PYRO_ERR_MSG_MAX] = "";
	int vmm_status = 0;
	bool vmm_reaped = false;
	bool owner_gone = false;
	while (!reason) {
		status_close(&s);
		struct pollfd p[4] = {
			{ sfd, POLLIN, 0 },
			{ owner_fd, POLLIN, 0 },
			{ s.status_fd, 0, 0 },
			{ s.wake, POLLIN, 0 },
		};
		/* Before "ready" the starter must still be waiting: a closed
		 * reader end shows as POLLERR on our write end. (status_fd is
		 * only closed by this thread, so it is stable here.) */
		double left = s.rec.expires_at - now_s();
		int timeout = left <= 0 ? 0 : left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1;
		/* Without a pidfd the owner is looked at once a second. */
		if (s.rec.owner.pid > 0 && owner_fd < 0 && timeout > 1000)
			timeout = 1000;
		int n = poll(p, 4, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (p[3].revents & POLLIN)) {
			uint64_t v;
			(void)!read(s.wake, &v, sizeof v);
		}
		if (n > 0 && (p[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD) {
				reason = "stopped";
				snprintf(detail, sizeof detail, "stopped on request (signal %u)",
					 si.ssi_signo);
				break;
			}
			if (waitpid(s.vmm_pid, &vmm_status, WNOHANG) == s.vmm_pid) {
				vmm_reaped = true;
				char how[128];
				describe_status(vmm_status, how, sizeof how);
				char qlog[400], console[400];
				vmsup_log_tail(&s.rec, strcmp(s.rec.backend, "qemu") ? "firecracker.log"
										     : "qemu.log",
					       4, qlog, sizeof qlog);
				vmsup_log_tail(&s.rec, "console.log", 6, console, sizeof console);
				snprintf(detail, sizeof detail, "the VMM (%s, pid %ld) %s%s%s%s%s",
					 s.rec.backend, (long)s.vmm_pid, how, *qlog ? "; it said: " : "",
					 qlog, *console ? "; console tail: " : "", console);
				reason = "vmm_exited";
				s.vmm_pid = 0;
				break;
			}
		}
		if (owner_fd >= 0 && n > 0 && (p[1].revents & (POLLIN | POLLHUP))) {
			owner_gone = true;
		} else if (s.rec.owner.pid > 0 && owner_fd < 0 && !procid_alive(&s.rec.owner)) {
			owner_gone = true;
		}
		if (owner_gone) {
			reason = "owner_exited";
			snprintf(detail, sizeof detail, "the process that owned the VM (pid %ld) exited",
				 (long)s.rec.owner.pid);
			break;
		}
		pthread_mutex_lock(&s.status_mu);
		bool reported = s.reported;
		pthread_mutex_unlock(&s.status_mu);
		if (p[2].fd >= 0 && n > 0 && !reported && (p[2].revents & (POLLERR | POLLHUP))) {
			reason = "starter_gone";
			snprintf(detail, sizeof detail, "the process starting the VM went away");
			break;
		}
		if (s.rec.expires_at - now_s() <= 0) {
			reason = "ttl_expired";
			snprintf(detail, sizeof detail, "the VM's ttl of %d s ran out", s.rec.ttl_seconds);
			break;
		}
	}
	if (!reason) {
		reason = "supervisor_error";
		snprintf(detail, sizeof detail, "poll failed: %s", strerror(errno));
	}
	log_msg(LOG_INFO, "vm %s: %s", s.rec.vm_id, detail);
	status_line(&s, true, "error %s", detail); /* no-op once "ready" was sent */
	status_close(&s);
	stop_vmux(&s);
	if (!vmm_reaped)
		stop_vmm(&s, sfd, &vmm_status);
	vmlaunch_cleanup(&s.rec, &launch);
	if (owner_gone)
		delete_own_vm(&s);
	else
		write_exit(&s, reason, detail);
	if (owner_fd >= 0)
		close(owner_fd);
	close(sfd);
	return PYRO_EXIT_OK;
}

/* ---- the starter's side ---- */

void vmsup_log_tail(const struct vm_record *r, const char *name, int max_lines, char *out,
		    size_t cap)
{
	char path[PATH_MAX];
	out[0] = '\0';
	if (cap == 0 || vm_path(r, name, path, sizeof path, NULL) < 0)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char text[4096];
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof text - 1 ? size - (off_t)sizeof text + 1 : 0;
	ssize_t n = pread(fd, text, sizeof text - 1, from);
	close(fd);
	if (n <= 0)
		return;
	/* Drop trailing newlines, then walk back max_lines lines. */
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	text[n] = '\0';
	ssize_t start = n;
	for (int lines = 0; start > 0; start--)
		if (text[start - 1] == '\n' && ++lines == max_lines)
			break;
	size_t o = 0;
	for (ssize_t i = start; i < n && o + 4 < cap; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\n') {
			if (o + 4 >= cap)
				break;
			memcpy(out + o, " | ", 3);
			o += 3;
		} else if (c >= 0x20 && c != 0x7f) {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

void vmsup_exit_reason(const struct vm_record *r, char *out, size_t cap)
{
	char path[PATH_MAX];
	out[0] = '\0';
	if (vm_path(r, "vmm-exit.json", path, sizeof path, NULL) < 0)
		return;
	struct buf text = BUF_INIT;
	struct json_doc *doc = NULL;
	struct json_value *root;
	if (buf_read_file(&text, path) == 0 && (doc = json_doc_new()) &&
	    json_parse(doc, text.data, text.len, NULL, &root, NULL) == 0 &&
	    json_get_str(root, "detail"))
		snprintf(out, cap, "%s", json_get_str(root, "detail"));
	json_doc_free(doc);
	buf_release(&text);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read one status line (with deadline). 1 line, 0 EOF, -1 timeout/error. */
static int read_status_line(int fd, struct buf *acc, char *line, size_t cap, int64_t deadline)
{
	for (;;) {
		char *nl = acc->len ? memchr(acc->data, '\n', acc->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - acc->data);
			snprintf(line, cap, "%.*s", (int)n, acc->data);
			buf_consume(acc, n + 1);
			return 1;
		}
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = { fd, POLLIN, 0 };
		int n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			continue;
		char chunk[1024];
		ssize_t got = read(fd, chunk, sizeof chunk);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return 0;
		if (buf_append(acc, chunk, (size_t)got) < 0)
			return -1;
	}
}

/* fd itself when it is above 3, else a CLOEXEC copy above 3 (fd closed). */
static int fcntl_above3(int fd)
{
	if (fd < 0 || fd > 3)
		return fd;
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, 4);
	close(fd);
	return hi;
}

/* Close every fd from `from` up: a child must not hold its parent's other
 * files (an MCP server's pipes, a build's jobserver) for the VM's life. */
static void close_from(int from)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)from, ~0U, 0) == 0)
		return;
#endif
	for (int fd = from; fd < 1024; fd++)
		close(fd);
}

int vmsup_spawn(struct vm_record *r, const struct vmsup_spawn_opts *o, struct pyro_err *err)
{
	char logpath[PATH_MAX], fdtext[16] = "3";
	if (vm_path(r, "vmm.log", logpath, sizeof logpath, err) < 0)
		return -1;
	const char *argv[] = { "pyro-vmm", "--dir", r->dir, "--status-fd", fdtext, "--initrd",
			       o->initrd, NULL };
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return pyro_err_sys(err, errno, "creating the VM supervisor's status pipe");
	/* Every fd the child rearranges must sit above 3: a caller with fds
	 * 0-2 closed gets them as the pipe or the log, and dup2 onto 0-3 would
	 * then clobber one with another (or leave CLOEXEC set on fd 3). */
	for (int i = 0; i < 2; i++) {
		if (pfd[i] <= 3) {
			int hi = fcntl(pfd[i], F_DUPFD_CLOEXEC, 4);
			close(pfd[i]);
			pfd[i] = hi;
		}
	}
	int logfd = fcntl_above3(open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
	int nullfd = fcntl_above3(open("/dev/null", O_RDWR | O_CLOEXEC));
	if (pfd[0] < 0 || pfd[1] < 0) {
		if (logfd >= 0)
			close(logfd);
		if (nullfd >= 0)
			close(nullfd);
		return pyro_err_sys(err, errno, "creating the VM supervisor's status pipe");
	}
	if (logfd < 0 || nullfd < 0) {
		int e = errno;
		close(pfd[0]), close(pfd[1]);
		if (logfd >= 0)
			close(logfd);
		if (nullfd >= 0)
			close(nullfd);
		return pyro_err_sys(err, e, "opening %s", logfd < 0 ? logpath : "/dev/null");
	}
	/* Double fork: the supervisor is re-parented to init (or the nearest
	 * subreaper) and sits in a session of its own, so neither the
	 * starter's exit nor a Ctrl-C in its terminal reaches it directly. */
	pid_t mid = fork();
	if (mid == 0) {
		setsid();
		pid_t sup = fork();
		if (sup != 0)
			_exit(sup < 0 ? 1 : 0);
		/* Only async-signal-safe calls from here to exec. */
		dup2(nullfd, 0);
		dup2(nullfd, 1); /* never the caller's stdout (an MCP stream) */
		dup2(logfd, 2);
		dup2(pfd[1], 3);
		close_from(4);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		execv(o->self_exe, (char *const *)argv);
		static const char msg[] = "error cannot run the pyro binary as pyro-vmm\n";
		(void)!write(3, msg, sizeof msg - 1);
		_exit(127);
	}
	int e = errno;
	close(pfd[1]);
	close(logfd);
	close(nullfd);
	if (mid < 0) {
		close(pfd[0]);
		return pyro_err_sys(err, e, "starting the VM supervisor (fork)");
	}
	int st;
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;

	struct buf acc = BUF_INIT;
	char line[PYRO_ERR_MSG_MAX + 64];
	int64_t t0 = mono_ms(), deadline = t0 + o->boot_timeout_ms;
	int rc = -1;
	bool got_pids = false;
	for (;;) {
		int got = read_status_line(pfd[0], &acc, line, sizeof line, deadline);
		if (got == 1 && strncmp(line, "pids ", 5) == 0) {
			long sp, vp;
			unsigned long long ss, vs;
			if (sscanf(line + 5, "%ld %llu %ld %llu", &sp, &ss, &vp, &vs) == 4) {
				r->supervisor = (struct proc_id){ (pid_t)sp, ss };
				r->vmm = (struct proc_id){ (pid_t)vp, vs };
				got_pids = true;
			}
			continue;
		}
		if (got == 1 && strcmp(line, "ready") == 0) {
			r->boot_ms = (double)(mono_ms() - t0);
			rc = 0;
			break;
		}
		if (got == 1 && strncmp(line, "error ", 6) == 0) {
			pyro_err_set(err, PYRO_EXIT_FAILURE, "the VM did not boot: %s", line + 6);
			break;
		}
		if (got == 1)
			continue; /* a line from a newer pyro: ignore */
		char tail[400];
		if (got == 0) {
			vmsup_log_tail(r, "vmm.log", 4, tail, sizeof tail);
			pyro_err_set(err, PYRO_EXIT_FAILURE,
				     "the VM supervisor exited during boot without saying why%s%s",
				     *tail ? "; vmm.log: " : "", tail);
		} else {
			vmsup_log_tail(r, "console.log", 6, tail, sizeof tail);
			pyro_err_set(err, PYRO_EXIT_TIMEOUT,
				     "the guest did not become ready within %d s (%s%s)%s%s",
				     o->boot_timeout_ms / 1000, r->backend,
				     strcmp(r->accel, "tcg") == 0 ? ", software emulation" : "",
				     *tail ? "; console tail: " : "", tail);
		}
		break;
	}
	buf_release(&acc);
	close(pfd[0]);
	if (rc < 0 && got_pids) {
		/* Closing the pipe already tells it; make sure it is gone before
		 * the caller removes the directory under it. */
		struct pyro_err ignored = { 0 };
		vmsup_stop(r, 10000, &ignored);
	}
	return rc;
}

/* The supervisor from its pid file, for a record that does not name it
 * (start interrupted, or the starter died before saving). */
static void pidfile_supervisor(const struct vm_record *r, struct proc_id *id)
{
	char path[PATH_MAX], line[64];
	id->pid = 0;
	if (vm_path(r, "supervisor.pid", path, sizeof path, NULL) < 0)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, line, sizeof line - 1);
	close(fd);
	long pid;
	unsigned long long start;
	if (n > 0 && (line[n] = '\0', sscanf(line, "%ld %llu", &pid, &start) == 2) && pid > 0)
		*id = (struct proc_id){ (pid_t)pid, start };
}

int vmsup_stop(const struct vm_record *r, int timeout_ms, struct pyro_err *err)
{
	struct proc_id sup = r->supervisor;
	if (sup.pid <= 0)
		pidfile_supervisor(r, &sup);
	if (sup.pid <= 0 || !procid_alive(&sup))
		return 0;
	int pfd = procid_pidfd(&sup);
	if (procid_kill(&sup, SIGTERM) < 0) {
		if (pfd >= 0)
			close(pfd);
		return errno == ESRCH ? 0
				      : pyro_err_sys(err, errno, "stopping the VM supervisor (pid %ld)",
						     (long)sup.pid);
	}
	int64_t deadline = mono_ms() + timeout_ms;
	while (procid_alive(&sup)) {
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			procid_kill(&sup, SIGKILL);
			if (r->vmm.pid > 0)
				procid_kill(&r->vmm, SIGKILL);
			if (pfd >= 0)
				close(pfd);
			return pyro_err_set(err, PYRO_EXIT_FAILURE,
					    "the VM supervisor (pid %ld) did not stop within %d ms; "
					    "killed it",
					    (long)sup.pid, timeout_ms);
		}
		if (pfd >= 0) {
			struct pollfd p = { pfd, POLLIN, 0 };
			poll(&p, 1, (int)(left > 1000 ? 1000 : left));
		} else {
			struct timespec ts = { 0, 5 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	if (pfd >= 0)
		close(pfd);
	return 0;
}
