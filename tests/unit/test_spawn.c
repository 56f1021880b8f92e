/* Tests for core/spawn: real processes (sh, cat, head, ls, sleep, setsid). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../core/buf.h"
#include "../../core/err.h"
#include "../../core/exitcodes.h"
#include "../../core/fault.h"
#include "../../core/spawn.h"
#include "test.h"

#define SH(script) ((const char *const[]){ "sh", "-c", script, NULL })

/* Options capturing both streams into out/err (64 KiB cap each). */
static struct spawn_opts capture(const char *const *argv, struct buf *out,
				 struct buf *err)
{
	buf_init(out, 64 << 10);
	buf_init(err, 64 << 10);
	return (struct spawn_opts){
		.argv = argv,
		.out = { SPAWN_PIPE, out, 0 },
		.err = { SPAWN_PIPE, err, 0 },
	};
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Live (non-zombie) processes whose process group is pgid. */
static int group_alive(pid_t pgid)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	int live = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], stat[1024];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t n = fread(stat, 1, sizeof stat - 1, f);
		fclose(f);
		stat[n] = '\0';
		char *rp = strrchr(stat, ')');
		char state;
		int ppid, pgrp;
		if (rp && sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 &&
		    pgrp == pgid && state != 'Z' && state != 'X')
			live++;
	}
	closedir(d);
	return live;
}

