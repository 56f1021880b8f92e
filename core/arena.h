/* A chunked bump allocator: many small allocations, one release.
 *
 * Memory comes from pyro_malloc (so fault injection reaches it) in chunks
 * that grow geometrically; a request larger than a quarter of the current
 * chunk gets a chunk of its own, so big blocks do not waste the rest of a
 * chunk. Nothing is freed individually: arena_release() frees every chunk.
 *
 * arena_grow() resizes the most recent allocation in place when it is the
 * last thing in the current chunk and there is room; otherwise it copies
 * into a fresh block (the old block stays allocated until release). That
 * makes a doubling vector cost at most twice its final size.
 *
 * All functions return NULL (errno = ENOMEM) on allocation failure or size
 * overflow and leave the arena as it was. `align` must be a power of two no
 * larger than alignof(max_align_t). */
#ifndef PYRO_ARENA_H
#define PYRO_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *chunks; /* every chunk, newest first */
	struct arena_chunk *cur;    /* the chunk small allocations bump from */
	void *last;                 /* most recent allocation from cur */
	size_t next_size;           /* capacity of the next regular chunk */
	size_t total;               /* bytes obtained from pyro_malloc */
};

void arena_init(struct arena *a);
void arena_release(struct arena *a);

void *arena_alloc(struct arena *a, size_t n, size_t align);
/* Resize p (of old_n bytes, NULL for a new block) to new_n bytes, keeping
 * the first min(old_n, new_n) bytes. */
void *arena_grow(struct arena *a, void *p, size_t old_n, size_t new_n, size_t align);
/* Give back the tail of p when p is the most recent allocation (a no-op
 * otherwise); p keeps its first new_n bytes. */
void arena_shrink(struct arena *a, void *p, size_t new_n);
/* Copy s[0..len) and a terminating NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t len);

#endif
