/* Secret redaction: every occurrence of a secret value in text a user will
 * see (command output, shell reads, service logs, error messages) becomes
 * "[REDACTED]".
 *
 * Exactly the original's rule: empty values are ignored, duplicates count
 * once, and values are replaced one after another, longest first, each over
 * the result of the previous (Python's str.replace in a loop), so a secret
 * that contains another is hidden whole.
 *
 * Ownership: a redact_set owns copies of its values. Not thread-safe by
 * itself; callers that share a set lock around it. */
#ifndef PYRO_REDACT_H
#define PYRO_REDACT_H

#include <stddef.h>

#include "buf.h"

#define REDACT_MARK "[REDACTED]"

struct redact_set {
	char **values; /* longest first, no empties, no duplicates */
	size_t *lens;
	size_t n, cap;
};

#define REDACT_SET_INIT { NULL, NULL, 0, 0 }

/* Add a value (copied); empty values and duplicates are skipped. 0, or -1
 * when out of memory. */
int redact_set_add(struct redact_set *s, const char *value, size_t len);
void redact_set_release(struct redact_set *s);

/* Append text[0..len) to out with the values of `a` and then `b` (either
 * may be NULL) replaced, as one longest-first set. 0, or -1 when out of
 * memory or out is full. */
int redact_apply(const struct redact_set *a, const struct redact_set *b, struct buf *out,
		 const char *text, size_t len);

#endif