/* SIGKILL is asynchronous: wait (generously) for the group to be gone. */
static int group_gone(pid_t pgid)
{
	for (int i = 0; i < 500; i++) {
		if (group_alive(pgid) == 0)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* True when this process has no unreaped child at all. */
static int no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

TEST(spawn_separates_stdout_and_stderr)
{
	struct buf out, err;
	struct spawn_opts o = capture(SH("echo out; echo err >&2; echo more"), &out, &err);
	struct spawn_result r;
	struct pyro_err e;
	int rc = spawn_run(&o, &r, &e);
	CHECK(rc == 0);
	CHECK_STR(out.data, "out\nmore\n");
	CHECK_STR(err.data, "err\n");
	CHECK(r.exit_code == 0 && r.term_signal == 0);
	CHECK(!r.timed_out && !r.cancelled && !r.stdout_truncated && !r.stderr_truncated);
	CHECK_STR(r.message, "");
	CHECK(r.duration_ms >= 0);
	CHECK(no_children());
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_propagates_exit_codes)
{
	static const struct { const char *script; int code; } cases[] = {
		{ "exit 0", 0 }, { "exit 3", 3 }, { "exit 255", 255 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf out, err;
		struct spawn_opts o = capture(SH(cases[i].script), &out, &err);
		struct spawn_result r;
		int rc = spawn_run(&o, &r, NULL);
		buf_release(&out);
		buf_release(&err);
		CHECK(rc == 0);
		CHECK(r.exit_code == cases[i].code);
		CHECK(r.term_signal == 0);
	}
}

TEST(spawn_reports_death_by_signal_as_128_plus_n)
{
	struct spawn_opts o = { .argv = SH("kill -TERM $$; sleep 5") };
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(r.term_signal == SIGTERM);
	CHECK(r.exit_code == 128 + SIGTERM);
	CHECK(!r.timed_out);
}

TEST(spawn_child_gets_default_sigpipe_even_if_parent_ignores_it)
{
	/* With SIGPIPE ignored here and inherited, `yes` would get EPIPE and
	 * exit 1; with it reset to default, `yes` dies of SIGPIPE (141). */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	struct buf out, err;
	struct spawn_opts o = capture(SH("{ yes; echo \"status=$?\" >&2; } | head -c 1 >/dev/null"),
				      &out, &err);
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	sigaction(SIGPIPE, &old, NULL);
	CHECK(rc == 0);
	CHECK_STR(err.data, "status=141\n");
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_cat_round_trips_200k_without_deadlock)
{
	size_t n = 200 * 1024;
	char *data = malloc(n);
	CHECK(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 7 + i / 251);
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "cat", NULL }, &out, &err);
	out.max = 1 << 20;
	o.in = (struct spawn_input){ SPAWN_PIPE, data, n, 0 };
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	int same = out.len == n && memcmp(out.data, data, n) == 0;
	free(data);
	buf_release(&out);
	buf_release(&err);
	CHECK(rc == 0);
	CHECK(r.exit_code == 0);
	CHECK(same);
	CHECK(!r.stdout_truncated);
}

TEST(spawn_stdin_defaults_to_dev_null)
{
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "cat", NULL }, &out, &err);
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(r.exit_code == 0);
	CHECK(out.len == 0);
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_child_that_ignores_stdin_does_not_sigpipe_us)
{
	/* 1 MiB of input to a command that reads 10 bytes and exits: our
	 * writes hit EPIPE; the test process must survive and the SIGPIPE we
	 * caused must not be left pending. */
	size_t n = 1 << 20;
	char *data = calloc(1, n);
	CHECK(data);
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "head", "-c", "10", NULL },
				      &out, &err);
	o.in = (struct spawn_input){ SPAWN_PIPE, data, n, 0 };
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	free(data);
	sigset_t pending;
	sigpending(&pending);
	CHECK(rc == 0);
	CHECK(r.exit_code == 0);
	CHECK(out.len == 10);
	CHECK(!sigismember(&pending, SIGPIPE));
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_caps_output_and_keeps_draining)
{
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "head", "-c", "1048576",
							     "/dev/zero", NULL }, &out, &err);
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	/* head finished normally: it was never blocked or SIGPIPEd. */
	CHECK(r.exit_code == 0 && r.term_signal == 0);
	CHECK(out.len == 64 * 1024);
	CHECK(r.stdout_truncated);
	CHECK(!r.stderr_truncated);
	CHECK(!r.timed_out);
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_exactly_at_cap_is_not_truncated)
{
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "head", "-c", "65536",
							     "/dev/zero", NULL }, &out, &err);
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(out.len == 65536);
	CHECK(!r.stdout_truncated);
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_caps_stderr_separately)
{
	struct buf out, err;
	struct spawn_opts o = capture(SH("head -c 100000 /dev/zero >&2; echo ok"), &out, &err);
	err.max = 1000;
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(err.len == 1000);
	CHECK(r.stderr_truncated && !r.stdout_truncated);
	CHECK_STR(out.data, "ok\n");
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_appends_to_existing_buffer_content)
{
	struct buf out, err;
	struct spawn_opts o = capture(SH("echo there"), &out, &err);
	CHECK(buf_append_str(&out, "hi ") == 0);
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK_STR(out.data, "hi there\n");
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_timeout_kills_sleep)
{
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "sleep", "30", NULL }, &out, &err);
	o.timeout_ms = 300;
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(r.timed_out);
	CHECK(r.exit_code == PYRO_EXIT_TIMEOUT);
	CHECK(r.term_signal == SIGKILL);
	CHECK_STR(r.message, "command timed out after 0.3s");
	CHECK(r.duration_ms >= 300);
	CHECK(r.duration_ms < 20000);
	/* The message is not mixed into what the command wrote. */
	CHECK(err.len == 0);
	CHECK(group_gone(r.pid));
	CHECK(no_children());
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_timeout_kills_the_whole_group)
{
	struct buf out, err;
	struct spawn_opts o = capture(SH("sleep 30 & echo started; sleep 30"), &out, &err);
	/* Long enough for a loaded machine to get the shell to its echo (400 ms
	 * was not, at load 6): the partial output must survive the kill. */
	o.timeout_ms = 2000;
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(r.timed_out && r.exit_code == 124);
	CHECK_STR(out.data, "started\n");
	CHECK(r.duration_ms < 20000);
	CHECK(group_gone(r.pid));
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_no_timeout_when_command_finishes_first)
{
	struct buf out, err;
	struct spawn_opts o = capture(SH("echo quick"), &out, &err);
	o.timeout_ms = 10000;
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(!r.timed_out && r.exit_code == 0);
	CHECK_STR(r.message, "");
	CHECK(r.duration_ms < 10000);
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_formats_timeout_message)
{
	char m[64];
	CHECK_STR(spawn_format_timeout(m, sizeof m, 30000), "command timed out after 30s");
	CHECK_STR(spawn_format_timeout(m, sizeof m, 1000), "command timed out after 1s");
	CHECK_STR(spawn_format_timeout(m, sizeof m, 500), "command timed out after 0.5s");
	CHECK_STR(spawn_format_timeout(m, sizeof m, 1250), "command timed out after 1.25s");
	CHECK_STR(spawn_format_timeout(m, sizeof m, 1), "command timed out after 0.001s");
	CHECK_STR(spawn_format_timeout(m, sizeof m, 0), "command timed out after 0s");
	CHECK_STR(spawn_format_timeout(m, 10, 30000), "command t");
}

