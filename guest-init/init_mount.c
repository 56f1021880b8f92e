/* Carrying out the mount / root-switch plan (init_plan.c decides). Thin on
 * purpose: each step is one or two system calls plus a console line on
 * failure.
 *
 * Safety: the steps that change mounts, delete files or replace the
 * process (MOUNT, MOUNT_ROOT, MOVE_MOUNT, DELETE_INITRAMFS, SWITCH_ROOT,
 * EXEC_SELF) refuse to run unless this process is PID 1, so a unit test or
 * a mistaken run on a host cannot mount over /run or empty a directory. */
#include "init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "../core/exitcodes.h"

#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* 1: something is mounted on path; 0: a plain directory; -1: no such path.
 * A mount point is where the device changes from the parent's (or the
 * root, whose parent is itself). */
static int is_mountpoint(const char *path)
{
	char parent[PATH_MAX];
	struct stat st, pst;
	if (stat(path, &st) < 0)
		return -1;
	if (snprintf(parent, sizeof parent, "%s/..", path) >= (int)sizeof parent)
		return 0;
	if (stat(parent, &pst) < 0)
		return 0;
	return st.st_dev != pst.st_dev || st.st_ino == pst.st_ino;
}

static int mkdir_p(const char *path, unsigned mode, struct pyro_err *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof buf)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "mkdir: bad path '%s'", path);
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST) {
			/* A read-only root cannot create, but the directory may
			 * well be there already. */
			int e = errno;
			struct stat st;
			if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
				return pyro_err_sys(err, e, "cannot create directory %s", buf);
		}
		buf[i] = saved;
	}
	return 0;
}

static int need_pid1(const char *what, struct pyro_err *err)
{
	if (getpid() == 1)
		return 0;
	return pyro_err_set(err, PYRO_EXIT_INTERNAL,
			    "refusing to %s: not running as PID 1 in a guest", what);
}

static int do_mount(const struct init_step *s, struct pyro_err *err)
{
	if (s->skip_if_mounted && is_mountpoint(s->target) == 1)
		return 0;
	if (need_pid1("mount", err) < 0)
		return -1;
	if (mount(s->source, s->target, s->fstype, s->flags, s->data) == 0 || errno == EBUSY)
		return 0;
	return pyro_err_sys(err, errno, "cannot mount %s on %s", s->fstype, s->target);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The block devices the kernel knows, for the "never appeared" message. */
static void list_block_devices(char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	DIR *d = opendir("/sys/class/block");
	if (!d) {
		snprintf(out, cap, "(cannot list /sys/class/block)");
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) && used + 2 < cap) {
		if (e->d_name[0] == '.')
			continue;
		int n = snprintf(out + used, cap - used, "%s%s", used ? " " : "", e->d_name);
		if (n < 0 || (size_t)n >= cap - used)
			break;
		used += (size_t)n;
	}
	closedir(d);
	if (!used)
		snprintf(out, cap, "none");
}

static int wait_device(const struct init_step *s, struct pyro_err *err)
{
	const unsigned tick = 20;
	unsigned waited = 0;
	int said = 0;
	struct stat st;
	for (;;) {
		if (stat(s->source, &st) == 0 && S_ISBLK(st.st_mode))
			return 0;
		if (waited >= s->timeout_ms)
			break;
		/* Say once that we are waiting, so a slow boot is not mistaken
		 * for a hung one. */
		if (!said && waited >= 1000) {
			init_say("waiting for the root device %s (up to %u s)", s->source,
				 s->timeout_ms / 1000);
			said = 1;
		}
		sleep_ms(tick);
		waited += tick;
	}
	char devs[256];
	list_block_devices(devs, sizeof devs);
	if (stat(s->source, &st) == 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "root device %s exists but is not a block device", s->source);
	return pyro_err_set(err, PYRO_EXIT_FAILURE,
			    "root device %s did not appear within %u ms (block devices: %s); check root= "
			    "and the VMM's drive configuration, and that the guest kernel has its driver built in",
			    s->source, s->timeout_ms, devs);
}

