/* Tests for core/lock.c. Other holders are forked children, so the locks
 * really are held by another process. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../core/exitcodes.h"
#include "../../core/lock.h"
#include "test.h"

static void lock_path(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", test_tmpdir(), name);
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A child process holding a lock until told to go. */
struct holder {
	pid_t pid;
	int ctl; /* write end: close it to make the child release and exit */
};

/* Fork a child that takes `kind` on path (timeout 0), reports on a pipe,
 * then holds the lock until h->ctl is closed, or for hold_ms when
 * hold_ms > 0. Returns 0 once the child holds the lock. */
static int spawn_holder(struct holder *h, const char *path, enum lock_kind kind,
			long hold_ms)
{
	int ready[2], ctl[2];
	h->pid = -1;
	h->ctl = -1;
	if (pipe(ready) < 0)
		return -1;
	if (pipe(ctl) < 0) {
		close(ready[0]), close(ready[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(ready[0]), close(ready[1]), close(ctl[0]), close(ctl[1]);
		return -1;
	}
	if (pid == 0) {
		close(ready[0]);
		close(ctl[1]);
		struct pyro_lock lk = PYRO_LOCK_INIT;
		int ok = lock_acquire(&lk, path, kind, 0, NULL) == 0;
		char c = ok ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1 || !ok)
			_exit(1);
		if (hold_ms > 0) {
			struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		} else {
			while (read(ctl[0], &c, 1) > 0)
				;
		}
		lock_release(&lk);
		_exit(0);
	}
	close(ready[1]);
	close(ctl[0]);
	char c = 0;
	ssize_t r = read(ready[0], &c, 1);
	close(ready[0]);
	h->pid = pid;
	h->ctl = ctl[1];
	return r == 1 && c == 'y' ? 0 : -1;
}

/* Let the holder go and reap it; returns its exit status or -1. */
static int holder_finish(struct holder *h)
{
	int status = -1;
	if (h->ctl >= 0)
		close(h->ctl);
	h->ctl = -1;
	if (h->pid > 0 && waitpid(h->pid, &status, 0) == h->pid && WIFEXITED(status))
		status = WEXITSTATUS(status);
	h->pid = -1;
	return status;
}

/* Run one lock_acquire in a child; returns 0 when it got the lock, 1 when
 * it was busy, 2 on any other error. */
static int try_in_child(const char *path, enum lock_kind kind, long timeout_ms)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct pyro_lock lk = PYRO_LOCK_INIT;
		struct pyro_err err = { 0 };
		if (lock_acquire(&lk, path, kind, timeout_ms, &err) == 0) {
			lock_release(&lk);
			_exit(0);
		}
		_exit(err.sys_errno == EWOULDBLOCK ? 1 : 2);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST(lock_exclusive_blocks_exclusive_and_shared)
{
	char path[PATH_MAX];
	struct holder h;
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct pyro_err err = { 0 };
	lock_path(path, "ws.lock");
	CHECK(spawn_holder(&h, path, LOCK_KIND_EXCLUSIVE, 0) == 0);
	int ex = lock_acquire(&lk, path, LOCK_KIND_EXCLUSIVE, 0, &err);
	int ex_fd = lk.fd, ex_errno = err.sys_errno;
	int sh = lock_acquire(&lk, path, LOCK_KIND_SHARED, 0, &err);
	int sh_fd = lk.fd;
	int child = holder_finish(&h);
	CHECK(ex == -1 && ex_fd == -1 && ex_errno == EWOULDBLOCK);
	CHECK(sh == -1 && sh_fd == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK(child == 0);
	/* Once the holder is gone the lock is free. */
	CHECK(lock_acquire(&lk, path, LOCK_KIND_EXCLUSIVE, 0, &err) == 0);
	CHECK(lk.fd >= 0);
	lock_release(&lk);
	CHECK(lk.fd == -1);
}

TEST(lock_shared_locks_coexist)
{
	char path[PATH_MAX];
	struct holder h;
	struct pyro_lock lk = PYRO_LOCK_INIT, lk2 = PYRO_LOCK_INIT;
	struct pyro_err err = { 0 };
	lock_path(path, "ws.lock");
	CHECK(spawn_holder(&h, path, LOCK_KIND_SHARED, 0) == 0);
	int sh = lock_acquire(&lk, path, LOCK_KIND_SHARED, 0, &err);
	int sh2 = lock_acquire(&lk2, path, LOCK_KIND_SHARED, 0, &err);
	int other = try_in_child(path, LOCK_KIND_SHARED, 0);
	int ex = try_in_child(path, LOCK_KIND_EXCLUSIVE, 0);
	lock_release(&lk);
	lock_release(&lk2);
	int child = holder_finish(&h);
	CHECK(sh == 0);
	CHECK(sh2 == 0);
	CHECK(other == 0);
	CHECK(ex == 1);
	CHECK(child == 0);
}

TEST(lock_shared_blocks_exclusive)
{
	char path[PATH_MAX];
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct pyro_err err = { 0 };
	lock_path(path, "ws.lock");
	CHECK(lock_acquire(&lk, path, LOCK_KIND_SHARED, 0, &err) == 0);
	int ex = try_in_child(path, LOCK_KIND_EXCLUSIVE, 0);
	int ex_wait = try_in_child(path, LOCK_KIND_EXCLUSIVE, 60);
	int sh = try_in_child(path, LOCK_KIND_SHARED, 0);
	lock_release(&lk);
	int ex_after = try_in_child(path, LOCK_KIND_EXCLUSIVE, 0);
	CHECK(ex == 1);
	CHECK(ex_wait == 1);
	CHECK(sh == 0);
	CHECK(ex_after == 0);
}

TEST(lock_timeout_error_names_the_lock)
{
	char path[PATH_MAX];
	struct holder h;
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct pyro_err err = { 0 };
	lock_path(path, "busy.lock");
	CHECK(spawn_holder(&h, path, LOCK_KIND_EXCLUSIVE, 0) == 0);
	long long t0 = mono_ms();
	int rc = lock_acquire(&lk, path, LOCK_KIND_EXCLUSIVE, 300, &err);
	long long waited = mono_ms() - t0;
	int child = holder_finish(&h);
	CHECK(rc == -1);
	CHECK(lk.fd == -1);
	CHECK(waited >= 290);
	CHECK(waited < 3000);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK(err.sys_errno == EWOULDBLOCK);
	CHECK_CONTAINS(err.msg, "lock \"");
	CHECK_CONTAINS(err.msg, path);
	CHECK_CONTAINS(err.msg, "is busy: another pyro process holds it");
	CHECK_CONTAINS(err.msg, "exclusive lock was not taken after waiting 300 ms");
	CHECK(strchr(err.msg, '\n') == NULL);
	CHECK(child == 0);
}

TEST(lock_waits_until_released)
{
	char path[PATH_MAX];
	struct holder h;
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct pyro_err err = { 0 };
	lock_path(path, "ws.lock");
	/* A bounded wait that outlasts the holder succeeds. */
	CHECK(spawn_holder(&h, path, LOCK_KIND_EXCLUSIVE, 150) == 0);
	long long t0 = mono_ms();
	int rc = lock_acquire(&lk, path, LOCK_KIND_EXCLUSIVE, 10000, &err);
	long long waited = mono_ms() - t0;
	lock_release(&lk);
	int child = holder_finish(&h);
	CHECK(rc == 0);
	CHECK(waited >= 100);
	CHECK(waited < 5000);
	CHECK(child == 0);
	/* So does waiting forever (a blocking flock). */
	CHECK(spawn_holder(&h, path, LOCK_KIND_EXCLUSIVE, 150) == 0);
	t0 = mono_ms();
	rc = lock_acquire(&lk, path, LOCK_KIND_SHARED, -1, &err);
	waited = mono_ms() - t0;
	lock_release(&lk);
	child = holder_finish(&h);
	CHECK(rc == 0);
	CHECK(waited >= 100);
	CHECK(child == 0);
}

TEST(lock_released_when_holder_dies)
{
	char path[PATH_MAX];
	struct holder h;
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct pyro_err err = { 0 };
	lock_path(path, "ws.lock");
	CHECK(spawn_holder(&h, path, LOCK_KIND_EXCLUSIVE, 0) == 0);
	int before = lock_acquire(&lk, path, LOCK_KIND_EXCLUSIVE, 0, &err);
	kill(h.pid, SIGKILL);
	int status = 0;
	pid_t r = waitpid(h.pid, &status, 0);
	close(h.ctl);
	CHECK(before == -1);
	CHECK(r == h.pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK(lock_acquire(&lk, path, LOCK_KIND_EXCLUSIVE, 0, &err) == 0);
	lock_release(&lk);
}

TEST(lock_release_and_reacquire)
{
	char path[PATH_MAX];
	struct pyro_lock a = PYRO_LOCK_INIT, b = PYRO_LOCK_INIT;
	struct pyro_err err = { 0 };
	lock_path(path, "ws.lock");
	CHECK(lock_acquire(&a, path, LOCK_KIND_EXCLUSIVE, 0, &err) == 0);
	/* A second handle in the same process conflicts: not re-entrant. */
	int second = lock_acquire(&b, path, LOCK_KIND_EXCLUSIVE, 0, &err);
	int busy_in_child = try_in_child(path, LOCK_KIND_SHARED, 0);
	lock_release(&a);
	CHECK(second == -1);
	CHECK(busy_in_child == 1);
	CHECK(a.fd == -1);
	lock_release(&a); /* idempotent */
	lock_release(NULL);
	for (int i = 0; i < 5; i++) {
		CHECK(lock_acquire(&a, path, i % 2 ? LOCK_KIND_SHARED : LOCK_KIND_EXCLUSIVE,
				   0, &err) == 0);
		lock_release(&a);
	}
	CHECK(try_in_child(path, LOCK_KIND_EXCLUSIVE, 0) == 0);
}

TEST(lock_file_mode_and_cloexec)
{
	char path[PATH_MAX];
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct pyro_err err = { 0 };
	struct stat st;
	lock_path(path, "new.lock");
	mode_t old = umask(0);
	int rc = lock_acquire(&lk, path, LOCK_KIND_SHARED, 0, &err);
	umask(old);
	CHECK(rc == 0);
	CHECK(stat(path, &st) == 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK((st.st_mode & 07777) == 0600);
	int flags = fcntl(lk.fd, F_GETFD);
	lock_release(&lk);
	CHECK(flags >= 0 && (flags & FD_CLOEXEC));
	/* An existing lock file keeps its mode and content. */
	CHECK(chmod(path, 0644) == 0);
	CHECK(lock_acquire(&lk, path, LOCK_KIND_EXCLUSIVE, 0, &err) == 0);
	lock_release(&lk);
	CHECK(stat(path, &st) == 0);
	CHECK((st.st_mode & 07777) == 0644);
}

TEST(lock_open_errors)
{
	char path[PATH_MAX], dir[PATH_MAX];
	struct pyro_lock lk = PYRO_LOCK_INIT;
	struct pyro_err err = { 0 };
	lock_path(path, "missing/dir/ws.lock");
	CHECK(lock_acquire(&lk, path, LOCK_KIND_EXCLUSIVE, 100, &err) == -1);
	CHECK(lk.fd == -1);
	CHECK(err.code == PYRO_EXIT_FAILURE);
	CHECK(err.sys_errno == ENOENT);
	CHECK_CONTAINS(err.msg, path);
	CHECK_CONTAINS(err.msg, "its directory does not exist");
	/* A directory where the lock file should be. */
	lock_path(dir, "adir");
	CHECK(mkdir(dir, 0700) == 0);
	CHECK(lock_acquire(&lk, dir, LOCK_KIND_SHARED, 0, &err) == -1);
	CHECK(err.sys_errno == EISDIR);
	CHECK_CONTAINS(err.msg, "cannot open lock file \"");
	CHECK_CONTAINS(err.msg, dir);
	CHECK(lock_acquire(&lk, "", LOCK_KIND_SHARED, 0, &err) == -1);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	CHECK(lock_acquire(&lk, NULL, LOCK_KIND_SHARED, 0, &err) == -1);
	CHECK(lk.fd == -1);
}
