/* A growable byte buffer (after git's strbuf).
 *
 * Invariants, true after every call:
 *  - `len` bytes of data start at `data`;
 *  - `data[len] == '\0'` always, so text can be used as a C string (binary
 *    data may contain other NULs; `len` is the truth);
 *  - `data` is never NULL: an empty buffer points at a shared static "";
 *  - `cap` is the usable size of the heap block (0 while on the static "").
 *
 * Ownership: the buffer owns `data`. buf_release() frees it and resets the
 * buffer to empty; buf_detach() hands the heap block to the caller (who must
 * free() it) and resets the buffer.
 *
 * `max` caps growth (0 means no cap beyond SIZE_MAX/2). A call that would
 * grow past it fails with -1 and errno = EMSGSIZE, and leaves the buffer as
 * it was. Allocation failure returns -1 with errno = ENOMEM, same guarantee.
 */
#ifndef PYRO_BUF_H
#define PYRO_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

#define BUF_INIT { (char *)buf_empty_data, 0, 0, 0 }
extern const char buf_empty_data[1];

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
char *buf_detach(struct buf *b, size_t *len_out);

/* Make room for at least `extra` more bytes (plus the trailing NUL). */
int buf_reserve(struct buf *b, size_t extra);

int buf_append(struct buf *b, const void *data, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/* Set len to n (n <= len) and keep the NUL invariant. */
void buf_truncate(struct buf *b, size_t n);
/* Drop the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);

/* Read everything from fd until EOF. Fails with EMSGSIZE past `max`. */
int buf_read_fd(struct buf *b, int fd);
/* Read a whole file. */
int buf_read_file(struct buf *b, const char *path);

#endif