static int mount_root_as(const struct init_step *s, const char *fstype, unsigned long *flags)
{
	if (mount(s->source, s->target, fstype, *flags, s->data) == 0)
		return 0;
	/* As the kernel does for its own root: a write-protected device is
	 * mounted read-only rather than not at all. */
	if ((errno == EROFS || errno == EACCES) && !(*flags & MS_RDONLY)) {
		init_say("root device %s is read-only; mounting it read-only", s->source);
		*flags |= MS_RDONLY;
		return mount(s->source, s->target, fstype, *flags, s->data);
	}
	return -1;
}

/* rootfstype= is a comma list; without it every block file system the
 * kernel has (the lines of /proc/filesystems without "nodev") is tried,
 * as the kernel itself does. EINVAL means "not this type": try the next. */
static int mount_root(const struct init_step *s, struct pyro_err *err)
{
	char types[1024], tried[1024];
	unsigned long flags = s->flags;
	int last = ENODEV;

	if (need_pid1("mount the root", err) < 0)
		return -1;
	if (s->fstype && *s->fstype) {
		snprintf(types, sizeof types, "%s", s->fstype);
	} else {
		types[0] = '\0';
		FILE *f = fopen("/proc/filesystems", "re");
		char line[128];
		size_t used = 0;
		while (f && fgets(line, sizeof line, f)) {
			if (strncmp(line, "nodev", 5) == 0)
				continue;
			char *name = line + strspn(line, " \t");
			name[strcspn(name, " \t\n")] = '\0';
			int n = snprintf(types + used, sizeof types - used, "%s%s", used ? "," : "", name);
			if (n > 0 && (size_t)n < sizeof types - used)
				used += (size_t)n;
		}
		if (f)
			fclose(f);
	}
	memcpy(tried, types, sizeof tried);
	char *save = NULL;
	for (char *t = strtok_r(types, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (mount_root_as(s, t, &flags) == 0) {
			init_say("mounted %s (%s, %s) on %s", s->source, t,
				 flags & MS_RDONLY ? "read-only" : "read-write", s->target);
			return 0;
		}
		last = errno;
		if (last != EINVAL && last != ENODEV)
			return pyro_err_sys(err, last, "cannot mount the root %s (%s) on %s", s->source, t, s->target);
	}
	if (last == EINVAL)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "cannot mount the root %s: it holds none of the file system types [%s]; "
				    "check rootfstype= and the disk image",
				    s->source, tried);
	return pyro_err_sys(err, last, "cannot mount the root %s on %s as any of [%s]",
			    s->source, s->target, *s->fstype ? s->fstype : "the kernel's block file systems");
}

static int copy_self(const struct init_step *s, struct pyro_err *err)
{
	char buf[65536];
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return pyro_err_sys(err, errno, "cannot open /proc/self/exe");
	int out = open(s->target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, (mode_t)s->mode);
	if (out < 0) {
		int e = errno;
		close(in);
		return pyro_err_sys(err, e, "cannot create %s", s->target);
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pyro_err_sys(err, errno, "cannot read /proc/self/exe");
			goto fail;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				pyro_err_sys(err, w < 0 ? errno : EIO, "cannot write %s", s->target);
				goto fail;
			}
			off += w;
		}
	}
	/* O_CREAT's mode is cut by the umask; the copy must be executable. */
	if (fchmod(out, (mode_t)s->mode) < 0) {
		pyro_err_sys(err, errno, "cannot chmod %s", s->target);
		goto fail;
	}
	close(in);
	if (close(out) < 0)
		return pyro_err_sys(err, errno, "cannot write %s", s->target);
	return 0;
fail:
	close(in);
	close(out);
	unlink(s->target);
	return -1;
}

static int move_one_mount(const struct init_step *s, struct pyro_err *err)
{
	if (need_pid1("move a mount", err) < 0)
		return -1;
	struct stat st;
	if (stat(s->target, &st) < 0 || !S_ISDIR(st.st_mode)) {
		/* The new root has no such directory (and may be read-only):
		 * drop the mount rather than leave it behind on the rootfs. */
		init_say("%s has no mount point in the new root; detaching it", s->source);
		umount2(s->source, MNT_DETACH);
		return 0;
	}
	if (mount(s->source, s->target, NULL, MS_MOVE, NULL) < 0)
		return pyro_err_sys(err, errno, "cannot move %s to %s", s->source, s->target);
	return 0;
}

