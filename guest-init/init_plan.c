/* The mount and root-switch plan of pyro-init (pure: builds a list of
 * steps; init_mount.c carries them out). Keeping the decisions here lets
 * the unit tests check exactly what a boot will do without privileges. */
#include "init.h"

#include <stdio.h>
#include <sys/mount.h>

static struct init_step *add(struct init_plan *plan, enum init_step_kind kind,
			     const char *target)
{
	/* INIT_PLAN_MAX is larger than the longest plan built below; the
	 * check keeps a future edit from writing past the array. */
	if (plan->n == INIT_PLAN_MAX)
		return &plan->steps[INIT_PLAN_MAX - 1];
	struct init_step *s = &plan->steps[plan->n++];
	*s = (struct init_step){ .kind = kind, .target = target };
	return s;
}

static void mkdir_step(struct init_plan *plan, const char *path, unsigned mode)
{
	add(plan, INIT_STEP_MKDIR, path)->mode = mode;
}

/* A pseudo file system mount that is skipped when something is already
 * mounted there (after the switch, /proc, /sys, /dev and /run come along
 * from the initramfs stage; a second tmpfs on /run would hide our copy). */
static void vfs_mount(struct init_plan *plan, const char *fstype, const char *target,
		      unsigned long flags, const char *data, unsigned dir_mode)
{
	mkdir_step(plan, target, dir_mode);
	struct init_step *s = add(plan, INIT_STEP_MOUNT, target);
	s->source = fstype;
	s->fstype = fstype;
	s->flags = flags;
	s->data = data;
	s->skip_if_mounted = 1;
}

