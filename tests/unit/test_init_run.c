/* pyro-init's mount / root-switch plan, the steps that can run without
 * privileges (in the test's temporary directory only), the guard on the
 * others, and the supervision loop in test mode (a forked child running
 * /bin/sh as its agent). */
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../guest-init/init.h"
#include "test.h"

static int parse(const char *text, struct init_config *cfg, struct pyro_err *err)
{
	err->msg[0] = '\0';
	return init_cmdline_parse(text, strlen(text), cfg, err);
}

/* ---- the plan ------------------------------------------------------- */

static const struct init_step *find_step(const struct init_plan *p, enum init_step_kind kind,
					 const char *target)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].kind == kind && (!target || strcmp(p->steps[i].target, target) == 0))
			return &p->steps[i];
	return NULL;
}

static size_t index_of(const struct init_plan *p, const struct init_step *s)
{
	return (size_t)(s - p->steps);
}

TEST(init_plan_switch_root)
{
	struct init_config c;
	struct pyro_err e;
	struct init_plan p;
	CHECK(parse("root=/dev/vda rootfstype=ext4 rootflags=noatime pyro.root_wait=7", &c, &e) == 0);
	init_plan_build(&c, 1, &p);

	/* The early mounts come first and are skipped when already there. */
	const struct init_step *proc = find_step(&p, INIT_STEP_MOUNT, "/proc");
	CHECK(proc && proc->skip_if_mounted && strcmp(proc->fstype, "proc") == 0);
	CHECK(find_step(&p, INIT_STEP_MOUNT, "/sys"));
	CHECK(find_step(&p, INIT_STEP_MOUNT, "/dev"));

	const struct init_step *wait = find_step(&p, INIT_STEP_WAIT_DEVICE, NULL);
	CHECK(wait && wait->fatal && wait->timeout_ms == 7000);
	CHECK_STR(wait->source, "/dev/vda");

	const struct init_step *root = find_step(&p, INIT_STEP_MOUNT_ROOT, "/newroot");
	CHECK(root && root->fatal);
	CHECK_STR(root->source, "/dev/vda");
	CHECK_STR(root->fstype, "ext4");
	CHECK_STR(root->data, "noatime");
	CHECK(root->flags == MS_RDONLY);

	const struct init_step *run = find_step(&p, INIT_STEP_MOUNT, "/newroot/run");
	CHECK(run && run->fatal && strcmp(run->fstype, "tmpfs") == 0);
	CHECK(!(run->flags & MS_NOEXEC));

	const struct init_step *copy = find_step(&p, INIT_STEP_COPY_SELF, NULL);
	CHECK(copy && copy->fatal && copy->mode == 0755);
	CHECK_STR(copy->target, "/newroot/run/pyro/bin/pyro");

	const struct init_step *mv = find_step(&p, INIT_STEP_MOVE_MOUNT, "/newroot/dev");
	CHECK(mv);
	CHECK_STR(mv->source, "/dev");
	CHECK(find_step(&p, INIT_STEP_MOVE_MOUNT, "/newroot/proc"));
	CHECK(find_step(&p, INIT_STEP_MOVE_MOUNT, "/newroot/sys"));

	const struct init_step *del = find_step(&p, INIT_STEP_DELETE_INITRAMFS, NULL);
	const struct init_step *sw = find_step(&p, INIT_STEP_SWITCH_ROOT, "/newroot");
	const struct init_step *ex = find_step(&p, INIT_STEP_EXEC_SELF, "/run/pyro/bin/pyro");
	CHECK(del && sw && ex && sw->fatal && !ex->fatal);

	/* The order that matters: wait, mount, tmpfs, copy, move, delete,
	 * switch, exec (exec is last). */
	CHECK(index_of(&p, wait) < index_of(&p, root));
	CHECK(index_of(&p, root) < index_of(&p, run));
	CHECK(index_of(&p, run) < index_of(&p, copy));
	CHECK(index_of(&p, copy) < index_of(&p, mv));
	CHECK(index_of(&p, mv) < index_of(&p, del));
	CHECK(index_of(&p, del) < index_of(&p, sw));
	CHECK(index_of(&p, ex) == p.n - 1);
	/* No final-root mounts before the switch. */
	CHECK(!find_step(&p, INIT_STEP_MOUNT, "/tmp"));

	CHECK(parse("root=/dev/vdb rw", &c, &e) == 0);
	init_plan_build(&c, 1, &p);
	root = find_step(&p, INIT_STEP_MOUNT_ROOT, NULL);
	CHECK(root && root->flags == 0 && root->data == NULL);
	CHECK_STR(root->fstype, "");
}