TEST(spawn_background_daemon_holding_pipes_does_not_hang)
{
	/* `sleep 30 &` inherits stdout/stderr and keeps them open: spawn_run
	 * must return when sh exits, and the sleep (same group) must die. */
	struct buf out, err;
	struct spawn_opts o = capture(SH("sleep 30 & echo started"), &out, &err);
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(r.exit_code == 0 && !r.timed_out);
	CHECK_STR(out.data, "started\n");
	CHECK(r.duration_ms < 20000);
	CHECK(group_gone(r.pid));
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_setsid_escapee_holding_pipes_does_not_hang)
{
	/* setsid takes the sleep out of the group, so it survives the group
	 * kill and keeps stdout open: spawn_run drains briefly and returns. */
	struct buf out, err;
	/* sh waits until the escapee really is in its own session (field 6
	 * of /proc/PID/stat == PID) before exiting, or the group kill could
	 * catch it before it called setsid(). */
	struct spawn_opts o = capture(SH(
		"setsid sleep 30 & p=$!; "
		"while [ \"$(cut -d' ' -f6 /proc/$p/stat)\" != $p ]; do sleep 0.01; done; "
		"echo $p"), &out, &err);
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	long escapee = atol(out.data);
	if (escapee > 1)
		kill((pid_t)escapee, SIGKILL);
	CHECK(rc == 0);
	CHECK(r.exit_code == 0 && !r.timed_out);
	CHECK(escapee > 1);
	CHECK(r.duration_ms >= SPAWN_DRAIN_MS - 5);
	CHECK(r.duration_ms < 20000);
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_child_gets_only_fds_0_1_2)
{
	int leak = open("/dev/null", O_RDONLY); /* deliberately not CLOEXEC */
	CHECK(leak >= 0);
	int high = dup2(leak, 57);
	close(leak);
	CHECK(high == 57);
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "ls", "/proc/self/fd", NULL },
				      &out, &err);
	o.in = (struct spawn_input){ SPAWN_PIPE, "x", 1, 0 };
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	close(high);
	CHECK(rc == 0);
	CHECK(r.exit_code == 0);
	/* 3 is the directory ls itself opened to list the fds. */
	CHECK_STR(out.data, "0\n1\n2\n3\n");
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_leaves_no_fd_open_in_the_parent)
{
	int before = count_open_fds();
	for (int i = 0; i < 3; i++) {
		struct buf out, err;
		struct spawn_opts o = capture(SH("echo x; echo y >&2"), &out, &err);
		o.in = (struct spawn_input){ SPAWN_PIPE, "data", 4, 0 };
		o.timeout_ms = 5000;
		struct spawn_result r;
		int rc = spawn_run(&o, &r, NULL);
		buf_release(&out);
		buf_release(&err);
		CHECK(rc == 0);
		o = (struct spawn_opts){ .argv = (const char *const[]){ "pyro-no-such-cmd", NULL } };
		CHECK(spawn_run(&o, &r, NULL) < 0);
	}
	CHECK(count_open_fds() == before);
}

