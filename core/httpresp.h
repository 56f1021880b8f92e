/* A pure, incremental HTTP/1.1 response parser: no I/O, no clock. The
 * caller feeds it the bytes it received, split anywhere, and gets back the
 * status line, the headers and then the de-framed body.
 *
 *   struct httpresp p;
 *   httpresp_init(&p, "GET");
 *   while (more bytes in `in`) {
 *           const char *body; size_t body_len;
 *           long used = httpresp_feed(&p, in, len, &body, &body_len);
 *           if (used < 0) fail with httpresp_error(&p);
 *           ... body_len bytes at body (they point into `in`) are body data;
 *           in += used; len -= used;
 *           if (p.state == HTTPRESP_DONE) break;
 *   }
 *   on connection close: httpresp_eof(&p), which fails on a truncated body;
 *   httpresp_release(&p);
 *
 * Rules of httpresp_feed:
 *  - in state HEAD or BODY with len > 0 it consumes at least one byte, or
 *    fails; in DONE it consumes nothing (bytes after the response are not
 *    its business: the client sends "Connection: close");
 *  - one call yields at most one body span, and a call that completes the
 *    head stops right after it (state becomes BODY or DONE), so the caller
 *    can look at the status and headers before any body byte arrives;
 *  - the body span always points into `in` and is at most len bytes, so
 *    a caller that wants at most N body bytes passes len <= N;
 *  - results never depend on how the input was split.
 *
 * Framing (RFC 9112 section 6): a response to HEAD, and 1xx/204/304
 * responses, have no body; interim 1xx heads (100 Continue, 103) are
 * skipped, 101 is an error (no upgrade was asked for). Otherwise
 * Transfer-Encoding: chunked (the only coding accepted; extensions and
 * trailers are skipped), else Content-Length, else the body runs until the
 * connection closes. Both, or duplicate or malformed Content-Length, are
 * errors, as are obs-fold continuation lines, a head over HTTPRESP_HEAD_MAX
 * bytes and more than HTTP_MAX_HEADERS header fields. Lines may end in LF
 * or CRLF.
 *
 * Ownership: the parser owns its head storage (grown to at most
 * HTTPRESP_HEAD_MAX); header name/value pointers point into it and stay
 * valid until httpresp_release. Errors leave state HTTPRESP_ERROR and one
 * sentence in httpresp_error(); every later call fails the same way.
 */
#ifndef PYRO_HTTPRESP_H
#define PYRO_HTTPRESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"

#define HTTPRESP_HEAD_MAX (64 * 1024)
/* Chunk extensions plus trailers of one response, skipped but bounded. */
#define HTTPRESP_SKIP_MAX (64 * 1024)

enum httpresp_state {
	HTTPRESP_HEAD,  /* reading the status line and headers */
	HTTPRESP_BODY,  /* head complete; body bytes may follow */
	HTTPRESP_DONE,  /* the response is complete */
	HTTPRESP_ERROR, /* malformed or truncated: see httpresp_error() */
};

enum httpresp_framing {
	HTTPRESP_NO_BODY,  /* HEAD, 1xx, 204, 304 */
	HTTPRESP_LENGTH,   /* Content-Length */
	HTTPRESP_CHUNKED,  /* Transfer-Encoding: chunked */
	HTTPRESP_CLOSE,    /* until the connection closes */
};

struct httpresp {
	enum httpresp_state state;
	/* Valid once state is BODY or DONE. */
	int status;
	char reason[128];
	size_t header_count;
	struct { char *name; char *value; } headers[HTTP_MAX_HEADERS];
	enum httpresp_framing framing;
	int64_t content_length;      /* the Content-Length header, or -1; also
	                              * given with NO_BODY (a HEAD response's
	                              * Content-Length describes the GET body) */
	uint64_t body_bytes;         /* de-framed body bytes delivered so far */

	/* Private. */
	bool head_request;
	bool got_bytes;
	struct buf head;             /* the current head's raw bytes */
	size_t line_start;           /* offset of the line being read in head */
	int chunk_state;
	uint64_t remaining;          /* of Content-Length, or of the chunk */
	int chunk_digits;
	size_t skipped;              /* extension and trailer bytes so far */
	char error[256];
};

/* Start parsing the response to a request made with `method` (only "HEAD"
 * matters: its response never has a body). */
void httpresp_init(struct httpresp *p, const char *method);
void httpresp_release(struct httpresp *p);

/* Feed len bytes. Returns how many were consumed (see the rules above) and
 * sets *body and *body_len to the body bytes among them (*body_len 0 when
 * none); -1 when the response is malformed (state ERROR). */
long httpresp_feed(struct httpresp *p, const char *in, size_t len,
		   const char **body, size_t *body_len);

/* The connection closed. Returns 0 when that completes the response (a
 * close-delimited body, or one already DONE), -1 (state ERROR) when the
 * head or a length- or chunk-framed body was cut short. */
int httpresp_eof(struct httpresp *p);

/* Header value by case-insensitive name (first occurrence), or NULL. */
const char *httpresp_header(const struct httpresp *p, const char *name);

/* The error sentence ("" unless state is ERROR). */
const char *httpresp_error(const struct httpresp *p);

#endif
