#include "arena.h"

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap;  /* usable bytes after the header */
	size_t used; /* bytes handed out (including alignment padding) */
};

/* The data area starts at a max_align_t boundary after the header. */
#define CHUNK_HDR \
	((sizeof(struct arena_chunk) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))
#define FIRST_CHUNK 2048u
#define MAX_CHUNK (256u << 10)

static unsigned char *chunk_data(struct arena_chunk *c)
{
	return (unsigned char *)c + CHUNK_HDR;
}

void arena_init(struct arena *a)
{
	a->chunks = NULL;
	a->cur = NULL;
	a->last = NULL;
	a->next_size = FIRST_CHUNK;
	a->total = 0;
}

void arena_release(struct arena *a)
{
	struct arena_chunk *c = a->chunks;
	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	arena_init(a);
}

static struct arena_chunk *chunk_new(struct arena *a, size_t cap)
{
	if (cap > SIZE_MAX - CHUNK_HDR) {
		errno = ENOMEM;
		return NULL;
	}
	struct arena_chunk *c = pyro_malloc(CHUNK_HDR + cap);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->cap = cap;
	c->used = 0;
	c->next = a->chunks;
	a->chunks = c;
	a->total += CHUNK_HDR + cap;
	return c;
}

/* Padding needed to align the next byte of c to `align`. */
static size_t pad_for(struct arena_chunk *c, size_t align)
{
	uintptr_t at = (uintptr_t)(chunk_data(c) + c->used);
	return (size_t)(-at & (uintptr_t)(align - 1));
}

void *arena_alloc(struct arena *a, size_t n, size_t align)
{
	if (align == 0)
		align = 1;
	if (n == 0)
		n = 1;
	struct arena_chunk *c = a->cur;
	if (c) {
		size_t pad = pad_for(c, align);
		if (pad <= c->cap - c->used && n <= c->cap - c->used - pad) {
			void *p = chunk_data(c) + c->used + pad;
			c->used += pad + n;
			a->last = p;
			return p;
		}
	}
	if (n > a->next_size / 4) {
		/* A chunk of its own; the current chunk stays current. Chunk
		 * data is max_align_t aligned, so no padding is needed. */
		c = chunk_new(a, n);
		if (!c)
			return NULL;
		c->used = n;
		return chunk_data(c);
	}
	c = chunk_new(a, a->next_size);
	if (!c)
		return NULL;
	if (a->next_size < MAX_CHUNK)
		a->next_size *= 2;
	a->cur = c;
	c->used = n;
	a->last = chunk_data(c);
	return a->last;
}

void *arena_grow(struct arena *a, void *p, size_t old_n, size_t new_n, size_t align)
{
	if (!p)
		return arena_alloc(a, new_n, align);
	struct arena_chunk *c = a->cur;
	if (p == a->last && c) {
		size_t off = (size_t)((unsigned char *)p - chunk_data(c));
		/* p is the last allocation of c, so c->used == off + old size
		 * (old size may have been rounded up to 1). */
		if (new_n <= c->cap - off) {
			c->used = off + (new_n ? new_n : 1);
			return p;
		}
	}
	if (new_n <= old_n)
		return p;
	void *q = arena_alloc(a, new_n, align);
	if (!q)
		return NULL;
	memcpy(q, p, old_n);
	return q;
}

void arena_shrink(struct arena *a, void *p, size_t new_n)
{
	struct arena_chunk *c = a->cur;
	if (!p || p != a->last || !c)
		return;
	size_t off = (size_t)((unsigned char *)p - chunk_data(c));
	if (off + new_n < c->used)
		c->used = off + (new_n ? new_n : 1);
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	if (len == SIZE_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	char *p = arena_alloc(a, len + 1, 1);
	if (!p)
		return NULL;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