/* pgid of the process whose /proc/PID/stat text is in s. */
static long stat_pgid(const char *s)
{
	const char *rp = strrchr(s, ')');
	char state;
	int ppid, pgrp;
	if (!rp || sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
		return -1;
	return pgrp;
}

TEST(spawn_child_runs_in_its_own_process_group)
{
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "cat", "/proc/self/stat", NULL },
				      &out, &err);
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	long pgid = stat_pgid(out.data);
	CHECK(pgid > 0);
	CHECK(pgid == (long)r.pid);
	CHECK(pgid != (long)getpgrp());
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_honours_cwd)
{
	const char *dir = test_tmpdir();
	char want[PATH_MAX + 2];
	CHECK(realpath(dir, want) != NULL);
	strcat(want, "\n");
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "pwd", "-P", NULL }, &out, &err);
	o.cwd = dir;
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK_STR(out.data, want);
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_bad_cwd_is_an_error_naming_it)
{
	struct spawn_opts o = { .argv = (const char *const[]){ "true", NULL },
				.cwd = "/nonexistent/pyro-dir" };
	struct spawn_result r;
	struct pyro_err e;
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.code == PYRO_EXIT_FAILURE);
	CHECK_STR(e.msg, "cannot run 'true' in directory '/nonexistent/pyro-dir': "
			 "No such file or directory");
	CHECK(no_children());
}

TEST(spawn_honours_env_and_its_path)
{
	const char *env[] = { "FOO=bar baz", "PATH=/usr/bin:/bin", NULL };
	struct buf out, err;
	struct spawn_opts o = capture(SH("echo \"$FOO|$HOME\""), &out, &err);
	o.envp = env;
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK_STR(out.data, "bar baz|\n");
	buf_release(&out);

	/* PATH is looked up in the given environment, not ours. */
	const char *nopath[] = { "PATH=/nonexistent", NULL };
	o = capture((const char *const[]){ "true", NULL }, &out, &err);
	o.envp = nopath;
	struct pyro_err e;
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.code == PYRO_EXIT_NOTFOUND);
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_inherits_env_when_none_given)
{
	CHECK(setenv("PYRO_SPAWN_TEST", "inherited", 1) == 0);
	struct buf out, err;
	struct spawn_opts o = capture(SH("echo $PYRO_SPAWN_TEST"), &out, &err);
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	unsetenv("PYRO_SPAWN_TEST");
	CHECK(rc == 0);
	CHECK_STR(out.data, "inherited\n");
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_missing_command_is_127_not_an_exit_status)
{
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "pyro-no-such-command", NULL },
				      &out, &err);
	struct spawn_result r;
	struct pyro_err e;
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.code == PYRO_EXIT_NOTFOUND);
	CHECK(e.sys_errno == ENOENT);
	CHECK_STR(e.msg, "cannot run 'pyro-no-such-command': No such file or directory");
	CHECK(out.len == 0 && err.len == 0);
	CHECK(no_children());

	o.argv = (const char *const[]){ "/nonexistent/bin/tool", NULL };
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.code == PYRO_EXIT_NOTFOUND);
	CHECK_STR(e.msg, "cannot run '/nonexistent/bin/tool': No such file or directory");
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_non_executable_file_is_126)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/script.sh", test_tmpdir());
	FILE *f = fopen(path, "w");
	CHECK(f);
	fputs("#!/bin/sh\necho should not run\n", f);
	fclose(f);
	CHECK(chmod(path, 0644) == 0);
	struct spawn_opts o = { .argv = (const char *const[]){ path, NULL } };
	struct spawn_result r;
	struct pyro_err e;
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.code == PYRO_EXIT_NOEXEC);
	CHECK(e.sys_errno == EACCES);
	CHECK_CONTAINS(e.msg, "cannot run '");
	CHECK_CONTAINS(e.msg, "script.sh': Permission denied");

	/* Executable but no #! line and not a binary: ENOEXEC, also 126. */
	f = fopen(path, "w");
	CHECK(f);
	fputs("echo no shebang\n", f);
	fclose(f);
	CHECK(chmod(path, 0755) == 0);
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.code == PYRO_EXIT_NOEXEC);
	CHECK(e.sys_errno == ENOEXEC);
	CHECK(no_children());
}

