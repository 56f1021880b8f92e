/* Process spawning, the child's side: PATH candidates (computed in the
 * parent, since the child must not allocate) and everything the child does
 * between fork and exec. See spawn.h for the contract. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault.h"

#ifndef NSIG
#define NSIG 65
#endif

#define DEFAULT_PATH "/usr/local/bin:/bin:/usr/bin"

/* ---- command lookup (runs in the parent, before fork) ---- */

/* A NULL-terminated list of paths to try, in one heap block. */
char **spawn_path_candidates(const char *name, const char *const *envp)
{
	if (strchr(name, '/')) {
		size_t n = strlen(name) + 1;
		char **list = pyro_malloc(2 * sizeof *list + n);
		if (!list)
			return NULL;
		list[0] = memcpy((char *)(list + 2), name, n);
		list[1] = NULL;
		return list;
	}
	const char *path = NULL;
	if (envp) {
		for (const char *const *e = envp; *e; e++)
			if (!strncmp(*e, "PATH=", 5))
				path = *e + 5; /* the last one wins, as getenv */
	} else {
		path = getenv("PATH");
	}
	if (!path)
		path = DEFAULT_PATH;

	size_t dirs = 1, namelen = strlen(name);
	for (const char *p = path; *p; p++)
		dirs += *p == ':';
	/* Each entry is at most the whole PATH + '/' + name + NUL. */
	size_t strings = strlen(path) + dirs * (namelen + 2);
	char **list = pyro_malloc((dirs + 1) * sizeof *list + strings);
	if (!list)
		return NULL;
	char *out = (char *)(list + dirs + 1);
	size_t count = 0;
	for (const char *p = path;; ) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);
		list[count++] = out;
		memcpy(out, p, dlen); /* an empty entry means the cwd */
		out += dlen;
		if (dlen)
			*out++ = '/';
		memcpy(out, name, namelen + 1);
		out += namelen + 1;
		if (!end)
			break;
		p = end + 1;
	}
	list[count] = NULL;
	return list;
}

/* ---- the child, between fork and exec ----
 * Only async-signal-safe calls from here on: no malloc, no stdio. */

static _Noreturn void child_fail(int errfd, int stage, int errnum)
{
	struct spawn_child_report r = { stage, errnum };
	ssize_t n;
	do
		n = write(errfd, &r, sizeof r);
	while (n < 0 && errno == EINTR);
	_exit(127);
}

/* Parse a decimal fd number from a /proc/self/fd entry name; -1 if not. */
static int parse_fd(const char *s)
{
	int v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* Close every fd >= lowfd. */
static void close_from(int lowfd)
{
#ifdef SYS_close_range
	if (spawn_fallback_level < 1 && syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
		return;
#endif
#ifdef SYS_getdents64
	int dfd = spawn_fallback_level < 2
		? open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd >= 0) {
		/* Closing while listing can make the listing skip entries, so
		 * list again from the start until a pass closes nothing. */
		for (int closed = 1; closed;) {
			closed = 0;
			if (lseek(dfd, 0, SEEK_SET) < 0)
				break;
			for (;;) {
				_Alignas(8) char dents[2048];
				long n = syscall(SYS_getdents64, dfd, dents, sizeof dents);
				if (n <= 0)
					break;
				for (long off = 0; off < n;) {
					unsigned short reclen;
					memcpy(&reclen, dents + off + 16, sizeof reclen);
					int fd = parse_fd(dents + off + 19);
					if (fd >= lowfd && fd != dfd) {
						close(fd);
						closed = 1;
					}
					if (reclen == 0)
						break;
					off += reclen;
				}
			}
		}
		close(dfd);
		return;
	}
#endif
	struct rlimit rl;
	long max = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	for (long fd = lowfd; fd < max; fd++)
		close((int)fd);
}


void spawn_child_reset_signals(void)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, &dfl, NULL) == 0)
			continue;
		/* libc refuses its reserved real-time signals (32-34), but an
		 * ignore inherited from our own parent (seen under make) would
		 * pass on to the command: reset them with the raw syscall. The
		 * kernel's struct layout on x86_64: handler, flags, restorer,
		 * mask; no restorer is needed for SIG_DFL. */
		struct {
			void (*handler)(int);
			unsigned long flags;
			void (*restorer)(void);
			unsigned long long mask;
		} kdfl = { SIG_DFL, 0, NULL, 0 };
		syscall(SYS_rt_sigaction, sig, &kdfl, NULL, sizeof kdfl.mask);
	}
}
_Noreturn void spawn_child_exec(const struct spawn_child_plan *p)
{
	int errfd = p->errfd;

	/* Every signal is still blocked (the parent did that before fork), so
	 * no caller handler can run here before its disposition is reset. */
	spawn_child_reset_signals();

	if (setpgid(0, 0) < 0)
		child_fail(errfd, SPAWN_STAGE_SETUP, errno);

	/* Move everything out of 0..3 first, so no dup2 below overwrites a
	 * source still needed, and so dup2 never gets src == dst (which would
	 * leave the CLOEXEC flag on and lose the fd at exec). */
	int src[3];
	for (int i = 0; i < 3; i++) {
		src[i] = fcntl(p->src[i], F_DUPFD_CLOEXEC, 4);
		if (src[i] < 0)
			child_fail(errfd, SPAWN_STAGE_SETUP, errno);
	}
	if (errfd < 4) {
		int moved = fcntl(errfd, F_DUPFD_CLOEXEC, 4);
		if (moved < 0)
			child_fail(errfd, SPAWN_STAGE_SETUP, errno);
		errfd = moved;
	}
	for (int i = 0; i < 3; i++)
		if (dup2(src[i], i) < 0)
			child_fail(errfd, SPAWN_STAGE_SETUP, errno);
	if (dup3(errfd, 3, O_CLOEXEC) < 0)
		child_fail(errfd, SPAWN_STAGE_SETUP, errno);
	errfd = 3;
	close_from(4);

	if (p->cwd && chdir(p->cwd) < 0)
		child_fail(errfd, SPAWN_STAGE_CHDIR, errno);

	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* execvp's rules: EACCES is remembered and the search goes on; a
	 * missing entry is skipped; anything else ends the search. */
	int failure = ENOENT, seen_eacces = 0;
	for (char **c = p->candidates; *c; c++) {
		execve(*c, p->argv, p->envp);
		failure = errno;
		if (failure == EACCES)
			seen_eacces = 1;
		else if (failure != ENOENT && failure != ENOTDIR &&
			 failure != ENAMETOOLONG)
			break;
	}
	if (seen_eacces && (failure == ENOENT || failure == ENOTDIR ||
			    failure == ENAMETOOLONG))
		failure = EACCES;
	child_fail(errfd, SPAWN_STAGE_EXEC, failure);
}