static void check_final_plan(const struct init_plan *p)
{
	CHECK(!find_step(p, INIT_STEP_SWITCH_ROOT, NULL));
	CHECK(!find_step(p, INIT_STEP_MOUNT_ROOT, NULL));
	CHECK(!find_step(p, INIT_STEP_DELETE_INITRAMFS, NULL));
	const struct init_step *pts = find_step(p, INIT_STEP_MOUNT, "/dev/pts");
	CHECK(pts && pts->skip_if_mounted && !pts->fatal);
	CHECK_STR(pts->fstype, "devpts");
	CHECK_STR(pts->data, "mode=620,ptmxmode=666");
	const struct init_step *run = find_step(p, INIT_STEP_MOUNT, "/run");
	CHECK(run && run->skip_if_mounted && !(run->flags & MS_NOEXEC));
	CHECK_STR(run->fstype, "tmpfs");
	const struct init_step *tmp = find_step(p, INIT_STEP_MOUNT, "/tmp");
	CHECK(tmp && tmp->skip_if_mounted);
	CHECK_STR(tmp->data, "mode=1777");
	CHECK(find_step(p, INIT_STEP_MOUNT, "/dev/shm"));
	const struct init_step *fd = find_step(p, INIT_STEP_SYMLINK, "/dev/fd");
	CHECK(fd);
	CHECK_STR(fd->source, "/proc/self/fd");
	/* Each mount has its mkdir just before it. */
	for (size_t i = 0; i < p->n; i++) {
		if (p->steps[i].kind != INIT_STEP_MOUNT)
			continue;
		CHECK(i > 0 && p->steps[i - 1].kind == INIT_STEP_MKDIR);
		CHECK_STR(p->steps[i - 1].target, p->steps[i].target);
	}
}

TEST(init_plan_final_root)
{
	struct init_config c;
	struct pyro_err e;
	struct init_plan p;
	CHECK(parse("root=/dev/vda", &c, &e) == 0);
	init_plan_build(&c, 0, &p);   /* already switched, or a disk root */
	check_final_plan(&p);
	if (test_failed_now())
		return;
	CHECK(parse("console=ttyS0", &c, &e) == 0);
	init_plan_build(&c, 1, &p);   /* initramfs without root=: stay */
	check_final_plan(&p);
	if (test_failed_now())
		return;
	init_plan_early(&p);
	CHECK(p.n == 6);
	CHECK(find_step(&p, INIT_STEP_MOUNT, "/proc") && find_step(&p, INIT_STEP_MOUNT, "/dev"));
}

TEST(init_plan_describe_every_step)
{
	struct init_config c;
	struct pyro_err e;
	struct init_plan p;
	char line[512];
	CHECK(parse("root=/dev/vda", &c, &e) == 0);
	init_plan_build(&c, 1, &p);
	for (size_t i = 0; i < p.n; i++) {
		init_step_describe(&p.steps[i], line, sizeof line);
		CHECK(line[0] != '\0');
	}
	init_step_describe(find_step(&p, INIT_STEP_MOUNT_ROOT, NULL), line, sizeof line);
	CHECK_STR(line, "mount root /dev/vda on /newroot (type any, ro, data -) [fatal]");
	init_step_describe(find_step(&p, INIT_STEP_COPY_SELF, NULL), line, sizeof line);
	CHECK_STR(line, "copy /proc/self/exe to /newroot/run/pyro/bin/pyro (mode 0755) [fatal]");
}

/* ---- running the unprivileged steps --------------------------------- */

/* Console lines go to a file while fn-like blocks run; read it back. */
static int capture_begin(char *path, size_t cap)
{
	snprintf(path, cap, "%s/console", test_tmpdir());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0)
		init_console_set_fd(fd);
	return fd;
}