TEST(spawn_path_search_skips_non_executable_entries)
{
	/* dir1/true is not executable, /bin/true is: execvp goes on. */
	char dir[PATH_MAX / 2], file[PATH_MAX], pathvar[PATH_MAX + 32];
	snprintf(dir, sizeof dir, "%s/d1", test_tmpdir());
	CHECK(mkdir(dir, 0755) == 0);
	snprintf(file, sizeof file, "%s/true", dir);
	FILE *f = fopen(file, "w");
	CHECK(f);
	fclose(f);
	snprintf(pathvar, sizeof pathvar, "PATH=%s:/usr/bin:/bin", dir);
	const char *env[] = { pathvar, NULL };
	struct spawn_opts o = { .argv = (const char *const[]){ "true", NULL }, .envp = env };
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(r.exit_code == 0);

	/* Only a non-executable candidate: EACCES wins over ENOENT. */
	snprintf(pathvar, sizeof pathvar, "PATH=/nonexistent:%s", dir);
	struct pyro_err e;
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.code == PYRO_EXIT_NOEXEC);
	CHECK(e.sys_errno == EACCES);
}

TEST(spawn_rejects_bad_options)
{
	struct spawn_result r;
	struct pyro_err e;
	struct spawn_opts o = { 0 };
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.code == PYRO_EXIT_USAGE);
	o.argv = (const char *const[]){ "", NULL };
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.code == PYRO_EXIT_NOTFOUND);
	o.argv = (const char *const[]){ "true", NULL };
	o.out.mode = SPAWN_PIPE; /* no buf */
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK_CONTAINS(e.msg, "stdout");
	o.out.mode = SPAWN_FD;
	o.out.fd = -1;
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(no_children());
}

TEST(spawn_passes_output_through_to_an_fd)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/out.txt", test_tmpdir());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	struct buf err;
	buf_init(&err, 1024);
	struct spawn_opts o = {
		.argv = SH("echo passed; echo captured >&2"),
		.out = { SPAWN_FD, NULL, fd },
		.err = { SPAWN_PIPE, &err, 0 },
	};
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	/* The caller's fd stays open and usable. */
	int still_open = fcntl(fd, F_GETFD) >= 0;
	close(fd);
	struct buf file = BUF_INIT;
	int rd = buf_read_file(&file, path);
	CHECK(rc == 0 && r.exit_code == 0);
	CHECK(still_open);
	CHECK(rd == 0);
	CHECK_STR(file.data, "passed\n");
	CHECK_STR(err.data, "captured\n");
	buf_release(&file);
	buf_release(&err);
}

TEST(spawn_passthrough_fd_on_standard_numbers)
{
	/* Passing our own fd 2 as the child's stderr (src == dst) must work. */
	struct buf out;
	buf_init(&out, 1024);
	struct spawn_opts o = {
		.argv = SH("echo ok; : >&2"),
		.out = { SPAWN_PIPE, &out, 0 },
		.err = { SPAWN_FD, NULL, 2 },
	};
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(r.exit_code == 0);
	CHECK_STR(out.data, "ok\n");
	CHECK(fcntl(2, F_GETFD) >= 0);
	buf_release(&out);
}

TEST(spawn_stdin_from_an_fd)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/in.txt", test_tmpdir());
	FILE *f = fopen(path, "w");
	CHECK(f);
	fputs("from file\n", f);
	fclose(f);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "cat", NULL }, &out, &err);
	o.in = (struct spawn_input){ SPAWN_FD, NULL, 0, fd };
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	close(fd);
	CHECK(rc == 0);
	CHECK_STR(out.data, "from file\n");
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_shared_buffer_collects_both_streams)
{
	struct buf both;
	buf_init(&both, 1024);
	struct spawn_opts o = {
		.argv = SH("echo a; sleep 0.05; echo b >&2"),
		.out = { SPAWN_PIPE, &both, 0 },
		.err = { SPAWN_PIPE, &both, 0 },
	};
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK_STR(both.data, "a\nb\n");
	buf_release(&both);
}

