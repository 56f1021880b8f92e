/* Workspace archives: tar streams that carry files into and out of a
 * workspace. Used on both sides of the host/guest channel:
 *
 *   guest agent   extract_archive  -> wsarchive_extract (body pulled from
 *                                     the socket) into /workspace/...
 *                 export_archive   -> wsarchive_export into a temporary
 *                                     file, then sent with its size
 *   host          seed from a directory -> wsarchive_export with
 *                                     WSARCHIVE_EXPORT_CHECK
 *                 seed from a .tar/.tar.gz/.tar.zst -> wsarchive_inspect,
 *                                     then send it (or wsarchive_extract)
 *                 export to the host -> wsarchive_extract (directory) or
 *                                     wsarchive_extract_single (file,
 *                                     symlink)
 *
 * This is a port of the Python original's guest agent (_extract_archive,
 * _prepare_export_archive, _inspect_archive) and its host counterparts
 * (_extract_seed_archive_to_host_workspace, _inspect_seed_archive,
 * _write_workspace_export_archive, _extract_workspace_export_archive). The
 * member rules and their messages live in core/tarsafe.h.
 *
 * INPUT. Plain tar (v7, ustar, pax, GNU), optionally compressed with gzip or
 * zstd, and nothing else (libarchive with only those filters and the tar
 * format enabled, to keep the attack surface small). Bytes come from a
 * pull callback, so the agent can read a socket body and the host a file
 * without staging the archive. A failing pull stops the read with the
 * pull's own error. After the end-of-archive marker the rest of the input is
 * pulled and discarded, so on success the whole input has been consumed.
 *
 * EXTRACTION, member by member, in archive order (as the original):
 *   0. a directory member that names the root itself (".", "./", "./.":
 *      what `tar -C dir .` writes first) is the destination: counted, then
 *      skipped. The original refused it ("unsafe archive member path: ."),
 *      which failed the most common way of making a tarball;
 *   1. the name is normalised (tarsafe_member_name); for a directory member
 *      trailing slashes are dropped first, as Python's tarfile does, and
 *      messages show the name that way;
 *   2. entry_count counts it;
 *   3. no directory on the way to it may be a symlink: "archive member would
 *      traverse through a symlinked path: NAME";
 *   4. by type:
 *      - directory: an existing symlink, or an existing non-directory, at its
 *        path is "directory conflicts with existing path: NAME"; otherwise
 *        it and missing parents are created (an existing directory is kept
 *        as it is);
 *      - regular file: missing parents are created; an existing directory or
 *        symlink at its path is "file conflicts with existing path: NAME";
 *        an existing file is replaced; bytes_written adds its size;
 *      - symlink: the target is checked (tarsafe_symlink_target); missing
 *        parents are created; an existing non-symlink at its path is
 *        "symlink conflicts with existing path: NAME"; an existing symlink is
 *        replaced; the link gets the target exactly as stored;
 *      - hard link: "hard links are not allowed in workspace archives: NAME";
 *      - anything else (character or block device, fifo, ...): "unsupported
 *        archive member type: NAME".
 *   Everything happens relative to the destination's directory fd: each
 *   directory on the way is opened with O_NOFOLLOW, files are created with
 *   O_EXCL|O_NOFOLLOW and links with symlinkat, so no symlink (one from the
 *   archive, one already there, or one swapped in by a concurrent process)
 *   is ever followed, and nothing is created outside the destination.
 *
 *   Files are written to a temporary name in their directory
 *   (".pyro-extract-<random>") and renamed into place once complete, so a
 *   file is never seen half-written under its final name; on a failure the
 *   temporary is removed (a crash may leave one behind). Metadata: a file
 *   gets the archive's permission bits without setuid, setgid and sticky,
 *   filtered by the process umask (as tar does without -p), and the
 *   archive's mtime (atime is set to it too); a new directory gets the
 *   archive's permission bits plus u+rwx (so later members can go into it),
 *   umask applied; an existing directory is left alone; a symlink gets the
 *   archive's mtime. Directory mtimes are not restored (their members change
 *   them), owners never are (files belong to the extracting process).
 *   Nothing is fsynced.
 *
 *   A failed extraction stops at the failing member and leaves what was
 *   extracted before it, as the original did; `st` then counts the members
 *   completed before the failure.
 *
 * LIMITS (struct wsarchive_limits; a zero field or a NULL pointer means the
 * default): at most max_entries members (default 200,000; "archive has more
 * than N members"), at most max_bytes bytes of regular-file data in all
 * (default 64 GiB; checked against each member's declared size before any
 * of it is written: "archive holds more than N bytes of file data"), and
 * member paths of at most max_path bytes once normalised (default 4095;
 * "archive member path is longer than N bytes: NAME"). libarchive itself
 * refuses special headers (long names, pax records) over 1 MiB.
 *
 * EXPORT writes a deterministic tar to out_fd: pax where needed (long
 * names, large values, non-ASCII names with hdrcharset=BINARY), ustar
 * otherwise; entries in depth-first order with the children of every
 * directory sorted by name (bytewise); numeric uid/gid only, empty
 * uname/gname; whole-second mtimes; permission bits as on disk.
 *   - a regular file: one member named after it (its last component);
 *   - a directory: NOT the directory itself but each of its children
 *     (sorted), named by their path below it, directories recursively
 *     ("sub/", "sub/x");
 *   - a symlink: one member, the link itself (never followed).
 *   artifact_type says which. Files that are linked more than once are
 *   stored in full every time (never as tar hard links, which extraction
 *   refuses). Without WSARCHIVE_EXPORT_CHECK (the guest agent's behaviour),
 *   nested fifos and devices are stored as such and sockets are skipped, as
 *   Python's tarfile does; with it (the host's behaviour before seeding or
 *   exporting) every symlink target must pass tarsafe_symlink_target
 *   (relative to the export root) and any type other than file, directory
 *   and symlink is "unsupported workspace path type: PATH". A path that does
 *   not exist is "workspace path does not exist: PATH"; a top-level path of
 *   another type is "unsupported workspace path type: PATH".
 *
 * WHERE THIS DIFFERS FROM THE ORIGINAL, and why:
 *   - streaming: the original read every header (tarfile.getmembers())
 *     before extracting, so a damaged header failed before anything was
 *     written; here members are extracted as they arrive and damage is
 *     found where it is (the rule violations were already member by member
 *     in the original). Python's tarfile also stopped silently at a damaged
 *     or truncated header after the first member; here that is an error;
 *   - a dangling symlink where a file member goes: the guest agent wrote
 *     through it (creating the link's target); here it is "file conflicts
 *     with existing path", the host side's rule. Never follow links;
 *   - libarchive reads tar as POSIX says where tarfile did not: an unknown
 *     type flag is a regular file (tarfile: unsupported), a regular member
 *     whose name ends in "/" is a directory (tarfile: a file), GNU 'D'
 *     entries are directories and 'V' volume labels are skipped;
 *   - only tar, tar+gzip and tar+zstd are read (tarfile "r:*" also read bz2
 *     and xz; the host only ever offered .tar, .tar.gz and .tgz seeds);
 *   - modes and mtimes are restored (the original ignored both, so
 *     executables lost their x bit on the way into a workspace);
 *   - export never writes tar hard links (tarfile did for multiply-linked
 *     files, and the host then refused its own export) and writes integer
 *     mtimes and no user/group names (deterministic output);
 *   - symlinks on the way to an export path or an extraction destination
 *     (wsarchive_open_dir) are refused instead of followed, as the 4.x host
 *     does for live file operations;
 *   - messages escape control bytes and bytes that are not UTF-8 (\xNN) and
 *     cut names after 256 bytes; failures the original surfaced as raw
 *     Python exceptions (EACCES, ENOTDIR, ...) have their own wording;
 *   - names sort bytewise (tarfile: by code point, identical for UTF-8).
 *
 * Errors follow core/err.h. Rule violations and archive damage are
 * PYRO_EXIT_FAILURE; system call failures are PYRO_EXIT_FAILURE with
 * sys_errno; misuse (bad arguments) is PYRO_EXIT_INTERNAL. libarchive's
 * allocations do not go through core/fault.h; pyro's own reads and writes
 * do (pyro_read, pyro_write), so tests can fail them.
 *
 * Nothing here keeps state between calls; every structure is the caller's.
 */
