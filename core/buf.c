#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"

const char buf_empty_data[1] = "";

void buf_init(struct buf *b, size_t max)
{
	b->data = (char *)buf_empty_data;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void buf_release(struct buf *b)
{
	if (b->cap)
		free(b->data);
	buf_init(b, b->max);
}

char *buf_detach(struct buf *b, size_t *len_out)
{
	char *out;
	if (len_out)
		*len_out = b->len;
	if (b->cap) {
		out = b->data;
	} else {
		out = calloc(1, 1);
		if (!out)
			return NULL;
	}
	buf_init(b, b->max);
	return out;
}

static size_t limit_of(const struct buf *b)
{
	size_t hard = SIZE_MAX / 2;
	return b->max && b->max < hard ? b->max : hard;
}

int buf_reserve(struct buf *b, size_t extra)
{
	size_t limit = limit_of(b);
	if (extra > limit || b->len > limit - extra) {
		errno = EMSGSIZE;
		return -1;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 4 ? need : cap * 2;
	char *p = b->cap ? pyro_realloc(b->data, cap) : pyro_malloc(cap);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	if (!b->cap)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) < 0)
		return -1;
	memmove(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return -1;
	if (buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void buf_truncate(struct buf *b, size_t n)
{
	if (n >= b->len)
		return;
	b->len = n;
	b->data[n] = '\0';
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_truncate(b, 0);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	buf_truncate(b, b->len - n);
}

void buf_reset(struct buf *b)
{
	buf_truncate(b, 0);
}

int buf_read_fd(struct buf *b, int fd)
{
	size_t limit = limit_of(b);
	for (;;) {
		if (b->len >= limit) {
			/* Full: succeed only if the source is exhausted. */
			char probe;
			ssize_t more;
			do
				more = pyro_read(fd, &probe, 1);
			while (more < 0 && errno == EINTR);
			if (more == 0)
				return 0;
			if (more > 0)
				errno = EMSGSIZE;
			return -1;
		}
		size_t want = limit - b->len < 4096 ? limit - b->len : 4096;
		if (buf_reserve(b, want) < 0)
			return -1;
		/* Never read past the cap, whatever capacity doubling gave us. */
		size_t room = b->cap - b->len - 1;
		if (room > limit - b->len)
			room = limit - b->len;
		ssize_t n = pyro_read(fd, b->data + b->len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
}

int buf_read_file(struct buf *b, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = buf_read_fd(b, fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}