static void early_mounts(struct init_plan *plan)
{
	vfs_mount(plan, "proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555);
	vfs_mount(plan, "sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555);
	vfs_mount(plan, "devtmpfs", "/dev", MS_NOSUID, "mode=0755", 0755);
}

void init_plan_early(struct init_plan *plan)
{
	plan->n = 0;
	early_mounts(plan);
}

/* What the final root needs beyond /proc, /sys and /dev. */
static void final_mounts(struct init_plan *plan)
{
	/* mode=620,ptmxmode=666: as the original guest init mounted it, so
	 * PTYs for shells work for any user. */
	vfs_mount(plan, "devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "mode=620,ptmxmode=666", 0755);
	/* POSIX shared memory and semaphores (Python's multiprocessing). */
	vfs_mount(plan, "tmpfs", "/dev/shm", MS_NOSUID | MS_NODEV, "mode=1777", 01777);
	/* devtmpfs has no /dev/fd family; shells' process substitution and
	 * "cat /dev/stdin" need them (udev would normally add them). */
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
	};
	for (size_t i = 0; i < sizeof links / sizeof *links; i++)
		add(plan, INIT_STEP_SYMLINK, links[i][1])->source = links[i][0];
	/* /run holds our own binary, so it must allow exec (no MS_NOEXEC). */
	vfs_mount(plan, "tmpfs", "/run", MS_NOSUID | MS_NODEV, "mode=0755", 0755);
	vfs_mount(plan, "tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "mode=1777", 01777);
}

static void switch_root_steps(const struct init_config *cfg, struct init_plan *plan)
{
	struct init_step *s;

	s = add(plan, INIT_STEP_WAIT_DEVICE, NULL);
	s->source = cfg->root;
	s->timeout_ms = cfg->root_wait_s * 1000u;
	s->fatal = 1;

	s = add(plan, INIT_STEP_MKDIR, INIT_NEWROOT);
	s->mode = 0755;
	s->fatal = 1;

	s = add(plan, INIT_STEP_MOUNT_ROOT, INIT_NEWROOT);
	s->source = cfg->root;
	s->fstype = cfg->rootfstype;
	s->data = cfg->rootflags[0] ? cfg->rootflags : NULL;
	s->flags = cfg->root_rw ? 0 : MS_RDONLY;
	s->fatal = 1;

	/* A tmpfs inside the new root carries our binary across the switch:
	 * the base image stays untouched (it may be read-only) and the agent
	 * always matches the host's pyro. It becomes the final root's /run. */
	s = add(plan, INIT_STEP_MOUNT, INIT_NEWROOT "/run");
	s->source = "tmpfs";
	s->fstype = "tmpfs";
	s->flags = MS_NOSUID | MS_NODEV;
	s->data = "mode=0755";
	s->fatal = 1;

	s = add(plan, INIT_STEP_MKDIR, INIT_NEWROOT INIT_SELF_DIR);
	s->mode = 0755;
	s->fatal = 1;

	s = add(plan, INIT_STEP_COPY_SELF, INIT_NEWROOT INIT_SELF_PATH);
	s->mode = 0755;
	s->fatal = 1;

	/* The pseudo file systems move along (as switch_root does), so
	 * nothing is mounted twice and /dev/console stays valid. */
	static const char *const moves[][2] = {
		{ "/dev", INIT_NEWROOT "/dev" },
		{ "/proc", INIT_NEWROOT "/proc" },
		{ "/sys", INIT_NEWROOT "/sys" },
	};
	for (size_t i = 0; i < sizeof moves / sizeof *moves; i++)
		add(plan, INIT_STEP_MOVE_MOUNT, moves[i][1])->source = moves[i][0];

	/* The initramfs lives in page cache that only deleting frees. */
	add(plan, INIT_STEP_DELETE_INITRAMFS, "/");

	s = add(plan, INIT_STEP_SWITCH_ROOT, INIT_NEWROOT);
	s->fatal = 1;

	/* Not fatal: if the exec fails we are already in the new root and
	 * the same code is in memory, so pyro-init carries on in-process. */
	add(plan, INIT_STEP_EXEC_SELF, INIT_SELF_PATH);
}

void init_plan_build(const struct init_config *cfg, int in_initramfs, struct init_plan *plan)
{
	plan->n = 0;
	early_mounts(plan);
	if (in_initramfs && cfg->root[0])
		switch_root_steps(cfg, plan);
	else
		final_mounts(plan);
}

static const char *or_none(const char *s)
{
	return s && *s ? s : "-";
}

void init_step_describe(const struct init_step *s, char *out, size_t cap)
{
	const char *fatal = s->fatal ? " [fatal]" : "";
	switch (s->kind) {
	case INIT_STEP_MKDIR:
		snprintf(out, cap, "mkdir -p %s (mode %04o)%s", s->target, s->mode, fatal);
		break;
	case INIT_STEP_MOUNT:
		snprintf(out, cap, "mount %s on %s (%s%s)%s%s", s->fstype, s->target,
			 or_none(s->data), s->flags & MS_RDONLY ? ",ro" : "",
			 s->skip_if_mounted ? " unless mounted" : "", fatal);
		break;
	case INIT_STEP_SYMLINK:
		snprintf(out, cap, "symlink %s -> %s", s->target, s->source);
		break;
	case INIT_STEP_WAIT_DEVICE:
		snprintf(out, cap, "wait up to %u ms for %s%s", s->timeout_ms, s->source, fatal);
		break;
	case INIT_STEP_MOUNT_ROOT:
		snprintf(out, cap, "mount root %s on %s (type %s, %s, data %s)%s", s->source,
			 s->target, s->fstype && *s->fstype ? s->fstype : "any",
			 s->flags & MS_RDONLY ? "ro" : "rw", or_none(s->data), fatal);
		break;
	case INIT_STEP_COPY_SELF:
		snprintf(out, cap, "copy /proc/self/exe to %s (mode %04o)%s", s->target, s->mode, fatal);
		break;
	case INIT_STEP_MOVE_MOUNT:
		snprintf(out, cap, "move mount %s to %s", s->source, s->target);
		break;
	case INIT_STEP_DELETE_INITRAMFS:
		snprintf(out, cap, "delete the initramfs files under %s", s->target);
		break;
	case INIT_STEP_SWITCH_ROOT:
		snprintf(out, cap, "switch root to %s%s", s->target, fatal);
		break;
	case INIT_STEP_EXEC_SELF:
		snprintf(out, cap, "exec %s as pyro-init %s%s", s->target, INIT_SWITCHED_FLAG, fatal);
		break;
	}
}
