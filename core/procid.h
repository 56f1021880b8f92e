/* Naming a process so that a recycled pid is never mistaken for it.
 *
 * A pid alone is not an identity: once a process is gone its number can be
 * given to any other, so signalling a pid read from a record written long
 * ago could hit a stranger. A process is named by its pid together with its
 * start time (field 22 of /proc/PID/stat, in clock ticks since boot), which
 * no later process with the same pid can share; the boot id keeps a record
 * from before a reboot from matching anything. */
#ifndef PYRO_PROCID_H
#define PYRO_PROCID_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_id {
	pid_t pid;            /* 0: none */
	uint64_t start_ticks; /* /proc/PID/stat field 22 */
};

/* Read /proc/PID/FILE ("stat", "status") into buf, NUL-terminated;
 * the byte count, or -1 when the process (or the file) is gone. */
ssize_t procid_read(pid_t pid, const char *file, char *buf, size_t cap);

/* The part of /proc/PID/stat after the command name: field 3 (the state)
 * onwards. The name (field 2) is in parentheses and may itself hold ") ",
 * so this starts after the last ')'. NULL when malformed. */
const char *procid_stat_after_name(const char *stat_text);

/* Fill *out for pid (a live process). -1 when it does not exist. */
int procid_of(pid_t pid, struct proc_id *out);

/* True while the process named by id exists (a zombie counts as gone). */
bool procid_alive(const struct proc_id *id);

/* A pollable fd that becomes readable when pid exits (pidfd_open, Linux
 * 5.3), checked against id so it refers to that process; -1 when the
 * kernel has no pidfd or the process is already gone. */
int procid_pidfd(const struct proc_id *id);

/* Signal the process named by id; 0 when sent, -1 (errno ESRCH) when it
 * is no longer that process. */
int procid_kill(const struct proc_id *id, int sig);

#endif
