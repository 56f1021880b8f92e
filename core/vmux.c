/* vmux framing: CRC, encoder, the two-mode decoder. See vmux.h. */
#include "vmux.h"

#include <pthread.h>
#include <string.h>

/* CRC-32 (IEEE, reflected: zlib's value), table-driven. Our own rather than
 * zlib's so the framing depends on no vendored library; speed is no issue
 * (well under the cost of the agent's own JSON work per byte). */
static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

uint32_t vmux_crc32(uint32_t crc, const void *data, size_t len)
{
	/* Once, with the happens-before pthread_once gives: a thread that
	 * saw a half-built table would compute wrong checksums. */
	pthread_once(&crc_once, crc_init);
	const uint8_t *p = data;
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

int vmux_frame_check(const struct vmux_frame *f)
{
	bool session = f->stream == 0;
	switch (f->type) {
	case VMUX_HELLO:
	case VMUX_HELLO_ACK:
		return session && f->len == VMUX_NONCE ? 0 : -1;
	case VMUX_PING:
	case VMUX_PONG:
		return session && f->len == 8 ? 0 : -1;
	case VMUX_OPEN:
	case VMUX_WINDOW_UPD:
		return !session && f->len == 4 ? 0 : -1;
	case VMUX_OPEN_OK:
	case VMUX_SHUT:
		return !session && f->len == 0 ? 0 : -1;
	case VMUX_RESET:
		return !session && f->len <= VMUX_MAX_REASON ? 0 : -1;
	case VMUX_DATA:
		return !session && f->len > 0 ? 0 : -1;
	default:
		return -1;
	}
}

void vmux_put_header(uint8_t hdr[VMUX_HEADER], uint8_t type, uint32_t stream,
		     const void *payload, uint32_t len)
{
	memcpy(hdr, VMUX_MAGIC, 4);
	hdr[4] = VMUX_VERSION;
	hdr[5] = type;
	hdr[6] = hdr[7] = 0;
	vmux_put32(hdr + 8, stream);
	vmux_put32(hdr + 12, len);
	vmux_put32(hdr + 16, vmux_crc32(0, payload, len));
	vmux_put32(hdr + 20, vmux_crc32(0, hdr, 20));
}

int vmux_append(struct buf *out, uint8_t type, uint32_t stream, const void *payload,
		uint32_t len)
{
	if (len > VMUX_MAX_PAYLOAD || buf_reserve(out, VMUX_HEADER + (size_t)len) < 0)
		return -1;
	uint8_t hdr[VMUX_HEADER];
	vmux_put_header(hdr, type, stream, payload, len);
	buf_append(out, hdr, sizeof hdr);
	buf_append(out, payload, len);
	return 0;
}

int vmux_append_handshake(struct buf *out, uint8_t type, const uint8_t nonce[VMUX_NONCE])
{
	size_t old = out->len;
	if (buf_reserve(out, VMUX_PAD + VMUX_HEADER + VMUX_NONCE) < 0)
		return -1;
	memset(out->data + out->len, 0, VMUX_PAD);
	out->len += VMUX_PAD;
	out->data[out->len] = 0;
	if (vmux_append(out, type, 0, nonce, VMUX_NONCE) < 0) {
		buf_truncate(out, old);
		return -1;
	}
	return 0;
}

void vmux_decoder_hunt(struct vmux_decoder *d, uint8_t type, const uint8_t *nonce)
{
	d->hunting = true;
	d->hunt_type = type;
	d->hunt_nonce_set = nonce != NULL;
	if (nonce)
		memcpy(d->hunt_nonce, nonce, VMUX_NONCE);
	d->failed = false;
	d->why = NULL;
}

void vmux_decoder_init(struct vmux_decoder *d, uint8_t type, const uint8_t *nonce)
{
	d->start = d->end = 0;
	d->discarded = 0;
	vmux_decoder_hunt(d, type, nonce);
}

uint8_t *vmux_decoder_space(struct vmux_decoder *d, size_t *room)
{
	if (d->start > 0) {
		memmove(d->buf, d->buf + d->start, d->end - d->start);
		d->end -= d->start;
		d->start = 0;
	}
	*room = sizeof d->buf - d->end;
	return d->buf + d->end;
}

void vmux_decoder_commit(struct vmux_decoder *d, size_t n)
{
	d->end += n;
}

size_t vmux_decoder_feed(struct vmux_decoder *d, const void *data, size_t len)
{
	size_t room;
	uint8_t *p = vmux_decoder_space(d, &room);
	if (len > room)
		len = room;
	memcpy(p, data, len);
	vmux_decoder_commit(d, len);
	return len;
}

/* Look at the frame at d->start: 1 valid (in *f), 0 incomplete (but so far
 * plausible), -1 not a frame (why says what is wrong). */
static int parse_at(const struct vmux_decoder *d, struct vmux_frame *f, const char **why)
{
	const uint8_t *p = d->buf + d->start;
	size_t have = d->end - d->start;
	size_t cmp = have < 4 ? have : 4;
	if (memcmp(p, VMUX_MAGIC, cmp) != 0) {
		*why = "bad magic";
		return -1;
	}
	if (have < VMUX_HEADER)
		return 0;
	if (vmux_crc32(0, p, 20) != vmux_get32(p + 20)) {
		*why = "bad header checksum";
		return -1;
	}
	if (p[4] != VMUX_VERSION || p[6] || p[7]) {
		*why = "unknown version";
		return -1;
	}
	f->type = p[5];
	f->stream = vmux_get32(p + 8);
	f->len = vmux_get32(p + 12);
	if (f->len > VMUX_MAX_PAYLOAD) {
		*why = "payload too long";
		return -1;
	}
	if (have < VMUX_HEADER + (size_t)f->len)
		return 0;
	f->payload = p + VMUX_HEADER;
	if (vmux_crc32(0, f->payload, f->len) != vmux_get32(p + 16)) {
		*why = "bad payload checksum";
		return -1;
	}
	if (vmux_frame_check(f) < 0) {
		*why = "malformed frame";
		return -1;
	}
	return 1;
}

static bool is_hunted(const struct vmux_decoder *d, const struct vmux_frame *f)
{
	if (f->type != d->hunt_type)
		return false;
	return !d->hunt_nonce_set || memcmp(f->payload, d->hunt_nonce, VMUX_NONCE) == 0;
}

int vmux_decoder_next(struct vmux_decoder *d, struct vmux_frame *f)
{
	if (d->failed)
		return -1;
	while (d->start < d->end) {
		const char *why = NULL;
		int rc = parse_at(d, f, &why);
		if (rc == 0)
			return 0;
		if (!d->hunting) {
			if (rc < 0) {
				d->failed = true;
				d->why = why;
				return -1;
			}
			d->start += VMUX_HEADER + f->len;
			return 1;
		}
		if (rc == 1 && is_hunted(d, f)) {
			d->hunting = false;
			d->start += VMUX_HEADER + f->len;
			return 1;
		}
		/* Not it: slide one byte, then on to the next possible magic. */
		const uint8_t *next = memchr(d->buf + d->start + 1, VMUX_MAGIC[0],
					     d->end - d->start - 1);
		size_t to = next ? (size_t)(next - d->buf) : d->end;
		d->discarded += to - d->start;
		d->start = to;
	}
	return 0;
}