/* Remove everything below dirfd on device `dev`, never crossing into
 * another file system (the new root is mounted below us). Consumes dirfd. */
static void remove_tree(int dirfd, dev_t dev, unsigned *count)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *name = e->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				remove_tree(sub, dev, count);
			if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0)
				(*count)++;
		} else if (unlinkat(dirfd, name, 0) == 0) {
			(*count)++;
		}
	}
	closedir(d);
}

static int delete_initramfs(const struct init_step *s, struct pyro_err *err)
{
	struct statfs sfs;
	struct stat st;
	if (need_pid1("delete the initramfs", err) < 0)
		return -1;
	/* Only ever on the kernel's rootfs (ramfs, or tmpfs with
	 * rootfstype=tmpfs), whatever the plan says. */
	if (statfs(s->target, &sfs) < 0 || stat(s->target, &st) < 0)
		return pyro_err_sys(err, errno, "cannot inspect %s", s->target);
	if ((unsigned long)sfs.f_type != RAMFS_MAGIC && (unsigned long)sfs.f_type != TMPFS_MAGIC)
		return pyro_err_set(err, PYRO_EXIT_INTERNAL,
				    "refusing to delete %s: it is not an initramfs", s->target);
	int fd = open(s->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return pyro_err_sys(err, errno, "cannot open %s", s->target);
	unsigned count = 0;
	remove_tree(fd, st.st_dev, &count);
	init_say("deleted the initramfs (%u entries)", count);
	return 0;
}

static int switch_root(const struct init_step *s, struct pyro_err *err)
{
	if (need_pid1("switch root", err) < 0)
		return -1;
	/* The rootfs cannot be unmounted, so the new root is moved on top
	 * of it and becomes "/" by chroot (what switch_root(8) does). */
	if (chdir(s->target) < 0)
		return pyro_err_sys(err, errno, "cannot enter %s", s->target);
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return pyro_err_sys(err, errno, "cannot move %s to /", s->target);
	if (chroot(".") < 0)
		return pyro_err_sys(err, errno, "cannot chroot into %s", s->target);
	if (chdir("/") < 0)
		return pyro_err_sys(err, errno, "cannot enter the new /");
	return 0;
}

static int exec_self(const struct init_step *s, struct pyro_err *err)
{
	if (need_pid1("re-execute as init", err) < 0)
		return -1;
	char *argv[] = { "pyro-init", INIT_SWITCHED_FLAG, NULL };
	/* The kernel's environment for init holds stray boot parameters;
	 * start the final root clean. */
	char *envp[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			 "HOME=/", "TERM=linux", NULL };
	execve(s->target, argv, envp);
	return pyro_err_sys(err, errno, "cannot execute %s", s->target);
}

static int run_step(const struct init_step *s, struct pyro_err *err)
{
	switch (s->kind) {
	case INIT_STEP_MKDIR:
		return mkdir_p(s->target, s->mode, err);
	case INIT_STEP_MOUNT:
		return do_mount(s, err);
	case INIT_STEP_SYMLINK:
		if (symlink(s->source, s->target) == 0 || errno == EEXIST)
			return 0;
		return pyro_err_sys(err, errno, "cannot create symlink %s", s->target);
	case INIT_STEP_WAIT_DEVICE:
		return wait_device(s, err);
	case INIT_STEP_MOUNT_ROOT:
		return mount_root(s, err);
	case INIT_STEP_COPY_SELF:
		return copy_self(s, err);
	case INIT_STEP_MOVE_MOUNT:
		return move_one_mount(s, err);
	case INIT_STEP_DELETE_INITRAMFS:
		return delete_initramfs(s, err);
	case INIT_STEP_SWITCH_ROOT:
		return switch_root(s, err);
	case INIT_STEP_EXEC_SELF:
		return exec_self(s, err);
	}
	return pyro_err_set(err, PYRO_EXIT_INTERNAL, "unknown plan step %d", (int)s->kind);
}

int init_plan_run(const struct init_plan *plan, struct pyro_err *err)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct init_step *s = &plan->steps[i];
		struct pyro_err step_err = { 0 };
		if (run_step(s, &step_err) == 0)
			continue;
		if (s->fatal) {
			if (err)
				*err = step_err;
			return -1;
		}
		init_say("%s", step_err.msg);
	}
	return 0;
}
