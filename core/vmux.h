/* vmux: the framing that multiplexes agent streams over one byte stream
 * (QEMU's virtio-serial port, which has no connection boundaries). Pure
 * framing: no I/O, no allocation; the caller owns every buffer. The wire
 * format and its reasons are in docs/vmux.md; the engine that moves streams
 * over it is core/vmux_link.h.
 *
 * FRAME (all integers big-endian)
 *
 *   0  magic "PYMX"        4
 *   4  version (1)         1
 *   5  type                1   enum vmux_type
 *   6  reserved (0)        2
 *   8  stream id           4   0 for session frames (HELLO, ACK, PING, PONG)
 *  12  payload length      4   at most VMUX_MAX_PAYLOAD
 *  16  payload CRC-32      4   of the payload bytes
 *  20  header CRC-32       4   of bytes 0..19
 *  24  payload
 *
 * DECODER. Two modes. In sync mode frames must follow each other exactly:
 * anything that is not a valid frame is an error (the caller decides what
 * that means: the guest resets and hunts, the host drops the session). In
 * hunting mode (a fresh decoder, or after vmux_decoder_hunt) the decoder
 * looks for one frame of the hunted type (HELLO on the guest; HELLO_ACK
 * carrying the expected nonce on the host) at every byte offset, discarding
 * one byte at a time past anything else, including valid frames of other
 * types and ACKs with another nonce. Finding it switches to sync mode.
 */
#ifndef PYRO_VMUX_H
#define PYRO_VMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define VMUX_MAGIC "PYMX"
#define VMUX_VERSION 1
#define VMUX_HEADER 24
#define VMUX_MAX_PAYLOAD 32768u
#define VMUX_MAX_FRAME (VMUX_HEADER + VMUX_MAX_PAYLOAD)
/* Zero bytes sent before every HELLO and HELLO_ACK: longer than any frame,
 * so a truncated frame left on the line by the previous session ends (and
 * fails its CRC) before the handshake frame starts. docs/vmux.md. */
#define VMUX_PAD VMUX_MAX_FRAME
#define VMUX_NONCE 16
/* Each side may have this many unacknowledged DATA bytes in flight per
 * stream; the receiver buffers at most this much per stream. */
#define VMUX_WINDOW (256u * 1024)
#define VMUX_MAX_REASON 200

enum vmux_type {
	VMUX_HELLO = 1,     /* host->guest, stream 0, payload: nonce */
	VMUX_HELLO_ACK = 2, /* guest->host, stream 0, payload: the same nonce */
	VMUX_OPEN = 3,      /* host->guest, payload: port (u32) */
	VMUX_OPEN_OK = 4,   /* guest->host, empty: the port accepted the stream */
	VMUX_DATA = 5,      /* 1..VMUX_MAX_PAYLOAD bytes */
	VMUX_SHUT = 6,      /* empty: the sender sends no more DATA (half-close) */
	VMUX_RESET = 7,     /* optional reason text: the stream is gone both ways */
	VMUX_WINDOW_UPD = 8, /* payload: u32 credit the receiver gives back */
	VMUX_PING = 9,      /* stream 0, 8 bytes echoed by PONG */
	VMUX_PONG = 10,
};

struct vmux_frame {
	uint8_t type;
	uint32_t stream;
	uint32_t len;
	const uint8_t *payload; /* into the decoder's buffer, valid until the next call */
};

/* Per-type rules (stream 0 or not, payload length): 0 when f is valid. */
int vmux_frame_check(const struct vmux_frame *f);

uint32_t vmux_crc32(uint32_t crc, const void *data, size_t len);

/* Write the 24-byte header for the frame into hdr. */
void vmux_put_header(uint8_t hdr[VMUX_HEADER], uint8_t type, uint32_t stream,
		     const void *payload, uint32_t len);
/* Append header + payload to out. -1 (out unchanged) on allocation failure
 * or when len > VMUX_MAX_PAYLOAD. */
int vmux_append(struct buf *out, uint8_t type, uint32_t stream, const void *payload,
		uint32_t len);
/* Append VMUX_PAD zero bytes then the HELLO or HELLO_ACK with nonce. */
int vmux_append_handshake(struct buf *out, uint8_t type, const uint8_t nonce[VMUX_NONCE]);

static inline uint32_t vmux_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void vmux_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Fields are private. Two frames' worth of buffer: a frame is always
 * contiguous at `start` when it is returned. */
struct vmux_decoder {
	uint8_t buf[2 * VMUX_MAX_FRAME];
	size_t start, end;
	bool hunting;
	uint8_t hunt_type;
	bool hunt_nonce_set;
	uint8_t hunt_nonce[VMUX_NONCE];
	bool failed;
	const char *why;      /* the sync-mode error */
	uint64_t discarded;   /* bytes dropped while hunting, ever */
};

/* Starts hunting for `type` (with nonce when non-NULL). */
void vmux_decoder_init(struct vmux_decoder *d, uint8_t type, const uint8_t *nonce);
void vmux_decoder_hunt(struct vmux_decoder *d, uint8_t type, const uint8_t *nonce);

/* Where to put new bytes: a pointer and room (> 0 unless a frame is pending
 * in the buffer; call vmux_decoder_next until it is not). Then commit n. */
uint8_t *vmux_decoder_space(struct vmux_decoder *d, size_t *room);
void vmux_decoder_commit(struct vmux_decoder *d, size_t n);
/* Copy up to len bytes in; returns how many were taken. */
size_t vmux_decoder_feed(struct vmux_decoder *d, const void *data, size_t len);

/* 1: a frame in *f; 0: need more bytes; -1: a sync-mode error (reason in
 * d->why; the decoder keeps failing until vmux_decoder_hunt). */
int vmux_decoder_next(struct vmux_decoder *d, struct vmux_frame *f);

#endif
