/* The incremental HTTP/1.1 response parser; the rules are in httpresp.h. */
#include "base64.h"
#include "httpresp.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum chunk_state {
	CS_SIZE,          /* hex digits of a chunk size */
	CS_EXT,           /* after the size: extensions up to LF, skipped */
	CS_SIZE_LF,       /* CR seen right after the size, LF must follow */
	CS_DATA,          /* chunk data, `remaining` bytes left */
	CS_DATA_CR,       /* CRLF after the data */
	CS_DATA_LF,
	CS_TRAILER_START, /* start of a trailer line, or the final empty line */
	CS_TRAILER_LINE,  /* inside a trailer field, skipped */
	CS_TRAILER_END_LF,/* CR of the final empty line seen */
};

static int fail(struct httpresp *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct httpresp *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->error, sizeof p->error, fmt, ap);
	va_end(ap);
	p->state = HTTPRESP_ERROR;
	return -1;
}

/* Copy at most n bytes of untrusted text for a message, '?' for anything
 * that is not printable ASCII. */
static const char *printable(char *dst, size_t cap, const char *src, size_t n)
{
	size_t i = 0;
	for (; i < n && i + 1 < cap; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
	return dst;
}

void httpresp_init(struct httpresp *p, const char *method)
{
	memset(p, 0, sizeof *p);
	p->state = HTTPRESP_HEAD;
	p->content_length = -1;
	p->head_request = method && strcasecmp(method, "HEAD") == 0;
	buf_init(&p->head, HTTPRESP_HEAD_MAX + 1);
}

void httpresp_release(struct httpresp *p)
{
	buf_release(&p->head);
	p->header_count = 0;
}

const char *httpresp_error(const struct httpresp *p)
{
	return p->state == HTTPRESP_ERROR ? p->error : "";
}

const char *httpresp_header(const struct httpresp *p, const char *name)
{
	for (size_t i = 0; i < p->header_count; i++)
		if (strcasecmp(p->headers[i].name, name) == 0)
			return p->headers[i].value;
	return NULL;
}

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* "HTTP/1.x SP 3DIGIT [SP reason]" */
static int parse_status_line(struct httpresp *p, char *line, size_t n)
{
	char show[64];
	if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' ||
	    line[8] != ' ')
		return fail(p, "the status line \"%s\" is not HTTP/1.x",
			    printable(show, sizeof show, line, n));
	int status = 0;
	for (int i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			return fail(p, "the status line \"%s\" has no 3-digit status code",
				    printable(show, sizeof show, line, n));
		status = status * 10 + (line[i] - '0');
	}
	if (status < 100 || status > 599 || (n > 12 && line[12] != ' '))
		return fail(p, "the status line \"%s\" has no valid status code",
			    printable(show, sizeof show, line, n));
	size_t rlen = n > 13 ? n - 13 : 0;
	for (size_t i = 0; i < rlen; i++)
		if (is_ctl((unsigned char)line[13 + i]))
			return fail(p, "the status line has a control character in its reason phrase");
	if (rlen >= sizeof p->reason)
		rlen = sizeof p->reason - 1;
	memcpy(p->reason, line + 13, rlen);
	p->reason[rlen] = '\0';
	p->status = status;
	return 0;
}

