/* Standard base64 (RFC 4648, with padding), as Python's base64.b64encode
 * and b64decode(validate=True): the agent's file reads travel as
 * "content_b64". Output goes to the caller's buffer. Also the one hex
 * digit decoder the text parsers share. */
#ifndef PYRO_BASE64_H
#define PYRO_BASE64_H

#include <stddef.h>

#include "buf.h"

/* Append the encoding of data[0..n). 0, or -1 when out of memory. */
int base64_encode(struct buf *out, const void *data, size_t n);
/* Append the decoding of text[0..n): only the 64 symbols and trailing '='
 * padding, length a multiple of 4. 0; -1 on bad input (out unchanged in
 * length) or when out of memory. */
int base64_decode(struct buf *out, const char *text, size_t n);

/* The value of one hex digit (0-9, a-f, A-F), or -1 for anything else
 * (chunk sizes in HTTP, MAC addresses). */
int hex_digit_value(int c);

#endif