static void capture_end(int fd, char *out, size_t cap)
{
	init_console_set_fd(2);
	ssize_t n = pread(fd, out, cap - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
}

TEST(init_plan_run_files)
{
	char dir[512], link[600], copy[600], missing[600];
	struct pyro_err e;
	struct init_plan p = { .n = 0 };
	snprintf(dir, sizeof dir, "%s/a/b/c", test_tmpdir());
	snprintf(link, sizeof link, "%s/a/fd", test_tmpdir());
	snprintf(copy, sizeof copy, "%s/a/b/c/pyro", test_tmpdir());
	p.steps[p.n++] = (struct init_step){ .kind = INIT_STEP_MKDIR, .target = dir, .mode = 0755 };
	p.steps[p.n++] = (struct init_step){ .kind = INIT_STEP_MKDIR, .target = dir, .mode = 0755 };
	p.steps[p.n++] = (struct init_step){ .kind = INIT_STEP_SYMLINK, .source = "/proc/self/fd", .target = link };
	p.steps[p.n++] = (struct init_step){ .kind = INIT_STEP_SYMLINK, .source = "/proc/self/fd", .target = link };
	p.steps[p.n++] = (struct init_step){ .kind = INIT_STEP_COPY_SELF, .target = copy, .mode = 0755, .fatal = 1 };
	CHECK(init_plan_run(&p, &e) == 0);

	struct stat st, self;
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
	char text[64];
	ssize_t n = readlink(link, text, sizeof text - 1);
	CHECK(n > 0);
	text[n] = '\0';
	CHECK_STR(text, "/proc/self/fd");
	CHECK(stat(copy, &st) == 0 && stat("/proc/self/exe", &self) == 0);
	CHECK((st.st_mode & 07777) == 0755);
	CHECK(st.st_size == self.st_size);

	/* A step that fails and is not fatal is reported and passed over. */
	char console[1024];
	int fd = capture_begin(console, sizeof console);
	CHECK(fd >= 0);
	snprintf(missing, sizeof missing, "%s/no/such/dir/link", test_tmpdir());
	p.n = 0;
	p.steps[p.n++] = (struct init_step){ .kind = INIT_STEP_SYMLINK, .source = "x", .target = missing };
	p.steps[p.n++] = (struct init_step){ .kind = INIT_STEP_MKDIR, .target = dir, .mode = 0755 };
	int rc = init_plan_run(&p, &e);
	capture_end(fd, console, sizeof console);
	CHECK(rc == 0);
	CHECK_CONTAINS(console, "pyro-init: cannot create symlink ");
	CHECK_CONTAINS(console, "No such file or directory\n");
}

TEST(init_plan_run_fatal_wait)
{
	char path[512], console[2048];
	struct pyro_err e;
	struct init_plan p = { .n = 1 };
	snprintf(path, sizeof path, "%s/vda", test_tmpdir());
	p.steps[0] = (struct init_step){ .kind = INIT_STEP_WAIT_DEVICE, .source = path,
					 .timeout_ms = 40, .fatal = 1 };
	int fd = capture_begin(console, sizeof console);
	CHECK(fd >= 0);
	int rc = init_plan_run(&p, &e);
	capture_end(fd, console, sizeof console);
	CHECK(rc == -1);
	CHECK_CONTAINS(e.msg, "did not appear within 40 ms");
	CHECK_CONTAINS(e.msg, path);
	/* A fatal step is left to the caller to report. */
	CHECK_STR(console, "");
	/* A file that is there but not a block device. */
	int f = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(f >= 0);
	close(f);
	CHECK(init_plan_run(&p, &e) == -1);
	CHECK_CONTAINS(e.msg, "exists but is not a block device");
}

TEST(init_plan_run_refuses_privileged_steps)
{
	if (getpid() == 1)
		return;  /* the guard under test is "not PID 1" */
	char dir[512];
	struct pyro_err e;
	snprintf(dir, sizeof dir, "%s", test_tmpdir());
	static const enum init_step_kind kinds[] = {
		INIT_STEP_MOUNT, INIT_STEP_MOUNT_ROOT, INIT_STEP_MOVE_MOUNT,
		INIT_STEP_DELETE_INITRAMFS, INIT_STEP_SWITCH_ROOT, INIT_STEP_EXEC_SELF,
	};
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		struct init_plan p = { .n = 1 };
		p.steps[0] = (struct init_step){ .kind = kinds[i], .source = "tmpfs", .target = dir,
						 .fstype = "tmpfs", .fatal = 1 };
		e.msg[0] = '\0';
		CHECK(init_plan_run(&p, &e) == -1);
		CHECK_CONTAINS(e.msg, "not running as PID 1");
	}
	struct stat st;
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
}