static int parse_field(struct httpresp *p, char *line, size_t n)
{
	if (line[0] == ' ' || line[0] == '\t')
		return fail(p, "a header line starts with whitespace (obsolete line folding is not accepted)");
	size_t colon = 0;
	while (colon < n && is_tchar((unsigned char)line[colon]))
		colon++;
	char show[64];
	if (colon == 0 || colon == n || line[colon] != ':')
		return fail(p, "the header line \"%s\" is not \"Name: value\"",
			    printable(show, sizeof show, line, n));
	size_t v = colon + 1, end = n;
	while (v < end && (line[v] == ' ' || line[v] == '\t'))
		v++;
	while (end > v && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	for (size_t i = v; i < end; i++)
		if (is_ctl((unsigned char)line[i]))
			return fail(p, "the header %s has a control character in its value",
				    printable(show, sizeof show, line, colon));
	if (p->header_count == HTTP_MAX_HEADERS)
		return fail(p, "the response has more than %d header fields", HTTP_MAX_HEADERS);
	line[colon] = '\0';
	line[end] = '\0';
	p->headers[p->header_count].name = line;
	p->headers[p->header_count].value = line + v;
	p->header_count++;
	return 0;
}

/* Every Transfer-Encoding field together must say exactly "chunked". */
static int check_transfer_encoding(struct httpresp *p, bool *chunked)
{
	int codings = 0;
	bool seen = false;
	char show[64];
	for (size_t i = 0; i < p->header_count; i++) {
		if (strcasecmp(p->headers[i].name, "Transfer-Encoding") != 0)
			continue;
		seen = true;
		const char *s = p->headers[i].value;
		while (*s) {
			while (*s == ' ' || *s == '\t' || *s == ',')
				s++;
			if (!*s)
				break;
			const char *e = s;
			while (*e && *e != ',')
				e++;
			const char *t = e;
			while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
				t--;
			if ((size_t)(t - s) != 7 || strncasecmp(s, "chunked", 7) != 0)
				return fail(p, "unsupported Transfer-Encoding \"%s\" (only chunked is accepted)",
					    printable(show, sizeof show, s, (size_t)(t - s)));
			codings++;
			s = e;
		}
	}
	if (codings > 1)
		return fail(p, "Transfer-Encoding applies chunked more than once");
	if (seen && codings == 0)
		return fail(p, "the Transfer-Encoding header is empty");
	*chunked = codings == 1;
	return 0;
}

static int check_content_length(struct httpresp *p, int64_t *out)
{
	*out = -1;
	char show[64];
	for (size_t i = 0; i < p->header_count; i++) {
		if (strcasecmp(p->headers[i].name, "Content-Length") != 0)
			continue;
		if (*out >= 0)
			return fail(p, "the response has more than one Content-Length");
		const char *s = p->headers[i].value;
		int64_t v = 0;
		if (!*s)
			return fail(p, "the Content-Length is empty");
		for (; *s; s++) {
			if (*s < '0' || *s > '9')
				return fail(p, "the Content-Length \"%s\" is not a number",
					    printable(show, sizeof show, p->headers[i].value,
						      strlen(p->headers[i].value)));
			if (v > (INT64_MAX - (*s - '0')) / 10)
				return fail(p, "the Content-Length is too large");
			v = v * 10 + (*s - '0');
		}
		*out = v;
	}
	return 0;
}

/* The head (status line to the empty line) is complete in p->head. */
static int parse_head(struct httpresp *p)
{
	char *s = p->head.data, *end = s + p->head.len;
	bool first = true;
	p->header_count = 0;
	while (s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = (size_t)(nl - s);
		if (n && s[n - 1] == '\r')
			n--;
		if (n == 0)
			break; /* the empty line that ends the head */
		for (size_t i = 0; i < n; i++)
			if (s[i] == '\0' || s[i] == '\r')
				return fail(p, "the response head holds a NUL or a bare CR");
		if (first ? parse_status_line(p, s, n) : parse_field(p, s, n))
			return -1;
		first = false;
		s = nl + 1;
	}
	if (first)
		return fail(p, "the response starts with an empty line instead of a status line");

	if (p->status >= 100 && p->status < 200) {
		if (p->status == 101)
			return fail(p, "the server switched protocols (101) although no upgrade was asked for");
		/* An interim response: forget it and read the next head. */
		buf_reset(&p->head);
		p->line_start = 0;
		p->header_count = 0;
		return 0;
	}
	bool chunked = false;
	int64_t length = -1;
	if (check_transfer_encoding(p, &chunked) || check_content_length(p, &length))
		return -1;
	if (chunked && length >= 0)
		return fail(p, "the response has both Content-Length and Transfer-Encoding");
	p->state = HTTPRESP_BODY;
	/* Kept even without a body: for HEAD it gives the size a GET would get. */
	p->content_length = length;
	if (p->head_request || p->status == 204 || p->status == 304) {
		p->framing = HTTPRESP_NO_BODY;
		p->state = HTTPRESP_DONE;
	} else if (chunked) {
		p->framing = HTTPRESP_CHUNKED;
		p->chunk_state = CS_SIZE;
	} else if (length >= 0) {
		p->framing = HTTPRESP_LENGTH;
		p->remaining = (uint64_t)length;
		if (length == 0)
			p->state = HTTPRESP_DONE;
	} else {
		p->framing = HTTPRESP_CLOSE;
	}
	return 0;
}

/* Consume head bytes up to the end of the head (or of the input). */
static long feed_head(struct httpresp *p, const char *in, size_t len)
{
	size_t i = 0;
	while (i < len && p->state == HTTPRESP_HEAD) {
		const char *nl = memchr(in + i, '\n', len - i);
		size_t take = nl ? (size_t)(nl - (in + i)) + 1 : len - i;
		if (p->head.len + take > HTTPRESP_HEAD_MAX ||
		    buf_append(&p->head, in + i, take) < 0)
			return fail(p, "the response head is larger than %d KiB",
				    HTTPRESP_HEAD_MAX / 1024);
		i += take;
		if (!nl)
			break;
		size_t line = p->head.len - p->line_start;
		bool empty = line == 1 || (line == 2 && p->head.data[p->line_start] == '\r');
		p->line_start = p->head.len;
		if (empty && parse_head(p) < 0)
			return -1;
	}
	return (long)i;
}

static long skip_byte(struct httpresp *p)
{
	if (++p->skipped > HTTPRESP_SKIP_MAX)
		return fail(p, "chunk extensions and trailers exceed %d KiB", HTTPRESP_SKIP_MAX / 1024);
	return 0;
}

static long feed_chunked(struct httpresp *p, const char *in, size_t len,
			 const char **body, size_t *body_len)
{
	size_t i = 0;
	while (i < len && p->state == HTTPRESP_BODY) {
		unsigned char c = (unsigned char)in[i];
		switch (p->chunk_state) {
		case CS_SIZE: {
			int h = hex_digit_value(c);
			if (h >= 0) {
				if (p->remaining >> 59 || ++p->chunk_digits > 32)
					return fail(p, "a chunk size is too large");
				p->remaining = (p->remaining << 4) | (uint64_t)h;
				i++;
				continue;
			}
			if (p->chunk_digits == 0)
				return fail(p, "a chunk size line does not start with a hex number");
			if (c == ';' || c == ' ' || c == '\t') {
				p->chunk_state = CS_EXT;
				if (skip_byte(p) < 0)
					return -1;
			} else if (c == '\r') {
				p->chunk_state = CS_SIZE_LF;
			} else if (c == '\n') {
				goto size_line_done;
			} else {
				return fail(p, "a chunk size is followed by an unexpected byte 0x%02x", c);
			}
			i++;
			continue;
		}
		case CS_EXT:
			if (c == '\n')
				goto size_line_done;
			if (skip_byte(p) < 0)
				return -1;
			i++;
			continue;
		case CS_SIZE_LF:
			if (c != '\n')
				return fail(p, "a chunk size line has a CR without LF");
			goto size_line_done;
		case CS_DATA: {
			size_t n = len - i;
			if (n > p->remaining)
				n = (size_t)p->remaining;
			*body = in + i;
			*body_len = n;
			p->remaining -= n;
			p->body_bytes += n;
			if (p->remaining == 0)
				p->chunk_state = CS_DATA_CR;
			return (long)(i + n);
		}
		case CS_DATA_CR:
			if (c == '\r')
				p->chunk_state = CS_DATA_LF;
			else if (c == '\n')
				p->chunk_state = CS_SIZE;
			else
				return fail(p, "chunk data is longer than its chunk size");
			i++;
			continue;
		case CS_DATA_LF:
			if (c != '\n')
				return fail(p, "chunk data is followed by a CR without LF");
			p->chunk_state = CS_SIZE;
			i++;
			continue;
		case CS_TRAILER_START:
			if (c == '\r')
				p->chunk_state = CS_TRAILER_END_LF;
			else if (c == '\n')
				p->state = HTTPRESP_DONE;
			else if (skip_byte(p) < 0)
				return -1;
			else
				p->chunk_state = CS_TRAILER_LINE;
			i++;
			continue;
		case CS_TRAILER_LINE:
			if (c == '\n')
				p->chunk_state = CS_TRAILER_START;
			else if (skip_byte(p) < 0)
				return -1;
			i++;
			continue;
		case CS_TRAILER_END_LF:
			if (c != '\n')
				return fail(p, "the chunked body ends in a CR without LF");
			p->state = HTTPRESP_DONE;
			i++;
			continue;
		}
		return fail(p, "internal error: bad chunk state");
size_line_done:
		/* c is the LF that ends a chunk size line. */
		i++;
		p->chunk_digits = 0;
		p->chunk_state = p->remaining ? CS_DATA : CS_TRAILER_START;
	}
	return (long)i;
}

long httpresp_feed(struct httpresp *p, const char *in, size_t len,
		   const char **body, size_t *body_len)
{
	*body = NULL;
	*body_len = 0;
	if (p->state == HTTPRESP_ERROR)
		return -1;
	if (len == 0 || p->state == HTTPRESP_DONE)
		return 0;
	p->got_bytes = true;
	if (p->state == HTTPRESP_HEAD)
		return feed_head(p, in, len);
	switch (p->framing) {
	case HTTPRESP_LENGTH: {
		size_t n = len;
		if (n > p->remaining)
			n = (size_t)p->remaining;
		*body = in;
		*body_len = n;
		p->remaining -= n;
		p->body_bytes += n;
		if (p->remaining == 0)
			p->state = HTTPRESP_DONE;
		return (long)n;
	}
	case HTTPRESP_CHUNKED:
		return feed_chunked(p, in, len, body, body_len);
	case HTTPRESP_CLOSE:
		*body = in;
		*body_len = len;
		p->body_bytes += len;
		return (long)len;
	case HTTPRESP_NO_BODY:
		break;
	}
	return 0;
}

int httpresp_eof(struct httpresp *p)
{
	switch (p->state) {
	case HTTPRESP_ERROR:
		return -1;
	case HTTPRESP_DONE:
		return 0;
	case HTTPRESP_HEAD:
		if (!p->got_bytes)
			return fail(p, "the server closed the connection without sending a response");
		return fail(p, "the server closed the connection in the middle of the response head");
	case HTTPRESP_BODY:
		break;
	}
	if (p->framing == HTTPRESP_CLOSE) {
		p->state = HTTPRESP_DONE;
		return 0;
	}
	if (p->framing == HTTPRESP_LENGTH)
		return fail(p, "the body was cut short: got %llu of %lld bytes",
			    (unsigned long long)p->body_bytes, (long long)p->content_length);
	return fail(p, "the chunked body was cut short after %llu bytes (no last chunk)",
		    (unsigned long long)p->body_bytes);
}