#ifndef PYRO_WSARCHIVE_H
#define PYRO_WSARCHIVE_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define WSARCHIVE_DEFAULT_MAX_ENTRIES 200000u
#define WSARCHIVE_DEFAULT_MAX_BYTES (64ull << 30)

struct wsarchive_limits {
	uint64_t max_entries; /* members of any type */
	uint64_t max_bytes;   /* sum of regular file sizes */
	size_t max_path;      /* bytes of a normalised member path */
};

struct wsarchive_stats {
	uint64_t entry_count;   /* members (every type) */
	uint64_t bytes_written; /* sum of regular file sizes */
};

/* Fill buf[0..cap) with the next bytes of the archive and return how many
 * (> 0), 0 at the end of the input (and on every call after it), or -1
 * after filling `err`. */
typedef ssize_t (*wsarchive_pull_fn)(void *ctx, void *buf, size_t cap,
				     struct pyro_err *err);

/* Ready-made pulls. ctx is a struct wsarchive_fd_source: reads the fd until
 * EOF (through pyro_read, EINTR retried). */
struct wsarchive_fd_source {
	int fd;
};
ssize_t wsarchive_pull_fd(void *ctx, void *buf, size_t cap, struct pyro_err *err);

/* ctx is a struct wsarchive_mem_source over bytes the caller owns. */
struct wsarchive_mem_source {
	const void *data;
	size_t len;
	size_t pos;
};
ssize_t wsarchive_pull_mem(void *ctx, void *buf, size_t cap, struct pyro_err *err);