/* ---- supervision in test mode --------------------------------------- */

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Run pyro-init --test-not-pid1 in a child with its console in a file,
 * send it SIGTERM after `run_ms`, and return its exit status (-1 when it
 * did not end within 10 s) and the console text. */
/* Has the console file (fd) received `marker` yet? */
static bool console_has(int fd, const char *marker)
{
	char text[8192];
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	text[n > 0 ? n : 0] = '\0';
	return strstr(text, marker) != NULL;
}

/* Run pyro-init's supervisor; once `marker` shows up on its console (when
 * not NULL: the agent says it is ready, e.g. its trap is set), wait run_ms
 * more, then SIGTERM it. */
static int run_supervisor_after(const char *cmdline, const char *marker, int run_ms,
				char *console, size_t cap)
{
	char path[512];
	snprintf(path, sizeof path, "%s/sup-console", test_tmpdir());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		char *argv[] = { "pyro-init", "--test-not-pid1", "--test-agent", "/bin/sh",
				 "--cmdline", (char *)cmdline, NULL };
		_exit(pyro_init_main(6, argv));
	}
	int status = -1, rc = -1;
	if (pid > 0) {
		for (int waited = 0; marker && !console_has(fd, marker) && waited < 10000; waited += 5)
			sleep_ms(5);
		sleep_ms(run_ms);
		kill(pid, SIGTERM);
		for (int waited = 0; waited < 10000; waited += 10) {
			if (waitpid(pid, &status, WNOHANG) == pid) {
				rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
				break;
			}
			sleep_ms(10);
		}
		if (rc == -1) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
	}
	ssize_t n = pread(fd, console, cap - 1, 0);
	console[n > 0 ? n : 0] = '\0';
	close(fd);
	return rc;
}

static int run_supervisor(const char *cmdline, int run_ms, char *console, size_t cap)
{
	return run_supervisor_after(cmdline, NULL, run_ms, console, cap);
}

TEST(init_supervise_restarts_with_backoff)
{
	char console[8192];
	/* An agent that fails at once: restarts after 100, then 200 ms. */
	int rc = run_supervisor("pyro.agent=\"-c,exit 3\"", 700, console, sizeof console);
	CHECK(rc == 0);
	CHECK_CONTAINS(console, "pyro-init: started the agent (pid ");
	CHECK_CONTAINS(console, "the agent exited with status 3 after ");
	CHECK_CONTAINS(console, "restarting it in 100 ms\n");
	CHECK_CONTAINS(console, "restarting it in 200 ms\n");
	CHECK_CONTAINS(console, "SIGTERM received: stop");
	CHECK_CONTAINS(console, "stopped (test mode: not ending anything)\n");
}

TEST(init_supervise_stops_agent)
{
	char console[8192];
	/* An agent that obeys SIGTERM. */
	int rc = run_supervisor("pyro.agent=\"-c,exec sleep 30\"", 200, console, sizeof console);
	CHECK(rc == 0);
	CHECK_CONTAINS(console, "SIGTERM received: stopping the agent (it has 10 s)");
	CHECK_CONTAINS(console, "the agent was killed by signal 15\n");
	CHECK(!strstr(console, "restarting"));
	CHECK(!strstr(console, "killing everything"));
}

TEST(init_supervise_kills_stubborn_agent)
{
	char console[8192];
	/* An agent that ignores SIGTERM is killed after the grace (1 s). The
	 * TERM goes out only once the agent says its trap is set: sent
	 * earlier, it would kill the shell before it ignores anything. */
	int rc = run_supervisor_after(
		"pyro.stop_grace=1 pyro.agent=\"-c,trap '' TERM; echo trap-set; sleep 30; exit 0\"",
		"trap-set", 50, console, sizeof console);
	CHECK(rc == 0);
	CHECK_CONTAINS(console, "(it has 1 s)");
	CHECK_CONTAINS(console, "the agent did not stop within 1 s; killing everything\n");
	CHECK_CONTAINS(console, "the agent was killed by signal 9\n");
}