TEST(spawn_read_fault_on_exec_status_is_clean)
{
	struct buf out, err;
	struct spawn_opts o = capture(SH("echo hi"), &out, &err);
	struct spawn_result r;
	struct pyro_err e;
	int before = count_open_fds();
	fault_arm(FAULT_READ, 1, EIO);
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.sys_errno == EIO);
	CHECK_CONTAINS(e.msg, "cannot run 'sh'");
	CHECK(no_children());
	CHECK(count_open_fds() == before);
	CHECK(group_gone(r.pid));
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_read_fault_on_output_is_clean)
{
	struct buf out, err;
	struct spawn_opts o = capture(SH("echo hi; sleep 30"), &out, &err);
	o.timeout_ms = 20000;
	struct spawn_result r;
	struct pyro_err e;
	int before = count_open_fds();
	fault_arm(FAULT_READ, 2, EIO);
	CHECK(spawn_run(&o, &r, &e) < 0);
	CHECK(e.sys_errno == EIO);
	char want[128];
	snprintf(want, sizeof want, "reading the output of 'sh': %s", strerror(EIO));
	CHECK_STR(e.msg, want);
	CHECK(no_children());
	CHECK(count_open_fds() == before);
	CHECK(group_gone(r.pid)); /* the sleep did not outlive the error */
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_alloc_fault_is_clean)
{
	for (long nth = 1; nth <= 3; nth++) {
		struct buf out, err;
		struct spawn_opts o = capture(SH("echo hi"), &out, &err);
		struct spawn_result r;
		struct pyro_err e;
		fault_arm(FAULT_ALLOC, nth, ENOMEM);
		int rc = spawn_run(&o, &r, &e);
		fault_disarm_all();
		/* Either it failed cleanly or the fault hit nothing it used. */
		if (rc < 0)
			CHECK(e.sys_errno == ENOMEM);
		else
			CHECK_STR(out.data, "hi\n");
		CHECK(no_children());
		buf_release(&out);
		buf_release(&err);
	}
}

TEST(spawn_write_fault_on_stdin_is_clean)
{
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "cat", NULL }, &out, &err);
	o.in = (struct spawn_input){ SPAWN_PIPE, "abc", 3, 0 };
	struct spawn_result r;
	struct pyro_err e;
	fault_arm(FAULT_WRITE, 1, EIO);
	CHECK(spawn_run(&o, &r, &e) < 0);
	char want[128];
	snprintf(want, sizeof want, "writing the input of 'cat': %s", strerror(EIO));
	CHECK_STR(e.msg, want);
	CHECK(no_children());
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_cancel_fd_already_readable)
{
	int p[2];
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	struct spawn_opts o = { .argv = SH("sleep 30 & sleep 30"), .cancel_fd = p[0],
				.timeout_ms = 20000 };
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	char c;
	ssize_t left = read(p[0], &c, 1); /* spawn_run never reads it */
	close(p[0]);
	close(p[1]);
	CHECK(rc == 0);
	CHECK(r.cancelled && !r.timed_out);
	CHECK(r.term_signal == SIGKILL && r.exit_code == 128 + SIGKILL);
	CHECK_STR(r.message, "command cancelled");
	CHECK(left == 1);
	CHECK(group_gone(r.pid));
}

TEST(spawn_cancel_fd_fires_while_running)
{
	/* A timerfd stands in for the event loop: readable after 200 ms. */
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	CHECK(tfd >= 0);
	struct itimerspec its = { .it_value = { 0, 200 * 1000000L } };
	CHECK(timerfd_settime(tfd, 0, &its, NULL) == 0);
	struct buf out, err;
	struct spawn_opts o = capture(SH("echo begun; sleep 30"), &out, &err);
	o.cancel_fd = tfd;
	o.timeout_ms = 20000;
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	close(tfd);
	CHECK(rc == 0);
	CHECK(r.cancelled && !r.timed_out);
	CHECK(r.duration_ms >= 190 && r.duration_ms < 15000);
	CHECK_STR(out.data, "begun\n");
	CHECK(group_gone(r.pid));
	CHECK(no_children());
	buf_release(&out);
	buf_release(&err);
}