/* Extract the archive into the directory `root_fd` (open, e.g. O_PATH or
 * O_RDONLY|O_DIRECTORY; it is not closed). `st` is always filled. The
 * original's destination handling (create it with its parents) is
 * wsarchive_open_dir(workspace_fd, suffix, 1, &root_fd, err) first. */
int wsarchive_extract(int root_fd, wsarchive_pull_fn pull, void *pull_ctx,
		      const struct wsarchive_limits *lim, struct wsarchive_stats *st,
		      struct pyro_err *err);

/* Check every member as the host does before using a seed archive
 * (_inspect_seed_archive): the name rules, symlink targets, no hard links,
 * only files, directories and symlinks; counts as extraction would. Nothing
 * is written. The limits apply. */
int wsarchive_inspect(wsarchive_pull_fn pull, void *pull_ctx,
		      const struct wsarchive_limits *lim, struct wsarchive_stats *st,
		      struct pyro_err *err);

/* Open (and with `create`, make, mode 0777 before umask) the directory
 * `rel` below `root_fd` without following symlinks: rel is a relative path
 * ("" or NULL for root_fd itself; "." and empty components are skipped, ".."
 * and a leading "/" are misuse). A symlink on the way is "destination would
 * traverse through a symlinked path: REL"; a non-directory is ENOTDIR. On
 * success *out_fd is a new O_PATH|O_DIRECTORY descriptor the caller closes.
 * For extraction destinations below a workspace. */
int wsarchive_open_dir(int root_fd, const char *rel, int create, int *out_fd,
		       struct pyro_err *err);

enum wsarchive_artifact {
	WSARCHIVE_FILE,
	WSARCHIVE_DIRECTORY,
	WSARCHIVE_SYMLINK,
};

/* "file", "directory", "symlink" (the original's artifact_type values). */
const char *wsarchive_artifact_name(enum wsarchive_artifact type);

/* Extract the archive of a single-file or single-symlink export
 * (_extract_workspace_export_archive): it must hold exactly one member
 * ("expected exactly one archive member for file export, got N") whose name
 * passes the rules, which is a regular file ("exported archive did not
 * contain a regular file") or a symlink ("exported archive did not contain a
 * symlink") whose target passes the rules. It is created as `name` in
 * `dir_fd`, which must not exist yet ("output_path already exists: SHOWN",
 * SHOWN being `shown` or `name`). `type` must be WSARCHIVE_FILE or
 * WSARCHIVE_SYMLINK; for a directory export create the directory and use
 * wsarchive_extract. The file is written to a temporary name and linked
 * into place only when complete and checked. */
int wsarchive_extract_single(int dir_fd, const char *name, const char *shown,
			     enum wsarchive_artifact type, wsarchive_pull_fn pull,
			     void *pull_ctx, const struct wsarchive_limits *lim,
			     struct wsarchive_stats *st, struct pyro_err *err);

#define WSARCHIVE_EXPORT_CHECK 0x1u

struct wsarchive_export_info {
	enum wsarchive_artifact artifact_type;
	uint64_t entry_count;   /* members written */
	uint64_t bytes_written; /* sum of regular file sizes */
	uint64_t archive_size;  /* bytes written to out_fd */
};

/* Export `rel` below `root_fd` (a relative path as for wsarchive_open_dir;
 * "" or NULL exports root_fd itself, a directory) as a tar written to
 * out_fd (written from its current position, not truncated, not closed).
 * The directories on the way to `rel` are opened without following
 * symlinks: "workspace path would traverse through a symlinked parent:
 * SHOWN". `shown` names the path in messages (the original used the
 * normalised /workspace path): nested entries are shown as SHOWN/sub/x.
 * NULL means `rel`. On failure out_fd holds a partial archive: discard it. */
int wsarchive_export(int root_fd, const char *rel, const char *shown, int out_fd,
		     unsigned flags, struct wsarchive_export_info *info,
		     struct pyro_err *err);

#endif