TEST(spawn_cancel_fd_zero_means_none)
{
	/* Zero-initialised options must not poll stdin as a cancel fd. */
	struct spawn_opts o = { .argv = SH("sleep 0.05") };
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(!r.cancelled && r.exit_code == 0);
}

TEST(spawn_with_sigchld_ignored_fails_cleanly)
{
	/* The kernel then reaps the child itself: no status to report. */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGCHLD, &ign, &old);
	struct spawn_opts o = { .argv = SH("exit 0"), .timeout_ms = 20000 };
	struct spawn_result r;
	struct pyro_err e;
	int rc = spawn_run(&o, &r, &e);
	sigaction(SIGCHLD, &old, NULL);
	CHECK(rc < 0);
	CHECK(e.sys_errno == ECHILD);
	CHECK_CONTAINS(e.msg, "SIGCHLD");
}

TEST(spawn_restores_the_signal_mask)
{
	sigset_t before, after;
	sigprocmask(SIG_SETMASK, NULL, &before);
	struct spawn_opts o = { .argv = SH("exit 0") };
	struct spawn_result r;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	sigprocmask(SIG_SETMASK, NULL, &after);
	for (int s = 1; s < 32; s++)
		CHECK(sigismember(&before, s) == sigismember(&after, s));
}

TEST(spawn_child_mask_and_ignores_are_reset)
{
	sigset_t usr, old;
	sigemptyset(&usr);
	sigaddset(&usr, SIGUSR1);
	sigaddset(&usr, SIGTERM);
	sigprocmask(SIG_BLOCK, &usr, &old);
	struct sigaction ign = { .sa_handler = SIG_IGN }, oldhup;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGHUP, &ign, &oldhup); /* as under nohup */
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "grep", "-E", "^Sig(Blk|Ign)",
							     "/proc/self/status", NULL }, &out, &err);
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGHUP, &oldhup, NULL);
	CHECK(rc == 0);
	CHECK_STR(out.data, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
	buf_release(&out);
	buf_release(&err);
}

/* The same behaviour on kernels (or seccomp profiles) without pidfd_open
 * and close_range, and without /proc. */
static void fallback_checks(void)
{
	struct buf out, err;
	struct spawn_opts o = capture((const char *const[]){ "ls", "/proc/self/fd", NULL },
				      &out, &err);
	int leak = dup2(1, 63);
	struct spawn_result r;
	int rc = spawn_run(&o, &r, NULL);
	close(leak);
	CHECK(rc == 0);
	CHECK_STR(out.data, "0\n1\n2\n3\n");
	buf_release(&out);
	buf_release(&err);

	o = capture(SH("sleep 30 & sleep 30"), &out, &err);
	o.timeout_ms = 200;
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(r.timed_out && r.exit_code == 124);
	CHECK(group_gone(r.pid));
	buf_release(&out);
	buf_release(&err);

	o = capture(SH("sleep 30 & echo started; exit 4"), &out, &err);
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(r.exit_code == 4);
	CHECK_STR(out.data, "started\n");
	CHECK(group_gone(r.pid));
	buf_release(&out);
	buf_release(&err);

	/* No output pipes at all: only waitid polling notices the exit. */
	o = (struct spawn_opts){ .argv = SH("exit 7") };
	CHECK(spawn_run(&o, &r, NULL) == 0);
	CHECK(r.exit_code == 7);
	CHECK(no_children());
}

TEST(spawn_fallback_without_pidfd_and_close_range)
{
	spawn_set_fallback_for_tests(1);
	fallback_checks();
	spawn_set_fallback_for_tests(0);
}

TEST(spawn_fallback_without_proc)
{
	spawn_set_fallback_for_tests(2);
	fallback_checks();
	spawn_set_fallback_for_tests(0);
}
